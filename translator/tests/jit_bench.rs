//! Compile-time measurement of a typical block (12 guest-instruction-like groups, ~60 IR ops) at
//! opt_level speed vs none and in the baseline tier, and a dump of its machine code for inspection
//! (`cargo test -p mimic-translator --release --test jit_bench -- --nocapture`).

mod common;
use common::*;
use mimic_translator::baseline::Baseline;
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
    println!("block has {} ops", typical_block().ops.len());
    for opt in ["speed", "none", "speed"] {
        let j = Jit::new(HELPERS, JitConfig { opt_level: opt, ..Default::default() }).unwrap();
        measure(j, &format!("opt_level={opt}"), opt, 200);
    }
}

#[test]
fn baseline_compile_time() {
    measure(Baseline::for_tests(), "baseline", "base", 2000);
}

/// Compiles the typical block `n` times on `j`, prints the mean compile time and code size and,
/// with `DUMP_ASM` set, writes the last copy's code to `/tmp/mimic_block_{file_tag}.bin`.
fn measure<B: Backend>(mut j: B, label: &str, file_tag: &str, n: u64) {
    let blk = typical_block();
    let s = slots(&blk);
    let mut last = None;
    for id in 0..n {
        last = Some(j.compile(&blk, id, s.as_ptr()).unwrap());
    }
    let c = last.unwrap();
    println!("{label}: {:.2} us/block, {} code bytes/block", j.stats().compile_ns as f64 / n as f64 / 1000.0, c.size);
    if std::env::var_os("DUMP_ASM").is_some() {
        let path = format!("/tmp/mimic_block_{file_tag}.bin");
        std::fs::write(&path, j.code_bytes(&c)).unwrap();
        println!("code written to {path}");
    }
    assert_eq!(j.code_bytes(&c).len(), c.size);
}
