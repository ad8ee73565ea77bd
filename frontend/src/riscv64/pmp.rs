//! Physical memory protection: 16 entries (OFF/TOR/NA4/NAPOT, lock bit), checked after address
//! translation and for page-table walks.

use mimic_translator::guest::Access;

use super::cpu::PRV_M;

/// Entries this hart implements (QEMU's default); `pmpcfg`/`pmpaddr` beyond them read as zero.
pub const NUM_ENTRIES: usize = 16;

pub const CFG_R: u8 = 1 << 0;
pub const CFG_W: u8 = 1 << 1;
pub const CFG_X: u8 = 1 << 2;
pub const CFG_A_SHIFT: u8 = 3;
pub const CFG_L: u8 = 1 << 7;
/// Bits of a `pmpcfg` byte that hold state (bits 5..6 are reserved, read as zero).
pub const CFG_MASK: u8 = 0x9f;

pub const A_OFF: u8 = 0;
pub const A_TOR: u8 = 1;
pub const A_NA4: u8 = 2;
pub const A_NAPOT: u8 = 3;

/// `pmpaddr` holds address bits 55:2 on RV64.
pub const ADDR_MASK: u64 = (1 << 54) - 1;

fn mode(cfg: u8) -> u8 {
    (cfg >> CFG_A_SHIFT) & 3
}

/// Byte range `[start, end)` covered by entry `i`, `None` when the entry is off or empty. `u128`
/// because a NAPOT entry may cover the whole 64-bit space.
pub fn range(cfg: &[u8; 64], addr: &[u64; 64], i: usize) -> Option<(u128, u128)> {
    let a = addr[i] as u128;
    let r = match mode(cfg[i]) {
        A_TOR => {
            let lo = if i == 0 { 0 } else { (addr[i - 1] as u128) << 2 };
            (lo, a << 2)
        }
        A_NA4 => (a << 2, (a << 2) + 4),
        A_NAPOT => {
            let ones = addr[i].trailing_ones();
            let base = (a & !((1u128 << ones) - 1)) << 2;
            (base, base + (1u128 << (ones + 3)))
        }
        _ => return None,
    };
    (r.0 < r.1).then_some(r)
}

/// Is entry `i` locked, and so unwritable (`pmpaddr[i]` is also locked when entry `i + 1` is a
/// locked TOR entry, since it is that entry's lower bound)?
pub fn cfg_locked(cfg: &[u8; 64], i: usize) -> bool {
    cfg[i] & CFG_L != 0
}

pub fn addr_locked(cfg: &[u8; 64], i: usize) -> bool {
    cfg_locked(cfg, i) || (i + 1 < NUM_ENTRIES && cfg_locked(cfg, i + 1) && mode(cfg[i + 1]) == A_TOR)
}

fn active(cfg: &[u8; 64]) -> bool {
    cfg[..NUM_ENTRIES].iter().any(|&c| mode(c) != A_OFF)
}

/// Permissions (`CFG_R|W|X` bits) granted to `[pa, pa + size)` at privilege `prv`, or 0 when the
/// access is denied outright (no match in S/U, or only a partial match).
pub fn perms(cfg: &[u8; 64], addr: &[u64; 64], pa: u64, size: u64, prv: u8) -> u8 {
    let (lo, hi) = (pa as u128, pa as u128 + size.max(1) as u128);
    for i in 0..NUM_ENTRIES {
        let Some((s, e)) = range(cfg, addr, i) else { continue };
        if hi <= s || lo >= e {
            continue;
        }
        if lo < s || hi > e {
            // The lowest-numbered entry matching any byte decides; a partial match fails.
            return 0;
        }
        let c = cfg[i];
        return if prv == PRV_M && c & CFG_L == 0 { CFG_R | CFG_W | CFG_X } else { c & (CFG_R | CFG_W | CFG_X) };
    }
    if prv == PRV_M || !active(cfg) {
        CFG_R | CFG_W | CFG_X
    } else {
        0
    }
}

pub fn access_bit(access: Access) -> u8 {
    match access {
        Access::Read => CFG_R,
        Access::Write => CFG_W,
        Access::Execute => CFG_X,
    }
}

pub fn check(cfg: &[u8; 64], addr: &[u64; 64], pa: u64, size: u64, access: Access, prv: u8) -> bool {
    perms(cfg, addr, pa, size, prv) & access_bit(access) != 0
}

