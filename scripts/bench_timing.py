"""Timing helpers shared by scripts/bench_python.py and its Feast baseline
scripts/bench_feast.py, so that both measure and print alike."""

from __future__ import annotations

import statistics
import time


def percentiles(samples_s):
    """p50, p99 and mean of `samples_s` (seconds), in µs."""
    xs = sorted(samples_s)
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1e6  # noqa: E731
    return f"p50 {q(0.50):7.1f} us   p99 {q(0.99):7.1f} us   mean {statistics.fmean(xs) * 1e6:7.1f} us"


def timed(fn, n):
    """The time in seconds of each of the calls `fn(0)` to `fn(n - 1)`."""
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out
