//! The RISC-V hart: architectural state beyond the register file, and the `GuestCpu` impl the
//! TCG run loop drives.

use std::sync::Arc;

use mimic_hw::clock::Clock;
use mimic_hw::irq::PendingBits;
use mimic_hw::AddressSpace;
use mimic_translator::env::Env;
use mimic_translator::guest::{Access, GuestCpu, MemFault, PageMapping};
use mimic_translator::helpers::HelperTable;

use super::csr::{self, irq, mstatus};
use super::mmu::{self, WalkCtx};
use super::pmp;
use super::translate::{cause, flags};
use super::trap;

/// Privilege levels, numbered as in `mstatus.MPP`.
pub const PRV_U: u8 = 0;
pub const PRV_S: u8 = 1;
pub const PRV_M: u8 = 3;
/// mmu_idx (softmmu TLB) of S-mode loads and stores while `mstatus.SUM` is set, so that toggling
/// SUM needs no TLB flush: Linux sets and clears it around every user-memory copy (~78k full
/// flushes, 95% of them, in a boot and short workload).
pub const MMU_IDX_S_SUM: u8 = 2;

/// A trap recorded by a helper or the softmmu, delivered by `GuestCpu::deliver_exception`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingTrap {
    /// Exception cause code (`mcause` without the interrupt bit).
    pub cause: u64,
    pub tval: u64,
}

/// Machine- and supervisor-level CSR state. Registers that are views of others (`sstatus`,
/// `sie`, `sip`) are not stored.
#[derive(Clone, Debug)]
pub struct Csrs {
    pub mstatus: u64,
    pub misa: u64,
    pub medeleg: u64,
    pub mideleg: u64,
    pub mie: u64,
    /// Software-writable pending bits (SSIP, STIP, SEIP as written by M-mode); the hardware-driven
    /// bits come from `RiscvCpu::hw_irqs` and are OR-ed in on read.
    pub mip: u64,
    pub mtvec: u64,
    pub mscratch: u64,
    pub mepc: u64,
    pub mcause: u64,
    pub mtval: u64,
    pub mcounteren: u64,
    pub menvcfg: u64,
    pub mcountinhibit: u64,
    pub stvec: u64,
    pub sscratch: u64,
    pub sepc: u64,
    pub scause: u64,
    pub stval: u64,
    pub satp: u64,
    pub scounteren: u64,
    pub senvcfg: u64,
    /// Sstc's supervisor timer compare (against `time`).
    pub stimecmp: u64,
    pub pmpcfg: [u8; 64],
    pub pmpaddr: [u64; 64],
    /// Accrued floating-point exception flags (`fflags`, 5 bits).
    pub fflags: u8,
    /// Dynamic rounding mode (`frm`, 3 bits).
    pub frm: u8,
}

impl Default for Csrs {
    fn default() -> Self {
        Self {
            mstatus: 0,
            misa: 0,
            medeleg: 0,
            mideleg: 0,
            mie: 0,
            mip: 0,
            mtvec: 0,
            mscratch: 0,
            mepc: 0,
            mcause: 0,
            mtval: 0,
            mcounteren: 0,
            menvcfg: 0,
            mcountinhibit: 0,
            stvec: 0,
            sscratch: 0,
            sepc: 0,
            scause: 0,
            stval: 0,
            satp: 0,
            scounteren: 0,
            senvcfg: 0,
            stimecmp: 0,
            pmpcfg: [0; 64],
            pmpaddr: [0; 64],
            fflags: 0,
            frm: 0,
        }
    }
}

