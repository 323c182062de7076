"""Per-session features of a web shop from Python (examples/sessions/).

    python examples/python/sessions.py [STORE_DIR]

1. apply examples/sessions/definitions.toml: the page views and the session
   view computed from them (30 minute gap);
2. ingest the page views (examples/sessions/page_views.csv) with pandas;
3. read a user's session online, now and as of a time;
4. build a training set: each row gets the session at its own time;
5. a late page view that fills a pause merges two sessions.

Runs against an embedded store (a temporary directory unless STORE_DIR is
given); the reads work the same on `strata.connect(...)`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import strata
from _walkthrough import run

EXAMPLE = Path(__file__).resolve().parents[1] / "sessions"
FEATURES = [
    "user_sessions:session_length",
    "user_sessions:unique_pages",
    "user_sessions:landing_page",
    "user_sessions:exit_page",
    "user_sessions:duration",
    "user_sessions:is_open",
]
MINUTE = 60_000_000


def main(path: str) -> None:
    store = strata.Store(path)
    store.apply(str(EXAMPLE / "definitions.toml"))

    views = pd.read_csv(EXAMPLE / "page_views.csv")
    views["event_timestamp"] = pd.to_datetime(views["event_timestamp"]).astype("datetime64[us, UTC]")
    store.ingest("page_views", views)
    print(f"ingested {len(views)} page views")

    # User 1 at 09:30: the 09:00-09:22 visit, still open (8 min < 30 min).
    at = pd.Timestamp("2024-05-01T09:30:00Z")
    online = store.get_online_features(FEATURES, [{"user_id": 1}], as_of=at).to_dict()
    print("user 1 at 09:30:", online)
    assert online["session_length"] == [5] and online["unique_pages"] == [5], online
    assert online["landing_page"] == ["home"] and online["exit_page"] == ["checkout"], online
    assert online["duration"] == [22 * MINUTE] and online["is_open"] == [True], online

    # Now (2024 is long past): the last visit, 11:00-11:05, closed.
    now = store.get_online_features(FEATURES, [{"user_id": 1}]).to_dict()
    print("user 1 now:", now)
    assert now["landing_page"] == ["home"] and now["exit_page"] == ["sale"], now
    assert now["is_open"] == [False], now

    # A training set: each row sees only the page views up to its time.
    rows = pd.read_csv(EXAMPLE / "entities.csv")
    rows["event_timestamp"] = pd.to_datetime(rows["event_timestamp"]).astype("datetime64[us, UTC]")
    train = store.get_historical_features(rows, FEATURES).to_pandas()
    print("training set:\n", train.to_string(index=False))
    assert train["session_length"].tolist()[:6] == [3, 5, 5, 2, 1, 2], train
    assert train["is_open"].tolist()[:6] == [True, True, False, True, True, True], train
    assert pd.isna(train["session_length"].iloc[6])  # before user 2's first page view

    # 5. A late page view at 10:15 fills user 2's 45 minute pause (10:00 ->
    # 10:45): one session from 10:00 on, from the time it was written.
    late = pd.DataFrame({
        "user_id": [2],
        "event_timestamp": [pd.Timestamp("2024-05-01T10:15:00Z")],
        "page": ["shoes"],
        "event_type": ["click"],
        "time_on_page": [12.0],
    })
    late["event_timestamp"] = late["event_timestamp"].astype("datetime64[us, UTC]")
    store.push("page_views", late)
    at = pd.Timestamp("2024-05-01T10:50:00Z")
    merged = store.get_online_features(FEATURES, [{"user_id": 2}], as_of=at).to_dict()
    print("user 2 at 10:50 after the late page view:", merged)
    assert merged["session_length"] == [4] and merged["landing_page"] == ["sale"], merged
    assert merged["duration"] == [50 * MINUTE], merged
    store.close()


if __name__ == "__main__":
    run(main)
