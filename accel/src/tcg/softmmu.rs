//! The softmmu slow paths and the JIT lookup hook (the `Runtime` table generated code calls), TLB
//! fills, and code-page write protection for self-modifying code.
//!
//! Every hook finds the vCPU's [`Core`] through `Env::runtime`, which points at a
//! [`RuntimeBox`] whose first field is the `Runtime` table.

use mimic_hw::AddressSpace;
use mimic_translator::env::{
    decode_memop, tlb_index, Env, TlbEntry, VictimEntry, NO_LOOKUP_KEY, NUM_MMU_IDX, PAGE_MASK, PAGE_SIZE,
    TLB_FORCE_SLOW, TLB_INVALID, TLB_SIZE, VICTIM_TLB_SIZE,
};
use mimic_translator::guest::{Access, Frontend, GuestCpu, MemFault, PageMapping};

use super::tb::TbCache;
use std::sync::atomic::Ordering;
use super::{Core, RuntimeBox};

pub(crate) type Iotlb = [[u64; TLB_SIZE]; NUM_MMU_IDX];

/// Where an access goes after translation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolved {
    pub paddr: u64,
    /// Host address for plain RAM access, or null: go through `AddressSpace::read/write`.
    pub host: *mut u8,
}

/// The parts of the vCPU an address translation touches (split out so the code fetcher can hold
/// them while the frontend is borrowed).
pub(crate) struct Mmu<'a, C: GuestCpu> {
    pub cpu: &'a mut C,
    pub iotlb: &'a mut Iotlb,
    pub mem: &'a AddressSpace,
    pub tbs: &'a TbCache,
}

fn comparator(e: &TlbEntry, access: Access) -> u64 {
    match access {
        Access::Read => e.addr_read,
        Access::Write => e.addr_write,
        Access::Execute => e.addr_code,
    }
}

fn mark_pending(env: &mut Env) {
    if env.exception_pending == 0 {
        env.exception_pending = 1;
    }
}

