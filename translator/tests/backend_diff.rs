//! The contract both code tiers (Cranelift `Jit` and the single-pass `Baseline`) share, tested
//! once for both: every block runs in the interpreter and as compiled code from identical states
//! and everything observable (exit, registers, PC, budget, exception flag, RAM, slow-path calls)
//! must match; plus chaining through exit cells, cross-page chains guarded by the code TLB, the
//! `GotoPtr` inline cache, the lookup hook and generation flushes. Each body is generic over
//! [`Backend`]; `for_both_backends!` stamps out a `jit::` and a `baseline::` test of it.

mod common;
use common::*;
use mimic_translator::env::{self, itc_index, unpack_exit, Env, ExitCode, ItcEntry, TlbEntry, ITC_SIZE, NO_LOOKUP_KEY, TLB_INVALID};
use mimic_translator::interp::goto_count;
use mimic_translator::ir::*;
use mimic_translator::jit::Compiled;
use std::sync::atomic::{AtomicPtr, Ordering};

macro_rules! for_both_backends {
    ($($name:ident),* $(,)?) => {
        mod jit {
            $(#[test]
            fn $name() {
                super::$name::<mimic_translator::jit::Jit>();
            })*
        }
        mod baseline {
            $(#[test]
            fn $name() {
                super::$name::<mimic_translator::baseline::Baseline>();
            })*
        }
    };
}

for_both_backends!(
    all_binops_match,
    all_unops_cmps_selects_match,
    memory_fast_slow_and_faults_match,
    stored_values_used_again_match,
    misaligned_accesses_within_a_page_take_the_fast_path,
    force_slow_entry_and_empty_tlb_go_slow,
    helpers_and_may_raise_match,
    control_flow_exit_slots_and_kinds_match,
    budget_exit_matches,
    random_blocks_match,
    chaining_runs_without_returning,
    cross_page_goto_uses_lookup,
    cross_page_chain_is_guarded_by_the_code_tlb,
    goto_ptr_chain_is_an_inline_cache,
    goto_ptr_uses_the_indirect_jump_cache,
    goto_ptr_uses_lookup,
    flush_and_recompile,
    refuses_invalid_blocks,
    register_reads_survive_later_writes,
    second_page_is_checked_on_entry,
    compare_and_branch_match,
    helper_calls_get_an_aligned_stack,
    base_plus_offset_accesses_match,
    random_base_plus_offset_accesses_match,
);

/// Every binary op × width × interesting operand pair, as constants and through registers.
fn all_binops_match<B: Backend>() {
    let mut j = B::for_tests();
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
                    b.set_reg(Reg(reg % 90), r);
                    reg += 1;
                }
            }
            // Operands from registers, so constant folding is not all that gets tested.
            for r in 1..8u16 {
                let x = b.get_reg(Reg(r));
                let y = b.get_reg(Reg(r + 10));
                let v = b.bin(op, w, x, y);
                b.set_reg(Reg(r + 20), v);
            }
            for (i, &x) in INTERESTING.iter().enumerate() {
                let tx = b.konst(x);
                b.set_reg(Reg(40 + i as u16), tx);
            }
            for i in 0..INTERESTING.len() as u16 {
                for k in 0..INTERESTING.len() as u16 {
                    let x = b.get_reg(Reg(40 + i));
                    let y = b.get_reg(Reg(40 + k));
                    let v = b.bin(op, w, x, y);
                    b.set_reg(Reg(60 + (i * 12 + k) % 30), v);
                }
            }
            b.goto(0x1004);
            check(&mut j, &b.finish(), op as u64, 100);
        }
    }
}

