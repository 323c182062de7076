#!/usr/bin/env bash
# Network benchmark: `strata serve` lookups over QUIC on loopback, beside a
# bare quinn echo (the floor for any request/response over QUIC) and Redis
# GET/MGET at the same concurrency, everything pinned to one core (waking a
# thread on the other vCPU of this VM costs ~75 µs, more than a request);
# then, at 32 in flight, a one-thread server on the other core against a
# two-thread server on both (`--threads 1` vs `--threads 2`, same run).
#
#   scripts/bench-server.sh [SECONDS]      (default 5 per measurement)
#
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server).
# Set CORE to pin elsewhere. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
core="${CORE:-0}"
cargo build --release --bin strata >&2
bin="${CARGO_TARGET_DIR:-target}/release/strata"
pin() { taskset -c "$core" "$@"; }

. scripts/scratch.sh

"$bin" apply --data "$tmp/d" scripts/defs/bench-server.toml >/dev/null
token=$("$bin" token create --data "$tmp/d" --name bench --grant 'admin:*' 2>/dev/null)
# 100 000 keys, bulk-ingested into a segment (in page cache), as a
# serving store's data mostly is.
{
    echo "user_id,event_timestamp,amount_avg,amount_max,score,txn_count,days_active"
    seq 0 99999 | awk '{ printf "%d,2024-05-01T00:00:00Z,%.2f,%.2f,%.4f,%d,%d\n", $1, $1 / 7, $1 / 3, $1 / 100000, $1 % 1000, $1 % 365 }'
} > "$tmp/rows.csv"
"$bin" ingest --data "$tmp/d" --view bench "$tmp/rows.csv" >/dev/null

# The first line a server prints names its address.
addr_of() {
    local f=$1
    for _ in $(seq 100); do
        if [ -s "$f" ]; then sed -n 's/.* on \([0-9.:]*\)[ ;].*/\1/p' "$f" | head -1; return; fi
        sleep 0.1
    done
    echo "no address in $f" >&2; exit 1
}
# A server on CORES with THREADS runtime threads; sets $server (its pid)
# and $remote (the client's arguments for it).
start_server() {
    local cores=$1 threads=$2
    taskset -c "$cores" "$bin" serve --data "$tmp/d" --listen 127.0.0.1:0 --threads "$threads" \
        > "$tmp/serve.out" 2>/dev/null &
    server=$!
    pids+=($server)
    remote=(--server "$(addr_of "$tmp/serve.out")" --token "$token" --server-cert "$tmp/d/tls/cert.pem")
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; rm -f "$tmp/serve.out"; }
start_server "$core" 1
pin "$bin" bench-client --data "$tmp/d" --echo-server 127.0.0.1:0 > "$tmp/echo.out" 2>/dev/null &
pids+=($!)
echo_addr=$(addr_of "$tmp/echo.out")

echo "# $(date -u +%FT%TZ), $(nproc) vCPU, client and servers pinned to core $core, ${secs}s each"
for inflight in 1 32; do
    pin "$bin" bench-client "${remote[@]}" --echo "$echo_addr" --in-flight "$inflight" --seconds "$secs"
    for keys in 1 100; do
        pin "$bin" bench-client "${remote[@]}" --view bench --keys "$keys" --in-flight "$inflight" \
            --key-space 100000 --seconds "$secs"
    done
done

stop_server

# One server thread against two, both beside a client on core 0: the
# one-thread server alone on core 1, the two-thread one on both cores.
other=$(( core == 0 ? 1 : 0 ))
for cores_threads in "$other 1" "0,1 2"; do
    read -r cores threads <<< "$cores_threads"
    start_server "$cores" "$threads"
    for keys in 1 100; do
        echo -n "server --threads $threads on core(s) $cores, client on core $core: "
        pin "$bin" bench-client "${remote[@]}" --view bench --keys "$keys" --in-flight 32 \
            --key-space 100000 --seconds "$secs"
    done
    stop_server
done

port=$((20000 + RANDOM % 20000))
pin redis-server --port "$port" --save '' --appendonly no --daemonize no > "$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
pin redis-benchmark -p "$port" -r 100000 -n 200000 -t set -q >/dev/null
n=$((secs * 100000))
mget=(MGET); for i in $(seq 100); do mget+=("key:__rand_int__"); done
for c in 1 32; do
    echo "redis GET, $c connection(s) x 1 in flight:"
    pin redis-benchmark -p "$port" -r 100000 -n "$n" -c "$c" -t get --precision 3 | grep -E -A3 "throughput summary" 
    echo "redis MGET of 100 keys, $c connection(s) x 1 in flight:"
    pin redis-benchmark -p "$port" -r 100000 -n "$((n / 10))" -c "$c" --precision 3 "${mget[@]}" | grep -E -A3 "throughput summary" 
done
