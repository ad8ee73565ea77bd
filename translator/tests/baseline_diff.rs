//! Tests of what only the baseline tier does (the contract it shares with the Cranelift tier is
//! in `backend_diff.rs`): chaining between baseline and Cranelift code in both directions, and
//! compiling unverified IR without endangering the host.

mod common;
use common::*;
use mimic_translator::baseline::Baseline;
use mimic_translator::env::{unpack_exit, Env, ExitCode};
use mimic_translator::ir::*;
use mimic_translator::jit::{Jit, JitConfig};
use mimic_translator::verify::verify;
use std::sync::atomic::Ordering;

fn base() -> Baseline {
    Baseline::for_tests()
}

/// Baseline and Cranelift code chain into each other in both directions, entered through either
/// tier's trampoline, around a loop long enough that a broken stack discipline would show.
#[test]
fn baseline_and_cranelift_chain_both_ways() {
    for opt_level in ["none", "speed"] {
        let mut j = base();
        let mut c = Jit::new(HELPERS, JitConfig { opt_level, ..Default::default() }).unwrap();
        // a (baseline) -> b (cranelift) -> a, until the budget runs out.
        let a = counting_block(0x1000, 0x1800, false);
        let b = counting_block(0x1800, 0x1000, false);
        let (sa, sb) = (slots(&a), slots(&b));
        let ca = j.compile(&a, 1, sa.as_ptr()).unwrap();
        let cb = c.compile(&b, 2, sb.as_ptr()).unwrap();
        sa[0].store(cb.code as *mut u8, Ordering::Relaxed);
        sb[0].store(ca.code as *mut u8, Ordering::Relaxed);
        for (entry, via_base) in [(ca.code, true), (cb.code, false), (ca.code, false), (cb.code, true)] {
            let mut w = World::new(1);
            w.env.regs[COUNT_REG] = 0;
            w.env.budget = 100_001;
            // SAFETY: valid env and code of live generations.
            let exit = unsafe {
                if via_base {
                    j.enter(entry, &mut *w.env)
                } else {
                    c.enter(entry, &mut *w.env)
                }
            };
            let (code, _, _) = unpack_exit(exit);
            assert_eq!(code, ExitCode::Budget);
            assert_eq!((w.env.regs[COUNT_REG], w.env.budget), (100_001, 0));
        }
        // A chain that ends in a Cranelift block returning, and one ending in a baseline block.
        let h = counting_block(0x2000, 0x3000, true);
        let sh = slots(&h);
        let ch_c = c.compile(&h, 5, sh.as_ptr()).unwrap();
        let ch_b = j.compile(&h, 6, sh.as_ptr()).unwrap();
        let x = counting_block(0x2800, 0x2000, false);
        let sx = slots(&x);
        let cx_b = j.compile(&x, 7, sx.as_ptr()).unwrap();
        let sy = slots(&x);
        let cx_c = c.compile(&x, 8, sy.as_ptr()).unwrap();
        sx[0].store(ch_c.code as *mut u8, Ordering::Relaxed);
        sy[0].store(ch_b.code as *mut u8, Ordering::Relaxed);
        for (entry, want) in [(cx_b.code, 5), (cx_c.code, 6)] {
            let mut w = World::new(1);
            w.env.regs[COUNT_REG] = 0;
            // SAFETY: as above.
            let exit = unsafe { j.enter(entry, &mut *w.env) };
            assert_eq!(unpack_exit(exit), (ExitCode::Halt, want, 0));
            assert_eq!((w.env.regs[COUNT_REG], w.env.pc), (2, 0x3000));
        }
    }
}

