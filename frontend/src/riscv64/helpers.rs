//! System helpers called from IR: exceptions, CSR access, trap return, `wfi`, fences.
//! (Floating-point helpers are in `fpu.rs`.)

use mimic_translator::env::Env;
use mimic_translator::guest::GuestCpu;
use mimic_translator::helpers::HelperInfo;
use mimic_translator::ir::HelperId;

use super::cpu::{PendingTrap, RiscvCpu, PRV_S, PRV_U};
use super::csr::{self, mstatus};
use super::translate::cause;
use super::trap;

/// Index of each helper in [`HELPERS`].
pub const H_RAISE: usize = 0;
/// `csr(desc, src, insn) -> old value`; `desc` from [`csr_desc`].
pub const H_CSR: usize = 1;
/// `mret(insn) -> new pc`.
pub const H_MRET: usize = 2;
/// `sret(insn) -> new pc`.
pub const H_SRET: usize = 3;
/// `wfi(insn)`: checks TW and marks the hart waiting; the block then exits with `Halt`.
pub const H_WFI: usize = 4;
/// `sfence_vma(insn, vaddr)`.
pub const H_SFENCE_VMA: usize = 5;
/// `fs_dirty()`: set `mstatus.FS` to Dirty (for FP instructions translated without FS_DIRTY).
pub const H_FS_DIRTY: usize = 6;

pub fn id(index: usize) -> HelperId {
    super::sys_helper(index)
}

/// CSR operation kinds in a [`csr_desc`], as in `funct3 & 3`.
pub const CSR_OP_WRITE: u64 = 1;
pub const CSR_OP_SET: u64 = 2;
pub const CSR_OP_CLEAR: u64 = 3;

/// Pack a CSR access for [`H_CSR`]: CSR number, operation, and whether it writes at all.
pub fn csr_desc(csr: u16, op: u64, write: bool) -> u64 {
    csr as u64 & 0xfff | (op & 3) << 12 | (write as u64) << 15
}

/// # Safety
/// The run loop only passes Envs embedded in a RiscvCpu to this frontend's helpers.
unsafe fn cpu<'a>(env: *mut Env) -> &'a mut RiscvCpu {
    // SAFETY: see the function's contract.
    unsafe { RiscvCpu::from_env(env) }
}

fn illegal(cpu: &mut RiscvCpu, insn: u64) -> u64 {
    cpu.pending_trap = Some(PendingTrap { cause: cause::ILLEGAL_INSN, tval: insn });
    cpu.env.exception_pending = 1;
    0
}

/// `raise(cause, tval)`: record a synchronous exception at `Env::pc`.
unsafe extern "C" fn helper_raise(env: *mut Env, cause: u64, tval: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    cpu.pending_trap = Some(PendingTrap { cause, tval });
    cpu.env.exception_pending = 1;
    0
}

/// Do one CSR instruction; shared with tests.
pub fn csr_op(cpu: &mut RiscvCpu, desc: u64, src: u64, insn: u64) -> u64 {
    let no = (desc & 0xfff) as u16;
    let op = (desc >> 12) & 3;
    let write = desc >> 15 & 1 != 0;
    // Reads have no side effects, so even a write-only access reads to check accessibility.
    let Some(old) = csr::read(cpu, no) else { return illegal(cpu, insn) };
    if write {
        // csrrs/csrrc modify the value as software wrote it: for `mip` that excludes the SEIP
        // the interrupt controller drives (priv spec 3.1.9).
        let base = csr::rmw_base(cpu, no, old);
        let new = match op {
            CSR_OP_SET => base | src,
            CSR_OP_CLEAR => base & !src,
            _ => src,
        };
        let keeps_block = csr::write_keeps_block(no);
        let before = keeps_block.then(|| (cpu.tb_flags(), cpu.env.tlb_gen));
        if !csr::write(cpu, no, new) {
            return illegal(cpu, insn);
        }
        // The block goes on to the next one without returning to the run loop (see
        // `write_keeps_block`): make it return if the run loop must look again.
        if let Some(before) = before {
            if before != (cpu.tb_flags(), cpu.env.tlb_gen) || trap::pending_interrupt(cpu).is_some() {
                cpu.request_exit();
            }
        }
    }
    old
}

unsafe extern "C" fn helper_csr(env: *mut Env, desc: u64, src: u64, insn: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    csr_op(unsafe { cpu(env) }, desc, src, insn)
}

/// After a trap return, an interrupt the new state enables must be taken before the next
/// instruction: ask the run loop to regain control.
fn exit_if_interrupt(cpu: &mut RiscvCpu) {
    if trap::pending_interrupt(cpu).is_some() {
        cpu.request_exit();
    }
}

unsafe extern "C" fn helper_mret(env: *mut Env, insn: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    match trap::mret(cpu) {
        Some(pc) => {
            exit_if_interrupt(cpu);
            pc
        }
        None => illegal(cpu, insn),
    }
}

unsafe extern "C" fn helper_sret(env: *mut Env, insn: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    match trap::sret(cpu) {
        Some(pc) => {
            exit_if_interrupt(cpu);
            pc
        }
        None => illegal(cpu, insn),
    }
}

unsafe extern "C" fn helper_wfi(env: *mut Env, insn: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    // Like QEMU: always illegal in U-mode (S exists), in S-mode when TW is set.
    let tw = cpu.csr.mstatus & mstatus::TW != 0;
    if cpu.priv_mode == PRV_U || (cpu.priv_mode == PRV_S && tw) {
        return illegal(cpu, insn);
    }
    cpu.waiting = true;
    0
}

unsafe extern "C" fn helper_sfence_vma(env: *mut Env, insn: u64, vaddr: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    if cpu.priv_mode == PRV_U || (cpu.priv_mode == PRV_S && cpu.csr.mstatus & mstatus::TVM != 0) {
        return illegal(cpu, insn);
    }
    let rs1 = (insn >> 15) & 31;
    // A superpage sits in the TLB as many 4 KiB entries: an address inside one flushes everything.
    if rs1 != 0 && !cpu.superpages.covers(vaddr) {
        cpu.env.flush_tlb_page(vaddr);
    } else {
        cpu.env.flush_tlb();
        cpu.superpages.clear();
    }
    0
}

unsafe extern "C" fn helper_fs_dirty(env: *mut Env, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: helper contract (see `cpu`).
    let cpu = unsafe { cpu(env) };
    cpu.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD;
    0
}

pub static HELPERS: &[HelperInfo] = &[
    HelperInfo { name: "raise", func: helper_raise, nargs: 2, may_raise: true },
    HelperInfo { name: "csr", func: helper_csr, nargs: 3, may_raise: true },
    HelperInfo { name: "mret", func: helper_mret, nargs: 1, may_raise: true },
    HelperInfo { name: "sret", func: helper_sret, nargs: 1, may_raise: true },
    HelperInfo { name: "wfi", func: helper_wfi, nargs: 1, may_raise: true },
    HelperInfo { name: "sfence_vma", func: helper_sfence_vma, nargs: 2, may_raise: true },
    HelperInfo { name: "fs_dirty", func: helper_fs_dirty, nargs: 0, may_raise: false },
];