fn all_unops_cmps_selects_match<B: Backend>() {
    let mut j = B::for_tests();
    for w in [Width::W64, Width::W32] {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let mut reg = 1u16;
        let mut vals: Vec<Temp> = INTERESTING.iter().map(|&v| b.konst(v)).collect();
        vals.extend((1..6).map(|r| b.get_reg(Reg(r))));
        for (i, &v) in INTERESTING.iter().enumerate() {
            let t = b.konst(v);
            b.set_reg(Reg(50 + i as u16), t);
        }
        vals.extend((0..INTERESTING.len() as u16).map(|i| b.get_reg(Reg(50 + i))));
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
/// with the faulting instruction's PC), for every size, signedness and RMW, in every TLB.
fn memory_fast_slow_and_faults_match<B: Backend>() {
    let mut j = B::for_tests();
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
    let o = run(&mut j, &mem_block(FAULT_VA, MemSize::B4, false, false, false), 1, 100);
    assert_eq!(unpack_exit(o.exit).0, ExitCode::Exception);
    assert_eq!(o.pc, 0x2004);
    let w = World::new(1);
    assert_eq!(o.regs[7], w.env.regs[7]);
    assert_eq!(o.regs[4], w.env.regs[3]);
    let o = run(&mut j, &mem_block(RAM_VA + 8, MemSize::B8, false, false, false), 1, 100);
    assert_eq!(o.regs[6], u64::from_le_bytes(w.ram[8..16].try_into().unwrap()));
    assert!(o.slow_log.is_empty(), "a TLB hit must not take the slow path");
}

/// A stored value computed in the block and used again after the store (the Cranelift tier then
/// defines it before the store's TLB check and hands it to the slow path through
/// `Env::slow_value` early): RAM, registers and the slow path's value agree with the interpreter
/// on the fast path, the slow path, across a page and on a fault.
fn stored_values_used_again_match<B: Backend>() {
    let mut j = B::for_tests();
    let addrs = [RAM_VA + 8, RAM_VA + 0xffc, 0x1234_5000, FAULT_VA + 8];
    for &a in &addrs {
        for size in [MemSize::B1, MemSize::B4, MemSize::B8] {
            let mut b = Builder::new(0x2000);
            b.insn_start(0x2000, 4);
            let x = b.get_reg(Reg(3));
            let y = b.get_reg(Reg(5));
            let v = b.bin(BinOp::Mul, Width::W64, x, y);
            let v = b.bin(BinOp::Add, Width::W64, v, x);
            b.set_reg(Reg(8), v);
            b.insn_start(0x2004, 4);
            let addr = b.konst(a);
            b.store(addr, v, MemOp { size, signed: false, mmu_idx: 1, align: false, rmw: false });
            b.insn_start(0x2008, 4);
            let w = b.bin(BinOp::Xor, Width::W64, v, y);
            b.set_reg(Reg(9), w);
            b.goto(0x200c);
            check(&mut j, &b.finish(), a ^ size as u64, 100);
        }
    }
}

/// A misaligned access whose bytes stay on one page hits the TLB, as on QEMU; one that runs
/// onto the next page, or one that must be aligned (an atomic), takes the slow path. The
/// interpreter agrees on every case, and the value loaded or stored is the same.
fn misaligned_accesses_within_a_page_take_the_fast_path<B: Backend>() {
    let mut j = B::for_tests();
    let w = World::new(1);
    for (off, size) in
        [(3, MemSize::B8), (0x7f9, MemSize::B8), (0xffb, MemSize::B4), (0xffe, MemSize::B2), (1, MemSize::B4)]
    {
        for store in [false, true] {
            let blk = mem_block(RAM_VA + off, size, false, false, store);
            check(&mut j, &blk, 1, 100);
            let o = run(&mut j, &blk, 1, 100);
            assert!(
                o.slow_log.is_empty(),
                "{size:?} at +{off:#x} (store {store}) left the fast path: {:?}",
                o.slow_log
            );
            if !store {
                let n = size.bytes() as usize;
                let mut bytes = [0u8; 8];
                bytes[..n].copy_from_slice(&w.ram[off as usize..off as usize + n]);
                assert_eq!(o.regs[6], u64::from_le_bytes(bytes));
            }
        }
    }
    for (off, size) in [(0xffd, MemSize::B8), (0xfff, MemSize::B2)] {
        let blk = mem_block(RAM_VA + off, size, false, false, false);
        check(&mut j, &blk, 1, 100);
        assert!(!run(&mut j, &blk, 1, 100).slow_log.is_empty(), "{size:?} at +{off:#x} crosses a page");
    }
    let mut b = Builder::new(0x2000);
    b.insn_start(0x2000, 4);
    let a = b.konst(RAM_VA + 4);
    let m = MemOp { size: MemSize::B8, signed: false, mmu_idx: 1, align: true, rmw: true };
    let v = b.load(a, m);
    b.set_reg(Reg(6), v);
    b.goto(0x2004);
    let blk = b.finish();
    check(&mut j, &blk, 1, 100);
    assert!(!run(&mut j, &blk, 1, 100).slow_log.is_empty(), "a misaligned atomic must reach the slow path");
}

/// An entry forcing the slow path is honoured even though the page matches, and an invalid
/// entry misses; the interpreter agrees.
fn force_slow_entry_and_empty_tlb_go_slow<B: Backend>() {
    let mut j = B::for_tests();
    let blk = mem_block(RAM_VA + 16, MemSize::B8, false, false, true);
    let s = slots(&blk);
    let c = j.compile(&blk, 1, s.as_ptr()).unwrap();
    let i = env::tlb_index(RAM_VA);
    let tweaks: [&dyn Fn(&mut Env); 2] =
        [&|e| e.tlb[1][i].addr_write |= env::TLB_FORCE_SLOW, &|e| e.tlb[1][i].addr_write = TLB_INVALID];
    for tweak in tweaks {
        for compiled in [false, true] {
            let mut w = World::new(5);
            tweak(&mut w.env);
            SLOW_LOG.with(|l| l.borrow_mut().clear());
            // SAFETY: valid env and code.
            let exit = unsafe {
                if compiled {
                    j.enter(c.code, &mut *w.env)
                } else {
                    mimic_translator::interp::interpret(&blk, 1, &mut *w.env, HELPERS)
                }
            };
            assert_eq!(unpack_exit(exit).0, ExitCode::Goto);
            assert_eq!(SLOW_LOG.with(|l| l.borrow().len()), 1);
        }
    }
}

/// Helper calls see registers a helper wrote, and a raising helper exits with its instruction's
/// PC, whether the raise flag is a constant or comes from a register.
fn helpers_and_may_raise_match<B: Backend>() {
    let mut j = B::for_tests();
    for raise in [0u64, 1] {
        for from_reg in [false, true] {
            let mut b = Builder::new(0x3000);
            b.insn_start(0x3000, 4);
            let x = b.get_reg(Reg(1));
            b.set_reg(Reg(2), x);
            let c = b.konst(5);
            b.call_void(HelperId(H_CLOBBER), &[x, x, c, c]);
            let y = b.get_reg(Reg(1)); // must see the clobbered value
            let s = b.call(HelperId(H_ADD3), &[x, y, c]);
            b.set_reg(Reg(9), s);
            let n = b.call(HelperId(H_COUNT), &[]);
            b.set_reg(Reg(11), n);
            b.insn_start(0x3004, 4);
            let one = b.konst(raise);
            let k = if from_reg {
                let k = b.get_reg(Reg(12));
                b.bin64(BinOp::And, k, one)
            } else {
                one
            };
            let r = b.call(HelperId(H_RAISE_IF), &[k]);
            b.set_reg(Reg(10), r);
            b.goto(0x3008);
            let blk = b.finish();
            for seed in 0..10 {
                check(&mut j, &blk, seed, 100);
            }
            let mut w = World::new(9);
            w.env.regs[12] = 1;
            let s = slots(&blk);
            let code = j.compile(&blk, 7, s.as_ptr()).unwrap();
            // SAFETY: valid env and code.
            let exit = unsafe { j.enter(code.code, &mut *w.env) };
            if raise == 1 {
                assert_eq!(unpack_exit(exit).0, ExitCode::Exception);
                assert_eq!(w.env.pc, 0x3004);
            } else {
                assert_eq!(unpack_exit(exit), (ExitCode::Goto, 7, 0));
                assert_eq!(w.env.pc, 0x3008);
            }
        }
    }
}

/// Labels, BrCond on constants and on computed values, several Gotos (slot numbering), Exits of
/// every reason.
fn control_flow_exit_slots_and_kinds_match<B: Backend>() {
    let mut j = B::for_tests();
    for sel in 0..6u64 {
        for through_reg in [false, true] {
            let mut b = Builder::new(0x4000);
            b.insn_start(0x4000, 4);
            let (l1, l2, l3, l4) = (b.new_label(), b.new_label(), b.new_label(), b.new_label());
            let s = if through_reg { b.get_reg(Reg(30)) } else { b.konst(sel) };
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
            let three = b.konst(3);
            let c3 = b.cmp(Cond::Eq, s, three);
            b.br_cond(c3, l4);
            let four = b.konst(4);
            let c4 = b.cmp(Cond::Eq, s, four);
            let skip = b.new_label();
            b.br_cond(c4, skip);
            b.exit(ExitReason::Halt, 0x4444);
            b.label(skip);
            b.exit(ExitReason::FlushCode, 0x4448);
            b.label(l1);
            b.goto(0x4800); // slot 0
            b.label(l2);
            let k = b.konst(0x99);
            b.set_reg(Reg(2), k);
            b.goto(0x4900); // slot 1
            b.label(l3);
            b.exit(ExitReason::Exception, 0x1);
            b.label(l4);
            b.exit(ExitReason::Reevaluate, 0x4004);
            let blk = b.finish();
            assert_eq!(goto_count(&blk), 2);
            let expect = match sel {
                0 => (ExitCode::Goto, 7, 0),
                1 => (ExitCode::Goto, 7, 1),
                2 => (ExitCode::Exception, 7, 0),
                3 => (ExitCode::Reevaluate, 7, 0),
                4 => (ExitCode::FlushCode, 7, 0),
                _ => (ExitCode::Halt, 7, 0),
            };
            let mut w = World::new(1);
            w.env.regs[30] = sel;
            let s = slots(&blk);
            let code = j.compile(&blk, 7, s.as_ptr()).unwrap();
            // SAFETY: valid env and code.
            let exit = unsafe { j.enter(code.code, &mut *w.env) };
            assert_eq!(unpack_exit(exit), expect, "sel {sel}");
            // `check` starts from random registers, so only the constant selector is predictable.
            if !through_reg {
                check(&mut j, &blk, 1, 100);
                assert_eq!(unpack_exit(run_interp(&blk, 1, 100).exit), expect, "sel {sel}");
            }
        }
    }
}

fn budget_exit_matches<B: Backend>() {
    let mut j = B::for_tests();
    let mut b = Builder::new(0x7000);
    for i in 0..3 {
        b.insn_start(0x7000 + 4 * i, 4);
        let k = b.konst(i);
        b.set_reg(Reg(1), k);
    }
    b.goto(0x700c);
    let blk = b.finish();
    for budget in [-5, 0, 2, 3, 10] {
        check(&mut j, &blk, 2, budget);
        let o = run(&mut j, &blk, 2, budget);
        if budget < 3 {
            assert_eq!(unpack_exit(o.exit).0, ExitCode::Budget);
            assert_eq!((o.pc, o.budget), (0x7000, budget));
        } else {
            assert_eq!(o.budget, budget - 3);
        }
    }
    // A block at a PC that needs a 64-bit immediate.
    let mut b = Builder::new(0xffff_ffc0_0000_1000);
    b.insn_start(0xffff_ffc0_0000_1000, 4);
    b.goto(0xffff_ffc0_0000_1004);
    let blk = b.finish();
    for budget in [0, 1] {
        check(&mut j, &blk, 2, budget);
    }
}

fn random_blocks_match<B: Backend>() {
    let mut j = B::for_tests();
    for seed in 0..B::RANDOM_BLOCKS {
        let blk = random_block(seed * 7919 + 1);
        check(&mut j, &blk, seed, if seed % 17 == 0 { 1 } else { 1000 });
    }
}

/// A filled exit slot makes the block tail-call the next one without returning; a self-loop runs
/// until the budget is exhausted (and does not grow the stack).
fn chaining_runs_without_returning<B: Backend>() {
    let mut j = B::for_tests();
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
fn cross_page_goto_uses_lookup<B: Backend>() {
    let mut j = B::for_tests();
    lookup_hit_and_miss(&mut j, &counting_block(0x1000, 0x2000, false), ExitCode::Goto, 1);
}

/// An unchained `GotoPtr` asks the lookup hook: a hit runs the block it answers, a miss returns
/// a `Lookup` exit with the target PC.
fn goto_ptr_uses_lookup<B: Backend>() {
    let mut j = B::for_tests();
    let gp = goto_ptr_block(0);
    check(&mut j, &gp, 4, 10);
    lookup_hit_and_miss(&mut j, &gp, ExitCode::Lookup, 0);
}

/// A block whose only exit is a `GotoPtr` to r1.
fn goto_ptr_block(code_mmu_idx: u8) -> Block {
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let t = b.get_reg(Reg(1));
    b.goto_ptr(t);
    let mut gp = b.finish();
    gp.code_mmu_idx = code_mmu_idx;
    gp
}

/// Runs `source` (id 8, unchained, leaving for 0x2000 with r1 = 0x2000 and having counted
/// `counted` times) with the lookup hook answering nothing, then answering a block at 0x2000
/// (id 9) that counts once more and halts at 0x3000. A miss returns `miss` for exit 0 and tells
/// the hook which exit to chain; a hit runs the answer.
fn lookup_hit_and_miss<B: Backend>(j: &mut B, source: &Block, miss: ExitCode, counted: u64) {
    let target = counting_block(0x2000, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let s = slots(source);
    let cs = j.compile(source, 8, s.as_ptr()).unwrap();
    for hit in [false, true] {
        LOOKUP.with(|l| *l.borrow_mut() = if hit { ct.code as usize } else { 0 });
        let mut w = World::new(1);
        w.env.regs[1] = 0x2000;
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(cs.code, &mut *w.env) };
        if hit {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (counted + 1, 0x3000));
        } else {
            assert_eq!(unpack_exit(exit), (miss, 8, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (counted, 0x2000));
            assert_eq!(w.env.lookup_link, env::pack_link(8, 0), "the hook is told which exit to chain");
        }
    }
    LOOKUP.with(|l| *l.borrow_mut() = 0);
}

/// A change made to a test's TLB before running a chained block.
type TlbTweak<'a> = &'a dyn Fn(&mut Env);

/// A cross-page exit chained by the lookup hook (code cell + guard cell) follows the chain only
/// while the block's code TLB maps the target page with the guarded addend; otherwise it asks the
/// hook again.
fn cross_page_chain_is_guarded_by_the_code_tlb<B: Backend>() {
    let mut j = B::for_tests();
    let mut a = counting_block(0x1000, RAM_VA, false);
    a.code_mmu_idx = 1;
    let sa = slots(&a);
    // (jump target, change to the TLB, is the chain taken)
    let cases: [(u64, TlbTweak, bool); 4] = [
        (RAM_VA, &|_| {}, true),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addend ^= 0x1000, false),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, false),
        // Other TLBs do not matter.
        (RAM_VA, &|e| e.tlb[0][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, true),
    ];
    // The slot holds the chain, so a miss does not ask the hook to chain it (link 0).
    guarded_chain(&mut j, &a, &sa, &cases, ExitCode::Goto, 1, 0);
}

/// A `GotoPtr` whose slot the lookup hook chained follows the chain only for the same target PC
/// while the code TLB maps its page with the guarded addend; otherwise it asks the hook, and
/// jumps to what the hook answers.
fn goto_ptr_chain_is_an_inline_cache<B: Backend>() {
    let mut j = B::for_tests();
    let gp = goto_ptr_block(1);
    check(&mut j, &gp, 4, 10);
    let s = slots(&gp);
    s[env::exit_slot_pc(1, 0)].store(RAM_VA as *mut u8, Ordering::Relaxed);
    let cases: [(u64, TlbTweak, bool); 4] = [
        (RAM_VA, &|_| {}, true),
        (RAM_VA + 4, &|_| {}, false),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addend ^= 0x1000, false),
        (RAM_VA, &|e| e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, false),
    ];
    // A slot holding another target keeps it: the hook is not asked to chain it (link 0).
    let (cg, ct) = guarded_chain(&mut j, &gp, &s, &cases, ExitCode::Lookup, 0, 0);
    // An empty slot passes its link, so the hook chains it.
    s[0].store(std::ptr::null_mut(), Ordering::Relaxed);
    let mut w = World::new(1);
    w.env.regs[1] = RAM_VA;
    w.env.regs[COUNT_REG] = 0;
    // SAFETY: valid env and code.
    let exit = unsafe { j.enter(cg.code, &mut *w.env) };
    assert_eq!(unpack_exit(exit), (ExitCode::Lookup, 8, 0));
    assert_eq!((w.env.pc, w.env.lookup_link), (RAM_VA, env::pack_link(8, 0)));
    s[0].store(ct.code as *mut u8, Ordering::Relaxed);
    LOOKUP.with(|l| *l.borrow_mut() = ct.code as usize);
    let mut w = World::new(1);
    w.env.regs[1] = 0x2000;
    w.env.regs[COUNT_REG] = 0;
    // SAFETY: valid env and code.
    let exit = unsafe { j.enter(cg.code, &mut *w.env) };
    assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0));
    LOOKUP.with(|l| *l.borrow_mut() = 0);
}

