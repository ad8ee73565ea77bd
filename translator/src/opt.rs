//! IR clean-up run on every block before any tier sees it: guest register writes nobody can
//! observe, and the pure computations only they used.
//!
//! Compiled guest code often rewrites a register within a few instructions (`sub a7, t1, a2;
//! slli a7, a7, 3`). The Cranelift tier already stores only the last value of each register, but
//! the baseline tier and the interpreter store every `SetReg` as it comes; dropping the dead ones
//! here serves both, and costs one backward pass per translated block.

use crate::ir::{Block, Op};
use crate::small::SmallBuf;

/// Registers as a bit set (the register file has fewer than 128 slots; larger indexes share the
/// top bit, which only makes the pass more conservative).
fn bit(reg: u16) -> u128 {
    1u128 << reg.min(127)
}

/// Remove from `block` every `SetReg` that a later `SetReg` of the same register overwrites
/// before anything may look at the register file, then every pure op whose result is no longer
/// used. Looking at the register file: a read of that register; a helper call (it may read any
/// register); a load or store (its slow path may raise a guest exception, which must see the
/// registers as they were at that instruction); and any branch, label or exit. Returns how many
/// ops were removed. The block's temps keep their numbers.
pub fn drop_dead_reg_writes(block: &mut Block) -> usize {
    let n = block.ops.len();
    let mut keep = SmallBuf::<bool, 512>::filled(n, true);
    let mut used = SmallBuf::<bool, 256>::filled(block.temp_count() as usize, false);
    // Registers written later in the current straight-line run, with nothing in between that
    // may observe them.
    let mut overwritten: u128 = 0;
    // One backward pass: every later op has been seen when an op is judged. Temps are assigned
    // once, so chains of pure ops that only fed dead ones go too, and a read that nothing uses
    // observes nothing.
    for i in (0..n).rev() {
        let op = &block.ops[i];
        let live = match op {
            Op::SetReg { reg, .. } => {
                let dead = overwritten & bit(reg.0) != 0;
                overwritten |= bit(reg.0);
                !dead
            }
            Op::Const { dst, .. }
            | Op::GetReg { dst, .. }
            | Op::Bin { dst, .. }
            | Op::Un { dst, .. }
            | Op::Cmp { dst, .. }
            | Op::Select { dst, .. } => used.get(dst.0 as usize).copied().unwrap_or(true),
            Op::InsnStart { .. } => true,
            _ => {
                overwritten = 0;
                true
            }
        };
        if !live {
            keep[i] = false;
            continue;
        }
        if let Op::GetReg { reg, .. } = op {
            overwritten &= !bit(reg.0);
        }
        for t in op.uses() {
            if let Some(u) = used.get_mut(t.0 as usize) {
                *u = true;
            }
        }
    }
    if !keep.contains(&false) {
        return 0;
    }
    let mut k = keep.iter();
    block.ops.retain(|_| *k.next().unwrap_or(&true));
    n - block.ops.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinOp, Builder, ExitReason, MemOp, MemSize, Reg};

    #[test]
    fn only_unobserved_rewrites_go() {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let x = b.get_reg(Reg(1));
        let y = b.konst(3);
        let s = b.bin64(BinOp::Add, x, y);
        b.set_reg(Reg(2), s); // dead: rewritten below with no observer in between
        let t = b.bin64(BinOp::Shl, x, y);
        b.set_reg(Reg(2), t);
        b.set_reg(Reg(3), s); // kept: the load below may fault and expose it
        let m = MemOp { size: MemSize::B8, signed: false, mmu_idx: 0, align: false, rmw: false };
        let v = b.load(x, m);
        b.set_reg(Reg(3), v);
        b.set_reg(Reg(4), v); // kept: read back below
        let r = b.get_reg(Reg(4));
        b.set_reg(Reg(4), r);
        b.exit(ExitReason::Halt, 0x1004);
        let mut blk = b.finish();
        let before = blk.clone();
        assert_eq!(drop_dead_reg_writes(&mut blk), 1);
        let sets = |b: &Block| b.ops.iter().filter(|o| matches!(o, Op::SetReg { .. })).count();
        assert_eq!(sets(&blk), sets(&before) - 1);
        crate::verify::verify(&blk, &[]).expect("still valid");
    }

    #[test]
    fn a_value_only_a_dead_write_used_goes_too() {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let x = b.get_reg(Reg(1));
        let y = b.bin64(BinOp::Mul, x, x);
        b.set_reg(Reg(2), y);
        let z = b.konst(7);
        b.set_reg(Reg(2), z);
        b.exit(ExitReason::Halt, 0x1004);
        let mut blk = b.finish();
        // The dead write, the multiply and the read of r1 that fed it.
        assert_eq!(drop_dead_reg_writes(&mut blk), 3);
    }

    #[test]
    fn a_read_nothing_uses_does_not_keep_a_write_alive() {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let x = b.konst(1);
        b.set_reg(Reg(2), x); // dead: the read below is unused, the write after overwrites it
        let _unused = b.get_reg(Reg(2));
        let y = b.konst(2);
        b.set_reg(Reg(2), y);
        b.exit(ExitReason::Halt, 0x1004);
        let mut blk = b.finish();
        // The first write, its constant and the unused read.
        assert_eq!(drop_dead_reg_writes(&mut blk), 3);
        assert_eq!(blk.ops.iter().filter(|o| matches!(o, Op::SetReg { .. })).count(), 1);
        crate::verify::verify(&blk, &[]).expect("still valid");
    }
}
