# Sourced by failover-agent.sh and handover.sh: the pure decisions of a failover, no I/O
# beyond stdin/stdout, so each is unit-tested with the texts Redis really answers
# (test/unit/failoverDecisions.test.ts runs them under dash). Plain POSIX sh + awk.
#
#   reply_observation EXIT TEXT         what one probe of a master saw
#   death_verdict KNOWN_REPLID NEEDED OBSERVATION...
#                                       is the master's death confirmed?
#   stream_digest MY_IP MY_PORT KNOWN_REPLID SINCE_ONLINE
#                                       what a stream of the master's INFO replication said
#   in_sync_verdict ...                 was this replica in sync moments before?
#   replica_state TEXT                  a replica's INFO replication, in one line
#   takeover_verdict ME MY_REPLID MY_OFFSET CANDIDATE...
#                                       which replica takes over: this one, a sibling, or Redis
#   handover_candidates                 a master's online replicas, best first (stdin: its INFO replication)
#   siblings_of                         the other replicas of this node's master (stdin: CLUSTER NODES)
#   surge_recruit_step MASTER_ID STATE  where recruiting the surge node for a master stands (stdin: its CLUSTER NODES)
#   surge_duty OTHERS                   what the surge node does with itself (stdin: its CLUSTER NODES)
#   election_digest                     this node's view of its master, a line a stamped CLUSTER NODES (stdin)
#   election_step HELD SPENT ROLE STATE PENDING TIMEOUT
#                                       hold, run or release this node's own election
#   freeze_eligibility TIMEOUT PERIOD FACTOR
#                                       may this replica stand for the election at FAIL? (stdin: its INFO replication)
#   hold_is_stale NOW SINCE TIMEOUT     was a held election left by an agent that is gone?

# One probe of the master (`INFO replication`, bounded): refused | timeout | loading |
# master:<replid> | replica | error. EXIT is the probe's exit status (124: killed by timeout).
reply_observation() {
    _ro_exit=$1
    _ro_text=$2
    if [ "$_ro_exit" = 124 ]; then
        echo timeout
        return
    fi
    printf '%s\n' "$_ro_text" | awk '
        { sub(/\r$/, "") }
        /Connection refused/ { verdict = "refused"; exit }
        /^LOADING/ { verdict = "loading"; exit }
        /^role:/ { role = substr($0, 6) }
        /^master_replid:/ { replid = substr($0, 15) }
        END {
            if (verdict != "") print verdict
            else if (role == "master" && replid != "") print "master:" replid
            else if (role == "slave") print "replica"
            else print "error"
        }'
}

# Whether a master is dead, from the probes so far (oldest first):
#   dead-refused    NEEDED probes in a row found its address refusing connections: the
#                   process is gone, the machine is up (a crash, an OOM kill);
#   dead-restarted  it answers, but as a new process (another replication ID than the
#                   KNOWN_REPLID this replica followed, or still loading its data): it died
#                   and came back, and a restarted master refuses writes for 2 s anyway;
#   alive           it answers with the same replication ID (only the connection was lost);
#   demoted         it answers as a replica (a handover or failover happened meanwhile);
#   unreachable     a probe timed out or failed otherwise: slow, frozen or partitioned, which
#                   only Redis's own failure detection may judge;
#   undecided       fewer than NEEDED refusals so far: probe again.
death_verdict() {
    _dv_known=$1
    _dv_needed=$2
    shift 2
    _dv_refused=0
    for _dv_seen in "$@"; do
        case "$_dv_seen" in
            refused)
                _dv_refused=$((_dv_refused + 1))
                if [ "$_dv_refused" -ge "$_dv_needed" ]; then
                    echo dead-refused
                    return
                fi
                ;;
            loading)
                echo dead-restarted
                return
                ;;
            master:*)
                # Without a known replication ID an answer proves nothing: alive.
                if [ "$_dv_known" = "-" ] || [ "$_dv_seen" = "master:$_dv_known" ]; then echo alive; else echo dead-restarted; fi
                return
                ;;
            replica)
                echo demoted
                return
                ;;
            *)
                echo unreachable
                return
                ;;
        esac
    done
    echo undecided
}

