//! The contract between generated code, the IR interpreter, helpers and the run loop.
//!
//! [`Env`] is the part of a guest CPU that translated code touches directly: the register file,
//! the PC, the instruction budget, the exception flag and the softmmu TLBs. A guest CPU type puts
//! an `Env` as the *first* field of a `#[repr(C)]` struct, so a helper that receives `*mut Env`
//! can reach the whole CPU (the pattern of QEMU's `CPUArchState` inside `ArchCPU`).
//!
//! Offsets of every field are exported as constants for the Cranelift lowering.

use std::mem::offset_of;

/// Register-file slots available to a guest (RISC-V uses x0..x31, f0..f31 and a few more).
pub const NUM_REGS: usize = 96;

/// log2 of the page size the softmmu works in.
pub const PAGE_BITS: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);

pub const TLB_BITS: u32 = 10;
pub const TLB_SIZE: usize = 1 << TLB_BITS;
/// TLBs (translation regimes) per CPU; `MemOp::mmu_idx` selects one.
pub const NUM_MMU_IDX: usize = 4;

/// Set in a TLB comparator to force every access through the slow path (MMIO, a page holding
/// translated code for writes, a watchpoint). It lies inside the page offset, so no aligned
/// address ever matches it. An all-ones comparator is an empty entry.
pub const TLB_FORCE_SLOW: u64 = 1 << 11;
pub const TLB_INVALID: u64 = u64::MAX;

/// What a TLB comparator is compared with for an access of `n` bytes at `vaddr` (see
/// [`TlbEntry`]): the page of its last byte, or for an access that must be aligned, its page
/// with the low address bits that must be zero. A page-crossing access compares the next page
/// with the entry indexed by `vaddr`, which never holds it (the index differs), and neither
/// value ever equals a comparator with [`TLB_FORCE_SLOW`] set or [`TLB_INVALID`].
#[inline]
pub const fn tlb_probe(vaddr: u64, n: u64, align: bool) -> u64 {
    let (offset, mask) = tlb_probe_parts(n, align);
    vaddr.wrapping_add(offset) & mask
}

/// [`tlb_probe`] as `(vaddr + offset) & mask`, for the compiled tiers to emit: `offset` is the
/// last byte's (0 when the access must be aligned, or is one byte), `mask` keeps the page and,
/// for an access that must be aligned, the bits that must be zero.
#[inline]
pub const fn tlb_probe_parts(n: u64, align: bool) -> (u64, u64) {
    if align {
        (0, PAGE_MASK | (n - 1))
    } else {
        (n - 1, PAGE_MASK)
    }
}

/// One softmmu TLB entry. A hit for an access of `n` bytes at `vaddr` with permission `p` is
/// `tlb_probe(vaddr, n, align) == addr_p`; the host address is then `vaddr + addend`. An access
/// that may be misaligned hits when its last byte is on the same page, as on QEMU (guests that
/// probe the speed of misaligned accesses, as Linux does, see them as fast); one that must be
/// aligned (`MemOp::align`) hits only when it is, so the slow path raises its fault.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    pub addr_read: u64,
    pub addr_write: u64,
    pub addr_code: u64,
    pub addend: u64,
}

impl TlbEntry {
    pub const EMPTY: Self = Self { addr_read: TLB_INVALID, addr_write: TLB_INVALID, addr_code: TLB_INVALID, addend: 0 };

    /// Does the entry hold virtual page `page` for any access?
    pub fn maps(&self, page: u64) -> bool {
        let hit = |c: u64| c != TLB_INVALID && (c & PAGE_MASK) == page;
        hit(self.addr_read) || hit(self.addr_write) || hit(self.addr_code)
    }

    pub fn is_empty(&self) -> bool {
        self.addr_read == TLB_INVALID && self.addr_write == TLB_INVALID && self.addr_code == TLB_INVALID
    }
}

