#!/usr/bin/env bash
# Issue 15's load generator: a `strata serve` (with the Feast HTTP
# endpoint) under every red-team attack at once, while a normal client
# measures its one-key lookups' p50 and p99, first without attack and then
# under attack, in the same run (`strata bench-client --attack`).
#
#   scripts/bench-attack.sh [SECONDS] [debug|release]   (default 15, debug)
#
# Prints the bench-client's lines: both latencies, their ratio, what the
# server refused, and the server's peak memory (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"
profile="${2:-debug}"
if [ "$profile" = release ]; then
    cargo build --release --bin strata >&2
else
    cargo build --bin strata >&2
fi
bin="${CARGO_TARGET_DIR:-target}/$profile/strata"

. scripts/scratch.sh

"$bin" apply --data "$tmp/d" scripts/defs/bench-attack.toml >/dev/null
admin=$("$bin" token create --data "$tmp/d" --name bench --grant 'admin:*' 2>/dev/null)
reader=$("$bin" token create --data "$tmp/d" --name attacker --grant 'read:view:bench' 2>/dev/null)
http_port=$((20000 + RANDOM % 20000))
"$bin" serve --data "$tmp/d" --listen 127.0.0.1:0 --write-timeout-ms 2000 \
    --http "127.0.0.1:$http_port" --http-plaintext > "$tmp/serve.out" 2>/dev/null &
server=$!
pids+=($server)
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's/.* on \([0-9.]*:[0-9]*\)[ ;,].*/\1/p' "$tmp/serve.out" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "no address in $(cat "$tmp/serve.out")" >&2; exit 1; }
echo "# $(date -u +%FT%TZ), $(nproc) vCPU, $profile build, ${secs}s without and ${secs}s under attack"
"$bin" bench-client --server "$addr" --token "$admin" --server-cert "$tmp/d/tls/cert.pem" \
    --view bench --populate --key-space 1000 --seconds "$secs" --warmup-seconds 1 \
    --attack --attack-token "$reader" --http "127.0.0.1:$http_port" --server-pid "$server"
