//! Differential tests of what only the Cranelift tier does (the contract it shares with the
//! baseline tier is in `backend_diff.rs`): code at opt_level none, one-block loops kept inside
//! one function, and regions of several blocks, each against the interpreter.

mod common;
use common::*;
use mimic_translator::env::{unpack_exit, ExitCode};
use mimic_translator::ir::*;
use mimic_translator::jit::{Jit, JitConfig};
use mimic_translator::verify::verify;
use std::sync::atomic::AtomicPtr;

fn jit() -> Jit {
    Jit::for_tests()
}

#[test]
fn opt_level_none_matches_too() {
    let mut j = Jit::new(HELPERS, JitConfig { opt_level: "none", ..Default::default() }).unwrap();
    for seed in 0..100u64 {
        check(&mut j, &random_block(seed * 31 + 5), seed, 1000);
    }
}

/// A one-block loop (registers and budget carried in host registers inside the compiled
/// function) against the interpreter running the same block once per iteration: same registers,
/// memory, slow-path calls and exit, also when the budget runs out mid-loop or a store faults.
#[test]
fn self_loop_matches_interpreted_iterations() {
    const PC: u64 = 0x4000;
    let lp = |fault_at: u64| {
        let mut b = Builder::new(PC);
        b.insn_start(PC, 4);
        let r1 = b.get_reg(Reg(1));
        let one = b.konst(1);
        let n = b.bin64(BinOp::Add, r1, one);
        b.set_reg(Reg(1), n);
        b.insn_start(PC + 4, 4);
        let m = b.konst(0x3f8);
        let off = b.bin64(BinOp::And, n, m);
        let base = b.konst(RAM_VA);
        let a = b.bin64(BinOp::Add, base, off);
        let v = b.load(a, MemOp::new(MemSize::B8, false, 0));
        let r2 = b.get_reg(Reg(2));
        let x = b.bin64(BinOp::Xor, r2, v);
        b.set_reg(Reg(2), x);
        b.insn_start(PC + 8, 4);
        let at = b.konst(fault_at);
        let hit = b.cmp(Cond::Eq, n, at);
        let fault = b.konst(FAULT_VA);
        let sa = b.select(hit, fault, a);
        b.store(sa, x, MemOp::new(MemSize::B8, false, 0));
        b.insn_start(PC + 12, 4);
        let lim = b.get_reg(Reg(4));
        let c = b.cmp(Cond::Ne, n, lim);
        let l = b.new_label();
        b.br_cond(c, l);
        b.goto(0x5000);
        b.label(l);
        b.goto(PC);
        b.finish()
    };
    let setup = |w: &mut World, budget: i64| {
        w.env.budget = budget;
        w.env.regs[1] = 0;
        w.env.regs[4] = 20;
    };
    let mut j = jit();
    for fault_at in [1000, 7] {
        let blk = lp(fault_at);
        verify(&blk, HELPERS).unwrap();
        let s = slots(&blk);
        let c = j.compile(&blk, 7, s.as_ptr()).unwrap();
        for budget in [1000, 4 * 5 + 3, 4 * 20, 0] {
            let mut wi = World::new(3);
            setup(&mut wi, budget);
            SLOW_LOG.with(|l| l.borrow_mut().clear());
            let exit_i = loop {
                // SAFETY: valid env with runtime; TLB maps into wi.ram.
                let e = unsafe { mimic_translator::interp::interpret(&blk, 7, &mut *wi.env, HELPERS) };
                if unpack_exit(e).0 != ExitCode::Goto || wi.env.pc != PC {
                    break e;
                }
            };
            let log_i = SLOW_LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
            let mut wj = World::new(3);
            setup(&mut wj, budget);
            // SAFETY: code from this generation; env valid as above.
            let exit_j = unsafe { j.enter(c.code, &mut *wj.env) };
            let log_j = SLOW_LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
            let what = format!("fault_at {fault_at} budget {budget}");
            assert_eq!(unpack_exit(exit_j), unpack_exit(exit_i), "{what}");
            assert_eq!(wj.env.regs[..], wi.env.regs[..], "{what}");
            assert_eq!(
                (wj.env.pc, wj.env.budget, wj.env.exception_pending),
                (wi.env.pc, wi.env.budget, wi.env.exception_pending),
                "{what}"
            );
            assert_eq!(wj.ram, wi.ram, "{what}");
            assert_eq!(log_j, log_i, "{what}");
        }
    }
}

