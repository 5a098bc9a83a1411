# Shared settings of the capture scripts (sourced, not run).
# The kernel every fixture is captured on: Debian bookworm-backports' 6.12 build.
KVER=${KVER:-6.12.95+deb12-amd64}
CAPTURE_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-$CAPTURE_DIR/work}
OUT=${OUT:-$CAPTURE_DIR/out}
REPO=$(cd "$CAPTURE_DIR/.." && pwd)
# Where fixtures go; point elsewhere to rehearse a regeneration without touching samples/.
SAMPLES=${SAMPLES:-$REPO/samples}
mkdir -p "$WORK" "$OUT"

kernel_image() {
  for k in "/boot/vmlinuz-$KVER" "$WORK/kernel-root/boot/vmlinuz-$KVER"; do
    if [ -f "$k" ]; then echo "$k"; return 0; fi
  done
  echo "no kernel image for $KVER: run capture/setup-host.sh" >&2
  return 1
}