/// [`Env::exit_request`] when no exit was requested.
pub const NO_EXIT_REQUEST: i64 = i64::MIN;

/// Entries per victim TLB ([`Env::victim`]), as QEMU's.
pub const VICTIM_TLB_SIZE: usize = 8;

/// An entry a TLB fill evicted, with the physical offset (`paddr - vaddr`) the run loop keeps
/// beside it, so that swapping it back restores both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VictimEntry {
    pub entry: TlbEntry,
    pub phys_offset: u64,
}

impl VictimEntry {
    pub const EMPTY: Self = Self { entry: TlbEntry::EMPTY, phys_offset: 0 };
}

/// Index of the TLB entry for `vaddr`.
#[inline]
pub fn tlb_index(vaddr: u64) -> usize {
    ((vaddr >> PAGE_BITS) as usize) & (TLB_SIZE - 1)
}

/// Offset in [`Env`] of the entry for `vaddr`'s page in TLB `mmu_idx` (clamped to the last TLB).
pub fn tlb_entry_offset(mmu_idx: u8, vaddr: u64) -> i32 {
    let mmu = (mmu_idx as usize).min(NUM_MMU_IDX - 1) as i32;
    ENV_TLB_OFFSET + (mmu * TLB_SIZE as i32 + tlb_index(vaddr) as i32) * TLB_ENTRY_SIZE
}

#[repr(C)]
pub struct Env {
    pub regs: [u64; NUM_REGS],
    /// Guest PC. Exact whenever a block returns to the run loop; before any op that may raise an
    /// exception (loads, stores, `may_raise` helpers) generated code stores the current
    /// instruction's PC here, so exceptions are precise. A block entered through a chained jump
    /// does not get it updated (nothing reads it before the next of those points).
    pub pc: u64,
    /// Instructions this CPU may still execute before returning to the run loop. Every block
    /// subtracts its instruction count on entry and returns [`ExitCode::Budget`] if the result
    /// is negative (the block then has not executed). Setting it to a negative value from a
    /// helper or another part of the run loop is how an exit is requested.
    pub budget: i64,
    /// Non-zero when a helper or the softmmu recorded a guest exception (the guest CPU keeps its
    /// details); generated code returns [`ExitCode::Exception`] when it sees it.
    pub exception_pending: u32,
    /// Set (nonzero) by the run loop and the lookup hook right before they enter compiled code of
    /// a block with a [`crate::ir::Block::second_page`], having checked its mapping themselves:
    /// the code's entry check then only resets it. Entered by a chain or a cache, the code finds
    /// it zero and compares its code TLB's entry for that page with the one it was translated
    /// under; a mismatch returns [`ExitCode::Lookup`] at its PC before anything has run, and the
    /// run loop's lookup sorts out the mapping. (Chains check only the target's first page.)
    pub page_checked: u32,
    /// Hooks the run loop provides to generated code (softmmu slow paths, TB lookup).
    pub runtime: *const Runtime,
    /// Bumped by every TLB flush (whole or one page). Block lookups do not depend on it: they
    /// check that the code TLB entry still maps a block's page where it was translated from.
    pub tlb_gen: u64,
    /// Set by compiled code before it calls the lookup hook for a `Goto` to another page: the
    /// exit the hook may chain ([`pack_link`]). The hook resets it to 0 (which a `GotoPtr` then
    /// leaves as is).
    pub lookup_link: u64,
    /// The shared indirect-jump cache ([`ItcEntry`], [`ITC_SIZE`] entries), or null for none.
    pub itc: *mut ItcEntry,
    /// Set by compiled code before it calls the lookup hook for a `GotoPtr` of a block that
    /// may use the indirect-jump cache: that block's [`crate::ir::Block::flags`], the key the
    /// hook files its answer under. The hook resets it to [`NO_LOOKUP_KEY`].
    pub lookup_key: u64,
    /// Where compiled code's load slow path leaves the loaded value (its out-of-line call cannot
    /// return one, see `jit`).
    pub slow_value: u64,
    /// Address and encoded [`crate::ir::MemOp`] of the access compiled code's slow-path stub
    /// performs (with `slow_value` the value of a store).
    pub slow_va: u64,
    pub slow_memop: u64,
    pub tlb: [[TlbEntry; TLB_SIZE]; NUM_MMU_IDX],
    /// The budget a helper or hook found when it asked the running code to return to the run
    /// loop ([`Env::request_exit`]), or [`NO_EXIT_REQUEST`]. The run loop puts it back after the
    /// exit, so a request costs the guest neither instructions nor the rest of its budget period.
    pub exit_request: i64,
    /// Per TLB, the last entries fills evicted. The TLB is direct-mapped, and in a Linux boot
    /// most fills replaced a live entry of another page with the same index, often one that
    /// was needed again soon; the slow path swaps those back instead of walking page tables.
    /// Only the slow path (never compiled code) reads them; flushes clear them with the TLB.
    pub victim: [[VictimEntry; VICTIM_TLB_SIZE]; NUM_MMU_IDX],
    /// Per TLB, the victim slot the next eviction goes to (round robin).
    pub victim_next: [u8; NUM_MMU_IDX],
}

