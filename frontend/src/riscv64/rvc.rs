//! RV64C: expansion of 16-bit compressed instructions to their 32-bit equivalents, so one set of
//! handlers serves both. Reserved encodings expand to `None` (the decoder raises illegal
//! instruction); HINT encodings expand to the corresponding instruction with `rd = x0`, which
//! executes as a no-op.

/// Bits `hi..=lo` of `c`, shifted down.
fn bits(c: u16, hi: u32, lo: u32) -> u32 {
    (c as u32 >> lo) & ((1 << (hi - lo + 1)) - 1)
}

fn bit(c: u16, n: u32) -> u32 {
    (c as u32 >> n) & 1
}

/// Sign-extend the low `n` bits of `v`.
fn sext(v: u32, n: u32) -> i32 {
    ((v << (32 - n)) as i32) >> (32 - n)
}

/// Register from a 3-bit compressed field (x8..x15 / f8..f15).
fn creg(v: u32) -> u32 {
    8 + v
}

const OP_LOAD: u32 = 0x03;
const OP_LOAD_FP: u32 = 0x07;
const OP_IMM: u32 = 0x13;
const OP_IMM_32: u32 = 0x1b;
const OP_STORE: u32 = 0x23;
const OP_STORE_FP: u32 = 0x27;
const OP_REG: u32 = 0x33;
const OP_LUI: u32 = 0x37;
const OP_REG_32: u32 = 0x3b;
const OP_BRANCH: u32 = 0x63;
const OP_JALR: u32 = 0x67;
const OP_JAL: u32 = 0x6f;
const EBREAK: u32 = 0x0010_0073;

fn i_type(op: u32, f3: u32, rd: u32, rs1: u32, imm: i32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | rs1 << 15 | f3 << 12 | rd << 7 | op
}

