"""Every method of the embedded store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import strata
from conftest import DEFS, T0, fill, merchant_frame, user_stats_frame

UTC = dt.timezone.utc


def latest_version(df: pd.DataFrame, user: int, at: pd.Timestamp):
    rows = df[(df.user_id == user) & (df.event_timestamp <= at)]
    return rows.sort_values("event_timestamp").iloc[-1] if len(rows) else None


def test_apply_plan_text_and_path(tmp_path):
    with strata.Store(tmp_path / "d") as s:
        planned = s.apply(DEFS, plan=True)
        assert not planned.applied
        assert any("user_stats" in c for c in planned.changes)
        assert s.registry.list() == []
        done = s.apply(DEFS)
        assert done.applied and done.changes == planned.changes
        f = tmp_path / "defs.toml"
        f.write_text(DEFS)
        again = s.apply(str(f))
        assert not again.applied, again
        assert s.apply(f, plan=True).applied is False
        names = [v["name"] for v in s.registry.list()]
        assert names == ["user_stats", "merchant_risk", "user_merchant"]


def test_default_path_is_strata_data(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_DATA", str(tmp_path / "env-store"))
    with strata.Store() as s:
        assert s.path == str(tmp_path / "env-store")
    monkeypatch.delenv("STRATA_DATA")
    monkeypatch.chdir(tmp_path)
    with strata.Store() as s:
        assert s.path in ("strata-data", "./strata-data")
    assert (tmp_path / "strata-data").is_dir()


@pytest.mark.parametrize("kind", ["pandas", "polars", "table", "reader", "dict"])
def test_ingest_every_input_kind(tmp_path, kind):
    df = user_stats_frame(users=5, versions=4)
    data = {
        "pandas": df,
        "polars": pl.from_pandas(df),
        "table": pa.Table.from_pandas(df, preserve_index=False),
        "reader": pa.Table.from_pandas(df, preserve_index=False).to_reader(max_chunksize=7),
        "dict": {c: df[c].tolist() for c in df.columns},
    }[kind]
    with strata.Store(tmp_path / "d") as s:
        s.apply(DEFS)
        report = s.ingest("user_stats", data)
        assert report["rows"] == len(df) and report["written"] == len(df)
        assert report["via_wal"] is False
        lo, hi = report["event_range"]
        assert lo == df.event_timestamp.min().value // 1000
        assert hi == df.event_timestamp.max().value // 1000
        h = s.history("user_stats", 3).to_pandas()
        mine = df[df.user_id == 3].sort_values("event_timestamp", ascending=False)
        assert h["txn_count"].tolist() == mine["txn_count"].tolist()
        assert h["tier"].tolist() == mine["tier"].tolist()


def test_ingest_renames_and_statistics(tmp_path):
    df = merchant_frame().rename(columns={"risk_score": "score"})
    with strata.Store(tmp_path / "d") as s:
        s.apply(DEFS)
        s.ingest("merchant_risk", df, renames={"score": "risk_score"})
        d = s.registry.describe("merchant_risk")
        assert d["last_ingest"]["rows"] == 3
        feats = {f["name"]: f for f in d["last_ingest"]["features"]}
        assert feats["risk_score"]["nulls"] == 1


def test_online_latest_as_of_statuses(store):
    df = user_stats_frame()
    at = T0 + pd.Timedelta("5D")
    r = store.get_online_features(
        ["user_stats:amount_avg", "user_stats:txn_count", "merchant_risk:risk_score"],
        [{"user_id": 1, "merchant_id": "m1"}, {"user_id": 2, "merchant_id": "m3"},
         {"user_id": 999, "merchant_id": "nope"}],
        as_of=at,
    )
    assert len(r) == 3
    d = r.to_dict(include_event_timestamps=True, include_statuses=True)
    assert d["user_id"] == [1, 2, 999] and d["merchant_id"] == ["m1", "m3", "nope"]
    for i, u in enumerate([1, 2]):
        v = latest_version(df, u, at)
        expect = v.txn_count if v is not None and v.event_timestamp >= at - pd.Timedelta("2D") else None
        assert d["txn_count"][i] == expect
        assert d["txn_count__event_timestamp"][i] == v.event_timestamp.tz_localize("UTC").to_pydatetime()
        assert d["txn_count__status"][i] in ("PRESENT", "OUTSIDE_MAX_AGE")
    assert d["txn_count__status"][2] == "NOT_FOUND" and d["txn_count"][2] is None
    assert d["txn_count__event_timestamp"][2] is None
    assert d["risk_score"] == [0.1, None, None]
    assert d["risk_score__status"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND"]
    # Feast's shape by default: values only.
    assert set(r.to_dict()) == {"user_id", "merchant_id", "amount_avg", "txn_count", "risk_score"}
    assert r.statuses["risk_score"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND"]
    assert r.feature_names == ["amount_avg", "txn_count", "risk_score"]


def test_online_outside_max_age_and_latest(store):
    # Latest read: all data is from 2024, older than the 2-day ttl now.
    r = store.get_online_features(["user_stats:txn_count"], [{"user_id": 1}])
    assert r.statuses["txn_count"] == ["OUTSIDE_MAX_AGE"]
    assert r.to_dict()["txn_count"] == [None]
    # merchant_risk has no ttl: its latest value is served.
    r = store.get_online_features(["merchant_risk:*"], {"merchant_id": ["m2"]})
    assert r.to_dict() == {"merchant_id": ["m2"], "risk_score": [0.9], "flagged": [True]}


def test_online_entity_rows_as_frames(store):
    feats = ["user_stats:txn_count"]
    at = T0 + pd.Timedelta("4D")
    ref = store.get_online_features(feats, [{"user_id": 1}, {"user_id": 5}], as_of=at).to_dict()
    for rows in (
        pd.DataFrame({"user_id": [1, 5]}),
        pl.DataFrame({"user_id": [1, 5]}),
        pa.table({"user_id": [1, 5]}),
        {"user_id": [1, 5]},
    ):
        assert store.get_online_features(feats, rows, as_of=at).to_dict() == ref


def test_online_to_arrow_pandas_polars(store):
    r = store.get_online_features(["merchant_risk:*"], [{"merchant_id": "m1"}, {"merchant_id": "x"}])
    t = r.to_arrow()
    assert t.column_names == [
        "merchant_id", "risk_score", "risk_score__status", "risk_score__event_timestamp",
        "flagged", "flagged__status", "flagged__event_timestamp",
    ]
    assert t.schema.field("risk_score__event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert t.column("flagged__status").to_pylist() == ["PRESENT", "NOT_FOUND"]
    assert r.to_arrow(include_statuses=False, include_event_timestamps=False).column_names == [
        "merchant_id", "risk_score", "flagged",
    ]
    assert r.to_pandas()["risk_score"].tolist()[0] == 0.1
    assert r.to_polars()["flagged"].to_list() == [False, None]


def test_online_composite_key_and_full_names(store):
    r = store.get_online_features(
        ["user_merchant:pair_count", "user_stats:txn_count"],
        [{"user_id": 1, "merchant_id": "m2"}, {"user_id": 2, "merchant_id": "m2"}],
        as_of=T0 + pd.Timedelta("3D"),
        full_feature_names=True,
    )
    d = r.to_dict()
    assert d["user_merchant__pair_count"] == [4, None]
    assert "user_stats__txn_count" in d


def test_known_at(store):
    s = store
    at = T0 + pd.Timedelta("20D")
    before = dt.datetime.now(UTC)
    s.push("merchant_risk", pd.DataFrame({
        "merchant_id": ["m1"], "event_timestamp": [pd.Timestamp("2024-05-10")],
        "risk_score": [0.5], "flagged": [True],
    }))
    now_v = s.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "m1"}], as_of=at)
    old_v = s.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "m1"}], as_of=at, known_at=before)
    assert now_v.to_dict()["risk_score"] == [0.5]
    assert old_v.to_dict()["risk_score"] == [0.1]


@pytest.mark.parametrize(
    "t",
    [
        dt.datetime(2024, 5, 2, 12, 0, tzinfo=UTC),
        dt.datetime(2024, 5, 2, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 5, 2, 12, 0),  # naive: UTC
        pd.Timestamp("2024-05-02T12:00:00"),
        pd.Timestamp("2024-05-02T12:00:00Z"),
        np.datetime64("2024-05-02T12:00:00"),
        1714651200000000,
        "2024-05-02T12:00:00Z",
    ],
)
def test_every_time_form(store, t):
    want = store.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "m2"}], as_of=1714651200000000)
    got = store.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "m2"}], as_of=t)
    # m2's only version is at 2024-05-02T00:00Z: present at noon, absent before.
    assert got.to_dict() == want.to_dict() == {"merchant_id": ["m2"], "risk_score": [0.9]}
    earlier = store.get_online_features(
        ["merchant_risk:risk_score"], [{"merchant_id": "m2"}], as_of=dt.datetime(2024, 5, 1, 23, 0)
    )
    assert earlier.statuses["risk_score"] == ["NOT_FOUND"]


def test_history_range_and_known_at(store):
    df = user_stats_frame()
    mine = df[df.user_id == 4].sort_values("event_timestamp", ascending=False)
    h = store.history("user_stats", 4)
    assert h.num_rows == len(mine)
    assert h.column_names == ["event_timestamp", "created_timestamp", "amount_avg", "txn_count", "tier"]
    got = h.to_pandas()
    assert got["txn_count"].tolist() == mine["txn_count"].tolist()
    lo, hi = mine.event_timestamp.iloc[-3], mine.event_timestamp.iloc[2]
    part = store.history("user_stats", 4, start=lo, end=hi).to_pandas()
    assert part["txn_count"].tolist() == mine["txn_count"].iloc[2:-2].tolist()
    assert store.history("user_stats", 4, known_at=dt.datetime(2000, 1, 1)).num_rows == 0
    assert store.history("user_merchant", (1, "m1")).to_pandas()["pair_count"].tolist() == [3]
    assert isinstance(store.history("user_stats", 4).to_polars(), pl.DataFrame)


def test_push_then_read(store):
    n = store.push("user_stats", pl.DataFrame({
        "user_id": [77, 77], "event_timestamp": [dt.datetime(2024, 6, 1), dt.datetime(2024, 6, 2)],
        "amount_avg": [1.0, 2.0], "txn_count": [1, 2], "tier": ["gold", None],
    }))
    assert n == 2
    r = store.get_online_features(["user_stats:*"], [{"user_id": 77}], as_of=dt.datetime(2024, 6, 3))
    assert r.to_dict() == {"user_id": [77], "amount_avg": [2.0], "txn_count": [2], "tier": [None]}
    assert r.statuses["tier"] == ["NULL_VALUE"]


def test_push_with_created_timestamp(store):
    """A backfill may give created_timestamp; known_at then sees it as written then."""
    store.push("merchant_risk", pd.DataFrame({
        "merchant_id": ["b1", "b1"],
        "event_timestamp": [pd.Timestamp("2024-05-01"), pd.Timestamp("2024-05-02")],
        "created_timestamp": [pd.Timestamp("2024-05-01T01:00"), pd.Timestamp("2024-05-03")],
        "risk_score": [0.1, 0.2], "flagged": [False, True],
    }))
    h = store.history("merchant_risk", "b1").to_pandas()
    assert h["created_timestamp"].tolist() == [pd.Timestamp("2024-05-03", tz="UTC"),
                                               pd.Timestamp("2024-05-01T01:00", tz="UTC")]
    r = store.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "b1"}],
                                  as_of="2024-05-10T00:00:00Z", known_at=dt.datetime(2024, 5, 2))
    assert r.to_dict()["risk_score"] == [0.1]


def test_apply_path_with_equals_sign(tmp_path):
    d = tmp_path / "a=b"
    d.mkdir()
    (d / "defs.toml").write_text(DEFS)
    with strata.Store(tmp_path / "s") as s:
        assert s.apply(str(d / "defs.toml")).applied


def test_registry(store):
    views = store.registry.list()
    us = next(v for v in views if v["name"] == "user_stats")
    assert us["team"] == "fraud" and us["owner"] == "ana@example.com" and us["ttl"] == "2d"
    d = store.registry.describe("user_stats")
    assert [f["name"] for f in d["features"]] == ["amount_avg", "txn_count", "tier"]
    assert d["join_keys"] == [{"name": "user_id", "type": "int64"}]
    assert d["freshness_sla"] == "1h" and d["last_ingest"]["rows"] == 1000
    assert [h["name"] for h in store.registry.search("spending")] == ["user_stats"]
    assert [h["name"] for h in store.registry.search(team="risk")] == ["merchant_risk"]
    assert [h["name"] for h in store.registry.search(tag="fraud")] == ["user_stats"]
    assert [h["name"] for h in store.registry.search(owner="ana@example.com")] == ["user_stats"]
    assert {h["name"] for h in store.registry.search(entity="merchant")} == {"merchant_risk", "user_merchant"}
    lin = store.registry.lineage("user_stats")
    assert [r["view"] for r in lin["downstream"]] == ["user_merchant"]
    assert store.registry.lineage("user_merchant")["upstream"][0]["view"] == "user_stats"


def test_freshness(store):
    f = store.freshness(at=dt.datetime(2024, 5, 12, tzinfo=UTC))
    views = {v["view"]: v for v in f["views"]}
    assert f["now"] == dt.datetime(2024, 5, 12, tzinfo=UTC)
    assert views["user_stats"]["status"] == "VIOLATED"  # sla 1h, lag about a day
    assert views["merchant_risk"]["status"] == "NO_SLA"
    newest = user_stats_frame().event_timestamp.max().tz_localize("UTC")
    assert views["user_stats"]["newest_event_timestamp"] == newest.to_pydatetime()
    assert views["user_stats"]["lag_seconds"] == pytest.approx(
        (pd.Timestamp("2024-05-12", tz="UTC") - newest).total_seconds()
    )
    fresh = store.freshness(at=newest + pd.Timedelta("30min"))
    assert {v["view"]: v["status"] for v in fresh["views"]}["user_stats"] == "OK"


def test_delete(store):
    assert store.history("user_stats", 1).num_rows > 0
    store.delete("user", 1)
    assert store.history("user_stats", 1).num_rows == 0
    # The composite view's rows of user 1 go too; user 2's stay.
    assert store.history("user_merchant", (1, "m1")).num_rows == 0
    assert store.history("user_merchant", (2, "m1")).num_rows == 1
    store.delete("merchant", "m2")
    assert store.history("merchant_risk", "m2").num_rows == 0


def test_close_and_reopen(tmp_path):
    s = strata.Store(tmp_path / "d")
    fill(s)
    s.flush()
    s.close()
    with pytest.raises(strata.Unavailable, match="closed"):
        s.registry.list()
    with strata.Store(tmp_path / "d", create=False) as again:
        assert again.history("user_stats", 2).num_rows == 20


def test_a_feature_added_with_a_default_reads_it_on_older_rows(tmp_path):
    v1 = (Path(__file__).parent / "kyc.toml").read_text()
    v2 = v1.replace(
        'features = [{ name = "checked", type = "bool" }]',
        'features = [{ name = "checked", type = "bool" }, { name = "kyc_level", type = "int64", default = 1 }]',
    )
    t = pd.Timestamp("2024-05-01T00:00:00Z")
    with strata.Store(tmp_path / "d") as s:
        s.apply(v1)
        s.ingest("kyc", pd.DataFrame({"user_id": [1], "event_timestamp": [t], "checked": [True]}))
        s.apply(v2)
        # A frame written before kyc_level existed still ingests.
        s.ingest("kyc", pd.DataFrame({"user_id": [2], "event_timestamp": [t], "checked": [False]}))
        s.ingest(
            "kyc",
            pd.DataFrame({"user_id": [3], "event_timestamp": [t], "checked": [True], "kyc_level": [3]}),
        )
        r = s.get_online_features(["kyc:kyc_level"], [{"user_id": u} for u in [1, 2, 3, 4]])
        d = r.to_dict(include_statuses=True)
        assert d["kyc_level"] == [1, 1, 3, 1]
        assert d["kyc_level__status"] == ["DEFAULTED", "DEFAULTED", "PRESENT", "NOT_FOUND"]
        # History carries values: the older version shows the default.
        assert s.history("kyc", 1).to_arrow().column("kyc_level").to_pylist() == [1]
