"""List and map features (list<string>, list<int64>, list<float64>,
map<string,int64>): written from pyarrow list and map columns, answered as
pyarrow List and Map columns and as Python lists and dicts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

import strata

DEFS = (Path(__file__).parent / "lists.toml").read_text()

T0 = pd.Timestamp("2024-05-01T00:00:00", tz="UTC")


def rows() -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([1, 2, 1], pa.int64()),
            "event_timestamp": pa.array(
                [T0, T0, T0 + pd.Timedelta("1D")], pa.timestamp("us", tz="UTC")
            ),
            "items": pa.array([["a", "b"], [], ["c"]], pa.list_(pa.string())),
            "qty": pa.array([[1, 2], None, [3]], pa.list_(pa.int64())),
            "prices": pa.array([[0.5], [1.5, 2.5], []], pa.list_(pa.float64())),
            "hist": pa.array(
                [[("a", 2), ("b", 1)], [("z", 5)], None], pa.map_(pa.string(), pa.int64())
            ),
        }
    )


def test_list_and_map_features_round_trip(tmp_path):
    with strata.Store(tmp_path / "data") as s:
        s.apply(DEFS)
        assert s.push("baskets", rows()) == 3
        r = s.get_online_features(["baskets:*"], {"user_id": [1, 2, 3]})
        assert r.to_dict() == {
            "user_id": [1, 2, 3],
            "items": [["c"], [], None],
            "qty": [[3], None, None],
            "prices": [[], [1.5, 2.5], None],
            "hist": [None, {"z": 5}, None],
        }
        t = r.to_arrow(include_statuses=False, include_event_timestamps=False)
        assert t.schema.field("items").type == pa.list_(pa.string())
        assert t.schema.field("qty").type == pa.list_(pa.int64())
        assert t.schema.field("prices").type == pa.list_(pa.float64())
        assert pa.types.is_map(t.schema.field("hist").type)
        # As of the first day: the first version, the map's entry order kept.
        old = s.get_online_features(["baskets:hist", "baskets:items"], {"user_id": [1]}, as_of=T0)
        assert old.to_dict()["hist"] == [{"a": 2, "b": 1}]
        assert old.to_arrow().column("hist").to_pylist() == [[("a", 2), ("b", 1)]]
        hist = s.get_historical_features(
            pa.table(
                {
                    "user_id": pa.array([1, 1], pa.int64()),
                    "event_timestamp": pa.array(
                        [T0, T0 + pd.Timedelta("2D")], pa.timestamp("us", tz="UTC")
                    ),
                }
            ),
            ["baskets:items", "baskets:hist"],
        ).to_arrow()
        assert hist.column("items").type == pa.list_(pa.string())
        assert hist.column("items").to_pylist() == [["a", "b"], ["c"]]
        assert hist.column("hist").to_pylist() == [[("a", 2), ("b", 1)], None]


AGG_DEFS = (Path(__file__).parent / "lists-aggregation.toml").read_text()


def test_aggregations_to_lists_agree_online_and_in_exports(tmp_path):
    """The same windows read online as of a time and in an export at that
    time: lists as pyarrow list columns, the histogram as a map."""
    with strata.Store(tmp_path / "data") as s:
        s.apply(AGG_DEFS)
        times = [T0 + pd.Timedelta(hours=h) for h in (1, 2, 3, 4)]
        s.push(
            "txn",
            pa.table(
                {
                    "user_id": pa.array([1, 1, 1, 1], pa.int64()),
                    "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
                    "amount": [1.0, 4.0, 2.0, 8.0],
                    "category": ["food", "fuel", "food", "toys"],
                }
            ),
        )
        at = T0 + pd.Timedelta(hours=3)
        online = s.get_online_features(["txn_stats:*"], {"user_id": [1]}, as_of=at).to_dict()
        assert online["category_collect_set_30d"] == [["food", "fuel"]]
        assert online["amount_last2_30d"] == [[2.0, 4.0]]
        assert online["category_histogram_30d"] == [{"food": 2, "fuel": 1}]
        assert abs(online["amount_p50_30d"][0] - 2.0) <= 0.02
        out = s.get_historical_features(
            pa.table(
                {
                    "user_id": pa.array([1], pa.int64()),
                    "event_timestamp": pa.array([at], pa.timestamp("us", tz="UTC")),
                }
            ),
            ["txn_stats:*"],
        ).to_arrow()
        assert out.column("category_collect_set_30d").type == pa.list_(pa.string())
        assert out.column("category_collect_set_30d").to_pylist() == [["food", "fuel"]]
        assert out.column("amount_last2_30d").to_pylist() == [[2.0, 4.0]]
        assert out.column("category_histogram_30d").to_pylist() == [[("food", 2), ("fuel", 1)]]
        assert out.column("amount_p50_30d").to_pylist() == online["amount_p50_30d"]
