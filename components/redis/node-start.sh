#!/bin/sh
# Runs before redis-server in every Redis pod:
#   sh /scripts/node-start.sh redis-server /run/redis/redis.conf
#
# 1. Writes the runtime redis.conf (mode 0600): an `include` of the shared,
#    secret-free conf from the ConfigMap plus `dir REDIS_DATA_DIR` (Redis keeps
#    nodes.conf and the AOF exactly where this script repairs them; the local
#    runtime mounts the volume elsewhere than /data), the ACL file, the replication
#    user and its password (masteruser/masterauth) and this pod's announced IP and
#    stable hostname.
# 1b. Writes the node's ACL file (REDIS_DATA_DIR/users.acl, mode 0600, on the volume):
#    one line a user from the secret-free template (REDIS_ACL_TEMPLATE, the ConfigMap's
#    users.acl) plus the sha256 of the user's password from the users Secret
#    (REDIS_USERS_DIR/<user>), plus every hash the node's previous ACL file held for
#    that user. ACL SAVE (run by a rotation) keeps that file current, so a pod that
#    restarts in the middle of a rotation accepts the old and the new password, as
#    its peers do; the rotation's last phase leaves only the new one. The plain
#    passwords never reach the volume.
# 2. Repairs nodes.conf on the volume. Pods get new IPs when they restart and Redis
#    never re-resolves a peer's address by itself, so after several pods restart
#    together every node holds stale addresses and the cluster stays down. Redis 7
#    keeps each node's announced hostname in nodes.conf (`ip:port@cport,hostname`):
#    the script resolves every peer's stable DNS name and rewrites that peer's
#    address, and sets its own line to POD_IP.
#    Lines are rewritten by node ID, one line at a time (never a global old-IP ->
#    new-IP text substitution), so two nodes that swapped addresses cannot clobber
#    each other and no placeholder pass is needed.
#    A name that does not resolve yet (its pod is not scheduled) keeps the last
#    known IP: what nodes.conf holds, else the map below. That peer repairs itself
#    when it starts and reconnects; the others learn its new address from the
#    incoming cluster-bus connection.
# 3. Keeps a map (REDIS_DATA_DIR/peer-ips.map, lines `<name> <ip> <node-id>`) of the
#    last IP of every named node. It names nodes whose nodes.conf line lost its
#    hostname and gives an IP to lines whose address Redis left empty.
# 4. exec "$@".
#
# Name lookups are bounded, and so is the repair as a whole: when every pod restarts
# at once the cluster DNS may not answer, and glibc's defaults (5 s x 2 attempts per
# query; the name, then the search domains) took 20 s per name, so with 15 peers
# redis-server had not even started when the startup probe (300 s) gave up. Each
# lookup is one absolute query (trailing dot: no search domains) with a 1 s timeout
# and one attempt, cut off after RESOLVE_TIMEOUT_SECONDS; after REPAIR_BUDGET_SECONDS
# the remaining peers keep their last known IPs without a lookup.
#
# With REDIS_TLS_DIR (the mounted TLS Secret) the runtime conf also points Redis at its
# certificate, key and CA there; the shared conf then says TLS on every link.
#
# Plain POSIX sh + awk: the pinned Redis image guarantees no bash.
# Env: POD_IP, POD_HOSTNAME, REDIS_USERS_DIR, REDIS_ACL_TEMPLATE (required); POD_NAME (logs); REDIS_TLS_DIR;
#      REDIS_DATA_DIR (/data), REDIS_SHARED_CONF (/conf/redis.conf),
#      REDIS_RUNTIME_CONF (/run/redis/redis.conf), REDIS_NODES_CONF
#      (REDIS_DATA_DIR/nodes.conf); RESOLVE_CMD: a command that takes a name and
#      prints its IPv4 address (default: getent ahostsv4), injectable for tests;
#      RESOLVE_TIMEOUT_SECONDS (2), REPAIR_BUDGET_SECONDS (30): the bounds above.
set -eu

log() {
    echo "node-start[${POD_NAME:-$(hostname 2>/dev/null || echo redis)}]: $*" >&2
}

fail() {
    log "error: $*"
    exit 64
}

is_ipv4() {
    case "$1" in
        "" | *[!0-9.]* | .* | *. | *..*) return 1 ;;
    esac
    # Exactly four dot-separated numbers 0-255.
    echo "$1" | awk -F. 'NF != 4 { exit 1 } { for (i = 1; i <= 4; i++) if ($i > 255) exit 1 }'
}

