//! What the run loop needs from a guest architecture, independent of which one it is.
//!
//! A frontend crate implements [`GuestCpu`] for its CPU state and [`Frontend`] for its decoder;
//! `accel/tcg` drives both without knowing the ISA.

use crate::env::Env;
use crate::helpers::HelperTable;
use crate::ir::Block;

/// The kind of a memory access, for permission checks and fault reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// Why a memory access failed after translation succeeded (reported with [`GuestCpu::raise_mem_fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemFault {
    /// The address is misaligned and the access may not be emulated.
    Misaligned,
    /// Nothing answers at the physical address, or the device refused the access size.
    AccessFault,
}

/// A successful virtual→physical translation for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageMapping {
    /// Physical address of the byte at the translated virtual address.
    pub paddr: u64,
    /// Whether the mapping may be cached in the TLB for the whole 4 KiB page (false when PMP or a
    /// small region makes permissions differ inside the page).
    pub cacheable: bool,
    /// Permissions the page grants under this mmu_idx (lets a read fill the write entry too).
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

pub trait GuestCpu {
    fn env(&mut self) -> &mut Env;
    fn env_ref(&self) -> &Env;

    /// Bits that, with the physical PC, select a translation (privilege, paging mode, FP state…).
    /// Translating the same code under different flags must give different blocks.
    fn tb_flags(&self) -> u64;

    /// The mmu_idx instruction fetches use under the current state.
    fn code_mmu_idx(&self) -> u8;

    /// Translate `vaddr` for an access of `size` bytes (`[vaddr, vaddr + size)`, never crossing a
    /// page; 1 for instruction fetches) under TLB `mmu_idx`. Permission checks that depend on the
    /// access size (RISC-V PMP rejects an access only partly inside an entry) use `size`; a mapping
    /// whose verdict may differ for other accesses in the page must say `cacheable: false`. On
    /// failure the guest exception (page fault, access fault) is recorded as pending and `None` is
    /// returned.
    fn translate(&mut self, vaddr: u64, size: u64, access: Access, mmu_idx: u8) -> Option<PageMapping>;

    /// Record a fault found after translation (bus error, forbidden misalignment) as pending.
    fn raise_mem_fault(&mut self, fault: MemFault, vaddr: u64, access: Access);

    /// Deliver the pending exception (trap entry: cause, epc, tval, mode switch, new PC).
    fn deliver_exception(&mut self);

    /// Take a pending and enabled interrupt if there is one (trap entry); returns whether it did.
    fn take_interrupt(&mut self) -> bool;

    /// Is there an interrupt that would wake the CPU from `wfi` (pending & enabled in `mie`,
    /// regardless of global enables)?
    fn wakeup_pending(&self) -> bool;

    /// Bring timers the CPU itself holds (RISC-V Sstc's `stimecmp`) up to date with the clock;
    /// returns nanoseconds until the next one fires, for a CPU waiting in `wfi`.
    fn poll_timers(&mut self) -> Option<u64> {
        None
    }

    /// The guest's helper table, indexed by `HelperId`.
    fn helpers(&self) -> HelperTable;

    /// Called by the run loop just before it sets `Env::budget` to `new_budget` for a new period.
    /// `remaining` (>= 0) is how many instructions of the previous period were not executed, so a
    /// guest counting retired instructions as "period length - budget" can keep that count exact.
    fn on_budget_refill(&mut self, remaining: i64, new_budget: i64) {
        let _ = (remaining, new_budget);
    }
}

/// Reads guest code for the decoder; `None` means the fetch faulted (already recorded as pending
/// on the CPU by the fetcher) and the decoder must end the block before that instruction.
pub trait CodeFetch {
    fn fetch_u16(&mut self, vaddr: u64) -> Option<u16>;
}

pub trait Frontend {
    /// Translate one block starting at `pc` under `flags` (from [`GuestCpu::tb_flags`]), at most
    /// `max_insns` instructions, never crossing a page boundary except for the last instruction's
    /// tail. Undecodable instructions become the guest's illegal-instruction trap, never a panic.
    /// The result depends on nothing but the code fetched and these arguments: the run loop
    /// translates blocks again from their saved bytes and expects the same IR.
    fn translate(&self, fetch: &mut dyn CodeFetch, pc: u64, flags: u64, max_insns: u32) -> Block;

    /// Disassemble guest code for `-d in_asm` (one line per instruction).
    fn disassemble(&self, code: &[u8], pc: u64) -> String;
}
