#!/usr/bin/env bash
# Point-in-time export: `strata export` against DuckDB's ASOF JOIN on the
# same data, on this machine, both reading the entity table from Parquet and
# writing Parquet (Snappy, DuckDB's default).
#
#   scripts/bench_export_vs_duckdb.sh            # 10 M versions, 1 M entities, 5 M rows
#   VERSIONS=1000000 ENTITIES=100000 ROWS=500000 scripts/bench_export_vs_duckdb.sh
#
# Data set (scripts/bench_export_data.py): 10 M feature versions of 5
# features (3 DOUBLE, 2 BIGINT) over 1 M entities, 10 per entity with
# distinct event times over 2024; 5 M entity rows with a label, at random
# times from 2024-01-01 to 2025-01-31; the view's ttl is 30 days.
#
# The feature versions are ingested into a Strata store once (`strata
# ingest`, then a full compaction); the data set and the store are kept in
# $BENCH_DIR and reused by later runs. Only the export is timed:
# - Strata: the wall time of the whole `strata export` process (opening the
#   store, checking and reading the entity table, joining, writing Parquet);
# - DuckDB: the time of its COPY (ASOF LEFT JOIN ...) TO '...parquet'
#   statement (reading both Parquet inputs, joining, writing Parquet);
#   the interpreter's start-up is not counted.
# Each runs RUNS times (default 3), alternating; the median and the best are
# reported.
# Afterwards the two outputs are compared row by row (by row_id): every
# feature value must be equal.
#
# DuckDB comes from PyPI (`pip install duckdb`), installed if missing.
set -euo pipefail

VERSIONS=${VERSIONS:-10000000}
ENTITIES=${ENTITIES:-1000000}
ROWS=${ROWS:-5000000}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/strata-bench-export}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/vs_duckdb.sh"
vs_duckdb_setup

DATA=$BENCH_DIR/data-$VERSIONS-$ENTITIES-$ROWS
STORE=$BENCH_DIR/store-$VERSIONS-$ENTITIES
make_data "$DATA" "$ROOT/scripts/bench_export_data.py" "$VERSIONS" "$ENTITIES" "$ROWS" 10
make_store "$STORE" "$ROOT/scripts/defs/bench-export.toml" bench "$DATA/features/part-*.parquet"

OUT=$BENCH_DIR/out
mkdir -p "$OUT"
strata_run() {
    time_strata_export "$STORE" "$DATA/entities.parquet" 'bench:*' "$OUT/strata.parquet"
}
duckdb_run() {
    python3 - "$DATA" "$OUT/duckdb.parquet" <<'PY'
import sys, time, duckdb
data, out = sys.argv[1], sys.argv[2]
ttl = "INTERVAL 30 DAY"
feats = ", ".join(
    f"CASE WHEN f.event_timestamp >= e.event_timestamp - {ttl} THEN f.{c} END AS {c}"
    for c in ["f0", "f1", "f2", "f3", "f4"])
con = duckdb.connect()
start = time.perf_counter()
con.execute(f"""
COPY (
  SELECT e.*, {feats}
  FROM '{data}/entities.parquet' e
  ASOF LEFT JOIN read_parquet('{data}/features/*.parquet') f
    ON e.user_id = f.user_id AND e.event_timestamp >= f.event_timestamp
) TO '{out}' (FORMAT parquet)
""")
print(time.perf_counter() - start)
PY
}

alternate strata_run duckdb_run
cat "$OUT/strata.parquet.log"

python3 - "$OUT" <<'PY'
import sys, duckdb
out = sys.argv[1]
con = duckdb.connect()
n = con.execute(f"SELECT count(*) FROM '{out}/strata.parquet'").fetchone()[0]
bad = con.execute(f"""
SELECT count(*) FROM '{out}/strata.parquet' s JOIN '{out}/duckdb.parquet' d USING (row_id)
WHERE s.f0 IS DISTINCT FROM d.f0 OR s.f1 IS DISTINCT FROM d.f1 OR s.f2 IS DISTINCT FROM d.f2
   OR s.f3 IS DISTINCT FROM d.f3 OR s.f4 IS DISTINCT FROM d.f4
""").fetchone()[0]
order = con.execute(f"""
SELECT count(*) FROM (SELECT row_id, row_number() OVER () - 1 AS pos FROM '{out}/strata.parquet')
WHERE row_id <> pos
""").fetchone()[0]
hits = con.execute(f"SELECT count(f0) FROM '{out}/strata.parquet'").fetchone()[0]
print(f"check: {n} rows, {hits} with features, {bad} differ from DuckDB's, "
      f"{order} out of input order")
if bad or order:
    sys.exit("the outputs differ")
PY

report "duckdb ASOF" "$ROWS"