impl<C: GuestCpu> Mmu<'_, C> {
    /// Translate `vaddr` for an `access` of `size` bytes (within one page), from the TLB or by a
    /// fill. `None`: the guest exception is recorded and `exception_pending` set.
    pub fn resolve(&mut self, vaddr: u64, size: u64, access: Access, mmu_idx: u8) -> Option<Resolved> {
        let t = (mmu_idx as usize).min(NUM_MMU_IDX - 1);
        let i = tlb_index(vaddr);
        let vpage = vaddr & PAGE_MASK;
        let e = self.cpu.env_ref().tlb[t][i];
        let cmp = comparator(&e, access);
        if cmp != TLB_INVALID && cmp & PAGE_MASK == vpage {
            let paddr = vaddr.wrapping_add(self.iotlb[t][i]);
            let host =
                if cmp & TLB_FORCE_SLOW == 0 { vaddr.wrapping_add(e.addend) as *mut u8 } else { std::ptr::null_mut() };
            return Some(Resolved { paddr, host });
        }
        if self.swap_in_victim(vpage, access, t) {
            return self.resolve(vaddr, size, access, mmu_idx);
        }
        // (A hit above ignores `size`: only mappings valid for every access in the page are cached.)
        let Some(m) = self.cpu.translate(vaddr, size, access, mmu_idx) else {
            mark_pending(self.cpu.env());
            return None;
        };
        if !m.cacheable {
            return Some(Resolved { paddr: m.paddr, host: std::ptr::null_mut() });
        }
        let e = self.fill(vaddr, &m, access, t);
        let host = if comparator(&e, access) & TLB_FORCE_SLOW == 0 {
            vaddr.wrapping_add(e.addend) as *mut u8
        } else {
            std::ptr::null_mut()
        };
        Some(Resolved { paddr: m.paddr, host })
    }

    fn fill(&mut self, vaddr: u64, m: &PageMapping, access: Access, t: usize) -> TlbEntry {
        let vpage = vaddr & PAGE_MASK;
        let ppage = m.paddr & PAGE_MASK;
        // Only whole pages of RAM get a host pointer; MMIO, overlays and page fragments go slow.
        let ram = self.mem.ram_ref(ppage).filter(|r| r.len >= PAGE_SIZE);
        let slow = if ram.is_none() { TLB_FORCE_SLOW } else { 0 };
        let mk = |ok: bool, extra: u64| if ok { vpage | slow | extra } else { TLB_INVALID };
        let protect = ram.is_some_and(|r| r.read_only) || self.tbs.is_code_page(ppage);
        let e = TlbEntry {
            addr_read: mk(m.readable || access == Access::Read, 0),
            addr_write: mk(m.writable || access == Access::Write, if protect { TLB_FORCE_SLOW } else { 0 }),
            addr_code: mk(m.executable || access == Access::Execute, 0),
            addend: ram.map_or(0, |r| (r.host as u64).wrapping_sub(vpage)),
        };
        let i = tlb_index(vaddr);
        let env = self.cpu.env();
        let old = env.tlb[t][i];
        if !old.is_empty() && !old.maps(vpage) {
            let n = env.victim_next[t] as usize % VICTIM_TLB_SIZE;
            env.victim[t][n] = VictimEntry { entry: old, phys_offset: self.iotlb[t][i] };
            env.victim_next[t] = ((n + 1) % VICTIM_TLB_SIZE) as u8;
        }
        env.tlb[t][i] = e;
        self.iotlb[t][i] = ppage.wrapping_sub(vpage);
        e
    }

    /// Swap the victim entry holding `vpage` for `access` (see `Env::victim`) with the TLB entry
    /// at its index. A victim for the page without that permission is dropped: the fill that
    /// follows supersedes it.
    fn swap_in_victim(&mut self, vpage: u64, access: Access, t: usize) -> bool {
        let i = tlb_index(vpage);
        let env = self.cpu.env();
        for j in 0..VICTIM_TLB_SIZE {
            let v = env.victim[t][j];
            if !v.entry.maps(vpage) {
                continue;
            }
            let cmp = comparator(&v.entry, access);
            if cmp == TLB_INVALID || cmp & PAGE_MASK != vpage {
                env.victim[t][j] = VictimEntry::EMPTY;
                return false;
            }
            let old = env.tlb[t][i];
            env.victim[t][j] = if old.is_empty() {
                VictimEntry::EMPTY
            } else {
                VictimEntry { entry: old, phys_offset: self.iotlb[t][i] }
            };
            env.tlb[t][i] = v.entry;
            self.iotlb[t][i] = v.phys_offset;
            return true;
        }
        false
    }
}

/// Physical page of a TLB entry's write comparator, if it has one.
fn write_page(e: &TlbEntry, iotlb: u64) -> Option<u64> {
    (e.addr_write != TLB_INVALID).then(|| ((e.addr_write & PAGE_MASK).wrapping_add(iotlb)) & PAGE_MASK)
}

/// A page just got its first block: its writes must now come through the slow path.
pub(crate) fn protect_code_page(env: &mut Env, iotlb: &Iotlb, page: u64) {
    for (t, tlb) in env.tlb.iter_mut().enumerate() {
        for (i, e) in tlb.iter_mut().enumerate() {
            if write_page(e, iotlb[t][i]) == Some(page) {
                e.addr_write |= TLB_FORCE_SLOW;
            }
        }
    }
    for v in env.victim.iter_mut().flatten() {
        if write_page(&v.entry, v.phys_offset) == Some(page) {
            v.entry.addr_write |= TLB_FORCE_SLOW;
        }
    }
}

/// A page lost its last block: drop entries that map it so refills give writes the fast path back.
fn unprotect_code_page(env: &mut Env, iotlb: &Iotlb, page: u64) {
    for (t, tlb) in env.tlb.iter_mut().enumerate() {
        for (i, e) in tlb.iter_mut().enumerate() {
            if write_page(e, iotlb[t][i]) == Some(page) {
                *e = TlbEntry::EMPTY;
            }
        }
    }
    for v in env.victim.iter_mut().flatten() {
        if write_page(&v.entry, v.phys_offset) == Some(page) {
            *v = VictimEntry::EMPTY;
        }
    }
}

