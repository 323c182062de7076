# Sourced by the benchmark scripts that start servers: a scratch directory
# `$tmp` and a list `pids` of background processes, both cleaned up on
# exit (the processes killed and waited for, the directory removed).
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
