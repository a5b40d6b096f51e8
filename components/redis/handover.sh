#!/bin/sh
# preStop hook of the Redis container (sh /scripts/handover.sh): whenever Kubernetes
# stops the pod and says so first (eviction, node drain, deletion, rolling update, a
# failed liveness probe), a master hands its slots to its best replica before Redis
# stops, instead of leaving them unwritable until the cluster notices.
#
# - A replica (or a master without slots) stops at once.
# - A master asks its in-sync replicas, the highest replication offset first
#   (handover_candidates), for a coordinated CLUSTER FAILOVER (not FORCE): the master
#   pauses writes, the replica catches up to the master's exact offset, the majority
#   of masters votes, and the replica takes the slots; nothing acknowledged is lost.
# - Then it waits until this node is a replica of the new master, every other master
#   agrees and, with two replicas or more, another replica follows the new master (so
#   WAIT still finds a replica when this node leaves), and only then lets Redis stop. Each attempt is bounded by Redis's
#   manual-failover timeout (5 s); the whole handover by HANDOVER_TIMEOUT_SECONDS,
#   which terminationGracePeriodSeconds leaves room for (manifests.ts).
# - Without an in-sync replica it stops anyway: the failover agent (once Redis is gone)
#   or Redis's own failure detection takes over from there.
# - With a surge pod (surge.sh; one replica per master), a stop that would leave a shard
#   with a single copy first recruits the surge node as that shard's replica and waits until
#   it is in sync: a replica that is its master's only online replica, and a master whose
#   replica would be left alone as the new master (the surge node replicates this master
#   first and follows the new one by a partial resync). So WAIT 1 goes on confirming writes
#   while the pod is away. If the surge node cannot be had in time, the stop goes on as
#   without one.
# Logs go to stdout and, on Kubernetes, to the Redis container's own log (PID 1 is
# redis-server there), so `kubectl logs` shows what the hook did.
# Env: HANDOVER_TIMEOUT_SECONDS (12), REDIS_USERS_DIR (as admin), PROBE_HOST / PROBE_CLIENT_PORT, POD_NAME,
#      POD_IP (this node as its new master lists it; default PROBE_HOST), REDIS_TLS_DIR,
#      REDIS_SURGE_FILE and POD_HOSTNAME (surge.sh).
set -u

SCRIPTS_DIR=$(dirname "$0")
. "$SCRIPTS_DIR/rediscli.sh"
. "$SCRIPTS_DIR/failover-decisions.sh"
. "$SCRIPTS_DIR/surge.sh"

BUDGET_SECONDS=${HANDOVER_TIMEOUT_SECONDS:-12}
# Redis's CLUSTER_MF_TIMEOUT is 5000 ms; a little more for the new master's announcement.
ATTEMPT_MS=5500
# A master recruits the surge node within this much of the budget, leaving the rest for the handover.
MASTER_RECRUIT_MS=$((BUDGET_SECONDS * 1000 - ATTEMPT_MS - 500))

now_ms() {
    date +%s%3N
}

log() {
    _line="handover[${POD_NAME:-redis}] $(date -u +%H:%M:%S.%3N): $*"
    echo "$_line"
    # The container's own log on Kubernetes; never another machine's PID 1.
    if tr '\0' ' ' </proc/1/cmdline 2>/dev/null | grep -q '^redis-server'; then
        echo "$_line" >>/proc/1/fd/1 2>/dev/null || true
    fi
}

started=$(now_ms)
deadline=$((started + BUDGET_SECONDS * 1000))

ME_IP=${POD_IP:-${PROBE_HOST:-127.0.0.1}}
ME_PORT=${PROBE_CLIENT_PORT:-6379}

# A replica stops at once, unless it is its master's only online replica and a surge node can stand in.
stop_replica() {
    _sr_others=$(online_replicas_besides "$1" "$2" "$ME_IP")
    if [ -z "$(surge_pod)" ] || [ "$_sr_others" -gt 0 ]; then
        log "this node is slave: stopping at once"
        return
    fi
    _sr_id=$(redis_cli 2 "$1" "$2" CLUSTER MYID | tr -d '\r')
    case "$_sr_id" in
        *[!0-9a-f]* | "")
            log "this node is slave; its master $1:$2 does not answer (${_sr_id:-no reply}): stopping at once"
            return
            ;;
    esac
    if recruit_surge "$1" "$2" "$_sr_id" "$deadline"; then
        log "this node is slave; the surge node stands in for it with $1:$2 after $(($(now_ms) - started)) ms: stopping"
    else
        log "this node is slave, its master's only online replica, and no surge node stands in: stopping"
    fi
}

# shellcheck disable=SC2046
set -- $(self_cli 2 ROLE | tr -d '\r')
role=${1:-}
if [ "$role" = slave ]; then
    stop_replica "$2" "$3"
    exit 0
elif [ "$role" != master ]; then
    log "this node is ${role:-not answering}: stopping at once"
    exit 0
fi
myid=$(self_cli 2 CLUSTER MYID | tr -d '\r')
owned=$(self_cli 2 CLUSTER NODES | tr -d '\r' | awk '$3 ~ /(^|,)myself(,|$)/ { print NF - 8 }')
if [ "${owned:-0}" -le 0 ]; then
    log "a master without slots: stopping at once"
    exit 0
fi

