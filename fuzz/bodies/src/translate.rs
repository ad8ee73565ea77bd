//! Guest code is untrusted: any instruction bytes must translate to IR the verifier accepts (the
//! interpreter and the JIT rely on its rules), and running that IR must not take the host down.

use std::sync::Arc;

use mimic_frontend::riscv64::csr::mstatus;
use mimic_frontend::riscv64::translate::RiscvFrontend;
use mimic_frontend::riscv64::{helper_table, RiscvCpu};
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::clock::Clock;
use mimic_hw::irq::PendingBits;
use mimic_hw::AddressSpace;
use mimic_translator::env::{Env, Runtime};
use mimic_translator::guest::{CodeFetch, Frontend, GuestCpu};
use mimic_translator::interp::interpret;
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

/// Input: the hart's mode (privilege, `mstatus` MPRV/MPP/FS), the block's start offset in its
/// page and its instruction limit, a seed for the register file, then the code bytes. The block
/// is translated, disassembled, verified, and run once in the IR interpreter on a real hart.
pub fn riscv_translate(data: &[u8]) {
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
        return;
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
    cpu.env.budget = 1 << 20;
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
