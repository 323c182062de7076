"""Idempotent ingest, backfills and the write summary from Python: the
same data twice changes nothing, a batch id is written once (embedded and
over the server), late rows are reported and a backfill writes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import strata

AGG_DEFS = (Path(__file__).parent / "ingest-aggregation.toml").read_text()

T0 = pd.Timestamp("2024-05-01T00:00:00")


def events(start: pd.Timestamp, n: int) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "user_id": [i % 3 for i in range(n)],
            "event_timestamp": [start + pd.Timedelta(minutes=10 * i) for i in range(n)],
            "amount": [float(i) for i in range(n)],
        }
    )
    df["event_timestamp"] = df["event_timestamp"].astype("datetime64[us]")
    return df


def window(s: strata.Store, at: pd.Timestamp):
    r = s.get_online_features(
        ["txn_stats:count_1d", "txn_stats:amount_sum_1d"],
        [{"user_id": u} for u in range(3)],
        as_of=at,
    ).to_dict()
    return r["count_1d"], r["amount_sum_1d"]


def test_the_same_frame_three_times_changes_nothing(tmp_path):
    with strata.Store(tmp_path / "d") as s:
        s.apply(AGG_DEFS)
        df = events(T0, 30)
        first = s.ingest("txn", df)["summary"]
        assert (first["rows"], first["written"], first["already_ingested_at"]) == (30, 30, None)
        at = T0 + pd.Timedelta(hours=5)
        before = window(s, at), s.history("txn", 1).num_rows
        for _ in range(2):
            again = s.ingest("txn", df)["summary"]
            assert again["written"] == 0 and again["already_ingested_at"] is not None, again
            assert "already ingested at" in again["text"]
            assert (window(s, at), s.history("txn", 1).num_rows) == before


def test_late_rows_are_reported_and_a_backfill_writes_them(tmp_path):
    with strata.Store(tmp_path / "d") as s:
        s.apply(AGG_DEFS)
        s.ingest("txn", events(T0 + pd.Timedelta(days=2), 6))
        old = events(T0, 6)
        late = s.ingest("txn", old)["summary"]
        assert (late["written"], late["rejected_late"], late["complete"]) == (0, 6, False)
        filled = s.ingest("txn", old, backfill=True)["summary"]
        assert (filled["written"], filled["rejected_late"], filled["complete"]) == (6, 0, True)
        counts, sums = window(s, T0 + pd.Timedelta(hours=1))
        assert sum(counts) == 6 and sum(sums) == sum(range(6))


def test_push_with_a_batch_id_is_written_once(tmp_path):
    with strata.Store(tmp_path / "d") as s:
        s.apply(AGG_DEFS)
        df = events(T0, 12)
        first = s.push_summary("txn", df, batch_id="job-1")
        assert (first["rows"], first["written"]) == (12, 12)
        again = s.push_summary("txn", df, batch_id="job-1")
        assert (again["written"], again["already_ingested_at"] is not None) == (0, True)
        assert s.push("txn", df, batch_id="job-1") == 0
        assert s.history("txn", 0).num_rows == 4


def test_remote_push_with_a_batch_id_is_written_once(server):
    remote = server.connect()
    df = pd.DataFrame(
        {
            "merchant_id": ["b1", "b2"],
            "event_timestamp": [pd.Timestamp("2024-07-02")] * 2,
            "risk_score": [0.1, 0.2],
            "flagged": [False, True],
        }
    )
    first = remote.push_summary("merchant_risk", df, batch_id="py-batch")
    assert (first["rows"], first["written"], first["complete"]) == (2, 2, True)
    again = remote.ingest("merchant_risk", df, batch_id="py-batch")
    assert again["written"] == 0 and again["summary"]["already_ingested_at"] is not None
    assert remote.history("merchant_risk", "b1").num_rows == 1
