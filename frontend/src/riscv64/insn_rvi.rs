//! RV64I base integer instructions (except the system ones: fence, ecall, CSRs… in
//! `insn_system.rs`).

use mimic_translator::ir::{BinOp, Cond, MemSize, UnOp, Width};

use super::decode::fields::*;
use super::decode::Pattern;
use super::translate::Ctx;

const OPCODE: u32 = 0x7f;
const F3: u32 = 0x707f;
const F7: u32 = 0xfe00_707f;
const F6: u32 = 0xfc00_707f;

macro_rules! pat {
    ($name:literal, $mask:expr, $bits:expr, $h:ident) => {
        Pattern { name: $name, mask: $mask, bits: $bits, handler: $h }
    };
}

pub static TABLE: &[Pattern] = &[
    pat!("lui", OPCODE, 0x37, trans_lui),
    pat!("auipc", OPCODE, 0x17, trans_auipc),
    pat!("jal", OPCODE, 0x6f, trans_jal),
    pat!("jalr", F3, 0x67, trans_jalr),
    pat!("beq", F3, 0x0063, trans_branch),
    pat!("bne", F3, 0x1063, trans_branch),
    pat!("blt", F3, 0x4063, trans_branch),
    pat!("bge", F3, 0x5063, trans_branch),
    pat!("bltu", F3, 0x6063, trans_branch),
    pat!("bgeu", F3, 0x7063, trans_branch),
    pat!("lb", F3, 0x0003, trans_load),
    pat!("lh", F3, 0x1003, trans_load),
    pat!("lw", F3, 0x2003, trans_load),
    pat!("ld", F3, 0x3003, trans_load),
    pat!("lbu", F3, 0x4003, trans_load),
    pat!("lhu", F3, 0x5003, trans_load),
    pat!("lwu", F3, 0x6003, trans_load),
    pat!("sb", F3, 0x0023, trans_store),
    pat!("sh", F3, 0x1023, trans_store),
    pat!("sw", F3, 0x2023, trans_store),
    pat!("sd", F3, 0x3023, trans_store),
    pat!("addi", F3, 0x0013, trans_addi),
    pat!("slti", F3, 0x2013, trans_slti),
    pat!("sltiu", F3, 0x3013, trans_sltiu),
    pat!("xori", F3, 0x4013, trans_xori),
    pat!("ori", F3, 0x6013, trans_ori),
    pat!("andi", F3, 0x7013, trans_andi),
    pat!("slli", F6, 0x1013, trans_slli),
    pat!("srli", F6, 0x5013, trans_srli),
    pat!("srai", F6, 0x4000_5013, trans_srai),
    pat!("add", F7, 0x0033, trans_add),
    pat!("sub", F7, 0x4000_0033, trans_sub),
    pat!("sll", F7, 0x1033, trans_sll),
    pat!("slt", F7, 0x2033, trans_slt),
    pat!("sltu", F7, 0x3033, trans_sltu),
    pat!("xor", F7, 0x4033, trans_xor),
    pat!("srl", F7, 0x5033, trans_srl),
    pat!("sra", F7, 0x4000_5033, trans_sra),
    pat!("or", F7, 0x6033, trans_or),
    pat!("and", F7, 0x7033, trans_and),
    pat!("addiw", F3, 0x001b, trans_addiw),
    // *W immediate shifts: shamt[5] is part of the fixed bits, so shamt >= 32 matches nothing.
    pat!("slliw", F7, 0x101b, trans_slliw),
    pat!("srliw", F7, 0x501b, trans_srliw),
    pat!("sraiw", F7, 0x4000_501b, trans_sraiw),
    pat!("addw", F7, 0x003b, trans_addw),
    pat!("subw", F7, 0x4000_003b, trans_subw),
    pat!("sllw", F7, 0x103b, trans_sllw),
    pat!("srlw", F7, 0x503b, trans_srlw),
    pat!("sraw", F7, 0x4000_503b, trans_sraw),
];

fn trans_lui(ctx: &mut Ctx, i: u32) -> bool {
    if rd(i) != 0 {
        let v = ctx.imm(imm_u(i));
        ctx.set_gpr(rd(i), v);
    }
    true
}

