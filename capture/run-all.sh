#!/bin/sh
# Regenerates every capture fixture under samples/ from scratch: host packages, module,
# initramfs, one QEMU boot per configuration, manifests. Needs root on Debian 12 x86_64.
# Usage: capture/run-all.sh [NAME...]   (default: every configuration below)
set -eu
. "$(dirname "$0")/common.sh"

SCENARIOS=page_uaf,clean,order2_inner,sg_uaf,late_unmap,realloc_mapped,kmalloc_uaf,mmio_resource

# name kprobes strict description
CONFIGS='tracepoints-strict-scenarios 0 1 tracepoint events only (iommu, dma, kmem page and kmalloc events), iommu.strict=1
kprobes-strict-scenarios 1 1 tracepoint events plus kprobes carrying the IOMMU domain pointer, iommu.strict=1
tracepoints-lazy-scenarios 0 0 tracepoint events only (iommu, dma, kmem page and kmalloc events), iommu.strict=0 (lazy invalidation, DMA-FQ domains)
kprobes-lazy-scenarios 1 0 tracepoint events plus kprobes carrying the IOMMU domain pointer, iommu.strict=0 (lazy invalidation, DMA-FQ domains)'

t0=$(date +%s)
"$CAPTURE_DIR/setup-host.sh"
"$CAPTURE_DIR/build-initramfs.sh"
t1=$(date +%s)
rc=0
while read -r name kprobes strict description; do
  if [ $# -gt 0 ]; then
    case " $* " in *" $name "*) ;; *) continue ;; esac
  fi
  if ! "$CAPTURE_DIR/run-capture.sh" "$name" "$kprobes" "$strict" "$SCENARIOS" </dev/null; then
    rc=1
    continue
  fi
  python3 "$CAPTURE_DIR/make-manifest.py" "$OUT/$name/raw" "$SAMPLES/$name" "$name" "$description" </dev/null || rc=1
  du -sh "$SAMPLES/$name"
done <<END
$CONFIGS
END
t2=$(date +%s)
echo "setup+build: $((t1 - t0)) s, captures+manifests: $((t2 - t1)) s, total: $((t2 - t0)) s" | tee "$OUT/run-all-timing.txt"
exit $rc
