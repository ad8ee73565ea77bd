//! The IR interpreter: the cold tier. Executes a verified [`Block`] directly against an [`Env`]
//! with exactly the semantics of the JIT's generated code (budget check, softmmu TLB fast path,
//! slow-path hooks, precise PCs, packed exits), so code that runs only once never pays for a
//! Cranelift compile.
//!
//! The operation semantics here ([`eval_bin`], [`eval_un`], [`eval_cmp`]) are the reference the
//! JIT is tested against.

use crate::env::{self, pack_exit, Env, ExitCode};
use crate::helpers::{HelperTable, MAX_HELPER_ARGS};
use crate::ir::{BinOp, Block, Cond, ExitReason, MemOp, MemSize, Op, UnOp, Width};

/// Number of `Goto` ops in `block`: the exit slots its compiled form needs.
pub fn goto_count(block: &Block) -> usize {
    block.ops.iter().filter(|op| matches!(op, Op::Goto { .. })).count()
}

/// Exit slots of a block: one per `Goto` (numbered in op order, as in exits), then one per
/// `GotoPtr` (chained only by compiled code's lookup hook, see `env::exit_slot_guard`).
pub fn exit_slot_count(block: &Block) -> usize {
    block.ops.iter().filter(|op| matches!(op, Op::Goto { .. } | Op::GotoPtr { .. })).count()
}

fn sdiv64(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn srem64(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

/// `a op b` per the IR definition (total operations, masked shift amounts, `W32` zero-extends).
pub fn eval_bin(op: BinOp, width: Width, a: u64, b: u64) -> u64 {
    match width {
        Width::W64 => match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::AndNot => a & !b,
            BinOp::OrNot => a | !b,
            BinOp::XorNot => !(a ^ b),
            BinOp::Shl => a << (b & 63),
            BinOp::Shr => a >> (b & 63),
            BinOp::Sar => ((a as i64) >> (b & 63)) as u64,
            BinOp::Rotl => a.rotate_left((b & 63) as u32),
            BinOp::Rotr => a.rotate_right((b & 63) as u32),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::MulHs => ((a as i64 as i128 * b as i64 as i128) >> 64) as u64,
            BinOp::MulHu => ((a as u128 * b as u128) >> 64) as u64,
            BinOp::MulHsu => ((a as i64 as i128).wrapping_mul(b as i128) >> 64) as u64,
            BinOp::Div => sdiv64(a as i64, b as i64) as u64,
            BinOp::DivU => a.checked_div(b).unwrap_or(u64::MAX),
            BinOp::Rem => srem64(a as i64, b as i64) as u64,
            BinOp::RemU => a.checked_rem(b).unwrap_or(a),
            BinOp::Min => (a as i64).min(b as i64) as u64,
            BinOp::MinU => a.min(b),
            BinOp::Max => (a as i64).max(b as i64) as u64,
            BinOp::MaxU => a.max(b),
        },
        Width::W32 => {
            let (x, y) = (a as u32, b as u32);
            let r: u32 = match op {
                BinOp::Add => x.wrapping_add(y),
                BinOp::Sub => x.wrapping_sub(y),
                BinOp::And => x & y,
                BinOp::Or => x | y,
                BinOp::Xor => x ^ y,
                BinOp::AndNot => x & !y,
                BinOp::OrNot => x | !y,
                BinOp::XorNot => !(x ^ y),
                BinOp::Shl => x << (y & 31),
                BinOp::Shr => x >> (y & 31),
                BinOp::Sar => ((x as i32) >> (y & 31)) as u32,
                BinOp::Rotl => x.rotate_left(y & 31),
                BinOp::Rotr => x.rotate_right(y & 31),
                BinOp::Mul => x.wrapping_mul(y),
                // Not valid IR (the verifier rejects it); defined anyway so nothing panics.
                BinOp::MulHs => ((x as i32 as i64 * y as i32 as i64) >> 32) as u32,
                BinOp::MulHu => ((x as u64 * y as u64) >> 32) as u32,
                BinOp::MulHsu => ((x as i32 as i64 * y as i64) >> 32) as u32,
                BinOp::Div => {
                    if y == 0 {
                        u32::MAX
                    } else {
                        (x as i32).wrapping_div(y as i32) as u32
                    }
                }
                BinOp::DivU => x.checked_div(y).unwrap_or(u32::MAX),
                BinOp::Rem => {
                    if y == 0 {
                        x
                    } else {
                        (x as i32).wrapping_rem(y as i32) as u32
                    }
                }
                BinOp::RemU => x.checked_rem(y).unwrap_or(x),
                BinOp::Min => (x as i32).min(y as i32) as u32,
                BinOp::MinU => x.min(y),
                BinOp::Max => (x as i32).max(y as i32) as u32,
                BinOp::MaxU => x.max(y),
            };
            r as u64
        }
    }
}

/// `op a` per the IR definition.
pub fn eval_un(op: UnOp, width: Width, a: u64) -> u64 {
    match width {
        Width::W64 => match op {
            UnOp::Not => !a,
            UnOp::Neg => a.wrapping_neg(),
            UnOp::Sext8 => a as i8 as i64 as u64,
            UnOp::Sext16 => a as i16 as i64 as u64,
            UnOp::Sext32 => a as i32 as i64 as u64,
            UnOp::Zext8 => a as u8 as u64,
            UnOp::Zext16 => a as u16 as u64,
            UnOp::Zext32 => a as u32 as u64,
            UnOp::Clz => a.leading_zeros() as u64,
            UnOp::Ctz => a.trailing_zeros() as u64,
            UnOp::Popcnt => a.count_ones() as u64,
            UnOp::Bswap => a.swap_bytes(),
        },
        Width::W32 => {
            let x = a as u32;
            let r: u32 = match op {
                UnOp::Not => !x,
                UnOp::Neg => x.wrapping_neg(),
                UnOp::Sext8 => x as i8 as i32 as u32,
                UnOp::Sext16 => x as i16 as i32 as u32,
                UnOp::Sext32 | UnOp::Zext32 => x,
                UnOp::Zext8 => x as u8 as u32,
                UnOp::Zext16 => x as u16 as u32,
                UnOp::Clz => x.leading_zeros(),
                UnOp::Ctz => x.trailing_zeros(),
                UnOp::Popcnt => x.count_ones(),
                UnOp::Bswap => x.swap_bytes(),
            };
            r as u64
        }
    }
}

pub fn eval_cmp(cond: Cond, a: u64, b: u64) -> u64 {
    (match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Lt => (a as i64) < (b as i64),
        Cond::Ge => (a as i64) >= (b as i64),
        Cond::Ltu => a < b,
        Cond::Geu => a >= b,
    }) as u64
}