/// Every `Goto` and `GotoPtr` exit has a direct jump the run loop patches when it chains the
/// slot: patched, the exit runs the target without looking at its cells, under the same
/// conditions as the cell path (same-page: none; to another page: the code TLB's addend for the
/// target page; `GotoPtr`: also the target PC); patched back (or out of rel32 reach), it reads
/// the cells again.
#[test]
fn exits_jump_directly_once_patched() {
    use mimic_translator::baseline::{patch_exit, DirectJump, NO_MATCH};
    use mimic_translator::env::{self, TLB_INVALID};
    let mut j = base();
    let target = counting_block(RAM_VA, 0x3000, true);
    let st = slots(&target);
    let ct = j.compile(&target, 9, st.as_ptr()).unwrap();
    let same_page = counting_block(RAM_VA + 0x100, RAM_VA, false);
    let cross_page = counting_block(RAM_VA + 0x1000, RAM_VA, false);
    let mut b = Builder::new(RAM_VA + 0x200);
    b.insn_start(RAM_VA + 0x200, 4);
    b.call_void(HelperId(H_COUNT), &[]);
    let t = b.get_reg(Reg(1));
    b.goto_ptr(t);
    let goto_ptr = b.finish();
    for (k, src) in [same_page, cross_page, goto_ptr].iter().enumerate() {
        let mut src = src.clone();
        src.code_mmu_idx = 1;
        let s = slots(&src);
        let cs = j.compile(&src, 8, s.as_ptr()).unwrap();
        let sites = j.direct_jumps().to_vec();
        assert_eq!(sites.len(), 1, "case {k}");
        let site: DirectJump = sites[0];
        assert_eq!(site.slot, 0);
        let inside = |p: *mut u8| (cs.code as usize..cs.code as usize + cs.size).contains(&(p as usize));
        assert!(inside(site.jmp));
        // SAFETY: the sites lie inside the block's code.
        unsafe {
            assert_eq!(*site.jmp.sub(1), 0xe9, "a jmp rel32");
            for imm in [site.guard, site.pc].into_iter().filter(|p| !p.is_null()) {
                assert!(inside(imm));
                assert_eq!(std::ptr::read_unaligned(imm as *const u64), NO_MATCH, "an unchained imm64");
            }
        }
        assert_eq!(site.guard.is_null(), k == 0, "case {k}");
        assert_eq!(site.pc.is_null(), k != 2, "case {k}");
        let run = |tweak: &dyn Fn(&mut Env)| {
            let mut w = World::new(1);
            w.env.regs[COUNT_REG] = 0;
            w.env.regs[1] = RAM_VA;
            tweak(&mut w.env);
            // SAFETY: valid env and code.
            let exit = unsafe { j.enter(cs.code, &mut *w.env) };
            (unpack_exit(exit).0, w.env.regs[COUNT_REG])
        };
        let addend = World::new(1).env.tlb[1][env::tlb_index(RAM_VA)].addend;
        let halted = (ExitCode::Halt, 2);
        let missed = (if k == 2 { ExitCode::Lookup } else { ExitCode::Goto }, 1);
        assert_eq!(run(&|_| {}), missed, "case {k}: unchained");
        // Chained in the code only (the cells stay empty): the jump is direct.
        // SAFETY (all patches): the site is live and nothing else runs this code.
        assert!(unsafe { patch_exit(&site, ct.code, addend, RAM_VA) });
        let same_mapping = |e: &mut Env| e.tlb[1][env::tlb_index(RAM_VA)].addend = addend;
        assert_eq!(run(&same_mapping), halted, "case {k}: patched");
        if k > 0 {
            let moved = |e: &mut Env| e.tlb[1][env::tlb_index(RAM_VA)].addend = addend ^ 0x1000;
            assert_eq!(run(&moved), missed, "case {k}: another mapping");
            let unmapped = |e: &mut Env| {
                e.tlb[1][env::tlb_index(RAM_VA)].addend = addend;
                e.tlb[1][env::tlb_index(RAM_VA)].addr_code = TLB_INVALID;
            };
            assert_eq!(run(&unmapped), missed, "case {k}: unmapped");
        }
        if k == 2 {
            let elsewhere = |e: &mut Env| {
                same_mapping(e);
                e.regs[1] = RAM_VA + 4;
            };
            assert_eq!(run(&elsewhere), missed, "another target");
        }
        assert!(!unsafe { patch_exit(&site, std::ptr::null(), addend, RAM_VA) });
        assert_eq!(run(&same_mapping), missed, "case {k}: patched back");
        let far = (site.jmp as usize).wrapping_add(1 << 40) as *const u8;
        assert!(!unsafe { patch_exit(&site, far, addend, RAM_VA) });
        assert_eq!(run(&same_mapping), missed, "case {k}: out of reach");
    }
}

