//! The baseline tier: a single-pass x86-64 code emitter for verified IR blocks. It compiles a
//! block in microseconds where Cranelift needs ~100 µs, so code that runs only a few hundred
//! times (most of a Linux boot) stops being interpreted much sooner; blocks found hot are still
//! recompiled by Cranelift at `opt_level=speed`.
//!
//! The generated code has exactly the contract of [`crate::jit`]'s (and the semantics of
//! [`crate::interp::interpret`], the reference): entered as a Cranelift `tail` function
//! `fn(env) -> packed exit` (on x86-64: `env` in rdi, the result in rax, rbx/rbp/r12-r15
//! callee-saved, no stack arguments), budget check on entry, inline softmmu TLB fast path with
//! the `Runtime` hooks as slow path, precise PCs, and chaining through the caller-owned exit
//! cells by tail jumps. Baseline and Cranelift blocks therefore chain into each other both ways.
//!
//! Register use is deliberately simple: `env` lives in rbx (saved in the frame, restored before
//! every exit or tail jump), every temp has a stack slot, each op loads its operands into scratch
//! registers and computes its result in rax. Two things are remembered between ops: which temp
//! rax holds (the next op takes it from there; its store to the slot is deferred, and dropped
//! when no use is left: most temps feed only the next op), and which temps are guest registers
//! read and not written since (their uses load them from `Env`; they are copied to their slots
//! only before the register changes). Nothing else is live across an op, so helpers and slow
//! paths are called with the plain SystemV ABI. Constants are not given slots: they become
//! immediates or are loaded where used.

use crate::env::{self, pack_exit, ExitCode};
use crate::helpers::{HelperTable, MAX_HELPER_ARGS};
use crate::ir::{BinOp, Block, Cond, ExitReason, MemOp, MemSize, Op, Temp, UnOp, Width};
use crate::jit::{Compiled, JitStats};
use dynasmrt::x64::{Rq, X64Relocation};
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::AtomicPtr;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("invalid block: {0}")]
    Verify(#[from] crate::verify::VerifyError),
    #[error("assembler: {0}")]
    Asm(String),
    #[error("code cache memory: {0}")]
    Memory(String),
}

// The registers ops name dynamically.
const RAX: Rq = Rq::RAX;
const RCX: Rq = Rq::RCX;
const RDX: Rq = Rq::RDX;
const RSI: Rq = Rq::RSI;
const R8: Rq = Rq::R8;
const RBX: Rq = Rq::RBX;
const RDI: Rq = Rq::RDI;
const RSP: Rq = Rq::RSP;
const R11: Rq = Rq::R11;

/// Where helpers get their arguments (SystemV, after `env` in rdi).
const ARG_REGS: [Rq; MAX_HELPER_ARGS] = [RSI, RDX, RCX, R8];

/// One code generation: a single RWX mapping, bump-allocated, freed whole by `flush_all`.
///
/// RWX rather than a double mapping (split W^X as QEMU offers): the Cranelift tier's arena in the
/// same process is RWX already, so a split mapping here would buy no protection, and TCG mode is
/// outside Mimic's security guarantee. x86-64 keeps instruction fetch coherent with stores.
struct Region {
    alloc: region::Allocation,
    used: usize,
}

pub struct Baseline {
    helpers: HelperTable,
    max_code_bytes: usize,
    region: Option<Region>,
    /// A sysv `fn(code, env) -> u64` calling a block with the tail convention (see `enter`).
    trampoline: *const u8,
    stats: JitStats,
    /// Under `perf record` (PERF_BUILDID_DIR set), the perf map blocks are listed in.
    perf_map: Option<std::fs::File>,
    /// Buffers reused between compiles (allocations showed in boot profiles: a Linux boot
    /// compiles tens of thousands of blocks).
    scratch: Scratch,
    /// The direct jumps of the last block compiled (see [`Baseline::direct_jumps`]).
    sites: Vec<DirectJump>,
}

#[derive(Default)]
struct Scratch {
    asm: Option<Asm>,
    code: Vec<u8>,
    slow: Vec<SlowPath>,
    consts: Vec<Option<u64>>,
    uses: Vec<u32>,
    alias: Vec<Option<i32>>,
    aliased: Vec<Temp>,
    labels: Vec<DynamicLabel>,
    sites: Vec<SiteOffsets>,
    perf_lines: String,
}

/// A [`DirectJump`] before the code is placed: offsets into it (0: none).
#[derive(Clone, Copy, Debug)]
struct SiteOffsets {
    slot: u8,
    jmp: usize,
    guard: usize,
    pc: usize,
}

/// An out-of-line memory slow path, emitted after the block's main body.
struct SlowPath {
    entry: DynamicLabel,
    /// Where the fast path continues (the loaded value in rax).
    join: DynamicLabel,
    store: bool,
    pc: u64,
    memop: u64,
}

type Asm = VecAssembler<X64Relocation>;

/// dynasm with the architecture named once.
macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasm!($ops ; .arch x64 ; $($t)*)
    };
}

/// Where an exit of baseline code mirrors its slot's chain in its own instructions, so that a
/// chained exit jumps without loading the slot's cells first (the load the next block's address
/// waited on was a good part of a boot's baseline time). `jmp` is the rel32 of a `jmp` to the
/// target; for chains the lookup hook makes, the exit first compares the target page's TLB
/// addend with the `imm64` at `guard` and, for a `GotoPtr`, its target with the one at `pc`.
/// Unchained, those hold [`NO_MATCH`] and the exit goes on to its cell-reading code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectJump {
    pub slot: u8,
    pub jmp: *mut u8,
    pub guard: *mut u8,
    pub pc: *mut u8,
}

/// What the `guard` and `pc` immediates of an unchained [`DirectJump`] hold: no TLB addend (host
/// page minus guest page) and no jump target (instructions are 2-byte aligned) is odd.
pub const NO_MATCH: u64 = 1;

/// Make the exit at `site` (from [`Baseline::direct_jumps`]) jump straight to `target` under
/// `guard` and `pc` (the slot's guard and target-PC cells; ignored where the exit has none), or
/// back to reading its cells when `target` is null or out of rel32 reach. Returns whether it
/// now jumps straight to `target`.
///
/// # Safety
/// `site` must come from `direct_jumps` of the current generation (not flushed since), no
/// code may be executing the bytes being written on another thread, and `target` must be null
/// or code of the current generation that the slot may run under that guard and PC (what its
/// cells would say).
pub unsafe fn patch_exit(site: &DirectJump, target: *const u8, guard: u64, pc: u64) -> bool {
    let next = (site.jmp as i64).wrapping_add(4);
    let rel = if target.is_null() { None } else { i32::try_from((target as i64).wrapping_sub(next)).ok() };
    let (guard, pc) = if rel.is_some() { (guard, pc) } else { (NO_MATCH, NO_MATCH) };
    // SAFETY: per the contract, the sites are the writable rel32 of a jmp and imm64s of movs in
    // our RWX code region. The immediates first: while they cannot match, the jmp is unreachable.
    unsafe {
        for (imm, v) in [(site.guard, guard), (site.pc, pc)] {
            if !imm.is_null() {
                std::ptr::write_unaligned(imm as *mut u64, v);
            }
        }
        std::ptr::write_unaligned(site.jmp as *mut i32, rel.unwrap_or(0));
    }
    rel.is_some()
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if let (Some(f), false) = (self.perf_map.as_mut(), self.scratch.perf_lines.is_empty()) {
            let _writer = crate::jit::PERF_MAP_WRITER.lock().unwrap_or_else(|e| e.into_inner());
            let _ = f.write_all(self.scratch.perf_lines.as_bytes());
        }
    }
}

impl Baseline {
    /// `max_code_bytes`: per generation, after which [`Baseline::is_full`] reports true.
    pub fn new(helpers: HelperTable, max_code_bytes: usize) -> Result<Self, BaselineError> {
        let mut b = Baseline {
            helpers,
            max_code_bytes,
            region: None,
            trampoline: std::ptr::null(),
            stats: JitStats::default(),
            perf_map: None,
            scratch: Scratch::default(),
            sites: Vec::new(),
        };
        if std::env::var_os("PERF_BUILDID_DIR").is_some() {
            b.perf_map = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(format!("/tmp/perf-{}.map", std::process::id()))
                .ok();
        }
        b.new_generation()?;
        Ok(b)
    }

