//! Per-block translation state and the small vocabulary every instruction handler uses, and
//! [`RiscvFrontend`], the block translator the run loop calls.
//!
//! `Ctx` keeps a small cache of which temp holds each integer register (and which temps are known
//! constants) so straight-line code re-reads neither registers nor constants it already has, and
//! handlers can fold computations on constants at translation time (`lui`+`addi`, `auipc`+`jalr`).
//! The cache follows the ops actually emitted, so handlers that use `ctx.b` directly stay correct:
//! a label or a helper call (which may write any register) forgets everything.

use mimic_translator::env::PAGE_MASK;
use mimic_translator::guest::{CodeFetch, Frontend};
use mimic_translator::ir::{BinOp, Block, Builder, ExitReason, MemOp, MemSize, Op, Reg, Temp, UnOp, Width};

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
    /// This instruction is a branch the block may execute as selects (see [`IfConversion`]).
    pub if_convert: Option<IfConversion>,
    /// The branch's condition while the instructions it skips are translated: their register
    /// writes keep the old value where it holds.
    skip: Option<(Temp, u64)>,
    cache: RegCache,
}

/// A short forward conditional branch over a few instructions that only compute into integer
/// registers (`bgeu a6,t2,1f; add a3,a3,t6; 1:`, the carry of multi-precision arithmetic) is
/// translated without ending the block: the skipped instructions always run, each register write
/// keeping the old value when the branch is taken. The block goes on past the target instead of
/// splitting in three, so a loop with such a branch stays one block (one budget check, one
/// straight-line run for page groups, a loop the optimiser sees whole). The instructions the
/// block charged but did not execute are counted in [`regs::SKIPPED`] so that `instret` stays
/// exact (`RiscvCpu::retired`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfConversion {
    pub target: u64,
    pub skipped: u32,
}

/// Most instructions a branch may skip and still be converted: the skipped ones always execute.
const MAX_IF_CONVERTED: u32 = 3;

/// What the ops emitted so far tell about register and temp values on the current straight-line
/// path.
#[derive(Default)]
struct RegCache {
    /// Temp holding x1..x31 (index 0 unused).
    gpr: [Option<Temp>; 32],
    /// Known constant value of each temp, by temp number.
    consts: Vec<Option<u64>>,
    /// Ops already folded into this cache.
    scanned: usize,
}

impl RegCache {
    fn clear_regs(&mut self) {
        self.gpr = [None; 32];
    }

    fn set_const(&mut self, t: Temp, v: u64) {
        let i = t.0 as usize;
        if self.consts.len() <= i {
            self.consts.resize(i + 1, None);
        }
        self.consts[i] = Some(v);
    }

    fn sync(&mut self, ops: &[Op]) {
        if self.scanned > ops.len() {
            // Someone truncated the block under us: nothing cached can be trusted.
            self.clear_regs();
            self.scanned = ops.len();
            return;
        }
        for op in &ops[self.scanned..] {
            match op {
                Op::Const { dst, value } => self.set_const(*dst, *value),
                Op::GetReg { dst, reg } | Op::SetReg { reg, src: dst } => {
                    let r = reg.0.wrapping_sub(regs::X0) as usize;
                    if (1..32).contains(&r) {
                        self.gpr[r] = Some(*dst);
                    }
                }
                Op::Label { .. } | Op::Call { .. } => self.clear_regs(),
                _ => {}
            }
        }
        self.scanned = ops.len();
    }
}

impl Ctx {
    pub fn new(pc: u64, flags: u64) -> Self {
        // As the builder's ops: room for a typical block's temps, not regrown op by op.
        let cache = RegCache { consts: Vec::with_capacity(64), ..RegCache::default() };
        Self { b: Builder::new(pc), pc, insn_len: 4, raw: 0, flags, ended: false, if_convert: None, skip: None, cache }
    }

    /// Forget cached register values (after a handler rewrote ops with `Builder::truncate`).
    pub fn invalidate_regs(&mut self) {
        self.cache.clear_regs();
        self.cache.scanned = self.b.op_count();
    }

    /// The value of `t` if it is a constant known at translation time.
    pub fn const_of(&mut self, t: Temp) -> Option<u64> {
        self.cache.sync(&self.b.block().ops);
        self.cache.consts.get(t.0 as usize).copied().flatten()
    }

