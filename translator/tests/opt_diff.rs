//! The IR clean-up (`opt::drop_dead_reg_writes`) against the interpreter: blocks with and
//! without it must leave everything observable the same (exit, registers, PC, budget, exception,
//! RAM, slow-path calls), including when a load, a store or a helper raises an exception halfway.

mod common;
use common::*;
use mimic_translator::ir::*;
use mimic_translator::opt::drop_dead_reg_writes;
use mimic_translator::verify::verify;

/// Straight-line runs that write a few registers over and over, read some back, and sprinkle
/// memory accesses (some to the faulting page), helper calls (some raising, one clobbering a
/// register) and branches between them.
fn rewriting_block(seed: u64) -> Block {
    let mut rnd = rng(seed);
    let pc = 0x8000_1000u64;
    let mut b = Builder::new(pc);
    let mut ipc = pc;
    let segments = 1 + rnd(3);
    let labels: Vec<Label> = (0..segments).map(|_| b.new_label()).collect();
    let mem = |size| MemOp { size, signed: false, mmu_idx: 0, align: false, rmw: false };
    for seg in 0..segments {
        let mut live = vec![b.konst(seg + 1)];
        for _ in 0..(3 + rnd(12)) {
            b.insn_start(ipc, 4);
            ipc += 4;
            let pick = |live: &Vec<Temp>, r: u64| live[(r % live.len() as u64) as usize];
            let t = match rnd(10) {
                0..=2 => {
                    let v = pick(&live, rnd(99));
                    b.set_reg(Reg(rnd(4) as u16), v);
                    continue;
                }
                3 | 4 => b.get_reg(Reg(rnd(4) as u16)),
                5 => {
                    let (p, q) = (pick(&live, rnd(99)), pick(&live, rnd(99)));
                    b.bin64(BinOp::Add, p, q)
                }
                6 => {
                    let page = if rnd(4) == 0 { FAULT_VA } else { RAM_VA };
                    let a = b.konst(page + 8 * rnd(16));
                    if rnd(2) == 0 {
                        let v = pick(&live, rnd(99));
                        b.store(a, v, mem(MemSize::B8));
                        continue;
                    }
                    b.load(a, mem(MemSize::B8))
                }
                7 => {
                    let p = pick(&live, rnd(99));
                    b.call(HelperId(H_RAISE_IF), &[p])
                }
                8 => {
                    let p = pick(&live, rnd(99));
                    b.call(HelperId(H_CLOBBER), &[p, p, p, p])
                }
                _ => b.konst(rnd(1000)),
            };
            live.push(t);
        }
        if seg + 1 < segments {
            let c = *live.last().expect("never empty");
            b.br_cond(c, labels[seg as usize + 1]);
            if rnd(2) == 0 {
                b.goto(ipc + 0x40);
            }
            b.label(labels[seg as usize + 1]);
        }
    }
    b.exit(ExitReason::Halt, ipc);
    let mut blk = b.finish();
    blk.ops.retain(|op| !matches!(op, Op::Label { label } if label.0 == 0));
    blk
}

#[test]
fn dropping_dead_register_writes_changes_nothing_observable() {
    let mut removed = 0;
    for seed in 0..4000u64 {
        for blk in [rewriting_block(seed * 7919 + 11), random_block(seed * 31 + 7)] {
            let mut opt = blk.clone();
            removed += drop_dead_reg_writes(&mut opt);
            verify(&opt, HELPERS).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            for budget in [1000, 1] {
                let same = run_interp(&opt, seed, budget) == run_interp(&blk, seed, budget);
                assert!(same, "seed {seed}, budget {budget}: the outcome changed");
            }
        }
    }
    assert!(removed > 1000, "the blocks give the pass something to do ({removed})");
}
