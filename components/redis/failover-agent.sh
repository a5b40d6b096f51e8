#!/bin/sh
# The failover agent: a container of every Redis pod, on the Redis image
# (sh /scripts/failover-agent.sh). While its node is a replica, it watches the
# node's master and, when the master's death is confirmed, makes its node take
# over at once with CLUSTER FAILOVER FORCE (still voted by the majority of masters;
# never TAKEOVER, which skips the vote) instead of waiting for cluster-node-timeout.
#
# - Watching: one redis-cli streams the master's INFO replication every
#   AGENT_INTERVAL_SECONDS (0.1) over one connection, restarted every
#   AGENT_STREAM_SECONDS (2) so a new master is picked up. A crash closes that
#   connection at once; a new replication ID means the master restarted.
# - Death is confirmed (death_verdict) when AGENT_REFUSED_PROBES (3) probes in a row
#   find the master's address refusing connections, or when it answers as a new
#   process: a restarted master that nobody failed over stays master and refuses
#   writes for 2 s (Redis's CLUSTER_WRITABLE_DELAY), so its restart is proof of death,
#   and the takeover ends that wait. A master that does not answer without refusing
#   (a frozen VM, a partition: no RST) is left to Redis's own failure detection.
# - Only a replica that was in sync moments before takes over (in_sync_verdict): a
#   manual failover skips Redis's own check of the replica's data age. Its master
#   listed it online in one of its last AGENT_IN_SYNC_ANSWERS (10) answers and it holds
#   that master's history, or it already resynchronized from the restarted master.
# - With several replicas, the one with the highest replication offset takes over
#   (takeover_verdict), so a hit WAIT confirmed on one replica only is kept; if a
#   sibling cannot be asked, Redis decides. Decisions are taken within
#   AGENT_DECIDE_WINDOW_MS (1000) of the death: after that a restarted master may be
#   serving writes again, and Redis decides.
# - On the surge pod (surge.sh), each turn also does the surge node's own duty: it hands back
#   slots it took over while it stood in, and leaves the cluster once its shard has its own
#   replica back (or nobody uses it) for SURGE_RETIRE_SECONDS.
# - Alongside, in the background (election.sh): a master that stops answering without refusing is
#   still judged by Redis alone (FAIL), but the agent holds its node's automatic election while the
#   master is silent and runs the same election, voted by the majority of masters, the moment FAIL
#   comes, instead of Redis's 0.5-1 s election delay.
# Decisions: failover-decisions.sh (unit-tested). Connections: rediscli.sh.
# Env: POD_IP (this node as its master lists it), POD_NAME (logs), REDIS_USERS_DIR (as admin),
#      PROBE_HOST / PROBE_CLIENT_PORT (this node; 127.0.0.1:6379); REDIS_SURGE_FILE, POD_HOSTNAME (surge.sh);
#      ELECTION_HOLD_FILE (election.sh).
set -u

SCRIPTS_DIR=$(dirname "$0")
. "$SCRIPTS_DIR/rediscli.sh"
. "$SCRIPTS_DIR/failover-decisions.sh"
. "$SCRIPTS_DIR/surge.sh"
. "$SCRIPTS_DIR/election.sh"

INTERVAL=${AGENT_INTERVAL_SECONDS:-0.1}
STREAM_SECONDS=${AGENT_STREAM_SECONDS:-2}
IN_SYNC_ANSWERS=${AGENT_IN_SYNC_ANSWERS:-10}
REFUSED_PROBES=${AGENT_REFUSED_PROBES:-3}
PROBE_GAP=${AGENT_PROBE_GAP_SECONDS:-0.02}
PROBE_SECONDS=${AGENT_PROBE_SECONDS:-0.5}
DECIDE_WINDOW_MS=${AGENT_DECIDE_WINDOW_MS:-1000}
PROMOTION_WAIT_MS=${AGENT_PROMOTION_WAIT_MS:-3000}
ME_IP=${POD_IP:-}
ME_PORT=${PROBE_CLIENT_PORT:-6379}

now_ms() {
    date +%s%3N
}

