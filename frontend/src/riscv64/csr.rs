//! Control and status registers: numbering, access checks, WARL masks, views (`sstatus`, `sie`,
//! `sip`) and side effects of writes (TLB flushes).

use super::cpu::{RiscvCpu, PRV_M, PRV_S};
use super::mmu::{SATP_ASID_MASK, SATP_MODE_BARE, SATP_MODE_SHIFT, SATP_MODE_SV39, SATP_MODE_SV48, SATP_PPN_MASK};
use super::pmp;

pub const FFLAGS: u16 = 0x001;
pub const FRM: u16 = 0x002;
pub const FCSR: u16 = 0x003;
pub const CYCLE: u16 = 0xc00;
pub const TIME: u16 = 0xc01;
pub const INSTRET: u16 = 0xc02;
pub const HPMCOUNTER3: u16 = 0xc03;
pub const HPMCOUNTER31: u16 = 0xc1f;
pub const SSTATUS: u16 = 0x100;
pub const SIE: u16 = 0x104;
pub const STVEC: u16 = 0x105;
pub const SCOUNTEREN: u16 = 0x106;
pub const SENVCFG: u16 = 0x10a;
pub const SSCRATCH: u16 = 0x140;
pub const SEPC: u16 = 0x141;
pub const SCAUSE: u16 = 0x142;
pub const STVAL: u16 = 0x143;
pub const SIP: u16 = 0x144;
/// Sstc's supervisor timer compare.
pub const STIMECMP: u16 = 0x14d;
pub const SATP: u16 = 0x180;
pub const MVENDORID: u16 = 0xf11;
pub const MARCHID: u16 = 0xf12;
pub const MIMPID: u16 = 0xf13;
pub const MHARTID: u16 = 0xf14;
pub const MCONFIGPTR: u16 = 0xf15;
pub const MSTATUS: u16 = 0x300;
pub const MISA: u16 = 0x301;
pub const MEDELEG: u16 = 0x302;
pub const MIDELEG: u16 = 0x303;
pub const MIE: u16 = 0x304;
pub const MTVEC: u16 = 0x305;
pub const MCOUNTEREN: u16 = 0x306;
pub const MENVCFG: u16 = 0x30a;
pub const MCOUNTINHIBIT: u16 = 0x320;
pub const MHPMEVENT3: u16 = 0x323;
pub const MHPMEVENT31: u16 = 0x33f;
pub const MSCRATCH: u16 = 0x340;
pub const MEPC: u16 = 0x341;
pub const MCAUSE: u16 = 0x342;
pub const MTVAL: u16 = 0x343;
pub const MIP: u16 = 0x344;
pub const PMPCFG0: u16 = 0x3a0;
pub const PMPCFG15: u16 = 0x3af;
pub const PMPADDR0: u16 = 0x3b0;
pub const PMPADDR63: u16 = 0x3ef;
pub const MCYCLE: u16 = 0xb00;
pub const MINSTRET: u16 = 0xb02;
pub const MHPMCOUNTER3: u16 = 0xb03;
pub const MHPMCOUNTER31: u16 = 0xb1f;

/// `mstatus` fields.
pub mod mstatus {
    pub const SIE: u64 = 1 << 1;
    pub const MIE: u64 = 1 << 3;
    pub const SPIE: u64 = 1 << 5;
    pub const MPIE: u64 = 1 << 7;
    pub const SPP: u64 = 1 << 8;
    pub const MPP_SHIFT: u64 = 11;
    pub const MPP: u64 = 3 << MPP_SHIFT;
    pub const FS_SHIFT: u64 = 13;
    pub const FS: u64 = 3 << FS_SHIFT;
    pub const FS_DIRTY: u64 = 3 << FS_SHIFT;
    pub const XS: u64 = 3 << 15;
    pub const MPRV: u64 = 1 << 17;
    pub const SUM: u64 = 1 << 18;
    pub const MXR: u64 = 1 << 19;
    pub const TVM: u64 = 1 << 20;
    pub const TW: u64 = 1 << 21;
    pub const TSR: u64 = 1 << 22;
    pub const UXL: u64 = 3 << 32;
    pub const SXL: u64 = 3 << 34;
    pub const SD: u64 = 1 << 63;
    /// Bits M-mode may write.
    pub const WRITABLE: u64 = SIE | MIE | SPIE | MPIE | SPP | MPP | FS | MPRV | SUM | MXR | TVM | TW | TSR;
    /// The `sstatus` view.
    pub const S_READ: u64 = SIE | SPIE | SPP | FS | XS | SUM | MXR | UXL | SD;
    pub const S_WRITE: u64 = SIE | SPIE | SPP | FS | SUM | MXR;
    /// Changing any of these changes what a virtual address means for loads and stores. (Not
    /// SUM: S-mode data accesses with SUM set have a TLB of their own, `cpu::MMU_IDX_S_SUM`.)
    pub const TLB_BITS: u64 = MPRV | MPP | MXR;
}