/// A `GotoPtr` whose slot holds another target takes the indirect-jump cache's entry for its
/// target when the entry is for that PC, keyed with the block's flags, and the code TLB maps the
/// page with the entry's addend; otherwise it asks the hook with `lookup_key` set to its flags.
/// A block with helper calls (which could change the flags) never uses the cache.
fn goto_ptr_uses_the_indirect_jump_cache<B: Backend>() {
    const KEY: u64 = 0x25;
    let mut j = B::for_tests();
    let target = counting_block(RAM_VA, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let mut gp = goto_ptr_block(1);
    gp.flags = KEY;
    let with_call = {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        b.call(HelperId(H_COUNT), &[]);
        let t = b.get_reg(Reg(1));
        b.goto_ptr(t);
        let mut blk = b.finish();
        blk.code_mmu_idx = 1;
        blk.flags = KEY;
        blk
    };
    // Entries as (pc, key, guard ^ the page's addend), set up in each run's own World.
    let other_pc = RAM_VA + 2 * ITC_SIZE as u64; // same entry, other PC
    type Case<'a> = (&'a Block, (u64, u64, u64), TlbTweak<'a>, bool);
    let cases: [Case; 7] = [
        (&gp, (RAM_VA, KEY, 0), &|_| {}, true),
        (&gp, (RAM_VA, KEY ^ 1, 0), &|_| {}, false),
        (&gp, (other_pc, KEY, 0), &|_| {}, false),
        (&gp, (RAM_VA, KEY, 0x1000), &|_| {}, false),
        (&gp, (RAM_VA, KEY, 0), &|e| e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID, false),
        (&gp, (RAM_VA, KEY, 0), &|e| e.itc = std::ptr::null_mut(), false),
        (&with_call, (RAM_VA, KEY, 0), &|_| {}, false),
    ];
    assert_eq!(itc_index(other_pc), itc_index(RAM_VA));
    LOOKUP.with(|l| *l.borrow_mut() = 0);
    for (i, (blk, (pc, key, guard_xor), tweak, taken)) in cases.iter().enumerate() {
        let s = slots(blk);
        let cs = j.compile(blk, 8, s.as_ptr()).unwrap();
        // The slot holds a chain to another target, so the slot's own check fails.
        s[0].store(ct.code as *mut u8, Ordering::Relaxed);
        s[env::exit_slot_pc(1, 0)].store((RAM_VA + 4) as *mut u8, Ordering::Relaxed);
        let mut w = World::new(1);
        let addend = w.env.tlb[1][env::tlb_index(RAM_VA)].addend;
        let mut itc = vec![ItcEntry::EMPTY; ITC_SIZE];
        itc[itc_index(RAM_VA)] = ItcEntry { pc: *pc, key: *key, guard: addend ^ guard_xor, code: ct.code };
        w.env.itc = itc.as_mut_ptr();
        tweak(&mut w.env);
        w.env.regs[1] = RAM_VA;
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code; `itc` outlives the run.
        let exit = unsafe { j.enter(cs.code, &mut *w.env) };
        // `with_call` counts once itself.
        let counted = u64::from(!blk.may_use_itc());
        if *taken {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0), "case {i}");
            assert_eq!(w.env.regs[COUNT_REG], counted + 1, "case {i}");
        } else {
            assert_eq!(unpack_exit(exit), (ExitCode::Lookup, 8, 0), "case {i}");
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (counted, RAM_VA), "case {i}");
            let want = if blk.may_use_itc() { KEY } else { NO_LOOKUP_KEY };
            assert_eq!((w.env.lookup_key, w.env.lookup_link), (want, 0), "case {i}");
        }
    }
}

