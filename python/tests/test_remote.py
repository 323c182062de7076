"""Every method through `strata.connect` against a running `strata serve`,
compared with the embedded store's answers."""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import polars as pl
import pytest

import strata
from conftest import DEFS, T0, entity_frame, fill, user_stats_frame

FEATURES = ["user_stats:amount_avg", "user_stats:txn_count", "user_stats:tier"]


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """An embedded store filled like the served one, to compare answers."""
    s = strata.Store(tmp_path_factory.mktemp("twin") / "data")
    fill(s)
    yield s
    s.close()


@pytest.fixture(scope="module")
def remote(server):
    return server.connect()


def test_online_same_as_embedded(remote, twin):
    rows = [{"user_id": u, "merchant_id": m} for u, m in [(1, "m1"), (2, "m2"), (999, "m3"), (4, "zz")]]
    feats = FEATURES + ["merchant_risk:*", "user_merchant:pair_count"]
    for as_of in (None, T0 + pd.Timedelta("3D"), dt.datetime(2024, 5, 6, 12)):
        a = remote.get_online_features(feats, rows, as_of=as_of, full_feature_names=True)
        b = twin.get_online_features(feats, rows, as_of=as_of, full_feature_names=True)
        assert a.to_dict(include_event_timestamps=True, include_statuses=True) == \
            b.to_dict(include_event_timestamps=True, include_statuses=True)
        assert a.to_arrow().equals(b.to_arrow())
    a = remote.get_online_features(["merchant_risk:risk_score"], pd.DataFrame({"merchant_id": ["m1"]}),
                                   as_of=T0 + pd.Timedelta("9D"), known_at=dt.datetime(2000, 1, 1))
    assert a.statuses["risk_score"] == ["NOT_FOUND"]


def test_historical_same_as_embedded(remote, twin):
    ents = entity_frame(rows=120)
    a = remote.get_historical_features(ents, FEATURES).to_arrow()
    b = twin.get_historical_features(ents, FEATURES).to_arrow()
    assert a.equals(b)
    a = remote.get_historical_features(pl.from_pandas(ents), "user_stats:*", full_feature_names=True,
                                       as_known_at=dt.datetime(2000, 1, 1))
    assert a.column_names[-1] == "user_stats__tier"
    assert a.to_arrow().column("user_stats__txn_count").null_count == len(ents)


def test_history_same_as_embedded(remote, twin):
    # The two stores were written at different times: created_timestamp differs.
    a = remote.history("user_stats", 3).to_arrow().drop_columns("created_timestamp")
    b = twin.history("user_stats", 3).to_arrow().drop_columns("created_timestamp")
    assert a.equals(b) and a.num_rows == 20
    a = remote.history("user_stats", 3, start=T0 + pd.Timedelta("2D"), end=T0 + pd.Timedelta("6D"))
    b = twin.history("user_stats", 3, start=T0 + pd.Timedelta("2D"), end=T0 + pd.Timedelta("6D"))
    assert a.to_arrow().drop_columns("created_timestamp").equals(b.to_arrow().drop_columns("created_timestamp"))
    assert remote.history("user_merchant", (1, "m2")).to_pandas()["pair_count"].tolist() == [4]


def test_push_and_ingest(remote):
    n = remote.push("merchant_risk", pd.DataFrame({
        "merchant_id": ["r1", "r2"], "event_timestamp": [pd.Timestamp("2024-07-01")] * 2,
        "risk_score": [0.3, 0.4], "flagged": [True, False],
    }))
    assert n == 2
    r = remote.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "r2"}])
    assert r.to_dict()["risk_score"] == [0.4]
    df = user_stats_frame(users=3, versions=5, seed=3).assign(user_id=lambda d: d.user_id + 500)
    rep = remote.ingest("user_stats", df.rename(columns={"tier": "level"}), renames={"level": "tier"})
    assert rep["written"] == 15
    assert remote.history("user_stats", 501).num_rows == 5