fn trans_auipc(ctx: &mut Ctx, i: u32) -> bool {
    if rd(i) != 0 {
        let v = ctx.konst(ctx.pc.wrapping_add(imm_u(i) as u64));
        ctx.set_gpr(rd(i), v);
    }
    true
}

fn set_link(ctx: &mut Ctx, rd: u32) {
    if rd != 0 {
        let link = ctx.konst(ctx.next_pc());
        ctx.set_gpr(rd, link);
    }
}

fn trans_jal(ctx: &mut Ctx, i: u32) -> bool {
    set_link(ctx, rd(i));
    ctx.jump(ctx.pc.wrapping_add(imm_j(i) as u64));
    true
}

fn trans_jalr(ctx: &mut Ctx, i: u32) -> bool {
    // The target comes from rs1 before rd is written (rd may equal rs1).
    let base = ctx.gpr(rs1(i));
    let sum = ctx.bin_imm(BinOp::Add, base, imm_i(i) as u64);
    if let Some(t) = ctx.const_of(sum) {
        set_link(ctx, rd(i));
        ctx.jump(t & !1);
        return true;
    }
    let mask = ctx.konst(!1);
    let target = ctx.b.bin64(BinOp::And, sum, mask);
    set_link(ctx, rd(i));
    ctx.b.goto_ptr(target);
    ctx.ended = true;
    true
}

/// A conditional branch to `pc + offset` when `a cond b`.
pub(crate) fn branch(ctx: &mut Ctx, cond: Cond, rs1: u32, rs2: u32, offset: i64) {
    let target = ctx.pc.wrapping_add(offset as u64);
    let fall = ctx.next_pc();
    let a = ctx.gpr(rs1);
    let b = ctx.gpr(rs2);
    if let (Some(x), Some(y)) = (ctx.const_of(a), ctx.const_of(b)) {
        let taken = match cond {
            Cond::Eq => x == y,
            Cond::Ne => x != y,
            Cond::Lt => (x as i64) < y as i64,
            Cond::Ge => x as i64 >= y as i64,
            Cond::Ltu => x < y,
            Cond::Geu => x >= y,
        };
        ctx.jump(if taken { target } else { fall });
        return;
    }
    if target == fall {
        ctx.jump(fall);
        return;
    }
    let c = ctx.b.cmp(cond, a, b);
    let taken = ctx.b.new_label();
    ctx.b.br_cond(c, taken);
    ctx.b.goto(fall);
    ctx.b.label(taken);
    ctx.jump(target);
}

fn trans_branch(ctx: &mut Ctx, i: u32) -> bool {
    let cond = match funct3(i) {
        0 => Cond::Eq,
        1 => Cond::Ne,
        4 => Cond::Lt,
        5 => Cond::Ge,
        6 => Cond::Ltu,
        7 => Cond::Geu,
        _ => return false,
    };
    branch(ctx, cond, rs1(i), rs2(i), imm_b(i));
    true
}

/// `rs1 + offset`, the address of a load or store.
pub(crate) fn address(ctx: &mut Ctx, rs1: u32, offset: i64) -> mimic_translator::ir::Temp {
    let base = ctx.gpr(rs1);
    ctx.bin_imm(BinOp::Add, base, offset as u64)
}

fn trans_load(ctx: &mut Ctx, i: u32) -> bool {
    let (size, signed) = match funct3(i) {
        0 => (MemSize::B1, true),
        1 => (MemSize::B2, true),
        2 => (MemSize::B4, true),
        3 => (MemSize::B8, false),
        4 => (MemSize::B1, false),
        5 => (MemSize::B2, false),
        6 => (MemSize::B4, false),
        _ => return false,
    };
    let addr = address(ctx, rs1(i), imm_i(i));
    let mem = ctx.mem(size, signed);
    // The load happens even for rd = x0: it may fault.
    let v = ctx.b.load(addr, mem);
    ctx.set_gpr(rd(i), v);
    true
}

fn trans_store(ctx: &mut Ctx, i: u32) -> bool {
    let size = match funct3(i) {
        0 => MemSize::B1,
        1 => MemSize::B2,
        2 => MemSize::B4,
        3 => MemSize::B8,
        _ => return false,
    };
    let addr = address(ctx, rs1(i), imm_s(i));
    let v = ctx.gpr(rs2(i));
    let mem = ctx.mem(size, false);
    ctx.b.store(addr, v, mem);
    true
}

