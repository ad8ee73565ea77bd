//! Golden tests for the IR printer: blocks built with the Builder must print exactly as the text
//! under `tests/golden/` (set `UPDATE_GOLDEN=1` to rewrite the files after a deliberate change).

mod common;
use common::*;
use mimic_translator::ir::*;
use mimic_translator::print::print_block;

fn golden(name: &str, block: &Block) {
    let text = print_block(block, HELPERS);
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(text, want, "printer output differs from {path}");
}

#[test]
fn arith_and_regs() {
    let mut b = Builder::new(0x8000_0000);
    b.insn_start(0x8000_0000, 4);
    let a = b.get_reg(Reg(1));
    let c = b.konst(0x10);
    let s = b.bin64(BinOp::Add, a, c);
    b.set_reg(Reg(2), s);
    b.insn_start(0x8000_0004, 2);
    let w = b.bin(BinOp::Sar, Width::W32, s, a);
    let x = b.un(UnOp::Sext32, Width::W64, w);
    let k = b.cmp(Cond::Ltu, x, a);
    let y = b.select(k, x, c);
    b.set_reg(Reg(3), y);
    b.goto(0x8000_0006);
    golden("arith", &b.finish());
}

#[test]
fn memory_calls_and_branches() {
    let mut b = Builder::new(0x1000);
    b.insn_start(0x1000, 4);
    let a = b.get_reg(Reg(10));
    let v = b.load(a, MemOp::new(MemSize::B4, true, 1));
    let m = MemOp { size: MemSize::B8, signed: false, mmu_idx: 3, align: true, rmw: true };
    let r = b.load(a, m);
    b.store(a, v, MemOp { rmw: false, ..m });
    b.insn_start(0x1004, 4);
    let s = b.call(HelperId(H_ADD3), &[v, r, a]);
    b.call_void(HelperId(H_COUNT), &[]);
    let l = b.new_label();
    b.br_cond(s, l);
    b.goto(0x1008);
    b.label(l);
    let t = b.get_reg(Reg(1));
    b.goto_ptr(t);
    golden("memory", &b.finish());
}

#[test]
fn exits() {
    let mut b = Builder::new(0x2000);
    b.insn_start(0x2000, 4);
    let l = b.new_label();
    b.br(l);
    b.label(l);
    let z = b.konst(0);
    let l2 = b.new_label();
    b.br_cond(z, l2);
    b.exit(ExitReason::Halt, 0x2004);
    b.label(l2);
    b.exit(ExitReason::Exception, 0);
    golden("exits", &b.finish());
}
