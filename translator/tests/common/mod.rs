//! Shared fixtures for the translator integration tests: a fake runtime (slow-path memory that
//! logs accesses and faults on one page, a settable lookup result), test helpers, a guest page
//! mapped through the TLB onto a host buffer, a runner for the interpreter, and one [`Backend`]
//! interface over the Cranelift and baseline tiers so a contract test is written once for both.
#![allow(dead_code)]

use mimic_translator::baseline::Baseline;
use mimic_translator::env::{self, Env, Runtime, TlbEntry, PAGE_MASK};
use mimic_translator::helpers::HelperInfo;
use mimic_translator::interp;
use mimic_translator::ir::*;
use mimic_translator::jit::{Compiled, Jit, JitConfig, JitStats};
use mimic_translator::verify::verify;
use std::cell::RefCell;
use std::sync::atomic::AtomicPtr;

/// Guest page mapped through the TLB (every mmu_idx) onto `World::ram`.
pub const RAM_VA: u64 = 0x8000_0000;
pub const RAM_SIZE: usize = 2 * 4096;
/// Accesses to this page fault in the slow path.
pub const FAULT_VA: u64 = 0xdead_0000;
/// Register slot the `count` helper increments.
pub const COUNT_REG: usize = 95;

thread_local! {
    /// (is_store, vaddr, value, memop) of every slow-path access, in order.
    pub static SLOW_LOG: RefCell<Vec<(bool, u64, u64, u64)>> = const { RefCell::new(Vec::new()) };
    pub static LOOKUP: RefCell<usize> = const { RefCell::new(0) };
}

/// Deterministic contents of memory outside RAM, as the slow path sees it.
pub fn slow_value(vaddr: u64, memop: u64) -> u64 {
    let m = env::decode_memop(memop);
    let raw = vaddr.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
    let bits = m.size.bytes() * 8;
    if bits == 64 {
        return raw;
    }
    let v = raw & ((1u64 << bits) - 1);
    if m.signed {
        ((v << (64 - bits)) as i64 >> (64 - bits)) as u64
    } else {
        v
    }
}

unsafe extern "C" fn load_slow(env: *mut Env, vaddr: u64, memop: u64) -> u64 {
    SLOW_LOG.with(|l| l.borrow_mut().push((false, vaddr, 0, memop)));
    if vaddr & PAGE_MASK == FAULT_VA {
        // SAFETY: env is the live Env the test passed in.
        unsafe { (*env).exception_pending = 1 };
        return 0xbad;
    }
    slow_value(vaddr, memop)
}

unsafe extern "C" fn store_slow(env: *mut Env, vaddr: u64, value: u64, memop: u64) {
    SLOW_LOG.with(|l| l.borrow_mut().push((true, vaddr, value, memop)));
    if vaddr & PAGE_MASK == FAULT_VA {
        // SAFETY: as above.
        unsafe { (*env).exception_pending = 1 };
    }
}

unsafe extern "C" fn lookup(_env: *mut Env) -> *const u8 {
    LOOKUP.with(|l| *l.borrow()) as *const u8
}

pub static RUNTIME: Runtime = Runtime { load_slow, store_slow, lookup };

unsafe extern "C" fn h_add3(_: *mut Env, a: u64, b: u64, c: u64, _: u64) -> u64 {
    a.wrapping_add(b.wrapping_mul(3)).wrapping_add(c.rotate_left(7))
}
unsafe extern "C" fn h_raise_if(env: *mut Env, a: u64, _: u64, _: u64, _: u64) -> u64 {
    if a & 1 != 0 {
        // SAFETY: env is live.
        unsafe { (*env).exception_pending = 1 };
    }
    a ^ 0x1234
}
unsafe extern "C" fn h_count(env: *mut Env, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: env is live.
    unsafe {
        (*env).regs[COUNT_REG] += 1;
        (*env).regs[COUNT_REG]
    }
}
/// Clobbers a register, so code must reload registers after a call.
unsafe extern "C" fn h_clobber(env: *mut Env, a: u64, b: u64, c: u64, d: u64) -> u64 {
    // SAFETY: env is live.
    unsafe {
        (*env).regs[1] = (*env).regs[1].wrapping_add(a ^ b ^ c ^ d ^ 0x77);
    }
    0
}

