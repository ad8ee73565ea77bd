//! The Cranelift JIT: the hot tier. Lowers a verified [`Block`] to a native function with the
//! `tail` calling convention (`fn(env) -> packed exit`), with the same semantics as
//! [`crate::interp::interpret`]: budget check on entry, inline softmmu TLB fast path with a cold
//! slow path through the [`Runtime`](crate::env::Runtime) hooks, precise PCs, and block chaining
//! through caller-owned exit slots (`return_call_indirect`, so chained blocks never grow the stack).
//!
//! Guest register writes are deferred: a `SetReg` only records the SSA value, later `GetReg`s of
//! the register use it, and the stores to `Env` happen once, before anything that can look at the
//! register file (helper calls, branches, exits). The cold slow path of a memory access stores
//! them too before calling out, so a guest fault there still sees exact registers while the fast
//! path stores nothing. Registers rewritten within a block are thus stored once, not per write.
//!
//! Code lives in a bump-allocated arena per *generation*; `flush_all` throws a whole generation
//! away at once (JITModule can only free memory wholesale).

use crate::env::{self, pack_exit, ExitCode};
use crate::helpers::{HelperTable, MAX_HELPER_ARGS};
use crate::ir::{BinOp, Block, Cond, ExitReason, MemOp, MemSize, Op, Temp, UnOp, Width};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64, I8};
use cranelift_codegen::ir::{
    AbiParam, AliasRegion, AliasRegionData, Endianness, InstBuilder, MemFlagsData, SigRef, Signature, Type, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{BranchProtection, JITBuilder, JITMemoryKind, JITMemoryProvider, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module, ModuleResult};
use std::sync::atomic::AtomicPtr;
use thiserror::Error;

#[derive(Clone, Copy, Debug)]
pub struct JitConfig {
    /// Code bytes per generation after which [`Jit::is_full`] reports true.
    pub max_code_bytes: usize,
    /// Cranelift `opt_level`: "speed" or "none".
    pub opt_level: &'static str,
}

impl Default for JitConfig {
    fn default() -> Self {
        Self { max_code_bytes: 32 << 20, opt_level: "speed" }
    }
}

#[derive(Debug, Error)]
pub enum JitError {
    #[error("invalid block: {0}")]
    Verify(#[from] crate::verify::VerifyError),
    #[error("cranelift: {0}")]
    Module(String),
    #[error("cranelift ISA setup: {0}")]
    Isa(String),
    #[error("code cache memory: {0}")]
    Memory(String),
}

impl From<cranelift_module::ModuleError> for JitError {
    fn from(e: cranelift_module::ModuleError) -> Self {
        JitError::Module(format!("{e:?}"))
    }
}

/// A compiled block: its entry point and machine-code size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub code: *const u8,
    pub size: usize,
}

impl Compiled {
    /// The block's machine code (empty for a null entry); shared by both tiers' `code_bytes`.
    ///
    /// # Safety
    /// The generation that holds the code must stay mapped while the slice is used.
    pub(crate) unsafe fn bytes<'a>(&self) -> &'a [u8] {
        if self.code.is_null() {
            return &[];
        }
        // SAFETY: `code..code + size` is the block's code, mapped as long as the caller says.
        unsafe { std::slice::from_raw_parts(self.code, self.size) }
    }
}

/// A block of a region being compiled (see [`Jit::compile_region`]): its IR, the id its exits
/// report and its exit cells (`env::exit_cells(exit_slot_count(block))`, owned by the caller and
/// valid until [`Jit::flush_all`]).
#[derive(Clone, Copy)]
pub struct RegionMember<'a> {
    pub block: &'a Block,
    pub block_id: u64,
    pub exit_slots: *const AtomicPtr<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Blocks compiled (all generations).
    pub blocks: u64,
    /// CPU time of the compiling thread spent in Cranelift (lowering, compiling, finalizing), all
    /// generations. (CPU time rather than elapsed time: the figure is for tuning, and elapsed
    /// time counts whatever else the host runs meanwhile.)
    pub compile_ns: u64,
    /// Machine code bytes produced (all generations).
    pub code_bytes: u64,
    /// Generations thrown away by `flush_all`.
    pub flushes: u64,
    /// Guest loads and stores compiled to share a page group's TLB check (see
    /// [`crate::page_group`]).
    pub grouped_accesses: u64,
}

/// Backing store of one code generation: a single RWX mapping, bump-allocated. Blocks are packed
/// back to back (the stock providers start a new page at every finalize, i.e. per block), and the
/// whole mapping is unmapped when the generation is dropped.
struct Arena {
    alloc: Option<region::Allocation>,
    used: usize,
}

impl Arena {
    fn new(size: usize) -> std::io::Result<Self> {
        let alloc = region::alloc(size, region::Protection::READ_WRITE_EXECUTE).map_err(std::io::Error::other)?;
        Ok(Self { alloc: Some(alloc), used: 0 })
    }
}

impl JITMemoryProvider for Arena {
    fn allocate(&mut self, size: usize, align: u64, _kind: JITMemoryKind) -> std::io::Result<*mut u8> {
        let alloc = self.alloc.as_mut().ok_or_else(|| std::io::Error::other("code arena freed"))?;
        let align = (align as usize).max(1);
        let start = self.used.next_multiple_of(align);
        if start + size > alloc.len() {
            return Err(std::io::Error::other("code arena exhausted"));
        }
        self.used = start + size;
        // SAFETY: start + size is within the mapping (checked above).
        Ok(unsafe { alloc.as_mut_ptr::<u8>().add(start) })
    }

    unsafe fn free_memory(&mut self) {
        self.alloc = None;
        self.used = 0;
    }

    fn finalize(&mut self, _bp: BranchProtection) -> ModuleResult<()> {
        // The mapping is RWX, so nothing to protect; x86-64 keeps instruction fetch coherent with
        // stores. (An AArch64 host would need an icache flush of the new range here.)
        Ok(())
    }
}

/// A `Box<dyn JITMemoryProvider>` the module owns while we still read the arena's fill level.
struct SharedArena(std::rc::Rc<std::cell::RefCell<Arena>>);

// SAFETY: the JIT is used from one thread at a time (Jit is not Sync, and the Rc never leaves the
// Jit that owns both handles); JITBuilder only demands Send for the boxed provider.
unsafe impl Send for SharedArena {}

impl JITMemoryProvider for SharedArena {
    fn allocate(&mut self, size: usize, align: u64, kind: JITMemoryKind) -> std::io::Result<*mut u8> {
        self.0.borrow_mut().allocate(size, align, kind)
    }
    unsafe fn free_memory(&mut self) {
        // SAFETY: forwarded contract (no code of this generation runs any more).
        unsafe { self.0.borrow_mut().free_memory() }
    }
    fn finalize(&mut self, bp: BranchProtection) -> ModuleResult<()> {
        self.0.borrow_mut().finalize(bp)
    }
}

struct Generation {
    module: JITModule,
    arena: std::rc::Rc<std::cell::RefCell<Arena>>,
    trampoline: *const u8,
    /// `preserve_all` stubs in front of the runtime's `load_slow` / `store_slow` (see `slow_stub`).
    load_stub: *const u8,
    store_stub: *const u8,
}

pub struct Jit {
    helpers: HelperTable,
    config: JitConfig,
    gen: Option<Generation>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    stats: JitStats,
    /// Name compiled blocks for perf (see `compile`): `perf record` sets PERF_BUILDID_DIR, which
    /// is also what makes cranelift-jit write the perf map.
    perf_names: bool,
}

/// Held while cranelift-jit appends to /tmp/perf-PID.map: it writes each line in several pieces,
/// so the baseline tier (another thread) must not write between them or perf reads garbage.
pub(crate) static PERF_MAP_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// CPU time consumed by the calling thread, in ns.
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Signature of a compiled block: `tail fn(env: i64) -> i64`.
fn block_sig() -> Signature {
    let mut s = Signature::new(CallConv::Tail);
    s.params.push(AbiParam::new(I64));
    s.returns.push(AbiParam::new(I64));
    s
}

fn sysv_sig(nparams: usize, ret: bool) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params.extend((0..nparams).map(|_| AbiParam::new(I64)));
    if ret {
        s.returns.push(AbiParam::new(I64));
    }
    s
}

impl Jit {
    pub fn new(helpers: HelperTable, config: JitConfig) -> Result<Jit, JitError> {
        let mut jit = Jit {
            helpers,
            config,
            gen: None,
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
            stats: JitStats::default(),
            perf_names: std::env::var_os("PERF_BUILDID_DIR").is_some(),
        };
        jit.new_generation()?;
        Ok(jit)
    }