/// Interrupt bits (`mip`/`mie`).
pub mod irq {
    pub const SSI: u64 = 1 << 1;
    pub const MSI: u64 = 1 << 3;
    pub const STI: u64 = 1 << 5;
    pub const MTI: u64 = 1 << 7;
    pub const SEI: u64 = 1 << 9;
    pub const MEI: u64 = 1 << 11;
    pub const S_BITS: u64 = SSI | STI | SEI;
    pub const ALL: u64 = S_BITS | MSI | MTI | MEI;
    /// Bits of `mip` M-mode software may write (the others are driven by devices).
    pub const MIP_WRITABLE: u64 = SSI | STI | SEI;
}

/// Exceptions `medeleg` can delegate (not ecall from M, not the reserved codes 10 and 14).
pub const DELEGABLE_EXCEPTIONS: u64 = 0xb3ff;
pub const ENVCFG_WRITABLE: u64 = 1; // FIOM
/// `menvcfg.STCE`: Sstc's `stimecmp` drives `mip.STIP` and S-mode may access it.
pub const MENVCFG_STCE: u64 = 1 << 63;

/// Sstc: `stimecmp` in S-mode needs `menvcfg.STCE` and `mcounteren.TM`; M-mode always has it.
fn stimecmp_allowed(cpu: &RiscvCpu) -> bool {
    cpu.priv_mode == PRV_M || (cpu.sstc_enabled() && cpu.csr.mcounteren & 2 != 0)
}

/// Counters gated by `mcounteren`/`scounteren` (bit = csr - 0xc00).
fn counter_allowed(cpu: &RiscvCpu, csr: u16) -> bool {
    let bit = 1u64 << (csr - CYCLE);
    match cpu.priv_mode {
        PRV_M => true,
        PRV_S => cpu.csr.mcounteren & bit != 0,
        _ => cpu.csr.mcounteren & bit != 0 && cpu.csr.scounteren & bit != 0,
    }
}

fn fp_off(cpu: &RiscvCpu) -> bool {
    cpu.csr.mstatus & mstatus::FS == 0
}

fn tvm_trap(cpu: &RiscvCpu) -> bool {
    cpu.priv_mode == PRV_S && cpu.csr.mstatus & mstatus::TVM != 0
}

/// Common access check from the CSR number: privilege bits 9:8, read-only when bits 11:10 = 3.
pub fn access_ok(cpu: &RiscvCpu, csr: u16, write: bool) -> bool {
    let need = ((csr >> 8) & 3) as u8;
    cpu.priv_mode >= need && !(write && (csr >> 10) & 3 == 3)
}

