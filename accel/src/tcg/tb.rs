//! The translation-block cache: blocks keyed by (physical PC, virtual PC, flags), a direct-mapped
//! virtual-PC jump cache in front of it, the physical code pages each block covers (for
//! self-modifying code), and the exit slots chained blocks jump through.
//!
//! Blocks are never freed one by one: an invalidated block is only marked dead and unlinked, since
//! its code or IR may be running at that very moment (a block that overwrites itself). Memory comes
//! back when everything is flushed (a full code cache, too many blocks, gdb).
//!
//! An instruction-fetch fence (`fence.i`) does not flush: stores by the CPU already invalidate the
//! blocks they hit (softmmu SMC detection), so the only code a fence must catch is code written
//! behind the softmmu's back (device DMA into RAM). The address space logs such writes to the
//! pages blocks were translated from (`mimic_hw::write_watch`), so a fence usually has nothing to
//! do, or re-checks the blocks of the few pages listed. Only when that log overflowed does
//! [`TbCache::fence`] make every block prove its guest bytes unchanged before it runs again: it
//! cuts all chains, so each block goes through [`TbCache::map_get`]'s caller once, which compares
//! the bytes (see `Tb::bytes`). Linux fences after every kernel text patch and executable page it
//! maps (tens of thousands at boot), so a fence has to cost next to nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, Ordering};

use mimic_translator::baseline::DirectJump;
use mimic_translator::env::{
    exit_cells, exit_slot_guard, exit_slot_pc, itc_index, ItcEntry, ITC_SIZE, PAGE_MASK, PAGE_SIZE,
};
use mimic_translator::ir::Block;

/// "No block" in the jump cache and in ids from other epochs.
pub const NO_TB: u32 = u32::MAX;

const JC_BITS: u32 = 14;
const JC_SIZE: usize = 1 << JC_BITS;

/// Past this many blocks (most of them dead after heavy code modification), flush everything.
const MAX_TBS: usize = 1 << 18;

pub struct Tb {
    /// Guest virtual PC of the first instruction.
    pub pc: u64,
    pub flags: u64,
    /// Physical byte ranges the block's guest code occupies: (start, length); length 0 = unused.
    pub phys: [(u64, u32); 2],
    /// The IR; boxed so it stays put while interpreted. Its ops are dropped once the block has
    /// baseline code (`drop_ir`): most blocks never need them again, and a Linux boot's 70k
    /// blocks kept about 40 MB of them. A hot compile translates them again from `bytes`.
    pub block: Box<Block>,
    /// `Goto` exits of the IR, and the guest registers it writes (bit n: register n, at most
    /// 127): what `TbCache::region_from` needs of blocks whose IR is gone.
    pub gotos: u16,
    pub regs_written: u128,
    /// Interpreted executions so far (the tiering counter).
    pub execs: u32,
    /// The JIT refused this block, or its IR failed the verifier; interpret it forever.
    pub no_jit: bool,
    /// The IR had its clean-up and passed the verifier (`Core::prepare_for_compile`).
    pub prepared: bool,
    /// Handed to the background compile thread, code not back yet.
    pub compiling: bool,
    /// `code` comes from the optimising tier (else from the quick one, or none).
    pub hot: bool,
    /// Optimised alone only because compiles were queued up when it got hot (regions wait for
    /// a quieter queue): it keeps being sampled and is compiled again with its region.
    pub regionless: bool,
    /// Budget exits at this block while compiled by the quick tier (see `TcgOptions::hot_samples`).
    pub samples: u32,
    /// Compiled code, or null while interpreted.
    pub code: *const u8,
    /// One cell per exit slot (`Goto`s, then `GotoPtr`s): the code that exit jumps to when
    /// chained, else null; then guard and target-PC cells for chains the lookup hook makes
    /// (`env::exit_slot_guard`). Compiled code reads these cells, so the boxed slice must not
    /// move or be freed while code lives.
    pub slots: Box<[AtomicPtr<u8>]>,
    /// Exit slots of other blocks chained to this one (source index, slot), to unlink them.
    pub incoming: Vec<(u32, u8)>,
    /// Chains made from this block's exits (slot, target) since the last fence; a chain cut since
    /// has its cell no longer pointing at the target's code. Regions are formed along them.
    pub outgoing: Vec<(u8, u32)>,
    /// Other blocks whose code `code` contains (a region, see `Jit::compile_region`): it must
    /// not run once any of them changes.
    pub region: Box<[u32]>,
    /// Blocks whose code contains this one's (their `region` lists it).
    pub in_regions: Vec<u32>,
    pub valid: bool,
    /// The guest code bytes the block was translated from (both pages, in order).
    pub bytes: Box<[u8]>,
    /// The fence epoch in which `bytes` were last known to match memory.
    pub checked_epoch: u64,
    /// The direct jumps of the block's baseline code (see `baseline::DirectJump`), patched
    /// whenever their slot's cell changes (`TbCache::set_cell`). They stay when the block moves
    /// to optimised code: its baseline code may still run.
    pub direct_jumps: Box<[DirectJump]>,
}

