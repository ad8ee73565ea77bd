#!/bin/bash
# Install the Debian packages Mimic's tests, benchmarks and guest scripts need (run as root on
# Debian 12). Safe to re-run: does nothing when everything is present.
#   cross toolchain + picolibc   build the in-repo RISC-V test programs and benchmarks
#   qemu-system-*                the reference emulators the suites and benchmarks compare with
#   opensbi                      the default -bios of `-M virt`
#   cpio, xz-utils, busybox      build the guest initramfs (scripts/fetch-riscv-guest.sh)
#   cmake                        builds Berkeley SoftFloat (softfloat-sys)
set -euo pipefail

PKGS=(
    qemu-system-misc qemu-system-x86
    gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf picolibc-riscv64-unknown-elf
    opensbi busybox-static gdb-multiarch cmake device-tree-compiler
    build-essential pkg-config cpio xz-utils ca-certificates
)

export DEBIAN_FRONTEND=noninteractive

pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

installed_version() {
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}

# qemu-system-* come from bookworm (QEMU 7.2) but the machine may carry a newer qemu-utils
# from backports, which conflicts with them. Pin qemu-utils (and the other qemu-* helpers)
# to the version qemu-system-misc would install, read from apt rather than hard-coded.
qemu_pins() {
    local want pins=() p
    want="$(apt-cache policy qemu-system-misc | awk '/Candidate:/ {print $2}')"
    if [ -z "$want" ] || [ "$want" = "(none)" ]; then
        return 0
    fi
    for p in qemu-utils qemu-system-common qemu-system-data qemu-block-extra; do
        if pkg_installed "$p" && [ "$(installed_version "$p")" != "$want" ] &&
            apt-cache madison "$p" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "$want"; then
            pins+=("$p=$want")
        fi
    done
    echo "${pins[@]:-}"
}

need_apt=0
for p in "${PKGS[@]}"; do
    pkg_installed "$p" || need_apt=1
done
if [ "$need_apt" = 1 ] || [ -n "$(qemu_pins 2>/dev/null)" ]; then
    apt-get update
    read -r -a pins <<< "$(qemu_pins)"
    apt-get install -y --no-install-recommends --allow-downgrades "${PKGS[@]}" "${pins[@]}"
fi

