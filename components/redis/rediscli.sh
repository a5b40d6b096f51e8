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
#   - the password in the environment, REDISCLI_AUTH or else REDIS_PASSWORD, never on a command line.
# probe.sh, the formation's exec over the Kubernetes API and any hook or agent of the Redis
# container use it, so a change of how clients connect (TLS, an ACL user) is made here once.
#
# Plain POSIX sh (sourced by dash).

REDISCLI_AUTH=${REDISCLI_AUTH:-${REDIS_PASSWORD:-}}
export REDISCLI_AUTH

rcli() {
    if [ -n "${REDIS_TLS_DIR:-}" ]; then
        redis-cli --no-auth-warning -h "${PROBE_HOST:-127.0.0.1}" -p "${PROBE_CLIENT_PORT:-6379}" \
            --tls --cacert "$REDIS_TLS_DIR/ca.crt" "$@"
    else
        redis-cli --no-auth-warning -h "${PROBE_HOST:-127.0.0.1}" -p "${PROBE_CLIENT_PORT:-6379}" "$@"
    fi
}
