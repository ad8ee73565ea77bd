//! Mimic IR: the guest-independent language frontends translate guest code into.
//!
//! A [`Block`] is the translation of one guest basic block (a translation block, TB): a flat list
//! of [`Op`]s. Values live in 64-bit temporaries ([`Temp`]), each assigned exactly once. Guest
//! architectural state lives in the [`crate::env::Env`] register file and is read and written with
//! [`Op::GetReg`]/[`Op::SetReg`]; the guest PC only changes at block exits.
//!
//! Control flow inside a block is forward-only: [`Op::BrCond`]/[`Op::Br`] jump to a later
//! [`Op::Label`]. Temps do not survive a label: a value needed after one must go through a
//! register slot. (This is what TCG does with its temps, and it keeps the IR trivially lowerable
//! to both the interpreter and Cranelift.) Every path ends in an exit op ([`Op::Goto`],
//! [`Op::GotoPtr`] or [`Op::Exit`]).
//!
//! Operations are total: division by zero and signed overflow have defined results (those of
//! RISC-V), shifts use the low 6 bits (5 for 32-bit ops) of the amount. A frontend whose guest
//! traps instead checks first.

use std::fmt;

/// An SSA temporary: a 64-bit value, assigned once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Temp(pub u32);

/// A forward label inside a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(pub u32);

/// A slot of the guest register file (`Env::regs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u16);

/// A helper function, by index into the [`crate::helpers::HelperTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HelperId(pub u16);

/// Operand width. `W32` ops compute on the low 32 bits and zero-extend their result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    And,
    Or,
    Xor,
    AndNot,
    OrNot,
    XorNot,
    Shl,
    /// Logical shift right.
    Shr,
    /// Arithmetic shift right.
    Sar,
    Rotl,
    Rotr,
    Mul,
    /// High half of the signed×signed product (`W64` only).
    MulHs,
    /// High half of the unsigned×unsigned product (`W64` only).
    MulHu,
    /// High half of the signed×unsigned product (`W64` only).
    MulHsu,
    /// Signed division: x/0 = -1, MIN/-1 = MIN.
    Div,
    /// Unsigned division: x/0 = all ones.
    DivU,
    /// Signed remainder: x%0 = x, MIN%-1 = 0.
    Rem,
    /// Unsigned remainder: x%0 = x.
    RemU,
    Min,
    MinU,
    Max,
    MaxU,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Not,
    Neg,
    Sext8,
    Sext16,
    Sext32,
    Zext8,
    Zext16,
    Zext32,
    /// Count leading zeros (of the low 32 bits for `W32`).
    Clz,
    Ctz,
    Popcnt,
    /// Byte swap of the whole value (`W64`) or the low word (`W32`).
    Bswap,
}

/// Comparison conditions; the result is 1 or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Ne,
    Lt,
    Ge,
    Ltu,
    Geu,
}

/// Size of a memory access in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemSize {
    B1 = 1,
    B2 = 2,
    B4 = 4,
    B8 = 8,
}

impl MemSize {
    pub fn bytes(self) -> u64 {
        self as u64
    }
}

/// How a load or store reaches memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemOp {
    pub size: MemSize,
    /// Sign-extend a load's result to 64 bits (otherwise zero-extend).
    pub signed: bool,
    /// Index of the softmmu TLB (the translation regime / privilege) used for this access.
    pub mmu_idx: u8,
    /// A misaligned access raises the guest's misaligned exception instead of being emulated
    /// (RISC-V atomics).
    pub align: bool,
    /// A load that is the read half of a read-modify-write: it needs write permission and its
    /// faults are reported as store faults (RISC-V AMOs and SC).
    pub rmw: bool,
}

impl MemOp {
    pub fn new(size: MemSize, signed: bool, mmu_idx: u8) -> Self {
        Self { size, signed, mmu_idx, align: false, rmw: false }
    }
}