/// Read CSR `csr` as the current privilege; `None` = illegal instruction. Reads have no side
/// effects, so a write-only use may call it to learn whether the CSR is accessible.
pub fn read(cpu: &RiscvCpu, csr: u16) -> Option<u64> {
    if !access_ok(cpu, csr, false) {
        return None;
    }
    let c = &cpu.csr;
    Some(match csr {
        FFLAGS | FRM | FCSR if fp_off(cpu) => return None,
        FFLAGS => c.fflags as u64 & 0x1f,
        FRM => c.frm as u64 & 7,
        FCSR => (c.fflags as u64 & 0x1f) | (c.frm as u64 & 7) << 5,
        CYCLE..=HPMCOUNTER31 if !counter_allowed(cpu, csr) => return None,
        CYCLE | INSTRET => cpu.retired(),
        TIME => cpu.clock.ticks(),
        HPMCOUNTER3..=HPMCOUNTER31 => 0,
        SSTATUS => read_mstatus(cpu) & mstatus::S_READ,
        SIE => c.mie & c.mideleg,
        STVEC => c.stvec,
        SCOUNTEREN => c.scounteren,
        SENVCFG => c.senvcfg,
        SSCRATCH => c.sscratch,
        SEPC => c.sepc,
        SCAUSE => c.scause,
        STVAL => c.stval,
        SIP => cpu.mip() & c.mideleg,
        STIMECMP if !stimecmp_allowed(cpu) => return None,
        STIMECMP => c.stimecmp,
        SATP if tvm_trap(cpu) => return None,
        SATP => c.satp,
        MVENDORID | MARCHID | MIMPID | MCONFIGPTR => 0,
        MHARTID => cpu.hart_id,
        MSTATUS => read_mstatus(cpu),
        MISA => c.misa,
        MEDELEG => c.medeleg,
        MIDELEG => c.mideleg,
        MIE => c.mie,
        MTVEC => c.mtvec,
        MCOUNTEREN => c.mcounteren,
        MENVCFG => c.menvcfg,
        MCOUNTINHIBIT => c.mcountinhibit,
        MHPMEVENT3..=MHPMEVENT31 => 0,
        MSCRATCH => c.mscratch,
        MEPC => c.mepc,
        MCAUSE => c.mcause,
        MTVAL => c.mtval,
        MIP => cpu.mip(),
        // Odd pmpcfg registers do not exist on RV64.
        PMPCFG0..=PMPCFG15 if csr & 1 != 0 => return None,
        PMPCFG0..=PMPCFG15 => {
            let first = (csr - PMPCFG0) as usize * 4;
            (0..8).fold(0, |v, k| v | (c.pmpcfg[first + k] as u64) << (8 * k))
        }
        PMPADDR0..=PMPADDR63 => c.pmpaddr[(csr - PMPADDR0) as usize],
        MCYCLE | MINSTRET => cpu.retired(),
        MHPMCOUNTER3..=MHPMCOUNTER31 => 0,
        _ => return None,
    })
}

/// The value `csrrs`/`csrrc` modify, given what [`read`] returned. `mip.SEIP` reads as the OR of
/// the software-writable bit and the external interrupt line, but a read-modify-write must use
/// only the software bit: otherwise M-mode firmware setting or clearing another `mip` bit (as
/// OpenSBI does with STIP on every timer event) while the PLIC asserts SEIP would latch that
/// transient level into the software bit, and S-mode would see an external interrupt forever.
pub fn rmw_base(cpu: &RiscvCpu, csr: u16, read: u64) -> u64 {
    match csr {
        MIP => (read & !irq::SEI) | (cpu.csr.mip & irq::SEI),
        _ => read,
    }
}

fn read_mstatus(cpu: &RiscvCpu) -> u64 {
    let s = cpu.csr.mstatus & !mstatus::SD;
    let dirty = s & mstatus::FS == mstatus::FS_DIRTY || s & mstatus::XS == mstatus::XS;
    s | if dirty { mstatus::SD } else { 0 }
}