impl Tb {
    /// Does the block still have its IR ops (see `block`)?
    pub fn has_ir(&self) -> bool {
        !self.block.ops.is_empty()
    }

    /// Free the IR's ops, keeping the block's description (PC, length, flags, code TLB).
    pub fn drop_ir(&mut self) {
        self.block.ops = Vec::new();
    }

    pub fn spans_two_pages(&self) -> bool {
        self.phys[1].1 != 0
    }

    /// May compiled code jump straight into this block's code? Chains and the indirect-jump
    /// cache check only the target's first page; a block on two pages checks its second page
    /// itself when that is RAM ([`mimic_translator::ir::Block::second_page`]).
    pub fn enterable_by_jump(&self) -> bool {
        !self.spans_two_pages() || self.block.second_page.is_some()
    }

    /// Does the block's guest code intersect physical bytes `[start, start + len)`?
    pub fn overlaps(&self, start: u64, len: u64) -> bool {
        self.phys.iter().any(|&(s, l)| l != 0 && s < start.saturating_add(len) && start < s + l as u64)
    }
}

/// A jump-cache entry. Filling one says nothing about the current address mapping: the caller
/// checks that the code TLB still maps the block's page(s) where the block was translated from,
/// so a TLB flush (Linux does one for every page-table update) costs no clearing and a
/// single-page flush only affects blocks on that page. Once checked, the entry is stamped with
/// the cache's current [`TbCache::stamp`]: until something that could change the answer happens
/// (a TLB flush, another hart, an invalidation, a fence), the next probe of that PC needs
/// neither the check nor the block itself. Indirect jumps (function returns) look up millions
/// of times per second, so this is their fast path.
#[derive(Clone, Copy)]
struct JcEntry {
    pc: u64,
    flags: u64,
    /// The stamp under which the entry was last checked; 0 = never.
    stamp: u64,
    /// The block's code when the entry was checked (null: none then). Code stays valid until a
    /// flush, which also changes the stamp, so an older pointer is still safe to run.
    code: *const u8,
    idx: u32,
}

const JC_EMPTY: JcEntry = JcEntry { pc: u64::MAX, flags: 0, stamp: 0, code: std::ptr::null(), idx: NO_TB };

/// Hasher for the block tables' integer keys (the std SipHash showed up in profiles of the run
/// loop's lookups). Multiply-rotate per word, as in rustc's FxHash; the keys are not adversarial.
#[derive(Default, Clone, Copy)]
pub struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        // A product's low bits depend only on the factors' low bits, and hashbrown picks buckets
        // by the low bits: page-aligned keys (code pages) would all share a few buckets. Fold
        // the well-mixed high half down.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Blocks room is reserved for up front: more than a Linux boot translates (~70k).
const TB_RESERVE: usize = 1 << 18;

type IntMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IntHasher>>;

pub struct TbCache {
    tbs: Vec<Tb>,
    map: IntMap<(u64, u64, u64), u32>,
    jc: Box<[JcEntry]>,
    /// Physical page -> blocks with code on it (may include dead ones until pruned).
    code_pages: IntMap<u64, Vec<u32>>,
    /// Bumped by every flush so exits of flushed blocks are not mistaken for new ones.
    epoch: u64,
    /// Bumped by every [`TbCache::fence`]; blocks checked in an older one are re-checked.
    fence_epoch: u64,
    /// Every chain made since the last fence or flush: (source, slot, target).
    linked: Vec<(u32, u8, u32)>,
    /// Jump-cache entries stamped with this value are current (see `JcEntry`).
    stamp: u64,
    /// The indirect-jump cache compiled `GotoPtr`s read (`env::ItcEntry`; every hart's
    /// `Env::itc` points here). Cells, since compiled code reads it through a raw pointer.
    itc: Box<[Cell<ItcEntry>]>,
}

