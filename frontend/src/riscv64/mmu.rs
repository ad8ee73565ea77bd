//! Sv39/Sv48 page-table walks over guest physical memory, with QEMU's A/D update policy.

use mimic_hw::AddressSpace;
use std::sync::atomic::Ordering;
use mimic_translator::guest::Access;

use super::cpu::{PRV_M, PRV_S, PRV_U};
use super::pmp;
use super::translate::cause;

pub const SATP_MODE_SHIFT: u64 = 60;
pub const SATP_MODE_BARE: u64 = 0;
pub const SATP_MODE_SV39: u64 = 8;
pub const SATP_MODE_SV48: u64 = 9;
pub const SATP_PPN_MASK: u64 = (1 << 44) - 1;
pub const SATP_ASID_MASK: u64 = 0xffff << 44;

pub const PTE_V: u64 = 1 << 0;
pub const PTE_R: u64 = 1 << 1;
pub const PTE_W: u64 = 1 << 2;
pub const PTE_X: u64 = 1 << 3;
pub const PTE_U: u64 = 1 << 4;
pub const PTE_G: u64 = 1 << 5;
pub const PTE_A: u64 = 1 << 6;
pub const PTE_D: u64 = 1 << 7;
/// N (Svnapot), PBMT (Svpbmt) and the reserved bits 60:54: none of these extensions is
/// implemented, so a set bit makes the PTE invalid.
pub const PTE_RESERVED: u64 = 0xffc0_0000_0000_0000;

/// What the walk needs from the hart's state.
#[derive(Clone, Copy, Debug)]
pub struct WalkCtx<'a> {
    pub satp: u64,
    /// Effective privilege of the access (after `mstatus.MPRV`).
    pub prv: u8,
    pub sum: bool,
    pub mxr: bool,
    pub pmpcfg: &'a [u8; 64],
    pub pmpaddr: &'a [u64; 64],
}

/// A successful translation: physical address of the accessed byte and what the leaf allows
/// (after A/D are set, writes are granted only when D is already set, as in QEMU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub paddr: u64,
    /// Virtual base and size of the leaf when it is a superpage (level > 0): the TLB caches it as
    /// 4 KiB entries, so a single-page `sfence.vma` inside it must flush them all.
    pub superpage: Option<(u64, u64)>,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

/// The exception a failed translation raises (cause code; `tval` is the virtual address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault(pub u64);

pub fn page_fault(access: Access) -> Fault {
    Fault(match access {
        Access::Read => cause::LOAD_PAGE_FAULT,
        Access::Write => cause::STORE_PAGE_FAULT,
        Access::Execute => cause::INSN_PAGE_FAULT,
    })
}

pub fn access_fault(access: Access) -> Fault {
    Fault(match access {
        Access::Read => cause::LOAD_ACCESS,
        Access::Write => cause::STORE_ACCESS,
        Access::Execute => cause::INSN_ACCESS,
    })
}

/// Is address translation active for an access at effective privilege `prv`?
pub fn paging_enabled(satp: u64, prv: u8) -> bool {
    prv != PRV_M && satp >> SATP_MODE_SHIFT != SATP_MODE_BARE
}

/// Translate `va` (no PMP check on the result; the caller does that for the final access).
pub fn translate(mem: &AddressSpace, w: &WalkCtx, va: u64, access: Access) -> Result<Translation, Fault> {
    if !paging_enabled(w.satp, w.prv) {
        return Ok(Translation { paddr: va, superpage: None, readable: true, writable: true, executable: true });
    }
    let levels = match w.satp >> SATP_MODE_SHIFT {
        SATP_MODE_SV39 => 3,
        SATP_MODE_SV48 => 4,
        _ => return Err(page_fault(access)),
    };
    let va_bits = 12 + 9 * levels;
    // Bits above the VA width must all equal its top bit.
    let top = (va as i64) >> (va_bits - 1);
    if top != 0 && top != -1 {
        return Err(page_fault(access));
    }
    let mut base = (w.satp & SATP_PPN_MASK) << 12;
    for level in (0..levels).rev() {
        let vpn = (va >> (12 + 9 * level)) & 0x1ff;
        let pte_addr = base + vpn * 8;
        // Implicit page-table accesses are checked by PMP as S-mode accesses.
        if !pmp::check(w.pmpcfg, w.pmpaddr, pte_addr, 8, Access::Read, PRV_S) {
            return Err(access_fault(access));
        }
        // Page tables live in RAM: read the PTE through its host pointer (one region lookup;
        // this walk runs for every TLB fill).
        let Some(pte) = read_pte(mem, pte_addr) else {
            return Err(access_fault(access));
        };
        if pte & PTE_V == 0 || (pte & PTE_R == 0 && pte & PTE_W != 0) || pte & PTE_RESERVED != 0 {
            return Err(page_fault(access));
        }
        let ppn = (pte >> 10) & SATP_PPN_MASK;
        if pte & (PTE_R | PTE_X) == 0 {
            if level == 0 {
                return Err(page_fault(access));
            }
            base = ppn << 12;
            continue;
        }
        return leaf(mem, w, va, access, pte, pte_addr, ppn, level);
    }
    Err(page_fault(access))
}