/// Write CSR `csr` (the caller has checked access with [`read`] and [`access_ok`]); returns
/// `false` when the write itself is illegal.
pub fn write(cpu: &mut RiscvCpu, csr: u16, val: u64) -> bool {
    if !access_ok(cpu, csr, true) {
        return false;
    }
    match csr {
        FFLAGS | FRM | FCSR if fp_off(cpu) => return false,
        FFLAGS => cpu.csr.fflags = (val & 0x1f) as u8,
        FRM => cpu.csr.frm = (val & 7) as u8,
        FCSR => {
            cpu.csr.fflags = (val & 0x1f) as u8;
            cpu.csr.frm = ((val >> 5) & 7) as u8;
        }
        SSTATUS => {
            let v = (cpu.csr.mstatus & !mstatus::S_WRITE) | (val & mstatus::S_WRITE);
            write_mstatus(cpu, v);
        }
        SIE => {
            let m = cpu.csr.mideleg & irq::S_BITS;
            cpu.csr.mie = (cpu.csr.mie & !m) | (val & m);
        }
        STVEC => write_tvec(&mut cpu.csr.stvec, val),
        SCOUNTEREN => cpu.csr.scounteren = val & 0xffff_ffff,
        SENVCFG => cpu.csr.senvcfg = val & ENVCFG_WRITABLE,
        SSCRATCH => cpu.csr.sscratch = val,
        SEPC => cpu.csr.sepc = val & !1,
        SCAUSE => cpu.csr.scause = val,
        STVAL => cpu.csr.stval = val,
        SIP => {
            let m = cpu.csr.mideleg & irq::SSI;
            cpu.csr.mip = (cpu.csr.mip & !m) | (val & m);
        }
        STIMECMP if !stimecmp_allowed(cpu) => return false,
        STIMECMP => {
            cpu.csr.stimecmp = val;
            cpu.update_stimer();
        }
        SATP if tvm_trap(cpu) => return false,
        SATP => write_satp(cpu, val),
        MSTATUS => write_mstatus(cpu, val),
        MISA => {}
        MEDELEG => cpu.csr.medeleg = val & DELEGABLE_EXCEPTIONS,
        MIDELEG => cpu.csr.mideleg = val & irq::S_BITS,
        MIE => cpu.csr.mie = val & irq::ALL,
        MTVEC => write_tvec(&mut cpu.csr.mtvec, val),
        MCOUNTEREN => cpu.csr.mcounteren = val & 0xffff_ffff,
        MENVCFG => {
            cpu.csr.menvcfg = val & (ENVCFG_WRITABLE | MENVCFG_STCE);
            cpu.update_stimer();
        }
        // Bit 1 (TM) is read-only zero.
        MCOUNTINHIBIT => cpu.csr.mcountinhibit = val & 0xffff_fffd,
        MHPMEVENT3..=MHPMEVENT31 => {}
        MSCRATCH => cpu.csr.mscratch = val,
        MEPC => cpu.csr.mepc = val & !1,
        MCAUSE => cpu.csr.mcause = val,
        MTVAL => cpu.csr.mtval = val,
        MIP => {
            // Under Sstc (`menvcfg.STCE`) STIP is `stimecmp`'s and read-only.
            let sstc = if cpu.sstc_enabled() { irq::STI } else { 0 };
            let m = irq::MIP_WRITABLE & !sstc;
            cpu.csr.mip = (cpu.csr.mip & !m) | (val & m);
        }
        PMPCFG0..=PMPCFG15 if csr & 1 != 0 => return false,
        PMPCFG0..=PMPCFG15 => {
            let first = (csr - PMPCFG0) as usize * 4;
            for k in 0..8 {
                let i = first + k;
                if i < pmp::NUM_ENTRIES && !pmp::cfg_locked(&cpu.csr.pmpcfg, i) {
                    cpu.csr.pmpcfg[i] = (val >> (8 * k)) as u8 & pmp::CFG_MASK;
                }
            }
            cpu.env.flush_tlb();
        }
        PMPADDR0..=PMPADDR63 => {
            let i = (csr - PMPADDR0) as usize;
            if i < pmp::NUM_ENTRIES && !pmp::addr_locked(&cpu.csr.pmpcfg, i) {
                cpu.csr.pmpaddr[i] = val & pmp::ADDR_MASK;
                cpu.env.flush_tlb();
            }
        }
        MCYCLE | MINSTRET => cpu.set_retired(val),
        MHPMCOUNTER3..=MHPMCOUNTER31 => {}
        // Writable-looking but read-only, or unknown (read() has already rejected those).
        _ => return false,
    }
    if matches!(csr, FFLAGS | FRM | FCSR) {
        cpu.csr.mstatus |= mstatus::FS_DIRTY;
    }
    true
}

fn write_tvec(reg: &mut u64, val: u64) {
    // Modes 0 (direct) and 1 (vectored) only; QEMU ignores writes of a reserved mode.
    if val & 3 < 2 {
        *reg = val;
    } else {
        log::warn!("guest error: reserved xtvec mode in {val:#x} ignored");
    }
}

