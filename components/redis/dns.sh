# Sourced, never run: how an in-pod script finds a pod's current IPv4 address from its
# stable DNS name (node-start.sh's repair, the surge recruit of handover.sh).
#   resolve NAME      prints the address, or nothing when the name does not resolve
#   bounded CMD...    runs CMD, killed after RESOLVE_TIMEOUT_SECONDS (coreutils timeout;
#                     where it is missing, the resolver options below still bound getent)
# RESOLVE_CMD: a command that takes a name and prints its address (the local runtime's
# cluster DNS; tests), else getent ahostsv4 with one absolute query (trailing dot: no
# search domains), a 1 s timeout and one attempt (glibc's defaults take 20 s a name when
# the cluster DNS does not answer). RESOLVE_TIMEOUT_SECONDS defaults to 2.
# Plain POSIX sh (sourced by dash).

bounded() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "${RESOLVE_TIMEOUT_SECONDS:-2}" "$@"
    else
        "$@"
    fi
}

resolve() {
    if [ -n "${RESOLVE_CMD:-}" ]; then
        # RESOLVE_CMD may carry arguments: split on purpose.
        # shellcheck disable=SC2086
        bounded $RESOLVE_CMD "$1" 2>/dev/null | awk 'NR == 1 { print $1 }' || true
    else
        # "$1." is absolute: one query, not one per search domain. Options given later win.
        bounded env "RES_OPTIONS=${RES_OPTIONS:-} timeout:1 attempts:1" getent ahostsv4 "$1." 2>/dev/null |
            awk 'NR == 1 { print $1 }' || true
    fi
}
