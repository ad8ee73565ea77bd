//! Code-cache generations really give their memory back: many fill/flush cycles must not grow the
//! process's mappings (own test binary, so no other test's allocations interfere).

mod common;
use common::*;
use mimic_translator::ir::*;
use mimic_translator::jit::{Jit, JitConfig};

fn vm_size_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn many_flushes_release_memory() {
    // 16 MiB per generation (plus headroom): 60 leaked generations would be over 1 GiB.
    let mut j = Jit::new(HELPERS, JitConfig { max_code_bytes: 16 << 20, ..Default::default() }).unwrap();
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let x = b.get_reg(Reg(1));
    let y = b.bin64(BinOp::Mul, x, x);
    b.set_reg(Reg(2), y);
    b.goto(0x1004);
    let blk = b.finish();
    let s = slots(&blk);
    let warm = |j: &mut Jit| {
        for id in 0..20 {
            let c = j.compile(&blk, id, s.as_ptr()).unwrap();
            let mut w = World::new(1);
            // SAFETY: code of the current generation, valid env.
            unsafe { j.enter(c.code, &mut *w.env) };
            assert_eq!(w.env.regs[2], w.env.regs[1].wrapping_mul(w.env.regs[1]));
        }
    };
    warm(&mut j);
    // SAFETY: no code runs; all pointers are dropped.
    unsafe { j.flush_all().unwrap() };
    let before = vm_size_kb();
    for _ in 0..60 {
        warm(&mut j);
        // SAFETY: as above.
        unsafe { j.flush_all().unwrap() };
    }
    let after = vm_size_kb();
    assert!(after < before + 64 * 1024, "VmSize grew from {before} kB to {after} kB over 60 flushes");
    assert_eq!(j.stats().flushes, 61);
    assert!(!j.is_full());
}