#[inline]
fn jc_hash(pc: u64, flags: u64) -> usize {
    // The flags too: code that runs under two flag values (RISC-V kernel code with and without
    // `mstatus.SUM`) would otherwise evict itself at every switch.
    let h = (pc >> 1) ^ (pc >> (1 + JC_BITS)) ^ flags.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - JC_BITS);
    (h as usize) & (JC_SIZE - 1)
}

impl Default for TbCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TbCache {
    pub fn new() -> Self {
        Self {
            // Address space only until used: growing by doubling copied the table into fresh
            // pages each time, a third of the page faults of a Linux boot.
            tbs: Vec::with_capacity(TB_RESERVE),
            map: IntMap::with_capacity_and_hasher(TB_RESERVE / 4, Default::default()),
            jc: vec![JC_EMPTY; JC_SIZE].into_boxed_slice(),
            code_pages: IntMap::default(),
            epoch: 0,
            fence_epoch: 0,
            linked: Vec::new(),
            stamp: 1,
            itc: (0..ITC_SIZE).map(|_| Cell::new(ItcEntry::EMPTY)).collect(),
        }
    }

    /// The indirect-jump cache, for `Env::itc`. Stays at this address for the cache's life.
    pub fn itc_ptr(&self) -> *mut ItcEntry {
        self.itc.as_ptr() as *mut ItcEntry
    }

    /// The indirect-jump cache's entry for `pc` (tests and statistics).
    pub fn itc_entry(&self, pc: u64) -> ItcEntry {
        self.itc[itc_index(pc)].get()
    }

    /// File `code` (of the block for `pc` under flags `key`, whose code TLB maps `pc`'s page
    /// with addend `guard`) in the indirect-jump cache.
    pub fn itc_fill(&self, pc: u64, key: u64, guard: u64, code: *const u8) {
        self.itc[itc_index(pc)].set(ItcEntry { pc, key, guard, code });
    }

    /// Block `pc` under `key` has new code: an entry for it now leads there.
    fn itc_update(&self, pc: u64, key: u64, code: *const u8) {
        let c = &self.itc[itc_index(pc)];
        let e = c.get();
        if e.pc == pc && e.key == key {
            c.set(ItcEntry { code, ..e });
        }
    }

    fn itc_forget(&self, pc: u64, key: u64) {
        let c = &self.itc[itc_index(pc)];
        let e = c.get();
        if e.pc == pc && e.key == key {
            c.set(ItcEntry::EMPTY);
        }
    }

    fn itc_clear(&self) {
        for c in self.itc.iter() {
            c.set(ItcEntry::EMPTY);
        }
    }

    /// Block `idx` got new code (a higher tier): chains into it and its indirect-jump cache
    /// entry lead there from now on. (The old code stays valid until the next flush.)
    pub fn set_code(&mut self, idx: u32, code: *const u8) {
        let tb = &mut self.tbs[idx as usize];
        tb.code = code;
        let (pc, flags) = (tb.pc, tb.flags);
        let incoming = std::mem::take(&mut tb.incoming);
        for &(src, slot) in &incoming {
            let chained =
                self.tbs[src as usize].slots.get(slot as usize).is_some_and(|c| !c.load(Ordering::Relaxed).is_null());
            if chained {
                self.set_cell(src, slot, code);
            }
        }
        self.tbs[idx as usize].incoming = incoming;
        self.itc_update(pc, flags, code);
    }

    /// Point exit `slot` of block `src` at `code` (null: unchained), in its cell and in the
    /// direct jump of its baseline code if it has one (under the guard and target PC already in
    /// the slot's other cells, for chains the lookup hook makes).
    pub(crate) fn set_cell(&self, src: u32, slot: u8, code: *const u8) {
        let Some(tb) = self.tbs.get(src as usize) else { return };
        if let Some(cell) = tb.slots.get(slot as usize) {
            cell.store(code as *mut u8, Ordering::Release);
        }
        let n = tb.slots.len() / 3;
        let cell = |i: usize| tb.slots.get(i).map_or(0, |c| c.load(Ordering::Relaxed) as u64);
        let (guard, pc) = (cell(exit_slot_guard(n, slot as usize)), cell(exit_slot_pc(n, slot as usize)));
        for site in tb.direct_jumps.iter().filter(|d| d.slot == slot) {
            // SAFETY: sites come from the block's baseline code, which lives until the next
            // flush, and a flush empties this cache first; `code`, guard and PC are what the
            // slot's cells hold.
            unsafe { mimic_translator::baseline::patch_exit(site, code, guard, pc) };
        }
    }

