//! RISC-V boards, and what they share: the device tree generator and the TCG glue.

pub mod fdt;
pub mod spike;
pub mod virt;

use mimic_accel::tcg::{LogMask, TcgStats};

use crate::LogItems;

pub(crate) fn log_mask(items: &LogItems) -> LogMask {
    LogMask { in_asm: items.in_asm, op: items.op, out_asm: items.out_asm, int: items.int, exec: items.exec, cpu: items.cpu }
}

/// One line of accelerator statistics for `MIMIC_STATS=1` (read by the benchmark script).
pub(crate) fn format_stats(s: &TcgStats) -> String {
    format!(
        "blocks_translated={} interp_execs={} compiled_blocks={} compile_ns={} chains={} code_flushes={} smc_invalidations={} exceptions={} interrupts={}",
        s.blocks_translated, s.interp_execs, s.compiled_blocks, s.compile_ns, s.chains_made, s.code_flushes, s.smc_invalidations, s.exceptions, s.interrupts
    )
}
