//! Finding the block for the current PC: jump cache, then the physical-PC table, then a fresh
//! translation with guest code fetched through the softmmu.

use mimic_translator::env::{tlb_index, NUM_MMU_IDX, PAGE_MASK, PAGE_SIZE, TLB_INVALID};
use mimic_hw::WatchedWrites;
use mimic_translator::guest::{Access, CodeFetch, Frontend, GuestCpu, MemFault};
use mimic_translator::ir::SecondPage;

use super::softmmu::{protect_code_page, Mmu};
use super::{backend, Core, LogMask};

/// Reads guest code for the frontend; remembers the (at most two) pages a block touches.
struct Fetcher<'a, C: GuestCpu> {
    mmu: Mmu<'a, C>,
    mmu_idx: u8,
    /// (virtual page, physical page, host address of the page or null for slow reads).
    pages: [(u64, u64, *const u8); 2],
    npages: usize,
    /// A fetch recorded a guest exception.
    faulted: bool,
}

impl<C: GuestCpu> Fetcher<'_, C> {
    fn page(&mut self, vaddr: u64) -> Option<usize> {
        let vpage = vaddr & PAGE_MASK;
        if let Some(i) = self.pages[..self.npages].iter().position(|p| p.0 == vpage) {
            return Some(i);
        }
        if self.npages == 2 {
            // Frontends never span more than two pages; refuse without recording anything.
            return None;
        }
        let Some(r) = self.mmu.resolve(vaddr, 1, Access::Execute, self.mmu_idx) else {
            self.faulted = true;
            return None;
        };
        let ppage = r.paddr & PAGE_MASK;
        let host = match self.mmu.mem.ram_ref(ppage) {
            Some(ram) if ram.len >= PAGE_SIZE => {
                // Before the first byte is read, so a device write racing with this translation
                // is either seen here or logged for the next fence.
                self.mmu.mem.watch_writes(ppage);
                ram.host as *const u8
            }
            // RAM under a device overlay (HTIF's page) is still code; real MMIO is not.
            _ if self.mmu.mem.regions().iter().any(|s| r.paddr.wrapping_sub(s.base) < s.size) => std::ptr::null(),
            _ => {
                self.mmu.cpu.raise_mem_fault(MemFault::AccessFault, vaddr, Access::Execute);
                let env = self.mmu.cpu.env();
                env.exception_pending = env.exception_pending.max(1);
                self.faulted = true;
                return None;
            }
        };
        self.pages[self.npages] = (vpage, ppage, host);
        self.npages += 1;
        Some(self.npages - 1)
    }

    fn byte(&mut self, vaddr: u64) -> Option<u8> {
        let i = self.page(vaddr)?;
        let (_, ppage, host) = self.pages[i];
        let off = vaddr & !PAGE_MASK;
        if !host.is_null() {
            // SAFETY: `host` maps a whole RAM page and `off` is inside it.
            return Some(unsafe { *host.add(off as usize) });
        }
        let mut b = [0u8];
        self.mmu.mem.read(ppage + off, &mut b).ok()?;
        Some(b[0])
    }
}

impl<C: GuestCpu> CodeFetch for Fetcher<'_, C> {
    fn fetch_u16(&mut self, vaddr: u64) -> Option<u16> {
        let lo = self.byte(vaddr)?;
        let hi = self.byte(vaddr.wrapping_add(1))?;
        Some(u16::from_le_bytes([lo, hi]))
    }
}

/// Guest code from a block's saved bytes, for translating it again.
struct SavedCode<'a> {
    pc: u64,
    bytes: &'a [u8],
}