    /// Something that may change which block a PC finds happened (a TLB flush, another hart
    /// running): no jump-cache entry is current any more.
    pub fn new_stamp(&mut self) {
        self.stamp += 1;
    }

    /// Forget every block (their code must be flushed from the JIT at the same time).
    pub fn clear(&mut self) {
        self.tbs.clear();
        self.map.clear();
        self.jc.fill(JC_EMPTY);
        self.code_pages.clear();
        self.linked.clear();
        self.itc_clear();
        self.epoch += 1;
        self.new_stamp();
    }

    /// Instruction-fetch fence: cut every chain so that each block is looked up, and its bytes
    /// re-checked (`needs_check`), before it runs again. (The jump cache refuses unchecked blocks.)
    pub fn fence(&mut self) {
        self.fence_epoch += 1;
        self.new_stamp();
        self.itc_clear();
        for (src, slot, dst) in std::mem::take(&mut self.linked) {
            self.set_cell(src, slot, std::ptr::null());
            if let Some(t) = self.tbs.get_mut(dst as usize) {
                // Every chain into it is in `linked`, so all of them are cut now.
                t.incoming.clear();
            }
            if let Some(t) = self.tbs.get_mut(src as usize) {
                t.outgoing.clear();
            }
        }
    }

    /// Does block `idx` have to compare its bytes with memory before running (a fence since)?
    pub fn needs_check(&self, idx: u32) -> bool {
        self.tbs[idx as usize].checked_epoch != self.fence_epoch
    }

    /// Block `idx`'s bytes match memory as of the latest fence.
    pub fn mark_checked(&mut self, idx: u32) {
        self.tbs[idx as usize].checked_epoch = self.fence_epoch;
    }

    /// Record chain `src.slot -> dst` (made by the caller) so a fence or invalidation can cut it.
    pub fn link(&mut self, src: u32, slot: u8, dst: u32) {
        self.tbs[dst as usize].incoming.push((src, slot));
        self.tbs[src as usize].outgoing.push((slot, dst));
        self.linked.push((src, slot, dst));
    }

    /// Block `head`'s code now contains the code of `members` too (a region): an invalidation
    /// of any of them invalidates `head`.
    pub fn set_region(&mut self, head: u32, members: &[u32]) {
        for &m in members {
            self.tbs[m as usize].in_regions.push(head);
        }
        self.tbs[head as usize].region = members.into();
    }

    pub fn len(&self) -> usize {
        self.tbs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tbs.is_empty()
    }

    pub fn too_big(&self) -> bool {
        self.tbs.len() >= MAX_TBS
    }

    pub fn get(&self, idx: u32) -> &Tb {
        &self.tbs[idx as usize]
    }

    pub fn get_mut(&mut self, idx: u32) -> &mut Tb {
        &mut self.tbs[idx as usize]
    }

    /// The id blocks report in their exits: the index plus the epoch, so stale ids are detectable.
    pub fn block_id(&self, idx: u32) -> u64 {
        ((self.epoch & 0xffff) << 32) | idx as u64
    }

    pub fn idx_of_id(&self, id: u64) -> Option<u32> {
        let idx = (id & 0xffff_ffff) as u32;
        ((id >> 32) == (self.epoch & 0xffff) && (idx as usize) < self.tbs.len()).then_some(idx)
    }

    /// Jump-cache probe. The block may still need its check after a fence (`needs_check`), and
    /// the caller must check the address mapping (see `JcEntry`) before it may run.
    #[inline]
    pub fn jc_probe(&self, pc: u64, flags: u64) -> Option<u32> {
        let e = self.jc[jc_hash(pc, flags)];
        if e.pc != pc || e.flags != flags {
            return None;
        }
        let tb = self.tbs.get(e.idx as usize)?;
        (tb.valid && tb.flags == flags && tb.pc == pc).then_some(e.idx)
    }

    /// Jump-cache probe that also misses blocks not re-checked since the last fence.
    #[inline]
    pub fn jc_lookup(&self, pc: u64, flags: u64) -> Option<u32> {
        self.jc_probe(pc, flags).filter(|&i| !self.needs_check(i))
    }

    pub fn jc_insert(&mut self, pc: u64, idx: u32) {
        let flags = self.tbs[idx as usize].flags;
        self.jc[jc_hash(pc, flags)] = JcEntry { pc, flags, stamp: 0, code: std::ptr::null(), idx };
    }

