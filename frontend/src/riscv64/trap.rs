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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv64::cpu::tests::test_cpu;

    #[test]
    fn exception_from_u_delegates_to_s_only_when_delegated() {
        let mut cpu = test_cpu();
        cpu.csr.stvec = 0x8000_2000;
        cpu.csr.mtvec = 0x8000_1000;
        cpu.priv_mode = PRV_U;
        cpu.env.pc = 0x1234;
        take_trap(&mut cpu, cause::ECALL_U, 0, false);
        assert_eq!((cpu.priv_mode, cpu.env.pc, cpu.csr.mepc, cpu.csr.mcause), (PRV_M, 0x8000_1000, 0x1234, 8));
        assert_eq!(mpp(&cpu), PRV_U);

        cpu.csr.medeleg = 1 << cause::ECALL_U;
        cpu.priv_mode = PRV_U;
        cpu.env.pc = 0x1234;
        cpu.csr.mstatus |= mstatus::SIE;
        take_trap(&mut cpu, cause::ECALL_U, 7, false);
        assert_eq!(
            (cpu.priv_mode, cpu.env.pc, cpu.csr.sepc, cpu.csr.scause, cpu.csr.stval),
            (PRV_S, 0x8000_2000, 0x1234, 8, 7)
        );
        assert_eq!(cpu.csr.mstatus & (mstatus::SPP | mstatus::SIE | mstatus::SPIE), mstatus::SPIE);

        // Delegation never applies to traps taken in M-mode.
        cpu.priv_mode = PRV_M;
        take_trap(&mut cpu, cause::ECALL_U, 0, false);
        assert_eq!(cpu.priv_mode, PRV_M);
    }

    #[test]
    fn vectored_tvec_only_for_interrupts() {
        let mut cpu = test_cpu();
        cpu.csr.mtvec = 0x8000_1001;
        take_trap(&mut cpu, 7, 0, true);
        assert_eq!(cpu.env.pc, 0x8000_1000 + 28);
        assert_eq!(cpu.csr.mcause, 1 << 63 | 7);
        take_trap(&mut cpu, 2, 0, false);
        assert_eq!(cpu.env.pc, 0x8000_1000);
    }

    #[test]
    fn interrupt_priorities_and_enables() {
        let mut cpu = test_cpu();
        cpu.csr.mie = irq::ALL;
        cpu.csr.mip = irq::SSI | irq::STI;
        cpu.hw_irqs.set_bit(7, true);
        cpu.hw_irqs.set_bit(3, true);
        // M-mode with MIE clear: nothing.
        assert_eq!(pending_interrupt(&cpu), None);
        cpu.csr.mstatus |= mstatus::MIE;
        assert_eq!(pending_interrupt(&cpu), Some(3), "MSI before MTI");
        cpu.hw_irqs.set_bit(11, true);
        assert_eq!(pending_interrupt(&cpu), Some(11));
        // Delegated S interrupts are never taken in M-mode...
        cpu.hw_irqs.set_bit(11, false);
        cpu.hw_irqs.set_bit(3, false);
        cpu.hw_irqs.set_bit(7, false);
        cpu.csr.mideleg = irq::S_BITS;
        assert_eq!(pending_interrupt(&cpu), None);
        // ...are taken in S-mode only with SIE, and always from U.
        cpu.priv_mode = PRV_S;
        assert_eq!(pending_interrupt(&cpu), None);
        cpu.csr.mstatus |= mstatus::SIE;
        assert_eq!(pending_interrupt(&cpu), Some(1), "SSI before STI");
        cpu.csr.mstatus &= !mstatus::SIE;
        cpu.priv_mode = PRV_U;
        assert_eq!(pending_interrupt(&cpu), Some(1));
        // Non-delegated M interrupts win over S ones and ignore MIE below M.
        cpu.csr.mstatus &= !mstatus::MIE;
        cpu.hw_irqs.set_bit(7, true);
        assert_eq!(pending_interrupt(&cpu), Some(7));
        // SEIP from hardware is ORed with the software bit.
        cpu.hw_irqs.set_bit(9, true);
        assert_ne!(cpu.mip() & irq::SEI, 0);
        assert!(wakeup(&cpu));
    }

    #[test]
    fn mret_and_sret_transitions() {
        let mut cpu = test_cpu();
        cpu.csr.mepc = 0x4000;
        cpu.csr.mstatus |= mstatus::MPIE | mstatus::MPRV | 1 << mstatus::MPP_SHIFT;
        assert_eq!(mret(&mut cpu), Some(0x4000));
        assert_eq!(cpu.priv_mode, PRV_S);
        let s = cpu.csr.mstatus;
        assert_eq!(s & (mstatus::MIE | mstatus::MPIE | mstatus::MPP | mstatus::MPRV), mstatus::MIE | mstatus::MPIE);
        assert_eq!(mret(&mut cpu), None, "mret is illegal in S-mode");

        cpu.csr.sepc = 0x5000;
        cpu.csr.mstatus |= mstatus::SPIE;
        assert_eq!(sret(&mut cpu), Some(0x5000));
        assert_eq!(cpu.priv_mode, PRV_U, "SPP was U");
        assert_ne!(cpu.csr.mstatus & mstatus::SIE, 0);
        assert_eq!(sret(&mut cpu), None, "sret is illegal in U-mode");

        cpu.priv_mode = PRV_S;
        cpu.csr.mstatus |= mstatus::TSR;
        assert_eq!(sret(&mut cpu), None, "TSR traps sret in S-mode");
        cpu.priv_mode = PRV_M;
        cpu.csr.mstatus |= mstatus::SPP | mstatus::MPRV;
        assert_eq!(sret(&mut cpu), Some(0x5000));
        assert_eq!((cpu.priv_mode, cpu.csr.mstatus & mstatus::MPRV), (PRV_S, 0));
    }
}