#[repr(C)]
pub struct RiscvCpu {
    /// Must stay the first field: helpers cast `*mut Env` to `*mut RiscvCpu`.
    pub env: Env,
    pub priv_mode: u8,
    pub hart_id: u64,
    pub csr: Csrs,
    pub pending_trap: Option<PendingTrap>,
    /// Set by `wfi`; cleared when an interrupt becomes pending.
    pub waiting: bool,
    /// Instructions retired before the current budget period (`instret`/`cycle` base).
    pub retired_base: u64,
    /// `env.budget` as last refilled by the run loop (see [`RiscvCpu::on_budget_refill`]).
    pub budget_at_refill: i64,
    pub mem: Arc<AddressSpace>,
    /// Interrupt pending bits driven by devices (MSIP, MTIP, MEIP, SEIP).
    pub hw_irqs: Arc<PendingBits>,
    pub clock: Arc<Clock>,
    /// Sstc's STIP (`time >= stimecmp` under `menvcfg.STCE`), as of the last look at the clock
    /// ([`RiscvCpu::update_stimer`]): `mip` is read on every run-loop turn, the clock is not.
    pub stimer_pending: bool,
    /// Superpages translated since the last full TLB flush (see [`SuperpageSet`]).
    pub superpages: SuperpageSet,
}

/// The virtual ranges of the superpages the TLB may hold (as 4 KiB entries), so `sfence.vma` of
/// one address outside all of them can flush just that page. Linux flushes single pages for every
/// kernel text patch and fixmap change (tens of thousands while booting); flushing the whole TLB
/// each time cost a page walk for every page touched afterwards. Adjacent ranges merge (the
/// kernel's 2 MiB pages); past `MAX` disjoint ranges every flush is full.
#[derive(Clone, Debug, Default)]
pub struct SuperpageSet {
    ranges: Vec<(u64, u64)>,
    overflow: bool,
}

impl SuperpageSet {
    const MAX: usize = 8;

    /// Record the superpage `[base, base + size)`.
    pub fn add(&mut self, base: u64, size: u64) {
        let end = base.wrapping_add(size);
        for r in self.ranges.iter_mut() {
            if base <= r.1 && r.0 <= end {
                *r = (r.0.min(base), r.1.max(end));
                return;
            }
        }
        if self.ranges.len() < Self::MAX {
            self.ranges.push((base, end));
        } else {
            self.overflow = true;
        }
    }

    /// Might a TLB entry for `va` come from a superpage?
    pub fn covers(&self, va: u64) -> bool {
        self.overflow || self.ranges.iter().any(|&(lo, hi)| lo <= va && va < hi)
    }

    /// The TLB was flushed completely.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.overflow = false;
    }
}

impl RiscvCpu {
    /// A hart in M-mode with its reset state; call [`RiscvCpu::reset`] to set the start PC.
    pub fn new(hart_id: u64, mem: Arc<AddressSpace>, hw_irqs: Arc<PendingBits>, clock: Arc<Clock>) -> Box<RiscvCpu> {
        let mut cpu = Box::new(RiscvCpu {
            env: Env::new(),
            priv_mode: PRV_M,
            hart_id,
            csr: Csrs::default(),
            pending_trap: None,
            waiting: false,
            retired_base: 0,
            budget_at_refill: 0,
            mem,
            hw_irqs,
            clock,
            stimer_pending: false,
            superpages: SuperpageSet::default(),
        });
        cpu.reset(0);
        cpu
    }

    /// Architectural reset: M-mode, interrupts and paging off, FS = Off, PMP cleared, at `pc`.
    pub fn reset(&mut self, pc: u64) {
        self.csr = Csrs { misa: csr::misa_reset(), mstatus: csr::mstatus_reset(), ..Csrs::default() };
        self.priv_mode = PRV_M;
        self.pending_trap = None;
        self.waiting = false;
        self.retired_base = 0;
        self.budget_at_refill = self.env.budget;
        self.env.regs = [0; mimic_translator::env::NUM_REGS];
        self.env.regs[super::regs::RESV_ADDR as usize] = u64::MAX;
        self.env.pc = pc;
        self.env.exception_pending = 0;
        self.env.flush_tlb();
    }

    /// Instructions retired so far (`cycle`/`instret`): counted from the budget the run loop
    /// hands out, so it is exact at block boundaries.
    pub fn retired(&self) -> u64 {
        let used = self.budget_at_refill.saturating_sub(self.env.budget.max(0)).max(0) as u64;
        let skipped = self.env.regs[super::regs::SKIPPED as usize];
        self.retired_base.wrapping_add(used).wrapping_sub(skipped)
    }

