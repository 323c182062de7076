#!/usr/bin/env python3
"""The baseline of scripts/bench_python.py: Feast (from PyPI, in its own
virtualenv, its pins being strict) on the same data.

    python3 -m venv target/venv-feast && target/venv-feast/bin/pip install feast
    target/venv-feast/bin/python scripts/bench_feast.py [--keys N] [--versions V] [--entity-rows R]

A local Feast repository: a Parquet file source, the SQLite online store
(Feast's default for a local provider), the file offline store. It
measures `materialize` (which Strata does not need), online lookups
(1 entity x 5 features; 100 entities) and `get_historical_features` on
label rows read from Parquet, with the data and the sizes of
bench_python.py (same generator, same seeds).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench_timing import percentiles, timed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--entity-rows", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=5_000)
    a = ap.parse_args()

    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    work = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    rng = np.random.default_rng(1)
    n = a.keys * a.versions
    T0 = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame({
        "user_id": np.repeat(np.arange(a.keys, dtype="int64"), a.versions),
        "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 30 * 86400, size=n), unit="s"),
        **{f"f{i}": rng.normal(size=n) for i in range(1, 6)},
    })
    frame.to_parquet(work / "stats.parquet", index=False)
    (work / "feature_store.yaml").write_text(
        "project: bench\nregistry: registry.db\nprovider: local\n"
        "online_store:\n  type: sqlite\n  path: online.db\n"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    print(f"feast {feast.__version__}; {a.keys} keys x {a.versions} versions = {n} rows; work dir {work}")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(path=str(work / "stats.parquet"), timestamp_field="event_timestamp")
    stats = FeatureView(
        name="stats", entities=[user], ttl=timedelta(days=3650),
        schema=[Field(name=f"f{i}", dtype=Float64) for i in range(1, 6)], source=source, online=True,
    )
    fs = FeatureStore(repo_path=str(work))
    fs.apply([user, stats])
    t = time.perf_counter()
    fs.materialize(start_date=(T0 - pd.Timedelta("1D")).to_pydatetime(),
                   end_date=(T0 + pd.Timedelta("31D")).to_pydatetime())
    print(f"materialize: {time.perf_counter() - t:.1f} s ({n / (time.perf_counter() - t):,.0f} rows/s)")

    features = [f"stats:f{i}" for i in range(1, 6)]
    keys = rng.integers(0, a.keys, size=a.lookups)
    for i in range(100):
        fs.get_online_features(features=features, entity_rows=[{"user_id": int(keys[i])}]).to_dict()
    s = timed(lambda i: fs.get_online_features(features=features, entity_rows=[{"user_id": int(keys[i])}]).to_dict(),
              a.lookups)
    print(f"online 1 entity x 5 features, .to_dict():     {percentiles(s)}   ({len(s) / sum(s):,.0f} calls/s)")
    batches = [[{"user_id": int(k)} for k in rng.integers(0, a.keys, size=100)] for _ in range(200)]
    s = timed(lambda i: fs.get_online_features(features=features, entity_rows=batches[i % 200]).to_dict(), 1000)
    print(f"online 100 entities x 5 features, .to_dict(): {percentiles(s)}   ({100 * len(s) / sum(s):,.0f} entity rows/s)")

    ents = pd.DataFrame({
        "user_id": rng.integers(0, a.keys, size=a.entity_rows).astype("int64"),
        "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 31 * 86400, size=a.entity_rows), unit="s"),
        "label": rng.integers(0, 2, size=a.entity_rows),
    })
    ents.to_parquet(work / "labels.parquet", index=False)
    t = time.perf_counter()
    labels = pd.read_parquet(work / "labels.parquet")
    out = fs.get_historical_features(entity_df=labels, features=features).to_df()
    out.to_parquet(work / "train.parquet", index=False)
    took = time.perf_counter() - t
    print(f"get_historical_features, {a.entity_rows:,} rows, Parquet in and out: {took:.2f} s "
          f"({a.entity_rows / took:,.0f} rows/s)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