    fn new_generation(&mut self) -> Result<(), BaselineError> {
        // Headroom past the soft limit so the block that crosses it still fits.
        let size = self.max_code_bytes.saturating_add(1 << 20);
        let alloc = region::alloc(size, region::Protection::READ_WRITE_EXECUTE)
            .map_err(|e| BaselineError::Memory(e.to_string()))?;
        self.region = Some(Region { alloc, used: 0 });
        let mut a = Asm::new(0);
        // Entered with rsp = 8 mod 16; the push realigns it for the call.
        asm!(a
            ; push rbp
            ; mov rbp, rsp
            ; mov rax, rdi
            ; mov rdi, rsi
            ; call rax
            ; pop rbp
            ; ret
        );
        let code = a.finalize().map_err(|e| BaselineError::Asm(e.to_string()))?;
        self.trampoline = self.install(&code)?;
        Ok(())
    }

    /// Copy finished code into the current generation; returns its address.
    fn install(&mut self, code: &[u8]) -> Result<*const u8, BaselineError> {
        let r = self.region.as_mut().ok_or_else(|| BaselineError::Memory("no code generation".into()))?;
        let start = r.used.next_multiple_of(16);
        if start + code.len() > r.alloc.len() {
            return Err(BaselineError::Memory("baseline code region exhausted".into()));
        }
        // SAFETY: [start, start + len) lies inside the mapping (checked above) and no code there
        // has been handed out yet (bump allocation).
        let dst = unsafe { r.alloc.as_mut_ptr::<u8>().add(start) };
        // SAFETY: as above; the source is a separate Vec.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), dst, code.len()) };
        r.used = start + code.len();
        Ok(dst)
    }

    /// Compile `block` (same contract as [`crate::jit::Jit::compile`]): `exit_slots` points at
    /// `env::exit_cells(exit_slot_count(block))` caller-owned cells, valid until `flush_all`.
    pub fn compile(
        &mut self,
        block: &Block,
        block_id: u64,
        exit_slots: *const AtomicPtr<u8>,
    ) -> Result<Compiled, BaselineError> {
        crate::verify::verify(block, self.helpers)?;
        self.compile_verified(block, block_id, exit_slots)
    }

    /// [`Baseline::compile`] for a block the caller has verified already (the run loop verifies
    /// every block it translates; a second pass showed in boot profiles). Code emitted for
    /// unverified IR is still safe for the host (temps, labels and helpers out of range are
    /// clamped, dropped or refused) but its guest semantics are unspecified.
    pub fn compile_verified(
        &mut self,
        block: &Block,
        block_id: u64,
        exit_slots: *const AtomicPtr<u8>,
    ) -> Result<Compiled, BaselineError> {
        // Wall time (a vDSO read), not the thread CPU time the Cranelift tier reports: that
        // clock is a system call, and two per block were several percent of a Linux boot. The
        // compile runs on the vCPU thread without blocking, so the two agree but for preemption.
        let start = std::time::Instant::now();
        let mut sc = std::mem::take(&mut self.scratch);
        let n = block.temp_count() as usize;
        sc.slow.clear();
        sc.consts.clear();
        sc.consts.resize(n, None);
        sc.uses.clear();
        sc.uses.resize(n, 0);
        sc.alias.clear();
        sc.alias.resize(n, None);
        sc.aliased.clear();
        sc.labels.clear();
        sc.sites.clear();
        let mut e = Emitter {
            a: sc.asm.take().unwrap_or_else(|| Asm::new(0)),
            sites: std::mem::take(&mut sc.sites),
            helpers: self.helpers,
            block,
            block_id,
            cells: exit_slots as u64,
            nslots: crate::interp::exit_slot_count(block),
            goto_idx: 0,
            ptr_idx: crate::interp::goto_count(block),
            consts: std::mem::take(&mut sc.consts),
            uses: std::mem::take(&mut sc.uses),
            cached: None,
            dirty: false,
            alias: std::mem::take(&mut sc.alias),
            aliased: std::mem::take(&mut sc.aliased),
            labels: std::mem::take(&mut sc.labels),
            insn_pc: block.pc,
            exc: None,
            slow: std::mem::take(&mut sc.slow),
        };
        e.emit();
        let Emitter { mut a, slow, consts, uses, alias, aliased, labels, sites, .. } = e;
        (sc.slow, sc.consts, sc.uses, sc.alias, sc.aliased, sc.labels, sc.sites) =
            (slow, consts, uses, alias, aliased, labels, sites);
        sc.code.clear();
        let drained = a.drain().map(|bytes| sc.code.extend(bytes));
        // An assembler that failed may keep half its state: start the next block afresh.
        sc.asm = drained.is_ok().then_some(a);
        let result = drained.map_err(|err| BaselineError::Asm(err.to_string())).and_then(|()| self.install(&sc.code));
        let size = sc.code.len();
        self.scratch = sc;
        let ptr = result?;
        self.sites.clear();
        // SAFETY: every offset lies inside the code just installed at `ptr`.
        let at = |off: usize| if off == 0 { std::ptr::null_mut() } else { unsafe { ptr.add(off) as *mut u8 } };
        self.sites.extend(
            self.scratch.sites.iter().map(|o| DirectJump { slot: o.slot, jmp: at(o.jmp), guard: at(o.guard), pc: at(o.pc) }),
        );
        self.stats.blocks += 1;
        self.stats.code_bytes += size as u64;
        self.stats.compile_ns += start.elapsed().as_nanos() as u64;
        if let Some(f) = self.perf_map.as_mut() {
            // One write per line: formatting straight into the file costs a syscall per piece.
            // Lines wait while the optimiser's cranelift-jit is writing (see PERF_MAP_WRITER);
            // waiting for it would stall the vCPU for a whole optimised compile.
            let lines = &mut self.scratch.perf_lines;
            let _ = writeln!(lines, "{:x} {:x} guest_{:x}_base_{}", ptr as usize, size, block.pc, self.stats.blocks);
            if let Ok(_writer) = crate::jit::PERF_MAP_WRITER.try_lock() {
                let _ = f.write_all(lines.as_bytes());
                lines.clear();
            }
        }
        Ok(Compiled { code: ptr, size })
    }

    /// The direct jumps of the block compiled last, one per `Goto` and `GotoPtr` exit: where
    /// [`patch_exit`] makes it jump straight to the code its slot is chained to (until then, and
    /// whenever patched back, it reads the slot's cells).
    pub fn direct_jumps(&self) -> &[DirectJump] {
        &self.sites
    }

    /// Run baseline (or any tail-convention block) code; see [`crate::jit::Jit::enter`].
    ///
    /// # Safety
    /// `code` must be live block code and `env` must satisfy its requirements (see
    /// [`crate::interp::interpret`]).
    pub unsafe fn enter(&self, code: *const u8, env: *mut env::Env) -> u64 {
        // SAFETY: the trampoline was emitted as sysv fn(code, env) -> u64 in `new_generation`.
        unsafe {
            let f: unsafe extern "sysv64" fn(*const u8, *mut env::Env) -> u64 = std::mem::transmute(self.trampoline);
            f(code, env)
        }
    }

    /// Bytes used by the current generation.
    #[inline]
    pub fn generation_bytes(&self) -> usize {
        self.region.as_ref().map_or(0, |r| r.used)
    }

    /// The generation has used its `max_code_bytes`: flush before compiling more.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.generation_bytes() >= self.max_code_bytes
    }

    /// Drop every compiled block and start a fresh generation.
    ///
    /// # Safety
    /// No baseline code may be running, and every code pointer handed out before must be
    /// forgotten by the caller.
    pub unsafe fn flush_all(&mut self) -> Result<(), BaselineError> {
        self.region = None;
        self.stats.flushes += 1;
        self.new_generation()
    }

    /// The machine code of a compiled block (for `-d out_asm`).
    pub fn code_bytes(&self, c: &Compiled) -> &[u8] {
        // SAFETY: `c` came from this generation (caller), which stays mapped until flush_all.
        unsafe { c.bytes() }
    }

    pub fn stats(&self) -> JitStats {
        self.stats
    }
}

