//! Guest code is untrusted: any instruction bytes must translate to IR the verifier accepts (the
//! interpreter and the JIT rely on its rules), and running that IR must not take the host down.

use std::cell::RefCell;
use std::sync::atomic::AtomicPtr;
use std::sync::Arc;

use mimic_frontend::riscv64::csr::mstatus;
use mimic_frontend::riscv64::translate::RiscvFrontend;
use mimic_frontend::riscv64::{helper_table, RiscvCpu};
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::clock::Clock;
use mimic_hw::irq::PendingBits;
use mimic_hw::AddressSpace;
use mimic_translator::baseline::Baseline;
use mimic_translator::env::{unpack_exit, Env, ExitCode, Runtime};
use mimic_translator::guest::{CodeFetch, Frontend, GuestCpu};
use mimic_translator::interp::{exit_slot_count, interpret};
use mimic_translator::ir::{Block, Op};
use mimic_translator::jit::{Jit, JitConfig};
use mimic_translator::verify::verify;

use crate::{Input, XorShift};

/// Code at `base`, as many bytes as the input has; fetches elsewhere fault.
struct Code<'a> {
    base: u64,
    bytes: &'a [u8],
}

impl CodeFetch for Code<'_> {
    fn fetch_u16(&mut self, vaddr: u64) -> Option<u16> {
        let off = usize::try_from(vaddr.checked_sub(self.base)?).ok()?;
        let b = self.bytes.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

// Softmmu stand-ins for the interpreter: loads read a value derived from the address, stores
// vanish, computed jumps go back to the run loop. Every access misses the (empty) TLB and comes
// here, so guest loads and stores never touch host memory.
unsafe extern "C" fn load_slow(_env: *mut Env, vaddr: u64, memop: u64) -> u64 {
    vaddr.rotate_left(17) ^ memop
}
unsafe extern "C" fn store_slow(_env: *mut Env, _vaddr: u64, _value: u64, _memop: u64) {}
unsafe extern "C" fn lookup(_env: *mut Env) -> *const u8 {
    std::ptr::null()
}
static RUNTIME: Runtime = Runtime { load_slow, store_slow, lookup };

const PRIVS: [u8; 3] = [0, 1, 3];

/// A hart in the mode the input asks for, and the block translated from the input's code.
struct Case {
    cpu: Box<RiscvCpu>,
    block: Block,
}

/// Input: the hart's mode (privilege, `mstatus` MPRV/MPP/FS), the block's start offset in its
/// page and its instruction limit, a seed for the register file, then the code bytes. Returns
/// None when the first fetch faulted (an empty block: the run loop delivers the fault).
fn translate_case(data: &[u8]) -> Option<Case> {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let start = u64::from(inp.u16() & 0xffe);
    let max_insns = u32::from(inp.u8() % 64) + 1;
    let reg_seed = inp.u64();
    let code = inp.rest();

    let page = 0x8000_0000u64;
    let pc = page + start;
    let mem = Arc::new(AddressSpace::new(&[MemRegionSpec::ram("dram", page, 0x10000)]).expect("fixed layout"));
    let mut cpu = RiscvCpu::new(0, mem, PendingBits::new(), Arc::new(Clock::new(10_000_000)));
    cpu.reset(pc);
    cpu.priv_mode = PRIVS[usize::from(mode % 3)];
    let mpp = u64::from(PRIVS[usize::from((mode >> 2) % 3)]) << mstatus::MPP_SHIFT;
    let fs = u64::from((mode >> 4) & 3) << mstatus::FS_SHIFT;
    let mprv = if mode & 0x40 != 0 { mstatus::MPRV } else { 0 };
    cpu.csr.mstatus = (cpu.csr.mstatus & !(mstatus::MPP | mstatus::FS | mstatus::MPRV)) | mpp | fs | mprv;
    let flags = cpu.tb_flags();

    let block = RiscvFrontend.translate(&mut Code { base: pc, bytes: code }, pc, flags, max_insns);
    let _ = RiscvFrontend.disassemble(code, pc);
    if block.ops.is_empty() {
        // The first fetch faulted: an empty block tells the run loop to deliver that fault.
        assert_eq!(block.insn_count, 0);
        return None;
    }
    if let Err(e) = verify(&block, helper_table()) {
        panic!("the frontend produced IR the verifier rejects: {e}\nflags {flags:#x} code {code:02x?}");
    }
    assert!(block.insn_count <= max_insns, "{} instructions for a limit of {max_insns}", block.insn_count);

    let mut rng = XorShift::new(reg_seed);
    for r in 1..64 {
        cpu.env.regs[r] = match rng.below(4) {
            0 => 0,
            1 => page + rng.below(0x10000),
            _ => rng.next_u64(),
        };
    }
    cpu.env.runtime = &RUNTIME;
    // Exactly one pass: a block that jumps to its own start loops inside its compiled form
    // while the budget lasts, and the interpreter runs one pass per call.
    cpu.env.budget = i64::from(block.insn_count);
    Some(Case { cpu, block })
}

/// The block is translated, disassembled, verified, and run once in the IR interpreter on a real
/// hart, then any trap it raised is delivered.
pub fn riscv_translate(data: &[u8]) {
    let Some(Case { mut cpu, block }) = translate_case(data) else { return };
    let env: *mut Env = &mut cpu.env;
    // SAFETY: `env` is the hart's own Env (helpers cast it back to the `RiscvCpu` it is the first
    // field of) and nothing else uses the hart during the call; its runtime points to static
    // hooks that touch no memory; the TLB is empty (reset flushed it), so no access uses a host
    // pointer; and the block passed the verifier against the same helper table.
    unsafe { interpret(&block, 0, env, helper_table()) };
    if cpu.env.exception_pending != 0 {
        cpu.deliver_exception();
    }
    let _ = cpu.take_interrupt();
}

thread_local! {
    /// The two JIT tiers, kept across inputs (creating a Cranelift module per input is slow).
    static JITS: RefCell<Option<[Jit; 2]>> = const { RefCell::new(None) };
    /// The baseline tier, likewise.
    static BASELINE: RefCell<Option<Baseline>> = const { RefCell::new(None) };
}

/// A second hart in `cpu`'s state, to run the same block from the same start.
fn twin_of(cpu: &RiscvCpu) -> Box<RiscvCpu> {
    let mut twin = RiscvCpu::new(0, cpu.mem.clone(), PendingBits::new(), Arc::new(Clock::new(10_000_000)));
    twin.priv_mode = cpu.priv_mode;
    twin.csr = cpu.csr.clone();
    twin.env.regs = cpu.env.regs;
    twin.env.pc = cpu.env.pc;
    twin.env.budget = cpu.env.budget;
    twin.env.runtime = &RUNTIME;
    twin
}

/// The guest-visible outcome of one block run.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit: ExitCode,
    slot: u8,
    pc: u64,
    regs: Vec<u64>,
    exception_pending: u32,
    priv_mode: u8,
}