impl Env {
    pub fn new() -> Self {
        Self {
            regs: [0; NUM_REGS],
            pc: 0,
            budget: 0,
            exception_pending: 0,
            page_checked: 0,
            runtime: std::ptr::null(),
            tlb_gen: 0,
            lookup_link: 0,
            itc: std::ptr::null_mut(),
            lookup_key: NO_LOOKUP_KEY,
            slow_value: 0,
            slow_va: 0,
            slow_memop: 0,
            tlb: [[TlbEntry::EMPTY; TLB_SIZE]; NUM_MMU_IDX],
            exit_request: NO_EXIT_REQUEST,
            victim: [[VictimEntry::EMPTY; VICTIM_TLB_SIZE]; NUM_MMU_IDX],
            victim_next: [0; NUM_MMU_IDX],
        }
    }

    /// Make generated code return to the run loop at the next block entry (a negative budget),
    /// keeping the budget left for the run loop to restore ([`Env::take_exit_request`]).
    pub fn request_exit(&mut self) {
        if self.exit_request == NO_EXIT_REQUEST {
            self.exit_request = self.budget.max(0);
        }
        self.budget = -1;
    }

    /// The budget to restore after an exit [`Env::request_exit`] asked for, if one did.
    pub fn take_exit_request(&mut self) -> Option<i64> {
        let b = std::mem::replace(&mut self.exit_request, NO_EXIT_REQUEST);
        (b != NO_EXIT_REQUEST).then_some(b)
    }

    pub fn flush_tlb(&mut self) {
        self.tlb_gen += 1;
        for t in self.tlb.iter_mut() {
            t.fill(TlbEntry::EMPTY);
        }
        self.victim = [[VictimEntry::EMPTY; VICTIM_TLB_SIZE]; NUM_MMU_IDX];
    }

