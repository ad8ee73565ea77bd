//! TCG: translated guest code — the run loop, the translation-block cache, tiering between the
//! IR interpreter and the JIT, block chaining, the softmmu slow paths and self-modifying code.
//!
//! The pieces, by file: [`tb`] holds the block cache, `softmmu` the `extern "C"` hooks generated
//! code calls back into, `backend` the thin adapter over the translator's interpreter and JIT.
//! All state those hooks touch lives in one boxed [`Core`] whose address never changes, reached
//! from `Env::runtime` (a `#[repr(C)]` box whose first field is the `Runtime` table).
//!
//! Several harts (`-smp N`) run on one host thread in turn, as QEMU's single-threaded TCG does:
//! the running one sits in the `Core`, the others wait in [`TcgVcpu`]'s `parked` queue, and all
//! share one block cache and one JIT. A hart gives up the host thread when its budget period
//! ends or it executes `wfi`. Sharing the thread is what makes LR/SC and AMOs atomic across
//! harts: an AMO or SC is one guest instruction and never interleaves with another hart's.

mod backend;
mod compile_thread;
mod lookup;
mod softmmu;
pub mod tb;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mimic_hw::{AddressSpace, PowerControl, PowerEvent};
use mimic_translator::env::{unpack_exit, Env, ExitCode, Runtime};
use mimic_translator::guest::{Frontend, GuestCpu};
use mimic_translator::helpers::HelperTable;

use crate::{AccelError, Vcpu, VcpuExit};
use backend::{Baseline, Jit, JitConfig, JitError};
use tb::{TbCache, NO_TB};

/// Which `-d` categories are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogMask {
    /// Guest code of every block translated.
    pub in_asm: bool,
    /// IR of every block translated.
    pub op: bool,
    /// Host code of every block compiled.
    pub out_asm: bool,
    /// Exceptions and interrupts taken.
    pub int: bool,
    /// One line per block executed from the run loop.
    pub exec: bool,
    /// Register dump at every block entry from the run loop.
    pub cpu: bool,
}

impl LogMask {
    /// Parse a QEMU-style comma list (`in_asm,op,int`); unknown names are returned as the error.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut m = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "in_asm" => m.in_asm = true,
                "op" => m.op = true,
                "out_asm" => m.out_asm = true,
                "int" => m.int = true,
                "exec" => m.exec = true,
                "cpu" => m.cpu = true,
                other => return Err(other.to_string()),
            }
        }
        Ok(m)
    }

    fn any_per_block(&self) -> bool {
        self.exec || self.cpu
    }
}

/// Poll callback: the machine services its timers and returns ns until its next deadline.
pub type PollFn = Box<dyn FnMut() -> Option<u64> + Send>;

pub struct TcgOptions {
    pub log: LogMask,
    pub log_sink: Box<dyn Write + Send>,
    /// Executions interpreted before a block is compiled; 0 compiles every block at once.
    pub jit_threshold: u32,
    /// Tiered compilation: blocks are first compiled quickly (Cranelift `opt_level=none`), and
    /// recompiled optimised once the budget has run out this many times at their entry. Budget
    /// exits come about every `budget` instructions, so they sample where guest time goes: a
    /// block collects samples in proportion to the time spent in it. 0 optimises every compile.
    pub hot_samples: u32,
    /// Size of the JIT code cache; when it fills up all code is flushed.
    pub max_code_bytes: usize,
    /// Called whenever the budget runs out or the CPU idles.
    pub poll: Option<PollFn>,
    /// Instructions per budget period (between polls), on average: periods vary from half of it
    /// to one and a half times it.
    pub budget: i64,
    /// Most guest instructions per block.
    pub max_block_insns: u32,
    /// The baseline tier (`Some(n)`, with tiering): a block is compiled by the single-pass
    /// baseline emitter on the vCPU thread after `n` interpreted executions (a compile costs a
    /// few µs, about as much as a few dozen interpreted executions) and takes the place of the
    /// Cranelift `opt_level=none` tier; hot blocks are still recompiled optimised. `jit_threshold`
    /// then does not apply.
    pub baseline: Option<u32>,
    /// Run both tiers' compiles on a thread of their own (with tiering only): blocks keep running
    /// as they are until their code is ready instead of stalling the guest. Boards turn it on;
    /// the default keeps compilation synchronous, which tests of the tiering counters rely on.
    pub background_compile: bool,
    /// The optimising tier compiles a hot block together with the blocks it is chained to on its
    /// page (see `TbCache::region_from`). A region costs Cranelift about three times a block:
    /// boards whose compiles stall the guest leave this off (benches/spike.sh with regions went
    /// sieve 1.00 -> 1.25x QEMU but sha256 1.04 -> 1.03x and matmul 1.47 -> 1.25x).
    pub regions: bool,
    /// Compiles queued on the compile thread from which hot blocks are optimised alone, and
    /// compiled again with their region once the queue is shorter (0: always alone).
    pub region_queue_limit: usize,
    /// Free a block's IR once it has baseline code, and translate it again from its saved bytes
    /// if it gets hot (see `Tb::block`). Off only to check that both ways compile the same.
    pub drop_ir: bool,
}