fn outcome(cpu: &RiscvCpu, packed: u64) -> Outcome {
    let (exit, _, slot) = unpack_exit(packed);
    Outcome {
        exit,
        slot,
        pc: cpu.env.pc,
        regs: cpu.env.regs.to_vec(),
        exception_pending: cpu.env.exception_pending,
        priv_mode: cpu.priv_mode,
    }
}

/// The block compiled by Cranelift (quick or optimising tier, as the input's first byte says)
/// and by the baseline emitter must compile, and running each must leave the hart as the IR
/// interpreter does (differential: the compiled tiers run every guest block). Blocks reading CSRs are only compiled and run: `time`
/// follows the host clock, so the two runs may see different values.
pub fn riscv_jit(data: &[u8]) {
    let tier = usize::from(data.first().copied().unwrap_or(0) >> 7);
    let Some(Case { mut cpu, block }) = translate_case(data) else { return };
    let mut twin = twin_of(&cpu);
    let mut base_twin = twin_of(&cpu);
    let env: *mut Env = &mut cpu.env;
    // SAFETY: as in `riscv_translate`.
    let interp_exit = unsafe { interpret(&block, 0, env, helper_table()) };
    let reads_csr = block.ops.iter().any(|op| matches!(op, Op::Call { helper, .. } if helper_table()[usize::from(helper.0)].name == "csr"));

    // The cells the compiled block owns (chain targets, guards, GotoPtr targets), all null: not chained.
    let cells = mimic_translator::env::exit_cells(exit_slot_count(&block));
    let slots: Vec<AtomicPtr<u8>> = (0..cells.max(1)).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
    let jit_exit = JITS.with(|j| {
        let mut j = j.borrow_mut();
        let jits = j.get_or_insert_with(|| {
            let new = |opt_level| Jit::new(helper_table(), JitConfig { max_code_bytes: 8 << 20, opt_level }).expect("Cranelift set-up");
            [new("none"), new("speed")]
        });
        let jit = &mut jits[tier];
        if jit.is_full() {
            // SAFETY: no compiled code is running and no code pointer or exit slot from the old
            // generation is kept (each input compiles and runs its own block).
            unsafe { jit.flush_all() }.expect("new code generation");
        }
        let compiled = jit.compile(&block, 0, slots.as_ptr()).unwrap_or_else(|e| panic!("the JIT refused a verified block: {e}"));
        let twin_env: *mut Env = &mut twin.env;
        // SAFETY: `compiled` is from this generation and its exit cells (`slots`, sized by
        // `exit_cells`, null: not chained) outlive the call; `twin_env` satisfies what `interpret` requires
        // (see riscv_translate), which is what compiled code requires too.
        unsafe { jit.enter(compiled.code, twin_env) }
    });
    let base_exit = BASELINE.with(|b| {
        let mut b = b.borrow_mut();
        let base = b.get_or_insert_with(|| Baseline::new(helper_table(), 8 << 20).expect("baseline set-up"));
        if base.is_full() {
            // SAFETY: as for the JIT above.
            unsafe { base.flush_all() }.expect("new code generation");
        }
        let compiled = base
            .compile(&block, 0, slots.as_ptr())
            .unwrap_or_else(|e| panic!("the baseline refused a verified block: {e}"));
        let env: *mut Env = &mut base_twin.env;
        // SAFETY: as for the JIT above (the baseline keeps the same contract).
        unsafe { base.enter(compiled.code, env) }
    });
    if reads_csr {
        return;
    }
    // The baseline has no internal loops: it must match the interpreter exactly.
    assert_eq!(
        outcome(&cpu, interp_exit),
        outcome(&base_twin, base_exit),
        "interpreter and baseline disagree on block\n{block:?}"
    );
    let (mut a, mut b) = (outcome(&cpu, interp_exit), outcome(&twin, jit_exit));
    // A block looping to its own start ends in the compiled form's budget check, which the
    // interpreter reports as the Goto that takes the loop.
    if a.exit == ExitCode::Goto && b.exit == ExitCode::Budget && a.pc == block.pc {
        (a.exit, a.slot, b.exit, b.slot) = (ExitCode::Budget, 0, ExitCode::Budget, 0);
    }
    assert_eq!(a, b, "interpreter and JIT ({}) disagree on block\n{block:?}", ["none", "speed"][tier]);
}
