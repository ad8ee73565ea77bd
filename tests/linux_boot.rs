//! Real-guest boot test: Debian stable's riscv64 kernel and a BusyBox initramfs on `-M virt`
//! (OpenSBI from Debian's `opensbi` package as firmware). The guest runs commands given on the
//! kernel command line (`mimic.cmd=`, see scripts/fetch-riscv-guest.sh) and powers off; the test
//! checks their output against the host and the exit status.
//!
//! The guest is fetched with scripts/fetch-riscv-guest.sh into guests/riscv64 when missing (or
//! taken from MIMIC_RISCV_GUEST). Run in release mode: a debug build boots far slower.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn guest_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MIMIC_RISCV_GUEST") {
        return PathBuf::from(dir);
    }
    let dir = repo_root().join("guests/riscv64");
    if !(dir.join("vmlinux").exists() && dir.join("initramfs.cpio.gz").exists()) {
        let st = Command::new("bash")
            .arg(repo_root().join("scripts/fetch-riscv-guest.sh"))
            .arg(&dir)
            .status()
            .expect("cannot run scripts/fetch-riscv-guest.sh");
        assert!(st.success(), "fetching the Debian riscv64 guest failed (network, or apt-get missing?)");
    }
    dir
}

fn host_sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn boot(extra: &[&str], cmd: &str, tag: &str) -> (i32, String) {
    let dir = guest_dir();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("linux-{tag}.log"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_mimic"));
    c.args(["-M", "virt", "-m", "512M", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(dir.join("vmlinux"))
        .arg("-initrd")
        .arg(dir.join("initramfs.cpio.gz"))
        .args(extra)
        .arg("-append")
        .arg(format!("console=ttyS0 quiet mimic.cmd=\"{cmd}\""));
    let start = Instant::now();
    match run_with_timeout(c, Duration::from_secs(300), &log).expect("run mimic") {
        RunResult::Exited(st, out) => {
            println!("{tag}: exited {:?} after {:.1} s", st.code(), start.elapsed().as_secs_f64());
            (st.code().unwrap_or(-1), out)
        }
        RunResult::TimedOut(out) => panic!("{tag}: Linux did not power off within 300 s; output:\n{out}"),
    }
}

#[test]
fn boots_debian_to_busybox_and_runs_commands() {
    let (code, out) = boot(
        &[],
        "uname -m | sed s/^/MARK-uname=/; seq 1 200000 | md5sum | sed s/^/MARK-md5=/; \
         dmesg | grep -E 'crng|sstc' | sed s/^/MARK-dmesg=/; sleep 1; echo MARK-slept",
        "cmds",
    );
    assert!(out.contains("mimic-guest: init reached"), "init not reached:\n{out}");
    assert!(out.contains("MARK-uname=riscv64"), "uname -m did not print riscv64:\n{out}");
    // The board's rng-seed is credited before the kernel's clock starts: without it the CRNG
    // would be ready only later, if at all before poweroff.
    assert!(
        out.lines().any(|l| l.contains("MARK-dmesg=[    0.000000] random: crng init done")),
        "the kernel's CRNG was not seeded at boot (no /chosen/rng-seed?):\n{out}"
    );
    // The hart has Sstc and says so in the device tree: Linux programs `stimecmp` itself instead
    // of asking OpenSBI for every timer event, and its timer still wakes the idle guest.
    assert!(
        out.lines().any(|l| l.contains("MARK-dmesg=") && l.contains("Timer interrupt in S-mode is available via sstc")),
        "Linux does not use Sstc:\n{out}"
    );
    assert!(out.contains("MARK-slept"), "sleep 1 did not return:\n{out}");
    let host_md5 = host_sh("seq 1 200000 | md5sum | cut -d' ' -f1");
    assert!(out.contains(&format!("MARK-md5={host_md5}")), "guest checksum differs from the host's {host_md5}:\n{out}");
    assert_eq!(code, 0, "poweroff must end Mimic with status 0:\n{out}");
}

#[test]
fn virtio_blk_rng_and_console_work() {
    let disk = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-disk.raw");
    // 1 MiB of deterministic, non-repeating data.
    let data: Vec<u8> = (0u32..1 << 18).flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()).collect();
    std::fs::write(&disk, &data).unwrap();
    let host_md5 = host_sh(&format!("md5sum < {} | cut -d' ' -f1", disk.display()));
    let drive = format!("file={},format=raw,if=virtio", disk.display());
    let (code, out) = boot(
        &["-drive", &drive, "-device", "virtio-rng-device", "-device", "virtio-serial-device"],
        "md5sum < /dev/vda | sed s/^/MARK-disk=/; cat /sys/class/misc/hw_random/rng_current | sed s/^/MARK-rng=/; echo MARK-hvc0 > /dev/hvc0",
        "disk",
    );
    assert!(out.contains(&format!("MARK-disk={host_md5}")), "disk checksum differs from the host's {host_md5}:\n{out}");
    assert!(out.contains("MARK-rng=virtio_rng"), "virtio-rng not bound:\n{out}");
    assert!(out.contains("MARK-hvc0"), "nothing written through the virtio console (/dev/hvc0):\n{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn smp_brings_up_every_hart_and_runs_work_on_each() {
    // Two checksums pinned to different harts at once: each hart runs user code, and the
    // kernel's spinlocks, IPIs and atomics hold up across harts.
    let (code, out) = boot(
        &["-smp", "3"],
        "nproc | sed s/^/MARK-nproc=/; \
         for c in 0 1 2; do (taskset -c $c sh -c 'seq 1 100000 | md5sum' | sed s/^/MARK-md5-$c=/) & done; wait",
        "smp",
    );
    assert!(out.contains("MARK-nproc=3"), "the guest does not see 3 harts:\n{out}");
    let host_md5 = host_sh("seq 1 100000 | md5sum | cut -d' ' -f1");
    for c in 0..3 {
        assert!(out.contains(&format!("MARK-md5-{c}={host_md5}")), "hart {c}'s checksum differs from the host's {host_md5}:\n{out}");
    }
    assert_eq!(code, 0, "poweroff must end Mimic with status 0:\n{out}");
}