/// Default tiering threshold: blocks executed fewer times than this are never worth a compile.
/// A quick compile costs ~100-200 µs, an interpreted block execution ~150 ns, so compiling pays
/// off after about a thousand executions; a Linux boot runs tens of thousands of blocks a few
/// hundred times each (boot to init: 50 -> 500 cut compiled blocks 18.9k -> 6.8k and ~1.5 s).
pub const DEFAULT_JIT_THRESHOLD: u32 = 500;

/// Tiering threshold when compiles run in the background ([`TcgOptions::background_compile`]):
/// compiling no longer stalls the guest, so blocks are worth compiling sooner. Boot to init plus
/// `seq | md5sum` on `-M virt`, wall time (2 runs each): 500 -> 3.9 s, 200 -> 3.7 s, 100 -> 3.6-3.75 s
/// (with 10% more CPU), 30 -> 3.9 s (the compile thread falls behind).
pub const BACKGROUND_JIT_THRESHOLD: u32 = 200;

/// Limits of a region compiled by the optimising tier (see `TcgVcpu::compile`): blocks and guest
/// instructions. Cranelift's time grows with the function; hot loops are small.
const REGION_MAX_BLOCKS: usize = 8;
const REGION_MAX_INSNS: u32 = 160;
/// Guest registers a region may write: it keeps them all in host registers, and past this
/// Cranelift spills inside the loop (sha256 of 32 MiB on -M virt: 0.63-0.65 s unlimited, 0.58-0.63 s
/// with 12; benches/spike.sh's sha256 0.93 -> 1.03x QEMU).
const REGION_MAX_REGS: u32 = 12;
/// Compiles queued on the compile thread from which hot blocks are compiled alone. Boot to init
/// and `seq 1 1000000 | md5sum`, 3 runs: regions always 1.45-1.54 / 2.13-2.59 s, never queued
/// past 4: 1.44-1.58 / 2.12-2.43 s, 16: 1.43-1.45 / 2.10-2.18 s; only loops as regions:
/// 1.42-1.45 / 2.41-2.78 s.
pub const DEFAULT_REGION_QUEUE_LIMIT: usize = 16;

/// Default [`TcgOptions::baseline`] threshold. A baseline compile costs about as much as 30
/// interpreted executions, but most blocks that run twice run many more times. Boot to init plus
/// `seq | md5sum` on `-M virt`, wall / user time (3 runs each, median): 0 -> 2.46 / 2.59 s (73k
/// blocks compiled), 2 -> 2.39 / 2.51 s (46k), 5 -> 2.44 / 2.62 s, 10 -> 2.43 / 2.58 s,
/// 30 -> 2.53 / 2.67 s (23k; a million interpreted executions); without the baseline 3.0 / 4.3 s.
pub const DEFAULT_BASELINE_THRESHOLD: u32 = 2;

/// Default [`TcgOptions::hot_samples`].
pub const DEFAULT_HOT_SAMPLES: u32 = 3;

/// Default [`TcgOptions::max_block_insns`]. Long straight runs are rare in hot loops but the
/// long blocks a kernel has are expensive to compile: 512 -> 64 gave a Linux boot slightly more
/// blocks but ~15% less total compile time, with the spike benchmarks unchanged.
pub const DEFAULT_MAX_BLOCK_INSNS: u32 = 64;

impl Default for TcgOptions {
    fn default() -> Self {
        Self {
            log: LogMask::default(),
            log_sink: Box::new(std::io::stderr()),
            jit_threshold: DEFAULT_JIT_THRESHOLD,
            hot_samples: DEFAULT_HOT_SAMPLES,
            max_code_bytes: 64 << 20,
            poll: None,
            budget: 1 << 16,
            max_block_insns: DEFAULT_MAX_BLOCK_INSNS,
            background_compile: false,
            regions: false,
            region_queue_limit: DEFAULT_REGION_QUEUE_LIMIT,
            drop_ir: true,
            baseline: None,
        }
    }
}

/// Counters for tests, `info jit`-style reports and tuning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcgStats {
    pub blocks_translated: u64,
    pub interp_execs: u64,
    pub compiled_blocks: u64,
    /// Of `compiled_blocks`, those compiled by the baseline tier.
    pub baseline_blocks: u64,
    /// Blocks recompiled by the optimising tier.
    pub optimized_blocks: u64,
    /// Other blocks compiled into those as region members (see `TcgOptions::regions`).
    pub region_members: u64,
    /// Blocks translated again from their saved bytes for an optimised compile, their IR having
    /// been dropped after the baseline compile (see `TcgOptions::drop_ir`).
    pub retranslated: u64,
    pub compile_ns: u64,
    /// Times the run loop dispatched a block (chained execution does not come back here).
    pub loop_iterations: u64,
    pub chains_made: u64,
    /// Calls of the lookup hook (computed jumps and cross-page gotos that missed their inline
    /// cache), and of those, the ones it answered with code.
    pub lookups: u64,
    pub lookup_hits: u64,
    /// Indirect-jump cache entries the lookup hook filed (see `env::ItcEntry`).
    pub itc_fills: u64,
    pub code_flushes: u64,
    /// Instruction-fetch fences (`ExitCode::FlushCode`) handled by revalidating blocks.
    pub fences: u64,
    /// Blocks found stale (bytes changed behind the softmmu) when revalidated after a fence.
    pub stale_blocks: u64,
    pub smc_invalidations: u64,
    pub polls: u64,
    pub exceptions: u64,
    pub interrupts: u64,
    pub halts: u64,
    /// Times another hart took the host thread (`-smp`).
    pub hart_switches: u64,
}