impl<C: GuestCpu, F: Frontend> Core<C, F> {
    pub(crate) fn mmu(&mut self) -> Mmu<'_, C> {
        Mmu { cpu: &mut self.cpu, iotlb: &mut self.iotlb, mem: &self.mem, tbs: &self.tbs }
    }

    fn fault(&mut self, fault: MemFault, vaddr: u64, access: Access) {
        self.cpu.raise_mem_fault(fault, vaddr, access);
        mark_pending(self.cpu.env());
    }

    /// One naturally aligned access of `n` bytes (never crosses a page).
    fn load_one(&mut self, vaddr: u64, n: usize, access: Access, mmu_idx: u8) -> Option<u64> {
        let r = self.mmu().resolve(vaddr, n as u64, access, mmu_idx)?;
        let mut buf = [0u8; 8];
        if !r.host.is_null() {
            // SAFETY: `host` comes from a TLB entry for a whole RAM page that holds these n bytes.
            unsafe { std::ptr::copy_nonoverlapping(r.host, buf.as_mut_ptr(), n) };
        } else if self.mem.read(r.paddr, &mut buf[..n]).is_err() {
            self.fault(MemFault::AccessFault, vaddr, access);
            return None;
        }
        Some(u64::from_le_bytes(buf))
    }

    fn store_one(&mut self, vaddr: u64, value: u64, n: usize, mmu_idx: u8) -> Option<()> {
        let r = self.mmu().resolve(vaddr, n as u64, Access::Write, mmu_idx)?;
        let bytes = value.to_le_bytes();
        if !r.host.is_null() {
            // SAFETY: as in `load_one`; a host pointer is only handed out for writable RAM pages
            // without translated code.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), r.host, n) };
            return Some(());
        }
        // Unwatched: the code check below sees this store, so it need not come back at a fence.
        if self.mem.write_unwatched(r.paddr, &bytes[..n]).is_err() {
            self.fault(MemFault::AccessFault, vaddr, Access::Write);
            return None;
        }
        if self.tbs.is_code_page(r.paddr) {
            let (dead, emptied) = self.tbs.invalidate_phys(r.paddr, n as u64);
            if dead > 0 {
                self.stats.smc_invalidations += dead as u64;
                // The running block may be one of them: stop after it so new code gets fetched.
                self.request_exit();
            }
            if emptied {
                let env: *mut Env = self.cpu.env();
                // SAFETY: `env` is this CPU's Env; iotlb is a separate field.
                unsafe { unprotect_code_page(&mut *env, &self.iotlb, r.paddr & PAGE_MASK) };
            }
        }
        if self.mem.ram_ref(r.paddr).is_none() {
            // A device write may power off the machine or change interrupt state: return to the
            // run loop after this block so both are noticed at once.
            self.request_exit();
        }
        Some(())
    }

    /// Translate each page's part of a misaligned access before any byte of it is accessed: a
    /// fault reports the first byte of the faulting part (the second page's first byte when only
    /// that page faults, as QEMU does), and size-dependent checks (PMP) see the whole part.
    fn check_parts(&mut self, vaddr: u64, n: usize, access: Access, mmu_idx: u8) -> Option<()> {
        let next = (vaddr & PAGE_MASK).wrapping_add(PAGE_SIZE);
        let first = next.wrapping_sub(vaddr).min(n as u64);
        self.mmu().resolve(vaddr, first, access, mmu_idx)?;
        if first < n as u64 {
            self.mmu().resolve(next, n as u64 - first, access, mmu_idx)?;
        }
        Some(())
    }

    fn load(&mut self, vaddr: u64, memop: u64) -> Option<u64> {
        let m = decode_memop(memop);
        let n = m.size.bytes() as usize;
        // The read half of an AMO needs write permission and faults as a store.
        let access = if m.rmw { Access::Write } else { Access::Read };
        let raw = if vaddr & (n as u64 - 1) != 0 {
            if m.align {
                self.fault(MemFault::Misaligned, vaddr, access);
                return None;
            }
            self.check_parts(vaddr, n, access, m.mmu_idx)?;
            let mut v = 0u64;
            for k in 0..n {
                v |= self.load_one(vaddr.wrapping_add(k as u64), 1, access, m.mmu_idx)? << (8 * k);
            }
            v
        } else {
            self.load_one(vaddr, n, access, m.mmu_idx)?
        };
        let bits = 8 * n as u32;
        Some(if m.signed && bits < 64 { ((raw << (64 - bits)) as i64 >> (64 - bits)) as u64 } else { raw })
    }

    fn store(&mut self, vaddr: u64, value: u64, memop: u64) -> Option<()> {
        let m = decode_memop(memop);
        let n = m.size.bytes() as usize;
        if vaddr & (n as u64 - 1) == 0 {
            return self.store_one(vaddr, value, n, m.mmu_idx);
        }
        if m.align {
            self.fault(MemFault::Misaligned, vaddr, Access::Write);
            return None;
        }
        // Both pages must be writable before any byte lands, or the fault would not be precise.
        self.check_parts(vaddr, n, Access::Write, m.mmu_idx)?;
        for k in 0..n {
            self.store_one(vaddr.wrapping_add(k as u64), value >> (8 * k), 1, m.mmu_idx)?;
        }
        Some(())
    }
}

