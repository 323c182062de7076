"""A session view (examples/sessions/) read from Python, embedded and
through `strata.connect`: online as of times around the gap's edge,
latest, bitemporal, and in a training set, against the sessions computed
here by brute force from the page views."""

from __future__ import annotations

import re
import signal
import subprocess

import pandas as pd
import pytest

import strata
from conftest import REPO, cli, strata_bin

EXAMPLE = REPO / "examples" / "sessions"
GAP = pd.Timedelta("30min")


def page_views() -> pd.DataFrame:
    df = pd.read_csv(EXAMPLE / "page_views.csv")
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"]).astype("datetime64[us, UTC]")
    return df


def brute_force(user: int, t: pd.Timestamp) -> dict | None:
    """The session of `user` at `t`: None when no page view is at or before it."""
    df = page_views()
    ev = df[(df.user_id == user) & (df.event_timestamp <= t)].sort_values("event_timestamp")
    if ev.empty:
        return None
    ts = ev.event_timestamp.tolist()
    first = len(ts) - 1
    while first > 0 and ts[first] - ts[first - 1] <= GAP:
        first -= 1
    s = ev.iloc[first:]
    return {
        "session_length": len(s),
        "unique_pages": s.page.nunique(),
        "landing_page": s.page.iloc[0],
        "exit_page": s.page.iloc[-1],
        "is_open": bool(t - s.event_timestamp.iloc[-1] <= GAP),
    }


FEATURES = [f"user_sessions:{f}" for f in ("session_length", "unique_pages", "landing_page", "exit_page", "is_open")]
TIMES = [pd.Timestamp(t) for t in (
    "2024-05-01T08:59:59Z", "2024-05-01T09:00:00Z", "2024-05-01T09:21:59Z", "2024-05-01T09:52:00Z",
    "2024-05-01T09:52:00.000001Z", "2024-05-01T10:44:59Z", "2024-05-01T10:50:00Z", "2024-05-01T11:30:00Z",
)]


def filled(path) -> None:
    with strata.Store(path) as s:
        s.apply(str(EXAMPLE / "definitions.toml"))
        s.ingest("page_views", page_views())


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    path = tmp_path_factory.mktemp("sessions") / "data"
    filled(path)
    s = strata.Store(path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    data = tmp_path_factory.mktemp("served_sessions") / "data"
    filled(data)
    token = cli("token", "create", "--data", str(data), "--name", "py", "--grant", "admin:*").stdout.strip()
    proc = subprocess.Popen(
        [str(strata_bin()), "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+) \(QUIC\); certificate (\S+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"strata serve did not start: {line!r}")
    yield strata.connect(m.group(1), token, server_cert=m.group(2))
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def expected_columns(rows) -> dict:
    names = [f.split(":")[1] for f in FEATURES]
    out = {n: [] for n in names}
    for user, t in rows:
        want = brute_force(user, t)
        for n in names:
            out[n].append(None if want is None else want[n])
    return out


@pytest.mark.parametrize("surface", ["embedded", "remote"])
def test_online_as_of_matches_brute_force(surface, request):
    store = request.getfixturevalue(surface)
    for user in (1, 2, 3):
        for t in TIMES:
            got = store.get_online_features(FEATURES, [{"user_id": user}], as_of=t).to_dict(include_statuses=True)
            want = expected_columns([(user, t)])
            for n, v in want.items():
                assert got[n] == v, (surface, user, t, n, got)
                status = "NOT_FOUND" if v == [None] else "PRESENT"
                assert got[f"{n}__status"] == [status], (surface, user, t, n, got)


@pytest.mark.parametrize("surface", ["embedded", "remote"])
def test_latest_and_known_at(surface, request):
    store = request.getfixturevalue(surface)
    now = store.get_online_features(FEATURES, [{"user_id": 1}]).to_dict()
    assert now == {"user_id": [1], **expected_columns([(1, pd.Timestamp.now(tz="UTC"))])}
    # Known at 2000-01-01, before any page view was written: no session.
    old = store.get_online_features(FEATURES, [{"user_id": 1}], as_of=TIMES[3], known_at=pd.Timestamp("2000-01-01T00:00:00Z"))
    assert old.statuses["session_length"] == ["NOT_FOUND"]


@pytest.mark.parametrize("surface", ["embedded", "remote"])
def test_training_set_matches_brute_force(surface, request):
    store = request.getfixturevalue(surface)
    rows = [(u, t) for u in (1, 2, 3) for t in TIMES]
    ents = pd.DataFrame({"user_id": [u for u, _ in rows], "event_timestamp": [t for _, t in rows]})
    ents["event_timestamp"] = ents["event_timestamp"].astype("datetime64[us, UTC]")
    got = store.get_historical_features(ents, FEATURES).to_pandas()
    want = expected_columns(rows)
    for n, values in want.items():
        cells = [None if pd.isna(x) else x for x in got[n].tolist()]
        assert cells == values, (surface, n, got)
