//! Page groups: guest loads and stores of one block that one softmmu TLB check can cover.
//!
//! Compiled guest code spends most of its memory-access instructions on the TLB check (index,
//! compare, addend: about nine host instructions per access). Code that works on a structure or a
//! stack frame addresses it as one base register plus constant offsets (`ld s1,56(a0)`, `sd
//! s0,192(sp)`): the first block of Linux's Keccak round does 38 such accesses. When the bytes
//! all those accesses touch lie on one page (or on two that follow each other in host memory),
//! one check (with the permissions and the alignment they need) answers for all of them, and
//! each access only tests the check's result.
//!
//! A group is planned per straight-line run of a block: a [`Op::Label`] starts a new run (temps do
//! not live across one, so neither does a base) and so does a helper call (a helper may change the
//! translation regime, e.g. `satp`, `sfence.vma` or `mstatus.MPRV`). Within a run, a run-time
//! base value never changes (temps are assigned once) and nothing else invalidates a mapping: a
//! slow-path access may refill or evict TLB entries, but not change what the page maps to. Each
//! grouped access still has the ordinary per-access check as its fallback, taken when the group
//! check fails (page not mapped, not writable, a code page, misaligned, the bytes running onto a
//! next page that does not follow the first in host memory), so which accesses take the slow
//! path, and in which order, is exactly as without groups.

use std::collections::HashMap;

use crate::ir::{BinOp, Block, Op, Temp, Width};

/// Fewer accesses than this do not pay for the group check (about 14 host instructions against
/// about 8 saved per access).
pub const MIN_GROUP: usize = 3;

/// Most bytes one group covers, so that they lie on at most two pages. Bytes on two pages are
/// served by one check only if the two map to consecutive host memory (RAM does, guest virtual
/// mappings often do; Linux's vmalloc'd kernel stacks need not), else every access of the
/// group pays the check on top of its own. A 256-byte span straddles a page boundary for one
/// base in sixteen; a structure or frame larger than that makes several groups.
pub const MAX_SPAN: u64 = 256;

/// Accesses sharing one TLB check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageGroup {
    /// Index in the block's ops of the first access: the group check is emitted there, before it.
    pub leader: usize,
    /// The run-time base; `None` when the addresses are constants.
    pub base: Option<Temp>,
    /// Offset from the base of the lowest byte any access touches.
    pub low: u64,
    /// Bytes from `low` to the end of the highest access (at most [`MAX_SPAN`]).
    pub span: u64,
    /// Largest access size: `base + low` aligned to it makes every access aligned.
    pub align: u64,
    /// Some access reads / writes (the check needs that permission).
    pub read: bool,
    pub write: bool,
    pub mmu_idx: u8,
}

/// The groups of a block and, for each op, the group it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub groups: Vec<PageGroup>,
    /// Indexed like `Block::ops`; `None` for ops outside every group.
    pub member: Vec<Option<u32>>,
}

struct Access {
    op: usize,
    /// Offset from the base.
    offset: u64,
    size: u64,
    write: bool,
}

