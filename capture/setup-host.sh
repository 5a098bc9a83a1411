#!/bin/sh
# Installs what the capture harness needs on a Debian 12 (bookworm) x86_64 host: QEMU, busybox,
# trace-cmd, a compiler, and Debian's bookworm-backports 6.12 kernel image and headers (the
# kernel the guest boots and the module is built against). Idempotent; needs root.
set -eu
. "$(dirname "$0")/common.sh"

if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
install_missing() {
  # $1: extra apt-get options; the rest: packages
  opts=$1; shift
  need=
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
  done
  [ -z "$need" ] && return 0
  [ -n "${updated:-}" ] || { apt-get update; updated=1; }
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y $opts $need
}
# Tools from bookworm itself (QEMU 7.2, trace-cmd 3.1.6), the kernel from bookworm-backports.
install_missing "" qemu-system-x86 qemu-utils busybox-static trace-cmd zstd xz-utils build-essential kmod cpio python3
install_missing "-t bookworm-backports" "linux-image-$KVER" "linux-headers-$KVER"
echo "host ready: kernel $KVER, $(qemu-system-x86_64 --version | head -n 1), $(trace-cmd --version 2>&1 | grep -m 1 "trace-cmd version")"
