"""get_historical_features: the same rows as `strata export`, and as pandas'
merge_asof (backward, tolerance = ttl) on generated data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata
from conftest import DEFS, TTL, cli, entity_frame, fill, user_stats_frame

FEATURES = ["user_stats:amount_avg", "user_stats:txn_count", "user_stats:tier"]


def test_equals_strata_export_row_for_row(tmp_path):
    data = tmp_path / "d"
    with strata.Store(data) as s:
        fill(s)
    ents = entity_frame()
    ents.to_parquet(tmp_path / "labels.parquet", index=False)
    out = tmp_path / "train.parquet"
    cli(
        "export", "--data", str(data), "--entities", str(tmp_path / "labels.parquet"),
        "--features", ",".join(FEATURES),
        "--out", str(out),
    )
    from_cli = pq.read_table(out)
    with strata.Store(data) as s:
        got = s.get_historical_features(ents, FEATURES).to_arrow()
    assert got.num_rows == len(ents) == from_cli.num_rows
    assert got.column_names == from_cli.column_names == [
        "user_id", "event_timestamp", "label", "amount_avg", "txn_count", "tier",
    ]
    assert got.cast(from_cli.schema).equals(from_cli), (got.slice(0, 5), from_cli.slice(0, 5))
    pd.testing.assert_frame_equal(got.to_pandas(), from_cli.to_pandas())
    # Something was joined and something was not (ttl, unknown users).
    assert 0 < got.column("txn_count").null_count < len(ents)


def test_equals_merge_asof(store):
    feats = user_stats_frame()
    ents = entity_frame()
    got = store.get_historical_features(ents, FEATURES).to_pandas()

    left = ents.reset_index().sort_values("event_timestamp")
    right = feats.sort_values("event_timestamp")
    expect = pd.merge_asof(
        left, right, on="event_timestamp", by="user_id", direction="backward", tolerance=TTL
    ).sort_values("index").drop(columns="index").reset_index(drop=True)

    assert list(got.columns) == list(expect.columns)
    assert got["user_id"].tolist() == ents["user_id"].tolist()
    assert got["label"].tolist() == ents["label"].tolist()
    for c in ["amount_avg", "txn_count", "tier"]:
        a = got[c].astype(object).where(got[c].notna(), None).tolist()
        b = expect[c].astype(object).where(expect[c].notna(), None).tolist()
        assert a == b, c
    assert got["txn_count"].notna().sum() > 100


def test_polars_and_arrow_inputs_and_full_names(store):
    ents = entity_frame(rows=50)
    ref = store.get_historical_features(ents, FEATURES).to_arrow()
    for inp in (pl.from_pandas(ents), pa.Table.from_pandas(ents, preserve_index=False),
                pa.Table.from_pandas(ents, preserve_index=False).to_reader(max_chunksize=9)):
        got = store.get_historical_features(inp, FEATURES).to_arrow()
        assert got.select(["amount_avg", "txn_count", "tier"]).equals(
            ref.select(["amount_avg", "txn_count", "tier"]))
    full = store.get_historical_features(ents, "user_stats:*", full_feature_names=True)
    assert full.column_names[-3:] == ["user_stats__amount_avg", "user_stats__txn_count", "user_stats__tier"]
    assert isinstance(full.to_polars(), pl.DataFrame)
    assert isinstance(pl.DataFrame(full), pl.DataFrame)
    # A filtered pandas frame: its index is not a column of the answer.
    sub = ents[ents.label == 1]
    got = store.get_historical_features(sub, FEATURES).to_df()
    assert list(got.columns) == ["user_id", "event_timestamp", "label", "amount_avg", "txn_count", "tier"]
    assert len(got) == len(sub)


def test_bitemporal(store):
    ents = pd.DataFrame({
        "merchant_id": ["m1"], "event_timestamp": [pd.Timestamp("2024-05-20")],
    })
    before = dt.datetime.now(dt.timezone.utc)
    store.push("merchant_risk", pd.DataFrame({
        "merchant_id": ["m1"], "event_timestamp": [pd.Timestamp("2024-05-10")],
        "risk_score": [0.7], "flagged": [False],
    }))
    now = store.get_historical_features(ents, ["merchant_risk:risk_score"]).to_pandas()
    then = store.get_historical_features(ents, ["merchant_risk:risk_score"], as_known_at=before).to_pandas()
    assert now["risk_score"].tolist() == [0.7]
    assert then["risk_score"].tolist() == [0.1]
    # Every version was written after 2024-05-20: none is visible per row.
    nfw = store.get_historical_features(ents, ["merchant_risk:risk_score"], no_future_writes=True).to_pandas()
    assert nfw["risk_score"].isna().all()


def test_clash_without_full_names(store):
    ents = pd.DataFrame({"user_id": [1], "merchant_id": ["m1"], "event_timestamp": [pd.Timestamp("2024-05-03")],
                         "txn_count": [5]})
    with pytest.raises(strata.InvalidArgument, match="txn_count"):
        store.get_historical_features(ents, ["user_stats:txn_count"])