[ "$#" -gt 0 ] || fail "usage: node-start.sh <command> [args...] (normally: redis-server /run/redis/redis.conf)"

DATA_DIR=${REDIS_DATA_DIR:-/data}
SHARED_CONF=${REDIS_SHARED_CONF:-/conf/redis.conf}
RUNTIME_CONF=${REDIS_RUNTIME_CONF:-/run/redis/redis.conf}
NODES_CONF=${REDIS_NODES_CONF:-$DATA_DIR/nodes.conf}
PEER_MAP=$DATA_DIR/peer-ips.map

POD_IP=${POD_IP:-}
POD_HOSTNAME=${POD_HOSTNAME:-}
USERS_DIR=${REDIS_USERS_DIR:-}
ACL_TEMPLATE=${REDIS_ACL_TEMPLATE:-}
ACL_FILE=$DATA_DIR/users.acl
is_ipv4 "$POD_IP" || fail "POD_IP must be this pod's IPv4 address (fieldRef status.podIP), got '$POD_IP'"
case "$POD_HOSTNAME" in
    "" | *[!A-Za-z0-9.-]*) fail "POD_HOSTNAME must be this pod's stable DNS name (letters, digits, '.', '-'), got '$POD_HOSTNAME'" ;;
esac
[ -n "$USERS_DIR" ] && [ -d "$USERS_DIR" ] ||
    fail "REDIS_USERS_DIR '$USERS_DIR' is not a directory: mount the users Secret there (one file a user); a node never starts without its users"
[ -n "$ACL_TEMPLATE" ] && [ -r "$ACL_TEMPLATE" ] ||
    fail "REDIS_ACL_TEMPLATE '$ACL_TEMPLATE' is not readable (the ConfigMap's users.acl must be mounted there)"
[ -d "$DATA_DIR" ] || fail "REDIS_DATA_DIR $DATA_DIR is not a directory (the data volume must be mounted there)"
[ -r "$SHARED_CONF" ] || fail "REDIS_SHARED_CONF $SHARED_CONF is not readable (the ConfigMap must be mounted there)"
TLS_DIR=${REDIS_TLS_DIR:-}
if [ -n "$TLS_DIR" ]; then
    for f in tls.crt tls.key ca.crt; do
        [ -r "$TLS_DIR/$f" ] || fail "REDIS_TLS_DIR $TLS_DIR has no readable $f (the TLS Secret must be mounted there)"
    done
elif grep -q '^tls-port ' "$SHARED_CONF"; then
    fail "REDIS_TLS_DIR is not set, but $SHARED_CONF turns TLS on: mount the TLS Secret and set REDIS_TLS_DIR to it"
fi

# --- 1. runtime redis.conf -------------------------------------------------------
# redis.conf strings: double-quoted with backslash escapes.
conf_quote() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

# A user's password from the users Secret: one line, no spaces (the ACL file splits on them).
user_password() {
    [ -r "$USERS_DIR/$1" ] || fail "the users Secret has no password for user '$1' ($USERS_DIR/$1 is not readable)"
    pw=$(cat "$USERS_DIR/$1")
    case "$pw" in
        "" | *" "* | *"	"* | *"
"*) fail "the password of user '$1' ($USERS_DIR/$1) must be one line without spaces, and not empty" ;;
    esac
    printf '%s' "$pw"
}

sha256_of() {
    printf '%s' "$1" | sha256sum | awk '{ print $1 }'
}