/// Compiles `source` (id 8, code TLB 1, having counted `counted` times when it leaves) into
/// `cells`, chains its exit 0 to a block at RAM_VA (id 9) that counts once and halts, guarded
/// by the code TLB's addend, and runs it once per case with r1 = the case's PC after its TLB
/// change: the chain is taken exactly when the case says so, otherwise the lookup hook (which
/// answers nothing) is asked, with `Env::lookup_link` = `link`, and `miss` returned. Gives back
/// the source's and target's code.
fn guarded_chain<B: Backend>(
    j: &mut B,
    source: &Block,
    cells: &[AtomicPtr<u8>],
    cases: &[(u64, TlbTweak, bool)],
    miss: ExitCode,
    counted: u64,
    link: u64,
) -> (Compiled, Compiled) {
    let target = counting_block(RAM_VA, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let cs = j.compile(source, 8, cells.as_ptr()).unwrap();
    LOOKUP.with(|l| *l.borrow_mut() = 0);
    cells[0].store(ct.code as *mut u8, Ordering::Relaxed);
    for (i, (pc, tweak, chained)) in cases.iter().enumerate() {
        let mut w = World::new(1);
        let good = w.env.tlb[1][env::tlb_index(RAM_VA)].addend;
        cells[env::exit_slot_guard(1, 0)].store(good as *mut u8, Ordering::Relaxed);
        tweak(&mut w.env);
        w.env.regs[1] = *pc;
        w.env.regs[COUNT_REG] = 0;
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(cs.code, &mut *w.env) };
        if *chained {
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, 9, 0), "case {i}");
            assert_eq!(w.env.regs[COUNT_REG], counted + 1, "case {i}");
        } else {
            assert_eq!(unpack_exit(exit), (miss, 8, 0), "case {i}");
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (counted, *pc), "case {i}");
            assert_eq!(w.env.lookup_link, link, "case {i}");
        }
    }
    (cs, ct)
}