/// Why a block returns to the run loop without naming a next PC for chaining.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ExitReason {
    /// State changed in a way that needs the run loop to re-evaluate (mode, TLB, interrupts
    /// enabled); continue at `Env::pc`.
    Reevaluate = 1,
    /// A helper recorded a guest exception in the CPU state; the run loop delivers it.
    Exception = 2,
    /// The guest waits for an interrupt (`wfi`).
    Halt = 3,
    /// All translated code must be discarded (`fence.i`, code modification); continue at `Env::pc`.
    FlushCode = 4,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Start of the guest instruction at `pc` (`len` bytes). Exceptions raised by the ops that
    /// follow report this PC; printers and disassembly interleave guest code here.
    InsnStart { pc: u64, len: u8 },
    Const { dst: Temp, value: u64 },
    GetReg { dst: Temp, reg: Reg },
    SetReg { reg: Reg, src: Temp },
    Bin { op: BinOp, width: Width, dst: Temp, a: Temp, b: Temp },
    Un { op: UnOp, width: Width, dst: Temp, a: Temp },
    /// `dst = (a cond b) as u64` on 64-bit values.
    Cmp { cond: Cond, dst: Temp, a: Temp, b: Temp },
    /// `dst = if cond != 0 { a } else { b }`.
    Select { dst: Temp, cond: Temp, a: Temp, b: Temp },
    /// Guest virtual memory load through the softmmu; may raise a guest exception.
    Load { dst: Temp, addr: Temp, mem: MemOp },
    /// Guest virtual memory store through the softmmu; may raise a guest exception.
    Store { addr: Temp, src: Temp, mem: MemOp },
    /// Call a helper with up to [`crate::helpers::MAX_HELPER_ARGS`] arguments.
    /// (`args` boxed rather than a `Vec`: this variant sets the size of every op, and the
    /// interpreter's speed depends on how much IR it streams through the cache.)
    Call { helper: HelperId, dst: Option<Temp>, args: Box<[Temp]> },
    /// Jump forward to `label` if `cond != 0`.
    BrCond { cond: Temp, label: Label },
    Br { label: Label },
    Label { label: Label },
    /// Exit: continue at a PC known at translation time (chainable).
    Goto { pc: u64 },
    /// Exit: continue at a computed PC (looked up, then jumped to without the run loop if found).
    GotoPtr { target: Temp },
    /// Exit to the run loop, continuing at `pc` (ignored for `Exception`).
    Exit { reason: ExitReason, pc: u64 },
}

// Blocks are kept as IR for their lifetime and interpreted from it: keep ops small.
const _: () = assert!(std::mem::size_of::<Op>() <= 32);

impl Op {
    /// Ops after which nothing in the same straight-line run executes.
    pub fn is_terminator(&self) -> bool {
        matches!(self, Op::Goto { .. } | Op::GotoPtr { .. } | Op::Exit { .. } | Op::Br { .. })
    }

    pub fn dst(&self) -> Option<Temp> {
        match self {
            Op::Const { dst, .. }
            | Op::GetReg { dst, .. }
            | Op::Bin { dst, .. }
            | Op::Un { dst, .. }
            | Op::Cmp { dst, .. }
            | Op::Select { dst, .. }
            | Op::Load { dst, .. } => Some(*dst),
            Op::Call { dst, .. } => *dst,
            _ => None,
        }
    }

    /// Temps this op reads (without allocating: the verifier asks for every op of every block,
    /// twice per compiled block).
    pub fn uses(&self) -> impl Iterator<Item = Temp> + '_ {
        let z = Temp(0);
        let (fixed, n, rest): ([Temp; 3], usize, &[Temp]) = match self {
            Op::SetReg { src, .. } => ([*src, z, z], 1, &[]),
            Op::Bin { a, b, .. } | Op::Cmp { a, b, .. } => ([*a, *b, z], 2, &[]),
            Op::Un { a, .. } => ([*a, z, z], 1, &[]),
            Op::Select { cond, a, b, .. } => ([*cond, *a, *b], 3, &[]),
            Op::Load { addr, .. } => ([*addr, z, z], 1, &[]),
            Op::Store { addr, src, .. } => ([*addr, *src, z], 2, &[]),
            Op::Call { args, .. } => ([z; 3], 0, &args[..]),
            Op::BrCond { cond, .. } => ([*cond, z, z], 1, &[]),
            Op::GotoPtr { target } => ([*target, z, z], 1, &[]),
            _ => ([z; 3], 0, &[]),
        };
        fixed.into_iter().take(n).chain(rest.iter().copied())
    }
}

/// The second guest page of a block (see [`Block::second_page`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondPage {
    /// Its virtual page address.
    pub vpage: u64,
    /// The code TLB addend (host page minus guest page) of the RAM page it maps to.
    pub addend: u64,
}

/// One translation block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// Guest virtual PC of the first instruction.
    pub pc: u64,
    /// Guest instructions translated (for instruction counting and statistics).
    pub insn_count: u32,
    /// Guest code bytes covered, from `pc`.
    pub guest_len: u32,
    pub ops: Vec<Op>,
    /// The softmmu TLB (mmu index) this block's code is fetched through. Compiled code guards
    /// its chains to other pages with that TLB's entry for the target page.
    pub code_mmu_idx: u8,
    /// The CPU mode flags the block was translated under (`GuestCpu::tb_flags`, set by the run
    /// loop). Compiled `GotoPtr`s key their indirect-jump cache lookups with it (see
    /// [`crate::env::ItcEntry`]).
    pub flags: u64,
    /// Where the block's code runs on into a second guest page that is RAM: that page as it was
    /// translated (set by the run loop, like `flags`). Compiled code entered by a jump from other
    /// compiled code checks that its code TLB still maps the page so before it runs (see
    /// [`crate::env::Env::page_checked`]). The IR's meaning does not depend on it: the
    /// interpreter, entered only by the run loop after its own check, ignores it.
    pub second_page: Option<SecondPage>,
    pub(crate) next_temp: u32,
    pub(crate) next_label: u32,
}