/// # Safety
/// `env` must be the Env of a CPU owned by a live `TcgVcpu<C, F>` (its `runtime` set by it).
unsafe fn core_of<'a, C: GuestCpu, F: Frontend>(env: *mut Env) -> &'a mut Core<C, F> {
    // SAFETY: per the contract, `runtime` points at the `rt` field (offset 0) of a RuntimeBox<C, F>
    // whose `core` pointer is the vCPU's boxed Core.
    unsafe {
        let rb = (*env).runtime as *const RuntimeBox<C, F>;
        &mut *(*rb).core
    }
}

pub(crate) unsafe extern "C" fn load_slow<C: GuestCpu, F: Frontend>(env: *mut Env, vaddr: u64, memop: u64) -> u64 {
    // SAFETY: only installed in Envs of TcgVcpu<C, F> CPUs; the run loop holds no reference into
    // the Core across guest execution.
    let core = unsafe { core_of::<C, F>(env) };
    core.load(vaddr, memop).unwrap_or(0)
}

pub(crate) unsafe extern "C" fn store_slow<C: GuestCpu, F: Frontend>(
    env: *mut Env,
    vaddr: u64,
    value: u64,
    memop: u64,
) {
    // SAFETY: as in `load_slow`.
    let core = unsafe { core_of::<C, F>(env) };
    let _ = core.store(vaddr, value, memop);
}

/// Compiled code for `env.pc` under the current flags, from the jump cache only (a miss goes back
/// to the run loop, which does the full lookup and refills the cache). With an `Env::lookup_link`
/// (a `Goto` to another page), also chains that exit to the code, guarded by the target page's
/// mapping.
pub(crate) unsafe extern "C" fn lookup<C: GuestCpu, F: Frontend>(env: *mut Env) -> *const u8 {
    // SAFETY: as in `load_slow`.
    let core = unsafe { core_of::<C, F>(env) };
    let env = core.cpu.env();
    let link = std::mem::take(&mut env.lookup_link);
    let key = std::mem::replace(&mut env.lookup_key, NO_LOOKUP_KEY);
    core.stats.lookups += 1;
    if core.nochain {
        return std::ptr::null();
    }
    let pc = core.cpu.env_ref().pc;
    let Some((dst, mut code)) = core.find_fast(pc).or_else(|| find_refilling(core, pc)) else {
        return std::ptr::null();
    };
    if code.is_null() {
        // The jump cache met the block before it was compiled: look again.
        let flags = core.cpu.tb_flags();
        code = core.tbs.jc_mark_current(pc, flags);
    }
    if !code.is_null() {
        core.stats.lookup_hits += 1;
        refill_code_tlb(core, pc);
        if let Some(page) = core.tbs.get(dst).block.second_page {
            entering_second_page(core, page.vpage);
        }
        if link != 0 {
            chain_guarded(core, link, dst, pc);
        }
        if key != NO_LOOKUP_KEY {
            itc_fill(core, key, dst, pc, code);
        }
    }
    code
}

