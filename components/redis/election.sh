# Sourced by failover-agent.sh, never run: the held election. Plain POSIX sh.
#
# A master that stops answering without refusing connections (a frozen VM, a partition) is judged
# by Redis alone: only the cluster's FAIL (a majority of masters agreed it is unreachable) lets a
# replica take over. But after FAIL, Redis's replica waits 0.5 s + a random 0-0.5 s (+ 1 s per
# rank) before it asks for votes. The agent removes that wait and nothing else:
#   - hold: once its node's cluster-bus ping to the master has gone unanswered for min(0.5 s, node
#     timeout / 4), the agent sets cluster-replica-no-failover on its node (the node's automatic
#     election waits; Redis's failure detection goes on as before). FAIL cannot come earlier than one
#     node timeout of silence, so the hold is in place first;
#   - elect: when its node sees the master FAIL, the agent checks the replica by Redis's own rule for
#     an automatic election plus ours (freeze_eligibility: its link up, no sync under way, its data
#     age within Redis's limit), asks its siblings their offsets (takeover_verdict: the one holding
#     the most stands, as Redis's rank would have it), and runs the election at once with CLUSTER
#     FAILOVER FORCE: the same vote of the majority of masters, without the delay;
#   - release: after its election, when the master answers again, when its node is no longer a
#     replica, when it decides not to stand (Redis's own election runs then, as without the agent),
#     and when the hold outlived 2 x node timeout + 2 s without a FAIL. A new agent releases at start.
# The hold is also written to ELECTION_HOLD_FILE (its start, in ms) on the pod's run volume: the
# Redis container's liveness probe (probe.sh) releases a hold whose agent is gone.
# Decisions: failover-decisions.sh (election_digest, election_step, freeze_eligibility).

HOLD_FILE=${ELECTION_HOLD_FILE:-}
ELECTION_POLL=${AGENT_ELECTION_POLL_SECONDS:-0.1}
ELECTION_STREAM_SECONDS=${AGENT_ELECTION_STREAM_SECONDS:-30}
# This node's CLUSTER NODES stamped with its own clock (ms), between "now" and "end" lines.
STAMPED_NODES='local t = redis.call("TIME") return "now " .. t[1] .. string.format("%03d", math.floor(t[2] / 1000)) .. "\n" .. redis.call("CLUSTER", "NODES") .. "end"'

election_log() {
    log "election: $*"
}

# How long the hold has been set at NOW (ms), or "-".
hold_age() {
    _ha_since=""
    if [ -n "$HOLD_FILE" ] && [ -f "$HOLD_FILE" ]; then read -r _ha_since <"$HOLD_FILE" || true; fi
    case "$_ha_since" in
        '' | *[!0-9]*) echo - ;;
        *) echo $(($1 - _ha_since)) ;;
    esac
}

# The file first, then the setting: the probe never finds a hold without its start.
set_hold() {
    echo "$1" >"$HOLD_FILE" 2>/dev/null || return 1
    [ "$(self_cli 2 CONFIG SET cluster-replica-no-failover yes | tr -d '\r')" = OK ]
}

# The setting first, then the file; a hold that could not be lifted keeps its file for the probe.
release_hold() {
    _rh_reply=$(self_cli 2 CONFIG SET cluster-replica-no-failover no | tr -d '\r')
    if [ "$_rh_reply" = OK ]; then
        [ -z "$HOLD_FILE" ] || rm -f "$HOLD_FILE"
    else
        election_log "could not release the hold (CONFIG SET answered '$_rh_reply'); the liveness probe will"
    fi
}

