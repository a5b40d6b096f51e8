# Sourced, never run: the ONE place that says how an in-pod script reaches a Redis node.
#   . /scripts/rediscli.sh
#
#   rcli ARGS...                        redis-cli against this pod's own Redis; redis-cli's own
#                                       options may come first: rcli -e CLUSTER INFO
#   redis_cli SECONDS HOST PORT ARGS... redis-cli against HOST:PORT (another pod), killed after
#                                       SECONDS (a frozen node accepts connections and never
#                                       answers; exit 124 then), stderr on stdout: errors such as
#                                       "Could not connect ... Connection refused" or "LOADING"
#                                       come as one text the caller classifies
#   self_cli SECONDS ARGS...            redis_cli against this pod's own Redis
#
# Every one connects the same way:
#   - this pod's Redis is PROBE_HOST (default 127.0.0.1; the local runtime sets the pod's own
#     address) port PROBE_CLIENT_PORT (default 6379), read at each call. Not REDIS_HOST/REDIS_PORT:
#     Kubernetes service links set those when a Service is named "redis";
#   - TLS when REDIS_TLS_DIR (the mounted TLS Secret, or the CA alone) is set: --tls, the server
#     checked against its ca.crt (redis-cli verifies the chain; every pod's certificate chains to the
#     same CA, so the agent and the handover dial other pods by IP the same way);
#   - the ACL user REDIS_CLI_USER (default admin) with its password from the mounted users Secret
#     (REDIS_USERS_DIR/<user>), read when this file is sourced: the kubelet updates that file in a
#     running pod, so a rotated password is used without a restart (the failover agent sources this
#     file again before each decision). Without REDIS_USERS_DIR (a bare node with requirepass), the
#     `default` user with REDISCLI_AUTH or else REDIS_PASSWORD. The password travels in the
#     environment (REDISCLI_AUTH), never on a command line.
# probe.sh, handover.sh (preStop), failover-agent.sh, the formation's exec over the Kubernetes API
# and any other hook of the Redis pod use it, so a change of how clients connect (TLS, an ACL user)
# is made here once. Replies are redis-cli's to a pipe (raw; lines may end in \r).
#
# Plain POSIX sh (sourced by dash): the Redis image has no bash.

if [ -n "${REDIS_USERS_DIR:-}" ]; then
    REDIS_CLI_USER=${REDIS_CLI_USER:-admin}
    REDISCLI_AUTH=$(cat "$REDIS_USERS_DIR/$REDIS_CLI_USER" 2>/dev/null || true)
else
    REDIS_CLI_USER=""
    REDISCLI_AUTH=${REDISCLI_AUTH:-${REDIS_PASSWORD:-}}
fi
export REDISCLI_AUTH

rcli() {
    if [ -n "${REDIS_TLS_DIR:-}" ]; then
        set -- --tls --cacert "$REDIS_TLS_DIR/ca.crt" "$@"
    fi
    redis-cli --no-auth-warning -h "${PROBE_HOST:-127.0.0.1}" -p "${PROBE_CLIENT_PORT:-6379}" ${REDIS_CLI_USER:+--user "$REDIS_CLI_USER"} "$@"
}

redis_cli() {
    _rc_seconds=$1
    _rc_host=$2
    _rc_port=$3
    shift 3
    if [ -n "${REDIS_TLS_DIR:-}" ]; then
        set -- --tls --cacert "$REDIS_TLS_DIR/ca.crt" "$@"
    fi
    timeout "$_rc_seconds" redis-cli --no-auth-warning -h "$_rc_host" -p "$_rc_port" ${REDIS_CLI_USER:+--user "$REDIS_CLI_USER"} "$@" 2>&1
}

self_cli() {
    _sc_seconds=$1
    shift
    redis_cli "$_sc_seconds" "${PROBE_HOST:-127.0.0.1}" "${PROBE_CLIENT_PORT:-6379}" "$@"
}
