//! Bare-metal device tests for `-M virt` (tests/virt/*.S): each program runs in M-mode from
//! `-bios none -kernel x.elf`, exercises one device of QEMU's riscv virt memory map (UART,
//! PLIC, CLINT, goldfish RTC, virtio-mmio slots) and exits through the sifive_test finisher:
//! status 0 = pass, else the number of the failing subtest (see tests/virt/virt.h and the
//! header comment of each .S file). Every program must also print its expected lines on the
//! UART; virt_uart.S additionally reads "ping\n" from the emulator's stdin (sent once it has
//! printed its prompt) and echoes it.
//! The same ELFs run on qemu-system-riscv64 when installed, which proves the tests right.

mod common;

use common::{have_tool, record_verdict, require_cross_gcc, CROSS_GCC, QEMU, RUN_TIMEOUT};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Console input: (program, prompt, text) = once the program has printed `prompt` on stdout,
/// the host writes `text` to the emulator's stdin. Sending only on the prompt keeps the input
/// from racing the programs' PLIC checks (on QEMU 7.2 any UART event re-raises source 10,
/// and its PLIC latches a source raised while claimed). Every other program gets an empty
/// stdin pipe that stays open until it exits.
const CONSOLE_INPUT: &[(&str, &str, &[u8])] = &[("virt_uart.S", "virt_uart: echo: ", b"ping\n")];

/// Lines each program must print on the UART (stdout), besides exiting with status 0.
const EXPECTED_OUTPUT: &[(&str, &[&str])] = &[
    (
        "virt_uart.S",
        &["virt_uart: polled tx ok\n", "virt_uart: thre irq ok\n", "virt_uart: echo: ping\n", "virt_uart: rx irq ok\n"],
    ),
    ("virt_plic.S", &["virt_plic: ok\n"]),
    ("virt_plic_enable.S", &["virt_plic_enable: ok\n"]),
    ("virt_timer.S", &["virt_timer: ok\n"]),
    ("virt_rtc.S", &["virt_rtc: ok\n"]),
    ("virt_virtio_probe.S", &["virt_virtio_probe: 8 empty slots\n"]),
    ("virt_smp.S", &["virt_smp: ok\n"]),
];

/// Tests QEMU 7.2 is known to get wrong (the tests are right per the PLIC spec); the QEMU
/// cross-check tolerates failure only for these, Mimic must pass them.
const QEMU_KNOWN_BAD: &[(&str, &str)] = &[(
    "virt_plic_enable.S",
    "QEMU 7.2 sifive_plic stores enable-register writes without re-evaluating MEIP (fails subtest 2, or 3 if a UART event re-raised source 10 meanwhile)",
)];

const EMU_ARGS: &[&str] = &["-M", "virt", "-bios", "none", "-nographic"];

/// Programs that need more than the default machine.
const EXTRA_ARGS: &[(&str, &[&str])] = &[("virt_smp.S", &["-smp", "4"])];

fn virt_dir() -> PathBuf {
    common::repo_root().join("tests/virt")
}