/// The TLB instruction fetches go through now.
fn code_tlb<C: GuestCpu, F: Frontend>(core: &Core<C, F>) -> usize {
    (core.cpu.code_mmu_idx() as usize).min(NUM_MMU_IDX - 1)
}

/// The code TLB's entry for `pc`'s page, if it holds that page for fetches: what guarded chains
/// and indirect-jump cache entries are checked against (its addend).
fn code_tlb_entry<C: GuestCpu, F: Frontend>(core: &Core<C, F>, pc: u64) -> Option<TlbEntry> {
    let e = core.cpu.env_ref().tlb[code_tlb(core)][tlb_index(pc)];
    (e.addr_code == pc & PAGE_MASK).then_some(e)
}

/// `find_fast` once more, for a block at `pc` that the jump cache holds but whose page (or second
/// page) has dropped out of the code TLB: data accesses evict entries and flushes empty the TLB,
/// and in a Linux boot that was most of this hook's misses. A page walk puts the pages back, as
/// the run loop's full lookup would after the hook sent the block back to it.
fn find_refilling<C: GuestCpu, F: Frontend>(core: &mut Core<C, F>, pc: u64) -> Option<(u32, *const u8)> {
    let idx = core.tbs.jc_probe(pc, core.cpu.tb_flags())?;
    let second = core.tbs.get(idx).spans_two_pages().then(|| (pc & PAGE_MASK).wrapping_add(PAGE_SIZE));
    let pages = [Some(pc), second];
    if pages.iter().flatten().all(|&p| code_tlb_entry(core, p).is_some()) {
        // Mapped, elsewhere or not: nothing to put back.
        return None;
    }
    for p in pages.into_iter().flatten() {
        refill_code_tlb(core, p);
    }
    core.find_fast(pc)
}

/// Put `pc`'s page back in the code TLB if it has dropped out. The jump cache found the block
/// without it, but every guarded chain and indirect-jump cache probe into the page checks it: a
/// data access that evicts it otherwise sends each later jump into the page through this hook.
fn refill_code_tlb<C: GuestCpu, F: Frontend>(core: &mut Core<C, F>, pc: u64) {
    if code_tlb_entry(core, pc).is_some() {
        return;
    }
    let pending = core.cpu.env_ref().exception_pending;
    let mmu_idx = core.cpu.code_mmu_idx();
    if core.mmu().resolve(pc, 1, Access::Execute, mmu_idx).is_none() {
        // The mapping went away without a fence; the jump itself goes ahead as the jump cache
        // says, and the fetch fault (if any) is the run loop's to raise when it gets there.
        core.cpu.env().exception_pending = pending;
    }
}

/// Before the run loop or the lookup hook enters compiled code of a block on two pages, having
/// checked both pages' mappings: the code's entry check skips its own (see `Env::page_checked`).
/// The second page goes back into the code TLB if it has dropped out, so that later jumps into
/// the block pass that check again.
pub(crate) fn entering_second_page<C: GuestCpu, F: Frontend>(core: &mut Core<C, F>, vpage: u64) {
    refill_code_tlb(core, vpage);
    core.cpu.env().page_checked = 1;
}

/// File block `dst` (at `pc`, with `code`) in the indirect-jump cache under `key`, the flags
/// of the block whose `GotoPtr` asked, guarded by the code TLB's current mapping of `pc`'s page
/// as exit-slot chains are (see `chain_guarded`). Only when `key` is the current flags: the
/// entry must give the block for exactly the mode compiled code with that key jumps in.
fn itc_fill<C: GuestCpu, F: Frontend>(core: &mut Core<C, F>, key: u64, dst: u32, pc: u64, code: *const u8) {
    if key != core.cpu.tb_flags() {
        return;
    }
    let d = core.tbs.get(dst);
    if !d.valid || !d.enterable_by_jump() {
        return;
    }
    let Some(e) = code_tlb_entry(core, pc) else { return };
    core.tbs.itc_fill(pc, key, e.addend, code);
    core.stats.itc_fills += 1;
}

