//! Command-line parsing (QEMU's option names and value syntax) and the top-level run loop.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use mimic_hw::chardev::SharedWriter;
use mimic_machines::{AccelKind, Bios, DeviceSpec, DriveSpec, LogItems, MachineConfig, RunOutcome, MACHINES};

const ABOUT: &str = "Mimic: a full-system emulator.

Accelerators:
  -accel tcg   translated guest code (Cranelift JIT). For development and test suites:
               TCG mode is NOT a security boundary. Do not run untrusted guests with it.
  -accel kvm   hardware virtualization (x86-64 guests): the supported, isolated use case.";

/// Options, named as in QEMU. Long options are accepted with one dash (QEMU style) or two.
#[derive(Parser, Debug)]
#[command(name = "mimic", about = ABOUT, disable_version_flag = true, disable_help_flag = true)]
struct Args {
    /// Machine type and properties: NAME[,dumpdtb=FILE] (`-machine help` lists machines)
    #[arg(short = 'M', long = "machine", value_name = "NAME[,prop=value]")]
    machine: Option<String>,
    /// Guest RAM size: N[KMGT] (MiB without suffix)
    #[arg(short = 'm', value_name = "SIZE")]
    memory: Option<String>,
    /// Number of harts/vCPUs
    #[arg(long = "smp", value_name = "N")]
    smp: Option<String>,
    /// CPU model
    #[arg(long = "cpu", value_name = "MODEL")]
    cpu: Option<String>,
    /// Firmware: a file, or `none`
    #[arg(long = "bios", value_name = "FILE")]
    bios: Option<String>,
    /// Kernel image (ELF or flat binary)
    #[arg(long = "kernel", value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Initial ramdisk
    #[arg(long = "initrd", value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Kernel command line
    #[arg(long = "append", value_name = "CMDLINE")]
    append: Option<String>,
    /// No graphical output: the guest console is on stdio
    #[arg(long = "nographic")]
    nographic: bool,
    /// Accelerator: tcg or kvm
    #[arg(long = "accel", value_name = "tcg|kvm")]
    accel: Option<String>,
    /// Same as -accel kvm
    #[arg(long = "enable-kvm")]
    enable_kvm: bool,
    /// Exit instead of rebooting when the guest resets
    #[arg(long = "no-reboot")]
    no_reboot: bool,
    /// Disk: file=PATH,format=raw,if=virtio[,readonly=on] (repeatable)
    #[arg(long = "drive", value_name = "OPTIONS")]
    drive: Vec<String>,
    /// Device: virtio-rng-device, isa-debug-exit[,iobase=N,iosize=N] (repeatable)
    #[arg(long = "device", value_name = "NAME[,props]")]
    device: Vec<String>,
    /// Guest serial port backend: stdio, file:PATH, unix:PATH[,server]
    #[arg(long = "serial", value_name = "BACKEND")]
    serial: Option<String>,
    /// Log items, comma separated: in_asm,op,out_asm,int,exec,cpu,guest_errors (`-d help`)
    #[arg(short = 'd', value_name = "ITEMS")]
    debug: Option<String>,
    /// Write the -d log to FILE instead of stderr
    #[arg(short = 'D', value_name = "FILE")]
    logfile: Option<PathBuf>,
    /// Print version
    #[arg(long = "version")]
    version: bool,
    /// Print this help
    #[arg(short = 'h', long = "help")]
    help: bool,
}

/// Options QEMU spells with a single dash that clap needs as `--name`.
const LONG_OPTIONS: &[&str] = &[
    "machine", "smp", "cpu", "bios", "kernel", "initrd", "append", "nographic", "accel", "enable-kvm", "no-reboot",
    "version", "help", "drive", "device", "serial",
];

/// Rewrite `-kernel` to `--kernel` (and `-kernel=x` to `--kernel=x`) for known long options; values
/// are never touched because they follow their option as separate arguments.
pub fn normalize(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut expect_value = false;
    for (i, a) in args.into_iter().enumerate() {
        let s = a.to_string_lossy().into_owned();
        if i == 0 || expect_value {
            expect_value = false;
            out.push(a);
            continue;
        }
        let name = s.strip_prefix('-').filter(|r| !r.starts_with('-')).map(|r| r.split('=').next().unwrap_or(r));
        match name {
            Some(n) if LONG_OPTIONS.contains(&n) => {
                out.push(OsString::from(format!("-{s}")));
                expect_value = !s.contains('=') && !matches!(n, "nographic" | "enable-kvm" | "no-reboot" | "version" | "help");
            }
            _ => {
                // Single-letter options with a separate value (-M virt, -m 256, -d int, -D f).
                expect_value = matches!(s.as_str(), "-M" | "-m" | "-d" | "-D");
                out.push(a);
            }
        }
    }
    out
}