    /// The block for `pc` under `flags`, and its code, if its jump-cache entry is current: it
    /// needs no checks. The code may be null or older than the block's (see `JcEntry::code`).
    #[inline]
    pub fn jc_current(&self, pc: u64, flags: u64) -> Option<(u32, *const u8)> {
        let e = &self.jc[jc_hash(pc, flags)];
        (e.pc == pc && e.flags == flags && e.stamp == self.stamp).then_some((e.idx, e.code))
    }

    /// The caller checked the jump-cache entry of `pc` under `flags`: make it current, with the
    /// block's code as it is now, which it returns.
    #[inline]
    pub fn jc_mark_current(&mut self, pc: u64, flags: u64) -> *const u8 {
        let stamp = self.stamp;
        let i = jc_hash(pc, flags);
        let e = self.jc[i];
        let code = self.tbs.get(e.idx as usize).map_or(std::ptr::null(), |t| t.code);
        if e.pc == pc && e.flags == flags {
            self.jc[i] = JcEntry { stamp, code, ..e };
        }
        code
    }

    pub fn map_get(&self, phys_pc: u64, pc: u64, flags: u64) -> Option<u32> {
        let idx = *self.map.get(&(phys_pc, pc, flags))?;
        self.tbs[idx as usize].valid.then_some(idx)
    }

    /// Add a block; returns its index and the physical pages that now hold code for the first time
    /// (their TLB write entries must start forcing the slow path).
    pub fn insert(
        &mut self,
        pc: u64,
        flags: u64,
        phys: [(u64, u32); 2],
        block: Block,
        nslots: usize,
        bytes: Box<[u8]>,
    ) -> (u32, Vec<u64>) {
        let idx = self.tbs.len() as u32;
        let slots = (0..exit_cells(nslots)).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
        let gotos = mimic_translator::interp::goto_count(&block).try_into().unwrap_or(u16::MAX);
        let regs_written = block.ops.iter().fold(0u128, |m, op| match op {
            mimic_translator::ir::Op::SetReg { reg, .. } => m | 1u128 << reg.0.min(127),
            _ => m,
        });
        self.tbs.push(Tb {
            pc,
            flags,
            phys,
            block: Box::new(block),
            gotos,
            regs_written,
            execs: 0,
            no_jit: false,
            prepared: false,
            compiling: false,
            hot: false,
            regionless: false,
            samples: 0,
            code: std::ptr::null(),
            slots,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            region: Box::new([]),
            in_regions: Vec::new(),
            valid: true,
            bytes,
            checked_epoch: self.fence_epoch,
            direct_jumps: Box::new([]),
        });
        self.map.insert((phys[0].0, pc, flags), idx);
        let mut new_pages = Vec::new();
        for &(start, len) in phys.iter().filter(|p| p.1 != 0) {
            let first = start & PAGE_MASK;
            let last = (start + len as u64 - 1) & PAGE_MASK;
            let mut page = first;
            loop {
                let list = self.code_pages.entry(page).or_default();
                if list.is_empty() {
                    new_pages.push(page);
                }
                list.push(idx);
                if page >= last {
                    break;
                }
                page += PAGE_SIZE;
            }
        }
        (idx, new_pages)
    }

    /// The live blocks with code on physical page `page`.
    pub fn blocks_on_page(&self, page: u64) -> Vec<u32> {
        self.code_pages
            .get(&(page & PAGE_MASK))
            .map(|l| l.iter().copied().filter(|&i| self.tbs[i as usize].valid).collect())
            .unwrap_or_default()
    }

