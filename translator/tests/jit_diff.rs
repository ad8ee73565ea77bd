//! Differential tests: every block runs in the interpreter and in the JIT from identical states,
//! and everything observable (exit, registers, PC, budget, exception flag, RAM, slow-path calls)
//! must match. Plus JIT-only behaviour: chaining, GotoPtr lookup, flushes.

mod common;
use common::*;
use mimic_translator::env::{self, unpack_exit, Env, ExitCode, TLB_INVALID};
use mimic_translator::interp::goto_count;
use mimic_translator::ir::*;
use mimic_translator::jit::{Jit, JitConfig};
use mimic_translator::verify::verify;
use std::sync::atomic::{AtomicPtr, Ordering};

fn jit() -> Jit {
    Jit::new(HELPERS, JitConfig::default()).expect("jit")
}

fn check(jit: &mut Jit, block: &Block, seed: u64, budget: i64) {
    verify(block, HELPERS).expect("test block must verify");
    let a = run_interp(block, seed, budget);
    let b = run_jit(jit, block, seed, budget);
    assert_eq!(a, b, "interp vs jit differ for\n{}", mimic_translator::print::print_block(block, HELPERS));
}

/// Every binary op × width × interesting operand pair.
#[test]
fn all_binops_match() {
    let mut j = jit();
    for &op in &BINS {
        for w in [Width::W64, Width::W32] {
            if w == Width::W32 && matches!(op, BinOp::MulHs | BinOp::MulHu | BinOp::MulHsu) {
                continue;
            }
            let mut b = Builder::new(0x1000);
            b.insn_start(0x1000, 4);
            let mut reg = 1u16;
            for &x in &INTERESTING {
                for &y in &INTERESTING {
                    let (tx, ty) = (b.konst(x), b.konst(y));
                    let r = b.bin(op, w, tx, ty);
                    // Also through registers so constant folding is not all that gets tested.
                    b.set_reg(Reg(reg % 90), r);
                    reg += 1;
                }
            }
            for r in 1..8u16 {
                let x = b.get_reg(Reg(r));
                let y = b.get_reg(Reg(r + 10));
                let v = b.bin(op, w, x, y);
                b.set_reg(Reg(r + 20), v);
            }
            b.goto(0x1004);
            check(&mut j, &b.finish(), op as u64, 100);
        }
    }
}

#[test]
fn all_unops_cmps_selects_match() {
    let mut j = jit();
    for w in [Width::W64, Width::W32] {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let mut reg = 1u16;
        let mut vals: Vec<Temp> = INTERESTING.iter().map(|&v| b.konst(v)).collect();
        vals.extend((1..6).map(|r| b.get_reg(Reg(r))));
        for &op in &UNS {
            for &v in &vals {
                let r = b.un(op, w, v);
                b.set_reg(Reg(reg % 90), r);
                reg += 1;
            }
        }
        for &c in &CONDS {
            for &x in &vals {
                for &y in vals.iter().step_by(3) {
                    let k = b.cmp(c, x, y);
                    let s = b.select(k, x, y);
                    let t = b.bin64(BinOp::Add, s, k);
                    b.set_reg(Reg(reg % 90), t);
                    reg += 1;
                }
            }
        }
        b.goto(0x1004);
        check(&mut j, &b.finish(), 3, 100);
    }
}

/// TLB hits, misaligned accesses (slow path), other pages (slow path) and faults (exception exit
/// with the faulting instruction's PC).
#[test]
fn memory_fast_slow_and_faults_match() {
    let mut j = jit();
    let addrs =
        [RAM_VA, RAM_VA + 8, RAM_VA + 0xff8, RAM_VA + 4096 + 16, RAM_VA + 3, RAM_VA + 0xfff, 0x1234_5000, FAULT_VA + 8];
    for &a in &addrs {
        for size in [MemSize::B1, MemSize::B2, MemSize::B4, MemSize::B8] {
            for signed in [false, true] {
                for (rmw, store) in [(false, false), (true, false), (false, true)] {
                    let blk = mem_block(a, size, signed, rmw, store);
                    check(&mut j, &blk, a ^ size as u64, 100);
                }
            }
        }
    }
    // The fault case: exception exit, PC of the access, later register writes not done.
    let o = run_jit(&mut j, &mem_block(FAULT_VA, MemSize::B4, false, false, false), 1, 100);
    assert_eq!(unpack_exit(o.exit).0, ExitCode::Exception);
    assert_eq!(o.pc, 0x2004);
    let w = World::new(1);
    assert_eq!(o.regs[7], w.env.regs[7]);
    assert_eq!(o.regs[4], w.env.regs[3]);
    // A hit really reads host RAM.
    let o = run_jit(&mut j, &mem_block(RAM_VA + 8, MemSize::B8, false, false, false), 1, 100);
    assert_eq!(o.regs[6], u64::from_le_bytes(w.ram[8..16].try_into().unwrap()));
    assert!(o.slow_log.is_empty());
}

