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
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRATA=$TARGET/release/strata

python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb
echo "duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)')"

(cd "$ROOT" && cargo build --release --quiet --bin strata --example compact_store)

DATA=$BENCH_DIR/data-$VERSIONS-$ENTITIES-$ROWS
STORE=$BENCH_DIR/store-$VERSIONS-$ENTITIES
mkdir -p "$BENCH_DIR"
if [ ! -f "$DATA/done" ]; then
    rm -rf "$DATA"
    python3 "$ROOT/scripts/bench_export_data.py" "$DATA" "$VERSIONS" "$ENTITIES" "$ROWS" 10
    touch "$DATA/done"
fi
if [ ! -f "$STORE/done" ]; then
    rm -rf "$STORE"
    "$STRATA" apply --data "$STORE" "$ROOT/scripts/defs/bench-export.toml" >/dev/null
    start=$(date +%s.%N)
    for f in "$DATA"/features/part-*.parquet; do
        "$STRATA" ingest --data "$STORE" --view bench "$f"
    done
    "$STRATA" flush --data "$STORE" >/dev/null
    "$TARGET/release/examples/compact_store" "$STORE"
    echo "ingested and compacted in $(echo "$(date +%s.%N) - $start" | bc) s"
    touch "$STORE/done"
fi

OUT=$BENCH_DIR/out
mkdir -p "$OUT"
strata_run() {
    local start end
    start=$(date +%s.%N)
    "$STRATA" export --data "$STORE" --entities "$DATA/entities.parquet" \
        --features 'bench:*' --out "$OUT/strata.parquet" >"$OUT/strata.log"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
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

s_times=(); d_times=()
for i in $(seq "$RUNS"); do
    s=$(strata_run); d=$(duckdb_run)
    echo "run $i: strata $s s, duckdb $d s (load average $(cut -d' ' -f1 /proc/loadavg))"
    s_times+=("$s"); d_times+=("$d")
done
cat "$OUT/strata.log"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
S=$(median "${s_times[@]}"); D=$(median "${d_times[@]}")
SB=$(best "${s_times[@]}"); DB=$(best "${d_times[@]}")

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

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both)"
awk -v s="$S" -v d="$D" -v sb="$SB" -v db="$DB" -v n="$ROWS" 'BEGIN {
    printf "strata export: median %.2f s (%.0f rows/s), best %.2f s (%.0f rows/s)\n", s, n / s, sb, n / sb;
    printf "duckdb ASOF:   median %.2f s (%.0f rows/s), best %.2f s (%.0f rows/s)\n", d, n / d, db, n / db;
    printf "ratio (strata rows/s / duckdb rows/s): median %.2fx, best %.2fx\n", d / s, db / sb;
}'