fn flush_and_recompile<B: Backend>() {
    let mut j = B::with_code_bytes(16 << 10);
    let mut flushes = 0;
    for seed in 0..300u64 {
        let blk = random_block(seed);
        if j.is_full() {
            // SAFETY: nothing runs; every pointer from the old generation is dropped.
            unsafe { j.flush_all() };
            flushes += 1;
            assert!(!j.is_full());
        }
        check(&mut j, &blk, seed, 1000);
    }
    assert!(flushes > 0);
    assert_eq!(j.stats().flushes, flushes);
    assert_eq!(j.stats().blocks, 300);
}

fn refuses_invalid_blocks<B: Backend>() {
    let mut j = B::for_tests();
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    b.konst(1);
    let blk = b.finish();
    let s = slots(&blk);
    assert!(j.compile(&blk, 1, s.as_ptr()).is_err());
}

/// A register read, then written, then the value read before used (also after a helper that
/// writes registers, and across a branch): the old value, as the interpreter gives.
fn register_reads_survive_later_writes<B: Backend>() {
    let mut j = B::for_tests();
    for variant in 0..4 {
        let mut b = Builder::new(0x1000);
        b.insn_start(0x1000, 4);
        let x = b.get_reg(Reg(1));
        let y = b.get_reg(Reg(2));
        let k = b.konst(0x55);
        match variant {
            0 => b.set_reg(Reg(1), k),
            1 => {
                let s = b.bin64(BinOp::Add, y, k);
                b.set_reg(Reg(1), s);
            }
            2 => b.call_void(HelperId(H_CLOBBER), &[y, y, k, k]),
            _ => {
                let l = b.new_label();
                b.br_cond(y, l);
                b.set_reg(Reg(1), y);
                b.goto(0x1008);
                b.label(l);
                let z = b.get_reg(Reg(1));
                b.set_reg(Reg(2), z);
                let k2 = b.konst(0x66);
                b.set_reg(Reg(1), k2);
                b.goto(0x100c);
                let blk = b.finish();
                for seed in 0..4 {
                    check(&mut j, &blk, seed, 10);
                }
                continue;
            }
        }
        let s = b.bin64(BinOp::Sub, x, y);
        b.set_reg(Reg(3), s);
        b.set_reg(Reg(4), x);
        let x2 = b.get_reg(Reg(1));
        b.set_reg(Reg(5), x2);
        b.goto(0x1004);
        let blk = b.finish();
        for seed in 0..4 {
            check(&mut j, &blk, seed, 10);
        }
    }
}

