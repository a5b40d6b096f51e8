# Sourced, never run: the one place that says how an in-pod script reaches its own pod's Redis.
#   . /scripts/rediscli.sh
#   rcli PING                      # redis-cli's own options may come first: rcli -e CLUSTER INFO
#
# rcli runs redis-cli with this pod's connection arguments:
#   - host PROBE_HOST (default 127.0.0.1; the local runtime sets the pod's own address) and port
#     PROBE_CLIENT_PORT (default 6379). Not REDIS_HOST/REDIS_PORT: Kubernetes service links set
#     those when a Service is named "redis";
#   - TLS when REDIS_TLS_DIR (the mounted TLS Secret) is set: --tls, the server checked against its
#     ca.crt (redis-cli verifies the chain; the name it dials is the pod's own);
#   - the ACL user REDIS_CLI_USER (default admin) with its password from the mounted users Secret
#     (REDIS_USERS_DIR/<user>), read when this file is sourced: the kubelet updates that file in a
#     running pod, so a rotated password is used without a restart. Without REDIS_USERS_DIR (a bare
#     node with requirepass), the `default` user with REDISCLI_AUTH or else REDIS_PASSWORD. The
#     password travels in the environment (REDISCLI_AUTH), never on a command line.
# probe.sh, the formation's exec over the Kubernetes API and any hook or agent of the Redis
# container use it, so a change of how clients connect is made here once.
#
# Plain POSIX sh (sourced by dash).

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
        redis-cli --no-auth-warning -h "${PROBE_HOST:-127.0.0.1}" -p "${PROBE_CLIENT_PORT:-6379}" ${REDIS_CLI_USER:+--user "$REDIS_CLI_USER"} \
            --tls --cacert "$REDIS_TLS_DIR/ca.crt" "$@"
    else
        redis-cli --no-auth-warning -h "${PROBE_HOST:-127.0.0.1}" -p "${PROBE_CLIENT_PORT:-6379}" ${REDIS_CLI_USER:+--user "$REDIS_CLI_USER"} "$@"
    fi
}