    fn new_generation(&mut self) -> Result<(), JitError> {
        let flags = [
            ("opt_level", self.config.opt_level),
            ("enable_alias_analysis", "true"),
            ("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" }),
            ("unwind_info", "false"),
            // Measured for the quick tier (boot + workload): single_pass cut compile CPU time by
            // ~35% but its code ran ~30% slower (it spills around every block boundary, and a
            // TLB access is three blocks), which ate the gain; blocks stay quick-tier for long.
            ("regalloc_algorithm", "backtracking"),
            // Cranelift's x86-64 tail calls rely on frame pointers.
            ("preserve_frame_pointers", "true"),
        ];
        let mut builder =
            JITBuilder::with_flags(&flags, default_libcall_names()).map_err(|e| JitError::Isa(format!("{e:?}")))?;
        // Headroom past the soft limit so the compile that crosses it still fits.
        let size = self.config.max_code_bytes.saturating_add(4 << 20);
        let arena =
            std::rc::Rc::new(std::cell::RefCell::new(Arena::new(size).map_err(|e| JitError::Memory(e.to_string()))?));
        builder.memory_provider(Box::new(SharedArena(arena.clone())));
        let mut module = JITModule::new(builder);

        // The trampoline: sysv fn(code, env) -> u64 calling the tail-cc block.
        module.clear_context(&mut self.ctx);
        self.ctx.func.signature = sysv_sig(2, true);
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let (code, envp) = (b.block_params(entry)[0], b.block_params(entry)[1]);
            let sig = b.import_signature(block_sig());
            let call = b.ins().call_indirect(sig, code, &[envp]);
            let r = b.inst_results(call)[0];
            b.ins().return_(&[r]);
            b.seal_all_blocks();
            b.finalize(module.target_config());
        }
        let id = module.declare_anonymous_function(&self.ctx.func.signature)?;
        module.define_function(id, &mut self.ctx)?;
        module.finalize_definitions()?;
        let trampoline = module.get_finalized_function(id);
        module.clear_context(&mut self.ctx);
        let load_stub = self.slow_stub(&mut module, false)?;
        let store_stub = self.slow_stub(&mut module, true)?;
        self.gen = Some(Generation { module, arena, trampoline, load_stub, store_stub });
        Ok(())
    }

    /// A stub `fn(env)` with the `preserve_all` convention (every register callee-saved) that
    /// calls the runtime's SystemV `load_slow` (leaving the value in `Env::slow_value`) or
    /// `store_slow` with the access blocks leave in `Env::slow_va/slow_value/slow_memop`. Blocks
    /// call their memory slow paths through it: a call that clobbers nothing, with one fixed
    /// register, costs the register allocator little, where each SystemV call in a cold path
    /// split every value live across it (jit_bench's typical block: ~385 -> ~300 us at opt none).
    fn slow_stub(&mut self, module: &mut JITModule, store: bool) -> Result<*const u8, JitError> {
        module.clear_context(&mut self.ctx);
        let n = if store { 4 } else { 3 };
        let mut sig = Signature::new(CallConv::PreserveAll);
        sig.params.push(AbiParam::new(I64));
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let envp = b.block_params(entry)[0];
            let f = MemFlagsData::trusted();
            let mut args = vec![envp, b.ins().load(I64, f, envp, env::ENV_SLOW_VA_OFFSET)];
            if store {
                args.push(b.ins().load(I64, f, envp, env::ENV_SLOW_VALUE_OFFSET));
            }
            args.push(b.ins().load(I64, f, envp, env::ENV_SLOW_MEMOP_OFFSET));
            let rt = b.ins().load(I64, f, args[0], env::ENV_RUNTIME_OFFSET);
            let off = if store { env::RUNTIME_STORE_OFFSET } else { env::RUNTIME_LOAD_OFFSET };
            let func = b.ins().load(I64, f, rt, off);
            let sig = b.import_signature(sysv_sig(n, !store));
            let call = b.ins().call_indirect(sig, func, &args);
            if !store {
                let r = b.inst_results(call)[0];
                b.ins().store(f, r, args[0], env::ENV_SLOW_VALUE_OFFSET);
            }
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(module.target_config());
        }
        let id = module.declare_anonymous_function(&self.ctx.func.signature)?;
        module.define_function(id, &mut self.ctx)?;
        module.finalize_definitions()?;
        let code = module.get_finalized_function(id);
        module.clear_context(&mut self.ctx);
        Ok(code)
    }

    /// Compile `block`. `exit_slots` points at `env::exit_cells(exit_slot_count(block))` cells owned by
    /// the caller (null-initialised = not chained), valid until [`Jit::flush_all`].
    pub fn compile(
        &mut self,
        block: &Block,
        block_id: u64,
        exit_slots: *const AtomicPtr<u8>,
    ) -> Result<Compiled, JitError> {
        self.compile_region(&[RegionMember { block, block_id, exit_slots }], &[])
    }

    /// Compile a *region*: `members[0]` and blocks it reaches, as one function entered at
    /// `members[0]`. Each `(k, slot, j)` in `edges` says that `Goto` exit `slot` of member `k`
    /// continues in member `j`: it becomes a jump inside the function, with the guest registers
    /// the region writes and the budget kept in host registers across it. Every other exit, and
    /// every budget check (one per member entry), behaves as in the member's own code, with the
    /// member's id and exit cells, so the run loop cannot tell region code from the members'.
    /// A `Goto` from a member to its own start is always such an edge (a one-block loop).
    ///
    /// The caller guarantees that each edge is right (the exit's target under the flags the
    /// exit leaves is that member) and must stop running the code when a member's guest code
    /// changes.
    pub fn compile_region(
        &mut self,
        members: &[RegionMember<'_>],
        edges: &[(usize, usize, usize)],
    ) -> Result<Compiled, JitError> {
        let Some(head) = members.first() else { return Err(JitError::Module("empty region".into())) };
        for m in members {
            crate::verify::verify(m.block, self.helpers)?;
        }
        let start = thread_cpu_ns();
        let gen = self.gen.as_mut().ok_or_else(|| JitError::Memory("no code generation".into()))?;
        gen.module.clear_context(&mut self.ctx);
        self.ctx.func.signature = block_sig();
        let grouped = {
            let b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let mut l = Lower::new(b, self.helpers, members, edges);
            l.stubs = (gen.load_stub as u64, gen.store_stub as u64);
            l.lower();
            l.b.seal_all_blocks();
            l.b.finalize(gen.module.target_config());
            l.grouped
        };
        if log::log_enabled!(log::Level::Trace) {
            log::trace!("clif for block {}:\n{}", head.block_id, self.ctx.func.display());
        }
        let id = if self.perf_names {
            // Under `perf record`, cranelift-jit lists every function in /tmp/perf-PID.map by its
            // name: name blocks by guest PC and tier so JIT samples say which guest code ran.
            let name = format!("guest_{:x}_{}_{}", head.block.pc, self.config.opt_level, self.stats.blocks);
            gen.module.declare_function(&name, Linkage::Local, &self.ctx.func.signature)?
        } else {
            gen.module.declare_anonymous_function(&self.ctx.func.signature)?
        };
        let res = {
            let _perf_map = self.perf_names.then(|| PERF_MAP_WRITER.lock().unwrap_or_else(|e| e.into_inner()));
            gen.module.define_function(id, &mut self.ctx)
        };
        if let Err(e) = res {
            gen.module.clear_context(&mut self.ctx);
            return Err(e.into());
        }
        let size = self.ctx.compiled_code().map_or(0, |c| c.code_buffer().len());
        gen.module.finalize_definitions()?;
        let code = gen.module.get_finalized_function(id);
        gen.module.clear_context(&mut self.ctx);
        self.stats.blocks += 1;
        self.stats.code_bytes += size as u64;
        self.stats.grouped_accesses += grouped;
        self.stats.compile_ns += thread_cpu_ns().saturating_sub(start);
        Ok(Compiled { code, size })
    }

    /// Run compiled code: calls the tail-cc block at `code` with `env` and returns its packed exit.
    ///
    /// # Safety
    /// `code` must come from [`Jit::compile`] of the current generation and `env` must satisfy
    /// the block's requirements (see [`crate::interp::interpret`]).
    pub unsafe fn enter(&self, code: *const u8, env: *mut env::Env) -> u64 {
        let tramp = self.gen.as_ref().map_or(std::ptr::null(), |g| g.trampoline);
        // SAFETY: the trampoline was compiled with the SystemV signature (code, env) -> i64.
        unsafe {
            let f: unsafe extern "sysv64" fn(*const u8, *mut env::Env) -> u64 = std::mem::transmute(tramp);
            f(code, env)
        }
    }

    /// Arena bytes used by the current generation.
    #[inline]
    pub fn generation_bytes(&self) -> usize {
        self.gen.as_ref().map_or(0, |g| g.arena.borrow().used)
    }

    /// The current generation has used its `max_code_bytes`: flush before compiling more.
    /// (Inline: the run loop asks on every iteration.)
    #[inline]
    pub fn is_full(&self) -> bool {
        self.generation_bytes() >= self.config.max_code_bytes
    }

    /// Drop every compiled block and start a fresh generation.
    ///
    /// # Safety
    /// No compiled code may be running, and every code pointer and exit slot handed out before
    /// must be forgotten by the caller.
    pub unsafe fn flush_all(&mut self) -> Result<(), JitError> {
        if let Some(g) = self.gen.take() {
            // SAFETY: caller guarantees no code of this generation is used any more.
            unsafe { g.module.free_memory() };
            debug_assert!(g.arena.borrow().alloc.is_none());
        }
        self.stats.flushes += 1;
        self.new_generation()
    }

    /// The machine code of a compiled block (for `-d out_asm`).
    pub fn code_bytes(&self, c: &Compiled) -> &[u8] {
        // SAFETY: `c` came from this generation (caller), whose memory stays mapped until flush_all.
        unsafe { c.bytes() }
    }

    pub fn stats(&self) -> JitStats {
        self.stats
    }
}