impl CodeFetch for SavedCode<'_> {
    fn fetch_u16(&mut self, vaddr: u64) -> Option<u16> {
        let off = usize::try_from(vaddr.wrapping_sub(self.pc)).ok()?;
        let b = self.bytes.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

impl<C: GuestCpu, F: Frontend> Core<C, F> {
    /// Block `idx`'s IR: its own, or, once that was dropped (see `Tb::block`), the same IR
    /// translated again from the bytes it was first translated from. Translation depends only on
    /// those bytes, the PC, the flags and the instruction limit, so the result matches the code
    /// already compiled and its exit slots; `None` if it somehow does not.
    pub(crate) fn block_ir(&self, idx: u32) -> Option<Box<mimic_translator::ir::Block>> {
        let tb = self.tbs.get(idx);
        if tb.has_ir() {
            return Some(tb.block.clone());
        }
        let mut code = SavedCode { pc: tb.pc, bytes: &tb.bytes };
        let mut block = self.frontend.translate(&mut code, tb.pc, tb.flags, tb.block.insn_count);
        // As `prepare_for_compile` left the original (which then passed the verifier).
        mimic_translator::opt::drop_dead_reg_writes(&mut block);
        block.flags = tb.flags;
        block.second_page = tb.block.second_page;
        let same = block.insn_count == tb.block.insn_count
            && block.guest_len == tb.block.guest_len
            && block.code_mmu_idx == tb.block.code_mmu_idx
            && mimic_translator::env::exit_cells(backend::exit_slot_count(&block)) == tb.slots.len();
        if !same {
            log::error!("block at {:#x} translated differently from its saved bytes; not recompiling it", tb.pc);
            return None;
        }
        Some(Box::new(block))
    }

    /// Get block `idx`'s IR ready for its first compile: drop the register writes nothing can
    /// observe (fewer stores in baseline code; the optimising tier defers them anyway) and run
    /// the verifier, which the compilers rely on. Only here, not at translation: a third of a
    /// boot's blocks run just once or twice, interpreted, and the interpreter copes with any IR.
    /// Returns false, and marks the block `no_jit`, if the frontend produced invalid IR.
    pub(crate) fn prepare_for_compile(&mut self, idx: u32) -> bool {
        let helpers = self.helpers;
        let tb = self.tbs.get_mut(idx);
        if tb.prepared || tb.no_jit {
            return !tb.no_jit;
        }
        mimic_translator::opt::drop_dead_reg_writes(&mut tb.block);
        if let Err(e) = mimic_translator::verify::verify(&tb.block, helpers) {
            log::error!("frontend produced an invalid block at {:#x}: {e}; interpreting it", tb.pc);
            tb.no_jit = true;
            return false;
        }
        tb.prepared = true;
        true
    }

    /// Does guest RAM still hold the bytes block `idx` was translated from? Code outside RAM
    /// (device overlays) cannot be written behind the softmmu, so it counts as unchanged.
    fn bytes_unchanged(&self, idx: u32) -> bool {
        let tb = self.tbs.get(idx);
        let mut rest: &[u8] = &tb.bytes;
        for &(start, len) in tb.phys.iter().filter(|p| p.1 != 0) {
            let n = (len as usize).min(rest.len());
            let (want, tail) = rest.split_at(n);
            rest = tail;
            match self.mem.ram_ref(start) {
                Some(ram) if ram.len >= n as u64 => {
                    // SAFETY: `ram` maps at least `n` bytes of guest RAM from `start`; guest RAM
                    // stays mapped for the machine's lifetime. Other threads (devices) may write
                    // it concurrently, which at worst makes the comparison fail.
                    let have = unsafe { std::slice::from_raw_parts(ram.host as *const u8, n) };
                    if have != want {
                        return false;
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// After a fence, may block `idx` run? Checks its bytes once per fence; a block whose bytes
    /// changed is invalidated.
    fn revalidate(&mut self, idx: u32) -> bool {
        if !self.tbs.needs_check(idx) {
            return true;
        }
        // A region's code is also its members' code.
        let members = self.tbs.get(idx).region.clone();
        if !std::iter::once(idx).chain(members.iter().copied()).all(|i| self.keep_if_unchanged(i)) {
            // (A member's invalidation takes the region along; this covers one already dead.)
            self.tbs.invalidate(idx);
            return false;
        }
        self.tbs.mark_checked(idx);
        true
    }

    /// Is block `idx` alive with its guest bytes unchanged? If its bytes changed, invalidate it
    /// (and every region holding its code).
    fn keep_if_unchanged(&mut self, idx: u32) -> bool {
        if !self.tbs.get(idx).valid {
            return false;
        }
        if self.bytes_unchanged(idx) {
            return true;
        }
        self.tbs.invalidate(idx);
        self.stats.stale_blocks += 1;
        false
    }

    /// An instruction-fetch fence: code written behind the softmmu (device DMA, page-table
    /// walkers) since the last one must not run any more. The address space logs such writes to
    /// pages holding code (see `Fetcher::page`), so usually there is nothing to do; the blocks
    /// on a page it lists are checked against their bytes; only when the log overflowed must
    /// every block prove its bytes unchanged (`TbCache::fence`).
    pub(crate) fn fence(&mut self) {
        match self.mem.take_watched_writes() {
            WatchedWrites::None => {}
            WatchedWrites::Pages(pages) => {
                for page in pages {
                    for idx in self.tbs.blocks_on_page(page) {
                        self.keep_if_unchanged(idx);
                    }
                }
            }
            WatchedWrites::Unknown => self.tbs.fence(),
        }
        self.stats.fences += 1;
    }

    /// Does the code TLB still map block `idx`'s page(s) to the physical page(s) it was
    /// translated from? (A missing entry answers no: the full lookup refills it.)
    fn mapping_current(&self, idx: u32) -> bool {
        let tb = self.tbs.get(idx);
        let t = (self.cpu.code_mmu_idx() as usize).min(NUM_MMU_IDX - 1);
        let tlb = &self.cpu.env_ref().tlb[t];
        let maps = |vpage: u64, ppage: u64| {
            let i = tlb_index(vpage);
            let c = tlb[i].addr_code;
            c != TLB_INVALID && c & PAGE_MASK == vpage && vpage.wrapping_add(self.iotlb[t][i]) == ppage
        };
        let vpage = tb.pc & PAGE_MASK;
        maps(vpage, tb.phys[0].0 & PAGE_MASK)
            && (!tb.spans_two_pages() || maps(vpage.wrapping_add(PAGE_SIZE), tb.phys[1].0 & PAGE_MASK))
    }

    /// Jump-cache hit for `pc` under the current flags and mappings (revalidated after a fence),
    /// with the block's code as the jump cache knows it: null, or possibly an older tier's (see
    /// `TbCache::jc_current`), which the run loop does not use and the lookup hook refreshes.
    #[inline]
    pub(crate) fn find_fast(&mut self, pc: u64) -> Option<(u32, *const u8)> {
        let flags = self.cpu.tb_flags();
        let tlb_gen = self.cpu.env_ref().tlb_gen;
        if tlb_gen != self.seen_tlb_gen {
            // A TLB flush: mappings the jump cache checked may have changed.
            self.seen_tlb_gen = tlb_gen;
            self.tbs.new_stamp();
        } else if let Some(hit) = self.tbs.jc_current(pc, flags) {
            return Some(hit);
        }
        let idx = self.tbs.jc_probe(pc, flags)?;
        if !(self.mapping_current(idx) && self.revalidate(idx)) {
            return None;
        }
        Some((idx, self.tbs.jc_mark_current(pc, flags)))
    }

    /// Full lookup, translating if needed. `None`: fetching the first instruction faulted (the
    /// exception is pending). With `log` asking for it, also returns the `-d in_asm/op` text.
    pub(crate) fn lookup_or_translate(
        &mut self,
        pc: u64,
        max_insns: u32,
        log: LogMask,
    ) -> Option<(u32, Option<String>)> {
        let flags = self.cpu.tb_flags();
        let mmu_idx = self.cpu.code_mmu_idx();
        let first = self.mmu().resolve(pc, 1, Access::Execute, mmu_idx)?;
        if let Some(i) = self.tbs.map_get(first.paddr, pc, flags) {
            let tb = self.tbs.get(i);
            let ok = if tb.spans_two_pages() {
                let want = tb.phys[1].0 & PAGE_MASK;
                let second = (pc & PAGE_MASK).wrapping_add(PAGE_SIZE);
                match self.mmu().resolve(second, 1, Access::Execute, mmu_idx) {
                    Some(r) => r.paddr & PAGE_MASK == want,
                    None => {
                        // Only the block's tail is unmapped now: retranslate, which ends before it.
                        self.cpu.env().exception_pending = 0;
                        false
                    }
                }
            } else {
                true
            };
            if ok && self.revalidate(i) {
                self.tbs.jc_insert(pc, i);
                return Some((i, None));
            }
        }

        let Core { cpu, frontend, mem, iotlb, tbs, helpers, .. } = self;
        let mut f = Fetcher {
            mmu: Mmu { cpu: &mut **cpu, iotlb, mem, tbs },
            mmu_idx,
            pages: [(0, 0, std::ptr::null()); 2],
            npages: 0,
            faulted: false,
        };
        let mut block = frontend.translate(&mut f, pc, flags, max_insns);
        if f.faulted {
            if block.insn_count == 0 {
                // The first instruction itself cannot be fetched: that is the guest's exception.
                return None;
            }
            // A later instruction faulted; the block ends before it and the fault is raised when
            // execution actually gets there.
            f.mmu.cpu.env().exception_pending = 0;
        }
        let text = if log.in_asm || log.op {
            let mut s = String::new();
            if log.in_asm {
                let bytes: Vec<u8> = (0..block.guest_len as u64).map_while(|k| f.byte(pc.wrapping_add(k))).collect();
                s.push_str(&format!("IN: [pc={pc:#x} flags={flags:#x}]\n{}\n", frontend.disassemble(&bytes, pc)));
            }
            if log.op {
                s.push_str(&format!("OP: [pc={pc:#x}]\n{}\n", mimic_translator::print::print_block(&block, helpers)));
            }
            Some(s)
        } else {
            None
        };
        // What the block was translated from, for revalidation after a fence.
        let mut bytes = Vec::with_capacity(block.guest_len as usize);
        bytes.extend((0..block.guest_len as u64).map_while(|k| f.byte(pc.wrapping_add(k))));
        let bytes = bytes.into_boxed_slice();
        let pages = f.pages;
        let npages = f.npages;

        let off = pc & !PAGE_MASK;
        let len = block.guest_len as u64;
        let len0 = len.min(PAGE_SIZE - off);
        let mut phys = [(first.paddr, len0 as u32), (0, 0)];
        if len > len0 && npages == 2 {
            let (vpage, ppage, host) = pages[1];
            phys[1] = (ppage, (len - len0) as u32);
            if !host.is_null() {
                // The addend the code TLB gives a RAM page (see `Mmu::fill`).
                block.second_page = Some(SecondPage { vpage, addend: (host as u64).wrapping_sub(vpage) });
            }
        }
        let nslots = backend::exit_slot_count(&block);
        block.flags = flags;
        let (idx, new_pages) = self.tbs.insert(pc, flags, phys, block, nslots, bytes);
        for page in new_pages {
            self.code_page_epoch += 1;
            let env: *mut _ = self.cpu.env();
            // SAFETY: `env` is this CPU's Env; iotlb is a separate field of the Core.
            protect_code_page(unsafe { &mut *env }, &self.iotlb, page);
        }
        self.tbs.jc_insert(pc, idx);
        self.stats.blocks_translated += 1;
        Some((idx, text))
    }
}
