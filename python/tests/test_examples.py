"""The examples/python/ walk-throughs run to completion (they assert what
they show)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize(
    "script, shown",
    [
        ("fraud.py", ["online features:", "deleted user 1"]),
        ("sessions.py", ["training set:", "after the late page view"]),
    ],
)
def test_walkthrough(tmp_path, script, shown):
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / script), str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for line in shown:
        assert line in r.stdout, r.stdout