/// For each op of `block`, whether it is a store whose value, or a computed value it is made
/// from, is needed again after it: by a later op, or (with `carried`, jumps inside the function)
/// as a register value passed along a jump.
fn shared_store_values(block: &Block, carried: bool) -> Vec<bool> {
    let nt = block.temp_count() as usize;
    let mut def: Vec<Option<usize>> = vec![None; nt];
    let mut last_use = vec![0usize; nt];
    let mut held = vec![false; nt];
    for (i, op) in block.ops.iter().enumerate() {
        if let Op::Bin { dst, .. } | Op::Un { dst, .. } | Op::Cmp { dst, .. } | Op::Select { dst, .. } = op {
            if let Some(d) = def.get_mut(dst.0 as usize) {
                *d = Some(i);
            }
        }
        if let Op::SetReg { src, .. } = op {
            if let Some(h) = held.get_mut(src.0 as usize) {
                *h = true;
            }
        }
        for t in op.uses() {
            if let Some(u) = last_use.get_mut(t.0 as usize) {
                *u = i;
            }
        }
    }
    let mut out = vec![false; block.ops.len()];
    let mut seen = vec![false; nt];
    for (i, op) in block.ops.iter().enumerate() {
        let Op::Store { src, .. } = op else { continue };
        seen.iter_mut().for_each(|s| *s = false);
        let mut work = vec![*src];
        // A bound on the walk: the values a store is computed from are a handful of ops.
        let mut budget = 64;
        while let Some(t) = work.pop() {
            let k = t.0 as usize;
            if k >= nt || std::mem::replace(&mut seen[k], true) {
                continue;
            }
            if last_use[k] > i || (carried && held[k]) {
                out[i] = true;
                break;
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
            if let Some(d) = def[k] {
                work.extend(block.ops[d].uses());
            }
        }
    }
    out
}

/// Region ids for Cranelift's alias analysis: register file, other Env fields, TLB, exit slots,
/// guest memory never alias each other.
const REGION_REGS: u32 = 1;
const REGION_ENV: u32 = 2;
const REGION_TLB: u32 = 3;
const REGION_SLOTS: u32 = 4;
const REGION_GUEST: u32 = 5;

struct Lower<'a, 'b> {
    b: FunctionBuilder<'b>,
    helpers: HelperTable,
    /// The region's blocks (one for a plain compile) and, per member and `Goto` slot, the member
    /// that exit continues in inside the function.
    members: &'a [RegionMember<'a>],
    edges: Vec<Vec<Option<usize>>>,
    /// Entry of each member's code: its budget check, with the `carried` registers as params.
    heads: Vec<Option<cranelift_codegen::ir::Block>>,
    /// The member being lowered, and its block, id and exit cells.
    cur: usize,
    block: &'a Block,
    block_id: u64,
    exit_slots: *const AtomicPtr<u8>,
    /// Exit slots of the block (exit cells are laid out by it, see `env::exit_slot_guard`).
    nslots: usize,
    /// Slot of the next `GotoPtr` (they follow the `Goto`s' slots).
    ptr_idx: usize,
    env: Value,
    temps: Vec<Option<Value>>,
    labels: Vec<Option<cranelift_codegen::ir::Block>>,
    exc_block: Option<cranelift_codegen::ir::Block>,
    regions: [AliasRegion; 6],
    terminated: bool,
    insn_pc: u64,
    goto_idx: u64,
    /// The member's page groups (see [`crate::page_group`]), the op being lowered, and each
    /// group's check once emitted (see `group_check`).
    groups: crate::page_group::Plan,
    /// Per op of the member: a store whose value is defined before its TLB check (see `store`).
    anchored: Vec<bool>,
    op_idx: usize,
    group_checks: Vec<Option<Value>>,
    /// Accesses compiled with a group's check (for `JitStats::grouped_accesses`).
    grouped: u64,
    /// Guest registers written by `SetReg` but not yet stored to `Env` (see `flush_regs`).
    pending: Vec<Option<Value>>,
    /// The registers with a `pending` value, in first-write order.
    dirty: Vec<u16>,
    /// Registers carried across the jumps inside the function (loops, region edges) as
    /// parameters of every member's head, in this order.
    carried: Vec<u16>,
    /// With jumps inside the function, the budget as a variable (see `lower`); else it lives in `Env`.
    budget_var: Option<Variable>,
    /// Register state kept pending across a `BrCond` for its label (see `lower`).
    branch_keep: Option<(crate::ir::Label, Vec<Option<Value>>, Vec<u16>)>,
    sig_block: SigRef,
    sig_helper: SigRef,
    sig_load: SigRef,
    sig_store: SigRef,
    /// Addresses of the generation's load and store slow-path stubs.
    stubs: (u64, u64),
    sig_lookup: SigRef,
}

