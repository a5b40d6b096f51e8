#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian/Ubuntu machine:
# redis-server 7 + redis-cli (apt) and the pinned Node dependencies (npm ci). Idempotent: it skips
# whatever is already there, so the README commands can always start with it.
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
