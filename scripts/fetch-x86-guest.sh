#!/usr/bin/env bash
# Fetch the Debian amd64 kernel the KVM Linux boot test uses (tests/kvm.rs):
#   guests/x86_64/vmlinuz   Debian's bzImage (the test extracts the vmlinux from it)
# From the host's own apt sources (amd64 is the host's architecture), with apt-get download:
# nothing is installed. Idempotent: reuses what is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/guests/x86_64}")
mkdir -p "$out"

if [[ -s $out/vmlinuz ]]; then
  echo "x86 kernel already present in $out"
  exit 0
fi

# The flavour package Debian's metapackage points at (linux-image-amd64 -> linux-image-X-amd64).
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
[[ -n $pkg ]] || { echo "cannot resolve linux-image-amd64 (run apt-get update?)" >&2; exit 1; }
echo "kernel package: $pkg"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg")
dpkg-deb -x "$work"/*.deb "$work/root"
cp "$work"/root/boot/vmlinuz-* "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$pkg" > "$out/PACKAGE"
echo "x86 kernel in $out/vmlinuz"
