#!/usr/bin/env bash
# Fetch Debian stable's riscv64 kernel and busybox and build a guest for `mimic -M virt`:
#   guests/riscv64/vmlinux        the kernel (uncompressed ELF, as Debian ships it)
#   guests/riscv64/initramfs.cpio.gz  busybox + the virtio modules + an init script
# Uses apt-get download with a private sources list and state directory ([arch=riscv64]),
# so the host's own apt configuration is left alone. Idempotent: reuses what is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/guests/riscv64}")
work=$out/.apt
mkdir -p "$out" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"

if [[ -s $out/vmlinux && -s $out/initramfs.cpio.gz ]]; then
  echo "guest already present in $out"
  exit 0
fi

suite=${DEBIAN_SUITE:-stable}
cat > "$work/sources.list" <<EOS
deb [arch=riscv64 trusted=yes] http://deb.debian.org/debian $suite main
EOS
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State=$work" -o "Dir::State::Lists=$work/lists" -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$work/cache" -o "APT::Architecture=riscv64" -o "APT::Architectures::=riscv64"
  -o "Debug::NoLocking=1"
)
echo "fetching the Debian $suite riscv64 package lists..."
apt-get "${apt_opts[@]}" update -qq

# The kernel flavour package Debian's metapackage points at (linux-image-riscv64 -> linux-image-X-riscv64).
meta_dep=$(apt-cache "${apt_opts[@]}" depends linux-image-riscv64 | awk '/Depends: linux-image-/ {print $2; exit}')
[[ -n $meta_dep ]] || { echo "cannot resolve linux-image-riscv64 in $suite" >&2; exit 1; }
echo "kernel package: $meta_dep"
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "$meta_dep" busybox-static)

root=$work/root
rm -rf "$root" && mkdir -p "$root"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done

vmlinux=$(find "$root/boot" -name 'vmlinu*' | head -n1)
[[ -n $vmlinux ]] || { echo "no kernel image in $meta_dep" >&2; exit 1; }
cp "$vmlinux" "$out/vmlinux"
kver=$(basename "$( (find "$root/lib/modules" "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | head -n1)")

ird=$work/initramfs
rm -rf "$ird" && mkdir -p "$ird"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,lib/modules}
bb=$( (find "$root/bin" "$root/usr/bin" -maxdepth 1 -name busybox 2>/dev/null || true) | head -n1)
[[ -n $bb ]] || { echo "no busybox in busybox-static" >&2; exit 1; }
cp "$bb" "$ird/bin/busybox"
# Virtio drivers Debian builds as modules, in load order (the virtio core is built in). They are
# decompressed here because busybox's insmod takes plain .ko files.
moddir=$(find "$root" -type d -path "*/modules/$kver" | head -n1)
n=0
for name in virtio_mmio virtio_blk virtio-rng; do
  m=$(find "$moddir" -name "$name.ko*" | head -n1)
  [[ -n $m ]] || continue
  n=$((n + 1))
  case $m in
    *.xz) xz -dc "$m" > "$ird/lib/modules/$n-$name.ko" ;;
    *.zst) zstd -qdc "$m" > "$ird/lib/modules/$n-$name.ko" ;;
    *) cp "$m" "$ird/lib/modules/$n-$name.ko" ;;
  esac
done
cat > "$ird/init" <<'EOS'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in /lib/modules/*.ko; do
  [ -e "$m" ] && insmod "$m"
done
echo "mimic-guest: init reached"
# Commands to run non-interactively can be passed as mimic.cmd=... on the kernel command line.
cmd=$(sed -n 's/.*mimic\.cmd="\([^"]*\)".*/\1/p' /proc/cmdline)
if [ -n "$cmd" ]; then
  sh -c "$cmd"
  poweroff -f
fi
exec setsid cttyhack sh
EOS
chmod +x "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -9 > "$out/initramfs.cpio.gz")
echo "guest ready: $out/vmlinux ($kver), $out/initramfs.cpio.gz"