/// `rsp mod 16` at entry, as the helper call left it: 8 when the caller had the stack aligned
/// for the call as the SystemV ABI requires (the return address is the 8). Naked, so no
/// prologue of the compiler's changes rsp before it is read.
#[unsafe(naked)]
unsafe extern "C" fn h_stack_phase(_: *mut Env, _: u64, _: u64, _: u64, _: u64) -> u64 {
    std::arch::naked_asm!("mov rax, rsp", "and rax, 15", "ret")
}

pub static HELPERS: &[HelperInfo] = &[
    HelperInfo { name: "add3", func: h_add3, nargs: 3, may_raise: false },
    HelperInfo { name: "raise_if", func: h_raise_if, nargs: 1, may_raise: true },
    HelperInfo { name: "count", func: h_count, nargs: 0, may_raise: false },
    HelperInfo { name: "clobber", func: h_clobber, nargs: 4, may_raise: false },
    HelperInfo { name: "stack_phase", func: h_stack_phase, nargs: 0, may_raise: false },
];
pub const H_ADD3: u16 = 0;
pub const H_RAISE_IF: u16 = 1;
pub const H_COUNT: u16 = 2;
pub const H_CLOBBER: u16 = 3;
pub const H_STACK_PHASE: u16 = 4;

/// An Env plus the host memory its TLB points at.
pub struct World {
    pub env: Box<Env>,
    pub ram: Vec<u8>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut env = Box::new(Env::new());
        let mut ram = vec![0u8; RAM_SIZE];
        let mut x = seed | 1;
        for b in ram.iter_mut() {
            x = lcg(x);
            *b = (x >> 33) as u8;
        }
        for (i, r) in env.regs.iter_mut().enumerate() {
            x = lcg(x);
            *r = if i % 5 == 0 { x >> 60 } else { x };
        }
        env.budget = 1000;
        env.runtime = &RUNTIME;
        let base = ram.as_mut_ptr() as u64;
        for page in 0..(RAM_SIZE as u64 / 4096) {
            let va = RAM_VA + page * 4096;
            let e = TlbEntry {
                addr_read: va,
                addr_write: va,
                addr_code: va,
                addend: (base + page * 4096).wrapping_sub(va),
            };
            for t in env.tlb.iter_mut() {
                t[env::tlb_index(va)] = e;
            }
        }
        Self { env, ram }
    }
}

pub fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407)
}

/// Deterministic random numbers from `seed`: each call gives one below its argument.
pub fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x = lcg(x);
        (x >> 33) % n
    }
}

/// Everything observable after running a block.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub exit: u64,
    pub regs: Vec<u64>,
    pub pc: u64,
    pub budget: i64,
    pub exception: u32,
    pub ram: Vec<u8>,
    pub slow_log: Vec<(bool, u64, u64, u64)>,
}

fn outcome(w: &World, exit: u64) -> Outcome {
    Outcome {
        exit,
        regs: w.env.regs.to_vec(),
        pc: w.env.pc,
        budget: w.env.budget,
        exception: w.env.exception_pending,
        ram: w.ram.clone(),
        slow_log: SLOW_LOG.with(|l| std::mem::take(&mut *l.borrow_mut())),
    }
}

/// Runs `block` in the interpreter and as `code` (compiled from it by `backend`), each from a
/// fresh [`World::new(seed)`] changed by `tweak`; everything observable must match. `code` must
/// have been compiled with block id 7, the id the interpreter is given.
pub fn check_tweaked<B: Backend>(backend: &B, code: *const u8, block: &Block, seed: u64, tweak: &dyn Fn(&mut World)) {
    let mut got = Vec::new();
    for compiled in [false, true] {
        let mut w = World::new(seed);
        tweak(&mut w);
        SLOW_LOG.with(|l| l.borrow_mut().clear());
        // SAFETY: `code` is from the backend's current generation; env valid as above.
        let exit = unsafe {
            if compiled {
                backend.enter(code, &mut *w.env)
            } else {
                interp::interpret(block, 7, &mut *w.env, HELPERS)
            }
        };
        got.push(outcome(&w, exit));
    }
    assert_eq!(got[0], got[1], "interp vs {} differ for\n{}", B::NAME, mimic_translator::print::print_block(block, HELPERS));
}

