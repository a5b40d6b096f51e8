#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian/Ubuntu machine:
# redis-server + redis-cli (apt), checked to be Redis 7 or newer, and the pinned Node dependencies
# (npm ci). Idempotent: it skips whatever is already there, so the README commands can always start
# with it.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# The start script's DNS test runs in namespaces of its own: unshare and mount (util-linux), ip (iproute2).
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ "${WITH_BENCH_TOOLS:-0}" = 1 ]; then
  # The HTTP benchmark's anchor is the tutorial's Flask app, run by Debian's python3.
  /usr/bin/python3 -c 'import flask, redis.cluster' >/dev/null 2>&1 || missing+=(python3-flask python3-redis)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: need ${missing[*]} but apt-get is not available; install Redis 7 (redis-server, redis-cli) yourself." >&2
    exit 1
  fi
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# Redis 7 or newer, server and cli: the nodes announce hostnames (cluster-announce-hostname,
# cluster-preferred-endpoint-type), bind their cluster bus to their own address (bind-source-addr)
# and are given slots with CLUSTER ADDSLOTSRANGE, all new in 7.0. Older apt releases (Debian 11,
# Ubuntu 22.04) install 6.0, which starts but cannot form this cluster.
REDIS_MIN_MAJOR=7
for tool in redis-server redis-cli; do
  path=$(command -v "$tool")
  # "Redis server v=7.0.15 sha=… malloc=jemalloc-5.3.0 …" and "redis-cli 7.0.15".
  version=$("$tool" --version 2>/dev/null | grep -oE '(v=|^redis-cli )[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 | grep -oE '[0-9.]+$' || true)
  if [ -z "$version" ]; then
    echo "setup: could not read the version of $path (\`$tool --version\` printed no x.y.z); this project needs Redis $REDIS_MIN_MAJOR or newer." >&2
    exit 1
  fi
  if [ "${version%%.*}" -lt "$REDIS_MIN_MAJOR" ]; then
    {
      echo "setup: $tool $version is installed ($path), but this project needs Redis $REDIS_MIN_MAJOR or newer (server and cli)."
      echo "  Debian 12+ and Ubuntu 24.04+: sudo apt-get install -y redis-server redis-tools gives 7.x."
      echo "  Older releases: install Redis $REDIS_MIN_MAJOR+ from Redis's own APT repository (steps: https://github.com/redis/redis-debian)"
      echo "  or build a release from source (make && sudo make install puts both in /usr/local/bin)."
      echo "  Then make sure the new redis-server and redis-cli come first on PATH, and run this script again."
    } >&2
    exit 1
  fi
done

# npm ci only when node_modules is absent or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The Node.js that `npm run` and `npm test` use: the pinned one in node_modules/.bin on Linux x64,
# else the machine's own. Both commands need 22.19 or newer (@pulumi/pulumi, @kubernetes/client-node).
node_bin=node
[ -x node_modules/.bin/node ] && node_bin=node_modules/.bin/node
if ! "$node_bin" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)'; then
  echo "setup: Node.js $("$node_bin" -v) is too old; this project needs 22.19 or newer (install it from nodejs.org or your package manager, then run this again)." >&2
  exit 1
fi
