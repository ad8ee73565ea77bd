//! Shared fixtures for the translator integration tests: a fake runtime (slow-path memory that
//! logs accesses and faults on one page, a settable lookup result), test helpers, a guest page
//! mapped through the TLB onto a host buffer, and a runner for interpreter and JIT.
#![allow(dead_code)]

use mimic_translator::env::{self, Env, Runtime, TlbEntry, PAGE_MASK};
use mimic_translator::helpers::HelperInfo;
use mimic_translator::interp;
use mimic_translator::ir::Block;
use mimic_translator::jit::Jit;
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

pub static HELPERS: &[HelperInfo] = &[
    HelperInfo { name: "add3", func: h_add3, nargs: 3, may_raise: false },
    HelperInfo { name: "raise_if", func: h_raise_if, nargs: 1, may_raise: true },
    HelperInfo { name: "count", func: h_count, nargs: 0, may_raise: false },
    HelperInfo { name: "clobber", func: h_clobber, nargs: 4, may_raise: false },
];
pub const H_ADD3: u16 = 0;
pub const H_RAISE_IF: u16 = 1;
pub const H_COUNT: u16 = 2;
pub const H_CLOBBER: u16 = 3;

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

pub fn run_jit(jit: &mut Jit, block: &Block, seed: u64, budget: i64) -> Outcome {
    let s = slots(block);
    let c = jit.compile(block, 7, s.as_ptr()).expect("compile");
    let mut w = World::new(seed);
    w.env.budget = budget;
    SLOW_LOG.with(|l| l.borrow_mut().clear());
    // SAFETY: code from this generation; env valid as above.
    let exit = unsafe { jit.enter(c.code, &mut *w.env) };
    outcome(&w, exit)
}
