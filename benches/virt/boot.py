#!/usr/bin/env python3
"""Boot-and-workload benchmark for `-M virt`: Debian's riscv64 kernel + BusyBox initramfs under
Mimic and qemu-system-riscv64 in the same run, same kernel, initramfs and command line.

Measured from the host, by timestamping lines the guest prints:
  init      process start -> "mimic-guest: init reached"
  seq-md5   `seq 1 200000 | md5sum`
  sha256    sha256 of 32 MiB (`dd if=/dev/zero bs=1M count=32 | sha256sum`; the result matches the host)
  total     process start -> exit (poweroff)
Each is the best of --runs runs; the runs alternate between the two emulators. Prints both
emulators and the speed ratio (QEMU time / Mimic time: above 1 means Mimic is faster).

Usage: benches/virt/boot.py [--runs N] [--guest DIR] [--mimic PATH]
(run scripts/fetch-riscv-guest.sh and `cargo build --release` first)."""

import argparse
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CMD = ("echo BENCH-A; seq 1 200000 | md5sum; echo BENCH-B; "
       "dd if=/dev/zero bs=1M count=32 2>/dev/null | sha256sum; echo BENCH-C")
MARKS = {"mimic-guest: init reached": "init", "BENCH-A": "a", "BENCH-B": "b", "BENCH-C": "c"}


def run_once(argv):
    t0 = time.monotonic()
    seen = {}
    out = []
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for raw in p.stdout:
        line = raw.decode(errors="replace").strip()
        out.append(line)
        for mark, key in MARKS.items():
            if line.endswith(mark) and key not in seen:
                seen[key] = time.monotonic() - t0
    p.wait()
    total = time.monotonic() - t0
    if len(seen) != len(MARKS):
        sys.exit(f"{argv[0]}: the guest did not print every marker (got {sorted(seen)}); last output:\n"
                 + "\n".join(out[-15:]))
    return {"init": seen["init"], "seq-md5": seen["b"] - seen["a"], "sha256": seen["c"] - seen["b"], "total": total}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--guest", default=os.path.join(TOP, "guests", "riscv64"))
    ap.add_argument("--mimic", default=os.path.join(TOP, "target", "release", "mimic"))
    a = ap.parse_args()
    common = ["-M", "virt", "-m", "512M", "-nographic", "-no-reboot",
              "-kernel", os.path.join(a.guest, "vmlinux"), "-initrd", os.path.join(a.guest, "initramfs.cpio.gz"),
              "-append", f'console=ttyS0 quiet mimic.cmd="{CMD}"']
    emulators = {"mimic": [a.mimic] + common, "qemu": ["qemu-system-riscv64"] + common}
    # Runs alternate between the emulators, so a host that speeds up or slows down during the
    # benchmark (page reclaim, neighbours on a shared host) weighs on both alike.
    runs = {name: [] for name in emulators}
    for _ in range(a.runs):
        for name, argv in emulators.items():
            runs[name].append(run_once(argv))
    best = {name: {k: min(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    print(f"{'phase':<10}{'mimic s':>10}{'qemu s':>10}{'speed ratio':>14}")
    for k in ("init", "seq-md5", "sha256", "total"):
        m, q = best["mimic"][k], best["qemu"][k]
        print(f"{k:<10}{m:>10.2f}{q:>10.2f}{q / m:>13.2f}x")
    print("speed ratio = QEMU time / Mimic time (target for the virt issue: 2x on init and the workload)")


if __name__ == "__main__":
    main()