/// A block whose code runs on into a second page (`Block::second_page`) runs only while its code
/// TLB maps that page with the addend it was translated under, or when whoever entered it says
/// it checked that itself (`Env::page_checked`, which the block then resets); otherwise it
/// returns `Lookup` at its PC before anything runs, with the budget untouched. Also when a chain
/// from another block enters it.
fn second_page_is_checked_on_entry<B: Backend>() {
    let mut j = B::for_tests();
    let page2 = 0x4000_1000u64;
    const ADDEND: u64 = 0x1234_5000;
    let mut blk = counting_block(page2 - 2, 0x5000, true);
    blk.code_mmu_idx = 1;
    blk.second_page = Some(SecondPage { vpage: page2, addend: ADDEND });
    let sb = slots(&blk);
    let cb = j.compile(&blk, 3, sb.as_ptr()).expect("compile");
    let mut from = counting_block(0x4000_0f00, blk.pc, false);
    from.code_mmu_idx = 1;
    let sf = slots(&from);
    let cf = j.compile(&from, 4, sf.as_ptr()).expect("compile");
    sf[0].store(cb.code as *mut u8, Ordering::Relaxed);
    let i = env::tlb_index(page2);
    // (change to the TLB entry mapping the page, Env::page_checked, does the block run)
    let cases: [(TlbTweak, u32, bool); 6] = [
        (&|_| {}, 0, true),
        (&|e| e.tlb[1][i].addend ^= 0x1000, 0, false),
        (&|e| e.tlb[1][i].addr_code = TLB_INVALID, 0, false),
        (&|e| e.tlb[1][i].addr_code |= env::TLB_FORCE_SLOW, 0, false),
        (&|e| e.tlb[1][i].addr_code = TLB_INVALID, 1, true),
        // Other TLBs do not matter.
        (&|e| e.tlb[0][i].addr_code = TLB_INVALID, 0, true),
    ];
    for (k, (tweak, checked, runs)) in cases.iter().enumerate() {
        for (entry, chained) in [(cb.code, false), (cf.code, true)] {
            if chained && *checked != 0 {
                // Only the run loop and the lookup hook set it, right before entering the block.
                continue;
            }
            let mut w = World::new(1);
            w.env.tlb[1][i] = TlbEntry { addr_read: page2, addr_write: page2, addr_code: page2, addend: ADDEND };
            w.env.tlb[0][i] = w.env.tlb[1][i];
            tweak(&mut w.env);
            w.env.page_checked = *checked;
            w.env.regs[COUNT_REG] = 0;
            w.env.budget = 10;
            // SAFETY: valid env and code of the current generation.
            let exit = unsafe { j.enter(entry, &mut *w.env) };
            let before = chained as u64;
            if *runs {
                assert_eq!(unpack_exit(exit), (ExitCode::Halt, 3, 0), "case {k}, chained {chained}");
                assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (before + 1, 0x5000), "case {k}");
                assert_eq!((w.env.page_checked, w.env.budget), (0, 9 - before as i64), "case {k}");
            } else {
                assert_eq!(unpack_exit(exit), (ExitCode::Lookup, 3, 0), "case {k}, chained {chained}");
                assert_eq!((w.env.regs[COUNT_REG], w.env.pc, w.env.budget), (before, blk.pc, 10 - before as i64), "case {k}");
            }
        }
    }
}