/// Chain exit `link` (a `Goto` to another page, or a `GotoPtr`) to block `dst` at `pc`, found
/// under the current flags and mappings. The exit's flags are a function of its block's, so the
/// chain stays right for them; compiled code re-checks the code TLB entry of `pc`'s page against
/// the addend saved here (and a `GotoPtr` its target against `pc`). Fences and invalidations cut
/// these chains like any other (they are recorded with `link`). An exit keeps its first target
/// until then, as the run loop's chains do: relinking a chained exit would leave its record in
/// the old target's `incoming`, and moving that target's chains to optimised code would then
/// point the exit at the old target behind the new target's guard. (A `GotoPtr` whose target
/// keeps changing would also relink on every call.)
fn chain_guarded<C: GuestCpu, F: Frontend>(core: &mut Core<C, F>, link: u64, dst: u32, pc: u64) {
    let (id, slot) = mimic_translator::env::unpack_link(link);
    let Some(src) = core.tbs.idx_of_id(id) else { return };
    let (s, d) = (core.tbs.get(src), core.tbs.get(dst));
    if !s.valid || !d.valid || !d.enterable_by_jump() {
        return;
    }
    if code_tlb(core) != s.block.code_mmu_idx as usize {
        return;
    }
    // The guard compares the tag exactly, so a page without a host pointer (TLB_FORCE_SLOW in
    // the tag, addend 0) never passes it; do not bother chaining one.
    let Some(e) = code_tlb_entry(core, pc) else { return };
    use mimic_translator::env::{exit_slot_guard, exit_slot_pc};
    let n = s.slots.len() / 3;
    let slot = slot as usize;
    let (Some(cell), Some(guard), Some(want_pc)) =
        (s.slots.get(slot), s.slots.get(exit_slot_guard(n, slot)), s.slots.get(exit_slot_pc(n, slot)))
    else {
        return;
    };
    if !cell.load(Ordering::Relaxed).is_null() {
        return;
    }
    // Code last: compiled code tests it first (single thread anyway).
    guard.store(e.addend as *mut u8, Ordering::Relaxed);
    want_pc.store(pc as *mut u8, Ordering::Relaxed);
    let code = d.code;
    core.tbs.set_cell(src, slot as u8, code);
    core.tbs.link(src, slot as u8, dst);
    core.stats.chains_made += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn victim_of(page: u64) -> VictimEntry {
        VictimEntry { entry: TlbEntry { addr_read: page, addr_write: page, addr_code: page, addend: 0 }, phys_offset: 0 }
    }

    #[test]
    fn code_page_protection_and_page_flushes_reach_the_victim_tlb() {
        let page = 0x8040_1000;
        let iotlb = [[0u64; TLB_SIZE]; NUM_MMU_IDX];
        let mut env = Env::new();
        env.victim[1][3] = victim_of(page);
        env.victim[2][0] = victim_of(page + PAGE_SIZE);
        protect_code_page(&mut env, &iotlb, page);
        // Writes to the new code page go slow even once the entry is swapped back in.
        assert_eq!(env.victim[1][3].entry.addr_write, page | TLB_FORCE_SLOW);
        assert_eq!(env.victim[1][3].entry.addr_read, page);
        assert_eq!(env.victim[2][0], victim_of(page + PAGE_SIZE));
        unprotect_code_page(&mut env, &iotlb, page);
        assert_eq!(env.victim[1][3], VictimEntry::EMPTY);
        env.flush_tlb_page(page + PAGE_SIZE + 8);
        assert_eq!(env.victim[2][0], VictimEntry::EMPTY);
        env.victim[0][7] = victim_of(page);
        env.flush_tlb();
        assert_eq!(env.victim[0][7], VictimEntry::EMPTY);
    }
}