/// Everything the `extern "C"` hooks reach while guest code runs (so it lives at a fixed address).
pub(crate) struct Core<C: GuestCpu, F: Frontend> {
    pub cpu: Box<C>,
    pub frontend: F,
    pub mem: Arc<AddressSpace>,
    pub power: Arc<PowerControl>,
    pub helpers: HelperTable,
    pub tbs: TbCache,
    /// Physical page minus virtual page for every TLB entry (`Env::tlb` only keeps host addends).
    pub iotlb: Box<[[u64; mimic_translator::env::TLB_SIZE]; mimic_translator::env::NUM_MMU_IDX]>,
    /// Per-block logging is on: every block must come back to the run loop to be logged.
    pub nochain: bool,
    /// Counts the times a page became a code page. A parked hart's TLB only protected the code
    /// pages of its time: if this moved while it waited, its TLB is flushed before it runs.
    pub code_page_epoch: u64,
    /// `Env::tlb_gen` when the jump cache last saw it (see `find_fast`).
    pub seen_tlb_gen: u64,
    pub stats: TcgStats,
}

impl<C: GuestCpu, F: Frontend> Core<C, F> {
    /// Make the running block chain return to the run loop after the current block.
    pub fn request_exit(&mut self) {
        self.cpu.env().request_exit();
    }
}

/// `Env::runtime` points here; the hooks cast it back to find the [`Core`].
#[repr(C)]
pub(crate) struct RuntimeBox<C: GuestCpu, F: Frontend> {
    pub rt: Runtime,
    pub core: *mut Core<C, F>,
}

fn empty_iotlb() -> Box<softmmu::Iotlb> {
    Box::new([[0; mimic_translator::env::TLB_SIZE]; mimic_translator::env::NUM_MMU_IDX])
}

/// A hart waiting for its turn on the host thread.
struct ParkedHart<C> {
    cpu: Box<C>,
    iotlb: Box<softmmu::Iotlb>,
    /// Stopped in `wfi`: runs again once it has an interrupt to wake it.
    halted: bool,
    /// `Core::code_page_epoch` when it last ran (its TLB protects the code pages known then).
    code_page_epoch: u64,
}

pub struct TcgVcpu<C: GuestCpu, F: Frontend> {
    core: Box<Core<C, F>>,
    /// The other harts of an SMP machine, in round-robin order (empty with one hart).
    parked: std::collections::VecDeque<ParkedHart<C>>,
    _rt: Box<RuntimeBox<C, F>>,
    /// The quick tier (the only one when `hot_samples` is 0, then optimising).
    jit: Jit,
    /// The optimising tier for blocks found hot, when tiered and compiling on this thread.
    jit_hot: Option<Jit>,
    /// The quick tier when `TcgOptions::baseline` is on (its code is entered through `jit`'s
    /// trampoline: both tiers' blocks use the same calling convention).
    base: Option<Baseline>,
    /// Both tiers' compiles, when they run in the background (`jit` then only provides the entry
    /// trampoline, and compiles here only if the thread is gone).
    compiler: Option<compile_thread::CompileThread>,
    opts: TcgOptions,
    flush_pending: bool,
    disasm: Option<capstone::Capstone>,
    /// Xorshift state that varies the length of budget periods (see `refill_budget`).
    period_jitter: u32,
}

// SAFETY: the raw pointers inside (TB code, the runtime box) point into memory this vCPU owns;
// a vCPU is driven by one thread at a time, which `&mut self` on every entry point enforces.
unsafe impl<C: GuestCpu + Send, F: Frontend + Send> Send for TcgVcpu<C, F> {}

impl<C: GuestCpu, F: Frontend> TcgVcpu<C, F> {
    pub fn new(
        cpu: Box<C>,
        frontend: F,
        mem: Arc<AddressSpace>,
        power: Arc<PowerControl>,
        opts: TcgOptions,
    ) -> Result<Self, AccelError> {
        Self::new_smp(vec![cpu], frontend, mem, power, opts)
    }