# --- 1b. the ACL file -----------------------------------------------------------------
umask 077
: >"$ACL_FILE.tmp"
while read -r keyword user rules; do
    [ "$keyword" = "user" ] || continue
    if [ "$user" = "default" ]; then
        echo "user default $rules" >>"$ACL_FILE.tmp"
        continue
    fi
    password=$(user_password "$user")
    hash=$(sha256_of "$password")
    kept=""
    if [ -f "$ACL_FILE" ]; then
        kept=$(awk -v u="$user" -v h="#$hash" '$1 == "user" && $2 == u {
            for (i = 3; i <= NF; i++) if ($i ~ /^#[0-9a-f]+$/ && length($i) == 65 && $i != h) printf " %s", $i
        }' "$ACL_FILE")
    fi
    [ -z "$kept" ] || log "user $user: the previous ACL file also accepts$(echo "$kept" | awk '{ for (i = 1; i <= NF; i++) printf " %s…", substr($i, 1, 9) }') (a rotation in progress)"
    echo "user $user $rules #$hash$kept" >>"$ACL_FILE.tmp"
done <"$ACL_TEMPLATE"
grep -q '^user default ' "$ACL_FILE.tmp" || fail "REDIS_ACL_TEMPLATE $ACL_TEMPLATE has no 'user default' line: Redis would create default with no password"
mv -f "$ACL_FILE.tmp" "$ACL_FILE"

replication_password=$(user_password replication)
quoted_password=$(conf_quote "$replication_password")
quoted_acl_file=$(conf_quote "$ACL_FILE")
quoted_data_dir=$(conf_quote "$DATA_DIR")
quoted_shared_conf=$(conf_quote "$SHARED_CONF")
mkdir -p "$(dirname "$RUNTIME_CONF")"
{
    # printf, not echo: dash's echo would eat the escaping backslashes.
    printf 'include "%s"\n' "$quoted_shared_conf"
    printf 'dir "%s"\n' "$quoted_data_dir"
    printf 'aclfile "%s"\n' "$quoted_acl_file"
    echo "masteruser replication"
    printf 'masterauth "%s"\n' "$quoted_password"
    echo "cluster-announce-ip $POD_IP"
    echo "cluster-announce-hostname $POD_HOSTNAME"
    if [ -n "$TLS_DIR" ]; then
        quoted_tls_dir=$(conf_quote "$TLS_DIR")
        printf 'tls-cert-file "%s/tls.crt"\n' "$quoted_tls_dir"
        printf 'tls-key-file "%s/tls.key"\n' "$quoted_tls_dir"
        printf 'tls-ca-cert-file "%s/ca.crt"\n' "$quoted_tls_dir"
    fi
} >"$RUNTIME_CONF.tmp"
chmod 600 "$RUNTIME_CONF.tmp"
mv -f "$RUNTIME_CONF.tmp" "$RUNTIME_CONF"

# --- 2. nodes.conf -----------------------------------------------------------------
RESOLVE_TIMEOUT_SECONDS=${RESOLVE_TIMEOUT_SECONDS:-2}
REPAIR_BUDGET_SECONDS=${REPAIR_BUDGET_SECONDS:-30}
for bound in "$RESOLVE_TIMEOUT_SECONDS" "$REPAIR_BUDGET_SECONDS"; do
    case "$bound" in
        "" | *[!0-9]* | 0*) fail "RESOLVE_TIMEOUT_SECONDS and REPAIR_BUDGET_SECONDS must be whole seconds >= 1, got '$bound'" ;;
    esac
done

# resolve and bounded: dns.sh, beside this script (shared with the handover's surge recruit).
. "$(dirname "$0")/dns.sh"

now() {
    date +%s
}

# Last IP of a name, and the name of a node ID, from the map.
map_ip_of_name() {
    if [ -f "$PEER_MAP" ]; then awk -v n="$1" '$1 == n { ip = $2 } END { if (ip != "") print ip }' "$PEER_MAP"; fi
}
map_name_of_id() {
    if [ -f "$PEER_MAP" ]; then awk -v id="$1" '$3 == id { n = $1 } END { if (n != "") print n }' "$PEER_MAP"; fi
}