/// A block of loads and stores at `base + offset` (`base` a run-time value: the compilers cannot
/// see it is `base_va`), one guest instruction each: the accesses through one base register a
/// page group covers.
pub fn based_block(base_va: u64, accesses: &[(i64, MemSize, bool)]) -> Block {
    let mut b = Builder::new(0x2000);
    b.insn_start(0x2000, 4);
    let r = b.get_reg(Reg(3));
    let zero = b.konst(0);
    let z = b.bin(BinOp::And, Width::W64, r, zero);
    let k = b.konst(base_va);
    let base = b.bin(BinOp::Add, Width::W64, z, k);
    for (i, &(off, size, store)) in accesses.iter().enumerate() {
        b.insn_start(0x2004 + 4 * i as u64, 4);
        let c = b.konst(off as u64);
        let a = b.bin(BinOp::Add, Width::W64, base, c);
        let m = MemOp::new(size, i % 2 == 0, 1);
        if store {
            let v = b.get_reg(Reg(5 + (i % 3) as u16));
            b.store(a, v, m);
        } else {
            let v = b.load(a, m);
            b.set_reg(Reg(10 + i as u16), v);
        }
    }
    b.goto(0x3000);
    b.finish()
}

pub fn run_interp(block: &Block, seed: u64, budget: i64) -> Outcome {
    let mut w = World::new(seed);
    w.env.budget = budget;
    SLOW_LOG.with(|l| l.borrow_mut().clear());
    // SAFETY: w.env is valid with a runtime; the TLB points into w.ram.
    let exit = unsafe { interp::interpret(block, 7, &mut *w.env, HELPERS) };
    outcome(&w, exit)
}

/// Slots for a block: all unchained.
pub fn slots(block: &Block) -> Vec<AtomicPtr<u8>> {
    (0..mimic_translator::env::exit_cells(interp::exit_slot_count(block)).max(1))
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect()
}

/// What the contract tests need of a block compiler: both tiers compile a block against
/// caller-owned exit cells into a `fn(env) -> packed exit` entered through a trampoline, and
/// drop their code in generations, so one test body serves both.
pub trait Backend: Sized {
    /// Names the backend in failure messages.
    const NAME: &'static str;
    /// How many random blocks `random_blocks_match` compiles: Cranelift is the slower compiler.
    const RANDOM_BLOCKS: u64;
    /// The backend as the tests use it by default.
    fn for_tests() -> Self;
    /// A backend whose generation holds `max_code_bytes` of code, to make flushes happen.
    fn with_code_bytes(max_code_bytes: usize) -> Self;
    fn compile(&mut self, block: &Block, block_id: u64, exit_slots: *const AtomicPtr<u8>) -> Result<Compiled, String>;
    /// # Safety
    /// As the backend's own `enter`: `code` is from its current generation and `env` is valid.
    unsafe fn enter(&self, code: *const u8, env: *mut Env) -> u64;
    /// # Safety
    /// As the backend's own `flush_all`: nothing runs and old code pointers are forgotten.
    unsafe fn flush_all(&mut self);
    fn is_full(&self) -> bool;
    fn stats(&self) -> JitStats;
    fn code_bytes(&self, c: &Compiled) -> &[u8];
}

/// The trait methods that each backend has itself under the same name (only the error types
/// differ). They call the inherent ones by path: an inherent method wins over a trait method of
/// the same name, so these do not recurse.
macro_rules! same_named_methods {
    ($t:ident) => {
        fn compile(
            &mut self,
            block: &Block,
            block_id: u64,
            exit_slots: *const AtomicPtr<u8>,
        ) -> Result<Compiled, String> {
            $t::compile(self, block, block_id, exit_slots).map_err(|e| e.to_string())
        }
        unsafe fn enter(&self, code: *const u8, env: *mut Env) -> u64 {
            // SAFETY: the caller upholds the backend's own `enter` contract.
            unsafe { $t::enter(self, code, env) }
        }
        unsafe fn flush_all(&mut self) {
            // SAFETY: the caller upholds the backend's own `flush_all` contract.
            unsafe { $t::flush_all(self).expect("flush") }
        }
        fn is_full(&self) -> bool {
            $t::is_full(self)
        }
        fn stats(&self) -> JitStats {
            $t::stats(self)
        }
        fn code_bytes(&self, c: &Compiled) -> &[u8] {
            $t::code_bytes(self, c)
        }
    };
}