/// A comparison whose only use is the branch right after it (the baseline jumps on the flags)
/// and one also used as a value, for every condition, operand pair and operand kind (register,
/// 32-bit immediate, wider constant).
fn compare_and_branch_match<B: Backend>() {
    let mut j = B::for_tests();
    let conds = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Ge, Cond::Ltu, Cond::Geu];
    for cond in conds {
        for &x in &INTERESTING {
            for &y in &INTERESTING {
                for (y_in_reg, keep) in [(true, false), (false, false), (true, true)] {
                    let mut b = Builder::new(0x1000);
                    b.insn_start(0x1000, 4);
                    let k = b.konst(x);
                    b.set_reg(Reg(1), k);
                    let k = b.konst(y);
                    b.set_reg(Reg(2), k);
                    let a = b.get_reg(Reg(1));
                    let c = if y_in_reg { b.get_reg(Reg(2)) } else { b.konst(y) };
                    let t = b.cmp(cond, a, c);
                    let taken = b.new_label();
                    b.br_cond(t, taken);
                    if keep {
                        b.set_reg(Reg(3), t);
                    }
                    b.goto(0x2000);
                    b.label(taken);
                    b.goto(0x3000);
                    check(&mut j, &b.finish(), 1, 10);
                }
            }
        }
    }
}

