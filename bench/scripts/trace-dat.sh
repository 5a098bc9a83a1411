#!/usr/bin/env bash
# Decode-all-events throughput of IommuSan's trace.dat reader against `trace-cmd report > /dev/null`
# on the same file, measured in one run.
#
#   bench/scripts/trace-dat.sh [EVENTS] [COMPRESSION]     (defaults: 5000000 zstd)
#
# Generates a synthetic v7 trace.dat (realistic iommu/kmem/dma mix over 4 CPUs, from the test-only
# writer) into a temporary directory (deleted at exit; never committed), checks both readers count
# the same events, times each (best of 3 runs: wall and CPU seconds, whole process for both), prints
# the ratios, then runs the BenchmarkDotNet in-process decode benchmark on the same file.
# Installs Debian's trace-cmd (apt-get) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-5000000}
compression=${2:-zstd}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v trace-cmd >/dev/null 2>&1; then
  echo "trace-dat: trace-cmd not found; installing Debian's trace-cmd" >&2
  apt-get update -qq && apt-get install -y -qq trace-cmd >/dev/null
fi
trace-cmd --version 2>/dev/null | grep -m1 version || true

dotnet build -c Release bench/IommuSan.Bench -v q -nologo >/dev/null
bench=bench/IommuSan.Bench/bin/Release/net10.0/IommuSan.Bench

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
file="$tmp/trace.dat"
"$bench" trace-dat generate "$file" "$events" 4 "$compression"

# Same events on both sides: trace-cmd prints one line per event after its "cpus=N" line.
ours=$("$bench" trace-dat decode "$file" | sed -E 's/^decoded ([0-9]+) events.*/\1/')
theirs=$(trace-cmd report -i "$file" 2>/dev/null | grep -vc '^cpus=')
echo "events: iommusan $ours, trace-cmd report $theirs"
if [ "$ours" != "$theirs" ]; then
  echo "trace-dat: event counts differ" >&2
  exit 1
fi

# best_of CMD...: prints "wall cpu" (seconds) of the fastest of 3 runs.
best_of() {
  local best_wall="" best_cpu="" i t wall user sys cpu
  for i in 1 2 3; do
    t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
    read -r wall user sys <<<"$t"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
    if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then best_wall=$wall; fi
    if [ -z "$best_cpu" ] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN { exit !(a < b) }'; then best_cpu=$cpu; fi
  done
  echo "$best_wall $best_cpu"
}

read -r tc_wall tc_cpu <<<"$(best_of trace-cmd report -i "$file")"
read -r is_wall is_cpu <<<"$(best_of "$bench" trace-dat decode "$file")"
echo "trace-cmd report > /dev/null : wall ${tc_wall} s, cpu ${tc_cpu} s"
echo "iommusan decode (process)    : wall ${is_wall} s, cpu ${is_cpu} s"
awk -v tw="$tc_wall" -v tc="$tc_cpu" -v iw="$is_wall" -v ic="$is_cpu" -v n="$events" 'BEGIN {
  printf "ratio (trace-cmd / iommusan): wall %.1fx, cpu %.1fx  (iommusan %.1f M events/s wall)\n", tw / iw, tc / ic, n / iw / 1e6
}'

# In-process steady state (BenchmarkDotNet, short job) on the same file.
IOMMUSAN_TRACE_DAT="$file" "$bench" --filter '*TraceDatDecodeBenchmark*' --job short --artifacts "$tmp/bdn" 2>&1 \
  | grep -E '^\| *(Method|DecodeAllEvents)' || true
