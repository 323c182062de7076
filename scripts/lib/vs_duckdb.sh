# Shared steps of the benches that time `strata export` against DuckDB on
# the same data (scripts/bench_export_vs_duckdb.sh,
# scripts/bench_agg_export_vs_duckdb.sh). Sourced, not run; the caller sets
# ROOT (the repository), RUNS and BENCH_DIR.

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STRATA=$TARGET/release/strata

# DuckDB from PyPI if missing, and release builds of strata and the
# compaction example.
vs_duckdb_setup() {
    python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb
    echo "duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)')"
    (cd "$ROOT" && cargo build --release --quiet --bin strata --example compact_store)
    mkdir -p "$BENCH_DIR"
}

# make_data DIR GENERATOR ARGS...: runs `python3 GENERATOR DIR ARGS...`
# once; later runs reuse DIR.
make_data() {
    local dir=$1 generator=$2
    shift 2
    if [ ! -f "$dir/done" ]; then
        rm -rf "$dir"
        python3 "$generator" "$dir" "$@"
        touch "$dir/done"
    fi
}

# make_store STORE DEFS VIEW FILES_GLOB [INGEST FLAGS...]: applies DEFS,
# ingests each Parquet file into VIEW, flushes and compacts into one
# segment, once; later runs reuse STORE.
make_store() {
    local store=$1 defs=$2 view=$3 glob=$4 start f
    shift 4
    if [ -f "$store/done" ]; then
        return
    fi
    rm -rf "$store"
    "$STRATA" apply --data "$store" "$defs" >/dev/null
    start=$(date +%s.%N)
    for f in $glob; do
        "$STRATA" ingest --data "$store" --view "$view" "$@" "$f" >/dev/null
    done
    "$STRATA" flush --data "$store" >/dev/null
    "$TARGET/release/examples/compact_store" "$store"
    echo "ingested and compacted in $(echo "$(date +%s.%N) - $start" | bc) s"
    touch "$store/done"
}

# time_strata_export STORE ENTITIES FEATURES OUT: the wall time (s) of the
# whole `strata export` process; its output in OUT, its log in OUT.log.
time_strata_export() {
    local start end
    start=$(date +%s.%N)
    "$STRATA" export --data "$1" --entities "$2" --features "$3" --out "$4" >"$4.log"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

# alternate STRATA_RUN DUCKDB_RUN: runs the two commands RUNS times,
# alternating (each prints its time in seconds); sets S, D (medians) and
# SB, DB (bests).
alternate() {
    local s d i s_times=() d_times=()
    for i in $(seq "$RUNS"); do
        s=$($1)
        d=$($2)
        echo "run $i: strata $s s, duckdb $d s (load average $(cut -d' ' -f1 /proc/loadavg))"
        s_times+=("$s")
        d_times+=("$d")
    done
    S=$(median "${s_times[@]}")
    D=$(median "${d_times[@]}")
    SB=$(best "${s_times[@]}")
    DB=$(best "${d_times[@]}")
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }

# report DUCKDB_LABEL ROWS: the medians, bests and ratios of `alternate`.
report() {
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both)"
    awk -v s="$S" -v d="$D" -v sb="$SB" -v db="$DB" -v n="$2" -v label="$1" 'BEGIN {
        printf "%-22s median %.2f s (%.0f rows/s), best %.2f s (%.0f rows/s)\n", "strata export:", s, n / s, sb, n / sb;
        printf "%-22s median %.2f s (%.0f rows/s), best %.2f s (%.0f rows/s)\n", label ":", d, n / d, db, n / db;
        printf "ratio (strata rows/s / duckdb rows/s): median %.2fx, best %.2fx\n", d / s, db / sb;
    }'
}