# node timeout, repl-ping-replica-period and cluster-replica-validity-factor, as this node has them.
read_election_settings() {
    # shellcheck disable=SC2046
    set -- $(self_cli 2 CONFIG GET cluster-node-timeout repl-ping-replica-period cluster-replica-validity-factor | tr -d '\r' |
        awk 'NR % 2 == 1 { k = $0; next } { v[k] = $0 } END { print v["cluster-node-timeout"], v["repl-ping-replica-period"], v["cluster-replica-validity-factor"] }')
    NODE_TIMEOUT=${1:-} PING_PERIOD=${2:-} VALIDITY=${3:-}
    [ -n "$VALIDITY" ]
}

# The master (arg 1) is FAIL and the hold is set: stand for the election now, or let Redis run it.
elect_at_fail() {
    _ef_info=$(self_cli 2 INFO replication | tr -d '\r')
    _ef_eligible=$(printf '%s\n' "$_ef_info" | freeze_eligibility "$NODE_TIMEOUT" "$PING_PERIOD" "$VALIDITY")
    if [ "$_ef_eligible" != eligible ]; then
        release_hold
        election_log "master $1 FAIL; this replica does not stand (${_ef_eligible#not-eligible }): Redis's own election"
        return
    fi
    # shellcheck disable=SC2046
    set -- "$1" $(replica_state "$_ef_info")
    _ef_verdict=$(takeover_verdict "$ME_IP:$ME_PORT" "$4" "$5" "$(sibling_states)")
    if [ "$_ef_verdict" != me ]; then
        release_hold
        election_log "master $1 FAIL; $_ef_verdict: Redis's own election"
        return
    fi
    _ef_start=$(now_ms)
    _ef_reply=$(self_cli 2 CLUSTER FAILOVER FORCE | tr -d '\r')
    election_log "master $1 FAIL (flagged by a majority of masters); this replica's link is up and it holds the most (offset $5): CLUSTER FAILOVER FORCE -> $_ef_reply"
    if [ "$_ef_reply" = OK ] && await_promotion "$_ef_start"; then
        election_log "took over at FAIL: master $(($(now_ms) - _ef_start)) ms after the election began"
        release_hold
        return
    fi
    release_hold
    election_log "not master after CLUSTER FAILOVER FORCE: Redis's own election"
}

# One turn a view of election_digest (stdin), until the stream ends.
election_turns() {
    _et_spent=0
    while read -r _et_now _et_role _et_master _et_state _et_pending; do
        if [ "$_et_pending" = 0 ]; then
            _et_spent=0
            # The usual turn: nothing pending, nothing held (election_step would say idle).
            [ -f "$HOLD_FILE" ] || continue
        fi
        _et_step=$(election_step "$(hold_age "$_et_now")" "$_et_spent" "$_et_role" "$_et_state" "$_et_pending" "$NODE_TIMEOUT")
        case "$_et_step" in
            hold)
                if set_hold "$_et_now"; then
                    election_log "master $_et_master has not answered this node's cluster-bus ping for $_et_pending ms: its automatic election held; at FAIL this agent runs it at once"
                else
                    release_hold
                    _et_spent=1
                    election_log "could not hold the election (hold file '${HOLD_FILE:-unset}'): Redis's own election"
                fi
                ;;
            elect)
                elect_at_fail "$_et_master"
                _et_spent=1
                ;;
            release*)
                release_hold
                case "$_et_step" in *outlived*) _et_spent=1 ;; esac
                election_log "hold released: ${_et_step#release }"
                ;;
        esac
    done
}

# The watch, in the background of the agent: a stream of this node's stamped CLUSTER NODES, renewed
# every ELECTION_STREAM_SECONDS (a rotated password, a restarted node).
election_watch() {
    if [ -z "$HOLD_FILE" ]; then
        election_log "ELECTION_HOLD_FILE is not set: Redis's own elections only"
        return
    fi
    while :; do
        . "$SCRIPTS_DIR/rediscli.sh"
        if read_election_settings; then
            self_cli "$ELECTION_STREAM_SECONDS" -r -1 -i "$ELECTION_POLL" EVAL "$STAMPED_NODES" 0 | election_digest | election_turns
        fi
        sleep 0.5
    done
}
