//! Trap entry (exceptions and interrupts, with delegation to S-mode), interrupt selection, and the
//! trap-return instructions `mret`/`sret`.

use super::cpu::{RiscvCpu, PRV_M, PRV_S, PRV_U};
use super::csr::{irq, mpp, mstatus};
use super::translate::cause;

/// Interrupt cause codes in decreasing priority (MEI, MSI, MTI, SEI, SSI, STI).
const PRIORITY: [u64; 6] = [11, 3, 7, 9, 1, 5];

/// Enter the trap handler for `cause` (an interrupt number when `interrupt`), with `xepc` =
/// `env.pc`; afterwards `env.pc` is the handler address.
pub fn take_trap(cpu: &mut RiscvCpu, cause: u64, tval: u64, interrupt: bool) {
    let deleg = if interrupt { cpu.csr.mideleg } else { cpu.csr.medeleg };
    let to_s = cpu.priv_mode <= PRV_S && cause < 64 && (deleg >> cause) & 1 != 0;
    let xcause = cause | (interrupt as u64) << 63;
    let epc = cpu.env.pc;
    let prv = cpu.priv_mode as u64;
    let mut s = cpu.csr.mstatus;
    let tvec = if to_s {
        cpu.csr.scause = xcause;
        cpu.csr.sepc = epc;
        cpu.csr.stval = tval;
        s = set(s, mstatus::SPIE, s & mstatus::SIE != 0);
        s &= !mstatus::SIE;
        s = set(s, mstatus::SPP, prv == PRV_S as u64);
        cpu.priv_mode = PRV_S;
        cpu.csr.stvec
    } else {
        cpu.csr.mcause = xcause;
        cpu.csr.mepc = epc;
        cpu.csr.mtval = tval;
        s = set(s, mstatus::MPIE, s & mstatus::MIE != 0);
        s &= !mstatus::MIE;
        s = (s & !mstatus::MPP) | prv << mstatus::MPP_SHIFT;
        cpu.priv_mode = PRV_M;
        cpu.csr.mtvec
    };
    cpu.csr.mstatus = s;
    let base = tvec & !3;
    cpu.env.pc = if interrupt && tvec & 3 == 1 { base.wrapping_add(4 * cause) } else { base };
    cpu.waiting = false;
    log::trace!("trap cause={xcause:#x} tval={tval:#x} epc={epc:#x} -> {:#x} prv={}", cpu.env.pc, cpu.priv_mode);
}

fn set(v: u64, bit: u64, on: bool) -> u64 {
    if on {
        v | bit
    } else {
        v & !bit
    }
}

/// The interrupt to take now, if any: pending and enabled, with M-level interrupts first and the
/// standard priority order within a level.
pub fn pending_interrupt(cpu: &RiscvCpu) -> Option<u64> {
    let pending = cpu.mip() & cpu.csr.mie;
    if pending == 0 {
        return None;
    }
    let st = cpu.csr.mstatus;
    let prv = cpu.priv_mode;
    let m_on = prv < PRV_M || st & mstatus::MIE != 0;
    let s_on = prv < PRV_S || (prv == PRV_S && st & mstatus::SIE != 0);
    let m = if m_on { pending & !cpu.csr.mideleg } else { 0 };
    let s = if s_on { pending & cpu.csr.mideleg } else { 0 };
    let pick = |bits: u64| PRIORITY.iter().copied().find(|&c| bits >> c & 1 != 0);
    pick(m).or_else(|| pick(s))
}

/// `mret`: returns the new pc, or `None` (illegal instruction) below M-mode.
pub fn mret(cpu: &mut RiscvCpu) -> Option<u64> {
    if cpu.priv_mode < PRV_M {
        return None;
    }
    let s = cpu.csr.mstatus;
    let new_prv = mpp(cpu);
    let mut n = set(s, mstatus::MIE, s & mstatus::MPIE != 0) | mstatus::MPIE;
    n &= !mstatus::MPP; // MPP = U, the least-privileged mode
    if new_prv != PRV_M {
        n &= !mstatus::MPRV;
    }
    finish_return(cpu, s, n, new_prv);
    Some(cpu.csr.mepc)
}

/// `sret`: returns the new pc, or `None` in U-mode or in S-mode with `mstatus.TSR`.
pub fn sret(cpu: &mut RiscvCpu) -> Option<u64> {
    let s = cpu.csr.mstatus;
    if cpu.priv_mode < PRV_S || (cpu.priv_mode == PRV_S && s & mstatus::TSR != 0) {
        return None;
    }
    let new_prv = if s & mstatus::SPP != 0 { PRV_S } else { PRV_U };
    let mut n = set(s, mstatus::SIE, s & mstatus::SPIE != 0) | mstatus::SPIE;
    n &= !(mstatus::SPP | mstatus::MPRV);
    finish_return(cpu, s, n, new_prv);
    Some(cpu.csr.sepc)
}

fn finish_return(cpu: &mut RiscvCpu, old: u64, new: u64, prv: u8) {
    cpu.csr.mstatus = new;
    cpu.priv_mode = prv;
    // Only MPRV changes what a data address means here (the privilege is in the TB flags).
    if (old ^ new) & mstatus::MPRV != 0 {
        cpu.env.flush_tlb();
    }
}

/// Cause code of `ecall` at privilege `prv`.
pub fn ecall_cause(prv: u8) -> u64 {
    match prv {
        PRV_U => cause::ECALL_U,
        PRV_S => cause::ECALL_S,
        _ => cause::ECALL_M,
    }
}

/// Interrupts that would wake a `wfi` (pending and enabled in `mie`, global enables aside).
pub fn wakeup(cpu: &RiscvCpu) -> bool {
    cpu.mip() & cpu.csr.mie & irq::ALL != 0
}
