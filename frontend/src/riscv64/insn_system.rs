//! System instructions: CSR access, ecall/ebreak, trap return, wfi, fences, sfence.vma.

use mimic_translator::ir::ExitReason;

use super::csr;
use super::decode::fields::{funct3, rd, rs1};
use super::decode::Pattern;
use super::helpers::{self, csr_desc, CSR_OP_WRITE};
use super::translate::{cause, Ctx};
use super::trap;

/// Decoder table for the system opcode and MISC-MEM fences.
pub static TABLE: &[Pattern] = &[
    Pattern { name: "ecall", mask: 0xffff_ffff, bits: 0x0000_0073, handler: ecall },
    Pattern { name: "ebreak", mask: 0xffff_ffff, bits: 0x0010_0073, handler: ebreak },
    Pattern { name: "sret", mask: 0xffff_ffff, bits: 0x1020_0073, handler: sret },
    Pattern { name: "mret", mask: 0xffff_ffff, bits: 0x3020_0073, handler: mret },
    Pattern { name: "wfi", mask: 0xffff_ffff, bits: 0x1050_0073, handler: wfi },
    Pattern { name: "sfence.vma", mask: 0xfe00_7fff, bits: 0x1200_0073, handler: sfence_vma },
    Pattern { name: "csrrw", mask: 0x707f, bits: 0x1073, handler: csr },
    Pattern { name: "csrrs", mask: 0x707f, bits: 0x2073, handler: csr },
    Pattern { name: "csrrc", mask: 0x707f, bits: 0x3073, handler: csr },
    Pattern { name: "csrrwi", mask: 0x707f, bits: 0x5073, handler: csr },
    Pattern { name: "csrrsi", mask: 0x707f, bits: 0x6073, handler: csr },
    Pattern { name: "csrrci", mask: 0x707f, bits: 0x7073, handler: csr },
    // fence (incl. fence.tso and pause): ordering is trivially met by a single hart.
    Pattern { name: "fence", mask: 0x707f, bits: 0x000f, handler: fence },
    Pattern { name: "fence.i", mask: 0x707f, bits: 0x100f, handler: fence_i },
];

fn ecall(ctx: &mut Ctx, _: u32) -> bool {
    ctx.raise(trap::ecall_cause(ctx.priv_level()), 0);
    true
}

fn ebreak(ctx: &mut Ctx, _: u32) -> bool {
    ctx.raise(cause::BREAKPOINT, ctx.pc);
    true
}

/// Trap returns: the helper checks privilege and returns the new pc; the lookup that follows
/// re-evaluates the (changed) translation flags.
fn trap_return(ctx: &mut Ctx, helper: usize) -> bool {
    let raw = ctx.b.konst(ctx.raw as u64);
    let pc = ctx.b.call(helpers::id(helper), &[raw]);
    ctx.b.goto_ptr(pc);
    ctx.ended = true;
    true
}

fn mret(ctx: &mut Ctx, _: u32) -> bool {
    trap_return(ctx, helpers::H_MRET)
}

fn sret(ctx: &mut Ctx, _: u32) -> bool {
    trap_return(ctx, helpers::H_SRET)
}

fn wfi(ctx: &mut Ctx, _: u32) -> bool {
    let raw = ctx.b.konst(ctx.raw as u64);
    ctx.b.call_void(helpers::id(helpers::H_WFI), &[raw]);
    ctx.b.exit(ExitReason::Halt, ctx.next_pc());
    ctx.ended = true;
    true
}

fn sfence_vma(ctx: &mut Ctx, insn: u32) -> bool {
    // Known illegal in U-mode at translation time; S-mode TVM is checked by the helper.
    if ctx.priv_level() == super::cpu::PRV_U {
        return false;
    }
    let raw = ctx.b.konst(ctx.raw as u64);
    let va = ctx.gpr(rs1(insn));
    ctx.b.call_void(helpers::id(helpers::H_SFENCE_VMA), &[raw, va]);
    ctx.end_reevaluate();
    true
}

fn csr(ctx: &mut Ctx, insn: u32) -> bool {
    let f3 = funct3(insn);
    let op = (f3 & 3) as u64;
    let (rd, rs1) = (rd(insn), rs1(insn));
    // csrrs/csrrc with x0 (or a zero immediate) do not write; csrrw always does.
    let write = op == CSR_OP_WRITE || rs1 != 0;
    let src = if f3 & 4 != 0 { ctx.b.konst(rs1 as u64) } else { ctx.gpr(rs1) };
    let desc = ctx.b.konst(csr_desc((insn >> 20) as u16, op, write));
    let raw = ctx.b.konst(ctx.raw as u64);
    let old = ctx.b.call(helpers::id(helpers::H_CSR), &[desc, src, raw]);
    ctx.set_gpr(rd, old);
    let no = (insn >> 20) as u16;
    if write && csr::write_keeps_block(no) {
        // Chained on unless the helper finds that the run loop must look again.
        ctx.jump(ctx.next_pc());
    } else if write {
        // The write may change paging, permissions, timers or counters.
        ctx.end_reevaluate();
    } else if matches!(no, csr::CYCLE | csr::INSTRET | csr::MCYCLE | csr::MINSTRET) {
        // The count is exact only at block boundaries (each block charges its whole length on
        // entry), so two reads must not share a block.
        ctx.jump(ctx.next_pc());
    }
    true
}

fn fence(_: &mut Ctx, _: u32) -> bool {
    true
}

fn fence_i(ctx: &mut Ctx, _: u32) -> bool {
    ctx.b.exit(ExitReason::FlushCode, ctx.next_pc());
    ctx.ended = true;
    true
}