    /// Several harts on one host thread, taking turns (see the module comment); the first one
    /// runs first. All must be of the same model: they share translated code.
    pub fn new_smp(
        cpus: Vec<Box<C>>,
        frontend: F,
        mem: Arc<AddressSpace>,
        power: Arc<PowerControl>,
        opts: TcgOptions,
    ) -> Result<Self, AccelError> {
        let mut cpus = cpus.into_iter();
        let cpu = cpus.next().ok_or_else(|| AccelError::Jit("a TCG vCPU needs at least one hart".into()))?;
        let helpers = cpu.helpers();
        let tiered = opts.hot_samples > 0;
        let new_jit = |opt_level| {
            Jit::new(helpers, JitConfig { max_code_bytes: opts.max_code_bytes, opt_level })
                .map_err(|e| AccelError::Jit(e.to_string()))
        };
        let jit = new_jit(if tiered { "none" } else { "speed" })?;
        let compiler = if tiered && opts.background_compile {
            let hot = JitConfig { max_code_bytes: opts.max_code_bytes, opt_level: "speed" };
            // With the baseline, quick compiles stay on this thread.
            let quick = opts.baseline.is_none().then_some(JitConfig { opt_level: "none", ..hot });
            Some(compile_thread::CompileThread::start(helpers, quick, hot).map_err(|e| AccelError::Jit(e.to_string()))?)
        } else {
            None
        };
        // The compile thread has its own optimising tier.
        let jit_hot = if tiered && compiler.is_none() { Some(new_jit("speed")?) } else { None };
        let base = if tiered && opts.baseline.is_some() {
            Some(Baseline::new(helpers, opts.max_code_bytes).map_err(|e| AccelError::Jit(e.to_string()))?)
        } else {
            None
        };
        let mut core = Box::new(Core {
            cpu,
            frontend,
            mem,
            power,
            helpers,
            tbs: TbCache::new(),
            iotlb: empty_iotlb(),
            nochain: opts.log.any_per_block(),
            code_page_epoch: 0,
            seen_tlb_gen: 0,
            stats: TcgStats::default(),
        });
        let mut rt = Box::new(RuntimeBox {
            rt: Runtime {
                load_slow: softmmu::load_slow::<C, F>,
                store_slow: softmmu::store_slow::<C, F>,
                lookup: softmmu::lookup::<C, F>,
            },
            core: &mut *core,
        });
        // Per-block logging needs every block to come back to the run loop: no shortcuts.
        let itc = if core.nochain { std::ptr::null_mut() } else { core.tbs.itc_ptr() };
        // Every hart's Env reaches the Core through the runtime box; entries a previous owner left
        // in its TLB have no iotlb shadow here.
        let attach = |env: &mut Env| {
            env.runtime = &rt.rt;
            env.itc = itc;
            env.flush_tlb();
            env.budget = 0;
        };
        attach(core.cpu.env());
        let parked = cpus
            .map(|mut cpu| {
                attach(cpu.env());
                ParkedHart { cpu, iotlb: empty_iotlb(), halted: false, code_page_epoch: 0 }
            })
            .collect();
        rt.core = &mut *core;
        let disasm = if opts.log.out_asm {
            use capstone::arch::BuildsCapstone;
            capstone::Capstone::new().x86().mode(capstone::arch::x86::ArchMode::Mode64).build().ok()
        } else {
            None
        };
        Ok(Self { core, parked, _rt: rt, jit, jit_hot, base, compiler, opts, flush_pending: false, disasm, period_jitter: 0x9e37_79b9 })
    }

    /// See [`TcgOptions::region_queue_limit`]; for tests that need the queue to look busy for
    /// a while.
    pub fn set_region_queue_limit(&mut self, limit: usize) {
        self.opts.region_queue_limit = limit;
    }

    /// The hart running now (or that ran last).
    pub fn cpu(&self) -> &C {
        &self.core.cpu
    }

    /// How many harts this vCPU runs.
    pub fn hart_count(&self) -> usize {
        1 + self.parked.len()
    }

    /// Hand the host thread to the next hart that can run, in round-robin order. `halted`: the
    /// current hart stopped in `wfi`. Returns false (nothing changes) when no other hart can
    /// run; the caller then keeps the current one, or idles if it is halted.
    fn switch_hart(&mut self, halted: bool) -> bool {
        let Some(pos) = self.parked.iter().position(|h| !h.halted || h.cpu.wakeup_pending()) else {
            return false;
        };
        self.parked.rotate_left(pos);
        let mut next = self.parked.pop_front().expect("position found above");
        std::mem::swap(&mut self.core.cpu, &mut next.cpu);
        std::mem::swap(&mut self.core.iotlb, &mut next.iotlb);
        // The jump cache's checks were against the other hart's TLB.
        self.core.tbs.new_stamp();
        if next.code_page_epoch != self.core.code_page_epoch {
            // Pages became code while this hart waited: its TLB may still let stores to them
            // take the fast path, past the self-modifying-code check.
            self.core.cpu.env().flush_tlb();
        }
        next.halted = halted;
        next.code_page_epoch = self.core.code_page_epoch;
        self.parked.push_back(next);
        self.core.stats.hart_switches += 1;
        true
    }

    /// A budget period ended: the next hart that can run gets the host thread. Returns whether
    /// another hart now runs.
    fn end_turn(&mut self) -> bool {
        !self.parked.is_empty() && self.switch_hart(false)
    }

    /// Can any hart, running or parked, leave `wfi`?
    fn any_wakeup_pending(&self) -> bool {
        self.core.cpu.wakeup_pending() || self.parked.iter().any(|h| h.halted && h.cpu.wakeup_pending())
    }

    pub fn cpu_mut(&mut self) -> &mut C {
        &mut self.core.cpu
    }