pub enum Action {
    Exit(u8),
    Run(Box<RunConfig>),
}

pub struct RunConfig {
    config: MachineConfig,
    log_level: log::LevelFilter,
}

const LOG_ITEMS: &[(&str, &str)] = &[
    ("in_asm", "guest code of each translated block"),
    ("op", "Mimic IR of each translated block"),
    ("out_asm", "host code generated for each compiled block"),
    ("int", "exceptions and interrupts taken"),
    ("exec", "each block executed"),
    ("cpu", "guest registers before each block"),
    ("guest_errors", "guest misuse of devices and memory"),
];

fn parse_log_items(spec: &str) -> Result<Option<LogItems>, String> {
    let mut items = LogItems::default();
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        match item {
            "in_asm" => items.in_asm = true,
            "op" => items.op = true,
            "out_asm" => items.out_asm = true,
            "int" => items.int = true,
            "exec" => items.exec = true,
            "cpu" => items.cpu = true,
            "guest_errors" => items.guest_errors = true,
            "help" => {
                println!("Log items (comma separated):");
                for (n, d) in LOG_ITEMS {
                    println!("{n:<14}{d}");
                }
                return Ok(None);
            }
            other => return Err(format!("-d: unknown log item '{other}' (-d help lists them)")),
        }
    }
    Ok(Some(items))
}

/// QEMU's size syntax: a number with an optional K/M/G/T suffix; plain numbers are MiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let err = || format!("-m: invalid size '{s}' (examples: 256, 512M, 2G)");
    let s = s.trim().strip_prefix("size=").unwrap_or(s.trim());
    let (digits, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(err()),
            };
            (&s[..i], shift)
        }
        _ => (s, 20),
    };
    let n: u64 = digits.parse().map_err(|_| err())?;
    let bytes = n.checked_shl(shift).filter(|b| b >> shift == n && *b > 0).ok_or_else(err)?;
    Ok(bytes)
}

/// `-drive file=PATH,format=raw,if=virtio[,readonly=on]`: only what Mimic implements is accepted.
fn parse_drive(spec: &str) -> Result<DriveSpec, String> {
    let mut path = None;
    let mut read_only = false;
    for kv in spec.split(',') {
        match kv.split_once('=') {
            Some(("file", p)) if !p.is_empty() => path = Some(PathBuf::from(p)),
            Some(("format", "raw")) | Some(("if", "virtio")) | Some(("media", "disk")) => {}
            Some(("format", f)) => return Err(format!("-drive: format '{f}' is not supported (raw only)")),
            Some(("if", i)) => return Err(format!("-drive: if={i} is not supported (virtio only)")),
            Some(("readonly", "on" | "true")) => read_only = true,
            Some(("readonly", "off" | "false")) => read_only = false,
            _ => return Err(format!("-drive: unknown option '{kv}'")),
        }
    }
    let path = path.ok_or("-drive: file=PATH is required")?;
    std::fs::metadata(&path).map_err(|e| format!("-drive: cannot open '{}': {e}", path.display()))?;
    Ok(DriveSpec { path, read_only })
}

fn parse_device(spec: &str) -> Result<DeviceSpec, String> {
    let mut parts = spec.split(',');
    match parts.next().unwrap_or("") {
        "virtio-rng-device" | "virtio-rng" => Ok(DeviceSpec::VirtioRng),
        "virtio-serial-device" | "virtio-serial" => Ok(DeviceSpec::VirtioConsole),
        "isa-debug-exit" => {
            // QEMU's defaults.
            let (mut iobase, mut iosize) = (0x501u16, 2u16);
            for kv in parts {
                let num = |v: &str| {
                    let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                        Some(h) => u16::from_str_radix(h, 16),
                        None => v.parse(),
                    };
                    r.map_err(|_| format!("-device isa-debug-exit: bad number '{v}' in '{kv}'"))
                };
                match kv.split_once('=') {
                    Some(("iobase", v)) => iobase = num(v)?,
                    Some(("iosize", v)) => iosize = num(v)?,
                    _ => return Err(format!("-device isa-debug-exit: unknown option '{kv}' (iobase=, iosize=)")),
                }
            }
            if !(1..=4).contains(&iosize) {
                return Err(format!("-device isa-debug-exit: iosize {iosize} is out of range (1..=4)"));
            }
            Ok(DeviceSpec::IsaDebugExit { iobase, iosize })
        }
        other => Err(format!("-device: unknown or unsupported device '{other}' (supported: virtio-rng-device, isa-debug-exit)")),
    }
}