    /// Make [`RiscvCpu::retired`] read `v` now (writes of `mcycle`/`minstret`).
    pub fn set_retired(&mut self, v: u64) {
        self.retired_base = v.wrapping_sub(self.retired().wrapping_sub(self.retired_base));
    }

    /// The run loop gives the hart a new instruction budget: call this instead of storing
    /// `env.budget` directly, so the retired-instruction count carries over.
    pub fn on_budget_refill(&mut self, new_budget: i64) {
        self.update_stimer();
        self.retired_base = self.retired();
        self.env.regs[super::regs::SKIPPED as usize] = 0;
        self.budget_at_refill = new_budget;
        self.env.budget = new_budget;
    }

    /// Make generated code return to the run loop at the next block entry; the run loop puts
    /// the budget back afterwards ([`Env::request_exit`]), so the retired-instruction count is
    /// right again before any instruction can read it.
    pub fn request_exit(&mut self) {
        self.env.request_exit();
    }

    /// `mip` as software sees it: software-written bits OR device lines.
    pub fn mip(&self) -> u64 {
        let hw = self.hw_irqs.get() & (irq::MSI | irq::MTI | irq::MEI | irq::SEI);
        let sw = if self.sstc_enabled() {
            (self.csr.mip & !irq::STI) | if self.stimer_pending { irq::STI } else { 0 }
        } else {
            self.csr.mip
        };
        sw | hw
    }

    /// `menvcfg.STCE`: Sstc's `stimecmp` drives STIP.
    pub fn sstc_enabled(&self) -> bool {
        self.csr.menvcfg & csr::MENVCFG_STCE != 0
    }

    /// Look at the clock for Sstc's timer: after `stimecmp` or `menvcfg` change, at every budget
    /// refill (so an expiry is seen within a period, as the CLINT's is) and while in `wfi`.
    /// Without STCE it does not read the clock.
    pub fn update_stimer(&mut self) {
        self.stimer_pending = self.sstc_enabled() && self.clock.ticks() >= self.csr.stimecmp;
    }

    /// Nanoseconds until Sstc's timer fires, if it is armed and has not.
    pub fn stimer_deadline_ns(&self) -> Option<u64> {
        if !self.sstc_enabled() || self.stimer_pending {
            return None;
        }
        let ticks = self.csr.stimecmp.saturating_sub(self.clock.ticks()) as u128;
        Some((ticks * 1_000_000_000 / self.clock.freq_hz().max(1) as u128).min(u64::MAX as u128) as u64)
    }

    /// Privilege loads and stores use: `mstatus.MPP` under `MPRV` in M-mode.
    pub fn data_priv(&self) -> u8 {
        if self.priv_mode == PRV_M && self.csr.mstatus & mstatus::MPRV != 0 {
            csr::mpp(self)
        } else {
            self.priv_mode
        }
    }

    /// Record a synchronous exception for `deliver_exception`.
    pub fn set_exception(&mut self, cause: u64, tval: u64) {
        self.pending_trap = Some(PendingTrap { cause, tval });
        self.env.exception_pending = 1;
    }

    /// # Safety
    /// `env` must point at the `env` field of a live `RiscvCpu` (true for every `Env` the TCG run
    /// loop hands to generated code or helpers of this frontend).
    pub unsafe fn from_env<'a>(env: *mut Env) -> &'a mut RiscvCpu {
        // SAFETY: `env` is the first field of a `#[repr(C)]` RiscvCpu (caller's contract).
        unsafe { &mut *(env as *mut RiscvCpu) }
    }

    pub fn x(&self, r: usize) -> u64 {
        self.env.regs[r]
    }

    pub fn set_x(&mut self, r: usize, v: u64) {
        if r != 0 {
            self.env.regs[r] = v;
        }
    }

    pub fn f(&self, r: usize) -> u64 {
        self.env.regs[super::regs::F0 as usize + r]
    }
}

impl GuestCpu for RiscvCpu {
    fn on_budget_refill(&mut self, _remaining: i64, new_budget: i64) {
        RiscvCpu::on_budget_refill(self, new_budget);
    }

    fn env(&mut self) -> &mut Env {
        &mut self.env
    }