    /// The region to compile with `head` (see `Jit::compile_region`): `head` first, then the
    /// blocks its exits are chained to, transitively, while they are compiled, valid, on
    /// `head`'s page, under `head`'s flags and within the limits (blocks, guest instructions, and
    /// guest registers written, which the region keeps in host registers); and the edges `(member,
    /// Goto slot, member)` between them. Chains record where each exit actually went under the
    /// flags it leaves (see `try_chain`), so the edges are right; a chain cut since (its cell no
    /// longer holds the target's code) is not followed.
    pub fn region_from(&self, head: u32, max_blocks: usize, max_insns: u32, max_regs: u32) -> (Vec<u32>, Vec<(usize, usize, usize)>) {
        let h = &self.tbs[head as usize];
        let mut members = vec![head];
        let mut edges = Vec::new();
        let mut insns = h.block.insn_count;
        let mut regs = h.regs_written;
        let mut k = 0;
        while k < members.len() {
            let src = &self.tbs[members[k] as usize];
            let gotos = src.gotos as usize;
            for &(slot, dst) in &src.outgoing {
                let (slot, Some(d)) = (slot as usize, self.tbs.get(dst as usize)) else { continue };
                let cell = src.slots.get(slot).map_or(std::ptr::null_mut(), |c| c.load(Ordering::Relaxed));
                let fits = slot < gotos
                    && d.valid
                    && !d.no_jit
                    && !d.code.is_null()
                    && std::ptr::eq(cell, d.code)
                    && !d.spans_two_pages()
                    && (d.pc ^ h.pc) & PAGE_MASK == 0
                    && d.flags == h.flags
                    && d.block.code_mmu_idx == h.block.code_mmu_idx;
                if !fits || edges.iter().any(|&(a, b, _)| a == k && b == slot) {
                    continue;
                }
                let j = match members.iter().position(|&m| m == dst) {
                    Some(j) => j,
                    None => {
                        let with = regs | d.regs_written;
                        let room = members.len() < max_blocks
                            && insns + d.block.insn_count <= max_insns
                            && with.count_ones() <= max_regs;
                        if !room {
                            continue;
                        }
                        insns += d.block.insn_count;
                        regs = with;
                        members.push(dst);
                        members.len() - 1
                    }
                };
                edges.push((k, slot, j));
            }
            k += 1;
        }
        (members, edges)
    }

    pub fn is_code_page(&self, page: u64) -> bool {
        self.code_pages.contains_key(&(page & PAGE_MASK))
    }

    /// Mark a block dead and unlink every chained jump into it; so too every block whose code
    /// contains its code (regions).
    pub fn invalidate(&mut self, idx: u32) {
        let heads = std::mem::take(&mut self.tbs[idx as usize].in_regions);
        self.invalidate_one(idx);
        for h in heads {
            self.invalidate(h);
        }
    }

    fn invalidate_one(&mut self, idx: u32) {
        let tb = &mut self.tbs[idx as usize];
        if !tb.valid {
            return;
        }
        tb.valid = false;
        self.stamp += 1;
        let incoming = std::mem::take(&mut tb.incoming);
        let key = (tb.phys[0].0, tb.pc, tb.flags);
        self.itc_forget(key.1, key.2);
        for (src, slot) in incoming {
            self.set_cell(src, slot, std::ptr::null());
        }
        if self.map.get(&key) == Some(&idx) {
            self.map.remove(&key);
        }
    }

    /// Invalidate the blocks whose code intersects physical `[start, start + len)` (inside one
    /// page). Returns how many died and whether the page no longer holds any code.
    pub fn invalidate_phys(&mut self, start: u64, len: u64) -> (usize, bool) {
        let page = start & PAGE_MASK;
        let Some(list) = self.code_pages.get(&page) else { return (0, false) };
        let hit: Vec<u32> = list
            .iter()
            .copied()
            .filter(|&i| self.tbs[i as usize].valid && self.tbs[i as usize].overlaps(start, len))
            .collect();
        for &i in &hit {
            self.invalidate(i);
        }
        let tbs = &self.tbs;
        let list = self.code_pages.get_mut(&page).expect("present above");
        list.retain(|&i| tbs[i as usize].valid);
        let emptied = list.is_empty();
        if emptied {
            self.code_pages.remove(&page);
        }
        (hit.len(), emptied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(c: &mut TbCache, pc: u64, phys: u64, len: u32) -> u32 {
        c.insert(pc, 0, [(phys, len), (0, 0)], Block::new(pc), 2, Box::new([])).0
    }

    #[test]
    fn invalidation_unlinks_chains_and_frees_pages() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x1000, 0x8000_1000, 8);
        let b = add(&mut c, 0x1008, 0x8000_1008, 8);
        let fake = 0x1234usize as *mut u8;
        c.get(a).slots[1].store(fake, Ordering::Relaxed);
        c.link(a, 1, b);
        assert_eq!(c.invalidate_phys(0x8000_1000, 4), (1, false), "only a overlaps");
        assert!(!c.get(a).valid && c.get(b).valid);
        assert_eq!(c.invalidate_phys(0x8000_100c, 1), (1, true));
        assert!(c.get(a).slots[1].load(Ordering::Relaxed).is_null(), "chain into b must be cut");
        assert!(!c.is_code_page(0x8000_1000));
        assert_eq!(c.map_get(0x8000_1008, 0x1008, 0), None);
    }