fn s_type(op: u32, f3: u32, rs1: u32, rs2: u32, imm: i32) -> u32 {
    let imm = imm as u32 & 0xfff;
    (imm >> 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (imm & 31) << 7 | op
}

fn r_type(op: u32, f3: u32, f7: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op
}

fn b_type(f3: u32, rs1: u32, rs2: u32, off: i32) -> u32 {
    let o = off as u32;
    ((o >> 12) & 1) << 31
        | ((o >> 5) & 0x3f) << 25
        | rs2 << 20
        | rs1 << 15
        | f3 << 12
        | ((o >> 1) & 0xf) << 8
        | ((o >> 11) & 1) << 7
        | OP_BRANCH
}

fn j_type(rd: u32, off: i32) -> u32 {
    let o = off as u32;
    ((o >> 20) & 1) << 31
        | ((o >> 1) & 0x3ff) << 21
        | ((o >> 11) & 1) << 20
        | ((o >> 12) & 0xff) << 12
        | rd << 7
        | OP_JAL
}

/// Immediate of c.addi/c.addiw/c.li/c.andi: imm[5] at bit 12, imm[4:0] at bits 6:2.
fn ci_imm(c: u16) -> i32 {
    sext(bit(c, 12) << 5 | bits(c, 6, 2), 6)
}

/// Unsigned 6-bit shift amount of c.slli/c.srli/c.srai.
fn ci_shamt(c: u16) -> i32 {
    (bit(c, 12) << 5 | bits(c, 6, 2)) as i32
}

/// Offset of c.lw/c.sw: uimm[5:3] at 12:10, uimm[2] at 6, uimm[6] at 5.
fn cl_w_off(c: u16) -> i32 {
    (bits(c, 12, 10) << 3 | bit(c, 6) << 2 | bit(c, 5) << 6) as i32
}

/// Offset of c.ld/c.sd/c.fld/c.fsd: uimm[5:3] at 12:10, uimm[7:6] at 6:5.
fn cl_d_off(c: u16) -> i32 {
    (bits(c, 12, 10) << 3 | bits(c, 6, 5) << 6) as i32
}

fn cj_off(c: u16) -> i32 {
    let v = bit(c, 12) << 11
        | bit(c, 11) << 4
        | bits(c, 10, 9) << 8
        | bit(c, 8) << 10
        | bit(c, 7) << 6
        | bit(c, 6) << 7
        | bits(c, 5, 3) << 1
        | bit(c, 2) << 5;
    sext(v, 12)
}

fn cb_off(c: u16) -> i32 {
    let v = bit(c, 12) << 8 | bits(c, 11, 10) << 3 | bits(c, 6, 5) << 6 | bits(c, 4, 3) << 1 | bit(c, 2) << 5;
    sext(v, 9)
}

/// Expand a 16-bit instruction (low bits != 11) to the 32-bit instruction it stands for.
pub fn expand(c: u16) -> Option<u32> {
    let f3 = bits(c, 15, 13);
    let rd = bits(c, 11, 7);
    let rs2 = bits(c, 6, 2);
    let rd_p = creg(bits(c, 4, 2));
    let rs1_p = creg(bits(c, 9, 7));
    match (c & 3, f3) {
        (0, 0) => {
            // c.addi4spn (imm 0, including the all-zero instruction, is reserved)
            let imm = bits(c, 12, 11) << 4 | bits(c, 10, 7) << 6 | bit(c, 6) << 2 | bit(c, 5) << 3;
            (imm != 0).then(|| i_type(OP_IMM, 0, rd_p, 2, imm as i32))
        }
        (0, 1) => Some(i_type(OP_LOAD_FP, 3, rd_p, rs1_p, cl_d_off(c))), // c.fld
        (0, 2) => Some(i_type(OP_LOAD, 2, rd_p, rs1_p, cl_w_off(c))),    // c.lw
        (0, 3) => Some(i_type(OP_LOAD, 3, rd_p, rs1_p, cl_d_off(c))),    // c.ld
        (0, 4) => None,
        (0, 5) => Some(s_type(OP_STORE_FP, 3, rs1_p, rd_p, cl_d_off(c))), // c.fsd
        (0, 6) => Some(s_type(OP_STORE, 2, rs1_p, rd_p, cl_w_off(c))),    // c.sw
        (0, 7) => Some(s_type(OP_STORE, 3, rs1_p, rd_p, cl_d_off(c))),    // c.sd
        (1, 0) => Some(i_type(OP_IMM, 0, rd, rd, ci_imm(c))),             // c.addi / c.nop / hints
        (1, 1) => (rd != 0).then(|| i_type(OP_IMM_32, 0, rd, rd, ci_imm(c))), // c.addiw
        (1, 2) => Some(i_type(OP_IMM, 0, rd, 0, ci_imm(c))),              // c.li
        (1, 3) if rd == 2 => {
            // c.addi16sp: nzimm[9] at 12, [4|6|8:7|5] at 6:2
            let v = bit(c, 12) << 9 | bit(c, 6) << 4 | bit(c, 5) << 6 | bits(c, 4, 3) << 7 | bit(c, 2) << 5;
            (v != 0).then(|| i_type(OP_IMM, 0, 2, 2, sext(v, 10)))
        }
        (1, 3) => {
            // c.lui: nzimm[17] at 12, nzimm[16:12] at 6:2
            let v = bit(c, 12) << 17 | bits(c, 6, 2) << 12;
            (v != 0).then(|| (sext(v, 18) as u32 & 0xffff_f000) | rd << 7 | OP_LUI)
        }
        (1, 4) => {
            let rd = rs1_p;
            match bits(c, 11, 10) {
                0 => Some(i_type(OP_IMM, 5, rd, rd, ci_shamt(c))),         // c.srli
                1 => Some(i_type(OP_IMM, 5, rd, rd, ci_shamt(c) | 0x400)), // c.srai
                2 => Some(i_type(OP_IMM, 7, rd, rd, ci_imm(c))),           // c.andi
                _ => {
                    let rs2 = rd_p;
                    match (bit(c, 12), bits(c, 6, 5)) {
                        (0, 0) => Some(r_type(OP_REG, 0, 0x20, rd, rd, rs2)),    // c.sub
                        (0, 1) => Some(r_type(OP_REG, 4, 0, rd, rd, rs2)),       // c.xor
                        (0, 2) => Some(r_type(OP_REG, 6, 0, rd, rd, rs2)),       // c.or
                        (0, 3) => Some(r_type(OP_REG, 7, 0, rd, rd, rs2)),       // c.and
                        (1, 0) => Some(r_type(OP_REG_32, 0, 0x20, rd, rd, rs2)), // c.subw
                        (1, 1) => Some(r_type(OP_REG_32, 0, 0, rd, rd, rs2)),    // c.addw
                        _ => None,
                    }
                }
            }
        }
        (1, 5) => Some(j_type(0, cj_off(c))),                   // c.j
        (1, 6) => Some(b_type(0, rs1_p, 0, cb_off(c))),         // c.beqz
        (1, 7) => Some(b_type(1, rs1_p, 0, cb_off(c))),         // c.bnez
        (2, 0) => Some(i_type(OP_IMM, 1, rd, rd, ci_shamt(c))), // c.slli
        (2, 1) => {
            // c.fldsp: uimm[5] at 12, uimm[4:3|8:6] at 6:2
            let off = bit(c, 12) << 5 | bits(c, 6, 5) << 3 | bits(c, 4, 2) << 6;
            Some(i_type(OP_LOAD_FP, 3, rd, 2, off as i32))
        }
        (2, 2) => {
            // c.lwsp: uimm[5] at 12, uimm[4:2|7:6] at 6:2
            let off = bit(c, 12) << 5 | bits(c, 6, 4) << 2 | bits(c, 3, 2) << 6;
            (rd != 0).then(|| i_type(OP_LOAD, 2, rd, 2, off as i32))
        }
        (2, 3) => {
            // c.ldsp
            let off = bit(c, 12) << 5 | bits(c, 6, 5) << 3 | bits(c, 4, 2) << 6;
            (rd != 0).then(|| i_type(OP_LOAD, 3, rd, 2, off as i32))
        }
        (2, 4) => match (bit(c, 12), rd, rs2) {
            (0, 0, 0) => None,                                    // c.jr x0: reserved
            (0, _, 0) => Some(i_type(OP_JALR, 0, 0, rd, 0)),      // c.jr
            (0, _, _) => Some(r_type(OP_REG, 0, 0, rd, 0, rs2)),  // c.mv
            (_, 0, 0) => Some(EBREAK),                            // c.ebreak
            (_, _, 0) => Some(i_type(OP_JALR, 0, 1, rd, 0)),      // c.jalr
            (_, _, _) => Some(r_type(OP_REG, 0, 0, rd, rd, rs2)), // c.add
        },
        (2, 5) => {
            // c.fsdsp: uimm[5:3|8:6] at 12:7
            let off = bits(c, 12, 10) << 3 | bits(c, 9, 7) << 6;
            Some(s_type(OP_STORE_FP, 3, 2, rs2, off as i32))
        }
        (2, 6) => {
            // c.swsp: uimm[5:2|7:6] at 12:7
            let off = bits(c, 12, 9) << 2 | bits(c, 8, 7) << 6;
            Some(s_type(OP_STORE, 2, 2, rs2, off as i32))
        }
        (2, 7) => {
            let off = bits(c, 12, 10) << 3 | bits(c, 9, 7) << 6;
            Some(s_type(OP_STORE, 3, 2, rs2, off as i32)) // c.sdsp
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (compressed, 32-bit) pairs from riscv64-unknown-elf-as: the same source line assembled with
    /// and without `.option rvc`.
    #[test]
    fn expansions_match_the_assembler() {
        let pairs: &[(u16, u32)] = &[
            (0x0800, 0x01010413), // addi s0, sp, 16
            (0x1ffc, 0x3fc10793), // addi a5, sp, 1020
            (0x2480, 0x0084b407), // fld fs0, 8(s1)
            (0x3ffc, 0x0f87b787), // fld fa5, 248(a5)
            (0x40c8, 0x0044a503), // lw a0, 4(s1)
            (0x5f7c, 0x07c72783), // lw a5, 124(a4)
            (0x7d64, 0x0f853483), // ld s1, 248(a0)
            (0xa60c, 0x00b63427), // fsd fa1, 8(a2)
            (0xc334, 0x04d72023), // sw a3, 64(a4)
            (0xe45c, 0x08f43423), // sd a5, 136(s0)
            (0x1575, 0xffd50513), // addi a0, a0, -3
            (0x0ffd, 0x01ff8f93), // addi t6, t6, 31
            (0x0001, 0x00000013), // nop
            (0x2515, 0x0055051b), // addiw a0, a0, 5
            (0x3281, 0xfe02829b), // addiw t0, t0, -32
            (0x5565, 0xff900513), // li a0, -7
            (0x43fd, 0x01f00393), // li t2, 31
            (0x657d, 0x0001f537), // lui a0, 0x1f
            (0x737d, 0xfffff337), // lui t1, 0xfffff
            (0x7139, 0xfc010113), // addi sp, sp, -64
            (0x617d, 0x1f010113), // addi sp, sp, 496
            (0x7101, 0xe0010113), // addi sp, sp, -512
            (0x9005, 0x02145413), // srli s0, s0, 33
            (0x8385, 0x0017d793), // srli a5, a5, 1
            (0x849d, 0x4074d493), // srai s1, s1, 7
            (0x957d, 0x43f55513), // srai a0, a0, 63
            (0x9879, 0xffe47413), // andi s0, s0, -2
            (0x8a7d, 0x01f67613), // andi a2, a2, 31
            (0x8c05, 0x40940433), // sub s0, s0, s1
            (0x8d3d, 0x00f54533), // xor a0, a0, a5
            (0x8dd1, 0x00c5e5b3), // or a1, a1, a2
            (0x8ef9, 0x00e6f6b3), // and a3, a3, a4
            (0x9f1d, 0x40f7073b), // subw a4, a4, a5
            (0x9ca1, 0x008484bb), // addw s1, s1, s0
            (0xaffd, 0x7fe0006f), // j .+2046
            (0xb001, 0x801ff06f), // j .-2048
            (0xa009, 0x0020006f), // j .+2
            (0xd001, 0xf00400e3), // beqz s0, .-256
            (0xecfd, 0x0e049f63), // bnez s1, .+254
            (0xc389, 0x00078163), // beqz a5, .+2
            (0x157e, 0x03f51513), // slli a0, a0, 63
            (0x0286, 0x00129293), // slli t0, t0, 1
            (0x357e, 0x1f813507), // fld fa0, 504(sp)
            (0x2022, 0x00813007), // fld ft0, 8(sp)
            (0x557e, 0x0fc12503), // lw a0, 252(sp)
            (0x4292, 0x00412283), // lw t0, 4(sp)
            (0x70fe, 0x1f813083), // ld ra, 504(sp)
            (0x6da2, 0x00813d83), // ld s11, 8(sp)
            (0x8082, 0x00008067), // jr ra
            (0x8f02, 0x000f0067), // jr t5
            (0x9002, 0x00100073), // ebreak
            (0x9502, 0x000500e7), // jalr a0
            (0x9f82, 0x000f80e7), // jalr t6
            (0x952e, 0x00b50533), // add a0, a0, a1
            (0x917e, 0x01f10133), // add sp, sp, t6
            (0xbfaa, 0x1ea13c27), // fsd fa0, 504(sp)
            (0xa46e, 0x01b13427), // fsd fs11, 8(sp)
            (0xdfaa, 0x0ea12e23), // sw a0, 252(sp)
            (0xc27e, 0x01f12223), // sw t6, 4(sp)
            (0xff86, 0x1e113c23), // sd ra, 504(sp)
            (0xe86e, 0x01b13823), // sd s11, 16(sp)
            (0x852e, 0x00b00533), // c.mv a0, a1 = add a0, x0, a1
        ];
        for &(c, w) in pairs {
            assert_eq!(expand(c), Some(w), "c=0x{c:04x}");
        }
    }

    #[test]
    fn reserved_encodings_are_illegal() {
        for c in [
            0x0000u16, // all zero (c.addi4spn imm 0)
            0x0004,    // c.addi4spn a1, imm 0
            0x8000,    // quadrant 0 funct3 100
            0x9c41,    // c.subw-space 10: reserved
            0x9c61,    // c.subw-space 11: reserved
            0x4002,    // c.lwsp x0
            0x6002,    // c.ldsp x0
            0x8002,    // c.jr x0
            0x2001,    // c.addiw x0
            0x6501,    // c.lui a0, 0
            0x6101,    // c.addi16sp 0
            0x6001,    // c.lui x0, 0
        ] {
            assert_eq!(expand(c), None, "c=0x{c:04x}");
        }
    }

    #[test]
    fn hints_expand_to_writes_of_x0_or_noops() {
        // c.nop with imm != 0 -> addi x0, x0, imm
        assert_eq!(expand(0x0005), Some(0x00100013));
        // c.li x0, 1 -> addi x0, x0, 1
        assert_eq!(expand(0x4005), Some(0x00100013));
        // c.lui x0, 1 -> lui x0, 1
        assert_eq!(expand(0x6005), Some(0x00001037));
        // c.mv x0, a0 -> add x0, x0, a0
        assert_eq!(expand(0x802a), Some(0x00a00033));
        // c.add x0, a0 -> add x0, x0, a0
        assert_eq!(expand(0x902a), Some(0x00a00033));
        // c.slli a0, 0 -> slli a0, a0, 0
        assert_eq!(expand(0x0502), Some(0x00051513));
        // c.addi a0, 0 -> addi a0, a0, 0
        assert_eq!(expand(0x0501), Some(0x00050513));
    }
}
