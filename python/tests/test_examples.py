"""The examples/python/ walk-throughs run to completion (they assert what
they show)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_fraud_walkthrough(tmp_path):
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "fraud.py"), str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "online features:" in r.stdout and "deleted user 1" in r.stdout


def test_sessions_walkthrough(tmp_path):
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "sessions.py"), str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "training set:" in r.stdout and "after the late page view" in r.stdout