/// Does every byte of the 4 KiB page holding `pa` get the same PMP verdict? (Otherwise the page
/// may not be cached in the softmmu TLB.)
pub fn page_uniform(cfg: &[u8; 64], addr: &[u64; 64], pa: u64) -> bool {
    let lo = (pa & !0xfff) as u128;
    let hi = lo + 0x1000;
    (0..NUM_ENTRIES).all(|i| match range(cfg, addr, i) {
        Some((s, e)) => hi <= s || lo >= e || (s <= lo && e >= hi),
        None => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv64::cpu::{PRV_S, PRV_U};

    fn cfgs() -> ([u8; 64], [u64; 64]) {
        ([0; 64], [0; 64])
    }

    #[test]
    fn no_entries_allow_everyone() {
        let (c, a) = cfgs();
        assert!(check(&c, &a, 0x8000_0000, 8, Access::Write, PRV_U));
    }

    #[test]
    fn tor_range_and_default_deny() {
        let (mut c, mut a) = cfgs();
        a[0] = 0x8000_0000 >> 2;
        a[1] = 0x8000_1000 >> 2;
        c[1] = (A_TOR << CFG_A_SHIFT) | CFG_R;
        assert!(check(&c, &a, 0x8000_0ff8, 8, Access::Read, PRV_S));
        assert!(!check(&c, &a, 0x8000_0ff8, 8, Access::Write, PRV_S));
        // Outside every entry: S/U denied once an entry is active, M allowed.
        assert!(!check(&c, &a, 0x8000_1000, 4, Access::Read, PRV_U));
        assert!(check(&c, &a, 0x8000_1000, 4, Access::Write, PRV_M));
        // Straddling the top of the entry: a partial match fails, even in M-mode.
        assert!(!check(&c, &a, 0x8000_0ffc, 8, Access::Read, PRV_M));
        assert!(page_uniform(&c, &a, 0x8000_0000));
    }

    #[test]
    fn napot_and_na4() {
        let (mut c, mut a) = cfgs();
        // NAPOT 64 KiB at 0x8001_0000: addr = base>>2 | (size/8 - 1).
        a[0] = (0x8001_0000 >> 2) | (0x1_0000 / 8 - 1);
        c[0] = (A_NAPOT << CFG_A_SHIFT) | CFG_R | CFG_X;
        assert_eq!(range(&c, &a, 0), Some((0x8001_0000, 0x8002_0000)));
        assert!(check(&c, &a, 0x8001_fffc, 4, Access::Execute, PRV_U));
        assert!(!check(&c, &a, 0x8002_0000, 4, Access::Execute, PRV_U));
        a[1] = 0x8003_0010 >> 2;
        c[1] = (A_NA4 << CFG_A_SHIFT) | CFG_W | CFG_R;
        assert!(check(&c, &a, 0x8003_0010, 4, Access::Write, PRV_S));
        assert!(!check(&c, &a, 0x8003_0014, 4, Access::Write, PRV_S));
        assert!(!page_uniform(&c, &a, 0x8003_0000));
    }

    #[test]
    fn lock_applies_to_m_mode_and_lowest_entry_wins() {
        let (mut c, mut a) = cfgs();
        a[0] = (0x8000_0000 >> 2) | (0x1000 / 8 - 1);
        c[0] = (A_NAPOT << CFG_A_SHIFT) | CFG_R;
        a[1] = (0x8000_0000 >> 2) | (0x10_0000 / 8 - 1);
        c[1] = (A_NAPOT << CFG_A_SHIFT) | CFG_R | CFG_W;
        assert!(!check(&c, &a, 0x8000_0000, 8, Access::Write, PRV_S));
        assert!(check(&c, &a, 0x8000_1000, 8, Access::Write, PRV_S));
        assert!(check(&c, &a, 0x8000_0000, 8, Access::Write, PRV_M));
        c[0] |= CFG_L;
        assert!(!check(&c, &a, 0x8000_0000, 8, Access::Write, PRV_M));
        assert!(addr_locked(&c, 0));
        c[2] = (A_TOR << CFG_A_SHIFT) | CFG_L;
        assert!(addr_locked(&c, 1));
    }
}
