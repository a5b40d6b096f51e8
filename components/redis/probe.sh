#!/bin/sh
# Kubernetes probes of a Redis Cluster node:  sh /scripts/probe.sh live|ready
#
# live:  the server answers PING (a node still loading its AOF answers LOADING and
#        counts as alive, so a large dataset is not killed mid-load).
# ready: the server answers PING and
#        - it has never joined a cluster (knows only itself, owns no slots): ready,
#          because formation needs every pod up and reachable first, and
#        - once it has joined one (formed-once, read from Redis itself: more than
#          one known node or any assigned slot): only while cluster_state:ok,
#          i.e. while it serves its slots.
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

cli() {
    rcli "$@" 2>&1 | tr -d '\r'
}

ping_answer=$(cli PING)

case "$mode" in
    live)
        case "$ping_answer" in
            PONG | LOADING*) exit 0 ;;
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
        if [ "$state" = "ok" ]; then
            exit 0
        fi
        echo "not ready: cluster_state:$state ($known known nodes, $assigned slots assigned)"
        exit 1
        ;;
    *)
        echo "usage: probe.sh live|ready" >&2
        exit 2
        ;;
esac