/// Sign- or zero-extend a raw little-endian value of `m.size` to 64 bits.
fn extend(m: MemOp, raw: u64) -> u64 {
    match (m.size, m.signed) {
        (MemSize::B1, true) => raw as i8 as i64 as u64,
        (MemSize::B2, true) => raw as i16 as i64 as u64,
        (MemSize::B4, true) => raw as i32 as i64 as u64,
        (MemSize::B1, false) => raw as u8 as u64,
        (MemSize::B2, false) => raw as u16 as u64,
        (MemSize::B4, false) => raw as u32 as u64,
        (MemSize::B8, _) => raw,
    }
}

/// The host address for an access that hits the TLB, or None (slow path).
///
/// # Safety
/// `env` must be valid.
#[inline]
unsafe fn tlb_lookup(env: *const Env, vaddr: u64, m: MemOp, write: bool) -> Option<u64> {
    let idx = m.mmu_idx as usize;
    // SAFETY: env is valid (caller); the mmu_idx bound is checked, the index is masked.
    let e = unsafe { (*env).tlb.get(idx)?.get_unchecked(env::tlb_index(vaddr)) };
    let cmp = if write { e.addr_write } else { e.addr_read };
    (env::tlb_probe(vaddr, m.size.bytes(), m.align) == cmp).then(|| vaddr.wrapping_add(e.addend))
}