/// `-serial stdio|file:PATH|unix:PATH`: where the guest's first serial port writes.
fn open_serial(spec: &str) -> Result<Box<dyn Write + Send>, String> {
    if spec == "stdio" || spec == "mon:stdio" {
        return Ok(Box::new(std::io::stdout()));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        let f = File::create(path).map_err(|e| format!("-serial: cannot create '{path}': {e}"))?;
        return Ok(Box::new(f));
    }
    if let Some(rest) = spec.strip_prefix("unix:") {
        let path = rest.split(',').next().unwrap_or("");
        let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| format!("-serial: cannot connect to '{path}': {e}"))?;
        return Ok(Box::new(s));
    }
    if spec == "null" || spec == "none" {
        return Ok(Box::new(std::io::sink()));
    }
    Err(format!("-serial: unsupported backend '{spec}' (stdio, file:PATH, unix:PATH, null)"))
}

pub fn parse(raw: Vec<OsString>) -> Result<Action, String> {
    let args = match Args::try_parse_from(normalize(raw)) {
        Ok(a) => a,
        Err(e) => {
            // clap's messages span several lines; keep the first (the actual complaint).
            let msg = e.to_string();
            let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            return Err(first.trim_start_matches("error: ").to_string());
        }
    };
    if args.help {
        let mut cmd = <Args as clap::CommandFactory>::command();
        let help = cmd.render_help().to_string().replace("\n      --", "\n      -").replace("\n  --", "\n  -");
        println!("{help}");
        return Ok(Action::Exit(0));
    }
    if args.version {
        println!("Mimic emulator version {}", env!("CARGO_PKG_VERSION"));
        return Ok(Action::Exit(0));
    }
    let machine_spec = args.machine.clone().unwrap_or_default();
    let mut parts = machine_spec.split(',');
    let machine = parts.next().unwrap_or("").to_string();
    if machine == "help" {
        println!("Supported machines are:");
        for (n, d) in MACHINES {
            println!("{n:<20}{d}");
        }
        return Ok(Action::Exit(0));
    }
    if machine.is_empty() {
        return Err("no machine given: use -M NAME (-M help lists them)".into());
    }
    let mut config = MachineConfig::new(&machine);
    for prop in parts {
        match prop.split_once('=') {
            Some(("dumpdtb", file)) if !file.is_empty() => config.dumpdtb = Some(PathBuf::from(file)),
            _ => return Err(format!("-machine: unknown property '{prop}'")),
        }
    }
    if let Some(m) = &args.memory {
        config.memory = Some(parse_size(m)?);
    }
    if let Some(smp) = &args.smp {
        let n = smp.split(',').next().unwrap_or("").trim_start_matches("cpus=");
        config.smp = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| format!("-smp: invalid count '{smp}'"))?;
    }
    config.cpu = args.cpu.clone();
    config.bios = match args.bios.as_deref() {
        None => Bios::Default,
        Some("none") => Bios::None,
        Some(p) => Bios::Path(PathBuf::from(p)),
    };
    config.kernel = args.kernel.clone();
    config.initrd = args.initrd.clone();
    config.append = args.append.clone();
    config.no_reboot = args.no_reboot;
    for d in &args.drive {
        config.drives.push(parse_drive(d)?);
    }
    for d in &args.device {
        config.devices.push(parse_device(d)?);
    }
    if let Some(s) = &args.serial {
        config.console = SharedWriter::new(open_serial(s)?);
    }
    config.accel = match (args.accel.as_deref().map(|a| a.split(',').next().unwrap_or("")), args.enable_kvm) {
        (None | Some("tcg"), false) => AccelKind::Tcg,
        (None | Some("kvm"), true) | (Some("kvm"), false) => AccelKind::Kvm,
        (Some("tcg"), true) => return Err("-accel tcg conflicts with -enable-kvm".into()),
        (Some(other), _) => return Err(format!("-accel: unknown accelerator '{other}' (tcg, kvm)")),
    };
    let mut log_level = log::LevelFilter::Error;
    if let Some(d) = &args.debug {
        match parse_log_items(d)? {
            None => return Ok(Action::Exit(0)),
            Some(items) => {
                if items.guest_errors {
                    log_level = log::LevelFilter::Warn;
                }
                config.log = items;
            }
        }
    }
    if let Some(path) = &args.logfile {
        let f = File::create(path).map_err(|e| format!("-D: cannot create '{}': {e}", path.display()))?;
        config.log_sink = SharedWriter::new(Box::new(f));
    }
    config.stats = std::env::var_os("MIMIC_STATS").is_some_and(|v| v == "1");
    // Without -nographic Mimic has no display either: the console is on stdio in both cases.
    let _ = args.nographic;
    Ok(Action::Run(Box::new(RunConfig { config, log_level })))
}