/// Unverified IR must never take the host down: what the emitter cannot place it refuses, the
/// rest (temps and helpers out of range, a missing terminator, use before definition) runs.
#[test]
fn compile_verified_survives_invalid_ir() {
    let mut j = base();
    let mut blocks = Vec::new();
    // A temp out of range, a helper out of range, no terminator.
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    b.set_reg(Reg(1), Temp(999));
    b.push(Op::Call { helper: HelperId(77), dst: Some(Temp(5)), args: vec![Temp(3)].into() });
    b.push(Op::Call { helper: HelperId(H_ADD3), dst: None, args: vec![].into() });
    b.set_reg(Reg(2), Temp(5));
    blocks.push(b.finish());
    // A branch to a label never placed; a label placed twice.
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let c = b.konst(1);
    let l = b.new_label();
    b.br_cond(c, l);
    b.goto(0x1004);
    blocks.push(b.finish());
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let l = b.new_label();
    b.label(l);
    b.label(l);
    b.goto(0x1004);
    blocks.push(b.finish());
    // Ops after a terminator, a label out of range.
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    b.exit(ExitReason::Halt, 0x1004);
    b.konst(3);
    b.push(Op::Br { label: Label(40) });
    blocks.push(b.finish());
    for blk in &blocks {
        assert!(verify(blk, HELPERS).is_err());
        let s = slots(blk);
        if let Ok(c) = j.compile_verified(blk, 1, s.as_ptr()) {
            let mut w = World::new(1);
            // SAFETY: valid env; the code is host-safe whatever the IR (the property tested).
            unsafe { j.enter(c.code, &mut *w.env) };
        }
    }
    assert!(j.compile_verified(&blocks[1], 1, slots(&blocks[1]).as_ptr()).is_err(), "an unplaced label");
}

/// Guest registers below `Env` offset 128 (loaded, stored, or set to a constant), stack slots and
/// small immediates get the short encodings (8-bit displacement or immediate): baseline code is
/// mostly run cold, so its size is fetch time. Registers further out keep 32-bit displacements
/// and still compute right.
#[test]
fn near_registers_and_small_immediates_use_short_encodings() {
    use mimic_translator::env::reg_offset;
    let (near, far) = (Reg(5), Reg(31));
    assert!(reg_offset(near.0) < 128 && reg_offset(far.0) >= 128, "the test needs one of each");
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let x = b.get_reg(near);
    let eight = b.konst(8);
    let sum = b.bin64(BinOp::Add, x, eight);
    b.set_reg(near, sum);
    let y = b.get_reg(far);
    let sum2 = b.bin64(BinOp::Add, y, sum);
    b.set_reg(far, sum2);
    let seven = b.konst(7);
    b.set_reg(Reg(6), seven);
    b.goto(0x1004);
    let blk = b.finish();
    let mut j = base();
    let s = slots(&blk);
    let c = j.compile(&blk, 1, s.as_ptr()).unwrap();
    let code = j.code_bytes(&c).to_vec();
    let d = reg_offset(near.0) as u8;
    let has = |pat: &[u8]| code.windows(pat.len()).any(|w| w == pat);
    assert!(has(&[0x48, 0x8b, 0x43, d]), "mov rax, [rbx + disp8] for x5: {code:02x?}");
    assert!(has(&[0x48, 0x83, 0xc0, 0x08]), "add rax, imm8: {code:02x?}");
    assert!(has(&[0x48, 0x89, 0x43, d]), "mov [rbx + disp8], rax for x5: {code:02x?}");
    let d6 = reg_offset(6) as u8;
    assert!(has(&[0x48, 0xc7, 0x43, d6, 7, 0, 0, 0]), "mov QWORD [rbx + disp8], imm32 for x6: {code:02x?}");
    let mut w = World::new(1);
    w.env.regs[5] = 100;
    w.env.regs[31] = 1000;
    w.env.budget = 10;
    // SAFETY: valid env and code of the live generation.
    let exit = unsafe { j.enter(c.code, &mut *w.env) };
    assert_eq!(unpack_exit(exit).0, ExitCode::Goto);
    assert_eq!((w.env.regs[5], w.env.regs[6], w.env.regs[31], w.env.pc), (108, 7, 1108, 0x1004));
}
