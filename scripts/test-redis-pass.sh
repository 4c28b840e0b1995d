#!/usr/bin/env bash
# The integration suite again, on the Redis index. Files whose behaviour the index does
# not touch are left out: they test request parsing, TLS, proxies, auth relaying, logs
# and client engines, and a second run on Redis would only double their time. A file
# that starts both indexes itself (hot-manifests) needs no second run either.
set -euo pipefail
cd "$(dirname "$0")/.."

index_agnostic=(
  bad-input basic-auth-beside-token basic-auth-docker basic-auth-upstream blob-ranges
  cache-dir-lock container-engines corrupt-upstream docker-auth-flow encoded-paths fuzz
  half-closed-requests hostile-requests hot-manifests log-format malformed-queries
  prometheus-dashboard redirects-and-chains schema1 start-up-modules start-up-errors
  tls-engines tls-reload tls-serving tls-upstream unserved-registry upstream-auth
  upstream-proxy upstream-proxy-tunnel
)
for name in "${index_agnostic[@]}"; do
  [ -f "test/integration/$name.test.ts" ] || { echo "no test/integration/$name.test.ts: update $0" >&2; exit 1; }
done
files=()
for file in test/integration/*.test.ts; do
  name=$(basename "$file" .test.ts)
  [[ " ${index_agnostic[*]} " == *" $name "* ]] || files+=("$file")
done
MIRROR_TEST_INDEX=redis exec npx tap "${files[@]}"
