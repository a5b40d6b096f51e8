# Sourced, never run: the surge pod, a spare Redis node of the StatefulSet (its last ordinal, no
# member of the cluster at rest) that stands in as a shard's replica while a pod of that shard is
# stopped for a planned reason, so WAIT 1 goes on confirming writes (components/shape.ts says why).
#   surge_pod                       the surge pod's name (REDIS_SURGE_FILE, re-read each time: a
#                                   change of shape updates the mounted file); empty without one
#   recruit_surge IP PORT ID END    makes the surge node a replica of the master ID at IP:PORT and
#                                   waits until it is in sync, until END (epoch ms); 0 when it is
#   surge_turn                      one turn of the surge node's own duty (its failover agent):
#                                   hand back slots it took over, leave the cluster when not needed
# The callers define log, now_ms and source rediscli.sh and failover-decisions.sh first.
# Env: REDIS_SURGE_FILE, POD_NAME, POD_HOSTNAME (this pod's DNS name; the surge's is beside it),
#      PROBE_CLIENT_PORT (every pod's client port), SURGE_RETIRE_SECONDS (15, redisDefaults.ts): how long the surge
#      node stays after its shard has its own replica back (the next stop of a roll comes sooner
#      and finds it attached), or after it was left in a cluster that does not use it.
. "$(dirname "$0")/dns.sh"

SURGE_PORT=${PROBE_CLIENT_PORT:-6379}

surge_pod() {
    if [ -n "${REDIS_SURGE_FILE:-}" ] && [ -r "$REDIS_SURGE_FILE" ]; then
        tr -d ' \r\n' <"$REDIS_SURGE_FILE"
    fi
}

# The surge node's address, or nothing (no surge pod, this pod is it, or its name does not resolve).
surge_ip() {
    _si_pod=$(surge_pod)
    [ -n "$_si_pod" ] && [ "$_si_pod" != "${POD_NAME:-}" ] && [ -n "${POD_HOSTNAME:-}" ] || return 0
    resolve "$_si_pod.${POD_HOSTNAME#*.}"
}

# Online replicas of the master at IP:PORT other than the address EXCLUDED.
online_replicas_besides() {
    redis_cli 2 "$1" "$2" INFO replication | handover_candidates | awk -v x="$3" '$1 != x' | grep -c . || true
}