/// `rd = rs1 op imm` (64-bit), skipping the work entirely when rd is x0.
fn alu_imm(ctx: &mut Ctx, i: u32, op: BinOp, imm: u64) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let v = ctx.bin_imm(op, a, imm);
    ctx.set_gpr(rd(i), v);
    true
}

fn alu_reg(ctx: &mut Ctx, i: u32, op: BinOp) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let b = ctx.gpr(rs2(i));
    let v = ctx.bin64(op, a, b);
    ctx.set_gpr(rd(i), v);
    true
}

fn set_cmp(ctx: &mut Ctx, i: u32, cond: Cond, b: Option<i64>) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let b = match b {
        Some(imm) => ctx.imm(imm),
        None => ctx.gpr(rs2(i)),
    };
    let v = ctx.b.cmp(cond, a, b);
    ctx.set_gpr(rd(i), v);
    true
}

/// A `*W` operation: `rd = sext32(a op b)` computed on the low 32 bits.
fn alu_w(ctx: &mut Ctx, i: u32, op: BinOp, imm: Option<u64>) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let b = match imm {
        Some(v) => ctx.konst(v),
        None => ctx.gpr(rs2(i)),
    };
    let w = ctx.bin(op, Width::W32, a, b);
    let v = ctx.sext32(w);
    ctx.set_gpr(rd(i), v);
    true
}

fn trans_addi(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::Add, imm_i(i) as u64)
}
fn trans_slti(ctx: &mut Ctx, i: u32) -> bool {
    set_cmp(ctx, i, Cond::Lt, Some(imm_i(i)))
}
fn trans_sltiu(ctx: &mut Ctx, i: u32) -> bool {
    set_cmp(ctx, i, Cond::Ltu, Some(imm_i(i)))
}
fn trans_xori(ctx: &mut Ctx, i: u32) -> bool {
    if imm_i(i) == -1 && rd(i) != 0 {
        let a = ctx.gpr(rs1(i));
        let v = ctx.un(UnOp::Not, Width::W64, a);
        ctx.set_gpr(rd(i), v);
        return true;
    }
    alu_imm(ctx, i, BinOp::Xor, imm_i(i) as u64)
}
fn trans_ori(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::Or, imm_i(i) as u64)
}
fn trans_andi(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::And, imm_i(i) as u64)
}
fn trans_slli(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::Shl, shamt(i) as u64)
}
fn trans_srli(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::Shr, shamt(i) as u64)
}
fn trans_srai(ctx: &mut Ctx, i: u32) -> bool {
    alu_imm(ctx, i, BinOp::Sar, shamt(i) as u64)
}
fn trans_add(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Add)
}
fn trans_sub(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Sub)
}
fn trans_sll(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Shl)
}
fn trans_slt(ctx: &mut Ctx, i: u32) -> bool {
    set_cmp(ctx, i, Cond::Lt, None)
}
fn trans_sltu(ctx: &mut Ctx, i: u32) -> bool {
    set_cmp(ctx, i, Cond::Ltu, None)
}
fn trans_xor(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Xor)
}
fn trans_srl(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Shr)
}
fn trans_sra(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Sar)
}
fn trans_or(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::Or)
}
fn trans_and(ctx: &mut Ctx, i: u32) -> bool {
    alu_reg(ctx, i, BinOp::And)
}
fn trans_addiw(ctx: &mut Ctx, i: u32) -> bool {
    if rd(i) == 0 {
        return true;
    }
    // sext32(rs1 + imm): a 64-bit add has the same low word and folds with constants.
    let a = ctx.gpr(rs1(i));
    let s = ctx.bin_imm(BinOp::Add, a, imm_i(i) as u64);
    let v = ctx.sext32(s);
    ctx.set_gpr(rd(i), v);
    true
}
fn trans_slliw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Shl, Some(shamt(i) as u64))
}
fn trans_srliw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Shr, Some(shamt(i) as u64))
}
fn trans_sraiw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Sar, Some(shamt(i) as u64))
}
fn trans_addw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Add, None)
}
fn trans_subw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Sub, None)
}
fn trans_sllw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Shl, None)
}
fn trans_srlw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Shr, None)
}
fn trans_sraw(ctx: &mut Ctx, i: u32) -> bool {
    alu_w(ctx, i, BinOp::Sar, None)
}