if [ -s "$NODES_CONF" ]; then
    work="$DATA_DIR/.node-start.$$"
    # `<id> <ip> <name> <myself?>` for every node line. The address field is
    # ip:port@cport[,hostname[,aux=value...]]; the ip ends at the last ':' before '@'.
    awk '
        $1 == "vars" || NF < 8 { next }
        {
            n = split($2, parts, ",")
            addr = parts[1]
            name = ""
            for (i = 2; i <= n; i++) {
                if (parts[i] ~ /^hostname=/) { name = substr(parts[i], 10) }
                else if (i == 2 && parts[i] !~ /=/) { name = parts[i] }
            }
            hostport = addr; sub(/@.*/, "", hostport)
            ip = hostport; sub(/:[0-9]*$/, "", ip)
            me = ($3 ~ /(^|,)myself(,|$)/) ? "myself" : "peer"
            print $1, (ip == "" ? "-" : ip), (name == "" ? "-" : name), me
        }' "$NODES_CONF" >"$work.nodes"
    # awk tells its input files apart by name: a second name for the same nodes.conf.
    cp "$NODES_CONF" "$work.first"

    : >"$work.decided"
    : >"$work.map"
    deadline=$(($(now) + REPAIR_BUDGET_SECONDS))
    skipped=0
    while read -r id old_ip name who; do
        [ "$old_ip" = "-" ] && old_ip=""
        [ "$name" = "-" ] && name=$(map_name_of_id "$id")
        if [ "$who" = "myself" ]; then
            new_ip=$POD_IP
            name=$POD_HOSTNAME
            how="myself"
        else
            new_ip=""
            how="resolved"
            if [ -n "$name" ] && [ "$(now)" -ge "$deadline" ]; then
                skipped=$((skipped + 1))
            elif [ -n "$name" ]; then
                new_ip=$(resolve "$name")
                is_ipv4 "$new_ip" || new_ip=""
            fi
            if [ -z "$new_ip" ] && [ -n "$old_ip" ]; then
                new_ip=$old_ip
                how="unresolved, kept last known"
            fi
            if [ -z "$new_ip" ] && [ -n "$name" ]; then
                new_ip=$(map_ip_of_name "$name")
                how="unresolved, last known from map"
            fi
        fi
        if [ -z "$new_ip" ]; then
            log "node $id (${name:-no hostname}): no address known, left as is"
            continue
        fi
        if [ "$new_ip" != "$old_ip" ]; then
            log "node $id (${name:-no hostname}): ${old_ip:-none} -> $new_ip ($how)"
        fi
        echo "$id $new_ip" >>"$work.decided"
        if [ -n "$name" ]; then
            echo "$name $new_ip $id" >>"$work.map"
        fi
    done <"$work.nodes"
    if [ "$skipped" -gt 0 ]; then
        log "name lookups stopped after ${REPAIR_BUDGET_SECONDS}s (REPAIR_BUDGET_SECONDS): $skipped peers keep their last known address; they repair themselves when they start"
    fi

    # Rewrite each line's ip by node ID; everything else (hostname, flags, slots, the
    # vars line) stays byte for byte, with one exception: a peer Redis marked `noaddr`
    # (it reached a stale IP and found another node there) has port 0 and is never
    # contacted again. Once it has an address, it gets back the ports of this node's own
    # line (every pod of the StatefulSet listens on the same ports) and loses `noaddr`.
    awk '
        function split_address(addr) {
            # addr = ip:port@cport[,aux...]
            comma = index(addr, ",")
            aux = (comma > 0) ? substr(addr, comma) : ""
            main = (comma > 0) ? substr(addr, 1, comma - 1) : addr
            at = index(main, "@")
            hp = (at > 0) ? substr(main, 1, at - 1) : main
            a_cport = (at > 0) ? substr(main, at + 1) : ""
            colon = 0
            for (i = length(hp); i > 0; i--) if (substr(hp, i, 1) == ":") { colon = i; break }
            a_port = (colon > 0) ? substr(hp, colon + 1) : ""
        }
        FILENAME == decided { ip[$1] = $2; next }
        FILENAME == first && $3 ~ /(^|,)myself(,|$)/ { split_address($2); my_port = a_port; my_cport = a_cport; next }
        FILENAME == first { next }
        $1 != "vars" && ($1 in ip) {
            split_address($2)
            if (colon > 0 && at > 0) {
                if (a_port + 0 == 0 && my_port != "") {
                    a_port = my_port
                    a_cport = my_cport
                    flags = "," $3 ","
                    sub(/,noaddr,/, ",", flags)
                    $3 = (flags == ",") ? "noflags" : substr(flags, 2, length(flags) - 2)
                }
                $2 = ip[$1] ":" a_port "@" a_cport aux
            }
        }
        { print }' decided="$work.decided" first="$work.first" "$work.decided" "$work.first" "$NODES_CONF" >"$work.conf"
    # Atomic replace (same directory): a crash leaves either the old or the new file.
    mv -f "$work.conf" "$NODES_CONF"
    mv -f "$work.map" "$PEER_MAP"
    rm -f "$work.nodes" "$work.decided" "$work.first"
else
    log "no nodes.conf yet: a new node, waiting to be formed"
    echo "$POD_HOSTNAME $POD_IP -" >"$PEER_MAP"
fi

exec "$@"