/// An entry forcing the slow path is honoured even though the page matches.
#[test]
fn force_slow_entry_goes_slow() {
    let mut j = jit();
    let blk = mem_block(RAM_VA + 16, MemSize::B8, false, false, true);
    let s = slots(&blk);
    let c = j.compile(&blk, 1, s.as_ptr()).unwrap();
    for use_jit in [false, true] {
        let mut w = World::new(5);
        let i = mimic_translator::env::tlb_index(RAM_VA);
        w.env.tlb[1][i].addr_write |= mimic_translator::env::TLB_FORCE_SLOW;
        SLOW_LOG.with(|l| l.borrow_mut().clear());
        // SAFETY: valid env and code.
        let exit = unsafe {
            if use_jit {
                j.enter(c.code, &mut *w.env)
            } else {
                mimic_translator::interp::interpret(&blk, 1, &mut *w.env, HELPERS)
            }
        };
        assert_eq!(unpack_exit(exit).0, ExitCode::Goto);
        assert_eq!(SLOW_LOG.with(|l| l.borrow().len()), 1);
    }
}

#[test]
fn helpers_and_may_raise_match() {
    let mut j = jit();
    for raise in [0u64, 1] {
        let mut b = Builder::new(0x3000);
        b.insn_start(0x3000, 4);
        let x = b.get_reg(Reg(1));
        b.set_reg(Reg(2), x);
        let c = b.konst(5);
        b.call_void(HelperId(H_CLOBBER), &[x, x, c, c]);
        let y = b.get_reg(Reg(1)); // must see the clobbered value
        let s = b.call(HelperId(H_ADD3), &[x, y, c]);
        b.set_reg(Reg(9), s);
        b.insn_start(0x3004, 4);
        let k = b.konst(raise);
        let r = b.call(HelperId(H_RAISE_IF), &[k]);
        b.set_reg(Reg(10), r);
        b.goto(0x3008);
        let blk = b.finish();
        check(&mut j, &blk, 9, 100);
        let o = run_jit(&mut j, &blk, 9, 100);
        if raise == 1 {
            assert_eq!(unpack_exit(o.exit).0, ExitCode::Exception);
            assert_eq!(o.pc, 0x3004);
        } else {
            assert_eq!(unpack_exit(o.exit), (ExitCode::Goto, 7, 0));
            assert_eq!(o.pc, 0x3008);
        }
    }
}

/// Labels, BrCond, several Gotos (slot numbering), Exits.
#[test]
fn control_flow_and_exit_slots_match() {
    let mut j = jit();
    for sel in 0..4u64 {
        let mut b = Builder::new(0x4000);
        b.insn_start(0x4000, 4);
        let (l1, l2, l3) = (b.new_label(), b.new_label(), b.new_label());
        let s = b.konst(sel);
        let z = b.konst(0);
        let one = b.konst(1);
        let c0 = b.cmp(Cond::Eq, s, z);
        b.br_cond(c0, l1);
        let c1 = b.cmp(Cond::Eq, s, one);
        b.br_cond(c1, l2);
        let two = b.konst(2);
        let c2 = b.cmp(Cond::Eq, s, two);
        b.set_reg(Reg(1), c2);
        b.br_cond(c2, l3);
        b.exit(ExitReason::Halt, 0x4444);
        b.label(l1);
        b.goto(0x5000); // slot 0
        b.label(l2);
        let k = b.konst(0x99);
        b.set_reg(Reg(2), k);
        b.goto(0x6000); // slot 1
        b.label(l3);
        b.exit(ExitReason::Exception, 0x1);
        let blk = b.finish();
        assert_eq!(goto_count(&blk), 2);
        check(&mut j, &blk, 1, 100);
        let o = run_interp(&blk, 1, 100);
        let expect = match sel {
            0 => (ExitCode::Goto, 7, 0),
            1 => (ExitCode::Goto, 7, 1),
            2 => (ExitCode::Exception, 7, 0),
            _ => (ExitCode::Halt, 7, 0),
        };
        assert_eq!(unpack_exit(o.exit), expect);
    }
}

