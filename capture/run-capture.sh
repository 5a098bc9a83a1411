#!/bin/sh
# One capture: boots the guest once under QEMU (TCG, q35, emulated Intel IOMMU) and brings the
# recording back to $OUT/NAME/raw.
# Usage: run-capture.sh NAME KPROBES(0|1) STRICT(1|0) SCENARIOS(comma-separated)
set -eu
. "$(dirname "$0")/common.sh"
[ $# -eq 4 ] || { echo "usage: $0 NAME KPROBES STRICT SCENARIOS" >&2; exit 2; }
name=$1 kprobes=$2 strict=$3 scen=$4

dir=$OUT/$name
rm -rf "$dir"
mkdir -p "$dir"
kernel=$(kernel_image)
cmdline="console=ttyS0 rdinit=/init intel_iommu=on iommu.strict=$strict iommu.passthrough=0 panic=-1 loglevel=4 mitigations=off no_hash_pointers suite.cfg=$name suite.kprobes=$kprobes suite.scen=$scen suite.tbuf_kb=65536"

# Multi-threaded TCG occasionally oopses while the kernel patches its own text at boot (seen once
# in a dozen boots: "Oops: int3" in sched_clock_idle_wakeup_event 3.5 s after start); such a
# boot writes no results, and the capture is simply tried again.
attempt=1
while :; do
  rm -rf "$dir/raw"
  mkdir -p "$dir/raw"
  # NVMe disk (exercised with O_DIRECT dd) and a raw results disk outside the IOMMU's reach
  # (virtio-blk without iommu_platform) that the guest writes one tar onto.
  qemu-img create -q -f raw "$dir/nvme.img" 64M
  qemu-img create -q -f raw "$dir/results.img" 512M
  start=$(date +%s)
  timeout 1800 qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
    -device intel-iommu,intremap=on,caching-mode=off \
    -kernel "$kernel" -initrd "$WORK/initramfs.cpio.gz" -append "$cmdline" \
    -netdev user,id=n0,net=10.0.2.0/24 -device e1000e,netdev=n0,addr=01.0,mac=52:54:00:12:34:01 \
    -netdev user,id=n1,net=10.0.3.0/24 \
    -device virtio-net-pci,netdev=n1,addr=02.0,iommu_platform=on,disable-legacy=on,mac=52:54:00:12:34:02 \
    -drive file="$dir/nvme.img",if=none,id=nv0,format=raw -device nvme,drive=nv0,serial=iommusan0,addr=03.0 \
    -drive file="$dir/results.img",if=none,id=res,format=raw -device virtio-blk-pci,drive=res,addr=04.0 \
    -display none -vga none -serial "file:$dir/console.log" -monitor none -no-reboot </dev/null || true
  end=$(date +%s)
  tar xf "$dir/results.img" -C "$dir/raw" 2>/dev/null || true
  rm -f "$dir/nvme.img" "$dir/results.img"
  [ -f "$dir/raw/record-rc.txt" ] && break
  echo "capture $name: attempt $attempt wrote no results ($(grep -m 1 -E 'Oops|panic' "$dir/console.log" || echo 'see console.log'))" >&2
  cp "$dir/console.log" "$dir/console-failed-$attempt.log"
  attempt=$((attempt + 1))
  [ "$attempt" -le 3 ] || { echo "capture $name: giving up after 3 boots" >&2; exit 1; }
done
echo "$((end - start))" > "$dir/boot-seconds.txt"
echo "capture $name: $((end - start)) s (attempt $attempt), $(ls "$dir/raw" | wc -l) files"
