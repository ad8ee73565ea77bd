//! The run loop's view of the translator's two tiers: the IR interpreter and the JIT.
//!
//! TEMPORARY: until `mimic_translator::jit` is implemented, `Jit` here is a stand-in with the same
//! API whose "code" is a boxed block the interpreter runs, following exit slots and the lookup hook
//! exactly as chained machine code would. That keeps the run loop's tiering, chaining and cache
//! recycling exercised; swapping in the real JIT is a change of this file only.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Instant;

use mimic_translator::env::{unpack_exit, Env, ExitCode};
use mimic_translator::helpers::HelperTable;
use mimic_translator::ir::Block;

pub use mimic_translator::interp::{goto_count, interpret};

#[derive(Clone, Copy, Debug)]
pub struct JitConfig {
    pub max_code_bytes: usize,
    pub opt_level: u8,
}

#[derive(Clone, Copy, Debug)]
pub struct Compiled {
    pub code: *const u8,
    pub size: usize,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct JitStats {
    pub compile_ns: u64,
    pub compiled: u64,
    pub flushes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("code cache full")]
    Full,
}

struct StubCode {
    block: Block,
    id: u64,
    slots: *const AtomicPtr<u8>,
    nslots: usize,
}

pub struct Jit {
    helpers: HelperTable,
    max: usize,
    used: usize,
    code: Vec<Box<StubCode>>,
    stats: JitStats,
}

impl Jit {
    pub fn new(helpers: HelperTable, config: JitConfig) -> Result<Self, JitError> {
        Ok(Self { helpers, max: config.max_code_bytes, used: 0, code: Vec::new(), stats: JitStats::default() })
    }

    pub fn compile(
        &mut self,
        block: &Block,
        block_id: u64,
        exit_slots: *const AtomicPtr<u8>,
    ) -> Result<Compiled, JitError> {
        let t0 = Instant::now();
        let size = 64 + 16 * block.ops.len();
        if self.used + size > self.max {
            self.used = self.max;
            return Err(JitError::Full);
        }
        self.used += size;
        let nslots = mimic_translator::interp::goto_count(block);
        let c = Box::new(StubCode { block: block.clone(), id: block_id, slots: exit_slots, nslots });
        let code = &*c as *const StubCode as *const u8;
        self.code.push(c);
        self.stats.compiled += 1;
        self.stats.compile_ns += t0.elapsed().as_nanos() as u64;
        Ok(Compiled { code, size: std::mem::size_of::<StubCode>() })
    }

    /// # Safety
    /// `code` must come from `compile` since the last flush; `env` must be valid with its runtime set.
    pub unsafe fn enter(&self, code: *const u8, env: *mut Env) -> u64 {
        let mut code = code as *const StubCode;
        loop {
            // SAFETY: stub code pointers are live boxes until flush_all (caller's contract).
            let c = unsafe { &*code };
            // SAFETY: as above; blocks handed to compile are verified by the caller.
            let ret = unsafe { interpret(&c.block, c.id, env, self.helpers) };
            let (exit, _, slot) = unpack_exit(ret);
            let next = match exit {
                ExitCode::Goto if (slot as usize) < c.nslots => {
                    // SAFETY: the slot array outlives the code (owned by the TB cache).
                    unsafe { (*c.slots.add(slot as usize)).load(Ordering::Acquire) as *const u8 }
                }
                // SAFETY: env's runtime is valid (caller's contract).
                ExitCode::Lookup => unsafe { ((*(*env).runtime).lookup)(env) },
                _ => std::ptr::null(),
            };
            if next.is_null() {
                return ret;
            }
            code = next as *const StubCode;
        }
    }

    pub fn is_full(&self) -> bool {
        self.used >= self.max
    }

    /// # Safety
    /// No code may be running and no pointer to old code may be used afterwards.
    pub unsafe fn flush_all(&mut self) {
        self.code.clear();
        self.used = 0;
        self.stats.flushes += 1;
    }

    pub fn stats(&self) -> JitStats {
        self.stats
    }
}