    #[test]
    fn jump_cache_respects_flags_and_validity() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x2000, 0x2000, 4);
        c.jc_insert(0x2000, a);
        assert_eq!(c.jc_lookup(0x2000, 0), Some(a));
        assert_eq!(c.jc_lookup(0x2000, 1), None);
        assert_eq!(c.jc_lookup(0x2004, 0), None);
        c.invalidate(a);
        assert_eq!(c.jc_lookup(0x2000, 0), None, "dead blocks are not found");
    }

    #[test]
    fn jump_cache_keeps_one_pc_under_two_flags() {
        let mut c = TbCache::new();
        let a = c.insert(0x2000, 1, [(0x2000, 4), (0, 0)], Block::new(0x2000), 0, Box::new([])).0;
        let b = c.insert(0x2000, 9, [(0x2000, 4), (0, 0)], Block::new(0x2000), 0, Box::new([])).0;
        c.jc_insert(0x2000, a);
        c.jc_insert(0x2000, b);
        assert_eq!((c.jc_lookup(0x2000, 1), c.jc_lookup(0x2000, 9)), (Some(a), Some(b)));
    }

    #[test]
    fn fence_cuts_chains_and_asks_for_checks() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x1000, 0x8000_1000, 8);
        let b = add(&mut c, 0x1008, 0x8000_1008, 8);
        c.get(a).slots[0].store(0x1234usize as *mut u8, Ordering::Relaxed);
        c.link(a, 0, b);
        c.jc_insert(0x1000, a);
        assert!(!c.needs_check(a) && !c.needs_check(b));
        c.fence();
        assert!(c.get(a).slots[0].load(Ordering::Relaxed).is_null());
        assert!(c.get(b).incoming.is_empty());
        assert_eq!(c.jc_lookup(0x1000, 0), None);
        assert!(c.needs_check(a) && c.needs_check(b));
        c.mark_checked(a);
        assert!(!c.needs_check(a));
        let n = add(&mut c, 0x2000, 0x8000_2000, 4);
        assert!(!c.needs_check(n), "new blocks are current");
    }

    #[test]
    fn indirect_jump_cache_follows_new_code_and_forgets_dead_or_unchecked_blocks() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x1000, 0x8000_1000, 8);
        let b = add(&mut c, 0x1008, 0x8000_1008, 8);
        let (code_a, code_b, hot_a) = (0x10 as *const u8, 0x20 as *const u8, 0x30 as *const u8);
        c.set_code(a, code_a);
        c.set_code(b, code_b);
        c.itc_fill(0x1000, 0, 0x77, code_a);
        c.itc_fill(0x1008, 0, 0x77, code_b);
        // Optimised code replaces the entry's code (and the chains'), not its guard.
        c.get(b).slots[0].store(code_a as *mut u8, Ordering::Relaxed);
        c.link(b, 0, a);
        c.set_code(a, hot_a);
        assert_eq!(c.itc_entry(0x1000), ItcEntry { pc: 0x1000, key: 0, guard: 0x77, code: hot_a });
        assert_eq!(c.get(b).slots[0].load(Ordering::Relaxed) as *const u8, hot_a);
        // An entry for the same PC under other flags is another block's: left alone.
        c.itc_fill(0x1000, 5, 0x77, code_b);
        c.invalidate(a);
        assert_eq!(c.itc_entry(0x1000).code, code_b);
        c.invalidate(b);
        assert_eq!(c.itc_entry(0x1008), ItcEntry::EMPTY, "a dead block's entry goes");
        // A fence makes every block prove its bytes before it runs: no entry may skip that.
        c.fence();
        assert_eq!(c.itc_entry(0x1000), ItcEntry::EMPTY);
        c.itc_fill(0x1008, 0, 0x77, code_b);
        c.clear();
        assert_eq!(c.itc_entry(0x1008), ItcEntry::EMPTY);
    }

    #[test]
    fn checked_jump_cache_entries_stay_current_until_something_changes() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x1000, 0x8000_1000, 8);
        let b = add(&mut c, 0x2000, 0x8000_2000, 8);
        c.jc_insert(0x1000, a);
        c.jc_insert(0x2000, b);
        assert!(c.jc_current(0x1000, 0).is_none(), "inserted entries are unchecked");
        let code = 0x1234usize as *const u8;
        c.get_mut(a).code = code;
        assert_eq!(c.jc_mark_current(0x1000, 0), code);
        assert_eq!(c.jc_current(0x1000, 0), Some((a, code)));
        assert!(c.jc_current(0x1000, 1).is_none(), "other flags");
        c.new_stamp();
        assert!(c.jc_current(0x1000, 0).is_none(), "a TLB flush or another hart");
        c.jc_mark_current(0x1000, 0);
        c.jc_mark_current(0x2000, 0);
        c.invalidate(b);
        assert!(c.jc_current(0x1000, 0).is_none(), "an invalidation");
        c.jc_mark_current(0x1000, 0);
        c.fence();
        assert!(c.jc_current(0x1000, 0).is_none(), "a full fence");
    }

    /// A block at `pc` ending in gotos to `targets` (one exit slot each), compiled (fake code).
    fn goto_block(c: &mut TbCache, pc: u64, targets: &[u64], code: usize) -> u32 {
        let mut b = mimic_translator::ir::Builder::new(pc);
        b.insn_start(pc, 4);
        for (i, &t) in targets.iter().enumerate() {
            if i + 1 < targets.len() {
                let one = b.konst(1);
                let l = b.new_label();
                b.br_cond(one, l);
                b.goto(t);
                b.label(l);
            } else {
                b.goto(t);
            }
        }
        let idx = c.insert(pc, 0, [(0x8000_0000 + pc, 4), (0, 0)], b.finish(), targets.len(), Box::new([])).0;
        c.get_mut(idx).code = code as *const u8;
        idx
    }

    fn chain(c: &mut TbCache, src: u32, slot: u8, dst: u32) {
        c.get(src).slots[slot as usize].store(c.get(dst).code as *mut u8, Ordering::Relaxed);
        c.link(src, slot, dst);
    }

    #[test]
    fn regions_follow_live_chains_on_the_head_page() {
        let mut c = TbCache::new();
        let a = goto_block(&mut c, 0x1000, &[0x1100, 0x1200], 0x10);
        let b = goto_block(&mut c, 0x1100, &[0x1000], 0x20);
        let d = goto_block(&mut c, 0x1200, &[0x2000], 0x30);
        let far = goto_block(&mut c, 0x2000, &[0x1000], 0x40);
        chain(&mut c, a, 0, b);
        chain(&mut c, a, 1, d);
        chain(&mut c, b, 0, a);
        chain(&mut c, d, 0, far);
        let (members, edges) = c.region_from(a, 8, 100, 32);
        assert_eq!(members, [a, b, d], "the block on another page stays out");
        assert_eq!(edges, [(0, 0, 1), (0, 1, 2), (1, 0, 0)]);
        // A cut chain is not followed; nor past the limits.
        c.get(a).slots[1].store(std::ptr::null_mut(), Ordering::Relaxed);
        assert_eq!(c.region_from(a, 8, 100, 32).0, [a, b]);
        assert_eq!(c.region_from(a, 1, 100, 32), (vec![a], vec![]));
        assert_eq!(c.region_from(a, 8, 1, 32).0, [a], "no room for another instruction");
        // A block writing two registers joins only where two more fit.
        let mut w = mimic_translator::ir::Builder::new(0x1400);
        w.insn_start(0x1400, 4);
        let v = w.konst(1);
        w.set_reg(mimic_translator::ir::Reg(1), v);
        w.set_reg(mimic_translator::ir::Reg(2), v);
        w.goto(0x1000);
        let wi = c.insert(0x1400, 0, [(0x8000_1400, 4), (0, 0)], w.finish(), 1, Box::new([])).0;
        c.get_mut(wi).code = 0x50 as *const u8;
        chain(&mut c, a, 1, wi);
        assert_eq!(c.region_from(a, 8, 100, 1).0, [a, b], "two registers do not fit in one");
        assert_eq!(c.region_from(a, 8, 100, 2).0, [a, b, wi]);
        // A member's invalidation takes the region's head along.
        c.set_region(a, &[b]);
        c.invalidate(b);
        assert!(!c.get(a).valid);
    }

    #[test]
    fn ids_from_old_epochs_are_rejected() {
        let mut c = TbCache::new();
        let a = add(&mut c, 0x2000, 0x2000, 4);
        let id = c.block_id(a);
        assert_eq!(c.idx_of_id(id), Some(a));
        c.clear();
        add(&mut c, 0x2000, 0x2000, 4);
        assert_eq!(c.idx_of_id(id), None);
    }
}
