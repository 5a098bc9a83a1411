#!/bin/sh
# Runs under iommusan-record.sh (twice nested): background DMA traffic on the three devices
# behind the IOMMU, then one insmod/rmmod of the scenario module per scenario, each between
# trace_marker lines. $IOMMUSAN_INSTANCE is the inner script's tracefs instance.
T=/sys/kernel/tracing
exec > /out/workload.log 2>&1

mark() {
  echo "iommu_scen: $*" > $T/trace_marker
  echo "iommu_scen: $*" > "$IOMMUSAN_INSTANCE/trace_marker"
  echo "$(cut -d' ' -f1 /proc/uptime) iommu_scen: $*" >> /out/markers.txt
}

mark "capture start load=light"
e1000e=$(cat /tmp/nic_e1000e) virtio=$(cat /tmp/nic_virtio)
ping -q -i 0.3 -I "$e1000e" 10.0.2.2 > /dev/null 2>&1 &
p1=$!
ping -q -i 0.3 -I "$virtio" 10.0.3.2 > /dev/null 2>&1 &
p2=$!
(
  while :; do
    dd if=/dev/nvme0n1 of=/dev/null bs=16k count=4 iflag=direct 2>/dev/null
    dd if=/dev/zero of=/dev/nvme0n1 bs=16k count=4 seek=64 oflag=direct 2>/dev/null
    sleep 0.3
  done
) &
p3=$!
mark "background started pids= $p1 $p2 $p3"
sleep 1

for s in $(echo "$scen" | tr , ' '); do
  mark "begin $s"
  insmod /lib/modules/iommu_scenarios.ko scenario="$s"
  rc=$?
  rmmod iommu_scenarios 2>/dev/null
  mark "end $s"
  echo "$(cut -d' ' -f1 /proc/uptime) scenario $s insmod rc=$rc" >> /out/markers.txt
  sleep 0.5
done

sleep 1
kill $p1 $p2 $p3
wait 2>/dev/null
mark "capture end"
# Stop both buffers here so that collecting the files below (many forks) stays out of the trace.
echo 0 > "$IOMMUSAN_INSTANCE/tracing_on"
echo 0 > $T/tracing_on

# Everything that only exists while the probes do: their definitions and every format file.
cat $T/kprobe_events > /out/kprobe_events.txt
mkdir -p /out/formats/ftrace
cp $T/events/header_page $T/events/header_event /out/formats/
for f in "$IOMMUSAN_INSTANCE"/events/iommu/*/enable "$IOMMUSAN_INSTANCE"/events/dma/*/enable \
         "$IOMMUSAN_INSTANCE"/events/kmem/*/enable "$IOMMUSAN_INSTANCE"/events/kprobes/*/enable; do
  [ -f "$f" ] || continue
  read -r on < "$f"
  [ "$on" = 1 ] || continue
  d=${f%/enable}; ev=${d##*/}; sys=${d%/*}; sys=${sys##*/}
  mkdir -p "/out/formats/$sys"
  cp "$d/format" "/out/formats/$sys/$ev.format"
done
cp $T/events/ftrace/print/format /out/formats/ftrace/print.format