    /// A constant temp (same as `imm`, unsigned spelling).
    pub fn konst(&mut self, v: u64) -> Temp {
        self.b.konst(v)
    }

    /// `a op b`, folded to a constant when both are known and the operation is simple, and to
    /// an operand for the 64-bit identities with zero (`mv` is `add rd, x0, rs`; every op saved
    /// here is interpreted or compiled thousands of times).
    pub fn bin(&mut self, op: BinOp, width: Width, a: Temp, b: Temp) -> Temp {
        let (ca, cb) = (self.const_of(a), self.const_of(b));
        if let (Some(x), Some(y)) = (ca, cb) {
            if let Some(v) = fold_bin(op, width, x, y) {
                return self.b.konst(v);
            }
        }
        if width == Width::W64 {
            let zero_ok = matches!(op, BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::Xor | BinOp::Shl | BinOp::Shr | BinOp::Sar);
            if cb == Some(0) && zero_ok {
                return a;
            }
            if ca == Some(0) && matches!(op, BinOp::Add | BinOp::Or | BinOp::Xor) {
                return b;
            }
        }
        self.b.bin(op, width, a, b)
    }

    pub fn bin64(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        self.bin(op, Width::W64, a, b)
    }

    /// `a op imm` for 64-bit operations, with the identities `x+0`, `x|0`, `x^0`, `x<<0` folded away.
    pub fn bin_imm(&mut self, op: BinOp, a: Temp, imm: u64) -> Temp {
        let identity = imm == 0
            && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::Xor | BinOp::Shl | BinOp::Shr | BinOp::Sar);
        if identity {
            return a;
        }
        // Fold before emitting the immediate so no dead constant is left behind.
        if let Some(v) = self.const_of(a).and_then(|x| fold_bin(op, Width::W64, x, imm)) {
            return self.b.konst(v);
        }
        let k = self.b.konst(imm);
        self.bin(op, Width::W64, a, k)
    }

    /// Unary op, folded for constant sign/zero extensions.
    pub fn un(&mut self, op: UnOp, width: Width, a: Temp) -> Temp {
        if let Some(x) = self.const_of(a) {
            let v = match op {
                UnOp::Sext32 => Some(x as i32 as i64 as u64),
                UnOp::Zext32 => Some(x as u32 as u64),
                UnOp::Not if width == Width::W64 => Some(!x),
                UnOp::Neg if width == Width::W64 => Some(x.wrapping_neg()),
                _ => None,
            };
            if let Some(v) = v {
                return self.b.konst(v);
            }
        }
        self.b.un(op, width, a)
    }

    /// Sign-extend the low 32 bits (the result rule of every RV64 `*W` instruction).
    pub fn sext32(&mut self, a: Temp) -> Temp {
        self.un(UnOp::Sext32, Width::W64, a)
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
            return self.b.konst(0);
        }
        self.cache.sync(&self.b.block().ops);
        if let Some(t) = self.cache.gpr[r as usize & 31] {
            return t;
        }
        self.b.get_reg(Reg(regs::X0 + r as u16))
    }

    /// Writes to x0 are dropped. Under an if-converted branch the old value stays where the
    /// branch is taken.
    pub fn set_gpr(&mut self, r: u32, v: Temp) {
        if r != 0 {
            let v = match self.skip {
                Some((taken, _)) => {
                    let old = self.gpr(r);
                    self.b.select(taken, old, v)
                }
                None => v,
            };
            self.b.set_reg(Reg(regs::X0 + r as u16), v);
        }
    }

    /// Start an if-converted branch (see [`IfConversion`]) taken where `taken` (a comparison:
    /// 0 or 1) is 1: count the instructions it skips when taken, and predicate the writes until
    /// `c.target`.
    pub fn begin_skip(&mut self, taken: Temp, c: IfConversion) {
        let inc = if c.skipped == 1 {
            taken
        } else {
            let n = self.b.konst(c.skipped as u64);
            self.b.bin(BinOp::Mul, Width::W64, taken, n)
        };
        let before = self.b.get_reg(Reg(regs::SKIPPED));
        let after = self.b.bin(BinOp::Add, Width::W64, before, inc);
        self.b.set_reg(Reg(regs::SKIPPED), after);
        self.skip = Some((taken, c.target));
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

/// Fold `a op b` at translation time for the operations handlers commonly see with constants.
fn fold_bin(op: BinOp, width: Width, a: u64, b: u64) -> Option<u64> {
    let v = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl if width == Width::W64 => a << (b & 63),
        BinOp::Shr if width == Width::W64 => a >> (b & 63),
        BinOp::Sar if width == Width::W64 => ((a as i64) >> (b & 63)) as u64,
        _ => return None,
    };
    Some(match width {
        Width::W64 => v,
        Width::W32 => v as u32 as u64,
    })
}