# Reads a master's `INFO replication`, repeated by `redis-cli -r -1 -i`, then a line
# `END <exit status>`; prints one line: REASON EXIT HEALTHY REPLID SINCE_ONLINE
#   REASON        ended (the stream stopped: EXIT says why), demoted (the master answered
#                 as a replica), restarted (it answered with another replication ID than
#                 KNOWN_REPLID, the one of the answers before: a new process);
#   HEALTHY       answers with the known replication ID (or the first one seen);
#   REPLID        the replication ID those answers carried ("-": none);
#   SINCE_ONLINE  answers since the master last listed MY_IP:MY_PORT as an online
#                 replica, counted on from the SINCE_ONLINE given ("none": never).
stream_digest() {
    awk -v me_ip="$1" -v me_port="$2" -v known="$3" -v since="$4" '
        function close_record() {
            if (!in_record) return
            in_record = 0
            if (role != "master") { finish("demoted") }
            if (known == "-" || known == "") known = replid
            if (replid != known) { finish("restarted") }
            healthy++
            if (online) since = 0
            else if (since != "none") since++
        }
        function finish(reason) {
            print reason, (code == "" ? "-" : code), healthy + 0, (known == "" ? "-" : known), since
            done = 1
            exit
        }
        { sub(/\r$/, "") }
        /^# Replication/ { close_record(); in_record = 1; role = ""; replid = ""; online = 0; next }
        /^END / { close_record(); code = $2; finish("ended") }
        /^role:/ { role = substr($0, 6) }
        /^master_replid:/ { replid = substr($0, 15) }
        /^slave[0-9]+:/ {
            line = substr($0, index($0, ":") + 1)
            if (index("," line ",", ",ip=" me_ip ",") && index("," line ",", ",port=" me_port ",") && index("," line ",", ",state=online,")) online = 1
        }
        END {
            if (done) exit
            close_record()
            if (!done) print "ended", "-", healthy + 0, (known == "" ? "-" : known), since
        }'
}

# A replica's `INFO replication` as one line: LINK SYNCING REPLID OFFSET ROLE MASTER
# (LINK up|down, SYNCING 0|1, MASTER host:port; "-" for what it did not say).
replica_state() {
    printf '%s\n' "$1" | awk -F: '
        { sub(/\r$/, "") }
        $1 == "role" { role = $2 }
        $1 == "master_link_status" { link = $2 }
        $1 == "master_sync_in_progress" { syncing = $2 }
        $1 == "master_replid" { replid = $2 }
        $1 == "slave_repl_offset" { offset = $2 }
        $1 == "master_host" { host = $2 }
        $1 == "master_port" { port = $2 }
        END {
            if (role == "") { print "- - - - - -"; exit }
            print (link == "" ? "-" : link), (syncing == "" ? "-" : syncing), (replid == "" ? "-" : replid),
                (offset == "" ? "-" : offset), role, (host == "" ? "-" : host ":" port)
        }'
}

# Whether this replica was in sync with its master moments before the master died:
#   in_sync_verdict DEATH SINCE_ONLINE MAX_SINCE LINK SYNCING MY_REPLID STREAM_REPLID NEW_REPLID
# prints in-sync, syncing (a resync with the restarted master is under way: ask again),
# or "not-in-sync <why>".
#  - The master listed this replica online in one of its last MAX_SINCE answers (about
#    MAX_SINCE x the stream interval before it died), and this replica still holds that
#    master's replication history (its replication ID): everything it was sent, up to
#    moments before. A replica whose link was down longer is stale.
#  - Or the master restarted and this replica has already resynchronized from the new
#    process (same new replication ID, link up, sync done): it holds what that process holds.
in_sync_verdict() {
    _is_death=$1 _is_since=$2 _is_max=$3 _is_link=$4 _is_syncing=$5 _is_mine=$6 _is_stream=$7 _is_new=$8
    if [ "$_is_syncing" = 1 ]; then
        echo syncing
    elif [ "$_is_death" = dead-restarted ] && [ "$_is_link" = up ] && [ "$_is_new" != "-" ] && [ "$_is_mine" = "$_is_new" ]; then
        echo in-sync
    elif [ "$_is_since" = none ]; then
        echo "not-in-sync its master never listed it as an online replica"
    elif [ "$_is_since" -ge "$_is_max" ]; then
        echo "not-in-sync its master last listed it online $_is_since answers before it died (at most $_is_max allowed)"
    elif [ "$_is_mine" != "$_is_stream" ]; then
        echo "not-in-sync it holds another replication history ($_is_mine) than its master had ($_is_stream)"
    else
        echo in-sync
    fi
}

