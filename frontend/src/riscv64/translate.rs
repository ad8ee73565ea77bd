//! Per-block translation state and the small vocabulary every instruction handler uses.

use mimic_translator::ir::{Builder, ExitReason, MemOp, MemSize, Reg, Temp};

use super::helpers;
use super::regs;

/// Layout of the TB flags (`GuestCpu::tb_flags`): what a translation may depend on.
pub mod flags {
    /// Current privilege (PRV_U/S/M), bits 0..1.
    pub const PRIV_MASK: u64 = 3;
    /// mmu_idx for loads and stores (differs from the privilege under `mstatus.MPRV`), bits 2..3.
    pub const DATA_MMU_SHIFT: u64 = 2;
    /// `mstatus.FS != Off`: FP instructions are legal.
    pub const FS_ON: u64 = 1 << 4;
    /// `mstatus.FS == Dirty` already: FP register writes need not call the mark-dirty helper.
    pub const FS_DIRTY: u64 = 1 << 5;
}

/// Exception cause codes.
pub mod cause {
    pub const INSN_MISALIGNED: u64 = 0;
    pub const INSN_ACCESS: u64 = 1;
    pub const ILLEGAL_INSN: u64 = 2;
    pub const BREAKPOINT: u64 = 3;
    pub const LOAD_MISALIGNED: u64 = 4;
    pub const LOAD_ACCESS: u64 = 5;
    pub const STORE_MISALIGNED: u64 = 6;
    pub const STORE_ACCESS: u64 = 7;
    pub const ECALL_U: u64 = 8;
    pub const ECALL_S: u64 = 9;
    pub const ECALL_M: u64 = 11;
    pub const INSN_PAGE_FAULT: u64 = 12;
    pub const LOAD_PAGE_FAULT: u64 = 13;
    pub const STORE_PAGE_FAULT: u64 = 15;
}

pub struct Ctx {
    pub b: Builder,
    /// PC of the instruction being translated.
    pub pc: u64,
    /// Length in bytes of that instruction (2 or 4).
    pub insn_len: u8,
    /// The raw instruction as fetched (16-bit for compressed ones), for `tval` of illegal traps.
    pub raw: u32,
    pub flags: u64,
    /// Set by a handler that ended the block (jump, trap, exit to the run loop).
    pub ended: bool,
}

impl Ctx {
    pub fn new(pc: u64, flags: u64) -> Self {
        Self { b: Builder::new(pc), pc, insn_len: 4, raw: 0, flags, ended: false }
    }

    pub fn next_pc(&self) -> u64 {
        self.pc.wrapping_add(self.insn_len as u64)
    }

    pub fn priv_level(&self) -> u8 {
        (self.flags & flags::PRIV_MASK) as u8
    }

    pub fn data_mmu_idx(&self) -> u8 {
        ((self.flags >> flags::DATA_MMU_SHIFT) & 3) as u8
    }

    pub fn fp_enabled(&self) -> bool {
        self.flags & flags::FS_ON != 0
    }

    /// Reads of x0 are the constant 0.
    pub fn gpr(&mut self, r: u32) -> Temp {
        if r == 0 {
            self.b.konst(0)
        } else {
            self.b.get_reg(Reg(regs::X0 + r as u16))
        }
    }

    /// Writes to x0 are dropped.
    pub fn set_gpr(&mut self, r: u32, v: Temp) {
        if r != 0 {
            self.b.set_reg(Reg(regs::X0 + r as u16), v);
        }
    }

    pub fn fpr(&mut self, r: u32) -> Temp {
        self.b.get_reg(Reg(regs::F0 + r as u16))
    }

    pub fn set_fpr(&mut self, r: u32, v: Temp) {
        self.b.set_reg(Reg(regs::F0 + r as u16), v);
    }

    pub fn imm(&mut self, v: i64) -> Temp {
        self.b.konst(v as u64)
    }

    /// A data access of `size` under the current data mmu_idx.
    pub fn mem(&self, size: MemSize, signed: bool) -> MemOp {
        MemOp::new(size, signed, self.data_mmu_idx())
    }

    /// Raise exception `cause` with `tval` and end the block.
    pub fn raise(&mut self, cause: u64, tval: u64) {
        let c = self.b.konst(cause);
        let t = self.b.konst(tval);
        self.b.call_void(helpers::id(helpers::H_RAISE), &[c, t]);
        self.b.exit(ExitReason::Exception, self.pc);
        self.ended = true;
    }

    /// Illegal instruction: `tval` is the instruction bits, as Linux and riscv-tests expect.
    pub fn raise_illegal(&mut self) {
        self.raise(cause::ILLEGAL_INSN, self.raw as u64);
    }

    /// End the block with a direct jump (chainable).
    pub fn jump(&mut self, target: u64) {
        self.b.goto(target);
        self.ended = true;
    }

    /// End the block after this instruction and let the run loop re-evaluate the CPU state
    /// (privilege, interrupts, TLB) before continuing at the next instruction.
    pub fn end_reevaluate(&mut self) {
        self.b.exit(ExitReason::Reevaluate, self.next_pc());
        self.ended = true;
    }
}