recruit_surge() {
    _rs_mip=$1 _rs_mport=$2 _rs_mid=$3 _rs_end=$4
    _rs_pod=$(surge_pod)
    if [ -z "$_rs_pod" ] || [ "$_rs_pod" = "${POD_NAME:-}" ]; then
        return 1
    fi
    _rs_ip=$(surge_ip)
    if [ -z "$_rs_ip" ]; then
        log "the surge pod $_rs_pod does not resolve: no stand-in"
        return 1
    fi
    _rs_said=""
    while [ "$(now_ms)" -lt "$_rs_end" ]; do
        _rs_nodes=$(redis_cli 2 "$_rs_ip" "$SURGE_PORT" CLUSTER NODES | tr -d '\r')
        case "$_rs_nodes" in
            *myself*) ;;
            *)
                log "surge node $_rs_ip does not answer: ${_rs_nodes:-no reply}"
                return 1
                ;;
        esac
        _rs_step=$(printf '%s\n' "$_rs_nodes" | surge_recruit_step "$_rs_mid" "$(replica_state "$(redis_cli 2 "$_rs_ip" "$SURGE_PORT" INFO replication)")")
        [ "$_rs_step" = "$_rs_said" ] || log "surge node $_rs_ip for master $_rs_mip:$_rs_mport: $_rs_step"
        _rs_said=$_rs_step
        case "$_rs_step" in
            ready)
                # Every master must know it too: they vote if it has to take over, and until then
                # they drop its packets (a node learns of others from a peer it knows, or a MEET).
                _rs_unaware=$(printf '%s\n' "$_rs_nodes" | masters_unaware_of)
                [ -n "$_rs_unaware" ] || return 0
                for _rs_addr in $_rs_unaware; do
                    redis_cli 2 "${_rs_addr%:*}" "${_rs_addr##*:}" CLUSTER MEET "$_rs_ip" "$SURGE_PORT" >/dev/null
                done
                log "surge node $_rs_ip: masters $(echo $_rs_unaware) do not know it yet: CLUSTER MEET from them"
                ;;
            serving) return 1 ;;
            meet) redis_cli 2 "$_rs_mip" "$_rs_mport" CLUSTER MEET "$_rs_ip" "$SURGE_PORT" >/dev/null ;;
            replicate) redis_cli 2 "$_rs_ip" "$SURGE_PORT" CLUSTER REPLICATE "$_rs_mid" >/dev/null ;;
            move*)
                # It stands in for another shard: take it only if that shard has another online replica.
                _rs_other=$(printf '%s\n' "$_rs_nodes" | awk -v id="${_rs_step#move }" '$1 == id { a = $2; sub(/@.*/, "", a); print a }')
                if [ -z "$_rs_other" ] || [ "$(online_replicas_besides "${_rs_other%:*}" "${_rs_other##*:}" "$_rs_ip")" -eq 0 ]; then
                    log "surge node $_rs_ip stands in for ${_rs_other:-an unknown master}, which has no other online replica: not taking it"
                    return 1
                fi
                redis_cli 2 "$_rs_ip" "$SURGE_PORT" CLUSTER REPLICATE "$_rs_mid" >/dev/null
                ;;
        esac
        sleep 0.05
    done
    log "surge node $_rs_ip not in sync with $_rs_mip:$_rs_mport in time ($_rs_said)"
    return 1
}

# The masters a node does not know yet (stdin: that node's CLUSTER NODES; "IP:PORT" lines).
masters_unaware_of() {
    _mu_nodes=$(cat)
    _mu_id=$(printf '%s\n' "$_mu_nodes" | awk '$3 ~ /(^|,)myself(,|$)/ { print $1 }')
    printf '%s\n' "$_mu_nodes" |
        awk '$3 ~ /(^|,)master(,|$)/ && $3 !~ /(^|,)(myself|fail|noaddr|handshake)(,|$)/ { a = $2; sub(/@.*/, "", a); print a }' |
        while read -r _mu_addr; do
            redis_cli 2 "${_mu_addr%:*}" "${_mu_addr##*:}" CLUSTER NODES | tr -d '\r' |
                awk -v id="$_mu_id" -v addr="$_mu_addr" '$1 == id && $3 !~ /handshake/ { known = 1 } END { if (!known) print addr }'
        done
}

# Every other node forgets this one, then it resets (a new ID, no data): an idle node again.
retire_surge() {
    _rt_id=$(self_cli 2 CLUSTER MYID | tr -d '\r')
    [ -n "$_rt_id" ] || return 0
    self_cli 2 CLUSTER NODES | tr -d '\r' |
        awk '$3 !~ /(^|,)(myself|noaddr|handshake)(,|$)/ { a = $2; sub(/@.*/, "", a); print a }' |
        while read -r _rt_addr; do
            redis_cli 2 "${_rt_addr%:*}" "${_rt_addr##*:}" CLUSTER FORGET "$_rt_id" >/dev/null
        done
    log "left the cluster: every node forgot $_rt_id; CLUSTER RESET HARD -> $(self_cli 2 CLUSTER RESET HARD | tr -d '\r')"
}

surge_since=""
surge_waiting=""
serving_since=""
surge_turn() {
    [ "$(surge_pod)" = "${POD_NAME:-}" ] || return 0
    # shellcheck disable=SC2046
    set -- $(self_cli 2 ROLE | tr -d '\r')
    _st_others=-
    if [ "${1:-}" = slave ]; then
        _st_others=$(online_replicas_besides "$2" "$3" "${POD_IP:-}")
    fi
    _st_duty=$(self_cli 2 CLUSTER NODES | tr -d '\r' | surge_duty "$_st_others")
    case "$_st_duty" in
        serving)
            surge_since=""
            [ -n "$serving_since" ] || serving_since=$(now_ms)
            # Not right after the takeover: the other replicas are still switching to this node, and one
            # that has just re-attached did not complete a manual failover, while the writes it pauses
            # waited its whole 5 s (seen in a chaos run: 6.8 s gaps). 2 x node timeout lets it settle.
            _st_timeout=$(self_cli 2 CONFIG GET cluster-node-timeout | tr -d '\r' | tail -n 1)
            case "$_st_timeout" in "" | *[!0-9]*) _st_timeout=15000 ;; esac
            if [ $(($(now_ms) - serving_since)) -lt $((2 * _st_timeout + 1000)) ]; then
                return 0
            fi
            if [ -n "$(self_cli 2 INFO replication | handover_candidates)" ]; then
                log "the surge node serves slots (it took its shard over): handing them back"
                sh "$(dirname "$0")/handover.sh"
                # A later takeover (it stands in again) waits its own settling time.
                serving_since=""
            elif [ "$surge_waiting" != 1 ]; then
                log "the surge node serves slots (it took its shard over); no replica is in sync yet to hand them to"
            fi
            surge_waiting=1
            return 0
            ;;
        spare | stray)
            [ -n "$surge_since" ] || surge_since=$(now_ms)
            if [ $(($(now_ms) - surge_since)) -ge $((${SURGE_RETIRE_SECONDS:-15} * 1000)) ]; then
                log "the surge node is $_st_duty for ${SURGE_RETIRE_SECONDS:-15} s: leaving the cluster"
                retire_surge
                surge_since=""
            fi
            ;;
        *) surge_since="" ;;
    esac
    surge_waiting=""
    serving_since=""
}
