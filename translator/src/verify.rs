//! IR verifier: checks the structural rules of a [`Block`] that the interpreter and the JIT rely on
//! (single assignment, temps not crossing labels, forward-only labels, helper arity, terminators).
//!
//! Both backends assume a verified block; frontends run this in debug builds and tests.

use crate::helpers::{HelperTable, MAX_HELPER_ARGS};
use crate::ir::{BinOp, Block, HelperId, Label, Op, Temp, Width};
use crate::small::SmallBuf;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("op {op}: temp {temp} out of range (block has {count} temps)")]
    TempOutOfRange { op: usize, temp: Temp, count: u32 },
    #[error("op {op}: temp {temp} assigned twice")]
    TempRedefined { op: usize, temp: Temp },
    #[error("op {op}: temp {temp} used before its definition")]
    TempUndefined { op: usize, temp: Temp },
    #[error("op {op}: temp {temp} used across a label")]
    TempAcrossLabel { op: usize, temp: Temp },
    #[error("op {op}: label {label} out of range (block has {count} labels)")]
    LabelOutOfRange { op: usize, label: Label, count: u32 },
    #[error("op {op}: label {label} placed twice")]
    LabelPlacedTwice { op: usize, label: Label },
    #[error("op {op}: backward jump to label {label}")]
    BackwardJump { op: usize, label: Label },
    #[error("label {label} is jumped to but never placed")]
    LabelNotPlaced { label: Label },
    #[error("op {op}: helper {} out of range (table has {count} helpers)", helper.0)]
    HelperOutOfRange { op: usize, helper: HelperId, count: usize },
    #[error("op {op}: helper {name} takes {expected} arguments, call passes {got}")]
    HelperArity { op: usize, name: &'static str, expected: usize, got: usize },
    #[error("op {op}: {bin:?} exists only in 64-bit width")]
    WidthNotSupported { op: usize, bin: BinOp },
    #[error("block does not end with a terminator")]
    MissingTerminator,
    #[error("op {op}: unreachable op after a terminator")]
    OpAfterTerminator { op: usize },
    #[error("op {op}: memory access or call before the first InsnStart")]
    NoInsnStart { op: usize },
}

