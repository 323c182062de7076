#!/usr/bin/env bash
# Every check the project runs: the test suite, lints, the Python package's
# suite, the loom models of the concurrent kernels, and a short smoke run of
# each fuzz target.
# Usage: scripts/test.sh [FUZZ_SECONDS]   (default 10 per target; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds="${1:-10}"

echo "== cargo test"
cargo test --locked --workspace

echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== python (the strata package: build, install into target/venv, pytest)"
STRATA_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/strata" scripts/test-python.sh

echo "== loom models (--cfg strata_loom)"
RUSTFLAGS="--cfg strata_loom" CARGO_TARGET_DIR=target/loom cargo test --locked --release -p strata-engine --lib loom

if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz smoke, ${fuzz_seconds}s per target"
  scripts/fuzz-smoke.sh "$fuzz_seconds"
fi