    fn env_ref(&self) -> &Env {
        &self.env
    }

    fn tb_flags(&self) -> u64 {
        let fs = self.csr.mstatus & mstatus::FS;
        let data_mmu = match self.data_priv() {
            PRV_S if self.csr.mstatus & mstatus::SUM != 0 => MMU_IDX_S_SUM,
            p => p,
        };
        let mut f = self.priv_mode as u64 | (data_mmu as u64) << flags::DATA_MMU_SHIFT;
        if fs != 0 {
            f |= flags::FS_ON;
        }
        if fs == mstatus::FS_DIRTY {
            f |= flags::FS_DIRTY;
        }
        f
    }

    fn code_mmu_idx(&self) -> u8 {
        self.priv_mode
    }

    fn translate(&mut self, vaddr: u64, size: u64, access: Access, mmu_idx: u8) -> Option<PageMapping> {
        let prv = match mmu_idx {
            MMU_IDX_S_SUM => PRV_S,
            i => i.min(PRV_M),
        };
        let st = self.csr.mstatus;
        let walk = WalkCtx {
            satp: self.csr.satp,
            prv,
            // The mmu_idx says it (not mstatus, which may have changed since the TLB entries
            // of either S-mode index were filled).
            sum: mmu_idx == MMU_IDX_S_SUM,
            mxr: st & mstatus::MXR != 0,
            pmpcfg: &self.csr.pmpcfg,
            pmpaddr: &self.csr.pmpaddr,
        };
        let t = match mmu::translate(&self.mem, &walk, vaddr, access) {
            Ok(t) => {
                if let Some((base, size)) = t.superpage {
                    self.superpages.add(base, size);
                }
                t
            }
            Err(mmu::Fault(c)) => {
                self.set_exception(c, vaddr);
                return None;
            }
        };
        // The whole access must lie in one entry (a partial match fails). `perms` then holds for
        // this access only, unless the page is uniform (and so cacheable).
        let perms = pmp::perms(&self.csr.pmpcfg, &self.csr.pmpaddr, t.paddr, size, prv);
        if perms & pmp::access_bit(access) == 0 {
            let c = mmu::access_fault(access).0;
            self.set_exception(c, vaddr);
            return None;
        }
        Some(PageMapping {
            paddr: t.paddr,
            cacheable: pmp::page_uniform(&self.csr.pmpcfg, &self.csr.pmpaddr, t.paddr),
            readable: t.readable && perms & pmp::CFG_R != 0,
            writable: t.writable && perms & pmp::CFG_W != 0,
            executable: t.executable && perms & pmp::CFG_X != 0,
        })
    }

    fn raise_mem_fault(&mut self, fault: MemFault, vaddr: u64, access: Access) {
        let c = match (fault, access) {
            (MemFault::Misaligned, Access::Read) => cause::LOAD_MISALIGNED,
            (MemFault::Misaligned, Access::Write) => cause::STORE_MISALIGNED,
            (MemFault::Misaligned, Access::Execute) => cause::INSN_MISALIGNED,
            (MemFault::AccessFault, a) => mmu::access_fault(a).0,
        };
        self.set_exception(c, vaddr);
    }

    fn deliver_exception(&mut self) {
        self.env.exception_pending = 0;
        match self.pending_trap.take() {
            Some(t) => trap::take_trap(self, t.cause, t.tval, false),
            None => log::error!("exception flagged at pc {:#x} without a recorded trap", self.env.pc),
        }
    }

    fn take_interrupt(&mut self) -> bool {
        match trap::pending_interrupt(self) {
            Some(c) => {
                trap::take_trap(self, c, 0, true);
                true
            }
            None => false,
        }
    }

    fn wakeup_pending(&self) -> bool {
        trap::wakeup(self)
    }

    fn poll_timers(&mut self) -> Option<u64> {
        self.update_stimer();
        self.stimer_deadline_ns()
    }

