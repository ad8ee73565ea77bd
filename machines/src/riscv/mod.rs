//! RISC-V boards, and what they share: the device tree generator and the TCG glue.

pub mod fdt;
pub mod spike;
pub mod virt;

use mimic_accel::tcg::{LogMask, TcgStats, TcgVcpu};
use mimic_accel::Vcpu;
use mimic_frontend::riscv64::translate::RiscvFrontend;
use mimic_frontend::riscv64::RiscvCpu;

use crate::{AccelKind, LogItems, MachineConfig, MachineError, RunOutcome};

pub(crate) type RiscvVcpu = TcgVcpu<RiscvCpu, RiscvFrontend>;

/// What every RISC-V board requires of the command line: TCG, at most `max_harts` harts, an rv64
/// CPU model.
pub(crate) fn check_tcg_config(machine: &'static str, config: &MachineConfig, max_harts: u32) -> Result<(), MachineError> {
    if config.accel == AccelKind::Kvm {
        return Err(MachineError::Unsupported { machine, reason: "a RISC-V board needs -accel tcg on this host".into() });
    }
    if config.smp == 0 || config.smp > max_harts {
        return Err(MachineError::Unsupported { machine, reason: format!("-smp {}: this board has 1 to {max_harts} harts", config.smp) });
    }
    if let Some(cpu) = config.cpu.as_deref().filter(|c| !matches!(*c, "rv64" | "any" | "max")) {
        return Err(MachineError::Unsupported { machine, reason: format!("unknown -cpu '{cpu}' (rv64, max)") });
    }
    Ok(())
}

/// Run a board's harts until the machine powers off or resets, printing statistics if asked.
pub(crate) fn run_tcg(vcpu: &mut RiscvVcpu, stats: bool) -> Result<RunOutcome, MachineError> {
    let exit = vcpu.run();
    if stats {
        eprintln!("mimic-stats: {}", format_stats(&vcpu.stats()));
    }
    Ok(exit?.into())
}

pub(crate) fn log_mask(items: &LogItems) -> LogMask {
    LogMask { in_asm: items.in_asm, op: items.op, out_asm: items.out_asm, int: items.int, exec: items.exec, cpu: items.cpu }
}

/// One line of accelerator statistics for `MIMIC_STATS=1` (read by the benchmark script).
pub(crate) fn format_stats(s: &TcgStats) -> String {
    format!(
        "blocks_translated={} interp_execs={} compiled_blocks={} baseline_blocks={} optimized_blocks={} region_members={} retranslated={} compile_ns={} chains={} loop_iterations={} lookups={} lookup_hits={} itc_fills={} code_flushes={} smc_invalidations={} exceptions={} interrupts={} hart_switches={}",
        s.blocks_translated, s.interp_execs, s.compiled_blocks, s.baseline_blocks, s.optimized_blocks, s.region_members, s.retranslated, s.compile_ns, s.chains_made, s.loop_iterations, s.lookups, s.lookup_hits, s.itc_fills, s.code_flushes, s.smc_invalidations, s.exceptions, s.interrupts, s.hart_switches
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_refuse_kvm_too_many_harts_and_foreign_cpus() {
        let ok = MachineConfig::new("virt");
        check_tcg_config("virt", &ok, 1).unwrap();
        let mut c = MachineConfig::new("virt");
        c.accel = AccelKind::Kvm;
        assert!(check_tcg_config("virt", &c, 8).is_err());
        let mut c = MachineConfig::new("virt");
        c.smp = 2;
        assert!(check_tcg_config("spike", &c, 1).is_err());
        check_tcg_config("virt", &c, 8).unwrap();
        c.smp = 9;
        assert!(check_tcg_config("virt", &c, 8).is_err());
        c.smp = 0;
        assert!(check_tcg_config("virt", &c, 8).is_err());
        let mut c = MachineConfig::new("virt");
        c.cpu = Some("pentium".into());
        assert!(check_tcg_config("virt", &c, 1).is_err());
        c.cpu = Some("max".into());
        check_tcg_config("virt", &c, 1).unwrap();
    }
}