log() {
    echo "failover-agent[${POD_NAME:-redis}] $(date -u +%H:%M:%S.%3N): $*"
}

# Logs a line unless it repeats the previous one (a dead master is looked at every second).
last_said=""
say() {
    if [ "$1" != "$last_said" ]; then log "$1"; fi
    last_said=$1
}

if [ -z "$ME_IP" ]; then
    log "error: POD_IP must be this pod's IP (fieldRef status.podIP)"
    exit 64
fi
# SIGTERM from the kubelet: stop at once (as PID 1 of its container, sh would ignore it).
trap 'exit 0' TERM INT

# Probes the master until death_verdict decides; prints the verdict and, for a restart, the new replid.
confirm_death() {
    _cd_seen=""
    _cd_new="-"
    for _cd_i in 1 2 3 4 5 6 7 8 9 10; do
        _cd_reply=$(redis_cli "$PROBE_SECONDS" "$master_host" "$master_port" INFO replication)
        _cd_obs=$(reply_observation "$?" "$_cd_reply")
        case "$_cd_obs" in master:*) _cd_new=${_cd_obs#master:} ;; esac
        _cd_seen="$_cd_seen $_cd_obs"
        # shellcheck disable=SC2086
        _cd_verdict=$(death_verdict "$known_replid" "$REFUSED_PROBES" $_cd_seen)
        if [ "$_cd_verdict" != undecided ]; then
            echo "$_cd_verdict $_cd_new"
            return
        fi
        sleep "$PROBE_GAP"
    done
    echo "unreachable -"
}

# Every sibling replica as takeover_verdict wants it: "ADDRESS REPLID OFFSET SYNCING ROLE" or "ADDRESS unreachable".
sibling_states() {
    self_cli 2 CLUSTER NODES | tr -d '\r' | siblings_of | while read -r _ss_addr; do
        _ss_reply=$(redis_cli "$PROBE_SECONDS" "${_ss_addr%:*}" "${_ss_addr##*:}" INFO replication)
        if [ "$?" = 0 ]; then
            # shellcheck disable=SC2046
            set -- $(replica_state "$_ss_reply")
            if [ "$5" != "-" ]; then
                echo "$_ss_addr $3 $4 $2 $5"
                continue
            fi
        fi
        echo "$_ss_addr unreachable"
    done
}

# After a confirmed death: is this replica the one to take over? Acts, or says why not.
decide_and_act() {
    _da_death=$1
    _da_new=$2
    while [ $(($(now_ms) - dead_since)) -le "$DECIDE_WINDOW_MS" ]; do
        # shellcheck disable=SC2046
        set -- $(replica_state "$(self_cli 2 INFO replication)")
        _da_link=$1 _da_syncing=$2 _da_replid=$3 _da_offset=$4 _da_role=$5 _da_master=$6
        if [ "$_da_role" != slave ] || [ "$_da_master" != "$master_host:$master_port" ]; then
            say "no longer a replica of $master_host:$master_port ($_da_role of $_da_master): nothing to do"
            return
        fi
        _da_sync=$(in_sync_verdict "$_da_death" "$since_online" "$IN_SYNC_ANSWERS" "$_da_link" "$_da_syncing" "$_da_replid" "$known_replid" "$_da_new")
        case "$_da_sync" in
            syncing)
                sleep 0.05
                continue
                ;;
            not-in-sync*)
                say "master $master_host:$master_port $_da_death; this replica is not in sync (${_da_sync#not-in-sync }): left to Redis"
                return
                ;;
        esac
        _da_verdict=$(takeover_verdict "$ME_IP:$ME_PORT" "$_da_replid" "$_da_offset" "$(sibling_states)")
        case "$_da_verdict" in
            me) ;;
            retry)
                sleep 0.05
                continue
                ;;
            defer*)
                # shellcheck disable=SC2086
                set -- $_da_verdict
                say "master $master_host:$master_port $_da_death; sibling $2 holds as much or more (offset $3, this replica $_da_offset): left to it"
                return
                ;;
            *)
                say "master $master_host:$master_port $_da_death; ${_da_verdict#leave }: left to Redis"
                return
                ;;
        esac
        take_over "$_da_death" "$_da_offset"
        return
    done
    say "master $master_host:$master_port $_da_death; no decision within ${DECIDE_WINDOW_MS} ms of its death: left to Redis"
}

