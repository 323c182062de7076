#!/usr/bin/env bash
# A/B of two `strata` server binaries on the same data, rounds
# interleaved: each round starts A's server, then B's, pinned to one core
# beside the client (B's `bench-client`), and measures 1 and 100 keys at 1
# and 32 in flight. Compare the rounds' p50s, not single runs: the machine
# is shared.
#
#   scripts/bench-server-ab.sh A_BIN B_BIN [SECONDS] [ROUNDS]   (3 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
a_bin=$1 b_bin=$2 secs="${3:-3}" rounds="${4:-3}"
core="${CORE:-0}"
pin() { taskset -c "$core" "$@"; }

. scripts/scratch.sh

"$b_bin" apply --data "$tmp/d" scripts/defs/bench-server.toml >/dev/null
token=$("$b_bin" token create --data "$tmp/d" --name bench --grant 'admin:*' 2>/dev/null)
{
    echo "user_id,event_timestamp,amount_avg,amount_max,score,txn_count,days_active"
    seq 0 99999 | awk '{ printf "%d,2024-05-01T00:00:00Z,%.2f,%.2f,%.4f,%d,%d\n", $1, $1 / 7, $1 / 3, $1 / 100000, $1 % 1000, $1 % 365 }'
} > "$tmp/rows.csv"
"$b_bin" ingest --data "$tmp/d" --view bench "$tmp/rows.csv" >/dev/null

echo "# $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), core $core, ${secs}s each"
for r in $(seq "$rounds"); do
    for side in A B; do
        bin=$a_bin; [ "$side" = B ] && bin=$b_bin
        taskset -c "$core" "$bin" serve --data "$tmp/d" --listen 127.0.0.1:0 --threads 1 > "$tmp/serve.out" 2>"$tmp/serve.err" &
        server=$!
        pids+=($server)
        for _ in $(seq 100); do [ -s "$tmp/serve.out" ] && break; sleep 0.1; done
        addr=$(sed -n 's/.* on \([0-9.:]*\)[ ;].*/\1/p' "$tmp/serve.out" | head -1)
        [ -n "$addr" ] || { echo "server $side did not start:" >&2; cat "$tmp/serve.err" >&2; exit 1; }
        for cfg in "1 1" "100 1" "1 32" "100 32"; do
            read -r keys inflight <<< "$cfg"
            echo -n "round $r $side: "
            pin "$b_bin" bench-client --server "$addr" --token "$token" --server-cert "$tmp/d/tls/cert.pem" \
                --view bench --keys "$keys" --in-flight "$inflight" --key-space 100000 \
                --seconds "$secs" --warmup-seconds 0.5
        done
        kill "$server"; wait "$server" 2>/dev/null || true
        rm -f "$tmp/serve.out"
    done
done
