//! The in-repo RISC-V instruction suite (tests/riscv/*.S): assembles every test at test time and
//! runs it bare metal on `mimic -M spike` (HTIF exit status 0 = pass, else the failing subtest
//! number), and on qemu-system-riscv64 when installed, which proves the suite itself is right.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tests QEMU 7.2 is known to get wrong (the tests are right per the ISA spec); the QEMU
/// cross-check tolerates failure only for these, Mimic must pass them.
const QEMU_KNOWN_BAD: &[(&str, &str)] = &[
    ("rv64zbb_ctzw.S", "QEMU 7.2 ctzw counts bits 63..32 when the low word is zero"),
    ("priv_misaligned.S", "QEMU 7.2 reports misaligned AMOs as cause 4 and does not trap a misaligned SC"),
    ("priv_sstc.S", "QEMU 7.2's spike has no time CSR (rdtime traps), so its stimecmp compares with nothing"),
];

fn out_dir(which: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("isa").join(which)
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Assemble and run every test with `emu_args` (before -kernel); returns failure descriptions.
fn run_suite(emulator: &str, emu_args: &[&str], which: &str, known_bad: &[(&str, &str)]) -> Vec<String> {
    require_cross_gcc();
    let dir = out_dir(which);
    let mut failures = Vec::new();
    for src in riscv_sources() {
        let name = file_name(&src);
        let elf = match assemble(&src, &dir) {
            Ok(e) => e,
            Err(msg) => {
                println!("{which}: {name}: ASSEMBLY FAILED\n{msg}");
                failures.push(format!("{name}: does not assemble"));
                continue;
            }
        };
        let mut cmd = Command::new(emulator);
        cmd.args(emu_args).arg("-kernel").arg(&elf);
        let log = dir.join(format!("{name}.log"));
        let verdict = match run_with_timeout(cmd, RUN_TIMEOUT, &log) {
            Err(e) => Err(format!("cannot start {emulator}: {e}")),
            Ok(RunResult::TimedOut(out)) => Err(format!("timed out after {RUN_TIMEOUT:?}; output:\n{out}")),
            Ok(RunResult::Exited(st, out)) => match st.code() {
                Some(0) => Ok(()),
                Some(c) => Err(format!("{}; output:\n{out}", describe_exit(c))),
                None => Err(format!("killed by signal ({st}); output:\n{out}")),
            },
        };
        record_verdict(which, &name, verdict, known_bad, &mut failures);
    }
    failures
}

#[test]
fn suite_has_every_extension_group() {
    let names: Vec<String> = riscv_sources().iter().map(|p| file_name(p)).collect();
    assert!(!names.is_empty(), "no tests/riscv/*.S found");
    for group in ["rv64i_", "rv64m_", "rv64a_", "rv64c_", "rv64zba", "rv64zbb", "rv64zbs"] {
        assert!(names.iter().any(|n| n.starts_with(group)), "no {group}*.S test in tests/riscv: {names:?}");
    }
    // the headers other people's tests depend on
    assert!(riscv_dir().join("include/test.h").is_file());
    assert!(riscv_dir().join("include/link.ld").is_file());
}

#[test]
fn isa_suite_on_mimic() {
    let failures = run_suite(
        env!("CARGO_BIN_EXE_mimic"),
        &["-M", "spike", "-bios", "none", "-nographic"],
        "mimic",
        &[],
    );
    assert!(failures.is_empty(), "{} ISA test file(s) failed on mimic:\n  {}", failures.len(), failures.join("\n  "));
}

#[test]
fn isa_suite_on_qemu() {
    if !have_tool(QEMU) {
        println!("SKIPPED: {QEMU} not installed, the suite itself is not cross-checked");
        eprintln!("SKIPPED: {QEMU} not installed, the suite itself is not cross-checked");
        return;
    }
    let failures = run_suite(QEMU, &["-M", "spike", "-bios", "none", "-nographic"], "qemu", QEMU_KNOWN_BAD);
    assert!(failures.is_empty(), "{} ISA test file(s) failed on QEMU (the test is wrong):\n  {}", failures.len(), failures.join("\n  "));
}

/// Code whose last instruction straddles into the next page is entered straight from other
/// compiled code, which checks only the first page: the entered code checks its second page
/// itself. In `priv_fetch.S` a loop whose back branch straddles runs two million times; it
/// returns to the run loop only when its budget period ends and where the test itself leaves
/// (without the check it returned after every baseline-compiled iteration, 48k times or more
/// before it was optimised). The same file checks that a remapped second page is seen.
#[test]
fn a_loop_over_a_page_boundary_stays_in_compiled_code() {
    require_cross_gcc();
    let dir = out_dir("stats");
    let elf = assemble(&riscv_dir().join("priv_fetch.S"), &dir).expect("priv_fetch.S assembles");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mimic"));
    cmd.args(["-M", "spike", "-bios", "none", "-nographic", "-kernel"]).arg(&elf).env("MIMIC_STATS", "1");
    let out = match run_with_timeout(cmd, RUN_TIMEOUT, &dir.join("priv_fetch.log")).expect("mimic starts") {
        RunResult::Exited(st, out) if st.success() => out,
        RunResult::Exited(st, out) => panic!("priv_fetch.S: {st}; output:\n{out}"),
        RunResult::TimedOut(out) => panic!("priv_fetch.S timed out; output:\n{out}"),
    };
    let iterations: u64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("loop_iterations="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no loop_iterations in the MIMIC_STATS line:\n{out}"));
    assert!(iterations < 10_000, "{iterations} run-loop iterations: the straddling loop is not chained");
}