fn virt_sources() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(virt_dir())
        .expect("tests/virt missing")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "S"))
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn assemble(src: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let elf = out_dir.join(src.file_stem().unwrap()).with_extension("elf");
    let dir = virt_dir();
    let out = Command::new(CROSS_GCC)
        .args(["-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles", "-Wl,--no-warn-rwx-segments"])
        .arg("-T")
        .arg(dir.join("link.ld"))
        .arg("-I")
        .arg(&dir)
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

enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

/// Run the emulator with stdin on a pipe that stays open until it exits (EOF on the console
/// is not part of the test), stdout/stderr to files; `input` = (prompt, text) is written to
/// stdin once stdout contains the prompt. Killed after RUN_TIMEOUT.
fn run(
    emulator: &str,
    elf: &Path,
    log_base: &Path,
    extra_args: &[&str],
    input: Option<(&str, &[u8])>,
) -> std::io::Result<(Outcome, String, String)> {
    let out_path = log_base.with_extension("stdout");
    let err_path = log_base.with_extension("stderr");
    let mut child = Command::new(emulator)
        .args(EMU_ARGS)
        .args(extra_args)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()?;
    let mut stdin = child.stdin.take();
    let mut pending_input = input;
    let start = Instant::now();
    let outcome = loop {
        if let Some((prompt, text)) = pending_input {
            if std::fs::read_to_string(&out_path).unwrap_or_default().contains(prompt) {
                if let Some(s) = stdin.as_mut() {
                    // An emulator that already gave up on its console: the verdict will say so.
                    let _ = s.write_all(text);
                    let _ = s.flush();
                }
                pending_input = None;
            }
        }
        if let Some(st) = child.try_wait()? {
            break Outcome::Exited(st);
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break Outcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(stdin);
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    Ok((outcome, out, err))
}

/// The finisher exit-code protocol of tests/virt/virt.h, in words.
fn describe_exit(code: i32) -> String {
    match code {
        0 => "pass".into(),
        1..=199 => format!("failed subtest #{code} (see the file's header comment)"),
        200..=231 => format!("unexpected trap, mcause={}", code - 200),
        250 => "unexpected interrupt".into(),
        251 => "the finisher's pass write did not stop the machine".into(),
        254 => "failed before any numbered subtest".into(),
        _ => format!("exit status {code} (not a virt.h code: emulator error?)"),
    }
}

/// Assemble and run every program on `emulator`; returns failure descriptions.
fn run_suite(emulator: &str, which: &str, known_bad: &[(&str, &str)]) -> Vec<String> {
    require_cross_gcc();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("virt_devices").join(which);
    let mut failures = Vec::new();
    for src in virt_sources() {
        let name = file_name(&src);
        let elf = match assemble(&src, &dir) {
            Ok(e) => e,
            Err(msg) => {
                println!("{which}: {name}: ASSEMBLY FAILED\n{msg}");
                failures.push(format!("{name}: does not assemble"));
                continue;
            }
        };
        let expected: &[&str] = EXPECTED_OUTPUT.iter().find(|(f, _)| *f == name).map_or(&[], |(_, e)| e);
        let input = CONSOLE_INPUT.iter().find(|(f, _, _)| *f == name).map(|(_, p, t)| (*p, *t));
        let extra: &[&str] = EXTRA_ARGS.iter().find(|(f, _)| *f == name).map_or(&[], |(_, a)| a);
        let verdict = match run(emulator, &elf, &dir.join(&name), extra, input) {
            Err(e) => Err(format!("cannot start {emulator}: {e}")),
            Ok((Outcome::TimedOut, out, err)) => {
                Err(format!("timed out after {RUN_TIMEOUT:?}; stdout:\n{out}\nstderr:\n{err}"))
            }
            Ok((Outcome::Exited(st), out, err)) => match st.code() {
                Some(0) => {
                    let missing: Vec<&str> = expected.iter().copied().filter(|l| !out.contains(l)).collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("exit 0 but stdout lacks {missing:?}; stdout:\n{out}\nstderr:\n{err}"))
                    }
                }
                Some(c) => Err(format!("{}; stdout:\n{out}\nstderr:\n{err}", describe_exit(c))),
                None => Err(format!("killed by signal ({st}); stdout:\n{out}\nstderr:\n{err}")),
            },
        };
        record_verdict(which, &name, verdict, known_bad, &mut failures);
    }
    failures
}

#[test]
fn virt_suite_has_every_device() {
    let names: Vec<String> = virt_sources().iter().map(|p| file_name(p)).collect();
    for (f, _) in EXPECTED_OUTPUT {
        assert!(names.iter().any(|n| n == f), "tests/virt/{f} missing: {names:?}");
    }
    for n in &names {
        assert!(EXPECTED_OUTPUT.iter().any(|(f, _)| f == n), "tests/virt/{n} has no EXPECTED_OUTPUT entry");
    }
    assert!(virt_dir().join("virt.h").is_file());
    assert!(virt_dir().join("link.ld").is_file());
}

#[test]
fn virt_devices_on_mimic() {
    let failures = run_suite(env!("CARGO_BIN_EXE_mimic"), "mimic", &[]);
    assert!(
        failures.is_empty(),
        "{} virt device test(s) failed on mimic:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn virt_devices_on_qemu() {
    if !have_tool(QEMU) {
        println!("SKIPPED: {QEMU} not installed, the virt device tests are not cross-checked");
        eprintln!("SKIPPED: {QEMU} not installed, the virt device tests are not cross-checked");
        return;
    }
    let failures = run_suite(QEMU, "qemu", QEMU_KNOWN_BAD);
    assert!(
        failures.is_empty(),
        "{} virt device test(s) failed on QEMU (the test is wrong):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// `-machine dumpdtb=FILE` writes the board's device tree and exits with status 0 without
/// running the guest, as QEMU does (the "kernel" here is `j .`: a run would never end). The
/// same command line runs on QEMU when installed, which proves the expectation right. The tree
/// carries a random seed for the guest (`/chosen/rng-seed`), a new one each time, as QEMU's.
#[test]
fn dumpdtb_writes_the_tree_and_exits_without_running() {
    let dir = std::env::temp_dir().join(format!("mimic-dumpdtb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spin = dir.join("spin.bin");
    std::fs::write(&spin, 0x0000_006fu32.to_le_bytes()).unwrap();
    let mut emulators = vec![("mimic", env!("CARGO_BIN_EXE_mimic"))];
    if have_tool(QEMU) {
        emulators.push(("qemu", QEMU));
    }
    let mut mimic_trees = Vec::new();
    for (which, emulator) in emulators.iter().chain([&("mimic-again", env!("CARGO_BIN_EXE_mimic"))]) {
        let dtb = dir.join(format!("{which}.dtb"));
        let mut cmd = Command::new(emulator);
        cmd.arg("-M").arg(format!("virt,dumpdtb={}", dtb.display()));
        cmd.args(["-m", "256M", "-bios", "none", "-nographic", "-kernel"]).arg(&spin);
        let log = dir.join(format!("{which}.log"));
        match common::run_with_timeout(cmd, Duration::from_secs(20), &log).unwrap() {
            common::RunResult::Exited(st, out) => assert_eq!(st.code(), Some(0), "{which}: {out}"),
            common::RunResult::TimedOut(out) => panic!("{which} ran the guest instead of exiting after dumpdtb: {out}"),
        }
        let tree = std::fs::read(&dtb).unwrap();
        assert_eq!(tree.get(..4), Some(&[0xd0, 0x0d, 0xfe, 0xed][..]), "{which}: not a flattened device tree");
        assert!(tree.windows(12).any(|w| w == b"riscv-virtio"), "{which}: the tree names the board");
        assert!(tree.windows(9).any(|w| w == b"rng-seed\0"), "{which}: no /chosen/rng-seed");
        if which.starts_with("mimic") {
            mimic_trees.push(tree);
        }
    }
    // Same board, same command line: only the seed may differ, and it must.
    assert_eq!(mimic_trees[0].len(), mimic_trees[1].len());
    assert_ne!(mimic_trees[0], mimic_trees[1], "two boots got the same rng-seed");
    let _ = std::fs::remove_dir_all(&dir);
}