/// The RISC-V rv64gc block translator.
pub struct RiscvFrontend;

impl RiscvFrontend {
    /// End the block at `pc` because its instruction could not be fetched. If it is the block's
    /// first instruction the block stays empty: the run loop then delivers the fetch fault the
    /// fetcher recorded, precisely and without caching anything. Otherwise the block stops before
    /// the instruction and the block that starts there will fault on it.
    fn fetch_failed(ctx: &mut Ctx, pc: u64, first: bool) {
        if !first {
            ctx.b.goto(pc);
        }
    }
}

impl Frontend for RiscvFrontend {
    fn translate(&self, fetch: &mut dyn CodeFetch, pc: u64, flags: u64, max_insns: u32) -> Block {
        let mut ctx = Ctx::new(pc, flags);
        let page = pc & PAGE_MASK;
        let max_insns = max_insns.max(1);
        let mut cur = pc;
        let mut count = 0u32;
        loop {
            let first = count == 0;
            let Some(lo) = fetch.fetch_u16(cur) else {
                Self::fetch_failed(&mut ctx, cur, first);
                break;
            };
            let (raw, len) = if lo & 3 == 3 {
                let Some(hi) = fetch.fetch_u16(cur.wrapping_add(2)) else {
                    Self::fetch_failed(&mut ctx, cur, first);
                    break;
                };
                ((hi as u32) << 16 | lo as u32, 4u8)
            } else {
                (lo as u32, 2u8)
            };
            ctx.pc = cur;
            ctx.insn_len = len;
            ctx.raw = raw;
            if ctx.skip.is_none() {
                ctx.if_convert = if_conversion(fetch, cur, raw, len, max_insns - count);
            }
            ctx.b.insn_start(cur, len);
            super::decode::translate_insn(&mut ctx, raw);
            ctx.if_convert = None;
            count += 1;
            if ctx.ended {
                break;
            }
            let next = cur.wrapping_add(len as u64);
            if ctx.skip.is_some_and(|(_, end)| end == next) {
                ctx.skip = None;
            }
            if count >= max_insns || next & PAGE_MASK != page {
                ctx.b.goto(next);
                break;
            }
            cur = next;
        }
        // The code TLB is the privilege's (`RiscvCpu::code_mmu_idx`).
        let prv = ctx.priv_level();
        ctx.b.set_code_mmu_idx(prv);
        ctx.b.finish()
    }

    fn disassemble(&self, code: &[u8], pc: u64) -> String {
        super::disas::disassemble(code, pc)
    }
}