/// Execute `block` against `env`; returns the packed exit ([`env::pack_exit`]).
///
/// # Safety
/// `env` must point to a valid `Env` whose `runtime` is valid if any access misses the TLB or the
/// block ends in `GotoPtr`; TLB entries must map to valid host memory; `block` must be verified
/// against `helpers`.
pub unsafe fn interpret(block: &Block, block_id: u64, env: *mut Env, helpers: HelperTable) -> u64 {
    // SAFETY (whole function): env is valid and exclusively ours for the duration (caller).
    unsafe {
        let count = block.insn_count as i64;
        if (*env).budget < count {
            (*env).pc = block.pc;
            return pack_exit(ExitCode::Budget, block_id, 0);
        }
        (*env).budget -= count;

        const STACK_TEMPS: usize = 128;
        // Only the block's own temps are zeroed (zeroing all 128 showed in boot profiles: most
        // blocks use a few dozen, and millions of executions are interpreted).
        let mut stack = [std::mem::MaybeUninit::<u64>::uninit(); STACK_TEMPS];
        let mut heap = Vec::new();
        let n = block.temp_count() as usize;
        let temps: &mut [u64] = if n <= STACK_TEMPS {
            for s in &mut stack[..n] {
                s.write(0);
            }
            // SAFETY: the first n elements were just initialised; MaybeUninit<u64> has u64's layout.
            std::slice::from_raw_parts_mut(stack.as_mut_ptr().cast::<u64>(), n)
        } else {
            heap.resize(n, 0u64);
            &mut heap[..]
        };
        // Temps are in range for verified blocks; an unverified one reads 0 instead of panicking.
        macro_rules! t {
            ($t:expr) => {
                temps.get($t.0 as usize).copied().unwrap_or(0)
            };
        }
        macro_rules! set {
            ($t:expr, $v:expr) => {{
                let v = $v;
                if let Some(slot) = temps.get_mut($t.0 as usize) {
                    *slot = v;
                }
            }};
        }
        let regs = std::ptr::addr_of_mut!((*env).regs) as *mut u64;
        let reg = |r: u16| -> *mut u64 { regs.add((r as usize).min(env::NUM_REGS - 1)) };

        let ops = &block.ops;
        let mut insn_pc = block.pc;
        let mut goto_idx: usize = 0;
        let mut i = 0usize;
        while i < ops.len() {
            match &ops[i] {
                Op::InsnStart { pc, .. } => insn_pc = *pc,
                Op::Const { dst, value } => set!(dst, *value),
                Op::GetReg { dst, reg: r } => set!(dst, *reg(r.0)),
                Op::SetReg { reg: r, src } => *reg(r.0) = t!(src),
                Op::Bin { op, width, dst, a, b } => set!(dst, eval_bin(*op, *width, t!(a), t!(b))),
                Op::Un { op, width, dst, a } => set!(dst, eval_un(*op, *width, t!(a))),
                Op::Cmp { cond, dst, a, b } => set!(dst, eval_cmp(*cond, t!(a), t!(b))),
                Op::Select { dst, cond, a, b } => set!(dst, if t!(cond) != 0 { t!(a) } else { t!(b) }),
                Op::Load { dst, addr, mem } => {
                    let va = t!(addr);
                    let v = match tlb_lookup(env, va, *mem, mem.rmw) {
                        Some(host) => {
                            let p = host as *const u8;
                            let raw = match mem.size {
                                MemSize::B1 => *p as u64,
                                MemSize::B2 => u16::from_le((p as *const u16).read_unaligned()) as u64,
                                MemSize::B4 => u32::from_le((p as *const u32).read_unaligned()) as u64,
                                MemSize::B8 => u64::from_le((p as *const u64).read_unaligned()),
                            };
                            extend(*mem, raw)
                        }
                        None => {
                            (*env).pc = insn_pc;
                            let v = ((*(*env).runtime).load_slow)(env, va, env::encode_memop(*mem));
                            if (*env).exception_pending != 0 {
                                return pack_exit(ExitCode::Exception, block_id, 0);
                            }
                            v
                        }
                    };
                    set!(dst, v);
                }
                Op::Store { addr, src, mem } => {
                    let (va, v) = (t!(addr), t!(src));
                    match tlb_lookup(env, va, *mem, true) {
                        Some(host) => {
                            let p = host as *mut u8;
                            match mem.size {
                                MemSize::B1 => *p = v as u8,
                                MemSize::B2 => (p as *mut u16).write_unaligned((v as u16).to_le()),
                                MemSize::B4 => (p as *mut u32).write_unaligned((v as u32).to_le()),
                                MemSize::B8 => (p as *mut u64).write_unaligned(v.to_le()),
                            }
                        }
                        None => {
                            (*env).pc = insn_pc;
                            ((*(*env).runtime).store_slow)(env, va, v, env::encode_memop(*mem));
                            if (*env).exception_pending != 0 {
                                return pack_exit(ExitCode::Exception, block_id, 0);
                            }
                        }
                    }
                }
                Op::Call { helper, dst, args } => {
                    let Some(info) = helpers.get(helper.0 as usize) else {
                        log::error!("interp: call to unknown helper {}", helper.0);
                        return pack_exit(ExitCode::Reevaluate, block_id, 0);
                    };
                    let mut a = [0u64; MAX_HELPER_ARGS];
                    for (slot, t) in a.iter_mut().zip(args.iter()) {
                        *slot = t!(t);
                    }
                    if info.may_raise {
                        (*env).pc = insn_pc;
                    }
                    let r = (info.func)(env, a[0], a[1], a[2], a[3]);
                    if info.may_raise && (*env).exception_pending != 0 {
                        return pack_exit(ExitCode::Exception, block_id, 0);
                    }
                    if let Some(d) = dst {
                        set!(d, r);
                    }
                }
                Op::BrCond { cond, label } => {
                    if t!(cond) != 0 {
                        i = jump(ops, i, *label, &mut goto_idx);
                    }
                }
                Op::Br { label } => i = jump(ops, i, *label, &mut goto_idx),
                Op::Label { .. } => {}
                Op::Goto { pc } => {
                    (*env).pc = *pc;
                    return pack_exit(ExitCode::Goto, block_id, goto_idx as u8);
                }
                Op::GotoPtr { target } => {
                    (*env).pc = t!(target);
                    return pack_exit(ExitCode::Lookup, block_id, 0);
                }
                Op::Exit { reason, pc } => {
                    if *reason != ExitReason::Exception {
                        (*env).pc = *pc;
                    }
                    return pack_exit((*reason).into(), block_id, 0);
                }
            }
            i += 1;
        }
        // A verified block never falls off its end.
        log::error!("interp: block {:#x} fell off its end", block.pc);
        (*env).pc = insn_pc;
        pack_exit(ExitCode::Reevaluate, block_id, 0)
    }
}

