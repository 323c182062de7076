#!/usr/bin/env bash
# The Python step of scripts/test.sh: a virtualenv in target/venv with
# maturin, pytest, pandas, polars and pyarrow from PyPI; the `strata`
# package built from python/ and installed into it (`pip install ./python`,
# maturin as the PEP 517 backend); then the pytest suite, which also starts
# `strata serve` from target/debug/strata (STRATA_BIN).
#
# The extension is built with the dev profile (PYTHON_PROFILE, default
# `dev`): it reuses most of the debug build of the workspace that `cargo
# test` just made, where a release build would compile the whole stack
# again. Measured on a fresh checkout after `cargo test --no-run` (285 s):
# this script took 101 s with a new virtualenv (PyPI downloads, the debug
# extension build, pytest 23-30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/venv"
profile="${PYTHON_PROFILE:-dev}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet maturin pytest pandas polars pyarrow

# The server binary the suite starts: `cargo test` has just built it when
# scripts/test.sh calls this (STRATA_BIN); run alone, build it.
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --locked --bin strata
  STRATA_BIN="$target/debug/strata"
fi
MATURIN_PEP517_ARGS="--profile $profile --locked" \
  "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python

# `pytest` (not `python -m pytest`, which puts the current directory first
# on sys.path) with importlib imports: the tests import the installed
# package, never the sources beside them (which lack the compiled module).
cd python
STRATA_BIN="$STRATA_BIN" "$venv/bin/pytest" -q -p no:cacheprovider --import-mode=importlib tests
