#!/bin/sh
# Kubernetes probes of a Redis Cluster node:  sh /scripts/probe.sh live|ready
#
# live:  the server answers PING (a node still loading its AOF answers LOADING and
#        counts as alive, so a large dataset is not killed mid-load). It also releases a held
#        election (cluster-replica-no-failover, election.sh) whose failover agent is gone: no
#        start in ELECTION_HOLD_FILE, or one older than an agent ever holds it.
# ready: the server answers PING and
#        - it has never joined a cluster (knows only itself, owns no slots): ready,
#          because formation needs every pod up and reachable first, and
#        - once it has joined one (formed-once, read from Redis itself: more than
#          one known node or any assigned slot): only while cluster_state:ok,
#          i.e. while it serves its slots; and a replica only once its link to
#          its master is up and its initial sync is done, so a rolling update never
#          stops a master whose replica could not take over in sync.
# The StatefulSet uses podManagementPolicy Parallel, so a full restart never
# deadlocks: every pod starts at once, none waits for another to become ready,
# and a formed node turns ready as soon as enough masters are back for
# cluster_state:ok.
#
# How it reaches the node (host, port, TLS, password) is rediscli.sh's, beside this script:
# PROBE_HOST, PROBE_CLIENT_PORT, REDIS_TLS_DIR, REDIS_PASSWORD.
set -u

mode=${1:-}
. "$(dirname "$0")/rediscli.sh"
. "$(dirname "$0")/failover-decisions.sh"

cli() {
    self_cli 5 "$@" | tr -d '\r'
}

ping_answer=$(cli PING)

# Second reply line of CONFIG GET NAME.
config_value() {
    cli CONFIG GET "$1" | sed -n 2p
}

release_stale_hold() {
    [ "$(config_value cluster-replica-no-failover)" = yes ] || return 0
    since=$(cat "${ELECTION_HOLD_FILE:-/nonexistent}" 2>/dev/null || true)
    if hold_is_stale "$(date +%s%3N)" "$since" "$(config_value cluster-node-timeout)"; then
        cli CONFIG SET cluster-replica-no-failover no >/dev/null
        rm -f "${ELECTION_HOLD_FILE:-/nonexistent}"
        echo "released a held election its failover agent left (held since ${since:-an unrecorded time})"
    fi
}

case "$mode" in
    live)
        case "$ping_answer" in
            PONG)
                release_stale_hold
                exit 0
                ;;
            LOADING*) exit 0 ;;
        esac
        echo "not live: PING answered '$ping_answer'"
        exit 1
        ;;
    ready)
        if [ "$ping_answer" != "PONG" ]; then
            echo "not ready: PING answered '$ping_answer'"
            exit 1
        fi
        info=$(cli CLUSTER INFO)
        state=$(echo "$info" | awk -F: '$1 == "cluster_state" { print $2 }')
        known=$(echo "$info" | awk -F: '$1 == "cluster_known_nodes" { print $2 }')
        assigned=$(echo "$info" | awk -F: '$1 == "cluster_slots_assigned" { print $2 }')
        if [ -z "$state" ] || [ -z "$known" ] || [ -z "$assigned" ]; then
            echo "not ready: CLUSTER INFO answered '$info'"
            exit 1
        fi
        if [ "$known" -le 1 ] && [ "$assigned" -eq 0 ]; then
            echo "ready: not part of a cluster yet (waiting to be formed)"
            exit 0
        fi
        if [ "$state" != "ok" ]; then
            echo "not ready: cluster_state:$state ($known known nodes, $assigned slots assigned)"
            exit 1
        fi
        replication=$(cli INFO replication)
        role=$(echo "$replication" | awk -F: '$1 == "role" { print $2 }')
        if [ "$role" = "slave" ]; then
            link=$(echo "$replication" | awk -F: '$1 == "master_link_status" { print $2 }')
            syncing=$(echo "$replication" | awk -F: '$1 == "master_sync_in_progress" { print $2 }')
            if [ "$link" != "up" ] || [ "$syncing" != "0" ]; then
                echo "not ready: a replica whose link to its master is ${link:-unknown} (initial sync in progress: ${syncing:-unknown})"
                exit 1
            fi
        fi
        exit 0
        ;;
    *)
        echo "usage: probe.sh live|ready" >&2
        exit 2
        ;;
esac