/// Plan the page groups of `block`.
pub fn plan(block: &Block) -> Plan {
    let mut consts: HashMap<Temp, u64> = HashMap::new();
    // Address temps known as base + constant (base `None`: a constant).
    let mut based: HashMap<Temp, (Option<Temp>, u64)> = HashMap::new();
    let split = |t: Temp, consts: &HashMap<Temp, u64>, based: &HashMap<Temp, (Option<Temp>, u64)>| {
        if let Some(&b) = based.get(&t) {
            b
        } else if let Some(&c) = consts.get(&t) {
            (None, c)
        } else {
            (Some(t), 0)
        }
    };
    let mut run = 0u32;
    // (run, base, mmu_idx) -> accesses in op order; keys in order of first access.
    let mut candidates: HashMap<(u32, Option<Temp>, u8), Vec<Access>> = HashMap::new();
    let mut order: Vec<(u32, Option<Temp>, u8)> = Vec::new();
    for (i, op) in block.ops.iter().enumerate() {
        match *op {
            Op::Const { dst, value } => {
                consts.insert(dst, value);
            }
            Op::Bin { op: BinOp::Add, width: Width::W64, dst, a, b } => {
                if let Some(&c) = consts.get(&b) {
                    let (base, off) = split(a, &consts, &based);
                    based.insert(dst, (base, off.wrapping_add(c)));
                } else if let Some(&c) = consts.get(&a) {
                    let (base, off) = split(b, &consts, &based);
                    based.insert(dst, (base, off.wrapping_add(c)));
                }
            }
            Op::Bin { op: BinOp::Sub, width: Width::W64, dst, a, b } => {
                if let Some(&c) = consts.get(&b) {
                    let (base, off) = split(a, &consts, &based);
                    based.insert(dst, (base, off.wrapping_sub(c)));
                }
            }
            Op::Label { .. } | Op::Call { .. } => run += 1,
            Op::Load { addr, mem, .. } | Op::Store { addr, mem, .. } if !mem.align && !mem.rmw => {
                let (base, offset) = split(addr, &consts, &based);
                let key = (run, base, mem.mmu_idx);
                let list = candidates.entry(key).or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                });
                list.push(Access { op: i, offset, size: mem.size.bytes(), write: matches!(op, Op::Store { .. }) });
            }
            _ => {}
        }
    }

    let mut plan = Plan { groups: Vec::new(), member: vec![None; block.ops.len()] };
    for key in order {
        let accesses = &candidates[&key];
        if accesses.len() < MIN_GROUP {
            continue;
        }
        // Offsets relative to the first access, as signed distances (wide enough that no end of
        // an access overflows: a span computed short would leave bytes unchecked). Each access
        // joins the first group it fits in without that group spanning more than MAX_SPAN bytes.
        let first = accesses[0].offset;
        let rel = |a: &Access| a.offset.wrapping_sub(first) as i64 as i128;
        let mut bins: Vec<(i128, i128, Vec<&Access>)> = Vec::new();
        for a in accesses {
            let (d, end) = (rel(a), rel(a) + a.size as i128);
            let fits = |lo: i128, hi: i128| hi.max(end) - lo.min(d) <= MAX_SPAN as i128;
            match bins.iter_mut().find(|(lo, hi, _)| fits(*lo, *hi)) {
                Some((lo, hi, members)) => {
                    (*lo, *hi) = ((*lo).min(d), (*hi).max(end));
                    members.push(a);
                }
                None if end - d <= MAX_SPAN as i128 => bins.push((d, end, vec![a])),
                None => {}
            }
        }
        for (lo, _, mut kept) in bins {
            // Each access must sit at a multiple of its size from the lowest byte, so that one
            // alignment test of the lowest address covers them all.
            kept.retain(|a| ((rel(a) - lo) as u64).is_multiple_of(a.size));
            if kept.len() < MIN_GROUP {
                continue;
            }
            let hi = kept.iter().map(|a| rel(a) + a.size as i128).max().unwrap_or(lo);
            let gid = plan.groups.len() as u32;
            plan.groups.push(PageGroup {
                leader: kept[0].op,
                base: key.1,
                low: first.wrapping_add(lo as i64 as u64),
                span: (hi - lo) as u64,
                align: kept.iter().map(|a| a.size).max().unwrap_or(1),
                read: kept.iter().any(|a| !a.write),
                write: kept.iter().any(|a| a.write),
                mmu_idx: key.2,
            });
            for a in kept {
                plan.member[a.op] = Some(gid);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Builder, ExitReason, HelperId, MemOp, MemSize, Reg};

    fn m(size: MemSize) -> MemOp {
        MemOp::new(size, false, 1)
    }

    /// `base + off` through the ops a frontend emits for `ld rd, off(rs)`.
    fn at(b: &mut Builder, base: Temp, off: i64) -> Temp {
        let c = b.konst(off as u64);
        b.bin(BinOp::Add, Width::W64, base, c)
    }

    #[test]
    fn accesses_through_one_base_share_a_check() {
        let mut b = Builder::new(0x1000);
        let sp = b.get_reg(Reg(2));
        let a0 = b.get_reg(Reg(10));
        for off in [-8i64, -16, -24] {
            let v = b.get_reg(Reg(8));
            let addr = at(&mut b, sp, off);
            b.store(addr, v, m(MemSize::B8));
        }
        let a = at(&mut b, a0, 0);
        let x = b.load(a, m(MemSize::B8));
        let a = at(&mut b, a0, 12);
        let y = b.load(a, m(MemSize::B4));
        let a = at(&mut b, a0, 200);
        b.store(a, x, m(MemSize::B8));
        b.set_reg(Reg(1), y);
        b.goto(0x1100);
        let blk = b.finish();
        let p = plan(&blk);
        assert_eq!(p.groups.len(), 2);
        let g = &p.groups[0];
        assert_eq!((g.base, g.low, g.span, g.align, g.read, g.write), (Some(sp), (-24i64) as u64, 24, 8, false, true));
        let g = &p.groups[1];
        assert_eq!((g.base, g.low, g.span, g.align, g.read, g.write), (Some(a0), 0, 208, 8, true, true));
        assert_eq!(p.member.iter().filter(|m| m.is_some()).count(), 6);
        assert_eq!(p.member[g.leader], Some(1));
    }

    #[test]
    fn labels_and_helper_calls_end_a_group_and_small_ones_are_not_made() {
        let mut b = Builder::new(0x1000);
        let base = b.get_reg(Reg(10));
        let l = b.new_label();
        for off in [0, 8] {
            let a = at(&mut b, base, off);
            b.load(a, m(MemSize::B8));
        }
        b.call_void(HelperId(0), &[]);
        let a = at(&mut b, base, 16);
        b.load(a, m(MemSize::B8));
        let c = b.konst(1);
        b.br_cond(c, l);
        b.exit(ExitReason::Reevaluate, 0x1000);
        b.label(l);
        let base = b.get_reg(Reg(10));
        for off in [0, 8] {
            let a = at(&mut b, base, off);
            b.load(a, m(MemSize::B8));
        }
        b.goto(0x1100);
        assert!(plan(&b.finish()).groups.is_empty());
    }

    #[test]
    fn a_group_spans_at_most_max_span_bytes_and_keeps_every_access_aligned_from_its_lowest_byte() {
        let mut b = Builder::new(0x1000);
        let base = b.get_reg(Reg(10));
        // 4096 away from the first: in no group of it. 3 from the lowest byte: not aligned for
        // a 4-byte access.
        for (off, size) in
            [(0, MemSize::B8), (4096, MemSize::B8), (8, MemSize::B8), (3, MemSize::B4), (16, MemSize::B2)]
        {
            let a = at(&mut b, base, off);
            b.load(a, m(size));
        }
        b.goto(0x1100);
        let blk = b.finish();
        let p = plan(&blk);
        assert_eq!(p.groups.len(), 1);
        assert_eq!((p.groups[0].low, p.groups[0].span, p.groups[0].align), (0, 18, 8));
        let members: Vec<bool> = blk
            .ops
            .iter()
            .zip(&p.member)
            .filter(|(op, _)| matches!(op, Op::Load { .. }))
            .map(|(_, g)| g.is_some())
            .collect();
        assert_eq!(members, [true, false, true, false, true]);
    }

    #[test]
    fn constant_addresses_group_and_atomics_stay_alone() {
        let mut b = Builder::new(0x1000);
        for off in [0x8000_0000u64, 0x8000_0010, 0x8000_0020] {
            let a = b.konst(off);
            b.load(a, m(MemSize::B8));
        }
        let a = b.konst(0x8000_0018);
        b.load(a, MemOp { rmw: true, ..m(MemSize::B8) });
        b.goto(0x1100);
        let p = plan(&b.finish());
        assert_eq!(p.groups.len(), 1);
        assert_eq!((p.groups[0].base, p.groups[0].low, p.groups[0].span), (None, 0x8000_0000, 0x28));
        assert_eq!(p.member.iter().filter(|m| m.is_some()).count(), 3);
    }

    #[test]
    fn a_frame_wider_than_max_span_makes_several_groups() {
        let mut b = Builder::new(0x1000);
        let sp = b.get_reg(Reg(2));
        for off in [0i64, 300, 8, 308, 16, 316, 600] {
            let v = b.get_reg(Reg(8));
            let a = at(&mut b, sp, off);
            b.store(a, v, m(MemSize::B8));
        }
        b.goto(0x1100);
        let p = plan(&b.finish());
        let spans: Vec<(u64, u64)> = p.groups.iter().map(|g| (g.low, g.span)).collect();
        assert_eq!(spans, [(0, 24), (300, 24)], "the store at 600 is alone");
        assert!(p.groups.iter().all(|g| g.span <= MAX_SPAN));
    }

    #[test]
    fn offsets_half_the_address_space_away_still_give_exact_spans() {
        let mut b = Builder::new(0x1000);
        let base = b.get_reg(Reg(10));
        // The first access sets the origin; the others end exactly 2^63 bytes past it, where a
        // 64-bit signed distance would overflow.
        for off in [0u64, 0x7fff_ffff_ffff_fff8, 0x7fff_ffff_ffff_fff0, 0x7fff_ffff_ffff_ffe8] {
            let a = at(&mut b, base, off as i64);
            b.load(a, m(MemSize::B8));
        }
        b.goto(0x1100);
        let p = plan(&b.finish());
        assert_eq!(p.groups.len(), 1);
        assert_eq!((p.groups[0].low, p.groups[0].span), (0x7fff_ffff_ffff_ffe8, 24));
    }
}