    pub fn flush_tlb_page(&mut self, vaddr: u64) {
        self.tlb_gen += 1;
        let i = tlb_index(vaddr);
        let page = vaddr & PAGE_MASK;
        for t in self.tlb.iter_mut() {
            if t[i].maps(page) {
                t[i] = TlbEntry::EMPTY;
            }
        }
        for v in self.victim.iter_mut().flatten() {
            if v.entry.maps(page) {
                *v = VictimEntry::EMPTY;
            }
        }
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

pub const ENV_REGS_OFFSET: i32 = offset_of!(Env, regs) as i32;
pub const ENV_PC_OFFSET: i32 = offset_of!(Env, pc) as i32;
pub const ENV_BUDGET_OFFSET: i32 = offset_of!(Env, budget) as i32;
pub const ENV_EXCEPTION_OFFSET: i32 = offset_of!(Env, exception_pending) as i32;
pub const ENV_PAGE_CHECKED_OFFSET: i32 = offset_of!(Env, page_checked) as i32;
pub const ENV_RUNTIME_OFFSET: i32 = offset_of!(Env, runtime) as i32;
pub const ENV_LOOKUP_LINK_OFFSET: i32 = offset_of!(Env, lookup_link) as i32;
pub const ENV_ITC_OFFSET: i32 = offset_of!(Env, itc) as i32;
pub const ENV_LOOKUP_KEY_OFFSET: i32 = offset_of!(Env, lookup_key) as i32;
pub const ENV_SLOW_VALUE_OFFSET: i32 = offset_of!(Env, slow_value) as i32;
pub const ENV_SLOW_VA_OFFSET: i32 = offset_of!(Env, slow_va) as i32;
pub const ENV_SLOW_MEMOP_OFFSET: i32 = offset_of!(Env, slow_memop) as i32;
pub const ENV_TLB_OFFSET: i32 = offset_of!(Env, tlb) as i32;
pub const TLB_ENTRY_SIZE: i32 = std::mem::size_of::<TlbEntry>() as i32;
pub const TLB_ADDR_READ_OFFSET: i32 = offset_of!(TlbEntry, addr_read) as i32;
pub const TLB_ADDR_WRITE_OFFSET: i32 = offset_of!(TlbEntry, addr_write) as i32;
pub const TLB_ADDR_CODE_OFFSET: i32 = offset_of!(TlbEntry, addr_code) as i32;
pub const TLB_ADDEND_OFFSET: i32 = offset_of!(TlbEntry, addend) as i32;

/// Byte offset of register slot `reg` in `Env`.
pub const fn reg_offset(reg: u16) -> i32 {
    ENV_REGS_OFFSET + 8 * reg as i32
}

/// `MemOp` packed into one integer for the slow-path calls:
/// bits 0..1 log2(size), bit 2 signed, bit 3 align, bit 4 rmw, bits 8..15 mmu_idx.
pub fn encode_memop(m: crate::ir::MemOp) -> u64 {
    let log2 = m.size.bytes().trailing_zeros() as u64;
    log2 | (m.signed as u64) << 2 | (m.align as u64) << 3 | (m.rmw as u64) << 4 | (m.mmu_idx as u64) << 8
}

pub fn decode_memop(bits: u64) -> crate::ir::MemOp {
    use crate::ir::MemSize;
    let size = match bits & 3 {
        0 => MemSize::B1,
        1 => MemSize::B2,
        2 => MemSize::B4,
        _ => MemSize::B8,
    };
    crate::ir::MemOp { size, signed: bits & 4 != 0, align: bits & 8 != 0, rmw: bits & 16 != 0, mmu_idx: (bits >> 8) as u8 }
}

/// Slow-path memory access: called when the TLB misses or the entry forces the slow path.
/// On a guest fault it records the exception, sets `exception_pending`, and returns anything.
pub type LoadSlowFn = unsafe extern "C" fn(env: *mut Env, vaddr: u64, memop: u64) -> u64;
pub type StoreSlowFn = unsafe extern "C" fn(env: *mut Env, vaddr: u64, value: u64, memop: u64);
/// Find compiled code for continuing at `Env::pc` under the CPU's current mode, for
/// [`crate::ir::Op::GotoPtr`] and for a `Goto` to another page (then `Env::lookup_link` names
/// the exit slot the hook may chain, see [`exit_slot_guard`]); null sends the block back to the
/// run loop.
pub type LookupFn = unsafe extern "C" fn(env: *mut Env) -> *const u8;

/// The `Env::lookup_link` value for exit `slot` of block `block_id` (never 0).
pub fn pack_link(block_id: u64, slot: u8) -> u64 {
    1 | (slot as u64) << 8 | block_id << 16
}

/// `(block id, slot)` of a nonzero `link`.
pub fn unpack_link(link: u64) -> (u64, u8) {
    (link >> 16, (link >> 8) as u8)
}

/// Index of the guard cell of exit slot `slot` among a block's exit cells. A block has one exit
/// slot per `Goto` and then one per `GotoPtr` (`n` = [`crate::interp::exit_slot_count`]) and
/// owns `3 * n` cells: the code each exit is chained to; then, for chains the lookup hook makes
/// (`Goto`s to another guest page, `GotoPtr`s), the TLB addend (host page minus guest page) the
/// target page had when chained; then, for `GotoPtr`s, the target PC ([`exit_slot_pc`]). Such a
/// chain is only taken while the block's code TLB still maps the target's virtual page with that
/// addend (the same physical RAM page): guest page tables change under chains.
pub fn exit_slot_guard(n: usize, slot: usize) -> usize {
    n + slot
}

/// Index of the target-PC cell of `GotoPtr` exit slot `slot` (see [`exit_slot_guard`]).
pub fn exit_slot_pc(n: usize, slot: usize) -> usize {
    2 * n + slot
}

/// One entry of the indirect-jump cache, which `GotoPtr`s consult when their own exit slot
/// holds another target (a function returning to one of many callers). Direct-mapped by
/// target PC ([`itc_index`]) and shared by all blocks and harts; the lookup hook fills it and
/// the run loop empties entries whose block dies or stops being checked (fences, flushes).
/// Compiled code takes `code` only when `pc` is its target, `key` is its own block's flags, and
/// its code TLB maps `pc`'s page with the addend `guard` (the same rule as an exit-slot chain).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItcEntry {
    pub pc: u64,
    pub key: u64,
    pub guard: u64,
    pub code: *const u8,
}

impl ItcEntry {
    pub const EMPTY: ItcEntry = ItcEntry { pc: u64::MAX, key: NO_LOOKUP_KEY, guard: 0, code: std::ptr::null() };
}

pub const ITC_BITS: u32 = 12;
pub const ITC_SIZE: usize = 1 << ITC_BITS;
pub const ITC_ENTRY_SIZE: i32 = std::mem::size_of::<ItcEntry>() as i32;
pub const ITC_PC_OFFSET: i32 = offset_of!(ItcEntry, pc) as i32;
pub const ITC_KEY_OFFSET: i32 = offset_of!(ItcEntry, key) as i32;
pub const ITC_GUARD_OFFSET: i32 = offset_of!(ItcEntry, guard) as i32;
pub const ITC_CODE_OFFSET: i32 = offset_of!(ItcEntry, code) as i32;
const _: () = assert!(ITC_ENTRY_SIZE == 32);

/// `Env::lookup_key` when no block asked for an indirect-jump cache entry (no flags value is
/// all ones).
pub const NO_LOOKUP_KEY: u64 = u64::MAX;

/// The indirect-jump cache entry for target `pc` (instructions are at least 2-byte aligned).
#[inline]
pub fn itc_index(pc: u64) -> usize {
    (pc >> 1) as usize & (ITC_SIZE - 1)
}

/// Runtime hooks, provided by the accelerator's run loop and stored in `Env::runtime`.
#[repr(C)]
pub struct Runtime {
    pub load_slow: LoadSlowFn,
    pub store_slow: StoreSlowFn,
    pub lookup: LookupFn,
}

pub const RUNTIME_LOAD_OFFSET: i32 = offset_of!(Runtime, load_slow) as i32;
pub const RUNTIME_STORE_OFFSET: i32 = offset_of!(Runtime, store_slow) as i32;
pub const RUNTIME_LOOKUP_OFFSET: i32 = offset_of!(Runtime, lookup) as i32;

/// What a block (compiled or interpreted) returns to the run loop, packed in a `u64`:
/// bits 0..7 the [`ExitCode`], for `Goto` bits 8..15 the exit slot and bits 16..63 the id of the
/// block that took it (so the run loop can chain that slot to the next block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// A `Goto` whose slot is not chained yet; `Env::pc` is the target.
    Goto = 0,
    Reevaluate = 1,
    Exception = 2,
    Halt = 3,
    FlushCode = 4,
    /// The budget ran out at a block entry; `Env::pc` is that block's PC.
    Budget = 5,
    /// A `GotoPtr` whose target had no code, or a block whose entry check found its second page
    /// mapped differently (see [`Env::page_checked`]); `Env::pc` is the target or that block.
    Lookup = 6,
}