impl Backend for Jit {
    const NAME: &'static str = "jit";
    const RANDOM_BLOCKS: u64 = 400;
    fn for_tests() -> Self {
        Jit::new(HELPERS, JitConfig::default()).expect("jit")
    }
    fn with_code_bytes(max_code_bytes: usize) -> Self {
        Jit::new(HELPERS, JitConfig { max_code_bytes, ..Default::default() }).expect("jit")
    }
    same_named_methods!(Jit);
}

impl Backend for Baseline {
    const NAME: &'static str = "baseline";
    const RANDOM_BLOCKS: u64 = 1000;
    fn for_tests() -> Self {
        Self::with_code_bytes(32 << 20)
    }
    fn with_code_bytes(max_code_bytes: usize) -> Self {
        Baseline::new(HELPERS, max_code_bytes).expect("baseline")
    }
    same_named_methods!(Baseline);
}

pub fn run<B: Backend>(backend: &mut B, block: &Block, seed: u64, budget: i64) -> Outcome {
    let s = slots(block);
    let c = backend.compile(block, 7, s.as_ptr()).expect("compile");
    let mut w = World::new(seed);
    w.env.budget = budget;
    SLOW_LOG.with(|l| l.borrow_mut().clear());
    // SAFETY: code from this generation; env valid as above.
    let exit = unsafe { backend.enter(c.code, &mut *w.env) };
    outcome(&w, exit)
}

/// Runs `block` in the interpreter and on `backend` from the same state; everything observable
/// must match.
pub fn check<B: Backend>(backend: &mut B, block: &Block, seed: u64, budget: i64) {
    verify(block, HELPERS).expect("test block must verify");
    let want = run_interp(block, seed, budget);
    let got = run(backend, block, seed, budget);
    assert_eq!(want, got, "interp vs {} differ for\n{}", B::NAME, mimic_translator::print::print_block(block, HELPERS));
}

pub const BINS: [BinOp; 25] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::And,
    BinOp::Or,
    BinOp::Xor,
    BinOp::AndNot,
    BinOp::OrNot,
    BinOp::XorNot,
    BinOp::Shl,
    BinOp::Shr,
    BinOp::Sar,
    BinOp::Rotl,
    BinOp::Rotr,
    BinOp::Mul,
    BinOp::MulHs,
    BinOp::MulHu,
    BinOp::MulHsu,
    BinOp::Div,
    BinOp::DivU,
    BinOp::Rem,
    BinOp::RemU,
    BinOp::Min,
    BinOp::MinU,
    BinOp::Max,
    BinOp::MaxU,
];
pub const UNS: [UnOp; 12] = [
    UnOp::Not,
    UnOp::Neg,
    UnOp::Sext8,
    UnOp::Sext16,
    UnOp::Sext32,
    UnOp::Zext8,
    UnOp::Zext16,
    UnOp::Zext32,
    UnOp::Clz,
    UnOp::Ctz,
    UnOp::Popcnt,
    UnOp::Bswap,
];
pub const CONDS: [Cond; 6] = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Ge, Cond::Ltu, Cond::Geu];
pub const INTERESTING: [u64; 12] =
    [0, 1, 2, u64::MAX, i64::MIN as u64, i64::MAX as u64, 0x8000_0000, 0x7fff_ffff, 0xffff_ffff, 31, 63, 64];

pub fn mem_block(addr: u64, size: MemSize, signed: bool, rmw: bool, store: bool) -> Block {
    let mut b = Builder::new(0x2000);
    b.insn_start(0x2000, 4);
    let x = b.get_reg(Reg(3));
    b.set_reg(Reg(4), x);
    b.insn_start(0x2004, 4);
    let a = b.konst(addr);
    let m = MemOp { size, signed, mmu_idx: 1, align: false, rmw };
    if store {
        let v = b.get_reg(Reg(5));
        b.store(a, v, m);
    } else {
        let v = b.load(a, m);
        b.set_reg(Reg(6), v);
    }
    b.insn_start(0x2008, 4);
    let y = b.get_reg(Reg(6));
    b.set_reg(Reg(7), y);
    b.goto(0x200c);
    b.finish()
}

