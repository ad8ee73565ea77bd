//! Translation cost per block on real kernel code: the riscv64 frontend, the dead-store pass,
//! the IR verifier and the baseline compiler, each timed on its own over the same blocks.
//! A Linux boot translates ~70k blocks, most of which run only a few times, so this per-block
//! cost is a large part of boot time (see docs/architecture.md).
//!
//! Usage: cargo bench -p mimic-frontend --bench translate [-- IMAGE [BLOCKS]]
//! IMAGE defaults to guests/riscv64/vmlinux (scripts/fetch-riscv-guest.sh), a flat RISC-V Linux
//! Image; blocks are taken by a linear sweep of its text, as if each started where the last
//! ended, at the kernel's virtual addresses. Without an image the bench says so and exits 0.

use std::sync::atomic::AtomicPtr;
use std::time::Instant;

use mimic_frontend::riscv64::{helper_table, translate::RiscvFrontend};
use mimic_translator::baseline::Baseline;
use mimic_translator::guest::{CodeFetch, Frontend};
use mimic_translator::ir::Block;

/// Linux's riscv64 kernel runs its image at this virtual address.
const KERNEL_VA: u64 = 0xffff_ffff_8000_0000;
/// Skip the EFI/boot header; the text proper starts after it.
const TEXT_OFFSET: u64 = 0x2000;
/// `GuestCpu::tb_flags` of a supervisor-mode hart with paging on, as during a boot.
const S_MODE_FLAGS: u64 = 0x5;

struct Image<'a>(&'a [u8]);

impl CodeFetch for Image<'_> {
    fn fetch_u16(&mut self, vaddr: u64) -> Option<u16> {
        let off = usize::try_from(vaddr.checked_sub(KERNEL_VA)?).ok()?;
        let b = self.0.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let top = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let path = args.first().cloned().unwrap_or_else(|| format!("{top}/guests/riscv64/vmlinux"));
    let count: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let Ok(image) = std::fs::read(&path) else {
        println!("translate bench: no kernel image at {path} (run scripts/fetch-riscv-guest.sh); skipped");
        return;
    };
    let frontend = RiscvFrontend;
    let mut fetch = Image(&image);

    // The blocks, once, so every stage below times the same work.
    let mut pcs = Vec::with_capacity(count);
    let mut pc = KERNEL_VA + TEXT_OFFSET;
    while pcs.len() < count {
        let b = frontend.translate(&mut fetch, pc, S_MODE_FLAGS, 512);
        if b.guest_len == 0 {
            break;
        }
        pcs.push(pc);
        pc += b.guest_len as u64;
    }
    let n = pcs.len();
    println!("{n} blocks from {path}");

    // Each block goes through the stages back to back, as in the run loop, so each stage finds
    // the block in cache as it would there; the clock reads cost ~20 ns per stage.
    let cells: Vec<AtomicPtr<u8>> = (0..64).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
    for round in 0..3 {
        let mut baseline = Baseline::new(helper_table(), 128 << 20).expect("baseline code memory");
        let mut blocks: Vec<Block> = Vec::with_capacity(n);
        let mut ns = [0u128; 4];
        let start = Instant::now();
        for (id, &pc) in pcs.iter().enumerate() {
            let t0 = Instant::now();
            let mut b = frontend.translate(&mut fetch, pc, S_MODE_FLAGS, 512);
            let t1 = Instant::now();
            mimic_translator::opt::drop_dead_reg_writes(&mut b);
            let t2 = Instant::now();
            mimic_translator::verify::verify(&b, helper_table()).expect("frontend IR verifies");
            let t3 = Instant::now();
            assert!(mimic_translator::env::exit_cells(mimic_translator::interp::exit_slot_count(&b)) <= cells.len());
            baseline.compile_verified(&b, id as u64, cells.as_ptr()).expect("baseline compiles");
            let t4 = Instant::now();
            for (k, (a, z)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4)].into_iter().enumerate() {
                ns[k] += (z - a).as_nanos();
            }
            // Kept, as the run loop keeps every block's IR.
            blocks.push(b);
        }
        let total = start.elapsed().as_nanos();
        println!("round {round}: {:.0} ns/block in all", total as f64 / n as f64);
        for (label, t) in ["frontend", "drop_dead_reg_writes", "verify", "baseline compile"].iter().zip(ns) {
            println!("  {label:<22}{:>8.0} ns/block", t as f64 / n as f64);
        }
        let ops: usize = blocks.iter().map(|b| b.ops.len()).sum();
        let insns: u64 = blocks.iter().map(|b| b.insn_count as u64).sum();
        println!(
            "  {:.1} guest insns, {:.1} IR ops, {:.0} code bytes per block",
            insns as f64 / n as f64,
            ops as f64 / n as f64,
            baseline.stats().code_bytes as f64 / n as f64
        );
    }
}
