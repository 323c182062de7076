#!/bin/sh
# The kill -9 loop (examples/crash_loop.rs): `strata serve` with pushing
# clients, local WAL writers, bulk ingest and compaction, each killed with
# SIGKILL at a random moment, then recovered and checked: no acknowledged
# row lost, no batch half applied. Bounded in rounds and time.
#
#   scripts/crash-loop.sh --rounds 1000 --seconds 3000
#   PROFILE=debug scripts/crash-loop.sh --rounds 200     # skips the release build
#
# Runs at low priority (nice) so it can share the machine.
set -eu
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
nice cargo build $flag --bin strata --example crash_loop
target="${CARGO_TARGET_DIR:-target}/$PROFILE"
exec nice -n 10 "$target/examples/crash_loop" --strata "$target/strata" "$@"
