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
    if let Some(ic) = ctx.if_convert.filter(|ic| ic.target == target) {
        ctx.begin_skip(c, ic);
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::super::decode::tests::{is_illegal, name_of, translate_one};
    use super::*;
    use mimic_translator::ir::{ExitReason, Op, Reg};

    /// Encodings from riscv64-unknown-elf-as -march=rv64gc (no aliases).
    #[test]
    fn assembler_encodings_decode() {
        for (w, n) in [
            (0x12345537, "lui"),
            (0x12345517, "auipc"),
            (0x001000ef, "jal"),
            (0x010500e7, "jalr"),
            (0x00b50863, "beq"),
            (0x00b51863, "bne"),
            (0x00b54863, "blt"),
            (0x00b55863, "bge"),
            (0x00b56863, "bltu"),
            (0x00b57863, "bgeu"),
            (0xfff58503, "lb"),
            (0xfff59503, "lh"),
            (0xfff5a503, "lw"),
            (0xfff5b503, "ld"),
            (0xfff5c503, "lbu"),
            (0xfff5d503, "lhu"),
            (0xfff5e503, "lwu"),
            (0xfea58fa3, "sb"),
            (0xfea59fa3, "sh"),
            (0xfea5afa3, "sw"),
            (0xfea5bfa3, "sd"),
            (0xfff58513, "addi"),
            (0xfff5a513, "slti"),
            (0xfff5b513, "sltiu"),
            (0xfff5c513, "xori"),
            (0xfff5e513, "ori"),
            (0xfff5f513, "andi"),
            (0x03f59513, "slli"),
            (0x03f5d513, "srli"),
            (0x43f5d513, "srai"),
            (0x00c58533, "add"),
            (0x40c58533, "sub"),
            (0x00c59533, "sll"),
            (0x00c5a533, "slt"),
            (0x00c5b533, "sltu"),
            (0x00c5c533, "xor"),
            (0x00c5d533, "srl"),
            (0x40c5d533, "sra"),
            (0x00c5e533, "or"),
            (0x00c5f533, "and"),
            (0xfff5851b, "addiw"),
            (0x01f5951b, "slliw"),
            (0x01f5d51b, "srliw"),
            (0x41f5d51b, "sraiw"),
            (0x00c5853b, "addw"),
            (0x40c5853b, "subw"),
            (0x00c5953b, "sllw"),
            (0x00c5d53b, "srlw"),
            (0x40c5d53b, "sraw"),
        ] {
            assert_eq!(name_of(w), Some(n), "{w:08x}");
        }
    }

    #[test]
    fn w_shifts_with_shamt_5_and_bad_funct_are_illegal() {
        assert!(is_illegal(0x01f5951b | 1 << 25)); // slliw a0, a1, 63
        assert!(is_illegal(0x01f5d51b | 1 << 25)); // srliw
        assert!(is_illegal(0x41f5d51b | 1 << 25)); // sraiw
        assert!(is_illegal(0x00c58533 | 1 << 26)); // add with a stray funct7 bit
        assert!(is_illegal(0x0005f503)); // load funct3 7
        assert!(is_illegal(0x0005c523)); // store funct3 4
        assert!(is_illegal(0x00a52063 | 2 << 12)); // branch funct3 2
        assert!(is_illegal(0x000500e7 | 1 << 12)); // jalr funct3 1
        assert!(is_illegal(0x2005d513)); // srli with funct6 001000
    }

    #[test]
    fn rv64_shifts_take_six_bit_amounts() {
        let ctx = translate_one(0x03f59513); // slli a0, a1, 63
        assert!(ctx.b.block().ops.iter().any(|o| matches!(o, Op::Const { value: 63, .. })));
    }

    #[test]
    fn jalr_reads_rs1_before_writing_rd_and_clears_bit_0() {
        let ctx = translate_one(0x001080e7); // jalr ra, 1(ra)
        let ops = &ctx.b.block().ops;
        let get = ops.iter().position(|o| matches!(o, Op::GetReg { reg: Reg(1), .. })).unwrap();
        let set = ops.iter().position(|o| matches!(o, Op::SetReg { reg: Reg(1), .. })).unwrap();
        assert!(get < set);
        assert!(ops.iter().any(|o| matches!(o, Op::Const { value, .. } if *value == !1)));
        assert!(matches!(ops.last(), Some(Op::GotoPtr { .. })));
        assert!(ctx.ended);
        // link = pc + 4
        assert!(ops.iter().any(|o| matches!(o, Op::Const { value: 0x1004, .. })));
    }

    #[test]
    fn jalr_from_x0_is_a_direct_jump() {
        let ctx = translate_one(0x7ff00067); // jalr x0, 2047(x0)
        assert_eq!(ctx.b.block().ops.last(), Some(&Op::Goto { pc: 2046 }));
    }

    #[test]
    fn branch_shape_is_brcond_fallthrough_label_target() {
        let ctx = translate_one(0x00b50863); // beq a0, a1, .+16
        let ops = &ctx.b.block().ops;
        let n = ops.len();
        assert!(matches!(ops[n - 4], Op::BrCond { .. }));
        assert_eq!(ops[n - 3], Op::Goto { pc: 0x1004 });
        assert!(matches!(ops[n - 2], Op::Label { .. }));
        assert_eq!(ops[n - 1], Op::Goto { pc: 0x1010 });
    }

    #[test]
    fn compressed_branch_falls_through_by_two() {
        let ctx = translate_one(0xc389); // c.beqz a5, .+2 -> target == fallthrough
        assert_eq!(ctx.b.block().ops.last(), Some(&Op::Goto { pc: 0x1002 }));
        let ctx = translate_one(0xd001); // c.beqz s0, .-256
        let ops = &ctx.b.block().ops;
        assert!(ops.contains(&Op::Goto { pc: 0x1002 }));
        assert!(ops.contains(&Op::Goto { pc: 0x1000 - 256 }));
    }

    #[test]
    fn load_to_x0_still_loads() {
        let ctx = translate_one(0xfff5b003); // ld x0, -1(a1)
        let ops = &ctx.b.block().ops;
        assert!(ops.iter().any(|o| matches!(o, Op::Load { .. })));
        assert!(!ops.iter().any(|o| matches!(o, Op::SetReg { .. })));
    }

    #[test]
    fn lw_sign_extends_and_lwu_does_not() {
        let ctx = translate_one(0xfff5a503);
        assert!(ctx
            .b
            .block()
            .ops
            .iter()
            .any(|o| matches!(o, Op::Load { mem, .. } if mem.signed && mem.size == MemSize::B4)));
        let ctx = translate_one(0xfff5e503);
        assert!(ctx
            .b
            .block()
            .ops
            .iter()
            .any(|o| matches!(o, Op::Load { mem, .. } if !mem.signed && mem.size == MemSize::B4)));
    }

    #[test]
    fn li_is_one_constant() {
        let ctx = translate_one(0xfff00513); // addi a0, x0, -1
        let ops = &ctx.b.block().ops;
        assert!(!ops.iter().any(|o| matches!(o, Op::Bin { .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Const { value: u64::MAX, .. })));
    }

    #[test]
    fn addiw_sign_extends() {
        let ctx = translate_one(0xfff5851b);
        assert!(ctx.b.block().ops.iter().any(|o| matches!(o, Op::Un { op: UnOp::Sext32, .. })));
    }

    #[test]
    fn compressed_illegal_reports_16_bit_tval() {
        assert!(is_illegal(0x8002)); // c.jr x0
        let ctx = translate_one(0x8002);
        assert!(matches!(ctx.b.block().ops.last(), Some(Op::Exit { reason: ExitReason::Exception, .. })));
    }
}