/// Whether the instruction at `pc` is a conditional branch the block can execute as selects (see
/// [`IfConversion`]): forward, on this page, over at most `MAX_IF_CONVERTED` instructions that
/// only compute into integer registers and end exactly at its target, all within `room`
/// instructions (the skipped ones must not be cut off by the block's end).
fn if_conversion(fetch: &mut dyn CodeFetch, pc: u64, raw: u32, len: u8, room: u32) -> Option<IfConversion> {
    let insn = super::decode::expand(raw)?;
    if !super::decode::is_conditional_branch(insn) {
        return None;
    }
    let target = pc.wrapping_add(super::decode::fields::imm_b(insn) as u64);
    let mut at = pc.wrapping_add(len as u64);
    if target <= at || target & PAGE_MASK != pc & PAGE_MASK {
        return None;
    }
    let mut skipped = 0;
    while at < target {
        if skipped == MAX_IF_CONVERTED {
            return None;
        }
        // The same page as the branch: mapped, so these fetches cannot fault.
        let lo = fetch.fetch_u16(at)?;
        let (raw, len) = if lo & 3 == 3 {
            ((fetch.fetch_u16(at.wrapping_add(2))? as u32) << 16 | lo as u32, 4)
        } else {
            (lo as u32, 2)
        };
        if !super::decode::expand(raw).is_some_and(super::decode::is_pure_integer) {
            return None;
        }
        skipped += 1;
        at = at.wrapping_add(len);
    }
    (at == target && skipped < room).then_some(IfConversion { target, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Guest code at fixed addresses; anything else faults.
    pub struct FakeCode(pub HashMap<u64, u16>);

    impl FakeCode {
        pub fn new(base: u64, halves: &[u16]) -> Self {
            Self(halves.iter().enumerate().map(|(i, h)| (base + 2 * i as u64, *h)).collect())
        }
    }

    impl CodeFetch for FakeCode {
        fn fetch_u16(&mut self, vaddr: u64) -> Option<u16> {
            self.0.get(&vaddr).copied()
        }
    }

    fn words(ws: &[u32]) -> Vec<u16> {
        ws.iter().flat_map(|w| [*w as u16, (*w >> 16) as u16]).collect()
    }

    #[test]
    fn straight_line_block_falls_through_with_goto() {
        // addi a0,a0,1 ; c.addi a0,1 ; then max_insns stops it
        let mut halves = words(&[0x00150513]);
        halves.push(0x0505);
        let mut code = FakeCode::new(0x8000_0000, &halves);
        let b = RiscvFrontend.translate(&mut code, 0x8000_0000, 3, 2);
        assert_eq!(b.insn_count, 2);
        assert_eq!(b.guest_len, 6);
        assert_eq!(b.ops.last(), Some(&Op::Goto { pc: 0x8000_0006 }));
        let starts: Vec<_> = b.ops.iter().filter(|o| matches!(o, Op::InsnStart { .. })).cloned().collect();
        assert_eq!(starts, vec![Op::InsnStart { pc: 0x8000_0000, len: 4 }, Op::InsnStart { pc: 0x8000_0004, len: 2 }]);
    }

    #[test]
    fn a_csr_write_ends_the_block_with_a_chainable_jump_unless_it_changes_paging() {
        // csrw sscratch, a0: the block goes on to the next instruction through a Goto.
        let mut code = FakeCode::new(0x1000, &words(&[0x14051073, 0x00150513]));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!((b.insn_count, b.ops.last()), (1, Some(&Op::Goto { pc: 0x1004 })));
        // csrw satp, a0: back to the run loop.
        let mut code = FakeCode::new(0x1000, &words(&[0x18051073, 0x00150513]));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!(b.ops.last(), Some(&Op::Exit { reason: ExitReason::Reevaluate, pc: 0x1004 }));
    }

    #[test]
    fn moves_and_zero_operands_emit_no_alu_op() {
        // c.mv a0,a1 (add a0,x0,a1) ; or a2,a1,x0 ; sub a3,a1,x0
        let mut halves = vec![0x852e];
        halves.extend(words(&[0x0005e633, 0x400586b3]));
        let mut code = FakeCode::new(0x1000, &halves);
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 3);
        assert_eq!(b.insn_count, 3);
        assert!(!b.ops.iter().any(|o| matches!(o, Op::Bin { .. })), "{:?}", b.ops);
        // All three registers get a1's value.
        let sets: Vec<_> = b.ops.iter().filter(|o| matches!(o, Op::SetReg { .. })).collect();
        assert_eq!(sets.len(), 3);
    }

    #[test]
    fn register_cache_avoids_rereading() {
        // addi a0,a0,1 ; addi a0,a0,1: the second reads the temp the first wrote
        let mut code = FakeCode::new(0x1000, &words(&[0x00150513, 0x00150513]));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 2);
        let gets = b.ops.iter().filter(|o| matches!(o, Op::GetReg { .. })).count();
        assert_eq!(gets, 1);
    }

    #[test]
    fn lui_addi_folds_to_one_constant() {
        // lui a0,0x12345 ; addi a0,a0,0x678
        let mut code = FakeCode::new(0x1000, &words(&[0x12345537, 0x67850513]));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 2);
        assert!(b.ops.iter().any(|o| matches!(o, Op::Const { value: 0x12345678, .. })));
        assert!(!b.ops.iter().any(|o| matches!(o, Op::Bin { .. })));
        // and the addend itself is never materialised
        assert!(!b.ops.iter().any(|o| matches!(o, Op::Const { value: 0x678, .. })));
    }

    #[test]
    fn fetch_fault_on_first_insn_gives_an_empty_block() {
        let mut code = FakeCode::new(0x1000, &[]);
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!((b.ops.len(), b.insn_count), (0, 0));
        // Also when only the upper half of a 32-bit first instruction is missing.
        let mut code = FakeCode::new(0x1000, &[0x0513]);
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!((b.ops.len(), b.insn_count), (0, 0));
    }

    #[test]
    fn fetch_fault_later_ends_block_before_it() {
        // addi, then the upper half of the next 32-bit insn is missing
        let mut code = FakeCode::new(0x1000, &[0x0513, 0x0015, 0x0513]);
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!(b.insn_count, 1);
        assert_eq!(b.ops.last(), Some(&Op::Goto { pc: 0x1004 }));
    }

    #[test]
    fn block_stops_at_page_boundary() {
        // two c.nop at 0x1ffc, 0x1ffe: the block ends with a goto to the next page
        let mut code = FakeCode::new(0x1ffc, &[0x0001, 0x0001, 0x0001]);
        let b = RiscvFrontend.translate(&mut code, 0x1ffc, 3, 64);
        assert_eq!(b.insn_count, 2);
        assert_eq!(b.ops.last(), Some(&Op::Goto { pc: 0x2000 }));
    }

    #[test]
    fn insn_crossing_page_is_the_last() {
        // a 32-bit addi at 0x1ffe spans two pages
        let mut code = FakeCode::new(0x1ffe, &words(&[0x00150513, 0x00150513]));
        let b = RiscvFrontend.translate(&mut code, 0x1ffe, 3, 64);
        assert_eq!(b.insn_count, 1);
        assert_eq!(b.ops.last(), Some(&Op::Goto { pc: 0x2002 }));
    }

    #[test]
    fn illegal_insn_ends_block_with_exception() {
        let mut code = FakeCode::new(0x1000, &[0x0000, 0x0001]);
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!(b.insn_count, 1);
        assert_eq!(b.ops.last(), Some(&Op::Exit { reason: ExitReason::Exception, pc: 0x1000 }));
    }

    // bgeu a6,t2,+8 ; add a3,a3,t6 ; addi a0,a0,1 (the carry of mpihelp_submul_1, then more)
    const SHORT_BRANCH: [u32; 3] = [0x0078_7463, 0x01f6_86b3, 0x0015_0513];

    #[test]
    fn a_short_forward_branch_over_register_ops_does_not_end_the_block() {
        let mut code = FakeCode::new(0x1000, &words(&SHORT_BRANCH));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
        assert_eq!(b.insn_count, 3, "{:?}", b.ops);
        assert!(!b.ops.iter().any(|o| matches!(o, Op::BrCond { .. } | Op::Label { .. })), "{:?}", b.ops);
        assert_eq!(b.ops.last(), Some(&Op::Goto { pc: 0x100c }));
        // a3 is written through a select; the skipped-instruction counter is updated.
        let a3 = b.ops.iter().find_map(|o| match o {
            Op::SetReg { reg: Reg(13), src } => Some(*src),
            _ => None,
        });
        assert!(b.ops.iter().any(|o| matches!(o, Op::Select { dst, .. } if Some(*dst) == a3)), "{:?}", b.ops);
        assert!(b.ops.iter().any(|o| matches!(o, Op::SetReg { reg: Reg(regs::SKIPPED), .. })));
    }

    #[test]
    fn branches_that_are_not_short_register_only_skips_still_end_the_block() {
        let ends_at_branch = |at: u64, ws: &[u32], max: u32| {
            let mut code = FakeCode::new(at, &words(ws));
            let b = RiscvFrontend.translate(&mut code, at, 3, max);
            b.insn_count == 1 && b.ops.iter().any(|o| matches!(o, Op::BrCond { .. }))
        };
        // over a load: beq a0,a1,+8 ; ld a2,0(a3)
        assert!(ends_at_branch(0x1000, &[0x00b5_0463, 0x0006_b603, 0x0015_0513], 8));
        // over a jump: beq a0,a1,+8 ; jal x0,+64
        assert!(ends_at_branch(0x1000, &[0x00b5_0463, 0x0400_006f, 0x0015_0513], 8));
        // backwards: beq a0,a1,-4
        assert!(ends_at_branch(0x1004, &[0xfeb5_0ee3, 0x0015_0513], 8));
        // four instructions skipped: beq a0,a1,+20 ; 4 x addi a0,a0,1
        let four = [0x00b5_0a63, 0x0015_0513, 0x0015_0513, 0x0015_0513, 0x0015_0513, 0x0015_0513];
        assert!(ends_at_branch(0x1000, &four, 16));
        // the block's instruction limit would cut the skipped instruction off; with room for it,
        // the block may end right at the target
        assert!(ends_at_branch(0x1000, &SHORT_BRANCH, 1));
        let mut code = FakeCode::new(0x1000, &words(&SHORT_BRANCH));
        let b = RiscvFrontend.translate(&mut code, 0x1000, 3, 2);
        assert_eq!((b.insn_count, b.ops.last()), (2, Some(&Op::Goto { pc: 0x1008 })));
    }

    /// Execution through the IR interpreter against a flat fake memory at 0x10000..0x11000.
    mod exec {
        use super::*;
        use mimic_translator::env::{decode_memop, unpack_exit, Env, ExitCode, Runtime};
        use mimic_translator::interp::interpret;
        use std::cell::RefCell;

        const MEM_BASE: u64 = 0x10000;

        thread_local! {
            static MEM: RefCell<Vec<u8>> = RefCell::new(vec![0; 0x1000]);
        }

        unsafe extern "C" fn load_slow(_: *mut Env, va: u64, memop: u64) -> u64 {
            let m = decode_memop(memop);
            let n = m.size.bytes() as usize;
            let off = (va - MEM_BASE) as usize;
            let mut raw = 0u64;
            MEM.with(|mem| {
                for k in 0..n {
                    raw |= (mem.borrow()[off + k] as u64) << (8 * k);
                }
            });
            if m.signed && n < 8 {
                let sh = 64 - 8 * n as u32;
                ((raw << sh) as i64 >> sh) as u64
            } else {
                raw
            }
        }

        unsafe extern "C" fn store_slow(_: *mut Env, va: u64, v: u64, memop: u64) {
            let n = decode_memop(memop).size.bytes() as usize;
            let off = (va - MEM_BASE) as usize;
            MEM.with(|mem| {
                for k in 0..n {
                    mem.borrow_mut()[off + k] = (v >> (8 * k)) as u8;
                }
            });
        }

        unsafe extern "C" fn lookup(_: *mut Env) -> *const u8 {
            std::ptr::null()
        }

        static RUNTIME: Runtime = Runtime { load_slow, store_slow, lookup };

        /// Run `halves` (at 0x1000) until the PC leaves the code; returns the register file.
        fn run(halves: &[u16]) -> Box<Env> {
            let end = 0x1000 + 2 * halves.len() as u64;
            let mut code = FakeCode::new(0x1000, halves);
            let mut env = Box::new(Env::new());
            env.runtime = &RUNTIME;
            env.budget = 1 << 40;
            env.pc = 0x1000;
            for _ in 0..1000 {
                if env.pc == end {
                    return env;
                }
                let block = RiscvFrontend.translate(&mut code, env.pc, 3, 32);
                mimic_translator::verify::verify(&block, crate::riscv64::helper_table()).unwrap();
                // SAFETY: env is a live Env with a valid runtime; the block is verified.
                let exit = unsafe { interpret(&block, 0, &mut *env, crate::riscv64::helper_table()) };
                let (code, _, _) = unpack_exit(exit);
                assert!(matches!(code, ExitCode::Goto | ExitCode::Lookup), "exit {code:?} at {:#x}", env.pc);
            }
            panic!("program did not finish");
        }

        /// Assembled with riscv64-unknown-elf-as -march=rv64gc_zba_zbb_zbs (source in the comments
        /// of the expected values below).
        const PROGRAM: &str = "80000537 55fd 02b5443b 02b564bb 461d 0206493b 020669bb 02055a3b 02057abb \
            02b54b33 02a50bbb 02b59c33 02b5bcb3 02b5ad33 4281 4329 929a 137d fe031ee3 43c9 13c2 34000e37 93f2 \
            0385 2873de13 60001e9b 60101f1b 60c51fbb 60165693 20c5e73b 67c1 e38c 1007a82f 18c7a8af 18c7adaf \
            0007a083 e0b7a1af 0007e203 80c7a12f 0047a503";

        fn halves(text: &str) -> Vec<u16> {
            let mut out = Vec::new();
            for w in text.split_whitespace().filter(|w| *w != "\\") {
                let v = u32::from_str_radix(w, 16).unwrap();
                if w.len() == 8 {
                    out.push(v as u16);
                    out.push((v >> 16) as u16);
                } else {
                    out.push(v as u16);
                }
            }
            out
        }

        #[test]
        fn an_if_converted_branch_skips_its_writes_and_counts_what_it_skipped() {
            // bgeu a6,t2,+8 ; add a3,a3,t6 ; addi a0,a0,1
            for (a6, t2, a3, skipped) in [(5u64, 3u64, 10u64, 1u64), (3, 5, 17, 0)] {
                let mut code = FakeCode::new(0x1000, &words(&SHORT_BRANCH));
                let block = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
                let mut env = Box::new(Env::new());
                env.runtime = &RUNTIME;
                env.budget = 100;
                (env.regs[16], env.regs[7], env.regs[13], env.regs[31], env.regs[10]) = (a6, t2, 10, 7, 1);
                mimic_translator::verify::verify(&block, crate::riscv64::helper_table()).unwrap();
                // SAFETY: env is a live Env with a valid runtime; the block is verified.
                unsafe { interpret(&block, 0, &mut *env, crate::riscv64::helper_table()) };
                assert_eq!((env.regs[13], env.regs[10]), (a3, 2), "a6={a6} t2={t2}");
                assert_eq!(env.regs[regs::SKIPPED as usize], skipped);
                assert_eq!(env.budget, 97, "the block charges all three");
            }
            // beq a0,a1,+16 ; 3 x addi a2,a2,1: three skipped when taken
            for (a1, a2, skipped) in [(5u64, 0u64, 3u64), (6, 3, 0)] {
                let mut code = FakeCode::new(0x1000, &words(&[0x00b5_0863, 0x0016_0613, 0x0016_0613, 0x0016_0613]));
                let block = RiscvFrontend.translate(&mut code, 0x1000, 3, 8);
                assert_eq!(block.insn_count, 4);
                let mut env = Box::new(Env::new());
                env.runtime = &RUNTIME;
                env.budget = 100;
                (env.regs[10], env.regs[11], env.regs[12]) = (5, a1, 0);
                // SAFETY: env is a live Env with a valid runtime.
                unsafe { interpret(&block, 0, &mut *env, crate::riscv64::helper_table()) };
                assert_eq!((env.regs[12], env.regs[regs::SKIPPED as usize]), (a2, skipped));
            }
        }

        #[test]
        fn integer_program_gives_spec_results() {
            let env = run(&halves(PROGRAM));
            let x = |r: usize| env.regs[r];
            assert_eq!(x(8), 0xffff_ffff_8000_0000, "divw MIN/-1");
            assert_eq!(x(9), 0, "remw MIN/-1");
            assert_eq!(x(18), u64::MAX, "divw x/0");
            assert_eq!(x(19), 7, "remw x/0");
            assert_eq!(x(20), u64::MAX, "divuw x/0");
            assert_eq!(x(21), 0xffff_ffff_8000_0000, "remuw x/0");
            assert_eq!(x(22), 0x8000_0000, "div");
            assert_eq!(x(23), 0, "mulw");
            assert_eq!(x(24), 0, "mulh -1*-1");
            assert_eq!(x(25), 0xffff_ffff_ffff_fffe, "mulhu");
            assert_eq!(x(26), u64::MAX, "mulhsu -1*max");
            assert_eq!(x(5), 55, "loop sum");
            assert_eq!(x(6), 0);
            assert_eq!(x(7), 0x0012_0000_3400_0001);
            assert_eq!(x(28), 0x00ff_0000_ff00_00ff, "orc.b");
            assert_eq!(x(29), 32, "clzw 0");
            assert_eq!(x(30), 32, "ctzw 0");
            assert_eq!(x(31), 0x40, "rolw");
            assert_eq!(x(13), 0x8000_0000_0000_0003, "rori");
            assert_eq!(x(14), 0x7_ffff_ffff, "sh3add.uw");
            assert_eq!(x(16), u64::MAX, "lr.w");
            assert_eq!(x(17), 0, "sc.w success");
            assert_eq!(x(27), 1, "sc.w without reservation");
            assert_eq!(x(1), 7, "value stored by sc.w");
            assert_eq!(x(3), 7, "amomaxu.w old value");
            assert_eq!(x(4), 0xffff_ffff, "amomaxu.w result");
            assert_eq!(x(2), u64::MAX, "amomin.w old value");
            assert_eq!(x(10), u64::MAX, "upper word untouched");
            assert_eq!(env.regs[crate::riscv64::regs::RESV_ADDR as usize], u64::MAX);
        }
    }
}
