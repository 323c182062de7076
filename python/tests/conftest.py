"""Fixtures of the Python suite: definitions, generated data, an embedded
store, and a running `strata serve` (the binary of `cargo build`, found
through STRATA_BIN, else target/debug/strata)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strata

REPO = Path(__file__).resolve().parents[2]

DEFS = (Path(__file__).parent / "definitions.toml").read_text()

T0 = pd.Timestamp("2024-05-01T00:00:00")
TTL = pd.Timedelta("2D")


def strata_bin() -> Path:
    b = os.environ.get("STRATA_BIN")
    if b:
        return Path(b)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "strata"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    b = strata_bin()
    if not b.exists():
        pytest.fail(f"the strata binary is not at {b}: run `cargo build` or set STRATA_BIN")
    return subprocess.run([str(b), *args], capture_output=True, text=True, check=check, timeout=120)


def user_stats_frame(users: int = 50, versions: int = 20, seed: int = 7) -> pd.DataFrame:
    """Versions of user_stats: distinct event times per user, over 10 days."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, users + 1):
        secs = rng.choice(10 * 86400, size=versions, replace=False)
        for s in secs:
            rows.append(
                {
                    "user_id": u,
                    "event_timestamp": T0 + pd.Timedelta(seconds=int(s)),
                    "amount_avg": float(rng.normal(50, 10)) if rng.random() > 0.05 else None,
                    "txn_count": int(rng.integers(0, 1000)),
                    "tier": str(rng.choice(["gold", "silver", "bronze"])),
                }
            )
    df = pd.DataFrame(rows)
    df["event_timestamp"] = df["event_timestamp"].astype("datetime64[us]")
    return df


def entity_frame(rows: int = 400, users: int = 60, seed: int = 11) -> pd.DataFrame:
    """Label rows: some users without data, times around the data's span."""
    rng = np.random.default_rng(seed)
    secs = rng.integers(-86400, 13 * 86400, size=rows)
    df = pd.DataFrame(
        {
            "user_id": rng.integers(1, users + 1, size=rows).astype("int64"),
            "event_timestamp": [T0 + pd.Timedelta(seconds=int(s)) for s in secs],
            "label": rng.integers(0, 2, size=rows).astype("int64"),
        }
    )
    df["event_timestamp"] = df["event_timestamp"].astype("datetime64[us]")
    return df


def merchant_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "merchant_id": ["m1", "m2", "m3"],
            "event_timestamp": pd.to_datetime(
                ["2024-05-01T00:00:00", "2024-05-02T00:00:00", "2024-05-03T00:00:00"]
            ).astype("datetime64[us]"),
            "risk_score": [0.1, 0.9, None],
            "flagged": [False, True, None],
        }
    )


def fill(store: strata.Store) -> None:
    store.apply(DEFS)
    store.ingest("user_stats", user_stats_frame())
    store.ingest("merchant_risk", merchant_frame())
    store.push(
        "user_merchant",
        pd.DataFrame(
            {
                "user_id": [1, 1, 2],
                "merchant_id": ["m1", "m2", "m1"],
                "event_timestamp": pd.to_datetime(["2024-05-02"] * 3).astype("datetime64[us]"),
                "pair_count": [3, 4, 5],
            }
        ),
    )


@pytest.fixture
def store(tmp_path):
    s = strata.Store(tmp_path / "data")
    fill(s)
    yield s
    s.close()


class Server:
    def __init__(self, proc, addr, cert, token, data):
        self.proc, self.addr, self.cert, self.token, self.data = proc, addr, cert, token, data

    def connect(self, **kw):
        return strata.connect(self.addr, self.token, server_cert=self.cert, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`strata serve` on 127.0.0.1:0 over a filled store, with an admin token
    and a read-only one."""
    data = tmp_path_factory.mktemp("served") / "data"
    with strata.Store(data) as s:
        fill(s)
    token = cli("token", "create", "--data", str(data), "--name", "py", "--grant", "admin:*").stdout.strip()
    reader = cli("token", "create", "--data", str(data), "--name", "ro", "--grant", "read:*").stdout.strip()
    proc = subprocess.Popen(
        [str(strata_bin()), "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+) \(QUIC\); certificate (\S+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"strata serve did not start: {line!r} {proc.stderr.read()}")
    srv = Server(proc, m.group(1), m.group(2), token, data)
    srv.read_token = reader
    yield srv
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture
def utc():
    return dt.timezone.utc


sys.path.insert(0, str(Path(__file__).parent))