    fn helpers(&self) -> HelperTable {
        super::helper_table()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    pub(crate) fn test_cpu() -> Box<RiscvCpu> {
        let mem = Arc::new(AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10_0000)]).unwrap());
        let mut cpu = RiscvCpu::new(0, mem, PendingBits::new(), Arc::new(Clock::new(10_000_000)));
        cpu.reset(0x8000_0000);
        cpu
    }

    #[test]
    fn reset_state_matches_qemu_rv64() {
        let cpu = test_cpu();
        assert_eq!(cpu.priv_mode, PRV_M);
        assert_eq!(cpu.csr.misa, 0x8000_0000_0014_112d);
        assert_eq!(cpu.csr.mstatus, 0xa_0000_0000);
        assert_eq!(cpu.tb_flags(), 3 | 3 << 2, "M-mode, no FP");
    }

    #[test]
    fn tb_flags_follow_mprv_and_fs() {
        let mut cpu = test_cpu();
        cpu.csr.mstatus |= csr::mstatus::MPRV | 1 << csr::mstatus::MPP_SHIFT | csr::mstatus::FS_DIRTY;
        assert_eq!(cpu.tb_flags(), 3 | 1 << 2 | flags::FS_ON | flags::FS_DIRTY);
        assert_eq!(cpu.code_mmu_idx(), PRV_M);
    }

    #[test]
    fn sum_selects_its_own_tlb_instead_of_flushing() {
        let mut cpu = test_cpu();
        cpu.priv_mode = PRV_S;
        assert_eq!(cpu.tb_flags() >> flags::DATA_MMU_SHIFT & 3, PRV_S as u64);
        let gen = cpu.env.tlb_gen;
        let st = cpu.csr.mstatus | csr::mstatus::SUM;
        csr::write_mstatus(&mut cpu, st);
        assert_eq!(cpu.tb_flags() >> flags::DATA_MMU_SHIFT & 3, MMU_IDX_S_SUM as u64);
        assert_eq!(cpu.code_mmu_idx(), PRV_S);
        assert_eq!(cpu.env.tlb_gen, gen, "no flush");
        let st = cpu.csr.mstatus | csr::mstatus::MXR;
        csr::write_mstatus(&mut cpu, st);
        assert_ne!(cpu.env.tlb_gen, gen, "MXR still flushes");
    }

    #[test]
    fn retired_counts_across_refills() {
        let mut cpu = test_cpu();
        cpu.on_budget_refill(100);
        cpu.env.budget = 60;
        assert_eq!(cpu.retired(), 40);
        cpu.on_budget_refill(100);
        cpu.env.budget = 90;
        assert_eq!(cpu.retired(), 50);
        cpu.set_retired(7);
        assert_eq!(cpu.retired(), 7);
        cpu.env.budget = 80;
        assert_eq!(cpu.retired(), 17);
        cpu.request_exit();
        assert!(cpu.env.budget < 0);
        // What the run loop does after the exit.
        cpu.env.budget = cpu.env.take_exit_request().unwrap();
        assert_eq!(cpu.retired(), 17);
        assert_eq!(cpu.env.take_exit_request(), None);
    }

    #[test]
    fn retired_leaves_out_what_if_converted_branches_skipped() {
        let mut cpu = test_cpu();
        cpu.on_budget_refill(100);
        cpu.env.budget = 60;
        cpu.env.regs[super::super::regs::SKIPPED as usize] = 3;
        assert_eq!(cpu.retired(), 37);
        // A new period carries the count over and starts the skipped count afresh.
        cpu.on_budget_refill(100);
        assert_eq!(cpu.env.regs[super::super::regs::SKIPPED as usize], 0);
        cpu.env.budget = 90;
        assert_eq!(cpu.retired(), 47);
        cpu.env.regs[super::super::regs::SKIPPED as usize] = 2;
        cpu.set_retired(7);
        assert_eq!(cpu.retired(), 7);
    }

    #[test]
    fn superpage_set_merges_and_overflows() {
        let mut s = SuperpageSet::default();
        s.add(0x20_0000, 0x20_0000);
        s.add(0x40_0000, 0x20_0000); // adjacent: one range 2..6 MiB
        assert!(s.covers(0x20_0000) && s.covers(0x5f_ffff) && !s.covers(0x60_0000) && !s.covers(0x1000));
        for i in 0..SuperpageSet::MAX as u64 {
            s.add(0x1_0000_0000 * (i + 1), 0x20_0000);
        }
        assert!(s.covers(0x1000), "past MAX disjoint ranges everything counts as covered");
        s.clear();
        assert!(!s.covers(0x20_0000));
    }

    #[test]
    fn translate_records_page_and_pmp_faults() {
        let mut cpu = test_cpu();
        cpu.priv_mode = PRV_S;
        // satp Sv39 with a zeroed root table at 0x8000_1000: every access page-faults.
        cpu.csr.satp = 8 << 60 | 0x80001;
        assert!(cpu.translate(0x1000, 8, Access::Write, PRV_S).is_none());
        assert_eq!(cpu.pending_trap, Some(PendingTrap { cause: cause::STORE_PAGE_FAULT, tval: 0x1000 }));
        assert_eq!(cpu.env.exception_pending, 1);
        cpu.deliver_exception();
        assert_eq!(cpu.env.exception_pending, 0);
        assert_eq!(cpu.csr.mcause, cause::STORE_PAGE_FAULT);
        // M-mode is bare; a locked read-only PMP entry then denies the write.
        cpu.csr.pmpaddr[0] = (0x8000_0000 >> 2) | 0x1ff;
        cpu.csr.pmpcfg[0] = pmp::CFG_L | pmp::A_NAPOT << 3 | pmp::CFG_R;
        let m = cpu.translate(0x8000_0010, 4, Access::Read, PRV_M).unwrap();
        assert_eq!(m.paddr, 0x8000_0010);
        assert!(!m.writable && m.readable && !m.executable && m.cacheable);
        assert!(cpu.translate(0x8000_0010, 4, Access::Write, PRV_M).is_none());
        assert_eq!(cpu.pending_trap.unwrap().cause, cause::STORE_ACCESS);
    }

    #[test]
    fn pmp_checks_every_byte_of_the_access() {
        let mut cpu = test_cpu();
        cpu.priv_mode = PRV_S;
        // Entry 0: NA4 at 0x8000_2000, R only. Entry 1: NAPOT 64 KiB at 0x8000_0000, RWX.
        cpu.csr.pmpaddr[0] = 0x8000_2000 >> 2;
        cpu.csr.pmpcfg[0] = pmp::A_NA4 << 3 | pmp::CFG_R;
        cpu.csr.pmpaddr[1] = (0x8000_0000 >> 2) | (0x1_0000 / 8 - 1);
        cpu.csr.pmpcfg[1] = pmp::A_NAPOT << 3 | pmp::CFG_R | pmp::CFG_W | pmp::CFG_X;
        // Inside the NA4 word: allowed, but the page is mixed and may not be cached.
        let m = cpu.translate(0x8000_2000, 4, Access::Read, PRV_S).unwrap();
        assert!(!m.cacheable);
        let m = cpu.translate(0x8000_2004, 4, Access::Write, PRV_S).unwrap();
        assert!(!m.cacheable);
        // An 8-byte load whose upper half lies in entry 1: entry 0 matches only partly, so it fails.
        assert!(cpu.translate(0x8000_2000, 8, Access::Read, PRV_S).is_none());
        assert_eq!(cpu.pending_trap, Some(PendingTrap { cause: cause::LOAD_ACCESS, tval: 0x8000_2000 }));
        // A uniform page stays cacheable.
        let m = cpu.translate(0x8000_4000, 8, Access::Write, PRV_S).unwrap();
        assert!(m.cacheable && m.readable && m.writable && m.executable);
    }

    #[test]
    fn mem_faults_map_to_causes() {
        let mut cpu = test_cpu();
        cpu.raise_mem_fault(MemFault::Misaligned, 0x13, Access::Write);
        assert_eq!(cpu.pending_trap, Some(PendingTrap { cause: cause::STORE_MISALIGNED, tval: 0x13 }));
        cpu.raise_mem_fault(MemFault::AccessFault, 0x10, Access::Read);
        assert_eq!(cpu.pending_trap.unwrap().cause, cause::LOAD_ACCESS);
    }
}
