//! Compile-time measurement of a typical block (12 guest-instruction-like groups, ~60 IR ops) at
//! opt_level speed vs none and in the baseline tier, and a dump of its machine code for inspection
//! (`cargo test -p mimic-translator --release --test jit_bench -- --nocapture`).

mod common;
use common::*;
use mimic_translator::ir::*;
use mimic_translator::jit::{Jit, JitConfig};

/// Loads, ALU ops, a store and a conditional exit: what a 12-instruction RISC-V block becomes.
pub fn typical_block() -> Block {
    let mut b = Builder::new(0x8000_0000);
    let mut pc = 0x8000_0000;
    for i in 0..11u16 {
        b.insn_start(pc, 4);
        pc += 4;
        let a = b.get_reg(Reg(1 + i % 8));
        let c = b.konst(8 * i as u64);
        let s = b.bin64(BinOp::Add, a, c);
        match i % 4 {
            0 => {
                let v = b.load(s, MemOp::new(MemSize::B8, false, 1));
                b.set_reg(Reg(10 + i), v);
            }
            1 => {
                let v = b.get_reg(Reg(12));
                b.store(s, v, MemOp::new(MemSize::B4, false, 1));
            }
            _ => {
                let w = b.bin(BinOp::Xor, Width::W32, s, a);
                let x = b.un(UnOp::Sext32, Width::W64, w);
                b.set_reg(Reg(10 + i), x);
            }
        }
    }
    b.insn_start(pc, 4);
    let x = b.get_reg(Reg(10));
    let y = b.get_reg(Reg(11));
    let k = b.cmp(Cond::Lt, x, y);
    let l = b.new_label();
    b.br_cond(k, l);
    b.goto(pc + 4);
    b.label(l);
    b.goto(0x8000_0000);
    b.finish()
}

#[test]
fn compile_time_speed_vs_none() {
    let blk = typical_block();
    println!("block has {} ops", blk.ops.len());
    for opt in ["speed", "none", "speed"] {
        let mut j = Jit::new(HELPERS, JitConfig { opt_level: opt, ..Default::default() }).unwrap();
        let s = slots(&blk);
        let n = 200;
        let mut last = None;
        for id in 0..n {
            last = Some(j.compile(&blk, id, s.as_ptr()).unwrap());
        }
        let st = j.stats();
        let c = last.unwrap();
        println!(
            "opt_level={opt}: {:.1} us/block, {} code bytes/block",
            st.compile_ns as f64 / n as f64 / 1000.0,
            c.size
        );
        if std::env::var_os("DUMP_ASM").is_some() {
            let path = format!("/tmp/mimic_block_{opt}.bin");
            std::fs::write(&path, j.code_bytes(&c)).unwrap();
            println!("code written to {path}");
        }
        assert_eq!(j.code_bytes(&c).len(), c.size);
    }
}

#[test]
fn baseline_compile_time() {
    let blk = typical_block();
    let mut j = mimic_translator::baseline::Baseline::new(HELPERS, 32 << 20).unwrap();
    let s = slots(&blk);
    let n = 2000;
    let mut last = None;
    for id in 0..n {
        last = Some(j.compile(&blk, id, s.as_ptr()).unwrap());
    }
    let st = j.stats();
    let c = last.unwrap();
    println!("baseline: {:.2} us/block, {} code bytes/block", st.compile_ns as f64 / n as f64 / 1000.0, c.size);
    if std::env::var_os("DUMP_ASM").is_some() {
        std::fs::write("/tmp/mimic_block_base.bin", j.code_bytes(&c)).unwrap();
    }
    assert_eq!(j.code_bytes(&c).len(), c.size);
}