/// Division and remainder: rare in guest code and fiddly inline (host traps on /0 and MIN/-1);
/// the interpreter's definitions, called out of line.
extern "sysv64" fn rt_div(a: u64, b: u64, op_width: u64) -> u64 {
    let op = match op_width & 0xff {
        0 => BinOp::Div,
        1 => BinOp::DivU,
        2 => BinOp::Rem,
        _ => BinOp::RemU,
    };
    let width = if op_width >> 8 == 32 { Width::W32 } else { Width::W64 };
    crate::interp::eval_bin(op, width, a, b)
}

/// Ops with an x86 form taking a constant second operand as an immediate.
fn bin_takes_imm(op: BinOp) -> bool {
    use BinOp::*;
    matches!(op, Add | Sub | And | Or | Xor | Shl | Shr | Sar | Rotl | Rotr | Mul)
}

extern "sysv64" fn rt_popcnt(a: u64) -> u64 {
    a.count_ones() as u64
}

struct Emitter<'a> {
    a: Asm,
    /// The direct jumps of the block's exits, as code offsets.
    sites: Vec<SiteOffsets>,
    helpers: HelperTable,
    block: &'a Block,
    block_id: u64,
    /// Address of the block's exit cells.
    cells: u64,
    nslots: usize,
    goto_idx: usize,
    ptr_idx: usize,
    /// Temps defined by `Const` (they get no stack slot).
    consts: Vec<Option<u64>>,
    /// Uses of each temp not emitted yet: a temp without any left need not be stored.
    uses: Vec<u32>,
    /// The temp rax holds (the last op's result, or an operand just loaded), and whether its
    /// stack slot still lacks it: the store is deferred until rax is needed for something else,
    /// and skipped if no use is left by then (most temps feed only the next op).
    cached: Option<Temp>,
    dirty: bool,
    /// Temps read by `GetReg` whose guest register has not changed since: they are loaded from
    /// `Env` where used instead of being copied to a slot (and do not disturb rax). A write to
    /// the register, or a helper call (helpers may write any), first copies them to their slots.
    alias: Vec<Option<i32>>,
    /// The temps with an `alias`.
    aliased: Vec<Temp>,
    labels: Vec<DynamicLabel>,
    insn_pc: u64,
    /// The shared exit returning `Exception`.
    exc: Option<DynamicLabel>,
    slow: Vec<SlowPath>,
}

