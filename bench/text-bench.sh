#!/usr/bin/env bash
# Text decoding vs `wc -l` on one large synthetic ftrace text file (>= 5M lines), as a ratio.
# The file is generated here from a real capture (each pass re-timestamped so time keeps
# increasing) and deleted afterwards; it is never committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
lines="${1:-5000000}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
file="$out/big-trace.txt"
python3 - "$repo/samples/tracepoints-page_uaf-clean/trace.txt.gz" "$file" "$lines" <<'PY'
import gzip, re, sys
src, dst, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = gzip.open(src, 'rt').read().splitlines()
header = [l for l in lines if l.startswith('#')]
events = [l for l in lines if not l.startswith('#')]
stamp = re.compile(r'(\] [^ ]+ +)(\d+)\.(\d{6}):')
span_us = 10_000_000
written = 0
with open(dst, 'w') as f:
    f.write('\n'.join(header) + '\n')
    p = 0
    while written < want:
        shift = p * span_us
        for l in events:
            f.write(stamp.sub(lambda m: '%s%d.%06d:' % (m.group(1), *divmod(int(m.group(2)) * 1_000_000 + int(m.group(3)) + shift, 1_000_000)), l, count=1) + '\n')
        written += len(events)
        p += 1
PY
echo "generated $(wc -l < "$file") lines, $(du -h "$file" | cut -f1)"
cd "$repo"
IOMMUSAN_TEXT_BENCH_FILE="$file" dotnet run -c Release --project bench/IommuSan.Bench -- --filter '*TextDecodeBenchmarks*' "${@:2}"