pub fn counting_block(pc: u64, next: u64, halt: bool) -> Block {
    let mut b = Builder::new(pc);
    b.insn_start(pc, 4);
    b.call_void(HelperId(H_COUNT), &[]);
    if halt {
        b.exit(ExitReason::Halt, next);
    } else {
        b.goto(next);
    }
    b.finish()
}

/// Random straight-line and branching blocks over every op kind.
pub fn random_block(seed: u64) -> Block {
    let mut rnd = rng(seed);
    let pc = 0x8000_1000u64;
    let mut b = Builder::new(pc);
    let mut ipc = pc;
    let segments = 1 + rnd(3);
    let labels: Vec<Label> = (0..segments).map(|_| b.new_label()).collect();
    for seg in 0..segments {
        let mut live: Vec<Temp> = Vec::new();
        for _ in 0..(2 + rnd(6)) {
            b.insn_start(ipc, 4);
            ipc += 4;
            for _ in 0..(1 + rnd(5)) {
                let pick = |live: &Vec<Temp>, r: u64| live[(r % live.len() as u64) as usize];
                let t = match rnd(12) {
                    0 | 1 => b.get_reg(Reg(rnd(12) as u16)),
                    2 => b.konst(INTERESTING[rnd(12) as usize]),
                    _ if live.len() < 2 => b.konst(rnd(1 << 20).wrapping_mul(0x1_0000_0001)),
                    3..=5 => {
                        let op = BINS[rnd(25) as usize];
                        let w = if matches!(op, BinOp::MulHs | BinOp::MulHu | BinOp::MulHsu) || rnd(2) == 0 {
                            Width::W64
                        } else {
                            Width::W32
                        };
                        let (p, q) = (pick(&live, rnd(99)), pick(&live, rnd(99)));
                        b.bin(op, w, p, q)
                    }
                    6 => {
                        let w = if rnd(2) == 0 { Width::W64 } else { Width::W32 };
                        let p = pick(&live, rnd(99));
                        b.un(UNS[rnd(12) as usize], w, p)
                    }
                    7 => {
                        let (p, q) = (pick(&live, rnd(99)), pick(&live, rnd(99)));
                        b.cmp(CONDS[rnd(6) as usize], p, q)
                    }
                    8 => {
                        let (c, p, q) = (pick(&live, rnd(99)), pick(&live, rnd(99)), pick(&live, rnd(99)));
                        b.select(c, p, q)
                    }
                    9 => {
                        let off = b.konst((RAM_VA + rnd(RAM_SIZE as u64 - 8)) & !(rnd(2) * 7));
                        let size = [MemSize::B1, MemSize::B2, MemSize::B4, MemSize::B8][rnd(4) as usize];
                        let m =
                            MemOp { size, signed: rnd(2) == 0, mmu_idx: rnd(4) as u8, align: false, rmw: rnd(4) == 0 };
                        if rnd(2) == 0 {
                            let v = pick(&live, rnd(99));
                            b.store(off, v, m);
                            continue;
                        }
                        b.load(off, m)
                    }
                    10 => {
                        let (p, q) = (pick(&live, rnd(99)), pick(&live, rnd(99)));
                        b.call(HelperId(H_ADD3), &[p, q, p])
                    }
                    _ => {
                        let p = pick(&live, rnd(99));
                        b.set_reg(Reg(rnd(12) as u16), p);
                        continue;
                    }
                };
                live.push(t);
            }
        }
        if let Some(&t) = live.last() {
            b.set_reg(Reg(20 + seg as u16), t);
            if seg + 1 < segments {
                b.br_cond(t, labels[seg as usize + 1]);
            }
        }
        match rnd(3) {
            0 => b.goto(ipc + 0x100 * seg),
            1 if seg + 1 < segments => {}
            _ => b.exit(ExitReason::Reevaluate, ipc),
        }
        if seg + 1 < segments {
            b.label(labels[seg as usize + 1]);
        }
    }
    let last_is_term = b.block().ops.last().is_some_and(Op::is_terminator);
    if !last_is_term {
        b.goto(ipc);
    }
    let mut blk = b.finish();
    // Label 0 is never used; keep labels dense anyway by not caring (verifier allows unused ones).
    blk.ops.retain(|op| !matches!(op, Op::Label { label } if label.0 == 0));
    blk
}