#[test]
fn budget_exit_matches() {
    let mut j = jit();
    let mut b = Builder::new(0x7000);
    for i in 0..3 {
        b.insn_start(0x7000 + 4 * i, 4);
        let k = b.konst(i);
        b.set_reg(Reg(1), k);
    }
    b.goto(0x700c);
    let blk = b.finish();
    for budget in [0, 2, 3, 10] {
        check(&mut j, &blk, 2, budget);
        let o = run_jit(&mut j, &blk, 2, budget);
        if budget < 3 {
            assert_eq!(unpack_exit(o.exit).0, ExitCode::Budget);
            assert_eq!((o.pc, o.budget), (0x7000, budget));
        } else {
            assert_eq!(o.budget, budget - 3);
        }
    }
}

/// A filled exit slot makes the block tail-call the next one without returning; a self-loop runs
/// until the budget is exhausted (and does not grow the stack).
#[test]
fn chaining_runs_without_returning() {
    let mut j = jit();
    let (a, bb) = (counting_block(0x1000, 0x1800, false), counting_block(0x1800, 0x3000, true));
    let sa = slots(&a);
    let sb = slots(&bb);
    let cb = j.compile(&bb, 2, sb.as_ptr()).unwrap();
    let ca = j.compile(&a, 1, sa.as_ptr()).unwrap();
    sa[0].store(cb.code as *mut u8, Ordering::Relaxed);
    let mut w = World::new(1);
    w.env.regs[COUNT_REG] = 0;
    // SAFETY: valid env and code.
    let exit = unsafe { j.enter(ca.code, &mut *w.env) };
    assert_eq!(unpack_exit(exit), (ExitCode::Halt, 2, 0));
    assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (2, 0x3000));

    let lp = counting_block(0x1000, 0x1000, false);
    let sl = slots(&lp);
    let cl = j.compile(&lp, 3, sl.as_ptr()).unwrap();
    sl[0].store(cl.code as *mut u8, Ordering::Relaxed);
    w.env.regs[COUNT_REG] = 0;
    w.env.budget = 1_000_000;
    // SAFETY: as above.
    let exit = unsafe { j.enter(cl.code, &mut *w.env) };
    assert_eq!(unpack_exit(exit), (ExitCode::Budget, 3, 0));
    assert_eq!((w.env.regs[COUNT_REG], w.env.pc, w.env.budget), (1_000_000, 0x1000, 0));
}

/// A goto to another page never gets its slot chained by the run loop, so compiled code asks the
/// lookup hook instead; a miss returns an ordinary `Goto` exit for that slot.
#[test]
fn cross_page_goto_uses_lookup() {
    let mut j = jit();
    let a = counting_block(0x1000, 0x2000, false);
    let target = counting_block(0x2000, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let sa = slots(&a);
    let ca = j.compile(&a, 8, sa.as_ptr()).unwrap();
    for hit in [false, true] {
        LOOKUP.with(|l| *l.borrow_mut() = if hit { ct.code as usize } else { 0 });
        let mut w = World::new(1);
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(ca.code, &mut *w.env) };
        if hit {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (2, 0x3000));
        } else {
            assert_eq!(unpack_exit(exit), (ExitCode::Goto, 8, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (1, 0x2000));
        }
    }
    LOOKUP.with(|l| *l.borrow_mut() = 0);
}

/// A change made to a test's TLB before running a chained block.
type TlbTweak<'a> = &'a dyn Fn(&mut Env);

/// A cross-page exit chained by the lookup hook (code cell + guard cell) follows the chain only
/// while the block's code TLB maps the target page with the guarded addend; otherwise it asks the
/// hook again.
#[test]
fn cross_page_chain_is_guarded_by_the_code_tlb() {
    let mut j = jit();
    let mut a = counting_block(0x1000, RAM_VA, false);
    a.code_mmu_idx = 1;
    let target = counting_block(RAM_VA, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let sa = slots(&a);
    let ca = j.compile(&a, 8, sa.as_ptr()).unwrap();
    LOOKUP.with(|l| *l.borrow_mut() = 0);
    sa[0].store(ct.code as *mut u8, Ordering::Relaxed);
    // (change to the TLB, is the chain taken)
    let cases: [(TlbTweak, bool); 4] = [
        (&|_| {}, true),
        (&|e| e.tlb[1][env::tlb_index(RAM_VA)].addend ^= 0x1000, false),
        (&|e| e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, false),
        // Other TLBs do not matter.
        (&|e| e.tlb[0][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, true),
    ];
    for (i, (tweak, chained)) in cases.iter().enumerate() {
        let mut w = World::new(1);
        let good = w.env.tlb[1][env::tlb_index(RAM_VA)].addend;
        sa[env::exit_slot_guard(1, 0)].store(good as *mut u8, Ordering::Relaxed);
        tweak(&mut w.env);
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(ca.code, &mut *w.env) };
        if *chained {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0), "case {i}");
            assert_eq!(w.env.regs[COUNT_REG], 2, "case {i}");
        } else {
            assert_eq!(unpack_exit(exit), (ExitCode::Goto, 8, 0), "case {i}");
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (1, RAM_VA), "case {i}");
        }
    }
}