impl<'a, 'b> Lower<'a, 'b> {
    fn new(mut b: FunctionBuilder<'b>, helpers: HelperTable, members: &'a [RegionMember<'a>], edges: &[(usize, usize, usize)]) -> Self {
        let names = ["", "regs", "env", "tlb", "exit_slots", "guest"];
        let regions = std::array::from_fn(|i| {
            b.func.dfg.alias_regions.insert(AliasRegionData { user_id: i as u32, description: names[i].into() })
        });
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let env = b.block_params(entry)[0];
        let sig_block = b.import_signature(block_sig());
        let sig_helper = b.import_signature(sysv_sig(1 + MAX_HELPER_ARGS, true));
        let mut stub_sig = Signature::new(CallConv::PreserveAll);
        stub_sig.params.push(AbiParam::new(I64));
        let sig_load = b.import_signature(stub_sig.clone());
        let sig_store = b.import_signature(stub_sig);
        let sig_lookup = b.import_signature(sysv_sig(1, true));
        // Internal jumps: the given edges, and every Goto from a member to its own start.
        let mut edge_map: Vec<Vec<Option<usize>>> =
            members.iter().map(|m| vec![None; crate::interp::goto_count(m.block)]).collect();
        for (k, m) in members.iter().enumerate() {
            let gotos = m.block.ops.iter().filter_map(|op| match op {
                Op::Goto { pc } => Some(*pc),
                _ => None,
            });
            for (slot, pc) in gotos.enumerate() {
                if pc == m.block.pc {
                    edge_map[k][slot] = Some(k);
                }
            }
        }
        for &(k, slot, j) in edges {
            if let Some(e) = edge_map.get_mut(k).and_then(|v| v.get_mut(slot)) {
                if j < members.len() {
                    *e = Some(j);
                }
            }
        }
        let head = members[0];
        Self {
            b,
            helpers,
            members,
            edges: edge_map,
            heads: Vec::new(),
            cur: 0,
            block: head.block,
            block_id: head.block_id,
            exit_slots: head.exit_slots,
            nslots: 0,
            ptr_idx: 0,
            env,
            temps: Vec::new(),
            labels: Vec::new(),
            exc_block: None,
            regions,
            terminated: false,
            insn_pc: head.block.pc,
            goto_idx: 0,
            groups: Default::default(),
            anchored: Vec::new(),
            op_idx: 0,
            group_checks: Vec::new(),
            grouped: 0,
            pending: vec![None; env::NUM_REGS],
            dirty: Vec::new(),
            carried: Vec::new(),
            branch_keep: None,
            budget_var: None,
            sig_block,
            sig_helper,
            sig_load,
            sig_store,
            stubs: (0, 0),
            sig_lookup,
        }
    }

    fn flags(&self, region: u32) -> MemFlagsData {
        MemFlagsData::trusted().with_alias_region(Some(self.regions[region as usize]))
    }

    fn guest_flags(&self) -> MemFlagsData {
        MemFlagsData::new()
            .with_notrap()
            .with_endianness(Endianness::Little)
            .with_alias_region(Some(self.regions[REGION_GUEST as usize]))
    }

    fn t(&mut self, t: Temp) -> Value {
        // The block is verified, so every use has a dominating definition; keep a harmless
        // fallback instead of a panic anyway.
        match self.temps.get(t.0 as usize).copied().flatten() {
            Some(v) => v,
            None => self.b.ins().iconst(I64, 0),
        }
    }

    fn def(&mut self, t: Temp, v: Value) {
        if let Some(slot) = self.temps.get_mut(t.0 as usize) {
            *slot = Some(v);
        }
    }

    fn iconst(&mut self, v: u64) -> Value {
        self.b.ins().iconst(I64, v as i64)
    }

    fn ret_exit(&mut self, code: ExitCode, slot: u8) {
        let v = self.iconst(pack_exit(code, self.block_id, slot));
        self.b.ins().return_(&[v]);
    }

    /// Tell the lookup hook it may chain exit `slot` (`Env::lookup_link`, see
    /// [`env::LookupFn`]). Only an empty slot asks: a slot keeps its first target (see
    /// `chain_guarded` in the run loop), and the hook would look at both blocks just to find
    /// that out on every miss of a slot holding another one.
    fn store_lookup_link(&mut self, slot: usize) {
        let link = self.iconst(env::pack_link(self.block_id, slot as u8));
        let f = self.flags(REGION_ENV);
        self.b.ins().store(f, link, self.env, env::ENV_LOOKUP_LINK_OFFSET);
    }

    /// Ask the runtime's `lookup` hook for compiled code at `Env::pc` (already stored) and
    /// tail-call it; without code, return `miss` to the run loop.
    fn lookup_and_jump(&mut self, miss: ExitCode, slot: u8) {
        let f = self.flags(REGION_ENV);
        let rt = self.b.ins().load(I64, f, self.env, env::ENV_RUNTIME_OFFSET);
        let lookup = self.b.ins().load(I64, f, rt, env::RUNTIME_LOOKUP_OFFSET);
        let env = self.env;
        let call = self.b.ins().call_indirect(self.sig_lookup, lookup, &[env]);
        let p = self.b.inst_results(call)[0];
        let miss_blk = self.b.create_block();
        self.tail_call_if(p, p, miss_blk);
        self.b.switch_to_block(miss_blk);
        self.ret_exit(miss, slot);
    }

    /// Store every pending register write to `Env` and forget them (before anything that may
    /// read or write guest registers other than through this block's own ops).
    fn flush_regs(&mut self) {
        self.spill_regs();
        self.forget_regs();
    }

    /// Forget the pending register values without storing them (they were passed on).
    fn forget_regs(&mut self) {
        for r in self.dirty.drain(..) {
            self.pending[r as usize] = None;
        }
    }

    /// Store every pending register write to `Env` but keep them pending: the cold slow path of a
    /// memory access, where a guest exception needs the register file exact but the fast path
    /// it rejoins still owns the values.
    fn spill_regs(&mut self) {
        let f = self.flags(REGION_REGS);
        for &r in &self.dirty {
            let v = self.pending[r as usize].expect("dirty registers are pending");
            self.b.ins().store(f, v, self.env, env::reg_offset(r));
        }
        if let Some(var) = self.budget_var {
            let v = self.b.use_var(var);
            let f = self.flags(REGION_ENV);
            self.b.ins().store(f, v, self.env, env::ENV_BUDGET_OFFSET);
        }
    }

    /// After a call out: the callee may have changed `Env::budget` (a forced exit).
    fn reload_budget(&mut self) {
        if let Some(var) = self.budget_var {
            let f = self.flags(REGION_ENV);
            let v = self.b.ins().load(I64, f, self.env, env::ENV_BUDGET_OFFSET);
            self.b.def_var(var, v);
        }
    }

    fn store_pc(&mut self, pc: Value) {
        let f = self.flags(REGION_ENV);
        self.b.ins().store(f, pc, self.env, env::ENV_PC_OFFSET);
    }

    fn store_pc_const(&mut self, pc: u64) {
        let v = self.iconst(pc);
        self.store_pc(v);
    }

    fn label_block(&mut self, l: crate::ir::Label) -> cranelift_codegen::ir::Block {
        let idx = l.0 as usize;
        if idx >= self.labels.len() {
            self.labels.resize(idx + 1, None);
        }
        match self.labels[idx] {
            Some(b) => b,
            None => {
                let nb = self.b.create_block();
                self.labels[idx] = Some(nb);
                nb
            }
        }
    }

    /// The shared cold block returning `Exception` (filled at the end of lowering: the builder
    /// cannot leave an unfinished block).
    fn exception_block(&mut self) -> cranelift_codegen::ir::Block {
        if let Some(b) = self.exc_block {
            return b;
        }
        let blk = self.b.create_block();
        self.b.set_cold_block(blk);
        self.exc_block = Some(blk);
        blk
    }

    /// Branch to the exception exit if `env.exception_pending != 0`, else continue in a new block.
    fn check_exception(&mut self) {
        let f = self.flags(REGION_ENV);
        let p = self.b.ins().load(I32, f, self.env, env::ENV_EXCEPTION_OFFSET);
        let exc = self.exception_block();
        let cont = self.b.create_block();
        self.b.ins().brif(p, exc, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// The entry check of a block on two pages (see `Env::page_checked`): once per call, so the
    /// jumps inside the function that skip the prologue skip it too (nothing they run can remap
    /// the page without leaving the function: such helpers end their block).
    fn second_page_check(&mut self, page: crate::ir::SecondPage, pc: u64, block_id: u64, code_mmu_idx: u8) {
        let f = self.flags(REGION_ENV);
        let checked = self.b.ins().load(I32, f, self.env, env::ENV_PAGE_CHECKED_OFFSET);
        let reset = self.b.create_block();
        let check = self.b.create_block();
        let fail = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(fail);
        self.b.ins().brif(checked, reset, &[], check, &[]);
        self.b.switch_to_block(reset);
        let zero = self.b.ins().iconst(I32, 0);
        self.b.ins().store(f, zero, self.env, env::ENV_PAGE_CHECKED_OFFSET);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(check);
        let want = self.iconst(page.addend);
        let ok = self.page_mapped(code_mmu_idx, page.vpage, want);
        self.b.ins().brif(ok, cont, &[], fail, &[]);
        self.b.switch_to_block(fail);
        self.store_pc_const(pc);
        let v = self.iconst(pack_exit(ExitCode::Lookup, block_id, 0));
        self.b.ins().return_(&[v]);
        self.b.switch_to_block(cont);
    }

    fn lower(&mut self) {
        let head = self.members[0];
        if let Some(page) = head.block.second_page {
            self.second_page_check(page, head.block.pc, head.block_id, head.block.code_mmu_idx);
        }
        // Jumps inside the function (a block jumping to its own start, region edges) skip the
        // prologue, epilogue and exit-slot indirection of a chained call. The registers the
        // region writes are carried across them in host registers (parameters of every
        // member's head) instead of being stored and reloaded at every crossing; they enter from
        // `Env` and are pending (stored at every exit) from each head on.
        let internal = self.edges.iter().flatten().any(Option::is_some);
        if internal {
            let mut written: Vec<u16> = self
                .members
                .iter()
                .flat_map(|m| m.block.ops.iter())
                .filter_map(|op| match op {
                    Op::SetReg { reg, .. } => Some(reg.0.min(env::NUM_REGS as u16 - 1)),
                    _ => None,
                })
                .collect();
            written.sort_unstable();
            written.dedup();
            self.carried = written;
            // The budget, too, stays in a host register across them (a load-add-store of
            // `Env::budget` per iteration is a store-to-load chain that bounds tight loops);
            // `spill_regs` stores it wherever something may read it, calls reload it.
            let f = self.flags(REGION_ENV);
            let var = self.b.declare_var(I64);
            let v = self.b.ins().load(I64, f, self.env, env::ENV_BUDGET_OFFSET);
            self.b.def_var(var, v);
            self.budget_var = Some(var);
        }
        // Members no edge reaches from the entry are never lowered (Cranelift wants every
        // block it is given to be reachable and filled).
        let mut reached = vec![false; self.members.len()];
        reached[0] = true;
        let mut work = vec![0usize];
        while let Some(k) = work.pop() {
            for &j in self.edges[k].iter().flatten() {
                if !std::mem::replace(&mut reached[j], true) {
                    work.push(j);
                }
            }
        }
        for &r in &reached {
            let h = r.then(|| {
                let h = self.b.create_block();
                for _ in &self.carried {
                    self.b.append_block_param(h, I64);
                }
                h
            });
            self.heads.push(h);
        }
        let fr = self.flags(REGION_REGS);
        let mut init = Vec::with_capacity(self.carried.len());
        for &r in &self.carried {
            let v = self.b.ins().load(I64, fr, self.env, env::reg_offset(r));
            init.push(v.into());
        }
        let entry = self.heads[0].expect("the entry is reached");
        self.b.ins().jump(entry, &init);
        for k in (0..self.members.len()).filter(|&k| reached[k]) {
            self.lower_member(k);
        }
    }

    /// Lower member `k` from its head: the budget check, then its ops.
    fn lower_member(&mut self, k: usize) {
        let m = self.members[k];
        let block = m.block;
        self.cur = k;
        self.block = block;
        self.block_id = m.block_id;
        self.exit_slots = m.exit_slots;
        self.nslots = crate::interp::exit_slot_count(block);
        self.ptr_idx = crate::interp::goto_count(block);
        self.temps = vec![None; block.temp_count() as usize];
        self.labels = vec![None; block.label_count() as usize];
        self.exc_block = None;
        self.terminated = false;
        self.insn_pc = block.pc;
        self.goto_idx = 0;
        self.groups = crate::page_group::plan(block);
        self.anchored = shared_store_values(block, !self.carried.is_empty());
        self.group_checks = vec![None; self.groups.groups.len()];
        self.branch_keep = None;
        self.pending = vec![None; env::NUM_REGS];
        self.dirty.clear();
        let head = self.heads[k].expect("only reached members are lowered");
        self.b.switch_to_block(head);
        let params: Vec<Value> = self.b.block_params(head).to_vec();
        for (&r, v) in self.carried.clone().iter().zip(params) {
            self.pending[r as usize] = Some(v);
            self.dirty.push(r);
        }
        // Budget check: the block runs only if it can pay for all its instructions.
        let f = self.flags(REGION_ENV);
        let budget = match self.budget_var {
            Some(var) => self.b.use_var(var),
            None => self.b.ins().load(I64, f, self.env, env::ENV_BUDGET_OFFSET),
        };
        let nb = self.b.ins().iadd_imm_s(budget, -(self.block.insn_count as i64));
        let neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, nb, 0);
        let out = self.b.create_block();
        let body = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(neg, out, &[], body, &[]);
        self.b.switch_to_block(out);
        self.spill_regs();
        self.store_pc_const(self.block.pc);
        self.ret_exit(ExitCode::Budget, 0);
        self.b.switch_to_block(body);
        match self.budget_var {
            Some(var) => self.b.def_var(var, nb),
            None => {
                self.b.ins().store(f, nb, self.env, env::ENV_BUDGET_OFFSET);
            }
        }

        // Labels used exactly once (by one BrCond), for the branch shape below.
        let mut label_uses = vec![0u32; block.label_count() as usize];
        for op in &block.ops {
            if let Op::BrCond { label, .. } | Op::Br { label } = op {
                if let Some(n) = label_uses.get_mut(label.0 as usize) {
                    *n += 1;
                }
            }
        }
        for (i, op) in block.ops.iter().enumerate() {
            self.op_idx = i;
            if self.terminated && !matches!(op, Op::Label { .. }) {
                // Unreachable (invalid IR, rejected by the verifier); give it a block anyway.
                let nb = self.b.create_block();
                self.b.switch_to_block(nb);
                self.terminated = false;
            }
            // `brcond L; goto X; L: ...`: the label's only way in is this branch, so the
            // pending registers can stay pending on that edge (restored at the label) instead of
            // being stored before the branch; the fall-through goto stores them itself.
            if let Op::BrCond { cond, label } = op {
                let only_edge = label_uses.get(label.0 as usize) == Some(&1)
                    && matches!(block.ops.get(i + 1), Some(Op::Goto { .. }))
                    && matches!(block.ops.get(i + 2), Some(Op::Label { label: l }) if l == label);
                if only_edge {
                    self.branch_keep = Some((*label, self.pending.clone(), self.dirty.clone()));
                    let c = self.t(*cond);
                    let target = self.label_block(*label);
                    let cont = self.b.create_block();
                    self.b.ins().brif(c, target, &[], cont, &[]);
                    self.b.switch_to_block(cont);
                    continue;
                }
            }
            if let Op::Label { label } = op {
                if let Some((l, pending, dirty)) = self.branch_keep.take() {
                    if l == *label && self.terminated {
                        let blk = self.label_block(*label);
                        self.b.switch_to_block(blk);
                        self.terminated = false;
                        self.pending = pending;
                        self.dirty = dirty;
                        continue;
                    }
                }
            }
            self.lower_op(op);
        }
        if !self.terminated {
            log::error!("jit: block {:#x} falls off its end", block.pc);
            self.flush_regs();
            self.store_pc_const(self.insn_pc);
            self.ret_exit(ExitCode::Reevaluate, 0);
        }
        if let Some(blk) = self.exc_block {
            self.b.switch_to_block(blk);
            self.ret_exit(ExitCode::Exception, 0);
        }
    }

    fn lower_op(&mut self, op: &Op) {
        match op {
            Op::InsnStart { pc, .. } => self.insn_pc = *pc,
            Op::Const { dst, value } => {
                let v = self.iconst(*value);
                self.def(*dst, v);
            }
            Op::GetReg { dst, reg } => {
                let r = reg.0.min(env::NUM_REGS as u16 - 1);
                let v = match self.pending[r as usize] {
                    Some(v) => v,
                    None => {
                        let f = self.flags(REGION_REGS);
                        self.b.ins().load(I64, f, self.env, env::reg_offset(r))
                    }
                };
                self.def(*dst, v);
            }
            Op::SetReg { reg, src } => {
                let r = reg.0.min(env::NUM_REGS as u16 - 1);
                let v = self.t(*src);
                if self.pending[r as usize].replace(v).is_none() {
                    self.dirty.push(r);
                }
            }
            Op::Bin { op, width, dst, a, b } => {
                let (a, b) = (self.t(*a), self.t(*b));
                let v = match width {
                    Width::W64 => self.bin(*op, I64, a, b),
                    Width::W32 => {
                        let a = self.b.ins().ireduce(I32, a);
                        let b2 = self.b.ins().ireduce(I32, b);
                        let r = self.bin(*op, I32, a, b2);
                        self.b.ins().uextend(I64, r)
                    }
                };
                self.def(*dst, v);
            }
            Op::Un { op, width, dst, a } => {
                let a = self.t(*a);
                let v = match width {
                    Width::W64 => self.un(*op, I64, a),
                    Width::W32 => {
                        let a = self.b.ins().ireduce(I32, a);
                        let r = self.un(*op, I32, a);
                        self.b.ins().uextend(I64, r)
                    }
                };
                self.def(*dst, v);
            }
            Op::Cmp { cond, dst, a, b } => {
                let (a, b) = (self.t(*a), self.t(*b));
                let cc = match cond {
                    Cond::Eq => IntCC::Equal,
                    Cond::Ne => IntCC::NotEqual,
                    Cond::Lt => IntCC::SignedLessThan,
                    Cond::Ge => IntCC::SignedGreaterThanOrEqual,
                    Cond::Ltu => IntCC::UnsignedLessThan,
                    Cond::Geu => IntCC::UnsignedGreaterThanOrEqual,
                };
                let c = self.b.ins().icmp(cc, a, b);
                let v = self.b.ins().uextend(I64, c);
                self.def(*dst, v);
            }
            Op::Select { dst, cond, a, b } => {
                let (c, a, b) = (self.t(*cond), self.t(*a), self.t(*b));
                let v = self.b.ins().select(c, a, b);
                self.def(*dst, v);
            }
            Op::Load { dst, addr, mem } => {
                let va = self.t(*addr);
                let group = self.page_group();
                let v = self.load(va, *mem, group);
                self.def(*dst, v);
            }
            Op::Store { addr, src, mem } => {
                let (va, v) = (self.t(*addr), self.t(*src));
                let group = self.page_group();
                let anchored = self.anchored.get(self.op_idx).copied().unwrap_or(false);
                if anchored {
                    // Cranelift's elaboration puts a pure value in the first block that needs it;
                    // first needed in the store's fast path, it is not visible after the join,
                    // and the code after the store that needs it (or what it is computed from)
                    // computes it again. Storing it to `Env::slow_value` here, where the slow
                    // path wants it anyway, defines it before the check.
                    let f = self.flags(REGION_ENV);
                    self.b.ins().store(f, v, self.env, env::ENV_SLOW_VALUE_OFFSET);
                }
                self.store(va, v, *mem, group, anchored);
            }
            Op::Call { helper, dst, args } => {
                // Helpers may read or write any guest register.
                self.flush_regs();
                self.call(helper.0 as usize, *dst, args)
            }
            Op::BrCond { cond, label } => {
                // Register state must agree on every edge into a label: nothing pending.
                self.flush_regs();
                let c = self.t(*cond);
                let target = self.label_block(*label);
                let cont = self.b.create_block();
                self.b.ins().brif(c, target, &[], cont, &[]);
                self.b.switch_to_block(cont);
            }
            Op::Br { label } => {
                self.flush_regs();
                let target = self.label_block(*label);
                self.b.ins().jump(target, &[]);
                self.terminated = true;
            }
            Op::Label { label } => {
                let blk = self.label_block(*label);
                if self.terminated {
                    // Every way out stored or passed on the registers already (and a store here
                    // would follow the terminator).
                    self.forget_regs();
                } else {
                    self.flush_regs();
                    self.b.ins().jump(blk, &[]);
                }
                self.b.switch_to_block(blk);
                self.terminated = false;
            }
            Op::Goto { pc } => {
                let slot = self.goto_idx;
                self.goto_idx += 1;
                let inside = self.edges.get(self.cur).and_then(|e| e.get(slot as usize)).copied().flatten();
                if let Some(head) = inside.and_then(|j| self.heads[j]) {
                    let fr = self.flags(REGION_REGS);
                    let mut args = Vec::with_capacity(self.carried.len());
                    for r in self.carried.clone() {
                        let v = match self.pending[r as usize] {
                            Some(v) => v,
                            // Stored by a flush earlier in this block.
                            None => self.b.ins().load(I64, fr, self.env, env::reg_offset(r)),
                        };
                        args.push(v.into());
                    }
                    self.b.ins().jump(head, &args);
                    // The values went along as arguments; nothing after this jump sees them.
                    self.forget_regs();
                    self.terminated = true;
                    return;
                }
                self.flush_regs();
                if (*pc ^ self.block.pc) & env::PAGE_MASK != 0 {
                    // The target page's mapping may have changed since the lookup hook chained
                    // this exit: follow the chain only while the code TLB maps the page to the
                    // same RAM (see `env::exit_slot_guard`), else look the target up (which may
                    // chain it anew).
                    self.cross_page_goto(*pc, slot);
                    self.terminated = true;
                    return;
                }
                let slots = self.iconst(self.exit_slots as u64);
                let f = self.flags(REGION_SLOTS);
                let p = self.b.ins().load(I64, f, slots, (slot * 8) as i32);
                let unchained = self.b.create_block();
                // A chained block needs no `Env::pc`: it stores its own wherever it may be read.
                self.tail_call_if(p, p, unchained);
                self.b.switch_to_block(unchained);
                self.store_pc_const(*pc);
                self.ret_exit(ExitCode::Goto, slot as u8);
                self.terminated = true;
            }
            Op::GotoPtr { target } => {
                self.flush_regs();
                let t = self.t(*target);
                self.goto_ptr(t);
                self.terminated = true;
            }
            Op::Exit { reason, pc } => {
                self.flush_regs();
                if *reason != ExitReason::Exception {
                    self.store_pc_const(*pc);
                }
                self.ret_exit((*reason).into(), 0);
                self.terminated = true;
            }
        }
    }

    /// A computed jump: follow the slot's chain while its target PC is `t` and the code TLB maps
    /// `t`'s page as when the lookup hook chained it (an inline cache of the last target); else,
    /// for a slot holding another target, try the shared indirect-jump cache; else ask the hook
    /// (which chains an empty slot).
    fn goto_ptr(&mut self, t: Value) {
        let slot = self.ptr_idx;
        self.ptr_idx += 1;
        let slots = self.iconst(self.exit_slots as u64);
        let fs = self.flags(REGION_SLOTS);
        let p = self.b.ins().load(I64, fs, slots, (slot * 8) as i32);
        let check = self.b.create_block();
        let empty = self.b.create_block();
        let miss = self.b.create_block();
        self.b.ins().brif(p, check, &[], empty, &[]);
        self.b.switch_to_block(check);
        let want_pc = self.b.ins().load(I64, fs, slots, (env::exit_slot_pc(self.nslots, slot) * 8) as i32);
        let want_addend = self.b.ins().load(I64, fs, slots, (env::exit_slot_guard(self.nslots, slot) * 8) as i32);
        let pc_ok = self.b.ins().icmp(IntCC::Equal, t, want_pc);
        let mapped = self.code_page_mapped(t, want_addend);
        let ok = self.b.ins().band(pc_ok, mapped);
        self.tail_call_if(ok, p, miss);
        self.b.switch_to_block(empty);
        self.store_lookup_link(slot);
        let call = self.b.create_block();
        self.b.ins().jump(call, &[]);
        self.b.switch_to_block(miss);
        if self.block.may_use_itc() {
            self.itc_probe(t);
        }
        self.b.ins().jump(call, &[]);
        self.b.switch_to_block(call);
        self.store_pc(t);
        self.lookup_and_jump(ExitCode::Lookup, 0);
    }

    /// Does code TLB `code_mmu_idx` map the page of the known address `pc` with addend
    /// `want_addend`? (`code_page_mapped` for an address known only at run time.)
    fn page_mapped(&mut self, code_mmu_idx: u8, pc: u64, want_addend: Value) -> Value {
        let off = env::tlb_entry_offset(code_mmu_idx, pc);
        let ft = self.flags(REGION_TLB);
        let tag = self.b.ins().load(I64, ft, self.env, off + env::TLB_ADDR_CODE_OFFSET);
        let addend = self.b.ins().load(I64, ft, self.env, off + env::TLB_ADDEND_OFFSET);
        let t_ok = self.b.ins().icmp_imm_s(IntCC::Equal, tag, (pc & env::PAGE_MASK) as i64);
        let a_ok = self.b.ins().icmp(IntCC::Equal, addend, want_addend);
        self.b.ins().band(t_ok, a_ok)
    }

    /// Does the block's code TLB map `t`'s page with addend `want_addend` (as when a chain to
    /// it was made)?
    fn code_page_mapped(&mut self, t: Value, want_addend: Value) -> Value {
        let (base, off) = self.tlb_entry(t, self.block.code_mmu_idx);
        let ft = self.flags(REGION_TLB);
        let tag = self.b.ins().load(I64, ft, base, off + env::TLB_ADDR_CODE_OFFSET);
        let addend = self.b.ins().load(I64, ft, base, off + env::TLB_ADDEND_OFFSET);
        let vpage = self.b.ins().band_imm_s(t, env::PAGE_MASK as i64);
        let t_ok = self.b.ins().icmp(IntCC::Equal, tag, vpage);
        let a_ok = self.b.ins().icmp(IntCC::Equal, addend, want_addend);
        self.b.ins().band(t_ok, a_ok)
    }

    /// Look `t` up in the indirect-jump cache (see [`env::ItcEntry`]) and tail-call its code on
    /// a hit; on a miss, fall through to the lookup hook with `Env::lookup_key` set so that the
    /// hook files its answer. Ends in the (new) current block on the miss path.
    fn itc_probe(&mut self, t: Value) {
        let key = self.block.flags;
        let fe = self.flags(REGION_ENV);
        let fs = self.flags(REGION_SLOTS);
        let probe = self.b.create_block();
        let slow = self.b.create_block();
        let itc = self.b.ins().load(I64, fe, self.env, env::ENV_ITC_OFFSET);
        self.b.ins().brif(itc, probe, &[], slow, &[]);
        self.b.switch_to_block(probe);
        // Entries are 32 bytes and indexed by `t >> 1`: mask `t` and scale by 16.
        const _: () = assert!(env::ITC_ENTRY_SIZE == 32);
        let off = self.b.ins().band_imm_s(t, ((env::ITC_SIZE as i64) - 1) << 1);
        let off = self.b.ins().ishl_imm_s(off, 4);
        let e = self.b.ins().iadd(itc, off);
        let epc = self.b.ins().load(I64, fs, e, env::ITC_PC_OFFSET);
        let ekey = self.b.ins().load(I64, fs, e, env::ITC_KEY_OFFSET);
        let eguard = self.b.ins().load(I64, fs, e, env::ITC_GUARD_OFFSET);
        let code = self.b.ins().load(I64, fs, e, env::ITC_CODE_OFFSET);
        let pc_ok = self.b.ins().icmp(IntCC::Equal, epc, t);
        let key_ok = self.b.ins().icmp_imm_s(IntCC::Equal, ekey, key as i64);
        let mapped = self.code_page_mapped(t, eguard);
        let ok = self.b.ins().band(pc_ok, key_ok);
        let ok = self.b.ins().band(ok, mapped);
        self.tail_call_if(ok, code, slow);
        self.b.switch_to_block(slow);
        let k = self.iconst(key);
        self.b.ins().store(fe, k, self.env, env::ENV_LOOKUP_KEY_OFFSET);
    }

    /// Tail-call block code `code` if `cond`, else go on in `otherwise` (the caller switches to
    /// it). Every chained exit leaves this way.
    fn tail_call_if(&mut self, cond: Value, code: Value, otherwise: cranelift_codegen::ir::Block) {
        let call = self.b.create_block();
        self.b.ins().brif(cond, call, &[], otherwise, &[]);
        self.b.switch_to_block(call);
        let env = self.env;
        self.b.ins().return_call_indirect(self.sig_block, code, &[env]);
    }

    fn cross_page_goto(&mut self, pc: u64, slot: u64) {
        let slots = self.iconst(self.exit_slots as u64);
        let fs = self.flags(REGION_SLOTS);
        let p = self.b.ins().load(I64, fs, slots, (slot * 8) as i32);
        let guard = self.b.create_block();
        let empty = self.b.create_block();
        let miss = self.b.create_block();
        self.b.ins().brif(p, guard, &[], empty, &[]);
        self.b.switch_to_block(guard);
        let gi = env::exit_slot_guard(self.nslots, slot as usize) as i32;
        let want = self.b.ins().load(I64, fs, slots, gi * 8);
        let ok = self.page_mapped(self.block.code_mmu_idx, pc, want);
        self.tail_call_if(ok, p, miss);
        self.b.switch_to_block(empty);
        self.store_lookup_link(slot as usize);
        self.b.ins().jump(miss, &[]);
        self.b.switch_to_block(miss);
        self.store_pc_const(pc);
        self.lookup_and_jump(ExitCode::Goto, slot as u8);
    }

    fn bconst(&mut self, ty: Type, v: i64) -> Value {
        self.b.ins().iconst(ty, if ty == I32 { v as i32 as u32 as i64 } else { v })
    }

    fn bin(&mut self, op: BinOp, ty: Type, a: Value, b: Value) -> Value {
        let bits = ty.bits() as i64;
        match op {
            BinOp::Add => self.b.ins().iadd(a, b),
            BinOp::Sub => self.b.ins().isub(a, b),
            BinOp::And => self.b.ins().band(a, b),
            BinOp::Or => self.b.ins().bor(a, b),
            BinOp::Xor => self.b.ins().bxor(a, b),
            BinOp::AndNot => self.b.ins().band_not(a, b),
            BinOp::OrNot => self.b.ins().bor_not(a, b),
            BinOp::XorNot => self.b.ins().bxor_not(a, b),
            // Cranelift shifts and rotates take the amount modulo the type width, like the IR.
            BinOp::Shl => self.b.ins().ishl(a, b),
            BinOp::Shr => self.b.ins().ushr(a, b),
            BinOp::Sar => self.b.ins().sshr(a, b),
            BinOp::Rotl => self.b.ins().rotl(a, b),
            BinOp::Rotr => self.b.ins().rotr(a, b),
            BinOp::Mul => self.b.ins().imul(a, b),
            BinOp::MulHs => self.b.ins().smulhi(a, b),
            BinOp::MulHu => self.b.ins().umulhi(a, b),
            BinOp::MulHsu => {
                // signed(a) * b = a_u * b - 2^n * b * [a < 0]
                let hu = self.b.ins().umulhi(a, b);
                let sign = self.b.ins().sshr_imm_s(a, bits - 1);
                let corr = self.b.ins().band(sign, b);
                self.b.ins().isub(hu, corr)
            }
            BinOp::Div | BinOp::Rem => {
                // Guard the host trap cases: /0 and MIN/-1 get the IR results.
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let bad = self.b.ins().bor(zero, m1);
                let one = self.bconst(ty, 1);
                let d = self.b.ins().select(bad, one, b);
                if op == BinOp::Div {
                    let q = self.b.ins().sdiv(a, d);
                    let na = self.b.ins().ineg(a);
                    let q = self.b.ins().select(m1, na, q);
                    let all = self.bconst(ty, -1);
                    self.b.ins().select(zero, all, q)
                } else {
                    let r = self.b.ins().srem(a, d);
                    let z = self.bconst(ty, 0);
                    let r = self.b.ins().select(m1, z, r);
                    self.b.ins().select(zero, a, r)
                }
            }
            BinOp::DivU | BinOp::RemU => {
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let one = self.bconst(ty, 1);
                let d = self.b.ins().select(zero, one, b);
                if op == BinOp::DivU {
                    let q = self.b.ins().udiv(a, d);
                    let all = self.bconst(ty, -1);
                    self.b.ins().select(zero, all, q)
                } else {
                    let r = self.b.ins().urem(a, d);
                    self.b.ins().select(zero, a, r)
                }
            }
            BinOp::Min => self.b.ins().smin(a, b),
            BinOp::MinU => self.b.ins().umin(a, b),
            BinOp::Max => self.b.ins().smax(a, b),
            BinOp::MaxU => self.b.ins().umax(a, b),
        }
    }

    fn un(&mut self, op: UnOp, ty: Type, a: Value) -> Value {
        let ext = |s: &mut Self, narrow: Type, signed: bool| {
            if narrow.bits() >= ty.bits() {
                return a;
            }
            let n = s.b.ins().ireduce(narrow, a);
            if signed {
                s.b.ins().sextend(ty, n)
            } else {
                s.b.ins().uextend(ty, n)
            }
        };
        match op {
            UnOp::Not => self.b.ins().bnot(a),
            UnOp::Neg => self.b.ins().ineg(a),
            UnOp::Sext8 => ext(self, I8, true),
            UnOp::Sext16 => ext(self, I16, true),
            UnOp::Sext32 => ext(self, I32, true),
            UnOp::Zext8 => ext(self, I8, false),
            UnOp::Zext16 => ext(self, I16, false),
            UnOp::Zext32 => ext(self, I32, false),
            UnOp::Clz => self.b.ins().clz(a),
            UnOp::Ctz => self.b.ins().ctz(a),
            UnOp::Popcnt => self.b.ins().popcnt(a),
            UnOp::Bswap => self.b.ins().bswap(a),
        }
    }

    /// Address of the TLB entry for `va` in TLB `mmu_idx` (as env-relative base + constant offset).
    fn tlb_entry(&mut self, va: Value, mmu_idx: u8) -> (Value, i32) {
        // Entries are 32 bytes: shift the page number straight to a byte offset and mask (two
        // ALU ops instead of shift, mask, scale).
        const _: () = assert!(env::TLB_ENTRY_SIZE == 1 << 5 && env::PAGE_BITS >= 5);
        let off = self.b.ins().ushr_imm_s(va, (env::PAGE_BITS - 5) as i64);
        let off = self.b.ins().band_imm_s(off, ((env::TLB_SIZE as i64) - 1) << 5);
        let base = self.b.ins().iadd(self.env, off);
        let mmu = (mmu_idx as usize).min(env::NUM_MMU_IDX - 1) as i32;
        (base, env::ENV_TLB_OFFSET + mmu * env::TLB_SIZE as i32 * env::TLB_ENTRY_SIZE)
    }

    /// Fast-path test: returns (host address block, slow block, host address) with the current
    /// block ending in the TLB compare.
    fn tlb_check(
        &mut self,
        va: Value,
        m: MemOp,
        write: bool,
        cold: bool,
    ) -> (cranelift_codegen::ir::Block, cranelift_codegen::ir::Block, Value) {
        let (base, off) = self.tlb_entry(va, m.mmu_idx);
        let f = self.flags(REGION_TLB);
        let field = if write { env::TLB_ADDR_WRITE_OFFSET } else { env::TLB_ADDR_READ_OFFSET };
        let cmp = self.b.ins().load(I64, f, base, off + field);
        let (offset, mask) = env::tlb_probe_parts(m.size.bytes(), m.align);
        let last = if offset == 0 { va } else { self.b.ins().iadd_imm_s(va, offset as i64) };
        let masked = self.b.ins().band_imm_s(last, mask as i64);
        let hit = self.b.ins().icmp(IntCC::Equal, masked, cmp);
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        self.b.set_cold_block(slow);
        if cold {
            self.b.set_cold_block(fast);
        }
        self.b.ins().brif(hit, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let addend = self.b.ins().load(I64, f, base, off + env::TLB_ADDEND_OFFSET);
        let host = self.b.ins().iadd(va, addend);
        (fast, slow, host)
    }

    /// The check of the page group the current access belongs to, emitted at its first access.
    fn page_group(&mut self) -> Option<Value> {
        let gid = self.groups.member.get(self.op_idx).copied().flatten()? as usize;
        if self.group_checks[gid].is_none() && self.groups.groups[gid].leader == self.op_idx {
            let g = self.groups.groups[gid].clone();
            self.group_checks[gid] = Some(self.group_check(&g));
        }
        self.group_checks[gid]
    }

    /// One TLB check for every access of group `g`: their lowest byte's page is mapped with the
    /// permissions they need, that byte is aligned to the largest access (so all are aligned),
    /// and so is the highest byte's page, at the same addend (at most two pages: see
    /// `page_group::MAX_SPAN`). Returns that addend if so, else 1: one value live across the
    /// group, as the code it serves is register-hungry. RAM pages' addends are multiples of the
    /// page size; an odd one would only send the accesses through their own checks.
    fn group_check(&mut self, g: &crate::page_group::PageGroup) -> Value {
        let base = match g.base {
            Some(t) => self.t(t),
            None => self.iconst(0),
        };
        let low = self.b.ins().iadd_imm_s(base, g.low as i64);
        let (entry, off) = self.tlb_entry(low, g.mmu_idx);
        let f = self.flags(REGION_TLB);
        // The group's own rule: its lowest byte aligned to its largest access.
        let (_, mask) = env::tlb_probe_parts(g.align, true);
        let masked = self.b.ins().band_imm_s(low, mask as i64);
        let mut hit = self.tags_match(entry, off, masked, g);
        let addend = self.b.ins().load(I64, f, entry, off + env::TLB_ADDEND_OFFSET);
        if g.span > g.align {
            // The bytes may run onto the next page (an aligned access alone never does): that
            // page too must hit, and continue the first in host memory (guest RAM does; a
            // virtual mapping often does).
            let high = self.b.ins().iadd_imm_s(low, (g.span - 1) as i64);
            let (entry2, off2) = self.tlb_entry(high, g.mmu_idx);
            let page = self.b.ins().band_imm_s(high, env::PAGE_MASK as i64);
            let hit2 = self.tags_match(entry2, off2, page, g);
            let addend2 = self.b.ins().load(I64, f, entry2, off2 + env::TLB_ADDEND_OFFSET);
            let same = self.b.ins().icmp(IntCC::Equal, addend, addend2);
            let both = self.b.ins().band(hit2, same);
            hit = self.b.ins().band(hit, both);
        }
        let one = self.iconst(1);
        self.b.ins().select(hit, addend, one)
    }

    /// Does the TLB entry at `entry + off` hold `tag` for every permission group `g` needs?
    fn tags_match(&mut self, entry: Value, off: i32, tag: Value, g: &crate::page_group::PageGroup) -> Value {
        let f = self.flags(REGION_TLB);
        let mut hit: Option<Value> = None;
        for (wanted, field) in [(g.read, env::TLB_ADDR_READ_OFFSET), (g.write, env::TLB_ADDR_WRITE_OFFSET)] {
            if wanted {
                let cmp = self.b.ins().load(I64, f, entry, off + field);
                let h = self.b.ins().icmp(IntCC::Equal, tag, cmp);
                hit = Some(match hit {
                    Some(prev) => self.b.ins().band(prev, h),
                    None => h,
                });
            }
        }
        // A group has at least one access, so one of the two is wanted.
        hit.unwrap_or_else(|| self.b.ins().iconst(I8, 1))
    }

    /// For an access of a page group: when the group check hit, `emit(host address)` in a block
    /// of its own; the current block then continues (cold) with the access's own check. Returns
    /// whether it did (the caller then keeps all of that check cold).
    fn group_fast_path(&mut self, va: Value, group: Option<Value>, emit: impl FnOnce(&mut Self, Value)) -> bool {
        let Some(addend) = group else { return false };
        self.grouped += 1;
        let fast = self.b.create_block();
        let own_check = self.b.create_block();
        self.b.set_cold_block(own_check);
        // `test addend, 1` names the value once (`test v, v` made the register allocator reload
        // a spilled addend twice).
        let miss = self.b.ins().band_imm_s(addend, 1);
        self.b.ins().brif(miss, own_check, &[], fast, &[]);
        self.b.switch_to_block(fast);
        let host = self.b.ins().iadd(va, addend);
        emit(self, host);
        self.b.switch_to_block(own_check);
        true
    }

    fn host_load(&mut self, host: Value, m: MemOp) -> Value {
        let g = self.guest_flags();
        let ins = self.b.ins();
        match (m.size, m.signed) {
            (MemSize::B1, false) => ins.uload8(I64, g, host, 0),
            (MemSize::B1, true) => ins.sload8(I64, g, host, 0),
            (MemSize::B2, false) => ins.uload16(I64, g, host, 0),
            (MemSize::B2, true) => ins.sload16(I64, g, host, 0),
            (MemSize::B4, false) => ins.uload32(g, host, 0),
            (MemSize::B4, true) => ins.sload32(g, host, 0),
            (MemSize::B8, _) => ins.load(I64, g, host, 0),
        }
    }

    fn host_store(&mut self, host: Value, v: Value, m: MemOp) {
        let g = self.guest_flags();
        let ins = self.b.ins();
        match m.size {
            MemSize::B1 => ins.istore8(g, v, host, 0),
            MemSize::B2 => ins.istore16(g, v, host, 0),
            MemSize::B4 => ins.istore32(g, v, host, 0),
            MemSize::B8 => ins.store(g, v, host, 0),
        };
    }

    fn load(&mut self, va: Value, m: MemOp, group: Option<Value>) -> Value {
        let join = self.b.create_block();
        let res = self.b.append_block_param(join, I64);
        let grouped = self.group_fast_path(va, group, |s, host| {
            let v = s.host_load(host, m);
            s.b.ins().jump(join, &[v.into()]);
        });
        let (_fast, slow, host) = self.tlb_check(va, m, m.rmw, grouped);
        let v = self.host_load(host, m);
        self.b.ins().jump(join, &[v.into()]);

        self.b.switch_to_block(slow);
        self.spill_regs();
        self.store_pc_const(self.insn_pc);
        let func = self.iconst(self.stubs.0);
        let memop = self.iconst(env::encode_memop(m));
        let env = self.env;
        let f = self.flags(REGION_ENV);
        self.b.ins().store(f, va, env, env::ENV_SLOW_VA_OFFSET);
        self.b.ins().store(f, memop, env, env::ENV_SLOW_MEMOP_OFFSET);
        self.b.ins().call_indirect(self.sig_load, func, &[env]);
        let r = self.b.ins().load(I64, f, env, env::ENV_SLOW_VALUE_OFFSET);
        self.reload_budget();
        self.check_exception();
        self.b.ins().jump(join, &[r.into()]);

        self.b.switch_to_block(join);
        res
    }

    /// `value_stored`: `Env::slow_value` already holds `v`.
    fn store(&mut self, va: Value, v: Value, m: MemOp, group: Option<Value>, value_stored: bool) {
        let join = self.b.create_block();
        let grouped = self.group_fast_path(va, group, |s, host| {
            s.host_store(host, v, m);
            s.b.ins().jump(join, &[]);
        });
        let (_fast, slow, host) = self.tlb_check(va, m, true, grouped);
        self.host_store(host, v, m);
        self.b.ins().jump(join, &[]);

        self.b.switch_to_block(slow);
        self.spill_regs();
        self.store_pc_const(self.insn_pc);
        let func = self.iconst(self.stubs.1);
        let memop = self.iconst(env::encode_memop(m));
        let env = self.env;
        let f = self.flags(REGION_ENV);
        self.b.ins().store(f, va, env, env::ENV_SLOW_VA_OFFSET);
        if !value_stored {
            self.b.ins().store(f, v, env, env::ENV_SLOW_VALUE_OFFSET);
        }
        self.b.ins().store(f, memop, env, env::ENV_SLOW_MEMOP_OFFSET);
        self.b.ins().call_indirect(self.sig_store, func, &[env]);
        self.reload_budget();
        self.check_exception();
        self.b.ins().jump(join, &[]);

        self.b.switch_to_block(join);
    }

    fn call(&mut self, helper: usize, dst: Option<Temp>, args: &[Temp]) {
        let Some(info) = self.helpers.get(helper).copied() else {
            // Unreachable for verified blocks.
            let z = self.iconst(0);
            if let Some(d) = dst {
                self.def(d, z);
            }
            return;
        };
        if info.may_raise {
            self.store_pc_const(self.insn_pc);
        }
        let mut vals = vec![self.env];
        for i in 0..MAX_HELPER_ARGS {
            let v = match args.get(i) {
                Some(t) => self.t(*t),
                None => self.iconst(0),
            };
            vals.push(v);
        }
        let fptr = self.iconst(info.func as usize as u64);
        let call = self.b.ins().call_indirect(self.sig_helper, fptr, &vals);
        let r = self.b.inst_results(call)[0];
        self.reload_budget();
        if info.may_raise {
            self.check_exception();
        }
        if let Some(d) = dst {
            self.def(d, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinOp, Builder, MemOp, MemSize, Reg, Width};

    fn store_of_sum(used_after: bool, held: bool) -> Block {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let x = b.get_reg(Reg(1));
        let y = b.get_reg(Reg(2));
        let s = b.bin(BinOp::Add, Width::W64, x, y);
        let v = b.bin(BinOp::Shl, Width::W64, s, y);
        if held {
            b.set_reg(Reg(3), s);
        }
        let a = b.konst(0x8000);
        b.store(a, v, MemOp { size: MemSize::B8, signed: false, mmu_idx: 0, align: false, rmw: false });
        if used_after {
            let w = b.bin(BinOp::Sub, Width::W64, s, x);
            b.set_reg(Reg(4), w);
        }
        b.goto(0x1004);
        b.finish()
    }

    fn anchored(b: &Block, carried: bool) -> bool {
        let store = b.ops.iter().position(|o| matches!(o, Op::Store { .. })).unwrap();
        shared_store_values(b, carried)[store]
    }

    #[test]
    fn a_store_is_anchored_when_what_it_stores_is_needed_again() {
        assert!(!anchored(&store_of_sum(false, false), true), "used once");
        assert!(anchored(&store_of_sum(true, false), false), "a value it is made from is used later");
        assert!(!anchored(&store_of_sum(false, true), false), "held for a register, no jumps inside");
        assert!(anchored(&store_of_sum(false, true), true), "held for a register carried along jumps");
    }
}
