"""A fraud-scoring walk-through with Strata from Python.

    python examples/python/fraud.py [STORE_DIR]

1. declare entities and feature views (one computed by the store: windowed
   aggregations of the card transactions);
2. bulk-ingest merchant risk scores from pandas, push transactions from Polars;
3. score a transaction online: the features of its user and merchant now;
4. build a point-in-time-correct training set from labelled transactions;
5. look at a user's history, search the registry, check freshness;
6. forget a user (delete).

Runs against an embedded store (a temporary directory unless STORE_DIR is
given). The same calls work on `strata.connect(...)` where the protocol has
them (not apply/delete).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl

import strata
from _walkthrough import run

DEFINITIONS = (Path(__file__).parent / "fraud.toml").read_text()

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


def main(path: str) -> None:
    store = strata.Store(path)

    # 1. Definitions (a file path works too).
    plan = store.apply(DEFINITIONS)
    print("applied:", *plan.changes, sep="\n  ")

    # 2. Data in: a nightly batch (pandas) and a stream of events (Polars).
    risk = pd.DataFrame({
        "merchant_id": ["coffee", "casino", "books"],
        "event_timestamp": [T0, T0, T0],
        "risk_score": [0.02, 0.91, 0.05],
        "chargebacks": [0, 14, 1],
    })
    report = store.ingest("merchant_risk", risk)
    print(f"ingested {report['rows']} merchant rows")

    txns = pl.DataFrame({
        "user_id": [1, 1, 1, 2, 1],
        "event_timestamp": [T0 + dt.timedelta(minutes=m) for m in (10, 20, 30, 40, 50)],
        "amount": [4.5, 3.0, 250.0, 12.0, 990.0],
        "merchant": ["coffee", "coffee", "casino", "books", "casino"],
    })
    store.push("txn", txns)

    # 3. Online scoring of user 1 paying at the casino at 00:55.
    at = T0 + dt.timedelta(minutes=55)
    features = ["user_txn_stats:count_1h", "user_txn_stats:amount_sum_1d", "merchant_risk:risk_score"]
    online = store.get_online_features(features, [{"user_id": 1, "merchant_id": "casino"}], as_of=at)
    row = online.to_dict(include_statuses=True)
    print("online features:", row)
    assert row["count_1h"] == [4] and row["amount_sum_1d"] == [1247.5], row
    assert row["risk_score"] == [0.91] and row["risk_score__status"] == ["PRESENT"]

    # 4. A training set: labelled transactions, each joined as of its own time.
    labels = pd.DataFrame({
        "user_id": [1, 1, 2, 3],
        "merchant_id": ["coffee", "casino", "books", "coffee"],
        "event_timestamp": [T0 + dt.timedelta(minutes=m) for m in (15, 52, 45, 60)],
        "is_fraud": [0, 1, 0, 0],
    })
    train = store.get_historical_features(labels, features).to_pandas()
    print("training set:\n", train.to_string(index=False))
    assert train["count_1h"].tolist()[:3] == [1, 4, 1], train
    assert pd.isna(train["count_1h"].iloc[3])  # user 3 has no transactions at all
    assert train["is_fraud"].tolist() == [0, 1, 0, 0]

    # 5. History, the registry, freshness.
    h = store.history("txn", 1).to_pandas()
    print(f"user 1 has {len(h)} transactions; newest amount {h['amount'].iloc[0]}")
    assert len(h) == 4 and h["amount"].iloc[0] == 990.0
    hits = store.registry.search(team="fraud")
    print("fraud team views:", [v["name"] for v in hits])
    assert [v["name"] for v in hits] == ["txn", "user_txn_stats"]
    print("lineage of txn:", store.registry.lineage("txn")["downstream"])
    fresh = store.freshness(at=T0 + dt.timedelta(hours=2))
    print("freshness:", {v["view"]: v["status"] for v in fresh["views"]})

    # 6. The right to be forgotten.
    store.delete("user", 1)
    assert store.history("txn", 1).num_rows == 0
    print("deleted user 1")
    store.close()


if __name__ == "__main__":
    run(main)
