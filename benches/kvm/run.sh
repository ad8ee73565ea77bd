#!/bin/sh
# benches/kvm/run.sh: KVM figures — ring-3 compute kernel in a guest vs native (ratio), VMM memory
# overhead (RSS minus resident guest RAM) and VM construction to first guest instruction.
# Usage: benches/kvm/run.sh [ITERS]   (needs /dev/kvm and binutils)
set -e
cd "$(dirname "$0")/../.."
ITERS="${1:-300000000}" cargo test --release --test kvm_bench -- --ignored --nocapture --test-threads=1 2>&1 \
  | grep -E "SKIP|guest|native|ratio|wall|memory|startup|panicked"