# Which replica of a dead master takes over, when this one (ME, an address) was in sync:
#   takeover_verdict ME MY_REPLID MY_OFFSET CANDIDATES
# CANDIDATES: the sibling replicas, one a line, each "ADDRESS REPLID OFFSET SYNCING ROLE"
# (replica_state's fields) or "ADDRESS unreachable". Prints
#   me              this replica holds the most: the highest offset of one replication
#                   history (a tie goes to the lowest address, so two agents never both act);
#   defer ADDRESS OFFSET  that sibling holds more, or as much and has the lower address
#                   (a hit WAIT confirmed on it alone is kept);
#   retry           a sibling is resynchronizing: ask again;
#   leave <why>     a sibling cannot be asked, is already master, or holds another history:
#                   only Redis's own election may decide then.
takeover_verdict() {
    _tv_verdict=$(printf '%s\n' "$4" | while read -r _tv_addr _tv_replid _tv_offset _tv_sync _tv_role; do
        if [ -z "$_tv_addr" ]; then
            continue
        elif [ "$_tv_replid" = unreachable ]; then
            echo "leave sibling $_tv_addr cannot be asked"
        elif [ "$_tv_role" = master ]; then
            echo "leave sibling $_tv_addr is already a master"
        elif [ "$_tv_sync" = 1 ]; then
            echo retry
        elif [ "$_tv_replid" != "$2" ]; then
            echo "leave sibling $_tv_addr holds another replication history"
        elif awk -v a="$_tv_offset" -v b="$3" -v x="$_tv_addr" -v y="$1" \
            'BEGIN { exit !((a + 0 > b + 0) || (a + 0 == b + 0 && x < y)) }'; then
            echo "defer $_tv_addr $_tv_offset"
        else
            continue
        fi
        break
    done)
    echo "${_tv_verdict:-me}"
}

# A master's `INFO replication` (stdin) -> its online replicas, best first: "IP PORT OFFSET"
# lines, the highest offset first, then the lowest address.
handover_candidates() {
    awk '
        { sub(/\r$/, "") }
        /^slave[0-9]+:/ {
            n = split(substr($0, index($0, ":") + 1), kv, ",")
            ip = ""; port = ""; state = ""; offset = ""
            for (i = 1; i <= n; i++) {
                eq = index(kv[i], "=")
                k = substr(kv[i], 1, eq - 1); v = substr(kv[i], eq + 1)
                if (k == "ip") ip = v; else if (k == "port") port = v
                else if (k == "state") state = v; else if (k == "offset") offset = v
            }
            if (state == "online" && ip != "" && port != "") print offset, ip, port
        }' | sort -k1,1nr -k2,2 -k3,3n | awk '{ print $2, $3, $1 }'
}

# CLUSTER NODES of this node (stdin) -> "IP:PORT" of every other replica of its master,
# one a line; nodes the cluster marked failed (fail, not pfail), without an address or
# still in handshake are left out.
siblings_of() {
    awk '
        $3 ~ /(^|,)myself(,|$)/ { master = $4; next }
        { lines[++n] = $0 }
        END {
            for (i = 1; i <= n; i++) {
                split(lines[i], f, " ")
                if (f[4] != master || master == "-" || master == "") continue
                if (f[3] ~ /(^|,)(fail|noaddr|handshake)(,|$)/) continue
                addr = f[2]; sub(/@.*/, "", addr)
                print addr
            }
        }'
}