fn write_satp(cpu: &mut RiscvCpu, val: u64) {
    let mode = val >> SATP_MODE_SHIFT;
    if !matches!(mode, SATP_MODE_BARE | SATP_MODE_SV39 | SATP_MODE_SV48) {
        return;
    }
    cpu.csr.satp = val & (0xf << SATP_MODE_SHIFT | SATP_ASID_MASK | SATP_PPN_MASK);
    cpu.env.flush_tlb();
}

/// May a block go on (chained) after an instruction that writes CSR `no`? For these CSRs
/// translation depends on nothing a write changes but the TB flags, and the write helper
/// (`helpers::csr_op`) asks the run loop to regain control if those changed, the TLB was
/// flushed or an interrupt became takeable. Other writes (`satp`, PMP, counters, timers, ...)
/// end the block and return to the run loop. Linux writes `sstatus` on every interrupt
/// enable and disable and `sscratch` on every trap: returning each time was ~250k run-loop
/// round trips in a boot.
pub fn write_keeps_block(no: u16) -> bool {
    matches!(
        no,
        FFLAGS
            | FRM
            | FCSR
            | SSTATUS
            | SIE
            | STVEC
            | SSCRATCH
            | SEPC
            | SCAUSE
            | STVAL
            | SIP
            | MSTATUS
            | MIE
            | MTVEC
            | MSCRATCH
            | MEPC
            | MCAUSE
            | MTVAL
            | MIP
    )
}

/// Store a new `mstatus` through the WARL rules, flushing the TLB when translation changes.
pub fn write_mstatus(cpu: &mut RiscvCpu, val: u64) {
    let old = cpu.csr.mstatus;
    let mut new = (old & !mstatus::WRITABLE) | (val & mstatus::WRITABLE);
    // MPP = 2 (hypervisor) is not a supported mode: keep the old value.
    if (new & mstatus::MPP) >> mstatus::MPP_SHIFT == 2 {
        new = (new & !mstatus::MPP) | (old & mstatus::MPP);
    }
    new = (new & !mstatus::SD) | if new & mstatus::FS == mstatus::FS_DIRTY { mstatus::SD } else { 0 };
    cpu.csr.mstatus = new;
    if (old ^ new) & mstatus::TLB_BITS != 0 {
        cpu.env.flush_tlb();
    }
}

/// Reset value of `misa`: RV64 with A C D F I M S U (QEMU's rv64 default, minus H/V).
pub fn misa_reset() -> u64 {
    let ext = |c: u8| 1u64 << (c - b'A');
    2 << 62 | ext(b'A') | ext(b'C') | ext(b'D') | ext(b'F') | ext(b'I') | ext(b'M') | ext(b'S') | ext(b'U')
}

/// Reset value of `mstatus`: UXL = SXL = 64-bit, everything else (including FS) off.
pub fn mstatus_reset() -> u64 {
    2 << 32 | 2 << 34
}