/// `log` output goes to stderr (RUST_LOG overrides the level chosen by `-d guest_errors`).
pub fn init_logging(run: &RunConfig) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(run.log_level).format(|buf, rec| writeln!(buf, "mimic: {}: {}", rec.level().as_str().to_lowercase(), rec.args()));
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let _ = builder.try_init();
}

/// Build and run the machine; resets rebuild it unless `-no-reboot`. Returns the exit status.
pub fn run(run: Box<RunConfig>) -> Result<u8, String> {
    let mut config = run.config;
    // The guest console is stdio: raw mode with QEMU's escape keys when stdin is a terminal.
    let raw = crate::console::enter_raw_mode();
    let _guard = crate::console::RawModeGuard;
    let input = crate::console::spawn_stdin_reader(raw);
    config.console_input = Some(std::sync::Arc::new(std::sync::Mutex::new(input)));
    loop {
        let mut machine = mimic_machines::create(config.clone()).map_err(|e| e.to_string())?;
        if let Some(path) = &config.dumpdtb {
            // QEMU's behaviour: the tree is written while the board is built, then the process
            // exits without running the guest.
            eprintln!("mimic: dtb dumped to {}. Exiting.", path.display());
            return Ok(0);
        }
        let status = match machine.run().map_err(|e| e.to_string())? {
            RunOutcome::Exit(code) => (code & 0xff) as u8,
            RunOutcome::Reset if config.no_reboot => 0,
            RunOutcome::Reset => continue,
        };
        // The process ends now: leave the machine to the OS instead of freeing it piece by
        // piece. A Linux boot leaves tens of thousands of translated blocks, whose frees took
        // ~25 ms after the guest had powered off (QEMU does not free its TBs at exit either).
        // Nothing in a machine needs its destructor to keep data: devices flush every write to
        // their files and sockets, and the terminal is restored by `_guard`, which still drops.
        std::mem::forget(machine);
        return Ok(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn normalizes_qemu_spelling_without_touching_values() {
        let n = normalize(os(&["mimic", "-M", "spike", "-kernel", "-weird-name", "-nographic", "-bios", "none", "-append", "-machine"]));
        assert_eq!(n, os(&["mimic", "-M", "spike", "--kernel", "-weird-name", "--nographic", "--bios", "none", "--append", "-machine"]));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256").unwrap(), 256 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn devices() {
        assert_eq!(parse_device("virtio-rng-device"), Ok(DeviceSpec::VirtioRng));
        assert_eq!(parse_device("isa-debug-exit,iobase=0xf4,iosize=0x04"), Ok(DeviceSpec::IsaDebugExit { iobase: 0xf4, iosize: 4 }));
        assert_eq!(parse_device("isa-debug-exit"), Ok(DeviceSpec::IsaDebugExit { iobase: 0x501, iosize: 2 }));
        assert_eq!(parse_device("isa-debug-exit,iobase=500"), Ok(DeviceSpec::IsaDebugExit { iobase: 500, iosize: 2 }));
        assert!(parse_device("isa-debug-exit,iosize=8").is_err());
        assert!(parse_device("isa-debug-exit,iobase=0x10000").is_err());
        assert!(parse_device("isa-debug-exit,frob=1").is_err());
        assert!(parse_device("e1000").is_err());
    }

    #[test]
    fn errors_are_single_lines() {
        for bad in [&["mimic", "-M", "spike", "-frobnicate"][..], &["mimic", "-M", "spike", "-accel", "hvf"], &["mimic", "-M", "spike", "-d", "nonsense"], &["mimic"]] {
            let e = parse(os(bad)).err().expect("must fail");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