impl Emitter<'_> {
    /// Stack offset of temp `t`'s slot.
    fn slot(&self, t: Temp) -> i32 {
        8 * (t.0.min(self.block.temp_count().saturating_sub(1)) as i32)
    }

    /// Load a 64-bit constant into `r` with the shortest encoding.
    fn mov_imm(&mut self, r: Rq, v: u64) {
        if v <= u32::MAX as u64 {
            asm!(self.a ; mov Rd(r), v as i32);
        } else if v as i64 >= i32::MIN as i64 && v as i64 <= i32::MAX as i64 {
            asm!(self.a ; mov Rq(r), v as i32);
        } else {
            asm!(self.a ; mov Rq(r), QWORD v as i64);
        }
    }

    fn konst(&self, t: Temp) -> Option<u64> {
        self.consts.get(t.0 as usize).copied().flatten()
    }

    /// A constant temp that fits an instruction's sign-extended 32-bit immediate.
    fn imm32(&self, t: Temp) -> Option<i32> {
        self.konst(t).and_then(|v| i32::try_from(v as i64).ok())
    }

    /// Count one use of `t` as emitted.
    fn use_temp(&mut self, t: Temp) {
        if let Some(n) = self.uses.get_mut(t.0 as usize) {
            *n = n.saturating_sub(1);
        }
    }

    /// `mov r, [base + off]`, with an 8-bit displacement when it fits (guest registers and
    /// most stack slots: 3 bytes shorter, and baseline code is mostly cold, so its size is
    /// fetch time).
    fn load_disp(&mut self, r: Rq, base: Rq, off: i32) {
        // Static base registers: a dynamic one costs a SIB byte (it could be rsp or r12).
        match (i8::try_from(off), base) {
            (Ok(d), RBX) => asm!(self.a ; mov Rq(r), [BYTE rbx + d]),
            (Ok(d), RSP) => asm!(self.a ; mov Rq(r), [BYTE rsp + d]),
            (Ok(d), _) => asm!(self.a ; mov Rq(r), [BYTE Rq(base) + d]),
            (Err(_), _) => asm!(self.a ; mov Rq(r), [Rq(base) + off]),
        }
    }

    /// `mov [base + off], r`, as [`Emitter::load_disp`].
    fn store_disp(&mut self, base: Rq, off: i32, r: Rq) {
        match (i8::try_from(off), base) {
            (Ok(d), RBX) => asm!(self.a ; mov [BYTE rbx + d], Rq(r)),
            (Ok(d), RSP) => asm!(self.a ; mov [BYTE rsp + d], Rq(r)),
            (Ok(d), _) => asm!(self.a ; mov [BYTE Rq(base) + d], Rq(r)),
            (Err(_), _) => asm!(self.a ; mov [Rq(base) + off], Rq(r)),
        }
    }

    /// Store the temp rax holds if its slot lacks it and it has uses left.
    fn flush(&mut self) {
        if let (Some(t), true) = (self.cached, self.dirty) {
            if self.uses.get(t.0 as usize).is_some_and(|&n| n > 0) {
                let off = self.slot(t);
                self.store_disp(RSP, off, RAX);
            }
        }
        self.dirty = false;
    }

    /// rax is about to be overwritten.
    fn forget(&mut self) {
        self.flush();
        self.cached = None;
    }

    /// Load temp `t` into register `r` (ops fetch their rax operand last: fetching it may store
    /// what rax held).
    fn get(&mut self, r: Rq, t: Temp) {
        self.use_temp(t);
        if self.cached == Some(t) {
            if r != RAX {
                asm!(self.a ; mov Rq(r), rax);
            }
            return;
        }
        if r == RAX {
            self.forget();
        }
        match (self.konst(t), self.alias.get(t.0 as usize).copied().flatten()) {
            (Some(v), _) => self.mov_imm(r, v),
            (None, Some(env_off)) => self.load_disp(r, RBX, env_off),
            (None, None) => {
                let off = self.slot(t);
                self.load_disp(r, RSP, off);
            }
        }
        if r == RAX {
            self.cached = Some(t);
        }
    }

    /// Copy the aliased temps of guest register slot `env_off` (all of them if None) that still
    /// have uses to their slots, before the register changes. (Through r11: rax may hold a
    /// pending result and the argument registers an upcoming call's arguments.)
    fn materialize(&mut self, env_off: Option<i32>) {
        let mut i = 0;
        while i < self.aliased.len() {
            let t = self.aliased[i];
            let Some(off) = self.alias.get(t.0 as usize).copied().flatten() else {
                self.aliased.swap_remove(i);
                continue;
            };
            if env_off.is_some_and(|o| o != off) {
                i += 1;
                continue;
            }
            if self.uses.get(t.0 as usize).is_some_and(|&n| n > 0) {
                let slot = self.slot(t);
                self.load_disp(R11, RBX, off);
                self.store_disp(RSP, slot, R11);
            }
            self.alias[t.0 as usize] = None;
            self.aliased.swap_remove(i);
        }
    }

    /// The op's result is in rax (stored later if needed, see `cached`).
    fn put(&mut self, t: Temp) {
        self.cached = Some(t);
        self.dirty = true;
    }

    fn frame_size(&self) -> i32 {
        // Entry leaves rsp = 8 mod 16 and the push of rbx realigns it: whole 16-byte units keep
        // it aligned for calls.
        (8 * self.block.temp_count() as i32 + 15) & !15
    }

    /// Undo the prologue (the frame popped, rbx restored): the state to return or tail-jump in.
    fn epilogue(&mut self) {
        let frame = self.frame_size();
        match i8::try_from(frame) {
            Ok(f) => asm!(self.a ; add rsp, BYTE f),
            Err(_) => asm!(self.a ; add rsp, frame),
        }
        asm!(self.a ; pop rbx);
    }

    fn ret_exit(&mut self, code: ExitCode, slot: u8) {
        let v = pack_exit(code, self.block_id, slot);
        self.mov_imm(RAX, v);
        self.epilogue();
        asm!(self.a ; ret);
    }

    /// `ret_exit` where the block's frame is already gone (or not yet set up).
    fn ret_exit_unframed(&mut self, code: ExitCode, slot: u8) {
        self.mov_imm(RAX, pack_exit(code, self.block_id, slot));
        asm!(self.a ; ret);
    }

    /// Tail-jump to the block code in rax.
    fn tail_jump_rax(&mut self) {
        asm!(self.a ; mov rdi, rbx);
        self.epilogue();
        asm!(self.a ; jmp rax);
    }

    fn store_pc_const(&mut self, pc: u64) {
        self.store_pc_const_via(RBX, pc);
    }

    /// Store `pc` to `Env::pc` through `env` (rdi where the block's frame is gone or not yet
    /// set up). Clobbers rcx.
    fn store_pc_const_via(&mut self, env: Rq, pc: u64) {
        if pc as i64 >= i32::MIN as i64 && pc as i64 <= i32::MAX as i64 {
            // Static registers where possible: a dynamic base costs a SIB byte.
            match env {
                RBX => asm!(self.a ; mov QWORD [rbx + env::ENV_PC_OFFSET], pc as i32),
                RDI => asm!(self.a ; mov QWORD [rdi + env::ENV_PC_OFFSET], pc as i32),
                _ => asm!(self.a ; mov QWORD [Rq(env) + env::ENV_PC_OFFSET], pc as i32),
            }
        } else {
            self.mov_imm(RCX, pc);
            asm!(self.a ; mov [Rq(env) + env::ENV_PC_OFFSET], rcx);
        }
    }

    fn exception_label(&mut self) -> DynamicLabel {
        match self.exc {
            Some(l) => l,
            None => {
                let l = self.a.new_dynamic_label();
                self.exc = Some(l);
                l
            }
        }
    }

    fn check_exception(&mut self) {
        let exc = self.exception_label();
        asm!(self.a
            ; cmp DWORD [rbx + env::ENV_EXCEPTION_OFFSET], 0
            ; jne =>exc
        );
    }

    fn emit(&mut self) {
        let block = self.block;
        for op in &block.ops {
            if let Op::Const { dst, value } = op {
                if let Some(c) = self.consts.get_mut(dst.0 as usize) {
                    *c = Some(*value);
                }
            }
            for t in op.uses() {
                if let Some(n) = self.uses.get_mut(t.0 as usize) {
                    *n += 1;
                }
            }
        }
        for _ in 0..block.label_count() {
            let l = self.a.new_dynamic_label();
            self.labels.push(l);
        }

        // A block on two pages checks the second one's mapping first (see `Env::page_checked`).
        let page_fail = block.second_page.map(|page| {
            let (fail, reset, ok) = (self.a.new_dynamic_label(), self.a.new_dynamic_label(), self.a.new_dynamic_label());
            let off = env::tlb_entry_offset(block.code_mmu_idx, page.vpage);
            asm!(self.a
                ; cmp DWORD [rdi + env::ENV_PAGE_CHECKED_OFFSET], 0
                ; jne =>reset
            );
            self.page_addend_via(RDI, page.vpage, off + env::TLB_ADDR_CODE_OFFSET, off + env::TLB_ADDEND_OFFSET, fail);
            self.mov_imm(RAX, page.addend);
            asm!(self.a
                ; cmp rcx, rax
                ; jne =>fail
                ; jmp =>ok
                ; =>reset
                ; mov DWORD [rdi + env::ENV_PAGE_CHECKED_OFFSET], 0
                ; =>ok
            );
            fail
        });

        // Budget check before the frame exists: a block that cannot pay gives the budget back
        // and returns at once, leaving `Env::budget` as it found it. No frame pointer: the
        // frame's size is fixed, so every exit pops it with one `add`.
        let out = self.a.new_dynamic_label();
        let count = block.insn_count as i32;
        let frame = self.frame_size();
        asm!(self.a
            ; sub QWORD [rdi + env::ENV_BUDGET_OFFSET], count
            ; jl =>out
            ; push rbx
            ; mov rbx, rdi
        );
        match i8::try_from(frame) {
            Ok(f) => asm!(self.a ; sub rsp, BYTE f),
            Err(_) => asm!(self.a ; sub rsp, frame),
        }

        let mut terminated = false;
        let mut ops = block.ops.iter().peekable();
        while let Some(op) = ops.next() {
            if terminated && !matches!(op, Op::Label { .. }) {
                // Unreachable (the verifier rejects it).
                continue;
            }
            terminated = op.is_terminator();
            // A comparison only a branch right after it uses: jump on the flags.
            if let (Op::Cmp { cond, dst, a, b }, Some(Op::BrCond { cond: c, label })) = (op, ops.peek()) {
                let only_use = self.uses.get(dst.0 as usize) == Some(&1);
                if let (true, true, Some(l)) = (c == dst, only_use, self.label(*label)) {
                    ops.next();
                    self.use_temp(*dst);
                    self.compare(*a, *b);
                    match cond {
                        Cond::Eq => asm!(self.a ; je =>l),
                        Cond::Ne => asm!(self.a ; jne =>l),
                        Cond::Lt => asm!(self.a ; jl =>l),
                        Cond::Ge => asm!(self.a ; jge =>l),
                        Cond::Ltu => asm!(self.a ; jb =>l),
                        Cond::Geu => asm!(self.a ; jae =>l),
                    }
                    continue;
                }
            }
            self.op(op);
        }
        if !terminated {
            self.store_pc_const(self.insn_pc);
            self.ret_exit(ExitCode::Reevaluate, 0);
        }

        // Cold code after the body.
        let pc = block.pc;
        asm!(self.a
            ; =>out
            ; add QWORD [rdi + env::ENV_BUDGET_OFFSET], count
        );
        self.store_pc_const_via(RDI, pc);
        self.ret_exit_unframed(ExitCode::Budget, 0);
        if let Some(fail) = page_fail {
            asm!(self.a ; =>fail);
            self.store_pc_const_via(RDI, pc);
            self.ret_exit_unframed(ExitCode::Lookup, 0);
        }

        for s in std::mem::take(&mut self.slow) {
            let entry = s.entry;
            asm!(self.a ; =>entry);
            self.store_pc_const(s.pc);
            // rsi holds the address (and rdx a store's value) from the fast path.
            if s.store {
                self.mov_imm(RCX, s.memop);
                asm!(self.a
                    ; mov rdi, rbx
                    ; mov rax, [rbx + env::ENV_RUNTIME_OFFSET]
                    ; call QWORD [rax + env::RUNTIME_STORE_OFFSET]
                );
            } else {
                self.mov_imm(RDX, s.memop);
                asm!(self.a
                    ; mov rdi, rbx
                    ; mov rax, [rbx + env::ENV_RUNTIME_OFFSET]
                    ; call QWORD [rax + env::RUNTIME_LOAD_OFFSET]
                );
            }
            self.check_exception();
            let join = s.join;
            asm!(self.a ; jmp =>join);
            self.slow.push(s);
        }
        if let Some(exc) = self.exc {
            asm!(self.a ; =>exc);
            self.ret_exit(ExitCode::Exception, 0);
        }
    }

    /// Set the flags to `a - b` (rax then holds nothing worth keeping).
    fn compare(&mut self, a: Temp, b: Temp) {
        match self.imm32(b) {
            Some(imm) => {
                self.use_temp(b);
                self.get(RAX, a);
                self.forget();
                asm!(self.a ; cmp rax, imm);
            }
            None => {
                self.get(RCX, b);
                self.get(RAX, a);
                self.forget();
                asm!(self.a ; cmp rax, rcx);
            }
        }
    }

    fn label(&self, l: crate::ir::Label) -> Option<DynamicLabel> {
        self.labels.get(l.0 as usize).copied()
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::InsnStart { pc, .. } => self.insn_pc = *pc,
            Op::Const { .. } => {}
            Op::GetReg { dst, reg } => {
                let off = env::reg_offset(reg.0.min(env::NUM_REGS as u16 - 1));
                if let Some(a) = self.alias.get_mut(dst.0 as usize) {
                    *a = Some(off);
                    self.aliased.push(*dst);
                }
            }
            Op::SetReg { reg, src } => {
                let off = env::reg_offset(reg.0.min(env::NUM_REGS as u16 - 1));
                match self.imm32(*src) {
                    Some(v) if self.cached != Some(*src) => {
                        self.use_temp(*src);
                        self.materialize(Some(off));
                        match i8::try_from(off) {
                            Ok(d) => asm!(self.a ; mov QWORD [BYTE rbx + d], v),
                            Err(_) => asm!(self.a ; mov QWORD [rbx + off], v),
                        }
                    }
                    _ => {
                        self.get(RAX, *src);
                        self.materialize(Some(off));
                        self.store_disp(RBX, off, RAX);
                    }
                }
            }
            Op::Bin { op, width, dst, a, b } => {
                match self.imm32(*b).filter(|_| bin_takes_imm(*op)) {
                    Some(imm) => {
                        self.use_temp(*b);
                        self.get(RAX, *a);
                        self.forget();
                        self.bin_imm(*op, *width, imm);
                    }
                    None => {
                        self.get(RCX, *b);
                        self.get(RAX, *a);
                        self.forget();
                        self.bin(*op, *width);
                    }
                }
                self.put(*dst);
            }
            Op::Un { op, width, dst, a } => {
                self.get(RAX, *a);
                self.forget();
                self.un(*op, *width);
                self.put(*dst);
            }
            Op::Cmp { cond, dst, a, b } => {
                self.compare(*a, *b);
                match cond {
                    Cond::Eq => asm!(self.a ; sete al),
                    Cond::Ne => asm!(self.a ; setne al),
                    Cond::Lt => asm!(self.a ; setl al),
                    Cond::Ge => asm!(self.a ; setge al),
                    Cond::Ltu => asm!(self.a ; setb al),
                    Cond::Geu => asm!(self.a ; setae al),
                }
                asm!(self.a ; movzx eax, al);
                self.put(*dst);
            }
            Op::Select { dst, cond, a, b } => {
                self.get(RDX, *cond);
                self.get(RCX, *b);
                self.get(RAX, *a);
                self.forget();
                asm!(self.a
                    ; test rdx, rdx
                    ; cmovz rax, rcx
                );
                self.put(*dst);
            }
            Op::Load { dst, addr, mem } => {
                let in_rax = self.cached == Some(*addr);
                self.get(RSI, *addr);
                self.forget();
                self.load(*mem, in_rax);
                self.put(*dst);
            }
            Op::Store { addr, src, mem } => {
                let in_rax = self.cached == Some(*addr);
                self.get(RSI, *addr);
                self.get(RDX, *src);
                self.forget();
                self.store(*mem, in_rax);
            }
            Op::Call { helper, dst, args } => self.call(helper.0 as usize, *dst, args),
            Op::BrCond { cond, label } => {
                let Some(l) = self.label(*label) else { return };
                self.use_temp(*cond);
                // The fall-through path may still use what rax holds.
                self.flush();
                match self.konst(*cond) {
                    Some(0) => {}
                    Some(_) => asm!(self.a ; jmp =>l),
                    None if self.cached == Some(*cond) => {
                        asm!(self.a
                            ; test rax, rax
                            ; jnz =>l
                        );
                    }
                    None => {
                        let off = self.slot(*cond);
                        asm!(self.a
                            ; cmp QWORD [rsp + off], 0
                            ; jne =>l
                        );
                    }
                }
            }
            Op::Br { label } => {
                if let Some(l) = self.label(*label) {
                    asm!(self.a ; jmp =>l);
                }
            }
            Op::Label { label } => {
                // Temps do not live across labels, and paths that meet here agree on nothing.
                self.cached = None;
                self.dirty = false;
                for t in self.aliased.drain(..) {
                    if let Some(a) = self.alias.get_mut(t.0 as usize) {
                        *a = None;
                    }
                }
                if let Some(l) = self.label(*label) {
                    asm!(self.a ; =>l);
                }
            }
            Op::Goto { pc } => {
                let slot = self.goto_idx;
                self.goto_idx += 1;
                if (*pc ^ self.block.pc) & env::PAGE_MASK != 0 {
                    self.cross_page_goto(*pc, slot);
                } else {
                    // Leave the frame, then jump straight to the chained block once the run loop
                    // patched the jump (`patch_goto`); until then follow the cell if it holds a
                    // chain, else return the slot to the run loop. The direct jump spares the
                    // load the next block's address depends on (cold code, flat boot profiles).
                    self.forget();
                    let jmp_site = self.direct_jump_tail();
                    self.sites.push(SiteOffsets { slot: slot as u8, jmp: jmp_site, guard: 0, pc: 0 });
                    let unchained = self.a.new_dynamic_label();
                    let cell = self.cells.wrapping_add(8 * slot as u64);
                    self.mov_imm(RAX, cell);
                    asm!(self.a
                        ; mov rax, [rax]
                        ; test rax, rax
                        ; jz =>unchained
                        ; jmp rax
                        ; =>unchained
                    );
                    self.store_pc_const_via(RDI, *pc);
                    self.ret_exit_unframed(ExitCode::Goto, slot as u8);
                }
            }
            Op::GotoPtr { target } => {
                self.get(RSI, *target);
                self.forget();
                self.goto_ptr();
            }
            Op::Exit { reason, pc } => {
                if *reason != ExitReason::Exception {
                    self.store_pc_const(*pc);
                }
                self.ret_exit((*reason).into(), 0);
            }
        }
    }

    /// rax = rax op rcx (the IR's total semantics; `W32` ops zero-extend, as x86's 32-bit ops do).
    fn bin(&mut self, op: BinOp, width: Width) {
        let w64 = width == Width::W64;
        match (op, w64) {
            (BinOp::Add, true) => asm!(self.a ; add rax, rcx),
            (BinOp::Add, false) => asm!(self.a ; add eax, ecx),
            (BinOp::Sub, true) => asm!(self.a ; sub rax, rcx),
            (BinOp::Sub, false) => asm!(self.a ; sub eax, ecx),
            (BinOp::And, true) => asm!(self.a ; and rax, rcx),
            (BinOp::And, false) => asm!(self.a ; and eax, ecx),
            (BinOp::Or, true) => asm!(self.a ; or rax, rcx),
            (BinOp::Or, false) => asm!(self.a ; or eax, ecx),
            (BinOp::Xor, true) => asm!(self.a ; xor rax, rcx),
            (BinOp::Xor, false) => asm!(self.a ; xor eax, ecx),
            (BinOp::AndNot, true) => asm!(self.a ; not rcx ; and rax, rcx),
            (BinOp::AndNot, false) => asm!(self.a ; not ecx ; and eax, ecx),
            (BinOp::OrNot, true) => asm!(self.a ; not rcx ; or rax, rcx),
            (BinOp::OrNot, false) => asm!(self.a ; not ecx ; or eax, ecx),
            (BinOp::XorNot, true) => asm!(self.a ; xor rax, rcx ; not rax),
            (BinOp::XorNot, false) => asm!(self.a ; xor eax, ecx ; not eax),
            // x86 masks shift and rotate counts to 6 (5 for 32-bit operands) bits, like the IR.
            (BinOp::Shl, true) => asm!(self.a ; shl rax, cl),
            (BinOp::Shl, false) => asm!(self.a ; shl eax, cl),
            (BinOp::Shr, true) => asm!(self.a ; shr rax, cl),
            (BinOp::Shr, false) => asm!(self.a ; shr eax, cl),
            (BinOp::Sar, true) => asm!(self.a ; sar rax, cl),
            (BinOp::Sar, false) => asm!(self.a ; sar eax, cl),
            (BinOp::Rotl, true) => asm!(self.a ; rol rax, cl),
            (BinOp::Rotl, false) => asm!(self.a ; rol eax, cl),
            (BinOp::Rotr, true) => asm!(self.a ; ror rax, cl),
            (BinOp::Rotr, false) => asm!(self.a ; ror eax, cl),
            (BinOp::Mul, true) => asm!(self.a ; imul rax, rcx),
            (BinOp::Mul, false) => asm!(self.a ; imul eax, ecx),
            (BinOp::MulHs, true) => asm!(self.a ; imul rcx ; mov rax, rdx),
            (BinOp::MulHu, true) => asm!(self.a ; mul rcx ; mov rax, rdx),
            (BinOp::MulHsu, true) => {
                // signed(a) * b = a_u * b - 2^64 * b * [a < 0]
                asm!(self.a
                    ; mov rsi, rax
                    ; mul rcx
                    ; sar rsi, 63
                    ; and rsi, rcx
                    ; sub rdx, rsi
                    ; mov rax, rdx
                );
            }
            // Not valid IR (the verifier rejects it); the interpreter's result anyway.
            (BinOp::MulHs | BinOp::MulHu | BinOp::MulHsu, false) => {
                // The 64-bit product of the extended halves, high word taken.
                match op {
                    BinOp::MulHs => asm!(self.a ; movsxd rax, eax ; movsxd rcx, ecx),
                    BinOp::MulHu => asm!(self.a ; mov eax, eax ; mov ecx, ecx),
                    _ => asm!(self.a ; movsxd rax, eax ; mov ecx, ecx),
                }
                asm!(self.a ; imul rax, rcx ; shr rax, 32);
            }
            (BinOp::Div | BinOp::DivU | BinOp::Rem | BinOp::RemU, _) => {
                let code = match op {
                    BinOp::Div => 0u64,
                    BinOp::DivU => 1,
                    BinOp::Rem => 2,
                    _ => 3,
                } | if w64 { 64 << 8 } else { 32 << 8 };
                asm!(self.a ; mov rdi, rax ; mov rsi, rcx);
                self.mov_imm(RDX, code);
                self.mov_imm(RAX, rt_div as *const () as u64);
                asm!(self.a ; call rax);
            }
            (BinOp::Min, true) => asm!(self.a ; cmp rax, rcx ; cmovg rax, rcx),
            (BinOp::Min, false) => asm!(self.a ; cmp eax, ecx ; cmovg eax, ecx),
            (BinOp::MinU, true) => asm!(self.a ; cmp rax, rcx ; cmova rax, rcx),
            (BinOp::MinU, false) => asm!(self.a ; cmp eax, ecx ; cmova eax, ecx),
            (BinOp::Max, true) => asm!(self.a ; cmp rax, rcx ; cmovl rax, rcx),
            (BinOp::Max, false) => asm!(self.a ; cmp eax, ecx ; cmovl eax, ecx),
            (BinOp::MaxU, true) => asm!(self.a ; cmp rax, rcx ; cmovb rax, rcx),
            (BinOp::MaxU, false) => asm!(self.a ; cmp eax, ecx ; cmovb eax, ecx),
        }
    }

    /// rax = rax op imm (for the ops [`bin_takes_imm`] accepts).
    fn bin_imm(&mut self, op: BinOp, width: Width, imm: i32) {
        // Shift counts: x86 masks immediates like register counts.
        let sh = (imm & 63) as i8;
        let count_mask = if width == Width::W64 { 63 } else { 31 };
        let identity = (matches!(op, BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::Xor) && imm == 0)
            || (matches!(op, BinOp::Shl | BinOp::Shr | BinOp::Sar | BinOp::Rotl | BinOp::Rotr)
                && (sh & count_mask) == 0);
        if identity {
            // (Frontends add 0 for loads without an offset; a 32-bit op still zero-extends.)
            if width == Width::W32 {
                asm!(self.a ; mov eax, eax);
            }
            return;
        }
        // The sign-extended 8-bit immediate forms, 3 bytes shorter (offsets, small masks).
        if let Ok(b) = i8::try_from(imm) {
            match (op, width == Width::W64) {
                (BinOp::Add, true) => return asm!(self.a ; add rax, BYTE b),
                (BinOp::Add, false) => return asm!(self.a ; add eax, BYTE b),
                (BinOp::Sub, true) => return asm!(self.a ; sub rax, BYTE b),
                (BinOp::Sub, false) => return asm!(self.a ; sub eax, BYTE b),
                (BinOp::And, true) => return asm!(self.a ; and rax, BYTE b),
                (BinOp::And, false) => return asm!(self.a ; and eax, BYTE b),
                (BinOp::Or, true) => return asm!(self.a ; or rax, BYTE b),
                (BinOp::Or, false) => return asm!(self.a ; or eax, BYTE b),
                (BinOp::Xor, true) => return asm!(self.a ; xor rax, BYTE b),
                (BinOp::Xor, false) => return asm!(self.a ; xor eax, BYTE b),
                _ => {}
            }
        }
        match (op, width == Width::W64) {
            (BinOp::Add, true) => asm!(self.a ; add rax, imm),
            (BinOp::Add, false) => asm!(self.a ; add eax, imm),
            (BinOp::Sub, true) => asm!(self.a ; sub rax, imm),
            (BinOp::Sub, false) => asm!(self.a ; sub eax, imm),
            (BinOp::And, true) => asm!(self.a ; and rax, imm),
            (BinOp::And, false) => asm!(self.a ; and eax, imm),
            (BinOp::Or, true) => asm!(self.a ; or rax, imm),
            (BinOp::Or, false) => asm!(self.a ; or eax, imm),
            (BinOp::Xor, true) => asm!(self.a ; xor rax, imm),
            (BinOp::Xor, false) => asm!(self.a ; xor eax, imm),
            (BinOp::Shl, true) => asm!(self.a ; shl rax, sh),
            (BinOp::Shl, false) => asm!(self.a ; shl eax, sh),
            (BinOp::Shr, true) => asm!(self.a ; shr rax, sh),
            (BinOp::Shr, false) => asm!(self.a ; shr eax, sh),
            (BinOp::Sar, true) => asm!(self.a ; sar rax, sh),
            (BinOp::Sar, false) => asm!(self.a ; sar eax, sh),
            (BinOp::Rotl, true) => asm!(self.a ; rol rax, sh),
            (BinOp::Rotl, false) => asm!(self.a ; rol eax, sh),
            (BinOp::Rotr, true) => asm!(self.a ; ror rax, sh),
            (BinOp::Rotr, false) => asm!(self.a ; ror eax, sh),
            (BinOp::Mul, true) => asm!(self.a ; imul rax, rax, imm),
            (BinOp::Mul, false) => asm!(self.a ; imul eax, eax, imm),
            // Not reached (see bin_takes_imm); the register form stays correct.
            _ => {
                self.mov_imm(RCX, imm as i64 as u64);
                self.bin(op, width);
            }
        }
    }

    /// rax = op rax.
    fn un(&mut self, op: UnOp, width: Width) {
        let w64 = width == Width::W64;
        match (op, w64) {
            (UnOp::Not, true) => asm!(self.a ; not rax),
            (UnOp::Not, false) => asm!(self.a ; not eax),
            (UnOp::Neg, true) => asm!(self.a ; neg rax),
            (UnOp::Neg, false) => asm!(self.a ; neg eax),
            (UnOp::Sext8, true) => asm!(self.a ; movsx rax, al),
            (UnOp::Sext8, false) => asm!(self.a ; movsx eax, al),
            (UnOp::Sext16, true) => asm!(self.a ; movsx rax, ax),
            (UnOp::Sext16, false) => asm!(self.a ; movsx eax, ax),
            (UnOp::Sext32, true) => asm!(self.a ; movsxd rax, eax),
            (UnOp::Sext32 | UnOp::Zext32, false) | (UnOp::Zext32, true) => asm!(self.a ; mov eax, eax),
            (UnOp::Zext8, _) => asm!(self.a ; movzx eax, al),
            (UnOp::Zext16, _) => asm!(self.a ; movzx eax, ax),
            // bsr/bsf set ZF for a zero input (and leave the destination undefined).
            (UnOp::Clz, true) => asm!(self.a
                ; mov rcx, -1
                ; bsr rax, rax
                ; cmovz rax, rcx
                ; neg rax
                ; add rax, 63
            ),
            (UnOp::Clz, false) => asm!(self.a
                ; mov ecx, -1
                ; bsr eax, eax
                ; cmovz eax, ecx
                ; neg eax
                ; add eax, 31
            ),
            (UnOp::Ctz, true) => asm!(self.a
                ; mov ecx, 64
                ; bsf rax, rax
                ; cmovz rax, rcx
            ),
            (UnOp::Ctz, false) => asm!(self.a
                ; mov ecx, 32
                ; bsf eax, eax
                ; cmovz eax, ecx
            ),
            (UnOp::Popcnt, _) => {
                if w64 {
                    asm!(self.a ; mov rdi, rax);
                } else {
                    asm!(self.a ; mov edi, eax);
                }
                self.mov_imm(RAX, rt_popcnt as *const () as u64);
                asm!(self.a ; call rax);
            }
            (UnOp::Bswap, true) => asm!(self.a ; bswap rax),
            (UnOp::Bswap, false) => asm!(self.a ; bswap eax),
        }
    }

    /// TLB probe for the address in rsi (and in rax too if `in_rax`): leaves rax = the entry's
    /// byte offset in its TLB and jumps to a new slow path unless the comparator matches;
    /// returns that slow path's labels.
    fn tlb_check(&mut self, m: MemOp, write: bool, in_rax: bool) -> (DynamicLabel, DynamicLabel) {
        // Entries are 32 bytes: shift the page number straight to a byte offset and mask.
        const _: () = assert!(env::TLB_ENTRY_SIZE == 1 << 5 && env::PAGE_BITS >= 5);
        let mmu = (m.mmu_idx as usize).min(env::NUM_MMU_IDX - 1) as i32;
        let base = env::ENV_TLB_OFFSET + mmu * env::TLB_SIZE as i32 * env::TLB_ENTRY_SIZE;
        let field = base + if write { env::TLB_ADDR_WRITE_OFFSET } else { env::TLB_ADDR_READ_OFFSET };
        let addend = base + env::TLB_ADDEND_OFFSET;
        let (offset, mask) = env::tlb_probe_parts(m.size.bytes(), m.align);
        // Both fit a sign-extended imm32: offset < 8, and mask is PAGE_MASK with low bits.
        let (last, mask) = (offset as i32, mask as i64 as i32);
        let index_mask = ((env::TLB_SIZE as i32) - 1) << 5;
        let entry = self.a.new_dynamic_label();
        let join = self.a.new_dynamic_label();
        if !in_rax {
            asm!(self.a ; mov rax, rsi);
        }
        asm!(self.a
            ; shr rax, (env::PAGE_BITS - 5) as i8
            ; and eax, index_mask
            ; lea rcx, [rsi + last]
            ; and rcx, mask
            ; cmp rcx, [rbx + rax + field]
            ; jne =>entry
            ; add rsi, [rbx + rax + addend]
        );
        (entry, join)
    }

    /// rax = the value loaded from the guest address in rsi.
    fn load(&mut self, m: MemOp, in_rax: bool) {
        let (entry, join) = self.tlb_check(m, m.rmw, in_rax);
        match (m.size, m.signed) {
            (MemSize::B1, false) => asm!(self.a ; movzx eax, BYTE [rsi]),
            (MemSize::B1, true) => asm!(self.a ; movsx rax, BYTE [rsi]),
            (MemSize::B2, false) => asm!(self.a ; movzx eax, WORD [rsi]),
            (MemSize::B2, true) => asm!(self.a ; movsx rax, WORD [rsi]),
            (MemSize::B4, false) => asm!(self.a ; mov eax, [rsi]),
            (MemSize::B4, true) => asm!(self.a ; movsxd rax, DWORD [rsi]),
            (MemSize::B8, _) => asm!(self.a ; mov rax, [rsi]),
        }
        asm!(self.a ; =>join);
        self.slow.push(SlowPath { entry, join, store: false, pc: self.insn_pc, memop: env::encode_memop(m) });
    }

    /// Store rdx to the guest address in rsi.
    fn store(&mut self, m: MemOp, in_rax: bool) {
        let (entry, join) = self.tlb_check(m, true, in_rax);
        match m.size {
            MemSize::B1 => asm!(self.a ; mov [rsi], dl),
            MemSize::B2 => asm!(self.a ; mov [rsi], dx),
            MemSize::B4 => asm!(self.a ; mov [rsi], edx),
            MemSize::B8 => asm!(self.a ; mov [rsi], rdx),
        }
        asm!(self.a ; =>join);
        self.slow.push(SlowPath { entry, join, store: true, pc: self.insn_pc, memop: env::encode_memop(m) });
    }

    fn call(&mut self, helper: usize, dst: Option<Temp>, args: &[Temp]) {
        let Some(info) = self.helpers.get(helper).copied() else {
            // Unreachable for verified blocks.
            self.forget();
            if let Some(d) = dst {
                asm!(self.a ; xor eax, eax);
                self.put(d);
            }
            return;
        };
        // Helpers may write any guest register.
        self.materialize(None);
        if info.may_raise {
            self.store_pc_const(self.insn_pc);
        }
        for (i, &r) in ARG_REGS.iter().enumerate() {
            match args.get(i) {
                Some(t) => self.get(r, *t),
                None => asm!(self.a ; xor Rd(r), Rd(r)),
            }
        }
        self.forget();
        asm!(self.a ; mov rdi, rbx);
        self.mov_imm(RAX, info.func as usize as u64);
        asm!(self.a ; call rax);
        if info.may_raise {
            self.check_exception();
        }
        if let Some(d) = dst {
            self.put(d);
        }
    }

    /// Tell the lookup hook it may chain exit `slot` (`Env::lookup_link`): only an empty slot
    /// asks (see `jit`'s `goto_ptr`).
    fn store_lookup_link(&mut self, slot: usize) {
        self.mov_imm(RAX, env::pack_link(self.block_id, slot as u8));
        asm!(self.a ; mov [rbx + env::ENV_LOOKUP_LINK_OFFSET], rax);
    }

    /// Ask the runtime's `lookup` hook for code at `Env::pc` (already stored) and tail-jump to
    /// it; without code, return `miss`.
    fn lookup_and_jump(&mut self, miss: ExitCode, slot: u8) {
        let none = self.a.new_dynamic_label();
        asm!(self.a
            ; mov rdi, rbx
            ; mov rax, [rbx + env::ENV_RUNTIME_OFFSET]
            ; call QWORD [rax + env::RUNTIME_LOOKUP_OFFSET]
            ; test rax, rax
            ; jz =>none
        );
        self.tail_jump_rax();
        asm!(self.a ; =>none);
        self.ret_exit(miss, slot);
    }

    /// As `jit`'s: the chain is taken only while the code TLB maps the target page with the
    /// addend it had when the lookup hook chained this exit.
    fn cross_page_goto(&mut self, pc: u64, slot: usize) {
        let miss = self.a.new_dynamic_label();
        let off = env::tlb_entry_offset(self.block.code_mmu_idx, pc);
        let code_off = off + env::TLB_ADDR_CODE_OFFSET;
        let addend_off = off + env::TLB_ADDEND_OFFSET;
        let cell = 8 * slot as i32;
        let guard = 8 * env::exit_slot_guard(self.nslots, slot) as i32;
        // The direct jump, guarded by the addend patched in (see `DirectJump`). Once patched,
        // the cells say the same: a failed guard skips them.
        let cell_path = self.a.new_dynamic_label();
        let guard_site = self.patchable_imm(RDX, cell_path);
        self.page_addend(pc, code_off, addend_off, miss);
        asm!(self.a
            ; cmp rcx, rdx
            ; jne =>miss
        );
        let jmp_site = self.guarded_jump_tail();
        self.sites.push(SiteOffsets { slot: slot as u8, jmp: jmp_site, guard: guard_site, pc: 0 });
        let empty = self.a.new_dynamic_label();
        asm!(self.a ; =>cell_path);
        self.mov_imm(RDX, self.cells);
        asm!(self.a
            ; mov rax, [rdx + cell]
            ; test rax, rax
            ; jz =>empty
        );
        self.page_addend(pc, code_off, addend_off, miss);
        asm!(self.a
            ; cmp rcx, [rdx + guard]
            ; jne =>miss
        );
        self.tail_jump_rax();
        asm!(self.a ; =>empty);
        self.store_lookup_link(slot);
        asm!(self.a ; =>miss);
        self.store_pc_const(pc);
        self.lookup_and_jump(ExitCode::Goto, slot as u8);
    }

    /// `r` = a patchable imm64 of a `DirectJump` (returns its offset); to `unchained` while it
    /// holds `NO_MATCH`.
    fn patchable_imm(&mut self, r: Rq, unchained: DynamicLabel) -> usize {
        asm!(self.a ; mov Rq(r), QWORD NO_MATCH as i64);
        let site = self.a.offset().0 - 8;
        asm!(self.a
            ; cmp Rq(r), NO_MATCH as i32
            ; je =>unchained
        );
        site
    }

    /// rcx = the addend of the code TLB entry at `code_off`/`addend_off` if it maps `pc`'s
    /// page; to `miss` if it does not.
    fn page_addend(&mut self, pc: u64, code_off: i32, addend_off: i32, miss: DynamicLabel) {
        self.page_addend_via(RBX, pc, code_off, addend_off, miss);
    }

    /// `page_addend` with `Env` in `env` (rdi before the block's frame exists).
    fn page_addend_via(&mut self, env: Rq, pc: u64, code_off: i32, addend_off: i32, miss: DynamicLabel) {
        self.mov_imm(RCX, pc & env::PAGE_MASK);
        asm!(self.a
            ; cmp rcx, [Rq(env) + code_off]
            ; jne =>miss
            ; mov rcx, [Rq(env) + addend_off]
        );
    }

    /// rcx = the addend of the code TLB entry (fields at `code_off`/`addend_off`, as in
    /// `goto_ptr`) that maps the page of the target in rsi; to `miss` if none does. Clobbers rdx.
    fn code_tlb_addend(&mut self, code_off: i32, addend_off: i32, miss: DynamicLabel) {
        let index_mask = ((env::TLB_SIZE as i32) - 1) << 5;
        let page_mask = env::PAGE_MASK as i64 as i32;
        asm!(self.a
            ; mov rdx, rsi
            ; shr rdx, (env::PAGE_BITS - 5) as i8
            ; and edx, index_mask
            ; mov rcx, rsi
            ; and rcx, page_mask
            ; cmp rcx, [rbx + rdx + code_off]
            ; jne =>miss
            ; mov rcx, [rbx + rdx + addend_off]
        );
    }

    /// Leave the frame and `jmp rel32` to where the run loop patches it (initially the next
    /// instruction). Returns the rel32's offset.
    fn direct_jump_tail(&mut self) -> usize {
        asm!(self.a ; mov rdi, rbx);
        self.epilogue();
        let next = self.a.new_dynamic_label();
        asm!(self.a ; jmp =>next ; =>next);
        self.a.offset().0 - 4
    }

    /// `direct_jump_tail` for an exit whose guard keeps the jump unreachable until patched: what
    /// follows it, a `ud2`, never runs.
    fn guarded_jump_tail(&mut self) -> usize {
        let site = self.direct_jump_tail();
        asm!(self.a ; ud2);
        site
    }

    /// A computed jump to the PC in rsi (see `jit`'s `goto_ptr`: an inline cache of the first
    /// target, guarded by the code TLB entry of its page).
    fn goto_ptr(&mut self) {
        let slot = self.ptr_idx;
        self.ptr_idx += 1;
        let miss = self.a.new_dynamic_label();
        let mmu = (self.block.code_mmu_idx as usize).min(env::NUM_MMU_IDX - 1) as i32;
        let base = env::ENV_TLB_OFFSET + mmu * env::TLB_SIZE as i32 * env::TLB_ENTRY_SIZE;
        let code_off = base + env::TLB_ADDR_CODE_OFFSET;
        let addend_off = base + env::TLB_ADDEND_OFFSET;
        let cell = 8 * slot as i32;
        let want_pc = 8 * env::exit_slot_pc(self.nslots, slot) as i32;
        let guard = 8 * env::exit_slot_guard(self.nslots, slot) as i32;
        // The direct jump, for the target PC and addend patched in (see `DirectJump`). Once
        // patched, the cells say the same: another target or a failed guard skips them.
        let cell_path = self.a.new_dynamic_label();
        let pc_site = self.patchable_imm(RCX, cell_path);
        asm!(self.a
            ; cmp rsi, rcx
            ; jne =>miss
        );
        self.code_tlb_addend(code_off, addend_off, miss);
        asm!(self.a ; mov rdx, QWORD NO_MATCH as i64);
        let guard_site = self.a.offset().0 - 8;
        asm!(self.a
            ; cmp rcx, rdx
            ; jne =>miss
        );
        let jmp_site = self.guarded_jump_tail();
        self.sites.push(SiteOffsets { slot: slot as u8, jmp: jmp_site, guard: guard_site, pc: pc_site });
        asm!(self.a ; =>cell_path);
        let empty = self.a.new_dynamic_label();
        self.mov_imm(R8, self.cells);
        asm!(self.a
            ; mov rax, [r8 + cell]
            ; test rax, rax
            ; jz =>empty
            ; cmp rsi, [r8 + want_pc]
            ; jne =>miss
        );
        self.code_tlb_addend(code_off, addend_off, miss);
        asm!(self.a
            ; cmp rcx, [r8 + guard]
            ; jne =>miss
        );
        self.tail_jump_rax();
        let call = self.a.new_dynamic_label();
        asm!(self.a ; =>empty);
        self.store_lookup_link(slot);
        asm!(self.a
            ; jmp =>call
            ; =>miss
        );
        if self.block.may_use_itc() {
            self.itc_probe(code_off, addend_off);
        }
        asm!(self.a
            ; =>call
            ; mov [rbx + env::ENV_PC_OFFSET], rsi
        );
        self.lookup_and_jump(ExitCode::Lookup, 0);
    }

    /// As `jit`'s: look the target (in rsi) up in the indirect-jump cache and tail-call its code
    /// on a hit; on a miss, set `Env::lookup_key` and fall through. `code_off`/`addend_off`:
    /// the block's code TLB fields, as in `goto_ptr`.
    fn itc_probe(&mut self, code_off: i32, addend_off: i32) {
        let slow = self.a.new_dynamic_label();
        let key = self.block.flags;
        // Entries are 32 bytes and indexed by `t >> 1`: mask the target and scale by 16.
        const _: () = assert!(env::ITC_ENTRY_SIZE == 32);
        let itc_mask = ((env::ITC_SIZE as i32) - 1) << 1;
        asm!(self.a
            ; mov rax, [rbx + env::ENV_ITC_OFFSET]
            ; test rax, rax
            ; jz =>slow
            ; mov rdx, rsi
            ; and edx, itc_mask
            ; shl rdx, 4
            ; add rax, rdx
            ; cmp rsi, [rax + env::ITC_PC_OFFSET]
            ; jne =>slow
        );
        self.mov_imm(RCX, key);
        asm!(self.a
            ; cmp rcx, [rax + env::ITC_KEY_OFFSET]
            ; jne =>slow
        );
        self.code_tlb_addend(code_off, addend_off, slow);
        asm!(self.a
            ; cmp rcx, [rax + env::ITC_GUARD_OFFSET]
            ; jne =>slow
            ; mov rax, [rax + env::ITC_CODE_OFFSET]
        );
        self.tail_jump_rax();
        asm!(self.a ; =>slow);
        self.mov_imm(RCX, key);
        asm!(self.a ; mov [rbx + env::ENV_LOOKUP_KEY_OFFSET], rcx);
    }
}