# After CLUSTER FAILOVER FORCE at START (ms): exits 0 once this node is master, 1 when it is not
# within PROMOTION_WAIT_MS (the masters did not vote for it). The takeover and the held election
# (election.sh) both wait so.
await_promotion() {
    while [ $(($(now_ms) - $1)) -le "$PROMOTION_WAIT_MS" ]; do
        if [ "$(self_cli 2 ROLE | head -n 1 | tr -d '\r')" = master ]; then return 0; fi
        sleep 0.02
    done
    return 1
}

take_over() {
    _to_start=$(now_ms)
    _to_reply=$(self_cli 2 CLUSTER FAILOVER FORCE | tr -d '\r')
    log "master $master_host:$master_port $1 $(($_to_start - dead_since)) ms ago; this replica was in sync (offset $2) and holds the most: CLUSTER FAILOVER FORCE -> $_to_reply"
    [ "$_to_reply" = OK ] || return
    if await_promotion "$_to_start"; then
        log "took over: master $(($(now_ms) - dead_since)) ms after the death was seen"
    else
        log "not master ${PROMOTION_WAIT_MS} ms after CLUSTER FAILOVER FORCE (the masters did not vote for it): left to Redis"
    fi
}

# A hold left by this container's previous run (killed while its master was silent) is lifted first.
if [ -n "$HOLD_FILE" ] && [ -f "$HOLD_FILE" ]; then
    release_hold
    election_log "released the hold a previous run of this agent left"
fi
election_watch &

master_host=""
master_port=""
known_replid="-"
since_online=none
dead_since=""
decided=""
while :; do
    # The admin password as the kubelet keeps it now (a rotation changes the mounted file).
    . "$SCRIPTS_DIR/rediscli.sh"
    surge_turn
    # shellcheck disable=SC2046
    set -- $(self_cli 2 ROLE | tr -d '\r')
    case "${1:-}" in
        slave) ;;
        master)
            say "this node is a master: nothing to watch"
            master_host=""
            sleep 1
            continue
            ;;
        *)
            say "this node's Redis does not answer ROLE (${1:-nothing}): waiting"
            sleep 1
            continue
            ;;
    esac
    if [ "$2:$3" != "$master_host:$master_port" ]; then
        master_host=$2 master_port=$3 known_replid="-" since_online=none dead_since=""
        say "a replica of $master_host:$master_port: watching it"
    fi
    # shellcheck disable=SC2046
    set -- $({
        redis_cli "$STREAM_SECONDS" "$master_host" "$master_port" -r -1 -i "$INTERVAL" INFO replication
        echo "END $?"
    } | stream_digest "$ME_IP" "$ME_PORT" "$known_replid" "$since_online")
    reason=${1:-ended} code=${2:--} healthy=${3:-0} known_replid=${4:--} since_online=${5:-none}
    if [ "$healthy" -gt 0 ]; then dead_since=""; fi
    case "$reason:$code" in
        demoted:*) continue ;;
        ended:124) continue ;;
    esac
    # The connection was lost (or refused), or the master came back as a new process.
    if [ -z "$dead_since" ]; then
        dead_since=$(now_ms)
        decided=""
    fi
    if [ $(($(now_ms) - dead_since)) -gt "$DECIDE_WINDOW_MS" ]; then
        # This death was decided on, or left to Redis. Whatever answers at the master's
        # address from now on is watched afresh: a new process, not in sync until it
        # lists this replica online.
        known_replid="-" since_online=none dead_since=""
        sleep 1
        continue
    fi
    if [ -n "$decided" ]; then
        sleep 0.2
        continue
    fi
    # shellcheck disable=SC2046
    set -- $(confirm_death)
    case "$1" in
        dead-*)
            decide_and_act "$1" "$2"
            decided=1
            ;;
        unreachable)
            say "master $master_host:$master_port does not answer and does not refuse: left to Redis's failure detection"
            decided=1
            ;;
        *) dead_since="" ;;
    esac
done