/// A `GotoPtr` whose slot the lookup hook chained follows the chain only for the same target PC
/// while the code TLB maps its page with the guarded addend; otherwise it asks the hook.
#[test]
fn goto_ptr_chain_is_an_inline_cache() {
    let mut j = jit();
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let t = b.get_reg(Reg(1));
    b.goto_ptr(t);
    let mut gp = b.finish();
    gp.code_mmu_idx = 1;
    let target = counting_block(RAM_VA, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let s = slots(&gp);
    let cg = j.compile(&gp, 8, s.as_ptr()).unwrap();
    LOOKUP.with(|l| *l.borrow_mut() = 0);
    s[0].store(ct.code as *mut u8, Ordering::Relaxed);
    s[env::exit_slot_pc(1, 0)].store(RAM_VA as *mut u8, Ordering::Relaxed);
    // (jump target, change to the TLB, is the chain taken)
    let cases: [(u64, TlbTweak, bool); 4] = [
        (RAM_VA, &|_| {}, true),
        (RAM_VA + 4, &|_| {}, false),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addend ^= 0x1000, false),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, false),
    ];
    for (i, (pc, tweak, chained)) in cases.iter().enumerate() {
        let mut w = World::new(1);
        let good = w.env.tlb[1][env::tlb_index(RAM_VA)].addend;
        s[env::exit_slot_guard(1, 0)].store(good as *mut u8, Ordering::Relaxed);
        tweak(&mut w.env);
        w.env.regs[1] = *pc;
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(cg.code, &mut *w.env) };
        if *chained {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0), "case {i}");
            assert_eq!(w.env.regs[COUNT_REG], 1, "case {i}");
        } else {
            assert_eq!(unpack_exit(exit), (ExitCode::Lookup, 8, 0), "case {i}");
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (0, *pc), "case {i}");
        }
    }
}

#[test]
fn goto_ptr_uses_lookup() {
    let mut j = jit();
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let t = b.get_reg(Reg(1));
    b.goto_ptr(t);
    let gp = b.finish();
    check(&mut j, &gp, 4, 10);
    let target = counting_block(0x2000, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let s = slots(&gp);
    let cg = j.compile(&gp, 8, s.as_ptr()).unwrap();
    for hit in [false, true] {
        LOOKUP.with(|l| *l.borrow_mut() = if hit { ct.code as usize } else { 0 });
        let mut w = World::new(1);
        w.env.regs[1] = 0x2000;
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(cg.code, &mut *w.env) };
        if hit {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (1, 0x3000));
        } else {
            assert_eq!(unpack_exit(exit), (ExitCode::Lookup, 8, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (0, 0x2000));
        }
    }
    LOOKUP.with(|l| *l.borrow_mut() = 0);
}

#[test]
fn random_blocks_match() {
    let mut j = jit();
    for seed in 0..400u64 {
        let blk = random_block(seed * 7919 + 1);
        check(&mut j, &blk, seed, if seed % 17 == 0 { 1 } else { 1000 });
    }
}

#[test]
fn opt_level_none_matches_too() {
    let mut j = Jit::new(HELPERS, JitConfig { opt_level: "none", ..Default::default() }).unwrap();
    for seed in 0..100u64 {
        check(&mut j, &random_block(seed * 31 + 5), seed, 1000);
    }
}

#[test]
fn flush_and_recompile() {
    let mut j = Jit::new(HELPERS, JitConfig { max_code_bytes: 16 << 10, ..Default::default() }).unwrap();
    let mut flushes = 0;
    for seed in 0..300u64 {
        let blk = random_block(seed);
        if j.is_full() {
            // SAFETY: nothing runs; every pointer from the old generation is dropped below.
            unsafe { j.flush_all().unwrap() };
            flushes += 1;
        }
        check(&mut j, &blk, seed, 1000);
    }
    assert!(flushes > 0);
    assert_eq!(j.stats().flushes, flushes);
    assert_eq!(j.stats().blocks, 300);
    let unchained: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
    let _ = unchained.load(Ordering::Relaxed);
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
        let mut x = seed.wrapping_mul(0x9e37_79b9) + 5;
        let mut rnd = |n: u64| {
            x = lcg(x);
            (x >> 33) % n
        };
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