    pub fn stats(&self) -> TcgStats {
        let mut s = self.core.stats;
        s.compile_ns = self.jit.stats().compile_ns
            + self.jit_hot.as_ref().map_or(0, |j| j.stats().compile_ns)
            + self.compiler.as_ref().map_or(0, |c| c.stats().compile_ns)
            + self.base.as_ref().map_or(0, |b| b.stats().compile_ns);
        s
    }

    /// Drop every translation and all compiled code (gdb breakpoints, a full cache).
    pub fn flush_all_code(&mut self) {
        if let Some(c) = self.compiler.as_mut() {
            // First: the thread may be compiling a block whose exit cells `clear` frees.
            // SAFETY: called only from the run loop or with the vCPU stopped (no compiled code
            // runs), and the TB table holding every code pointer from the thread is cleared next.
            if let Err(e) = unsafe { c.flush() } {
                log::error!("JIT flush failed: {e}");
            }
        }
        self.core.tbs.clear();
        // No code left to protect from device writes.
        self.core.mem.unwatch_all_writes();
        // Write entries of code pages carry TLB_FORCE_SLOW; start from clean entries.
        self.core.cpu.env().flush_tlb();
        // SAFETY: called only from the run loop or with the vCPU stopped, never while compiled
        // code runs, and every pointer into the old code (TB table, exit slots) was just dropped.
        for jit in std::iter::once(&mut self.jit).chain(self.jit_hot.as_mut()) {
            // SAFETY: as above.
            if let Err(e) = unsafe { jit.flush_all() } {
                // Without a code generation every compile fails and blocks stay interpreted.
                log::error!("JIT flush failed: {e}");
            }
        }
        if let Some(b) = self.base.as_mut() {
            // SAFETY: as above.
            if let Err(e) = unsafe { b.flush_all() } {
                log::error!("baseline flush failed: {e}");
            }
        }
        self.core.stats.code_flushes += 1;
        self.flush_pending = false;
    }

    fn log(&mut self, args: std::fmt::Arguments) {
        let _ = self.opts.log_sink.write_fmt(args);
    }

    /// Start a new budget period and give the machine a chance to service its timers.
    ///
    /// Periods vary in length around `TcgOptions::budget` (from half of it to one and a half
    /// times it, the same sequence every run). Budget exits are the samples that find hot
    /// blocks, and with periods of one fixed length a loop that repeats exactly would have its
    /// samples land on the same few blocks forever: in a Keccak round (one long function cut
    /// into eight blocks) the first block never got a sample and kept its quick code while the
    /// rest were optimised.
    fn refill_budget(&mut self) {
        let budget = self.next_period();
        let remaining = self.core.cpu.env_ref().budget.max(0);
        self.core.cpu.on_budget_refill(remaining, budget);
        self.core.cpu.env().budget = budget;
        if let Some(poll) = self.opts.poll.as_mut() {
            self.core.stats.polls += 1;
            poll();
        }
    }

    fn next_period(&mut self) -> i64 {
        let budget = self.opts.budget.max(2);
        let mut x = self.period_jitter;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.period_jitter = x;
        budget / 2 + (x as i64) % budget
    }

    fn deliver_exception(&mut self) {
        let before = self.core.cpu.env_ref().pc;
        self.core.cpu.deliver_exception();
        self.core.cpu.env().exception_pending = 0;
        self.core.stats.exceptions += 1;
        if self.opts.log.int {
            let after = self.core.cpu.env_ref().pc;
            self.log(format_args!("exception at pc={before:#x} -> {after:#x}\n"));
        }
    }