def test_registry_and_freshness(remote, twin):
    names = [v["name"] for v in remote.registry.list()]
    assert names == [v["name"] for v in twin.registry.list()]
    us = next(v for v in remote.registry.list() if v["name"] == "user_stats")
    assert us["team"] == "fraud" and us["ttl"] == "2d" and us["owner"] == "ana@example.com"
    d = remote.registry.describe("user_stats")
    assert [f["name"] for f in d["features"]] == ["amount_avg", "txn_count", "tier"]
    # The same description as the embedded store's: one shape, every field.
    local = twin.registry.describe("user_stats")
    assert d.keys() == local.keys()
    for k in ["features", "join_keys", "owner", "team", "tags", "ttl", "source", "freshness_sla", "quality"]:
        assert d[k] == local[k], k
    assert d["join_keys"] == [{"name": "user_id", "type": "int64"}]
    hits = remote.registry.search("spending")
    assert [h["name"] for h in hits] == ["user_stats"]
    f = remote.freshness(at=dt.datetime(2024, 5, 12))
    assert {v["view"]: v["status"] for v in f["views"]}["user_stats"] == "VIOLATED"
    assert f["now"] == dt.datetime(2024, 5, 12, tzinfo=dt.timezone.utc)
    h = remote.health()
    assert h["serving"] is True and h["views"] == 3 and h["server_version"]


def test_unsupported_remotely(remote):
    with pytest.raises(strata.Unsupported, match="strata delete"):
        remote.delete("user", 1)
    with pytest.raises(strata.Unsupported, match="tag"):
        remote.registry.search(tag="fraud")


def test_admin_remotely(server, remote, twin):
    # The served store's own definitions: the same (empty) plan as embedded.
    done = remote.apply(DEFS, plan=True)
    assert done == twin.apply(DEFS, plan=True)
    assert done.applied is False and done.changes == []
    tree = remote.registry.lineage("user_stats")["tree"]
    assert any(l.startswith("user_stats") and l.endswith("<- this view") for l in tree), tree
    remote.flush()
    ro = strata.connect(server.addr, server.read_token, server_cert=server.cert)
    with pytest.raises(strata.PermissionDenied, match="admin"):
        ro.apply(DEFS)


def test_remote_errors(server, remote):
    with pytest.raises(strata.NotFound, match="nope"):
        remote.get_online_features(["nope:x"], [{"user_id": 1}])
    with pytest.raises(strata.InvalidArgument, match="user_id"):
        remote.get_online_features(["user_stats:txn_count"], [{"user_id": "a"}])
    with pytest.raises(strata.NotFound):
        remote.history("nope", 1)
    with pytest.raises(strata.InvalidArgument, match="missing column"):
        remote.push("user_stats", pd.DataFrame({"user_id": [1]}))
    with pytest.raises(strata.PermissionDenied):
        strata.connect(server.addr, "not-a-token", server_cert=server.cert)
    ro = strata.connect(server.addr, server.read_token, server_cert=server.cert)
    assert ro.get_online_features(["merchant_risk:risk_score"], [{"merchant_id": "m1"}]).to_dict()["risk_score"] == [0.1]
    with pytest.raises(strata.PermissionDenied):
        ro.push("merchant_risk", pd.DataFrame({
            "merchant_id": ["q"], "event_timestamp": [pd.Timestamp("2024-07-01")],
            "risk_score": [0.3], "flagged": [True]}))


def test_env_defaults(server, monkeypatch):
    monkeypatch.setenv("STRATA_SERVER", server.addr)
    monkeypatch.setenv("STRATA_TOKEN", server.token)
    monkeypatch.setenv("STRATA_SERVER_CERT", server.cert)
    r = strata.connect()
    assert r.registry.list()


def test_unreachable_server(server):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(strata.Unavailable):
            strata.connect("127.0.0.1:9", server.token, server_cert=server.cert, timeout=2)
