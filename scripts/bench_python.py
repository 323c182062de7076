#!/usr/bin/env python3
"""Strata from Python: how fast online lookups and training sets are.

    python scripts/bench_python.py [--keys N] [--versions V] [--entity-rows R]
                                   [--strata PATH_TO_RELEASE_BINARY] [--dir DIR]

Not a test: it prints figures. Build both sides in release first:

    cargo build --release --bin strata
    (cd python && maturin develop --release)      # in the venv that runs this

It measures, on one embedded store (a view of 5 float64 features keyed by
int64, `--keys` keys with `--versions` versions each, ingested from pandas):

1. online lookups from Python, 1 entity x 5 features, random keys, latest:
   the whole call `get_online_features(...).to_dict()`, and the call alone;
2. the same with 100 entities per call;
3. `get_historical_features` on `--entity-rows` label rows read from Parquet
   and written back to Parquet, against `strata export` (the CLI, a separate
   process) on the same files and store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import strata

from bench_timing import percentiles, timed

DEFS = (Path(__file__).parent / "defs" / "bench-python.toml").read_text()
FEATURES = ["stats:f1", "stats:f2", "stats:f3", "stats:f4", "stats:f5"]
T0 = pd.Timestamp("2024-01-01")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--entity-rows", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=100_000)
    ap.add_argument("--strata", default=os.environ.get("STRATA_BIN", "target/release/strata"))
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()

    work = Path(a.dir or tempfile.mkdtemp(prefix="strata-bench-py-"))
    data = work / "store"
    if data.exists():
        shutil.rmtree(data)
    rng = np.random.default_rng(1)
    n = a.keys * a.versions
    print(f"strata {strata.__version__}, Python {sys.version.split()[0]}, pyarrow {pa.__version__}, pandas {pd.__version__}")
    print(f"store: {a.keys} keys x {a.versions} versions = {n} rows, 5 float64 features; work dir {work}")

    frame = pd.DataFrame({
        "user_id": np.repeat(np.arange(a.keys, dtype="int64"), a.versions),
        "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 30 * 86400, size=n), unit="s"),
        **{f"f{i}": rng.normal(size=n) for i in range(1, 6)},
    })
    store = strata.Store(data)
    store.apply(DEFS)
    t = time.perf_counter()
    store.ingest("stats", frame)
    dt_ingest = time.perf_counter() - t
    print(f"ingest from pandas: {n / dt_ingest:,.0f} rows/s ({dt_ingest:.2f} s)")

    # 1. One entity, five features.
    keys = rng.integers(0, a.keys, size=a.lookups)
    rows = [[{"user_id": int(k)}] for k in keys]
    for i in range(2000):  # warm-up
        store.get_online_features(FEATURES, rows[i % len(rows)]).to_dict()
    s = timed(lambda i: store.get_online_features(FEATURES, rows[i]).to_dict(), a.lookups)
    print(f"online 1 entity x 5 features, .to_dict():  {percentiles(s)}   ({len(s) / sum(s):,.0f} calls/s)")
    s = timed(lambda i: store.get_online_features(FEATURES, rows[i]), a.lookups)
    print(f"online 1 entity x 5 features, call only:   {percentiles(s)}")
    inner = store._inner
    cols = [[("user_id", [int(k)])] for k in keys]
    s = timed(lambda i: inner.lookup(FEATURES, cols[i]), a.lookups)
    print(f"online 1 entity x 5 features, module call: {percentiles(s)}   (no Python-side argument handling)")

    # 2. 100 entities per call.
    batches = [[{"user_id": int(k)} for k in rng.integers(0, a.keys, size=100)] for _ in range(2000)]
    s = timed(lambda i: store.get_online_features(FEATURES, batches[i % len(batches)]).to_dict(), 10_000)
    print(f"online 100 entities x 5 features, .to_dict(): {percentiles(s)}   ({100 * len(s) / sum(s):,.0f} entity rows/s)")

    # 3. Training set: Parquet in, Parquet out, against the CLI.
    ents = pd.DataFrame({
        "user_id": rng.integers(0, a.keys, size=a.entity_rows).astype("int64"),
        "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 31 * 86400, size=a.entity_rows), unit="s"),
        "label": rng.integers(0, 2, size=a.entity_rows),
    })
    labels = work / "labels.parquet"
    ents.to_parquet(labels, index=False)
    runs_py, runs_cli = [], []
    for _ in range(3):
        t = time.perf_counter()
        table = pq.read_table(labels)
        out = store.get_historical_features(table, FEATURES).to_arrow()
        pq.write_table(out, work / "train-py.parquet", compression="snappy")
        runs_py.append(time.perf_counter() - t)
    store.close()
    binary = Path(a.strata)
    if binary.exists():
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(
                [str(binary), "export", "--data", str(data), "--entities", str(labels),
                 "--features", ",".join(FEATURES), "--out", str(work / "train-cli.parquet")],
                check=True, capture_output=True,
            )
            runs_cli.append(time.perf_counter() - t)
        same = pq.read_table(work / "train-cli.parquet").equals(pq.read_table(work / "train-py.parquet"))
    py = min(runs_py)
    print(f"get_historical_features, {a.entity_rows:,} rows, Parquet in and out: "
          f"{py:.2f} s ({a.entity_rows / py:,.0f} rows/s; best of 3)")
    if runs_cli:
        cli = min(runs_cli)
        print(f"strata export (CLI) on the same files:                  "
              f"{cli:.2f} s ({a.entity_rows / cli:,.0f} rows/s; best of 3); same output: {same}")
    else:
        print(f"(no CLI binary at {binary}: build it with `cargo build --release --bin strata`)")
    if not a.dir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