# Where recruiting the surge node as a replica of MASTER_ID stands, one step at a time:
#   surge_recruit_step MASTER_ID STATE     (stdin: the surge node's CLUSTER NODES; STATE: replica_state
#                                           of its INFO replication)
# prints
#   serving         it owns slots (it took a shard over): never recruited, it hands them back itself;
#   meet            it does not know MASTER_ID yet (a lone node, or the MEET is still in handshake);
#   replicate       it knows MASTER_ID and replicates nobody (an idle node that met the cluster);
#   move OTHER_ID   it replicates another master: take it only if that shard keeps another copy;
#   syncing         it replicates MASTER_ID; its link is not up or its initial sync not done;
#   ready           it replicates MASTER_ID, link up, sync done: WAIT counts it.
surge_recruit_step() {
    awk -v want="$1" -v state="$2" '
        $3 ~ /(^|,)myself(,|$)/ { mine = $4; slots = NF - 8; next }
        $1 == want && $3 ~ /(^|,)master(,|$)/ && $3 !~ /(^|,)(handshake|noaddr)(,|$)/ { known = 1 }
        END {
            split(state, s, " ")
            if (slots > 0) print "serving"
            else if (!known) print "meet"
            else if (mine == "-" || mine == "") print "replicate"
            else if (mine != want) print "move", mine
            else if (s[1] == "up" && s[2] == "0") print "ready"
            else print "syncing"
        }'
}

# What the surge node does with itself, each turn of its agent:
#   surge_duty OTHERS     (stdin: its CLUSTER NODES; OTHERS: online replicas of its master besides it,
#                          "-" when it replicates nobody)
# prints
#   serving   it owns slots (it took a shard over while it was the only copy): hand them back;
#   needed    it replicates a master that has no other online replica: stay;
#   spare     it replicates a master that has another online replica: leave once that lasts;
#   stray     a master without slots that knows other nodes (forgotten, or met and never used):
#             leave once that lasts;
#   idle      alone: nothing to do.
surge_duty() {
    awk -v others="$1" '
        $3 ~ /(^|,)myself(,|$)/ { role = ($3 ~ /(^|,)master(,|$)/) ? "master" : "replica"; slots = NF - 8; next }
        NF > 0 { peers++ }
        END {
            if (slots > 0) print "serving"
            else if (role == "replica") print ((others != "-" && others + 0 > 0) ? "spare" : "needed")
            else if (peers > 0) print "stray"
            else print "idle"
        }'
}

# --- The held election: a master that stops answering without refusing (a frozen VM, a
# partition) is still judged by Redis alone (its FAIL: a majority of masters agreed); the agent
# only removes Redis's election delay after it (0.5 s + a random 0-0.5 s + 1 s per rank), by
# holding its node's automatic election (cluster-replica-no-failover) while the master is
# silent and running the same election itself, at once, when FAIL comes.

# This node's CLUSTER NODES stamped with its clock (stdin, a stream of "now MS", the nodes, "end")
# -> one line a reply: "NOW ROLE MASTER STATE PENDING_MS"
#   ROLE     replica | master | none (no myself line, or in no role yet);
#   MASTER   the master's address (host:port, "-" when unknown);
#   STATE    ok | pfail | fail | unknown: what this node thinks of its master;
#   PENDING  how long this node's cluster-bus ping to its master has gone unanswered (0: none pending).
election_digest() {
    # mawk (the Redis image's awk) reads a pipe in blocks: a reply would reach the agent only when
    # its buffer filled, about half a second late. -W interactive reads line by line.
    case "$(awk -W version 2>&1 </dev/null | head -n 1)" in mawk*) set -- -W interactive ;; *) set -- ;; esac
    awk "$@" '
        function emit(   role, master, state, pending, f, n, i, addr) {
            role = "none"; master = "-"; state = "unknown"; pending = 0; mine = ""
            for (i = 1; i <= n_lines; i++) {
                split(lines[i], f, " ")
                if (f[3] ~ /(^|,)myself(,|$)/) {
                    if (f[3] ~ /(^|,)slave(,|$)/) { role = "replica"; mine = f[4] }
                    else if (f[3] ~ /(^|,)master(,|$)/) role = "master"
                }
            }
            for (i = 1; role == "replica" && i <= n_lines; i++) {
                split(lines[i], f, " ")
                if (f[1] != mine) continue
                addr = f[2]; sub(/@.*/, "", addr); master = addr
                if (f[3] ~ /(^|,)fail\?(,|$)/) state = "pfail"
                else if (f[3] ~ /(^|,)fail(,|$)/) state = "fail"
                else state = "ok"
                if (f[5] + 0 > 0 && now >= f[5] + 0) pending = now - f[5]
            }
            printf "%s %s %s %s %d\n", stamp, role, master, state, pending
            fflush()
        }
        { sub(/\r$/, "") }
        $1 == "now" { stamp = $2; now = $2 + 0; n_lines = 0; open = 1; next }
        $1 == "end" { if (open) emit(); open = 0; next }
        open && NF >= 8 { lines[++n_lines] = $0 }'
}

