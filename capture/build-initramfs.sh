#!/bin/sh
# Builds the scenario module against the 6.12 headers and the guest initramfs: busybox,
# trace-cmd with its libraries and plugins, the NIC/NVMe/virtio modules, the module, /init,
# the workload and iommusan-record.sh. Output: $WORK/initramfs.cpio.gz.
set -eu
. "$(dirname "$0")/common.sh"

make -s -C "$CAPTURE_DIR/module" KDIR="/lib/modules/$KVER/build" >/dev/null

R=$WORK/initramfs-root
rm -rf "$R"
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/out" "$R/lib/modules" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
ln -s bin "$R/sbin"
mkdir -p "$R/usr"
ln -s ../bin "$R/usr/bin"
ln -s ../bin "$R/usr/sbin"

# trace-cmd and the shared objects it links against, at their host paths.
cp /usr/bin/trace-cmd "$R/bin/trace-cmd"
for lib in $(ldd /usr/bin/trace-cmd | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
plugins=/usr/lib/x86_64-linux-gnu/traceevent/plugins
if [ -d "$plugins" ]; then
  mkdir -p "$R$plugins"
  cp "$plugins"/*.so "$R$plugins/"
fi

# Drivers in dependency order, decompressed for busybox insmod.
: > "$R/lib/modules/load.order"
for m in e1000e nvme virtio_net virtio_blk; do
  modprobe -S "$KVER" --show-depends "$m" | while read -r _ path _; do
    name=$(basename "$path" .xz)
    [ -f "$R/lib/modules/$name" ] && continue
    case $path in
      *.xz) xz -dc "$path" > "$R/lib/modules/$name" ;;
      *) cp "$path" "$R/lib/modules/$name" ;;
    esac
    echo "$name" >> "$R/lib/modules/load.order"
  done
done
cp "$CAPTURE_DIR/module/iommu_scenarios.ko" "$R/lib/modules/"

cp "$CAPTURE_DIR/guest/init" "$R/init"
cp "$CAPTURE_DIR/guest/workload.sh" "$R/bin/workload.sh"
cp "$CAPTURE_DIR/iommusan-record.sh" "$R/bin/iommusan-record.sh"
chmod +x "$R/init" "$R/bin/workload.sh" "$R/bin/iommusan-record.sh"

(cd "$R" && find . | cpio -o -H newc --quiet) | gzip -1 > "$WORK/initramfs.cpio.gz"
echo "initramfs: $WORK/initramfs.cpio.gz ($(wc -c < "$WORK/initramfs.cpio.gz") bytes)"