/// The PTE at `pte_addr` (8-byte aligned), if that is RAM or ROM.
fn read_pte(mem: &AddressSpace, pte_addr: u64) -> Option<u64> {
    let r = mem.ram_ref(pte_addr).filter(|r| r.len >= 8)?;
    debug_assert_eq!(pte_addr % 8, 0);
    // SAFETY: `ram_ref` maps at least 8 bytes at `r.host`, and guest RAM stays mapped for the
    // machine's lifetime. The address is 8-byte aligned (a table base is page-aligned, plus
    // 8 * index) and host RAM mappings are page-aligned, so an atomic access is valid; atomic
    // because device threads may write guest RAM concurrently.
    let v = unsafe { std::sync::atomic::AtomicU64::from_ptr(r.host as *mut u64) }.load(Ordering::Relaxed);
    Some(u64::from_le(v))
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    mem: &AddressSpace,
    w: &WalkCtx,
    va: u64,
    access: Access,
    pte: u64,
    pte_addr: u64,
    ppn: u64,
    level: u32,
) -> Result<Translation, Fault> {
    let low_ppn_mask = (1u64 << (9 * level)) - 1;
    if ppn & low_ppn_mask != 0 {
        return Err(page_fault(access)); // misaligned superpage
    }
    let user = pte & PTE_U != 0;
    match w.prv {
        PRV_U if !user => return Err(page_fault(access)),
        PRV_S if user && (access == Access::Execute || !w.sum) => return Err(page_fault(access)),
        _ => {}
    }
    let readable = pte & PTE_R != 0 || (w.mxr && pte & PTE_X != 0);
    let allowed = match access {
        Access::Read => readable,
        Access::Write => pte & PTE_W != 0,
        Access::Execute => pte & PTE_X != 0,
    };
    if !allowed {
        return Err(page_fault(access));
    }
    let mut new = pte | PTE_A;
    if access == Access::Write {
        new |= PTE_D;
    }
    if new != pte {
        // The PTE was read from RAM, so it is writable unless it lives in ROM: then, like a
        // hardware walker that cannot update A/D, fault.
        if !pmp::check(w.pmpcfg, w.pmpaddr, pte_addr, 8, Access::Write, PRV_S) {
            return Err(access_fault(access));
        }
        match mem.ram_ref(pte_addr) {
            Some(r) if !r.read_only => {}
            _ => return Err(page_fault(access)),
        }
        if mem.write(pte_addr, &new.to_le_bytes()).is_err() {
            return Err(access_fault(access));
        }
    }
    let page_off_mask = (1u64 << (12 + 9 * level)) - 1;
    Ok(Translation {
        paddr: (ppn << 12) | (va & page_off_mask),
        superpage: (level > 0).then_some((va & !page_off_mask, page_off_mask + 1)),
        readable,
        writable: new & PTE_W != 0 && new & PTE_D != 0,
        executable: new & PTE_X != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    const RAM: u64 = 0x8000_0000;

    fn mem() -> AddressSpace {
        AddressSpace::new(&[MemRegionSpec::ram("ram", RAM, 0x40_0000)]).unwrap()
    }

    fn put(m: &AddressSpace, pa: u64, v: u64) {
        m.write(pa, &v.to_le_bytes()).unwrap();
    }

    fn get(m: &AddressSpace, pa: u64) -> u64 {
        let mut b = [0; 8];
        m.read(pa, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn pte(pa: u64, flags: u64) -> u64 {
        (pa >> 12) << 10 | flags | PTE_V
    }

    static CFG: [u8; 64] = [0; 64];
    static ADDR: [u64; 64] = [0; 64];

    fn ctx(mode: u64, root: u64, prv: u8) -> WalkCtx<'static> {
        WalkCtx { satp: mode << 60 | root >> 12, prv, sum: false, mxr: false, pmpcfg: &CFG, pmpaddr: &ADDR }
    }

    /// Sv39: root at RAM+0x1000, level-1 table at +0x2000, level-0 at +0x3000.
    fn sv39_tables(m: &AddressSpace) {
        let (root, l1, l0) = (RAM + 0x1000, RAM + 0x2000, RAM + 0x3000);
        // VA 0x4000_0000 (vpn2=1): 1 GiB superpage onto RAM, RWX user, A/D clear.
        put(m, root + 8, pte(RAM, PTE_R | PTE_W | PTE_X | PTE_U));
        // VA 0 (vpn2=0) -> l1; vpn1=0 -> l0; vpn1=1: 2 MiB superpage misaligned.
        put(m, root, pte(l1, 0));
        put(m, l1, pte(l0, 0));
        put(m, l1 + 8, pte(RAM + 0x1000, PTE_R));
        // VA 0x5000 -> RAM+0x10000, supervisor read-only; VA 0x6000 execute-only user page.
        put(m, l0 + 5 * 8, pte(RAM + 0x10000, PTE_R | PTE_A));
        put(m, l0 + 6 * 8, pte(RAM + 0x11000, PTE_X | PTE_U | PTE_A));
    }

    #[test]
    fn sv39_superpage_sets_a_then_d() {
        let m = mem();
        sv39_tables(&m);
        let w = ctx(SATP_MODE_SV39, RAM + 0x1000, PRV_U);
        let t = translate(&m, &w, 0x4012_3456, Access::Read).unwrap();
        assert_eq!(t.paddr, RAM + 0x12_3456);
        assert!(!t.writable, "write permission must wait for D");
        assert_eq!(get(&m, RAM + 0x1008) & (PTE_A | PTE_D), PTE_A);
        let t = translate(&m, &w, 0x4000_0000, Access::Write).unwrap();
        assert!(t.writable);
        assert_eq!(get(&m, RAM + 0x1008) & (PTE_A | PTE_D), PTE_A | PTE_D);
    }

    #[test]
    fn sv39_faults() {
        let m = mem();
        sv39_tables(&m);
        let w = ctx(SATP_MODE_SV39, RAM + 0x1000, PRV_S);
        assert_eq!(translate(&m, &w, 0x20_0000, Access::Read), Err(Fault(cause::LOAD_PAGE_FAULT)), "misaligned");
        assert_eq!(translate(&m, &w, 0x5000, Access::Write), Err(Fault(cause::STORE_PAGE_FAULT)));
        assert_eq!(translate(&m, &w, 0x5008, Access::Read).unwrap().paddr, RAM + 0x10008);
        // Non-canonical.
        assert_eq!(translate(&m, &w, 1 << 40, Access::Execute), Err(Fault(cause::INSN_PAGE_FAULT)));
        // Unmapped.
        assert_eq!(translate(&m, &w, 0x7000, Access::Read), Err(Fault(cause::LOAD_PAGE_FAULT)));
    }

    #[test]
    fn u_sum_mxr_rules() {
        let m = mem();
        sv39_tables(&m);
        let mut w = ctx(SATP_MODE_SV39, RAM + 0x1000, PRV_S);
        // S touching a U page needs SUM, and may never execute it.
        assert!(translate(&m, &w, 0x6000, Access::Execute).is_err());
        w.sum = true;
        assert!(translate(&m, &w, 0x6000, Access::Execute).is_err());
        assert_eq!(translate(&m, &w, 0x6000, Access::Read), Err(Fault(cause::LOAD_PAGE_FAULT)));
        w.mxr = true;
        assert!(translate(&m, &w, 0x6000, Access::Read).is_ok());
        // U may not touch an S page.
        let mut u = ctx(SATP_MODE_SV39, RAM + 0x1000, PRV_U);
        assert!(translate(&m, &u, 0x5000, Access::Read).is_err());
        assert!(translate(&m, &u, 0x6000, Access::Execute).is_ok());
        u.prv = PRV_M;
        assert_eq!(translate(&m, &u, 0x1234, Access::Read).unwrap().paddr, 0x1234, "M is bare");
    }

    #[test]
    fn sv48_walk_and_reserved_bits() {
        let m = mem();
        let (root, l2) = (RAM + 0x1000, RAM + 0x2000);
        // VA 0x8000_0000_0000 - negative half needs sign extension; use vpn3=1 (VA 1<<39).
        put(&m, root + 8, pte(l2, 0));
        // vpn2=2: 1 GiB superpage at RAM.
        put(&m, l2 + 16, pte(RAM, PTE_R | PTE_W | PTE_A | PTE_D));
        let w = ctx(SATP_MODE_SV48, root, PRV_S);
        let va = (1u64 << 39) | (2 << 30) | 0x345;
        assert_eq!(translate(&m, &w, va, Access::Write).unwrap().paddr, RAM + 0x345);
        // Sv39 would call that VA non-canonical.
        let w39 = ctx(SATP_MODE_SV39, root, PRV_S);
        assert!(translate(&m, &w39, va, Access::Read).is_err());
        // PBMT bits set: page fault.
        put(&m, l2 + 16, pte(RAM, PTE_R | PTE_A) | 1 << 61);
        assert_eq!(translate(&m, &w, va, Access::Read), Err(Fault(cause::LOAD_PAGE_FAULT)));
    }

    #[test]
    fn pte_outside_ram_is_access_fault() {
        let m = mem();
        let w = ctx(SATP_MODE_SV39, 0x1000_0000, PRV_S);
        assert_eq!(translate(&m, &w, 0x1000, Access::Read), Err(Fault(cause::LOAD_ACCESS)));
    }
}
