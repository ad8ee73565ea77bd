//! IR printer: a stable, readable text form of a [`Block`] for `-d op` logs and golden tests.
//!
//! One op per line; the format is part of the golden tests under `translator/tests/golden/`, so
//! change it deliberately.

use crate::helpers::HelperTable;
use crate::ir::{BinOp, Block, Cond, ExitReason, MemOp, Op, UnOp, Width};
use std::fmt::Write;

fn width(w: Width) -> &'static str {
    match w {
        Width::W32 => "i32",
        Width::W64 => "i64",
    }
}

fn bin_name(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "add",
        BinOp::Sub => "sub",
        BinOp::And => "and",
        BinOp::Or => "or",
        BinOp::Xor => "xor",
        BinOp::AndNot => "andn",
        BinOp::OrNot => "orn",
        BinOp::XorNot => "xnor",
        BinOp::Shl => "shl",
        BinOp::Shr => "shr",
        BinOp::Sar => "sar",
        BinOp::Rotl => "rotl",
        BinOp::Rotr => "rotr",
        BinOp::Mul => "mul",
        BinOp::MulHs => "mulhs",
        BinOp::MulHu => "mulhu",
        BinOp::MulHsu => "mulhsu",
        BinOp::Div => "div",
        BinOp::DivU => "divu",
        BinOp::Rem => "rem",
        BinOp::RemU => "remu",
        BinOp::Min => "min",
        BinOp::MinU => "minu",
        BinOp::Max => "max",
        BinOp::MaxU => "maxu",
    }
}

fn un_name(op: UnOp) -> &'static str {
    match op {
        UnOp::Not => "not",
        UnOp::Neg => "neg",
        UnOp::Sext8 => "sext8",
        UnOp::Sext16 => "sext16",
        UnOp::Sext32 => "sext32",
        UnOp::Zext8 => "zext8",
        UnOp::Zext16 => "zext16",
        UnOp::Zext32 => "zext32",
        UnOp::Clz => "clz",
        UnOp::Ctz => "ctz",
        UnOp::Popcnt => "popcnt",
        UnOp::Bswap => "bswap",
    }
}

fn cond_name(c: Cond) -> &'static str {
    match c {
        Cond::Eq => "eq",
        Cond::Ne => "ne",
        Cond::Lt => "lt",
        Cond::Ge => "ge",
        Cond::Ltu => "ltu",
        Cond::Geu => "geu",
    }
}

fn reason_name(r: ExitReason) -> &'static str {
    match r {
        ExitReason::Reevaluate => "reevaluate",
        ExitReason::Exception => "exception",
        ExitReason::Halt => "halt",
        ExitReason::FlushCode => "flush_code",
    }
}

/// `s32`/`u64` etc. plus the flags, e.g. `s32 mmu1 align rmw`.
fn mem_suffix(m: &MemOp, load: bool) -> (String, String) {
    let sign = if load && m.signed { "s" } else { "u" };
    let ty = format!("{sign}{}", m.size.bytes() * 8);
    let mut flags = format!("mmu{}", m.mmu_idx);
    if m.align {
        flags.push_str(" align");
    }
    if m.rmw {
        flags.push_str(" rmw");
    }
    (ty, flags)
}

/// Render one op (without a trailing newline); helper names come from `helpers`.
pub fn print_op(op: &Op, helpers: HelperTable) -> String {
    match op {
        Op::InsnStart { pc, len } => format!(" ---- {pc:#x} ({len})"),
        Op::Const { dst, value } => format!("{dst} = const {value:#x}"),
        Op::GetReg { dst, reg } => format!("{dst} = get_reg r{}", reg.0),
        Op::SetReg { reg, src } => format!("set_reg r{} <- {src}", reg.0),
        Op::Bin { op, width: w, dst, a, b } => format!("{dst} = {}.{} {a}, {b}", bin_name(*op), width(*w)),
        Op::Un { op, width: w, dst, a } => format!("{dst} = {}.{} {a}", un_name(*op), width(*w)),
        Op::Cmp { cond, dst, a, b } => format!("{dst} = cmp.{} {a}, {b}", cond_name(*cond)),
        Op::Select { dst, cond, a, b } => format!("{dst} = select {cond}, {a}, {b}"),
        Op::Load { dst, addr, mem } => {
            let (ty, flags) = mem_suffix(mem, true);
            format!("{dst} = load.{ty} [{addr}] {flags}")
        }
        Op::Store { addr, src, mem } => {
            let (ty, flags) = mem_suffix(mem, false);
            format!("store.{ty} [{addr}] <- {src} {flags}")
        }
        Op::Call { helper, dst, args } => {
            let name = helpers.get(helper.0 as usize).map_or_else(|| format!("helper#{}", helper.0), |h| h.name.into());
            let args: Vec<String> = args.iter().map(|t| t.to_string()).collect();
            match dst {
                Some(d) => format!("{d} = call {name}({})", args.join(", ")),
                None => format!("call {name}({})", args.join(", ")),
            }
        }
        Op::BrCond { cond, label } => format!("brcond {cond}, {label}"),
        Op::Br { label } => format!("br {label}"),
        Op::Label { label } => format!("{label}:"),
        Op::Goto { pc } => format!("goto {pc:#x}"),
        Op::GotoPtr { target } => format!("goto_ptr {target}"),
        Op::Exit { reason: ExitReason::Exception, .. } => "exit exception".to_string(),
        Op::Exit { reason, pc } => format!("exit {} {pc:#x}", reason_name(*reason)),
    }
}

/// Render a whole block: a header line, then one op per line (ops other than InsnStart and
/// labels indented by two spaces).
pub fn print_block(block: &Block, helpers: HelperTable) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "block {:#x} insns={} len={} temps={} labels={}",
        block.pc,
        block.insn_count,
        block.guest_len,
        block.temp_count(),
        block.label_count()
    );
    for op in &block.ops {
        let indent = match op {
            Op::InsnStart { .. } | Op::Label { .. } => "",
            _ => "  ",
        };
        let _ = writeln!(s, "{indent}{}", print_op(op, helpers));
    }
    s
}
