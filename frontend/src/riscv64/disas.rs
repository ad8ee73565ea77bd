//! Guest disassembly for `-d in_asm`: an objdump-like listing (address, raw bits, instruction) made
//! with Capstone. Encodings Capstone does not know (it lacks e.g. Zb*) are shown by name from the
//! decoder's tables, or as `.insn`; a trailing half instruction as `.2byte`.

use capstone::arch::riscv::{ArchExtraMode, ArchMode};
use capstone::arch::{BuildsCapstone, BuildsCapstoneExtraMode};
use capstone::Capstone;
use std::fmt::Write;

fn capstone() -> Option<Capstone> {
    Capstone::new().riscv().mode(ArchMode::RiscV64).extra_mode([ArchExtraMode::RiscVC].into_iter()).build().ok()
}

/// One line per instruction: `  <pc>:  <raw hex>   <mnemonic> <operands>`.
pub fn disassemble(code: &[u8], pc: u64) -> String {
    let cs = capstone();
    let mut out = String::new();
    let mut off = 0usize;
    while off + 2 <= code.len() {
        let lo = u16::from_le_bytes([code[off], code[off + 1]]);
        let len = if lo & 3 == 3 { 4 } else { 2 };
        let addr = pc.wrapping_add(off as u64);
        if off + len > code.len() {
            let _ = writeln!(out, "  {addr:#x}:  {lo:04x}        .2byte {lo:#06x}");
            break;
        }
        let raw = if len == 4 {
            u32::from_le_bytes([code[off], code[off + 1], code[off + 2], code[off + 3]])
        } else {
            lo as u32
        };
        let hex = if len == 4 { format!("{raw:08x}") } else { format!("{raw:04x}    ") };
        let text = cs
            .as_ref()
            .and_then(|cs| cs.disasm_count(&code[off..off + len], addr, 1).ok())
            .and_then(|insns| {
                insns.iter().next().map(|i| format!("{} {}", i.mnemonic().unwrap_or("?"), i.op_str().unwrap_or("")))
            })
            .unwrap_or_else(|| fallback(raw));
        let _ = writeln!(out, "  {addr:#x}:  {hex}    {}", text.trim_end());
        off += len;
    }
    out
}

/// Name an instruction Capstone does not know from the decoder's own tables.
fn fallback(raw: u32) -> String {
    let insn = if raw & 3 == 3 { Some(raw) } else { super::rvc::expand(raw as u16) };
    match insn.and_then(super::decode::decode) {
        Some(p) => format!("{} (0x{:08x})", p.name, insn.unwrap_or(raw)),
        None => format!(".insn 0x{raw:x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_mixed_width_code() {
        // addi a0,a0,1 ; c.addi a0,1 ; andn a0,a0,a1 (Zbb)
        let code = [0x13, 0x05, 0x15, 0x00, 0x05, 0x05, 0x33, 0x75, 0xb5, 0x40];
        let s = disassemble(&code, 0x8000_0000);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3, "{s}");
        assert!(lines[0].contains("0x80000000") && lines[0].contains("addi"), "{s}");
        assert!(lines[1].contains("0x80000004") && lines[1].contains("addi"), "{s}");
        assert!(lines[2].contains("0x80000006") && lines[2].contains("andn"), "{s}");
    }
}
