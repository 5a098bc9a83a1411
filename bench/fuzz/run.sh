#!/usr/bin/env bash
# Long fuzz run: the fuzz tests of tests/IommuSan.Tests/Fuzz with a large iteration count and a time budget.
#
#   bench/fuzz/run.sh [--minutes N] [--seed S] [--out DIR] [--timeout SECONDS] [--check-every K] [--no-build]
#
# The budget is split over the four targets (real trace.dat, synthetic trace.dat, text, compressed) in
# the proportions below. Each case is reproducible alone from its case seed (printed with every finding):
#   IOMMUSAN_FUZZ_CASE=<case seed> dotnet test tests/IommuSan.Tests --filter "FullyQualifiedName~Fuzz.<target>"
# Failing inputs are saved in DIR (default: a fresh directory under /tmp) next to summary.txt.
# --check-every K: every K-th case also runs check (default 8; 0: readers only).
# Exit status: 0 no new findings, 1 new findings (known ones, pinned by skipped regression tests, do not count).
set -euo pipefail

minutes=10
seed=$(date +%s)
out=""
timeout=10
build=1
check_every=8
while [[ $# -gt 0 ]]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --check-every) check_every="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${out:-$(mktemp -d /tmp/iommusan-fuzz.XXXXXX)}"
mkdir -p "$out"
rm -f "$out/summary.txt"

if [[ $build -eq 1 ]]; then
    dotnet build "$root/tests/IommuSan.Tests" -v q -nologo >/dev/null
fi

# Run from a copy of the test output so rebuilding the worktree meanwhile cannot disturb the run.
bin="$out/bin"
rm -rf "$bin"
cp -r "$root/tests/IommuSan.Tests/bin/Debug/net10.0" "$bin"

total=$((minutes * 60))
run_target() { # name, share in percent
    local budget=$((total * $2 / 100))
    echo "== $1: ${budget}s, base seed $seed"
    IOMMUSAN_FUZZ_ITERATIONS=100000000 IOMMUSAN_FUZZ_BUDGET_SECONDS="$budget" IOMMUSAN_FUZZ_SEED="$seed" \
    IOMMUSAN_FUZZ_OUT="$out" IOMMUSAN_FUZZ_TIMEOUT_SECONDS="$timeout" IOMMUSAN_FUZZ_CHECK_EVERY="$check_every" \
        dotnet test "$bin/IommuSan.Tests.dll" --filter "FullyQualifiedName~IommuSan.Tests.Fuzz.MutatedInputsTests.$1" \
        >"$out/$1.log" 2>&1 || true
}

run_target Mutated_real_trace_dat_captures_fail_cleanly 35
run_target Mutated_synthetic_trace_dat_files_in_every_layout_fail_cleanly 25
run_target Mutated_text_traces_fail_cleanly 30
run_target Mutated_compressed_traces_fail_cleanly 10

echo
cat "$out/summary.txt"
echo
echo "inputs and logs: $out"
if grep -q '^\[.*\] case ' "$out/summary.txt"; then
    echo "NEW FINDINGS: turn each into a regression test (docs/fuzzing.md)"
    exit 1
fi
echo "no new findings"