impl Block {
    pub fn new(pc: u64) -> Self {
        Self { pc, ..Default::default() }
    }

    pub fn temp_count(&self) -> u32 {
        self.next_temp
    }

    pub fn label_count(&self) -> u32 {
        self.next_label
    }

    /// May the block's `GotoPtr`s use the indirect-jump cache ([`crate::env::ItcEntry`])? Its
    /// entries are keyed by the flags the jump leaves under, which compiled code knows only as
    /// its block's `flags`; a block without helper calls cannot change them (mode, `mstatus`
    /// and FP state change only in helpers), so its exits leave under exactly those.
    pub fn may_use_itc(&self) -> bool {
        !self.ops.iter().any(|o| matches!(o, Op::Call { .. }))
    }
}

const OPS_RESERVED: usize = 64;

/// Builds a [`Block`]; frontends use its methods instead of pushing ops by hand.
pub struct Builder {
    block: Block,
}

impl Builder {
    pub fn new(pc: u64) -> Self {
        // Room for a typical block's ops up front (growing from empty reallocated five times
        // per block), trimmed in `finish`: blocks only ever interpreted keep their IR for good.
        let mut block = Block::new(pc);
        block.ops.reserve(OPS_RESERVED);
        Self { block }
    }

    pub fn finish(mut self) -> Block {
        self.block.ops.shrink_to_fit();
        self.block
    }

    /// See [`Block::code_mmu_idx`].
    pub fn set_code_mmu_idx(&mut self, idx: u8) {
        self.block.code_mmu_idx = idx;
    }

    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Throw away everything after op index `len` (a frontend backs out of an instruction it
    /// could not translate, e.g. one that crosses into an unmapped page).
    pub fn truncate(&mut self, len: usize) {
        self.block.ops.truncate(len);
    }

    pub fn op_count(&self) -> usize {
        self.block.ops.len()
    }

    pub fn push(&mut self, op: Op) {
        self.block.ops.push(op);
    }

    pub fn new_temp(&mut self) -> Temp {
        let t = Temp(self.block.next_temp);
        self.block.next_temp += 1;
        t
    }

    pub fn new_label(&mut self) -> Label {
        let l = Label(self.block.next_label);
        self.block.next_label += 1;
        l
    }

    pub fn insn_start(&mut self, pc: u64, len: u8) {
        self.block.insn_count += 1;
        self.block.guest_len = (pc + len as u64 - self.block.pc) as u32;
        self.push(Op::InsnStart { pc, len });
    }

    pub fn konst(&mut self, value: u64) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Const { dst, value });
        dst
    }

    pub fn get_reg(&mut self, reg: Reg) -> Temp {
        let dst = self.new_temp();
        self.push(Op::GetReg { dst, reg });
        dst
    }

    pub fn set_reg(&mut self, reg: Reg, src: Temp) {
        self.push(Op::SetReg { reg, src });
    }

    pub fn bin(&mut self, op: BinOp, width: Width, a: Temp, b: Temp) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Bin { op, width, dst, a, b });
        dst
    }

    pub fn bin64(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        self.bin(op, Width::W64, a, b)
    }

    pub fn un(&mut self, op: UnOp, width: Width, a: Temp) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Un { op, width, dst, a });
        dst
    }

    pub fn cmp(&mut self, cond: Cond, a: Temp, b: Temp) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Cmp { cond, dst, a, b });
        dst
    }

    pub fn select(&mut self, cond: Temp, a: Temp, b: Temp) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Select { dst, cond, a, b });
        dst
    }

    pub fn load(&mut self, addr: Temp, mem: MemOp) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Load { dst, addr, mem });
        dst
    }

    pub fn store(&mut self, addr: Temp, src: Temp, mem: MemOp) {
        self.push(Op::Store { addr, src, mem });
    }

    pub fn call(&mut self, helper: HelperId, args: &[Temp]) -> Temp {
        let dst = self.new_temp();
        self.push(Op::Call { helper, dst: Some(dst), args: args.into() });
        dst
    }

    pub fn call_void(&mut self, helper: HelperId, args: &[Temp]) {
        self.push(Op::Call { helper, dst: None, args: args.into() });
    }

    pub fn br_cond(&mut self, cond: Temp, label: Label) {
        self.push(Op::BrCond { cond, label });
    }

    pub fn br(&mut self, label: Label) {
        self.push(Op::Br { label });
    }

    pub fn label(&mut self, label: Label) {
        self.push(Op::Label { label });
    }

    pub fn goto(&mut self, pc: u64) {
        self.push(Op::Goto { pc });
    }

    pub fn goto_ptr(&mut self, target: Temp) {
        self.push(Op::GotoPtr { target });
    }

    pub fn exit(&mut self, reason: ExitReason, pc: u64) {
        self.push(Op::Exit { reason, pc });
    }
}

impl fmt::Display for Temp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}