# What the agent does next about its node's automatic election:
#   election_step HELD_MS SPENT ROLE STATE PENDING_MS NODE_TIMEOUT_MS
# HELD_MS: how long the hold has been set ("-": not set); SPENT: 1 once this silence of the master
# had its hold (no second one until the master answers again); the rest is election_digest's.
# prints
#   hold            the master's ping has gone unanswered for min(0.5 s, node timeout / 4): hold the
#                   node's own election. FAIL cannot come before one node timeout of silence, and this
#                   node pings its master at least every half node timeout, so the hold comes first;
#   elect           the cluster flagged the master FAIL while held: run the election now;
#   release WHY     let Redis elect again: the master answers, this node is no longer a replica, or the
#                   hold outlived 2 x node timeout + 2 s without a FAIL;
#   idle | wait     nothing to do (FAIL came without a hold: Redis's own election is already running).
election_step() {
    _es_held=$1 _es_spent=$2 _es_role=$3 _es_state=$4 _es_pending=$5 _es_timeout=$6
    _es_after=$((_es_timeout / 4))
    [ "$_es_after" -gt 500 ] && _es_after=500
    if [ "$_es_role" != replica ]; then
        if [ "$_es_held" != "-" ]; then echo "release this node is no longer a replica"; else echo idle; fi
    elif [ "$_es_held" = "-" ]; then
        if [ "$_es_state" != fail ] && [ "$_es_spent" = 0 ] && [ "$_es_pending" -ge "$_es_after" ]; then
            echo hold
        else
            echo idle
        fi
    elif [ "$_es_state" = fail ]; then
        echo elect
    elif [ "$_es_held" -gt "$(hold_limit_ms "$_es_timeout")" ]; then
        echo "release the hold outlived 2 x node timeout + 2 s without a FAIL"
    elif [ "$_es_pending" = 0 ] && [ "$_es_state" = ok ]; then
        echo "release its master answers again"
    else
        echo wait
    fi
}

# Whether this replica may stand for the election at FAIL, by Redis's own rule for an automatic
# election (its data age: seconds since its master last sent anything, less one node timeout, at
# most repl-ping-replica-period + node timeout x cluster-replica-validity-factor) and ours: its
# link to the master up and no initial sync under way (a frozen master's link stays up, and it
# holds everything that master sent):
#   freeze_eligibility NODE_TIMEOUT_MS PING_PERIOD_S VALIDITY_FACTOR   (stdin: its INFO replication)
# prints eligible, or "not-eligible <why>".
freeze_eligibility() {
    awk -F: -v timeout="$1" -v period="$2" -v factor="$3" '
        { sub(/\r$/, "") }
        { v[$1] = $2 }
        END {
            if (v["role"] != "slave") { print "not-eligible it is not a replica (" v["role"] ")"; exit }
            if (v["master_link_status"] != "up") { print "not-eligible its link to the master is " (v["master_link_status"] == "" ? "unknown" : v["master_link_status"]); exit }
            if (v["master_sync_in_progress"] != "0") { print "not-eligible its initial sync is under way"; exit }
            age = v["master_last_io_seconds_ago"] * 1000
            if (age > timeout) age -= timeout
            limit = period * 1000 + timeout * factor
            if (factor > 0 && age > limit) { print "not-eligible its data is " age " ms old (Redis allows " limit ")"; exit }
            print "eligible"
        }'
}

# The longest an agent holds its node's election without a FAIL: 2 x node timeout + 2 s.
#   hold_limit_ms NODE_TIMEOUT_MS
hold_limit_ms() {
    echo $((2 * $1 + 2000))
}

# Whether a held election was left by an agent that is gone (probe.sh's liveness check):
#   hold_is_stale NOW_MS SINCE_MS NODE_TIMEOUT_MS
# exits 0 when stale: no start recorded, or held longer than an agent ever holds (hold_limit_ms)
# and 5 s more.
hold_is_stale() {
    case "$2" in '' | *[!0-9]*) return 0 ;; esac
    [ $(($1 - $2)) -gt $(($(hold_limit_ms "$3") + 5000)) ]
}