# Masters other than this node and NEW_ID that do not list NEW_ID as a master yet.
disagreeing() {
    _dg_new=$1
    self_cli 2 CLUSTER NODES | tr -d '\r' |
        awk -v me="$myid" -v new="$_dg_new" '$3 ~ /master/ && $3 !~ /fail|noaddr/ && $1 != me && $1 != new { a = $2; sub(/@.*/, "", a); print a }' |
        while read -r _dg_addr; do
            redis_cli 2 "${_dg_addr%:*}" "${_dg_addr##*:}" CLUSTER NODES | tr -d '\r' |
                awk -v new="$_dg_new" -v addr="$_dg_addr" '$1 == new { seen = 1; if ($3 ~ /(^|,)master(,|$)/) ok = 1 } END { if (!ok) print addr }'
        done
}

candidates=$(self_cli 2 INFO replication | handover_candidates)
# One replica: once it has taken over and this node stops, it would be alone. The surge node
# replicates this master first, follows the new one, and is handed the slots only as a last resort.
if [ "$(printf '%s\n' "$candidates" | grep -c .)" -eq 1 ] && [ -n "$(surge_pod)" ]; then
    recruit_surge "$ME_IP" "$ME_PORT" "$myid" $((started + MASTER_RECRUIT_MS)) &&
        candidates=$(self_cli 2 INFO replication | handover_candidates)
fi
# The surge node only stands in: a member takes the slots whenever one is in sync (a coordinated
# failover brings any in-sync replica to the master's exact offset first).
if [ -n "$(surge_pod)" ]; then
    surge=$(surge_ip)
    candidates=$(printf '%s\n' "$candidates" | awk -v s="$surge" 'NF == 0 { next } $1 != s { print; next } { last = $0 } END { if (last != "") print last }')
fi
if [ -z "$candidates" ]; then
    log "a master with no online replica: stopping without handover (its slots wait for a failover)"
    exit 0
fi
# The replicas besides the one that takes over.
others=$(($(printf '%s\n' "$candidates" | grep -c .) - 1))
printf '%s\n' "$candidates" | {
    while read -r ip port offset; do
        [ "$(now_ms)" -lt "$deadline" ] || break
        # shellcheck disable=SC2046
        set -- $(replica_state "$(redis_cli 2 "$ip" "$port" INFO replication)")
        if [ "$1" != up ] || [ "$2" != 0 ]; then
            log "replica $ip:$port is not in sync (link $1, sync in progress $2): not handing over to it"
            continue
        fi
        newid=$(redis_cli 2 "$ip" "$port" CLUSTER MYID | tr -d '\r')
        reply=$(redis_cli 2 "$ip" "$port" CLUSTER FAILOVER | tr -d '\r')
        if [ "$reply" != OK ]; then
            log "replica $ip:$port refused CLUSTER FAILOVER: $reply"
            continue
        fi
        log "asked replica $ip:$port (offset $offset) to take over (CLUSTER FAILOVER)"
        attempt_end=$(($(now_ms) + ATTEMPT_MS))
        [ "$attempt_end" -le "$deadline" ] || attempt_end=$deadline
        flipped=""
        while [ "$(now_ms)" -lt "$attempt_end" ]; do
            # shellcheck disable=SC2046
            set -- $(self_cli 2 ROLE | tr -d '\r')
            if [ "${1:-}" = slave ] && [ "${2:-}" = "$ip" ]; then
                flipped=$(now_ms)
                break
            fi
            sleep 0.02
        done
        if [ -z "$flipped" ]; then
            log "replica $ip:$port did not take over within $((ATTEMPT_MS / 1000)) s"
            continue
        fi
        left=""
        while [ "$(now_ms)" -lt "$deadline" ]; do
            left=$(disagreeing "$newid" | tr '\n' ' ')
            [ -n "$left" ] || break
            sleep 0.05
        done
        # This node is the new master's replica now, and WAIT counts it until Redis stops: with
        # other replicas in the shard, stop only once one of them replicates the new master, so
        # durable writes go on without a pause when this one leaves.
        following=""
        if [ "$others" -gt 0 ]; then
            following=0
            nudged=$flipped
            while [ "$(now_ms)" -lt "$deadline" ]; do
                following=$(online_replicas_besides "$ip" "$port" "$ME_IP")
                [ "${following:-0}" -gt 0 ] && break
                # A surge node recruited moments before may not know the new master yet, and then Redis
                # does not move it over (seen once in a chaos run): each second, tell it to.
                if [ -n "${surge:-}" ] && [ $(($(now_ms) - nudged)) -ge 1000 ]; then
                    nudged=$(now_ms)
                    log "the surge node $surge does not follow $ip:$port yet: CLUSTER REPLICATE -> $(redis_cli 2 "$surge" "$ME_PORT" CLUSTER REPLICATE "$newid" | tr -d '\r')"
                fi
                sleep 0.02
            done
        fi
        case "$following" in
            "") follow="" ;;
            0) follow="; its other replicas did not follow it within ${BUDGET_SECONDS} s" ;;
            *) follow="; $following other replica(s) follow it after $(($(now_ms) - started)) ms" ;;
        esac
        if [ -n "$left" ]; then
            log "handed over to $ip:$port after $((flipped - started)) ms; masters $left did not agree within ${BUDGET_SECONDS} s$follow: stopping"
        else
            log "handed over to $ip:$port after $((flipped - started)) ms; every master agrees$follow: stopping"
        fi
        exit 0
    done
    log "no replica took over within ${BUDGET_SECONDS} s: stopping without handover (its slots wait for a failover)"
}
exit 0