/// Check `block` against the IR rules documented in [`crate::ir`].
pub fn verify(block: &Block, helpers: HelperTable) -> Result<(), VerifyError> {
    let ntemps = block.temp_count();
    let nlabels = block.label_count();
    // Definition state per temp: the "region" (count of labels seen) it was defined in, or None.
    let mut def_region = SmallBuf::<Option<u32>, 128>::filled(ntemps as usize, None);
    let mut placed = SmallBuf::<bool, 64>::filled(nlabels as usize, false);
    let mut jumped = SmallBuf::<bool, 64>::filled(nlabels as usize, false);
    let mut region = 0u32;
    let mut seen_insn = false;
    let mut after_term = false;

    let check_label = |op: usize, l: Label| -> Result<usize, VerifyError> {
        if l.0 >= nlabels {
            return Err(VerifyError::LabelOutOfRange { op, label: l, count: nlabels });
        }
        Ok(l.0 as usize)
    };

    for (i, op) in block.ops.iter().enumerate() {
        if after_term && !matches!(op, Op::Label { .. }) {
            return Err(VerifyError::OpAfterTerminator { op: i });
        }
        for t in op.uses() {
            if t.0 >= ntemps {
                return Err(VerifyError::TempOutOfRange { op: i, temp: t, count: ntemps });
            }
            match def_region[t.0 as usize] {
                None => return Err(VerifyError::TempUndefined { op: i, temp: t }),
                Some(r) if r != region => return Err(VerifyError::TempAcrossLabel { op: i, temp: t }),
                Some(_) => {}
            }
        }
        match op {
            Op::InsnStart { .. } => seen_insn = true,
            Op::Load { .. } | Op::Store { .. } | Op::Call { .. } if !seen_insn => {
                return Err(VerifyError::NoInsnStart { op: i });
            }
            _ => {}
        }
        match op {
            Op::Bin { op: bin @ (BinOp::MulHs | BinOp::MulHu | BinOp::MulHsu), width: Width::W32, .. } => {
                return Err(VerifyError::WidthNotSupported { op: i, bin: *bin });
            }
            Op::Call { helper, args, .. } => {
                let info = helpers.get(helper.0 as usize).ok_or(VerifyError::HelperOutOfRange {
                    op: i,
                    helper: *helper,
                    count: helpers.len(),
                })?;
                if args.len() != info.nargs as usize || args.len() > MAX_HELPER_ARGS {
                    return Err(VerifyError::HelperArity {
                        op: i,
                        name: info.name,
                        expected: info.nargs as usize,
                        got: args.len(),
                    });
                }
            }
            Op::BrCond { label, .. } | Op::Br { label } => {
                let l = check_label(i, *label)?;
                if placed[l] {
                    return Err(VerifyError::BackwardJump { op: i, label: *label });
                }
                jumped[l] = true;
            }
            Op::Label { label } => {
                let l = check_label(i, *label)?;
                if placed[l] {
                    return Err(VerifyError::LabelPlacedTwice { op: i, label: *label });
                }
                placed[l] = true;
                region += 1;
            }
            _ => {}
        }
        if let Some(d) = op.dst() {
            if d.0 >= ntemps {
                return Err(VerifyError::TempOutOfRange { op: i, temp: d, count: ntemps });
            }
            if def_region[d.0 as usize].is_some() {
                return Err(VerifyError::TempRedefined { op: i, temp: d });
            }
            def_region[d.0 as usize] = Some(region);
        }
        after_term = op.is_terminator();
    }
    if !block.ops.last().is_some_and(Op::is_terminator) {
        return Err(VerifyError::MissingTerminator);
    }
    if let Some(l) = (0..nlabels as usize).find(|&l| jumped[l] && !placed[l]) {
        return Err(VerifyError::LabelNotPlaced { label: Label(l as u32) });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::env::Env;
    use crate::helpers::HelperInfo;
    use crate::ir::{Builder, Cond, ExitReason, MemOp, MemSize, Reg};

    unsafe extern "C" fn h_add(_: *mut Env, a: u64, b: u64, _: u64, _: u64) -> u64 {
        a.wrapping_add(b)
    }

    pub static HELPERS: &[HelperInfo] = &[HelperInfo { name: "add2", func: h_add, nargs: 2, may_raise: false }];

    fn base() -> Builder {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        b
    }

    #[test]
    fn accepts_well_formed_block() {
        let mut b = base();
        let x = b.get_reg(Reg(1));
        let c = b.konst(0);
        let k = b.cmp(Cond::Eq, x, c);
        let l = b.new_label();
        b.br_cond(k, l);
        let a = b.load(x, MemOp::new(MemSize::B4, true, 0));
        let s = b.call(HelperId(0), &[a, x]);
        b.set_reg(Reg(2), s);
        b.goto(0x1004);
        b.label(l);
        b.goto(0x2000);
        assert_eq!(verify(&b.finish(), HELPERS), Ok(()));
    }

    #[test]
    fn rejects_redefinition() {
        let mut b = base();
        let t = b.konst(1);
        b.push(Op::Const { dst: t, value: 2 });
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::TempRedefined { .. })));
    }

    #[test]
    fn rejects_use_before_def() {
        let mut b = base();
        let t = b.new_temp();
        b.set_reg(Reg(1), t);
        b.push(Op::Const { dst: t, value: 2 });
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::TempUndefined { .. })));
    }

    #[test]
    fn rejects_out_of_range_temp() {
        let mut b = base();
        b.set_reg(Reg(1), Temp(7));
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::TempOutOfRange { .. })));
    }

    #[test]
    fn rejects_temp_across_label() {
        let mut b = base();
        let t = b.konst(1);
        let l = b.new_label();
        b.br_cond(t, l);
        b.label(l);
        b.set_reg(Reg(1), t);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::TempAcrossLabel { .. })));
    }

    #[test]
    fn rejects_backward_jump() {
        let mut b = base();
        let l = b.new_label();
        b.label(l);
        b.br(l);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::BackwardJump { .. })));
    }

    #[test]
    fn rejects_label_placed_twice() {
        let mut b = base();
        let l = b.new_label();
        b.label(l);
        b.label(l);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::LabelPlacedTwice { .. })));
    }

    #[test]
    fn rejects_unplaced_label() {
        let mut b = base();
        let c = b.konst(1);
        let l = b.new_label();
        b.br_cond(c, l);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::LabelNotPlaced { .. })));
    }

    #[test]
    fn rejects_unknown_label() {
        let mut b = base();
        b.br(Label(3));
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::LabelOutOfRange { .. })));
    }

    #[test]
    fn rejects_bad_helper_id_and_arity() {
        let mut b = base();
        let c = b.konst(1);
        b.call(HelperId(5), &[c, c]);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::HelperOutOfRange { .. })));
        let mut b = base();
        let c = b.konst(1);
        b.call(HelperId(0), &[c]);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::HelperArity { .. })));
    }

    #[test]
    fn rejects_32bit_mulh() {
        for op in [BinOp::MulHs, BinOp::MulHu, BinOp::MulHsu] {
            let mut b = base();
            let c = b.konst(1);
            b.bin(op, Width::W32, c, c);
            b.goto(0);
            assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::WidthNotSupported { .. })));
        }
    }

    #[test]
    fn rejects_missing_terminator() {
        let mut b = base();
        b.konst(1);
        assert_eq!(verify(&b.finish(), HELPERS), Err(VerifyError::MissingTerminator));
        assert_eq!(verify(&Block::new(0), HELPERS), Err(VerifyError::MissingTerminator));
    }

    #[test]
    fn rejects_op_after_terminator() {
        let mut b = base();
        b.exit(ExitReason::Halt, 0);
        b.konst(1);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::OpAfterTerminator { .. })));
    }

    #[test]
    fn rejects_memory_before_insn_start() {
        let mut b = Builder::new(0);
        let c = b.konst(0);
        b.load(c, MemOp::new(MemSize::B1, false, 0));
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::NoInsnStart { .. })));
        let mut b = Builder::new(0);
        let c = b.konst(0);
        b.call(HelperId(0), &[c, c]);
        b.goto(0);
        assert!(matches!(verify(&b.finish(), HELPERS), Err(VerifyError::NoInsnStart { .. })));
    }
}
