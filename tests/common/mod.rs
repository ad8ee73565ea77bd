//! Shared helpers for the root package's system tests: locating the RISC-V test sources,
//! assembling them with the cross toolchain, and running an emulator with a hard timeout.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const CROSS_GCC: &str = "riscv64-unknown-elf-gcc";
pub const QEMU: &str = "qemu-system-riscv64";
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn riscv_dir() -> PathBuf {
    repo_root().join("tests/riscv")
}

/// All tests/riscv/*.S, sorted so reports are stable.
pub fn riscv_sources() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(riscv_dir())
        .expect("tests/riscv missing")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "S"))
        .collect();
    v.sort();
    v
}

pub fn have_tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Panics with an actionable message: a silently skipped ISA suite would hide regressions.
pub fn require_cross_gcc() {
    if !have_tool(CROSS_GCC) {
        panic!(
            "{CROSS_GCC} not found: install gcc-riscv64-unknown-elf (and \
             picolibc-riscv64-unknown-elf); .ci/run does this on Debian"
        );
    }
}

/// Assemble one test into `out_dir`; Err carries the assembler's output.
pub fn assemble(src: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let elf = out_dir.join(src.file_stem().unwrap()).with_extension("elf");
    let inc = riscv_dir().join("include");
    let out = Command::new(CROSS_GCC)
        .args(["-march=rv64gc_zba_zbb_zbs", "-mabi=lp64d", "-nostdlib", "-nostartfiles"])
        .arg("-T")
        .arg(inc.join("link.ld"))
        .arg("-I")
        .arg(&inc)
        .arg(src)
        .arg("-o")
        .arg(&elf)
        .output()
        .map_err(|e| format!("cannot run {CROSS_GCC}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(elf)
}

pub enum RunResult {
    Exited(ExitStatus, String),
    TimedOut(String),
}

/// Run `cmd` to completion or kill it after `timeout`; output is captured via temp files
/// so a chatty guest can't fill a pipe and stall.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration, log: &Path) -> std::io::Result<RunResult> {
    let f = std::fs::File::create(log)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f)
        .spawn()?;
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            return Ok(RunResult::Exited(st, out));
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let out = std::fs::read_to_string(log).unwrap_or_default();
            return Ok(RunResult::TimedOut(out));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The HTIF exit-code protocol of tests/riscv/include/test.h, in words.
pub fn describe_exit(code: i32) -> String {
    match code {
        0 => "pass".into(),
        1..=199 => format!("failed subtest #{code}"),
        200..=231 => format!("unexpected trap, mcause={}", code - 200),
        250 => "unexpected interrupt".into(),
        254 => "failed before any numbered subtest".into(),
        _ => format!("exit status {code} (not a test.h code: emulator error?)"),
    }
}

/// Print one test program's result and collect it as a failure unless it is listed in
/// `known_bad` (a reference emulator's documented bug): `(file name, why)` pairs.
pub fn record_verdict(which: &str, name: &str, verdict: Result<(), String>, known_bad: &[(&str, &str)], failures: &mut Vec<String>) {
    let known = known_bad.iter().find(|(f, _)| *f == name);
    match (verdict, known) {
        (Ok(()), None) => println!("{which}: {name}: ok"),
        (Ok(()), Some(_)) => println!("{which}: {name}: ok (listed as known-bad: remove from list?)"),
        (Err(e), Some((_, why))) => println!("{which}: {name}: FAILED as expected ({why}): {e}"),
        (Err(e), None) => {
            println!("{which}: {name}: FAILED: {e}");
            failures.push(format!("{name}: {}", e.lines().next().unwrap_or("")));
        }
    }
}
