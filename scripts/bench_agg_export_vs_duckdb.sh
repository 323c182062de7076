#!/usr/bin/env bash
# Export of an aggregation view: `strata export` of windowed aggregations
# against DuckDB computing the same windows with RANGE window functions over
# the same events, on this machine; both read the entity table from Parquet
# and write Parquet (Snappy, DuckDB's default).
#
#   scripts/bench_agg_export_vs_duckdb.sh      # 4 M events, 20 k users, 2 M rows
#   EVENTS=1000000 USERS=10000 ROWS=500000 scripts/bench_agg_export_vs_duckdb.sh
#
# Data set (scripts/bench_agg_export_data.py): EVENTS card transactions
# (user_id, event_timestamp, amount) over USERS users, spread over 2024;
# ROWS entity rows (row_id, user_id, event_timestamp, label) at random
# times from 2024-01-01 to 2025-01-31. Features (scripts/defs/
# bench-agg-export.toml): the count of the user's transactions over 1 hour,
# the sum of their amounts over 1 day, the mean over 7 days.
#
# Both compute each entity row's windows at its event_timestamp t over the
# events with t - window < event_ts <= t (docs/AGGREGATIONS.md), and a row
# whose user has no event at or before t gets null features:
# - Strata: the events are ingested once into the source view `txn` (the
#   aggregation view `txn_stats` keeps its tiles as they come; `--backfill`,
#   for the events are historical and not in time order), then flushed
#   and compacted; timed is the wall time of the whole `strata export
#   --features 'txn_stats:*'` process (opening the store, reading the entity
#   table, reading every row's windows, writing Parquet);
# - DuckDB: the entity rows are put into the event stream (UNION ALL, with
#   no amount and not counted), and count/sum/avg OVER (PARTITION BY user_id
#   ORDER BY the time in microseconds RANGE BETWEEN window - 1 PRECEDING AND
#   CURRENT ROW) computes each window with both bounds as Strata's; timed is
#   its COPY (...) TO '...parquet' statement (the interpreter's start-up is
#   not counted). Its output is not sorted back into input order (Strata's
#   is).
# Each runs RUNS times (default 3), alternating; the median and the best are
# reported. Afterwards the two outputs are compared by row_id: counts and
# nulls must be equal, sums and means equal within a relative 1e-9 (the two
# add the amounts in different orders).
#
# DuckDB comes from PyPI (`pip install duckdb`), installed if missing.
set -euo pipefail

EVENTS=${EVENTS:-4000000}
USERS=${USERS:-20000}
ROWS=${ROWS:-2000000}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/strata-bench-agg-export}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/vs_duckdb.sh"
vs_duckdb_setup

DATA=$BENCH_DIR/data-$EVENTS-$USERS-$ROWS
STORE=$BENCH_DIR/store-$EVENTS-$USERS
make_data "$DATA" "$ROOT/scripts/bench_agg_export_data.py" "$EVENTS" "$USERS" "$ROWS" 4
make_store "$STORE" "$ROOT/scripts/defs/bench-agg-export.toml" txn "$DATA/events/part-*.parquet" --backfill

OUT=$BENCH_DIR/out
mkdir -p "$OUT"
strata_run() {
    time_strata_export "$STORE" "$DATA/entities.parquet" 'txn_stats:*' "$OUT/strata.parquet"
}
duckdb_run() {
    python3 - "$DATA" "$OUT/duckdb.parquet" <<'PY'
import sys, time, duckdb
data, out = sys.argv[1], sys.argv[2]
hour_us = 3_600_000_000
def frame(us):
    # (t - window, t]: the time in whole microseconds, so the window's
    # start itself is excluded by ending the frame 1 microsecond after it.
    return (f"OVER (PARTITION BY user_id ORDER BY ts "
            f"RANGE BETWEEN {us - 1} PRECEDING AND CURRENT ROW)")
con = duckdb.connect()
start = time.perf_counter()
con.execute(f"""
COPY (
  SELECT row_id, user_id, event_timestamp, label,
         CASE WHEN seen > 0 THEN count_1h END AS count_1h,
         CASE WHEN seen > 0 THEN amount_sum_1d END AS amount_sum_1d,
         CASE WHEN seen > 0 THEN amount_mean_7d END AS amount_mean_7d
  FROM (
    SELECT row_id, user_id, event_timestamp, label,
           count(is_event) OVER (PARTITION BY user_id ORDER BY ts
                                 RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seen,
           count(is_event) {frame(hour_us)} AS count_1h,
           sum(amount) {frame(24 * hour_us)} AS amount_sum_1d,
           avg(amount) {frame(7 * 24 * hour_us)} AS amount_mean_7d
    FROM (
      SELECT user_id, epoch_us(event_timestamp) AS ts, amount, 1 AS is_event,
             NULL::BIGINT AS row_id, NULL::TIMESTAMP AS event_timestamp, NULL::BIGINT AS label
      FROM read_parquet('{data}/events/*.parquet')
      UNION ALL
      SELECT user_id, epoch_us(event_timestamp), NULL, NULL, row_id, event_timestamp, label
      FROM '{data}/entities.parquet'
    )
  )
  WHERE row_id IS NOT NULL
) TO '{out}' (FORMAT parquet)
""")
print(time.perf_counter() - start)
PY
}

alternate strata_run duckdb_run
cat "$OUT/strata.parquet.log"

python3 - "$OUT" "$ROWS" <<'PY'
import sys, duckdb
out, rows = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
s, d = f"'{out}/strata.parquet'", f"'{out}/duckdb.parquet'"
def close(c):
    return (f"(s.{c} IS NULL) = (d.{c} IS NULL) AND (s.{c} IS NULL OR "
            f"abs(s.{c} - d.{c}) <= 1e-9 * greatest(abs(s.{c}), abs(d.{c}), 1e-300))")
n = con.execute(f"SELECT count(*) FROM {s}").fetchone()[0]
m = con.execute(f"SELECT count(*) FROM {d}").fetchone()[0]
joined = con.execute(f"SELECT count(*) FROM {s} s JOIN {d} d USING (row_id)").fetchone()[0]
bad = con.execute(f"""
SELECT count(*) FROM {s} s JOIN {d} d USING (row_id)
WHERE s.user_id <> d.user_id OR s.event_timestamp <> d.event_timestamp OR s.label <> d.label
   OR s.count_1h IS DISTINCT FROM d.count_1h
   OR NOT ({close('amount_sum_1d')}) OR NOT ({close('amount_mean_7d')})
""").fetchone()[0]
order = con.execute(f"""
SELECT count(*) FROM (SELECT row_id, row_number() OVER () - 1 AS pos FROM {s})
WHERE row_id <> pos
""").fetchone()[0]
hits = con.execute(f"""
SELECT count(count_1h), count(amount_sum_1d), count(amount_mean_7d), max(count_1h)
FROM {s}""").fetchone()
print(f"check: {n} rows (DuckDB {m}, {joined} matched by row_id), "
      f"non-null count_1h/amount_sum_1d/amount_mean_7d {hits[0]}/{hits[1]}/{hits[2]} "
      f"(largest count_1h {hits[3]}), {bad} differ from DuckDB's, {order} out of input order")
if bad or order or not (n == m == joined == rows):
    sys.exit("the outputs differ")
PY

report "duckdb RANGE windows" "$ROWS"