    /// `wfi`: run another hart if one can run; otherwise sleep until an interrupt can wake one
    /// of them (then run it) or the machine stops.
    fn halt(&mut self) {
        self.core.stats.halts += 1;
        if self.switch_hart(true) {
            return;
        }
        loop {
            if self.core.power.is_pending() || self.core.cpu.wakeup_pending() {
                return;
            }
            if self.any_wakeup_pending() {
                // Another hart woke: it runs, this one stays in wfi.
                self.switch_hart(true);
                return;
            }
            let mut next = match self.opts.poll.as_mut() {
                Some(poll) => {
                    self.core.stats.polls += 1;
                    poll()
                }
                None => None,
            };
            // Timers inside the harts (Sstc) wake them too.
            let own = std::iter::once(self.core.cpu.poll_timers())
                .chain(self.parked.iter_mut().filter(|h| h.halted).map(|h| h.cpu.poll_timers()));
            for d in own.flatten() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            if self.core.power.is_pending() || self.any_wakeup_pending() {
                continue;
            }
            // Devices on other threads may raise an interrupt at any time and there is no
            // condition variable to wait on, so the sleep is capped.
            let ns = next.unwrap_or(1_000_000).clamp(1_000, 2_000_000);
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }

    /// Blocks are compiled quickly first and optimised once hot (see `TcgOptions::hot_samples`).
    fn tiered(&self) -> bool {
        self.opts.hot_samples > 0
    }

    /// Any code generation is full: flush everything before compiling more.
    fn jit_full(&self) -> bool {
        self.jit.is_full()
            || self.jit_hot.as_ref().is_some_and(|j| j.is_full())
            || self.compiler.as_ref().is_some_and(|c| c.is_full())
            || self.base.as_ref().is_some_and(|b| b.is_full())
    }

    /// Install the code the compile thread has finished (blocks invalidated or flushed meanwhile
    /// are skipped: their id no longer names them).
    fn install_background_compiles(&mut self) {
        let Some(c) = self.compiler.as_mut() else { return };
        for done in c.finished() {
            if self.core.tbs.idx_of_id(done.id) != Some(done.idx) {
                continue;
            }
            let tb = self.core.tbs.get_mut(done.idx);
            tb.compiling = false;
            // Quick code for a block that still has none; optimised code for one still running
            // its quick code (or, for a region, a lone optimised block's).
            let wanted = if done.hot { !tb.code.is_null() && (!tb.hot || !done.region.is_empty()) } else { tb.code.is_null() };
            if !tb.valid || !wanted {
                continue;
            }
            self.finish_compile(done.idx, done.hot, &done.region, done.result);
        }
    }

    /// Compile block `idx` with the quick tier, or with the optimising one if `hot` (then the
    /// chains into the block are moved to the new code). An optimised compile takes the blocks
    /// `idx` is chained to on its page along (a region, see `TbCache::region_from`), so a hot
    /// loop of several blocks runs inside one function.
    fn compile(&mut self, idx: u32, hot: bool) {
        let t0 = Instant::now();
        if !hot {
            if let Some(b) = self.base.as_mut() {
                let id = self.core.tbs.block_id(idx);
                let tb = self.core.tbs.get_mut(idx);
                let slots = tb.slots.as_ptr();
                // A few µs: not worth a round trip to the compile thread. (Blocks that failed
                // the verifier are `no_jit` and never get here.)
                let result = backend::baseline_result(b.compile_verified(&tb.block, id, slots));
                if result.is_ok() {
                    self.core.stats.baseline_blocks += 1;
                    tb.direct_jumps = b.direct_jumps().into();
                    // The code runs from now on; a hot compile translates the block again.
                    if self.opts.drop_ir {
                        tb.drop_ir();
                    }
                }
                self.finish_compile(idx, false, &[], result);
                return;
            }
        }
        let busy = self.compile_queue_busy();
        let max_blocks = if self.opts.regions && !busy { REGION_MAX_BLOCKS } else { 1 };
        let (members, edges) = if hot {
            self.core.tbs.region_from(idx, max_blocks, REGION_MAX_INSNS, REGION_MAX_REGS)
        } else {
            (vec![idx], Vec::new())
        };
        if hot {
            let tb = self.core.tbs.get_mut(idx);
            let again = tb.hot;
            tb.regionless = self.opts.regions && busy;
            // A block optimised alone, now compiled again for its region: only if it has one.
            if again && members.len() < 2 {
                return;
            }
        }
        let dropped = members.iter().filter(|&&i| !self.core.tbs.get(i).has_ir()).count();
        self.core.stats.retranslated += dropped as u64;
        let core = &self.core;
        let member = |i: u32| Some((i, core.tbs.block_id(i), core.block_ir(i)?, core.tbs.get(i).slots.as_ptr()));
        let (Some((_, id, block, slots)), Some(region)) = (member(idx), members[1..].iter().map(|&i| member(i)).collect()) else {
            // Never expected (see `Core::block_ir`): the block keeps its quick code for good.
            let tb = self.core.tbs.get_mut(idx);
            (tb.hot, tb.regionless) = (true, false);
            return;
        };
        let mut job = compile_thread::Job { idx, id, hot, block, slots, region, edges };
        if let Some(c) = self.compiler.as_mut() {
            match c.request(job) {
                Ok(()) => {
                    self.core.tbs.get_mut(idx).compiling = true;
                    return;
                }
                // The thread is gone: compile here.
                Err(j) => job = j,
            }
        }
        let jit = match (&mut self.jit_hot, hot) {
            (Some(j), true) => j,
            _ => &mut self.jit,
        };
        let result = compile_thread::compile(jit, &job);
        self.finish_compile(idx, hot, &members[1..], result);
        log::trace!("compile took {:?}", t0.elapsed());
    }

    /// Give block `idx` the code compiled for it (by tier `hot`), or handle the JIT's refusal.
    /// `region`: the other blocks whose code the result contains.
    fn finish_compile(&mut self, idx: u32, hot: bool, region: &[u32], result: Result<mimic_translator::jit::Compiled, JitError>) {
        let (tiered, full) = (self.tiered(), self.jit_full());
        if result.is_ok() && region.iter().any(|&m| !self.core.tbs.get(m).valid) {
            // A member changed while the region compiled: its code must not run. The block
            // keeps its quick code and may be sampled hot again.
            let tb = self.core.tbs.get_mut(idx);
            tb.samples = 0;
            return;
        }
        if result.is_ok() && !region.is_empty() {
            self.core.tbs.set_region(idx, region);
            self.core.stats.region_members += region.len() as u64;
        }
        let tb = self.core.tbs.get_mut(idx);
        match result {
            Ok(c) => {
                tb.hot = hot || !tiered;
                // The quick code stays valid until the next flush; this only moves traffic.
                self.core.tbs.set_code(idx, c.code);
                if hot {
                    self.core.stats.optimized_blocks += 1;
                } else {
                    self.core.stats.compiled_blocks += 1;
                }
                if self.opts.log.out_asm {
                    let tb = self.core.tbs.get(idx);
                    let pc = tb.pc;
                    let bytes = match (hot, &self.base) {
                        (false, Some(b)) => b.code_bytes(&c),
                        (true, _) => self.jit_hot.as_ref().unwrap_or(&self.jit).code_bytes(&c),
                        (false, None) => self.jit.code_bytes(&c),
                    };
                    let text = match &self.disasm {
                        Some(cs) => match cs.disasm_all(bytes, c.code as u64) {
                            Ok(insns) => insns.iter().map(|i| format!("  {i}\n")).collect::<String>(),
                            Err(e) => format!("  (capstone: {e})\n"),
                        },
                        None => "  (no disassembler)\n".to_string(),
                    };
                    self.log(format_args!("OUT: [pc={pc:#x} size={}]\n{text}\n", c.size));
                }
            }
            Err(e) => {
                if full || matches!(e, JitError::Memory(_)) {
                    self.flush_pending = true;
                } else if hot {
                    // The quick code keeps running.
                    log::error!("optimising JIT failed on block at {:#x}: {e}", tb.pc);
                    tb.hot = true;
                } else {
                    log::error!("JIT failed on block at {:#x}: {e}; interpreting it", tb.pc);
                    tb.no_jit = true;
                }
            }
        }
    }

    /// The budget ran out at the entry of block `id`: one sample of where time goes. A block
    /// compiled by the quick tier that collects `hot_samples` of them is recompiled optimised.
    fn sample(&mut self, id: u64) {
        if !self.tiered() || self.flush_pending {
            return;
        }
        let Some(idx) = self.core.tbs.idx_of_id(id) else { return };
        let tb = self.core.tbs.get_mut(idx);
        if tb.code.is_null() || (tb.hot && !tb.regionless) || !tb.valid || tb.compiling {
            return;
        }
        tb.samples += 1;
        if tb.samples < self.opts.hot_samples {
            return;
        }
        if tb.hot && self.compile_queue_busy() {
            // Still no room for its region: wait for another round of samples.
            self.core.tbs.get_mut(idx).samples = 0;
            return;
        }
        self.compile(idx, true);
    }

    /// Do optimised compiles queue up on the compile thread? Regions (about three times a
    /// block's Cranelift time) wait then: a boot finds hot code in bursts, and every block would
    /// wait that much longer for its optimised code.
    fn compile_queue_busy(&self) -> bool {
        self.compiler.as_ref().map_or(0, |c| c.outstanding()) >= self.opts.region_queue_limit
    }

    /// Run one block from the run loop; returns its packed exit.
    fn execute(&mut self, idx: u32) -> u64 {
        let threshold = match (&self.base, self.opts.baseline) {
            (Some(_), Some(n)) => n,
            _ => self.opts.jit_threshold,
        };
        let tb = self.core.tbs.get_mut(idx);
        if tb.code.is_null() && !tb.no_jit && !self.flush_pending {
            if tb.execs >= threshold {
                if !tb.compiling && self.core.prepare_for_compile(idx) {
                    self.compile(idx, false);
                }
            } else {
                tb.execs += 1;
            }
        }
        let core: *mut Core<C, F> = &mut *self.core;
        // SAFETY: from here on the hooks may mutate the Core through its raw pointer, so only raw
        // pointers are held across the call: the block lives in its own Box that invalidation
        // never frees, the code is only freed by flush_all (never from a hook), and the Env is
        // the CPU's own.
        unsafe {
            let tb = (*core).tbs.get_mut(idx);
            let code = tb.code;
            let block: *const mimic_translator::ir::Block = &*tb.block;
            let env: *mut Env = (*core).cpu.env();
            if !code.is_null() {
                if let Some(page) = (*block).second_page {
                    softmmu::entering_second_page(&mut *core, page.vpage);
                }
                self.jit.enter(code, env)
            } else {
                // Blocks drop their IR only once they have code.
                debug_assert!(tb.has_ir());
                (*core).stats.interp_execs += 1;
                let id = (*core).tbs.block_id(idx);
                backend::interpret(&*block, id, env, (*core).helpers)
            }
        }
    }

    fn log_block_entry(&mut self, idx: u32) {
        let pc = self.core.tbs.get(idx).pc;
        if self.opts.log.exec {
            self.log(format_args!("Trace: pc={pc:#x}\n"));
        }
        if self.opts.log.cpu {
            let mut s = format!("pc       {pc:016x}\n");
            let regs = self.core.cpu.env_ref().regs;
            for (i, r) in regs[..32].iter().enumerate() {
                s.push_str(&format!("x{i:<2} {r:016x}{}", if i % 4 == 3 { "\n" } else { " " }));
            }
            self.log(format_args!("{s}"));
        }
    }

    fn translate_logged(&mut self, pc: u64) -> Option<u32> {
        let max = self.opts.max_block_insns.max(1);
        let (idx, text) = self.core.lookup_or_translate(pc, max, self.opts.log)?;
        if let Some(t) = text {
            self.log(format_args!("{t}"));
        }
        Some(idx)
    }

    /// Chain `src`'s exit `slot` to `dst` when both are compiled and in the same guest page.
    /// (Compiled code knows this rule: its cross-page gotos use the `lookup` hook instead.)
    fn try_chain(&mut self, src: u32, slot: u8, dst: u32) {
        let tbs = &mut self.core.tbs;
        let (s, d) = (tbs.get(src), tbs.get(dst));
        if self.core.nochain || !s.valid || !d.valid || s.code.is_null() || d.code.is_null() || !d.enterable_by_jump() {
            return;
        }
        if (s.pc ^ d.pc) & mimic_translator::env::PAGE_MASK != 0 {
            return;
        }
        let Some(cell) = s.slots.get(slot as usize) else { return };
        if !cell.load(Ordering::Relaxed).is_null() {
            return;
        }
        let code = d.code;
        tbs.set_cell(src, slot, code);
        tbs.link(src, slot, dst);
        self.core.stats.chains_made += 1;
    }
}

impl<C: GuestCpu, F: Frontend> Vcpu for TcgVcpu<C, F> {
    fn run(&mut self) -> Result<VcpuExit, AccelError> {
        // (source block, slot, target pc) of the last unchained Goto, to link once the target is known.
        let mut chain_from: Option<(u32, u8, u64)> = None;
        loop {
            if self.core.power.is_pending() {
                if let Some(ev) = self.core.power.take() {
                    return Ok(match ev {
                        PowerEvent::Shutdown { exit_code } => VcpuExit::Shutdown { exit_code },
                        PowerEvent::Reset => VcpuExit::Reset,
                    });
                }
            }
            if self.compiler.as_ref().is_some_and(|c| c.has_answers()) {
                self.install_background_compiles();
            }
            if self.flush_pending || self.jit_full() || self.core.tbs.too_big() {
                self.flush_all_code();
                chain_from = None;
            }
            if self.core.cpu.env_ref().exception_pending != 0 {
                self.deliver_exception();
                chain_from = None;
            }
            if self.core.cpu.env_ref().budget <= 0 {
                self.refill_budget();
                if self.end_turn() {
                    chain_from = None;
                }
                continue;
            }
            {
                let before = self.core.cpu.env_ref().pc;
                if self.core.cpu.take_interrupt() {
                    self.core.stats.interrupts += 1;
                    chain_from = None;
                    if self.opts.log.int {
                        let after = self.core.cpu.env_ref().pc;
                        self.log(format_args!("interrupt at pc={before:#x} -> {after:#x}\n"));
                    }
                }
            }
            let pc = self.core.cpu.env_ref().pc;
            let idx = match self.core.find_fast(pc) {
                Some((i, _)) => i,
                None => match self.translate_logged(pc) {
                    Some(i) => i,
                    // The fetch faulted: the exception is pending and delivered next iteration.
                    None => continue,
                },
            };
            if let Some((src, slot, target)) = chain_from.take() {
                if target == pc {
                    self.try_chain(src, slot, idx);
                }
            }
            if self.opts.log.any_per_block() {
                self.log_block_entry(idx);
            }
            self.core.stats.loop_iterations += 1;
            let ret = self.execute(idx);
            let forced = self.core.cpu.env().take_exit_request();
            if let Some(saved) = forced {
                self.core.cpu.env().budget = saved;
            }
            let (code, id, slot) = unpack_exit(ret);
            match code {
                ExitCode::Goto => {
                    if let Some(src) = self.core.tbs.idx_of_id(id) {
                        if src != NO_TB {
                            chain_from = Some((src, slot, self.core.cpu.env_ref().pc));
                        }
                    }
                }
                ExitCode::Halt => self.halt(),
                ExitCode::FlushCode => self.core.fence(),
                ExitCode::Exception => {
                    if self.core.cpu.env_ref().exception_pending == 0 {
                        // The contract says the flag is set; be robust to a helper that forgot.
                        log::warn!("exception exit without a pending exception at {:#x}", pc);
                    }
                }
                ExitCode::Budget => {
                    // The budget ran out (a block larger than what is left of the period): a
                    // sample of where time goes, and a new period. An exit a helper asked for (a
                    // CSR write, a trap return, an MMIO access) is neither: its restored budget
                    // gets its chance first.
                    if forced.is_none() {
                        self.sample(id);
                        self.refill_budget();
                        self.end_turn();
                    }
                }
                ExitCode::Reevaluate | ExitCode::Lookup => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_mask_parses_qemu_lists() {
        let m = LogMask::parse("in_asm, op,int").unwrap();
        assert!(m.in_asm && m.op && m.int && !m.exec && !m.cpu && !m.out_asm);
        assert_eq!(LogMask::parse("bogus"), Err("bogus".to_string()));
        assert_eq!(LogMask::parse(""), Ok(LogMask::default()));
    }
}
