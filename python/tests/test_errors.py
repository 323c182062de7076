"""Every bad input raises the right StrataError subclass with Strata's
message."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

import strata
from conftest import DEFS


def test_hierarchy():
    for e in (strata.InvalidArgument, strata.NotFound, strata.PermissionDenied, strata.Unavailable,
              strata.Corruption, strata.StorageError, strata.Unsupported, strata.InternalError):
        assert issubclass(e, strata.StrataError) and issubclass(e, Exception)
        assert e.__module__ == "strata"


def test_panic_becomes_internal_error():
    with pytest.raises(strata.InternalError, match="panic: planted by _panic_for_tests"):
        strata._strata._panic_for_tests()


@pytest.mark.parametrize(
    "features, rows, exc, message",
    [
        (["nope:x"], [{"user_id": 1}], strata.NotFound, 'unknown feature view "nope"'),
        (["user_stats:nope"], [{"user_id": 1}], strata.NotFound, 'has no feature "nope"'),
        (["user_stats"], [{"user_id": 1}], strata.InvalidArgument, "user_stats"),
        ([], [{"user_id": 1}], strata.InvalidArgument, "the list is empty"),
        ([3], [{"user_id": 1}], strata.InvalidArgument, "is not a reference"),
        (["user_stats:txn_count"], [{"user_id": "1"}], strata.InvalidArgument, "user_id is int64"),
        (["user_stats:txn_count"], [{"merchant_id": "m"}], strata.InvalidArgument, "needs the join key column user_id"),
        (["user_stats:txn_count"], [{"user_id": True}], strata.InvalidArgument, "a bool is not a key"),
        (["user_stats:txn_count"], [{"user_id": None}], strata.InvalidArgument, "None is not a key"),
        (["user_stats:txn_count"], [{"user_id": 1.5}], strata.InvalidArgument, "float is not a key"),
        (["user_stats:txn_count"], [{"user_id": 1}, {"user_id": "a"}], strata.InvalidArgument, "mixes int and str"),
        (["user_stats:txn_count"], [{"user_id": 1}, {"uid": 2}], strata.InvalidArgument, "same join keys"),
        (["user_stats:txn_count"], [], strata.InvalidArgument, "entity_rows is empty"),
        (["user_stats:txn_count"], 42, strata.InvalidArgument, "not tabular data"),
        (["merchant_risk:risk_score"], [{"merchant_id": "x" * 5000}], strata.InvalidArgument, "longer than"),
    ],
)
def test_bad_lookups(store, features, rows, exc, message):
    with pytest.raises(exc, match=message):
        store.get_online_features(features, rows)


@pytest.mark.parametrize(
    "t, message",
    [
        (True, "a bool is not a time"),
        (1.5, "float is not a time"),
        ("yesterday", "yesterday"),
        (pd.NaT, "NaT"),
    ],
)
def test_bad_times(store, t, message):
    with pytest.raises(strata.InvalidArgument, match=message):
        store.get_online_features(["user_stats:txn_count"], [{"user_id": 1}], as_of=t)


def test_bad_ingest_and_push(store):
    good = pd.DataFrame({"user_id": [1], "event_timestamp": [pd.Timestamp("2024-06-01")],
                         "amount_avg": [1.0], "txn_count": [1], "tier": ["x"]})
    with pytest.raises(strata.InvalidArgument, match="missing column.*tier"):
        store.ingest("user_stats", good.drop(columns="tier"))
    with pytest.raises(strata.InvalidArgument, match="missing column.*tier"):
        store.push("user_stats", good.drop(columns="tier"))
    with pytest.raises(strata.InvalidArgument, match="txn_count"):
        store.ingest("user_stats", good.assign(txn_count=["many"]))
    with pytest.raises(strata.InvalidArgument, match="txn_count"):
        store.push("user_stats", good.assign(txn_count=["many"]))
    with pytest.raises(strata.InvalidArgument, match="event timestamp is null"):
        store.push("user_stats", good.assign(event_timestamp=[pd.NaT]))
    with pytest.raises(strata.InvalidArgument, match="event_timestamp"):
        store.ingest("user_stats", good.assign(event_timestamp=[pd.NaT]))
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.ingest("nope", good)
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.push("nope", good)
    with pytest.raises(strata.InvalidArgument, match="not tabular data"):
        store.push("user_stats", "not a frame")
    # A refused ingest names the data, not the temporary file it was spooled to.
    with pytest.raises(strata.InvalidArgument) as e:
        store.ingest("user_stats", good.drop(columns="tier"))
    assert "strata-python-ingest" not in str(e.value)
    # Nothing of the refused data was written.
    assert store.history("user_stats", 1, start=dt.datetime(2024, 6, 1)).num_rows == 0


def test_bad_historical(store):
    ents = pd.DataFrame({"user_id": [1], "event_timestamp": [pd.Timestamp("2024-05-03")]})
    with pytest.raises(strata.InvalidArgument, match="exclude each other"):
        store.get_historical_features(ents, ["user_stats:txn_count"], as_known_at=1, no_future_writes=True)
    with pytest.raises(strata.InvalidArgument, match="event_timestamp"):
        store.get_historical_features(ents.drop(columns="event_timestamp"), ["user_stats:txn_count"])
    with pytest.raises(strata.InvalidArgument, match="user_id"):
        store.get_historical_features(ents.drop(columns="user_id"), ["user_stats:txn_count"])
    with pytest.raises(strata.InvalidArgument, match="event_timestamp"):
        store.get_historical_features(ents.assign(event_timestamp=[pd.NaT]), ["user_stats:txn_count"])
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.get_historical_features(ents, ["nope:*"])


def test_bad_history_delete_registry(store):
    with pytest.raises(strata.InvalidArgument, match="start is after end"):
        store.history("user_stats", 1, start=10, end=5)
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.history("nope", 1)
    with pytest.raises(strata.InvalidArgument):
        store.history("user_stats", "abc")
    with pytest.raises(strata.InvalidArgument, match="key"):
        store.history("user_stats", 1.5)
    with pytest.raises(strata.NotFound, match="unknown entity"):
        store.delete("nope", 1)
    with pytest.raises(strata.InvalidArgument):
        store.delete("user", "not-an-int")
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.registry.describe("nope")
    with pytest.raises(strata.NotFound, match="unknown feature view"):
        store.registry.lineage("nope")


def test_bad_apply_and_open(tmp_path, store):
    with pytest.raises(strata.InvalidArgument):
        store.apply("[[entities]]\nname = 3\n")
    with pytest.raises(strata.NotFound, match="no definitions file"):
        store.apply("missing.toml")
    with pytest.raises(strata.InvalidArgument, match="path or TOML"):
        store.apply(42)
    bad = DEFS.replace('type = "float64" },\n  { name = "txn_count", type = "int64" }',
                       'type = "string" },\n  { name = "txn_count", type = "int64" }', 1)
    with pytest.raises(strata.InvalidArgument):
        store.apply(bad)
    with pytest.raises(strata.NotFound, match="no store at"):
        strata.Store(tmp_path / "nothing", create=False)
    with pytest.raises(strata.Unavailable):
        strata.Store(store.path)  # the directory is locked by `store`


def test_bad_connect(tmp_path):
    with pytest.raises(strata.InvalidArgument, match="needs a token"):
        strata.connect("127.0.0.1:1", token="")
    with pytest.raises(strata.InvalidArgument, match="server_cert"):
        strata.connect("127.0.0.1:1", token="t")
    with pytest.raises(strata.InvalidArgument, match="HOST:PORT"):
        strata.connect("no-port", token="t", server_cert=tmp_path / "x.pem")
    with pytest.raises(strata.InvalidArgument, match="x.pem"):
        strata.connect("127.0.0.1:1", token="t", server_cert=tmp_path / "x.pem")
    with pytest.raises(strata.InvalidArgument, match="timeout"):
        strata.connect("127.0.0.1:1", token="t", server_cert=tmp_path / "x.pem", timeout=-1)


def test_arrow_that_is_not_a_stream(store):
    with pytest.raises(strata.InvalidArgument, match="not tabular data"):
        store.get_historical_features(pa.array([1, 2]), ["user_stats:txn_count"])


def test_module_is_abi3():
    # One wheel for every CPython >= 3.9: the extension is built on the stable ABI.
    assert strata._strata.__file__.endswith(".abi3.so")


def test_damaged_segment_is_corruption(tmp_path):
    """A damaged segment raises strata.Corruption naming the file and offset,
    never wrong data."""
    import os

    from conftest import fill

    d = tmp_path / "d"
    with strata.Store(d) as s:
        fill(s)
        s.flush()
    for f in os.listdir(d / "segments"):
        p = d / "segments" / f
        b = bytearray(p.read_bytes())
        for i in range(200, min(len(b) - 200, 2000)):
            b[i] ^= 0xFF
        p.write_bytes(b)
    # Found when the store is opened, or at the latest when the block is read.
    with pytest.raises(strata.Corruption, match=r"segments/\d+\.seg at byte \d+"):
        with strata.Store(d) as s:
            for u in range(1, 51):
                s.history("user_stats", u)
            for m in ("m1", "m2", "m3"):
                s.history("merchant_risk", m)
