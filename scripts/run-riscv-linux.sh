#!/usr/bin/env bash
# Boot Debian's riscv64 Linux to an interactive BusyBox shell on Mimic's `-M virt` (TCG).
# Installs missing Debian packages when run as root, builds Mimic, fetches the guest once.
# Ctrl-A X quits (QEMU's escape keys); `poweroff -f` in the guest ends the run.
# Extra arguments are passed to mimic (e.g. -drive file=disk.raw,format=raw,if=virtio).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [[ $(id -u) == 0 ]]; then
  bash scripts/install-deps.sh
elif [[ ! -e /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin ]] || ! command -v cpio >/dev/null; then
  echo "missing packages: run 'sudo bash scripts/install-deps.sh' first (opensbi, cpio, ...)" >&2
  exit 1
fi
cargo build --release --bin mimic
bash scripts/fetch-riscv-guest.sh guests/riscv64
echo "Booting Debian riscv64 on mimic -M virt (TCG mode: not a security boundary). Ctrl-A X quits."
exec target/release/mimic -M virt -m 1G -nographic \
  -kernel guests/riscv64/vmlinux -initrd guests/riscv64/initramfs.cpio.gz \
  -device virtio-rng-device -append "console=ttyS0 quiet" "$@"
