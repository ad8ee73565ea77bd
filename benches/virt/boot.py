#!/usr/bin/env python3
"""Boot-and-workload benchmark for `-M virt`: Debian's riscv64 kernel + BusyBox initramfs under
Mimic and qemu-system-riscv64 in the same run, same kernel, initramfs and command line.

Measured from the host, by timestamping lines the guest prints:
  init      process start -> "mimic-guest: init reached"
  seq-md5   `seq 1 200000 | md5sum`
  sha256    sha256 of 32 MiB (`dd if=/dev/zero bs=1M count=32 | sha256sum`; the result matches the host)
  workload  both commands, from before the first to after the second
  total     process start -> exit (poweroff)
The runs alternate between the two emulators. Prints, for each, the best of --runs runs and the
median, and the speed ratio of each (QEMU time / Mimic time: above 1 means Mimic is faster). The
median is there because shared hosts vary: the same binary's boot can vary by a third between
runs, and the best run only says what the emulator does when the host is at its quietest.

--phases boots without `quiet` and splits the boot to init where the kernel's clock says:
  to kernel   process start -> the kernel's clock starts (firmware, early kernel set-up)
  kernel      the kernel's clock start -> "Run /init" (initcalls, crypto self-tests, ...)
  /init       "Run /init" -> init reached (BusyBox, loading the virtio modules)
The kernel's log then goes to the console as well, which costs both emulators a little.

Usage: benches/virt/boot.py [--runs N] [--phases] [--guest DIR] [--mimic PATH]
(run scripts/fetch-riscv-guest.sh and `cargo build --release` first)."""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CMD = ("echo BENCH-A; seq 1 200000 | md5sum; echo BENCH-B; "
       "dd if=/dev/zero bs=1M count=32 2>/dev/null | sha256sum; echo BENCH-C")
MARKS = {"mimic-guest: init reached": "init", "BENCH-A": "a", "BENCH-B": "b", "BENCH-C": "c"}
# The kernel's line when it starts init, with its own clock: "[    1.234567] Run /init as init process".
RUN_INIT = re.compile(r"\[\s*(\d+\.\d+)\] Run /init as init process")


def run_once(argv):
    t0 = time.monotonic()
    seen = {}
    out = []
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for raw in p.stdout:
        now = time.monotonic() - t0
        line = raw.decode(errors="replace").strip()
        out.append(line)
        for mark, key in MARKS.items():
            if line.endswith(mark) and key not in seen:
                seen[key] = now
        m = RUN_INIT.search(line)
        if m and "run-init" not in seen:
            seen["run-init"], seen["run-init-clock"] = now, float(m.group(1))
    p.wait()
    total = time.monotonic() - t0
    if not set(MARKS.values()) <= set(seen):
        sys.exit(f"{argv[0]}: the guest did not print every marker (got {sorted(seen)}); last output:\n"
                 + "\n".join(out[-15:]))
    r = {"init": seen["init"], "seq-md5": seen["b"] - seen["a"], "sha256": seen["c"] - seen["b"],
         "workload": seen["c"] - seen["a"], "total": total}
    if "run-init" in seen:
        clock_start = seen["run-init"] - seen["run-init-clock"]
        r.update({"to kernel": clock_start, "kernel": seen["run-init-clock"],
                  "/init": seen["init"] - seen["run-init"]})
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--phases", action="store_true", help="boot without quiet and split the boot to init")
    ap.add_argument("--guest", default=os.path.join(TOP, "guests", "riscv64"))
    ap.add_argument("--mimic", default=os.path.join(TOP, "target", "release", "mimic"))
    a = ap.parse_args()
    quiet = "" if a.phases else " quiet"
    common = ["-M", "virt", "-m", "512M", "-nographic", "-no-reboot",
              "-kernel", os.path.join(a.guest, "vmlinux"), "-initrd", os.path.join(a.guest, "initramfs.cpio.gz"),
              "-append", f'console=ttyS0{quiet} mimic.cmd="{CMD}"']
    emulators = {"mimic": [a.mimic] + common, "qemu": ["qemu-system-riscv64"] + common}
    # Runs alternate between the emulators, so a host that speeds up or slows down during the
    # benchmark (page reclaim, neighbours on a shared host) weighs on both alike.
    runs = {name: [] for name in emulators}
    for _ in range(a.runs):
        for name, argv in emulators.items():
            runs[name].append(run_once(argv))
    keys = ["init", "seq-md5", "sha256", "workload", "total"]
    if a.phases:
        if any("kernel" not in r for rs in runs.values() for r in rs):
            sys.exit("--phases: the kernel did not print its 'Run /init' line")
        keys[1:1] = ["to kernel", "kernel", "/init"]
    best = {name: {k: min(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    print(f"{'':<12}{'best of ' + str(a.runs):^30}{'median':^30}")
    print(f"{'phase':<12}" + f"{'mimic s':>10}{'qemu s':>10}{'ratio':>10}" * 2)
    for k in keys:
        row = f"{k:<12}"
        for stat in (best, med):
            m, q = stat["mimic"][k], stat["qemu"][k]
            row += f"{m:>10.2f}{q:>10.2f}{q / m:>9.2f}x"
        print(row)
    print("ratio = QEMU time / Mimic time (target for the virt issue: 2x on init and the workload)")


if __name__ == "__main__":
    main()