impl ExitCode {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Goto,
            1 => Self::Reevaluate,
            2 => Self::Exception,
            3 => Self::Halt,
            4 => Self::FlushCode,
            5 => Self::Budget,
            6 => Self::Lookup,
            _ => return None,
        })
    }
}

/// Exit cells a block with `n` exit slots needs (see [`exit_slot_guard`]).
pub fn exit_cells(n: usize) -> usize {
    3 * n
}

pub fn pack_exit(code: ExitCode, block_id: u64, slot: u8) -> u64 {
    code as u64 | (slot as u64) << 8 | block_id << 16
}

/// `(code, block id, slot)`.
pub fn unpack_exit(v: u64) -> (ExitCode, u64, u8) {
    (ExitCode::from_u8(v as u8).unwrap_or(ExitCode::Reevaluate), v >> 16, (v >> 8) as u8)
}

impl From<crate::ir::ExitReason> for ExitCode {
    fn from(r: crate::ir::ExitReason) -> Self {
        use crate::ir::ExitReason as R;
        match r {
            R::Reevaluate => Self::Reevaluate,
            R::Exception => Self::Exception,
            R::Halt => Self::Halt,
            R::FlushCode => Self::FlushCode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{MemOp, MemSize};

    #[test]
    fn memop_round_trips() {
        for size in [MemSize::B1, MemSize::B2, MemSize::B4, MemSize::B8] {
            let m = MemOp { size, signed: true, mmu_idx: 3, align: true, rmw: false };
            assert_eq!(decode_memop(encode_memop(m)), m);
        }
    }

    #[test]
    fn exit_round_trips() {
        let v = pack_exit(ExitCode::Goto, 12345, 1);
        assert_eq!(unpack_exit(v), (ExitCode::Goto, 12345, 1));
    }

    #[test]
    fn in_page_accesses_hit_crossing_forced_and_empty_never_do() {
        let e = TlbEntry { addr_read: 0x8000_0000, ..TlbEntry::EMPTY };
        let probe = |va: u64, n: u64, align: bool| tlb_probe(va, n, align) == e.addr_read;
        assert!(probe(0x8000_0ff8, 8, false) && probe(0x8000_0ff8, 8, true));
        assert!(probe(0x8000_0ff3, 8, false) && probe(0x8000_0ffe, 2, false), "misaligned, in the page");
        assert!(!probe(0x8000_0ff3, 8, true), "misaligned where alignment is required");
        assert!(!probe(0x8000_0ffc, 8, false) && !probe(0x8000_0fff, 2, false), "crossing into the next page");
        let slow = 0x8000_0000 | TLB_FORCE_SLOW;
        for va in [0x8000_0123, 0x8000_0800, 0x8000_0fff] {
            for n in [1, 2, 4, 8] {
                assert_ne!(tlb_probe(va, n, false), slow);
                assert_ne!(tlb_probe(va, n, true), slow);
            }
        }
        // The last page's top bytes wrap to page 0 or stay PAGE_MASK | low bits: never empty.
        for va in [u64::MAX, u64::MAX - 3, PAGE_MASK] {
            assert_ne!(tlb_probe(va, 8, false), TLB_INVALID);
            assert_ne!(tlb_probe(va, 8, true), TLB_INVALID);
        }
    }
}