/// Generated code calls helpers with the stack aligned as the SystemV ABI requires, in a block
/// that keeps a frame of temporaries of either parity and after a slow-path call.
fn helper_calls_get_an_aligned_stack<B: Backend>() {
    let mut j = B::for_tests();
    for temps in [0, 1, 2, 5] {
        let mut b = Builder::new(0x4000);
        b.insn_start(0x4000, 4);
        // One temp per step, so the frames' sizes come in both parities of 8-byte slots.
        let mut acc = b.get_reg(Reg(1));
        for _ in 0..temps {
            acc = b.bin64(BinOp::Add, acc, acc);
        }
        b.set_reg(Reg(2), acc);
        let phase = b.call(HelperId(H_STACK_PHASE), &[]);
        b.set_reg(Reg(3), phase);
        let va = b.konst(0x5008);
        let v = b.load(va, MemOp { size: MemSize::B8, signed: false, mmu_idx: 1, align: false, rmw: false });
        b.set_reg(Reg(4), v);
        let again = b.call(HelperId(H_STACK_PHASE), &[]);
        b.set_reg(Reg(5), again);
        b.goto(0x4004);
        let blk = b.finish();
        // 0x5008 is outside the TLB's RAM: the load takes the slow path.
        let mut w = World::new(3);
        let s = slots(&blk);
        let code = j.compile(&blk, 1, s.as_ptr()).unwrap();
        SLOW_LOG.with(|l| l.borrow_mut().clear());
        // SAFETY: valid env and code.
        let exit = unsafe { j.enter(code.code, &mut *w.env) };
        assert_eq!(unpack_exit(exit).0, ExitCode::Goto);
        assert_eq!(SLOW_LOG.with(|l| l.borrow().len()), 1, "the load went the slow way");
        assert_eq!((w.env.regs[3], w.env.regs[5]), (8, 8), "rsp mod 16 at the helper calls, {temps} temps");
    }
}

type Tweak = Box<dyn Fn(&mut World)>;

/// TLB states for accesses around the boundary of the two RAM pages: as mapped; either page
/// write-protected (a code page) or unmapped for reads; the second page showing the first
/// page's host memory (host memory that does not follow on).
fn tlb_tweaks() -> [Tweak; 6] {
    let (page0, page1) = (env::tlb_index(RAM_VA), env::tlb_index(RAM_VA + 4096));
    [
        Box::new(|_| {}),
        Box::new(move |w| w.env.tlb[1][page0].addr_write |= env::TLB_FORCE_SLOW),
        Box::new(move |w| w.env.tlb[1][page1].addr_write |= env::TLB_FORCE_SLOW),
        Box::new(move |w| w.env.tlb[1][page0].addr_read = TLB_INVALID),
        Box::new(move |w| w.env.tlb[1][page1].addr_read = TLB_INVALID),
        Box::new(move |w| w.env.tlb[1][page1].addend = (w.ram.as_ptr() as u64).wrapping_sub(RAM_VA + 4096)),
    ]
}

/// Loads and stores through one base register plus offsets (the Cranelift tier checks the TLB
/// once for all of them, see `page_group`) match the interpreter wherever the base puts them:
/// inside a page, straddling the two RAM pages, misaligned, running off RAM, on a faulting or an
/// unmapped page; under each of `tlb_tweaks`.
fn base_plus_offset_accesses_match<B: Backend>() {
    let mut j = B::for_tests();
    let accesses = [
        (0, MemSize::B8, false),
        (8, MemSize::B8, true),
        (16, MemSize::B8, false),
        (4, MemSize::B4, true),
        (24, MemSize::B8, false),
        (34, MemSize::B2, true),
        (-8, MemSize::B8, false),
        (40, MemSize::B1, true),
    ];
    let bases = [RAM_VA + 64, RAM_VA + 4096 - 24, RAM_VA + 3, RAM_VA + 2 * 4096 - 16, FAULT_VA + 24, 0x1234_5018];
    let tweaks = tlb_tweaks();
    for &base in &bases {
        let blk = based_block(base, &accesses);
        let s = slots(&blk);
        let c = j.compile(&blk, 7, s.as_ptr()).expect("compile");
        for (k, tweak) in tweaks.iter().enumerate() {
            check_tweaked(&j, c.code, &blk, base ^ k as u64, &**tweak);
        }
    }
}

/// Random runs of accesses through one base (random offsets within 300 bytes, sizes, loads and
/// stores, bases near and across the RAM page boundary or misaligned) under random TLB states
/// match the interpreter.
fn random_base_plus_offset_accesses_match<B: Backend>() {
    let mut j = B::for_tests();
    let mut rnd = rng(0x9e37);
    let tweaks = tlb_tweaks();
    for _ in 0..B::RANDOM_BLOCKS / 4 {
        let n = 3 + rnd(8) as usize;
        let accesses: Vec<(i64, MemSize, bool)> = (0..n)
            .map(|_| {
                let size = [MemSize::B1, MemSize::B2, MemSize::B4, MemSize::B8][rnd(4) as usize];
                // Mostly aligned offsets, as compilers emit them.
                let off = (rnd(300) as i64 - 40) & if rnd(8) == 0 { !0 } else { !(size.bytes() as i64 - 1) };
                (off, size, rnd(2) == 0)
            })
            .collect();
        let base = (RAM_VA + 4096 - 256 + rnd(512)) & if rnd(4) == 0 { !0 } else { !7 };
        let blk = based_block(base, &accesses);
        let s = slots(&blk);
        let c = j.compile(&blk, 7, s.as_ptr()).expect("compile");
        let k = rnd(tweaks.len() as u64) as usize;
        check_tweaked(&j, c.code, &blk, base, &*tweaks[k]);
    }
}