#[test]
fn region_of_two_blocks_loops_inside_one_function() {
    use mimic_translator::jit::RegionMember;
    let mut j = jit();
    let (a, bb) = (counting_block(0x1000, 0x1800, false), counting_block(0x1800, 0x1000, false));
    let (sa, sb) = (slots(&a), slots(&bb));
    let members = [
        RegionMember { block: &a, block_id: 1, exit_slots: sa.as_ptr() },
        RegionMember { block: &bb, block_id: 2, exit_slots: sb.as_ptr() },
    ];
    let c = j.compile_region(&members, &[(0, 0, 1), (1, 0, 0)]).unwrap();
    let mut w = World::new(1);
    w.env.regs[COUNT_REG] = 0;
    w.env.budget = 1001;
    // SAFETY: valid env and code.
    let exit = unsafe { j.enter(c.code, &mut *w.env) };
    // 1001 blocks ran (A first), then B's entry could not pay.
    assert_eq!(unpack_exit(exit), (ExitCode::Budget, 2, 0));
    assert_eq!((w.env.regs[COUNT_REG], w.env.pc, w.env.budget), (1001, 0x1800, 0));
}

/// Random blocks compiled as one region, with random edges between their `Goto` exits (each
/// edge's goto retargeted to its member's PC), must behave exactly like interpreting the members
/// one after the other along those edges.
#[test]
fn random_regions_match_the_interpreter_following_the_edges() {
    use mimic_translator::jit::RegionMember;
    let mut j = jit();
    for seed in 0..400u64 {
        let mut rnd = rng(seed.wrapping_mul(0x9e37_79b9) + 5);
        let n = 1 + rnd(4) as usize;
        let mut blocks: Vec<Block> = (0..n).map(|k| random_block(seed * 131 + k as u64 * 17 + 3)).collect();
        // Give each member its own PC, then point some gotos at members.
        for (k, b) in blocks.iter_mut().enumerate() {
            b.pc = 0x8000_1000 + 0x40 * k as u64;
        }
        let pcs: Vec<u64> = blocks.iter().map(|b| b.pc).collect();
        let mut edges = Vec::new();
        for (k, b) in blocks.iter_mut().enumerate() {
            let mut slot = 0;
            for op in b.ops.iter_mut() {
                if let Op::Goto { pc } = op {
                    if rnd(3) != 0 {
                        let t = rnd(n as u64) as usize;
                        *pc = pcs[t];
                        edges.push((k, slot, t));
                    }
                    slot += 1;
                }
            }
        }
        let budget = [1, 5, 40, 1000][rnd(4) as usize];
        // The interpreter, following the edges.
        let mut w = World::new(seed);
        w.env.budget = budget;
        SLOW_LOG.with(|l| l.borrow_mut().clear());
        let mut k = 0usize;
        let exit = loop {
            // SAFETY: w.env is valid with a runtime; the TLB points into w.ram.
            let e = unsafe { mimic_translator::interp::interpret(&blocks[k], 100 + k as u64, &mut *w.env, HELPERS) };
            let (code, _, slot) = unpack_exit(e);
            match edges.iter().find(|&&(a, s, _)| a == k && s == slot as usize) {
                Some(&(_, _, t)) if code == ExitCode::Goto => k = t,
                _ => break e,
            }
        };
        let want = (exit, w.env.regs.to_vec(), w.env.pc, w.env.budget, w.env.exception_pending, w.ram.clone());
        let want_log = SLOW_LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
        // The region.
        let cells: Vec<Vec<AtomicPtr<u8>>> = blocks.iter().map(slots).collect();
        let members: Vec<RegionMember> = blocks
            .iter()
            .zip(&cells)
            .enumerate()
            .map(|(k, (b, c))| RegionMember { block: b, block_id: 100 + k as u64, exit_slots: c.as_ptr() })
            .collect();
        let c = j.compile_region(&members, &edges).expect("compile");
        let mut w = World::new(seed);
        w.env.budget = budget;
        SLOW_LOG.with(|l| l.borrow_mut().clear());
        // SAFETY: code from this generation; env valid as above.
        let exit = unsafe { j.enter(c.code, &mut *w.env) };
        let got = (exit, w.env.regs.to_vec(), w.env.pc, w.env.budget, w.env.exception_pending, w.ram.clone());
        let got_log = SLOW_LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
        assert_eq!(got, want, "seed {seed}: {n} blocks, edges {edges:?}");
        assert_eq!(got_log, want_log, "seed {seed}");
    }
}

/// The accesses through one base register share one TLB check (`JitStats::grouped_accesses`),
/// and take no slow path when their page is mapped.
#[test]
fn accesses_through_one_base_share_a_tlb_check() {
    let mut j = jit();
    let accesses: Vec<(i64, MemSize, bool)> = (0..6).map(|i| (8 * i, MemSize::B8, i % 2 == 1)).collect();
    let blk = based_block(RAM_VA + 128, &accesses);
    let s = slots(&blk);
    let before = j.stats().grouped_accesses;
    let c = j.compile(&blk, 7, s.as_ptr()).unwrap();
    assert_eq!(j.stats().grouped_accesses - before, 6);
    check_tweaked(&j, c.code, &blk, 9, &|_| {});
    let o = run(&mut j, &blk, 9, 100);
    assert!(o.slow_log.is_empty(), "{:?}", o.slow_log);
}