/// Index of `label`'s Label op after `from`, counting the Gotos skipped on the way (slot numbers
/// are positions among all Gotos in op order). Returns `ops.len()` if it is not found.
fn jump(ops: &[Op], from: usize, label: crate::ir::Label, goto_idx: &mut usize) -> usize {
    for (j, op) in ops.iter().enumerate().skip(from + 1) {
        match op {
            Op::Label { label: l } if *l == label => return j,
            Op::Goto { .. } => *goto_idx += 1,
            _ => {}
        }
    }
    ops.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_is_total() {
        assert_eq!(eval_bin(BinOp::Div, Width::W64, 5, 0), u64::MAX);
        assert_eq!(eval_bin(BinOp::Div, Width::W64, i64::MIN as u64, u64::MAX), i64::MIN as u64);
        assert_eq!(eval_bin(BinOp::Rem, Width::W64, i64::MIN as u64, u64::MAX), 0);
        assert_eq!(eval_bin(BinOp::Rem, Width::W64, 7, 0), 7);
        assert_eq!(eval_bin(BinOp::DivU, Width::W64, 7, 0), u64::MAX);
        assert_eq!(eval_bin(BinOp::RemU, Width::W64, 7, 0), 7);
        assert_eq!(eval_bin(BinOp::Div, Width::W32, 5, 0), 0xffff_ffff);
        assert_eq!(eval_bin(BinOp::Div, Width::W32, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
        assert_eq!(eval_bin(BinOp::Rem, Width::W32, 0x8000_0000, 0xffff_ffff), 0);
    }

    #[test]
    fn w32_ops_zero_extend_and_mask() {
        assert_eq!(eval_bin(BinOp::Add, Width::W32, 0xffff_ffff, 1), 0);
        assert_eq!(eval_bin(BinOp::Sar, Width::W32, 0x8000_0000, 33), 0xc000_0000);
        assert_eq!(eval_bin(BinOp::Shr, Width::W32, 0xffff_ffff_8000_0000, 4), 0x0800_0000);
        assert_eq!(eval_bin(BinOp::Shl, Width::W64, 1, 65), 2);
        assert_eq!(eval_un(UnOp::Clz, Width::W32, 1), 31);
        assert_eq!(eval_un(UnOp::Sext8, Width::W32, 0x80), 0xffff_ff80);
    }

    #[test]
    fn mulh_variants() {
        assert_eq!(eval_bin(BinOp::MulHu, Width::W64, u64::MAX, u64::MAX), u64::MAX - 1);
        assert_eq!(eval_bin(BinOp::MulHs, Width::W64, u64::MAX, u64::MAX), 0);
        assert_eq!(eval_bin(BinOp::MulHsu, Width::W64, u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(eval_bin(BinOp::MulHsu, Width::W64, 2, u64::MAX), 1);
    }
}
