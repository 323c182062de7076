#!/usr/bin/env bash
# Runs every fuzz target under fuzz/ for a short while: a smoke test of the
# decoders, not a fuzzing campaign.
#
#   scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
#
# SECONDS per target defaults to 20; TARGETs default to all of them
# (`cargo fuzz list`). Installs cargo-fuzz if it is missing. Works on stable
# Rust: targets are built without a sanitizer (`-s none`). Exits non-zero if
# any target crashes (a panic, an abort, a timeout or running out of memory);
# the input that did it is left in fuzz/artifacts/TARGET/ — minimize it with
# `cargo fuzz tmin -s none TARGET FILE` and add it to tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS] [TARGET...]  (SECONDS must be a positive integer)" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 2
fi

# Build everything first, so a build error is not reported as a crash.
cargo fuzz build -s none

failed=()
for t in "${targets[@]}"; do
    log="$(mktemp)"
    echo "== $t: ${seconds}s" >&2
    # -timeout: one input taking more than 10 s counts as a hang;
    # -rss_limit_mb: libFuzzer's default of 2 GiB, stated.
    if cargo fuzz run -s none "$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
        grep -E '^Done [0-9]+ runs' "$log" | sed "s/^/   $t: /" >&2 || true
    else
        echo "!! $t crashed:" >&2
        grep -E 'panicked at|^SUMMARY|Test unit written to|ERROR: libFuzzer' -A3 "$log" | head -40 >&2 || tail -40 "$log" >&2
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${seconds}s each without a crash" >&2
