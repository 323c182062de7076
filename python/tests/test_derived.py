"""Filtered aggregations and derived views with request values through the
Python API: `get_online_features(request_data=...)` and the entity frame's
request columns in `get_historical_features`, against values computed by
hand."""

from __future__ import annotations

from pathlib import Path

import datetime as dt

import pandas as pd
import pytest

import strata

DEFS = (Path(__file__).parent / "derived.toml").read_text()

T = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = strata.Store(tmp_path / "d")
    s.apply(DEFS)
    # In time order: a source of aggregations refuses late events.
    s.push("txn", pd.DataFrame({
        "user_id": [2, 1, 1, 1],
        "event_timestamp": [T, T, T + dt.timedelta(hours=1), T + dt.timedelta(hours=2)],
        "amount": [4.0, 2.0, 3.0, 5.0],
        "kind": ["view", "click", "view", "click"],
    }))
    yield s
    s.close()


def test_request_values_reach_derived_features(store):
    at = T + dt.timedelta(hours=3)
    r = store.get_online_features(
        ["txn_derived:*"], [{"user_id": 1}, {"user_id": 2}], as_of=at,
        request_data={"txn_amount": [20.0, None]},
    )
    assert r.to_dict() == {"user_id": [1, 2], "ratio": [2.0, None], "clicky": [True, False]}
    same = store.get_online_features(
        ["txn_derived:ratio"], [{"user_id": 1}], as_of=at, request_data={"txn_amount": 5},
    )
    assert same.to_dict()["ratio"] == [0.5]
    with pytest.raises(strata.StrataError, match="not a float64"):
        store.get_online_features(
            ["txn_derived:ratio"], [{"user_id": 1}], as_of=at, request_data={"txn_amount": "x"},
        )


def test_exports_take_request_values_from_the_entity_frame(store):
    entities = pd.DataFrame({
        "user_id": [1, 1, 2],
        "event_timestamp": [T + dt.timedelta(minutes=30), T + dt.timedelta(hours=3), T],
        "txn_amount": [4.0, 20.0, 8.0],
    })
    df = store.get_historical_features(entities, ["txn_derived:*", "txn_stats:clicks_1d"]).to_pandas()
    assert df["ratio"].tolist() == [2.0, 2.0, 2.0]
    assert df["clicky"].tolist() == [False, True, False]
    assert df["clicks_1d"].tolist() == [1, 2, 0]