/// Privilege of `mstatus.MPP`.
pub fn mpp(cpu: &RiscvCpu) -> u8 {
    ((cpu.csr.mstatus & mstatus::MPP) >> mstatus::MPP_SHIFT) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv64::cpu::tests::test_cpu;
    use crate::riscv64::cpu::PRV_U;
    use crate::riscv64::helpers::{csr_desc, csr_op, CSR_OP_CLEAR, CSR_OP_SET, CSR_OP_WRITE};
    use crate::riscv64::translate::cause;

    fn rw(cpu: &mut RiscvCpu, no: u16, v: u64) -> Option<u64> {
        csr_op(cpu, csr_desc(no, CSR_OP_WRITE, true), v, 0x1234);
        if cpu.env.exception_pending != 0 {
            cpu.env.exception_pending = 0;
            return None;
        }
        read(cpu, no)
    }

    #[test]
    fn warl_masks() {
        let mut cpu = test_cpu();
        assert_eq!(rw(&mut cpu, MISA, 0), Some(misa_reset()));
        assert_eq!(rw(&mut cpu, MEDELEG, !0), Some(0xb3ff));
        assert_eq!(rw(&mut cpu, MIDELEG, !0), Some(0x222));
        assert_eq!(rw(&mut cpu, MIE, !0), Some(0xaaa));
        assert_eq!(rw(&mut cpu, SIE, 0), Some(0));
        assert_eq!(cpu.csr.mie, 0x888, "sie only clears delegated bits");
        assert_eq!(rw(&mut cpu, MIP, !0), Some(0x222));
        assert_eq!(rw(&mut cpu, SIP, 0), Some(0x220), "only SSIP is writable through sip");
        assert_eq!(rw(&mut cpu, MEPC, 0x1003), Some(0x1002));
        assert_eq!(rw(&mut cpu, MTVEC, 0x8000_0001), Some(0x8000_0001));
        assert_eq!(rw(&mut cpu, MTVEC, 0x9000_0002), Some(0x8000_0001), "reserved mode ignored");
        assert_eq!(rw(&mut cpu, SATP, 8 << 60 | 0x80001), Some(8 << 60 | 0x80001));
        assert_eq!(rw(&mut cpu, SATP, 10 << 60 | 0x80002), Some(8 << 60 | 0x80001), "Sv57 not supported");
        assert_eq!(rw(&mut cpu, MCOUNTINHIBIT, !0), Some(0xffff_fffd));
        assert_eq!(rw(&mut cpu, MHPMEVENT3 + 1, 5), Some(0));
        assert_eq!(rw(&mut cpu, MHARTID, 1), None, "read-only");
        assert_eq!(read(&cpu, 0x7ff), None, "unknown CSR");
    }

    #[test]
    fn mip_set_and_clear_do_not_latch_the_external_seip() {
        let mut cpu = test_cpu();
        let seip = cpu.hw_irqs.line(9);
        let op = |cpu: &mut RiscvCpu, kind, v| csr_op(cpu, csr_desc(MIP, kind, true), v, 0x1234);
        // OpenSBI's timer event (`csr_set(mip, STIP)`) while the PLIC asserts SEIP.
        seip.raise();
        assert_eq!(op(&mut cpu, CSR_OP_SET, irq::STI), irq::SEI, "csrrs returns the OR-ed SEIP");
        assert_eq!(read(&cpu, MIP), Some(irq::STI | irq::SEI));
        // The guest claims at the PLIC, which lowers the line: SEIP must go with it.
        seip.lower();
        assert_eq!(read(&cpu, MIP), Some(irq::STI), "the external SEIP was latched into mip");
        seip.raise();
        op(&mut cpu, CSR_OP_CLEAR, irq::STI);
        seip.lower();
        assert_eq!(read(&cpu, MIP), Some(0));
        // The software-writable SEIP is still settable and clearable by csrrs/csrrc, and reads
        // as the OR with the line.
        op(&mut cpu, CSR_OP_SET, irq::SEI);
        assert_eq!(read(&cpu, MIP), Some(irq::SEI));
        seip.raise();
        op(&mut cpu, CSR_OP_CLEAR, irq::SEI);
        assert_eq!(read(&cpu, MIP), Some(irq::SEI), "the line still drives SEIP");
        seip.lower();
        assert_eq!(read(&cpu, MIP), Some(0));
        // Through sip (SEIP delegated): only SSIP is written, whatever the line does.
        rw(&mut cpu, MIDELEG, irq::S_BITS);
        seip.raise();
        csr_op(&mut cpu, csr_desc(SIP, CSR_OP_SET, true), irq::SSI, 0x1234);
        seip.lower();
        assert_eq!(read(&cpu, SIP), Some(irq::SSI));
    }

    #[test]
    fn mstatus_and_sstatus() {
        let mut cpu = test_cpu();
        let gen = cpu.env.tlb_gen;
        let v = rw(&mut cpu, MSTATUS, !0).unwrap();
        assert_eq!(v & mstatus::SD, mstatus::SD, "FS dirty shows in SD");
        assert_eq!(v & mstatus::UXL, 2 << 32);
        assert_eq!(v & (1 << 39 | 1 << 38 | mstatus::XS), 0, "MPV/GVA/XS stay zero");
        assert!(cpu.env.tlb_gen > gen, "MPRV/SUM/MXR changes flush the TLB");
        assert_eq!(rw(&mut cpu, MSTATUS, 2 << mstatus::MPP_SHIFT).unwrap() & mstatus::MPP, mstatus::MPP);
        let s = rw(&mut cpu, SSTATUS, !0).unwrap();
        assert_eq!(s, mstatus::S_WRITE | 2 << 32 | mstatus::SD);
        assert_eq!(cpu.csr.mstatus & mstatus::MPP, mstatus::MPP, "sstatus leaves M fields alone");
    }

    #[test]
    fn privilege_and_counter_gating() {
        let mut cpu = test_cpu();
        cpu.priv_mode = PRV_S;
        assert_eq!(read(&cpu, MSTATUS), None);
        assert!(read(&cpu, SSTATUS).is_some());
        assert_eq!(read(&cpu, CYCLE), None, "mcounteren.CY clear");
        cpu.csr.mcounteren = 0b101;
        assert!(read(&cpu, CYCLE).is_some());
        assert!(read(&cpu, INSTRET).is_some());
        assert!(read(&cpu, TIME).is_none());
        cpu.priv_mode = PRV_U;
        assert_eq!(read(&cpu, CYCLE), None, "scounteren.CY clear");
        cpu.csr.scounteren = 1;
        assert!(read(&cpu, CYCLE).is_some());
        assert_eq!(read(&cpu, SSTATUS), None);
        // TVM traps satp in S-mode.
        cpu.priv_mode = PRV_S;
        cpu.csr.mstatus |= mstatus::TVM;
        assert_eq!(read(&cpu, SATP), None);
    }

    #[test]
    fn fp_csrs_need_fs_and_set_dirty() {
        let mut cpu = test_cpu();
        assert_eq!(rw(&mut cpu, FCSR, 0xff), None, "FS=Off");
        cpu.csr.mstatus |= 1 << mstatus::FS_SHIFT;
        assert_eq!(rw(&mut cpu, FCSR, 0xff), Some(0xff));
        assert_eq!((cpu.csr.fflags, cpu.csr.frm), (0x1f, 7));
        assert_eq!(cpu.csr.mstatus & mstatus::FS, mstatus::FS_DIRTY);
        assert_eq!(read(&cpu, MSTATUS).unwrap() & mstatus::SD, mstatus::SD);
    }

    #[test]
    fn writes_that_keep_the_block_ask_for_the_run_loop_only_when_needed() {
        use crate::riscv64::cpu::PRV_S;
        let mut cpu = test_cpu();
        cpu.priv_mode = PRV_S;
        // A supervisor software interrupt is pending and enabled, but sstatus.SIE is off.
        cpu.csr.mideleg = irq::SSI;
        cpu.csr.mie = irq::SSI;
        cpu.csr.mip = irq::SSI;
        cpu.on_budget_refill(100);
        let op = |cpu: &mut RiscvCpu, no, kind, v| {
            csr_op(cpu, csr_desc(no, kind, true), v, 0x1234);
            let asked = cpu.env.budget < 0;
            cpu.on_budget_refill(100);
            asked
        };
        assert!(!op(&mut cpu, SSCRATCH, CSR_OP_WRITE, 7), "a plain register");
        assert!(!op(&mut cpu, SSTATUS, CSR_OP_CLEAR, mstatus::SIE), "interrupts off: nothing to take");
        assert!(op(&mut cpu, SSTATUS, CSR_OP_SET, mstatus::SUM), "the TB flags changed");
        assert!(op(&mut cpu, SSTATUS, CSR_OP_SET, mstatus::SIE), "the pending interrupt is takeable");
        assert!(write_keeps_block(SSTATUS) && write_keeps_block(SSCRATCH));
        assert!(!write_keeps_block(SATP) && !write_keeps_block(PMPADDR0) && !write_keeps_block(MCYCLE));
    }

    #[test]
    fn set_clear_and_illegal_tval() {
        let mut cpu = test_cpu();
        csr_op(&mut cpu, csr_desc(MSCRATCH, CSR_OP_SET, true), 0xf0, 0);
        let old = csr_op(&mut cpu, csr_desc(MSCRATCH, CSR_OP_CLEAR, true), 0x30, 0);
        assert_eq!((old, cpu.csr.mscratch), (0xf0, 0xc0));
        // csrrs x0-style read of a read-only CSR is fine; a write is not.
        assert_eq!(csr_op(&mut cpu, csr_desc(MHARTID, CSR_OP_SET, false), 0, 0), 0);
        assert_eq!(cpu.env.exception_pending, 0);
        csr_op(&mut cpu, csr_desc(MHARTID, CSR_OP_SET, true), 1, 0xf1402573);
        assert_eq!(cpu.pending_trap.unwrap().cause, cause::ILLEGAL_INSN);
        assert_eq!(cpu.pending_trap.unwrap().tval, 0xf1402573);
    }

    #[test]
    fn pmp_csrs_lock_and_odd_cfg() {
        let mut cpu = test_cpu();
        assert_eq!(rw(&mut cpu, PMPCFG0 + 1, 0), None, "odd pmpcfg is illegal on RV64");
        assert_eq!(rw(&mut cpu, PMPADDR0, !0), Some((1 << 54) - 1));
        assert_eq!(rw(&mut cpu, PMPCFG0, 0x60_9f), Some(0x9f), "reserved bits 5..6 read zero");
        assert_eq!(rw(&mut cpu, PMPCFG0, 0), Some(0x9f), "locked entry ignores writes");
        assert_eq!(rw(&mut cpu, PMPADDR0, 0), Some((1 << 54) - 1));
        assert_eq!(rw(&mut cpu, PMPADDR0 + 20, 5), Some(0), "unimplemented entries read zero");
    }

    #[test]
    fn sstc_stimecmp_drives_stip_under_stce_and_is_gated_for_s_mode() {
        let mut cpu = test_cpu();
        // STCE clear: the comparator drives nothing and M-mode's STIP write stands.
        assert!(write(&mut cpu, STIMECMP, 0));
        assert_eq!(read(&cpu, MIP).unwrap() & irq::STI, 0);
        assert!(write(&mut cpu, MIP, irq::STI));
        assert_eq!(read(&cpu, MIP).unwrap() & irq::STI, irq::STI);
        cpu.priv_mode = PRV_S;
        cpu.csr.mcounteren = 2;
        assert_eq!(read(&cpu, STIMECMP), None, "S-mode needs STCE");
        cpu.priv_mode = PRV_M;
        // STCE set: STIP is the comparison, and a write to mip cannot change it.
        assert!(write(&mut cpu, MENVCFG, MENVCFG_STCE | 1));
        assert_eq!(read(&cpu, MENVCFG), Some(MENVCFG_STCE | 1));
        assert!(write(&mut cpu, STIMECMP, u64::MAX));
        assert_eq!(read(&cpu, MIP).unwrap() & irq::STI, 0, "the written STIP no longer counts");
        assert!(cpu.stimer_deadline_ns().is_some());
        assert!(write(&mut cpu, STIMECMP, 0));
        assert_eq!(read(&cpu, MIP).unwrap() & irq::STI, irq::STI);
        assert!(write(&mut cpu, MIP, 0));
        assert_eq!(read(&cpu, MIP).unwrap() & irq::STI, irq::STI, "read-only under STCE");
        assert_eq!(cpu.stimer_deadline_ns(), None, "already fired");
        // S-mode with STCE and mcounteren.TM; not without TM; never U-mode.
        cpu.priv_mode = PRV_S;
        assert_eq!(read(&cpu, STIMECMP), Some(0));
        cpu.csr.mcounteren = 0;
        assert_eq!(read(&cpu, STIMECMP), None);
        assert!(!write(&mut cpu, STIMECMP, 5));
        cpu.priv_mode = PRV_U;
        cpu.csr.mcounteren = 2;
        assert_eq!(read(&cpu, STIMECMP), None);
        // senvcfg has no STCE.
        cpu.priv_mode = PRV_M;
        assert!(write(&mut cpu, SENVCFG, MENVCFG_STCE | 1));
        assert_eq!(read(&cpu, SENVCFG), Some(1));
    }
}
