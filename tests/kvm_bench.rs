//! KVM benchmark (run by benches/kvm/run.sh; `#[ignore]`d so `cargo test` stays fast):
//! 1. the ring-3 compute kernel of roms/x86/compute.s in a KVM guest vs the same code native;
//! 2. VMM memory overhead: process RSS minus the resident guest RAM;
//! 3. time from starting to build the VM to the guest's first exit (its first instruction).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mimic_accel::kvm;
use mimic_machines::x86::microvm::{Microvm, MicrovmConfig};

fn roms() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("roms/x86")
}

fn sh(cmd: &mut Command) {
    let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed");
}

fn build(name: &str, iters: u64, native: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvm-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join(format!("{name}.o"));
    let elf = dir.join(format!("{name}.elf"));
    sh(Command::new("as").arg("--64").arg("-I").arg(roms()).arg("--defsym").arg(format!("ITERS={iters}")).arg("-o").arg(&obj).arg(roms().join(format!("{name}.s"))));
    if native {
        sh(Command::new("ld").arg("-static").arg("-o").arg(&elf).arg(&obj));
        return elf;
    }
    let bin = dir.join(format!("{name}.bin"));
    sh(Command::new("ld").arg("-Ttext=0x100000").arg("-o").arg(&elf).arg(&obj));
    sh(Command::new("objcopy").arg("-O").arg("binary").arg(&elf).arg(&bin));
    bin
}

type Capture = mimic_hw::chardev::BufferWriter;

fn cycles(out: &str) -> u64 {
    let hex = out.split("cycles ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_else(|| panic!("no cycles in {out:?}"));
    u64::from_str_radix(hex, 16).unwrap()
}

/// kB of resident memory in /proc/self/smaps mappings starting inside `ranges`, and VmRSS.
fn rss_kb(ranges: &[(usize, usize)]) -> (u64, u64) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut guest = 0;
    let mut in_guest = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((a, _)) = range.split_once('-') {
                if let Ok(start) = usize::from_str_radix(a, 16) {
                    in_guest = ranges.iter().any(|&(s, l)| start >= s && start < s + l);
                    continue;
                }
            }
        }
        if in_guest {
            if let Some(v) = line.strip_prefix("Rss:") {
                guest += v.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()).unwrap_or(0);
    (guest, rss)
}

#[test]
#[ignore = "benchmark: run benches/kvm/run.sh"]
fn kvm_bench() {
    if let Err(e) = kvm::available() {
        eprintln!("SKIP kvm_bench: {e}");
        return;
    }
    let iters: u64 = std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(300_000_000);

    // 3. Startup: a guest whose first instruction powers off (mov $0,%al; out %al,$0xf4).
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kvm-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("first.bin");
    std::fs::write(&first, [0xb0, 0x00, 0xe6, 0xf4]).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        let cfg = MicrovmConfig { memory: 128 << 20, ..MicrovmConfig::new(first.clone(), Box::new(std::io::sink())) };
        let mut vm = Microvm::new(cfg).unwrap();
        assert_eq!(vm.run().unwrap(), 1);
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
    }

    // 1 + 2. Compute kernel, guest vs native.
    let guest_bin = build("compute", iters, false);
    let native = build("native_compute", iters, true);
    let console = Capture::default();
    let cfg = MicrovmConfig::new(guest_bin, Box::new(console.clone()));
    let mut vm = Microvm::new(cfg).unwrap();
    let t0 = Instant::now();
    let code = vm.run_once().unwrap();
    let guest_wall = t0.elapsed().as_secs_f64();
    let (guest_kb, rss) = rss_kb(&vm.guest_ram_host_ranges());
    let guest_out = console.text();
    let t0 = Instant::now();
    let native_out = String::from_utf8(Command::new(&native).output().unwrap().stdout).unwrap();
    let native_wall = t0.elapsed().as_secs_f64();
    let (g, n) = (cycles(&guest_out), cycles(&native_out));
    println!("guest exit: {code:?}");
    println!("guest:  {}", guest_out.trim());
    println!("native: {}", native_out.trim());
    println!("compute ratio (native cycles / guest cycles): {:.4}  (target >= 0.98)", n as f64 / g as f64);
    println!("compute wall: guest run {guest_wall:.3} s (incl. VM entry), native process {native_wall:.3} s");
    println!("memory: RSS {} KiB, guest RAM resident {} KiB, VMM overhead {:.2} MiB (target <= 5 MiB; includes the test harness)", rss, guest_kb, (rss - guest_kb) as f64 / 1024.0);
    println!("startup: VM construction to first guest instruction's exit: {best:.2} ms best of 5 (target <= 10 ms)");
}
