//! End-to-end tests of the TCG run loop on a toy guest ISA defined here: fixed 4-byte
//! instructions, 16 registers, an identity MMU with one faulting window, and a test device that
//! powers the machine off. Each test assembles a small program and checks both the guest-visible
//! result and the run loop's counters (tiering, chaining, flushes, polls).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mimic_accel::tcg::{TcgOptions, TcgVcpu};
use mimic_accel::{Vcpu, VcpuExit};
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::{AddressSpace, Device, PowerControl, PowerEvent};
use mimic_translator::env::{Env, PAGE_MASK};
use mimic_translator::guest::{Access, CodeFetch, Frontend, GuestCpu, MemFault, PageMapping};
use mimic_translator::helpers::{HelperInfo, HelperTable};
use mimic_translator::ir::{Block, Builder, Cond, ExitReason, HelperId, MemOp, MemSize, Reg};

const RAM: u64 = 0x8000_0000;
const DEV: u64 = 0x1000_0000;
/// Virtual addresses at and above this fault (a toy page fault).
const HOLE: u64 = 0xf000_0000;
const TRAP_VEC: u64 = RAM + 0x3000;
/// A RAM page where accesses wider than 4 bytes fault (CAUSE_BUS), like a RISC-V PMP entry that
/// an 8-byte access matches only partly: its mappings are not cacheable.
const NARROW: u64 = RAM + 0x4000;

const CAUSE_ILLEGAL: u64 = 2;
const CAUSE_PAGE_FAULT: u64 = 12;
const CAUSE_MISALIGNED: u64 = 6;
const CAUSE_BUS: u64 = 7;
const CAUSE_IRQ: u64 = 0x8000_0000_0000_0007;

// ---- the toy ISA -------------------------------------------------------------------------------

mod op {
    pub const ADDI: u8 = 1; // rd = rs + simm16
    pub const LUI: u8 = 2; // rd = imm16 << 16
    pub const LD: u8 = 3; // rd = mem64[rs + simm16]
    pub const ST: u8 = 4; // mem64[rs + simm16] = rd
    pub const SW: u8 = 6; // mem32[rs + simm16] = rd
    pub const BNE: u8 = 7; // if rd != rs goto pc + simm16
    pub const JR: u8 = 8; // goto rs
    pub const FENCE: u8 = 9;
    pub const WFI: u8 = 10;
    pub const SWA: u8 = 11; // mem32[rs + simm16] = rd, must be aligned
    pub const J: u8 = 13; // goto pc + simm16
    pub const XIT: u8 = 14; // a helper asks the run loop to regain control; the block ends
    pub const BAD: u8 = 15; // rd = a temp never defined (0 to the interpreter): invalid IR
    pub const TLBI: u8 = 16; // drop page rs + simm16 from the TLB (sfence.vma with an address); ends the block
}

fn ins(op: u8, rd: u8, rs: u8, imm: i16) -> u32 {
    op as u32 | ((rd as u32 & 15) | (rs as u32 & 15) << 4) << 8 | (imm as u16 as u32) << 16
}

#[repr(C)]
struct ToyCpu {
    env: Env,
    pending: Option<(u64, u64)>,
    epc: u64,
    cause: u64,
    tval: u64,
    irq: Arc<AtomicBool>,
    refills: u64,
    /// Address translations asked for (TLB fills and victim misses).
    walks: u64,
}

impl ToyCpu {
    fn new(pc: u64) -> Box<Self> {
        let mut c = Box::new(Self {
            env: Env::new(),
            pending: None,
            epc: 0,
            cause: 0,
            tval: 0,
            irq: Arc::new(AtomicBool::new(false)),
            refills: 0,
            walks: 0,
        });
        c.env.pc = pc;
        c
    }
    fn record(&mut self, cause: u64, tval: u64) {
        self.pending = Some((cause, tval));
        self.env.exception_pending = 1;
    }
}

unsafe extern "C" fn h_illegal(env: *mut Env, a0: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: Env is the first field of the #[repr(C)] ToyCpu the test created.
    let cpu = unsafe { &mut *(env as *mut ToyCpu) };
    cpu.record(CAUSE_ILLEGAL, a0);
    0
}

unsafe extern "C" fn h_request_exit(env: *mut Env, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the run loop passes the running CPU's Env.
    unsafe { (*env).request_exit() };
    0
}

unsafe extern "C" fn h_flush_page(env: *mut Env, a0: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the run loop passes the running CPU's Env.
    unsafe { (*env).flush_tlb_page(a0) };
    0
}

static HELPERS: [HelperInfo; 3] = [
    HelperInfo { name: "illegal", func: h_illegal, nargs: 1, may_raise: true },
    HelperInfo { name: "request_exit", func: h_request_exit, nargs: 0, may_raise: false },
    HelperInfo { name: "flush_page", func: h_flush_page, nargs: 1, may_raise: false },
];

impl GuestCpu for ToyCpu {
    fn env(&mut self) -> &mut Env {
        &mut self.env
    }
    fn env_ref(&self) -> &Env {
        &self.env
    }
    fn tb_flags(&self) -> u64 {
        0
    }
    fn code_mmu_idx(&self) -> u8 {
        0
    }
    fn translate(&mut self, vaddr: u64, size: u64, _access: Access, _mmu_idx: u8) -> Option<PageMapping> {
        self.walks += 1;
        if vaddr >= HOLE {
            self.record(CAUSE_PAGE_FAULT, vaddr);
            return None;
        }
        let narrow = vaddr & PAGE_MASK == NARROW;
        if narrow && size > 4 {
            self.record(CAUSE_BUS, vaddr);
            return None;
        }
        Some(PageMapping { paddr: vaddr, cacheable: !narrow, readable: true, writable: true, executable: true })
    }
    fn raise_mem_fault(&mut self, fault: MemFault, vaddr: u64, _access: Access) {
        let cause = match fault {
            MemFault::Misaligned => CAUSE_MISALIGNED,
            MemFault::AccessFault => CAUSE_BUS,
        };
        self.record(cause, vaddr);
    }
    fn deliver_exception(&mut self) {
        if let Some((cause, tval)) = self.pending.take() {
            self.epc = self.env.pc;
            self.cause = cause;
            self.tval = tval;
            self.env.pc = TRAP_VEC;
        }
    }
    fn take_interrupt(&mut self) -> bool {
        if self.irq.swap(false, Ordering::AcqRel) {
            self.epc = self.env.pc;
            self.cause = CAUSE_IRQ;
            self.env.pc = TRAP_VEC;
            return true;
        }
        false
    }
    fn wakeup_pending(&self) -> bool {
        self.irq.load(Ordering::Acquire)
    }
    fn helpers(&self) -> HelperTable {
        &HELPERS
    }
    fn on_budget_refill(&mut self, _remaining: i64, _new_budget: i64) {
        self.refills += 1;
    }
}

struct ToyFrontend;

fn r(n: u8) -> Reg {
    Reg(n as u16)
}

impl Frontend for ToyFrontend {
    fn translate(&self, fetch: &mut dyn CodeFetch, pc: u64, _flags: u64, max_insns: u32) -> Block {
        let mut b = Builder::new(pc);
        let mut cur = pc;
        for _ in 0..max_insns {
            if cur & PAGE_MASK != pc & PAGE_MASK {
                b.goto(cur);
                return b.finish();
            }
            let (Some(lo), Some(hi)) = (fetch.fetch_u16(cur), fetch.fetch_u16(cur + 2)) else {
                // Fetch fault: end before this instruction (an empty block if it is the first).
                if b.block().insn_count > 0 {
                    b.goto(cur);
                }
                return b.finish();
            };
            let w = lo as u32 | (hi as u32) << 16;
            let (opc, rd, rs, imm) =
                ((w & 0xff) as u8, ((w >> 8) & 15) as u8, ((w >> 12) & 15) as u8, (w >> 16) as u16 as i16);
            b.insn_start(cur, 4);
            let next = cur + 4;
            let addr = |b: &mut Builder| {
                let base = b.get_reg(r(rs));
                let k = b.konst(imm as i64 as u64);
                b.bin64(mimic_translator::ir::BinOp::Add, base, k)
            };
            match opc {
                op::ADDI => {
                    let a = b.get_reg(r(rs));
                    let k = b.konst(imm as i64 as u64);
                    let v = b.bin64(mimic_translator::ir::BinOp::Add, a, k);
                    b.set_reg(r(rd), v);
                }
                op::LUI => {
                    let v = b.konst((imm as u16 as u64) << 16);
                    b.set_reg(r(rd), v);
                }
                op::LD => {
                    let a = addr(&mut b);
                    let v = b.load(a, MemOp::new(MemSize::B8, false, 0));
                    b.set_reg(r(rd), v);
                }
                op::ST | op::SW | op::SWA => {
                    let a = addr(&mut b);
                    let v = b.get_reg(r(rd));
                    let size = if opc == op::ST { MemSize::B8 } else { MemSize::B4 };
                    let mut m = MemOp::new(size, false, 0);
                    m.align = opc == op::SWA;
                    b.store(a, v, m);
                }
                op::BNE => {
                    let x = b.get_reg(r(rd));
                    let y = b.get_reg(r(rs));
                    let c = b.cmp(Cond::Ne, x, y);
                    let taken = b.new_label();
                    b.br_cond(c, taken);
                    b.goto(next);
                    b.label(taken);
                    b.goto(cur.wrapping_add(imm as i64 as u64));
                    return b.finish();
                }
                op::J => {
                    b.goto(cur.wrapping_add(imm as i64 as u64));
                    return b.finish();
                }
                op::JR => {
                    let t = b.get_reg(r(rs));
                    b.goto_ptr(t);
                    return b.finish();
                }
                op::FENCE => {
                    b.exit(ExitReason::FlushCode, next);
                    return b.finish();
                }
                op::WFI => {
                    b.exit(ExitReason::Halt, next);
                    return b.finish();
                }
                op::XIT => {
                    b.call_void(HelperId(1), &[]);
                    b.goto(next);
                    return b.finish();
                }
                op::TLBI => {
                    let a = addr(&mut b);
                    b.call_void(HelperId(2), &[a]);
                    b.exit(ExitReason::Reevaluate, next);
                    return b.finish();
                }
                op::BAD => {
                    let undefined = b.new_temp();
                    b.set_reg(r(rd), undefined);
                }
                _ => {
                    let k = b.konst(w as u64);
                    b.call_void(HelperId(0), &[k]);
                    b.exit(ExitReason::Exception, cur);
                    return b.finish();
                }
            }
            cur = next;
        }
        b.goto(cur);
        b.finish()
    }

    fn disassemble(&self, code: &[u8], pc: u64) -> String {
        code.chunks(4).enumerate().map(|(i, c)| format!("{:#x}: {:02x?}\n", pc + 4 * i as u64, c)).collect()
    }
}

// ---- the test device -----------------------------------------------------------------------------

/// Offset 0: write = power off with that exit code. Offset 8: write = record. Offset 16: reads 0x1234.
struct TestDev {
    power: Arc<PowerControl>,
    recorded: Arc<Mutex<Vec<u64>>>,
}

impl Device for TestDev {
    fn name(&self) -> &str {
        "test-dev"
    }
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        mimic_hw::device::write_le(data, if offset == 16 { 0x1234 } else { 0 });
    }
    fn write(&mut self, offset: u64, data: &[u8]) {
        let v = mimic_hw::device::read_le(data);
        match offset {
            0 => self.power.request(PowerEvent::Shutdown { exit_code: v as i32 }),
            _ => self.recorded.lock().unwrap().push(v),
        }
    }
}

struct Machine {
    vcpu: TcgVcpu<ToyCpu, ToyFrontend>,
    mem: Arc<AddressSpace>,
    recorded: Arc<Mutex<Vec<u64>>>,
}

/// Load `prog` at RAM and `trap` at TRAP_VEC. r15 = DEV at start (the exit device), r14 = RAM.
fn machine(prog: &[u32], trap: &[u32], opts: TcgOptions) -> Machine {
    machine_with_ram(prog, trap, opts, 0x10000)
}

fn machine_with_ram(prog: &[u32], trap: &[u32], opts: TcgOptions, ram_size: u64) -> Machine {
    let power = Arc::new(PowerControl::new());
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut mem = AddressSpace::new(&[MemRegionSpec::ram("ram", RAM, ram_size)]).unwrap();
    let dev = mimic_hw::device::shared(TestDev { power: power.clone(), recorded: recorded.clone() });
    mem.add_mmio(DEV, 0x100, dev).unwrap();
    let bytes: Vec<u8> = prog.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.load(RAM, &bytes).unwrap();
    let tbytes: Vec<u8> = trap.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.load(TRAP_VEC, &tbytes).unwrap();
    let mem = Arc::new(mem);
    let mut cpu = ToyCpu::new(RAM);
    cpu.env.regs[15] = DEV;
    cpu.env.regs[14] = RAM;
    let vcpu = TcgVcpu::new(cpu, ToyFrontend, mem.clone(), power, opts).unwrap();
    Machine { vcpu, mem, recorded }
}

/// Store r`reg` to the exit device: the run ends with that exit code.
fn exit_with(reg: u8) -> u32 {
    ins(op::ST, reg, 15, 0)
}

fn run(m: &mut Machine) -> i32 {
    match m.vcpu.run().unwrap() {
        VcpuExit::Shutdown { exit_code } => exit_code,
        VcpuExit::Reset => panic!("unexpected reset"),
    }
}

/// r1 counts to `n` in a one-block loop, then exits with r1.
fn counting_loop(n: i16) -> Vec<u32> {
    vec![
        ins(op::ADDI, 2, 0, n),  // 0x00 r2 = n
        ins(op::ADDI, 1, 1, 1),  // 0x04 loop: r1 += 1
        ins(op::ADDI, 2, 2, -1), // 0x08 r2 -= 1
        ins(op::BNE, 2, 0, -8),  // 0x0c if r2 != 0 goto loop
        exit_with(1),            // 0x10
    ]
}

/// r1 counts `outer` × 30000 iterations of an inner one-block loop, then exits with r1.
fn nested_loop(outer: i16) -> Vec<u32> {
    vec![
        ins(op::ADDI, 3, 0, outer), // 0x00 r3 = outer count
        ins(op::ADDI, 2, 0, 30000), // 0x04 outer: r2 = inner count
        ins(op::ADDI, 1, 1, 1),     // 0x08 inner: r1 += 1
        ins(op::ADDI, 2, 2, -1),    // 0x0c
        ins(op::BNE, 2, 0, -8),     // 0x10 -> inner
        ins(op::ADDI, 3, 3, -1),    // 0x14
        ins(op::BNE, 3, 0, -20),    // 0x18 -> outer
        exit_with(1),               // 0x1c
    ]
}

/// A log sink the test reads back afterwards.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn opts() -> TcgOptions {
    TcgOptions { log_sink: Box::new(std::io::sink()), ..Default::default() }
}

// ---- tests -------------------------------------------------------------------------------------

#[test]
fn loop_is_interpreted_then_compiled_and_chained() {
    let mut m = machine(&counting_loop(1000), &[], TcgOptions { jit_threshold: 50, ..opts() });
    assert_eq!(run(&mut m), 1000);
    let s = m.vcpu.stats();
    assert!(s.compiled_blocks >= 1, "{s:?}");
    assert!(s.interp_execs >= 50 && s.interp_execs < 60, "loop block interpreted exactly up to the threshold: {s:?}");
    assert!(s.loop_iterations < 100, "a compiled one-block loop loops in its own code: {s:?}");
}

#[test]
fn two_block_loop_is_chained() {
    let prog = vec![
        ins(op::ADDI, 2, 0, 1000), // 0x00 r2 = 1000
        ins(op::ADDI, 1, 1, 1),    // 0x04 loop: r1 += 1
        ins(op::J, 0, 0, 4),       // 0x08 goto 0x0c (a second block)
        ins(op::ADDI, 2, 2, -1),   // 0x0c r2 -= 1
        ins(op::BNE, 2, 0, -12),   // 0x10 if r2 != 0 goto loop
        exit_with(1),              // 0x14
    ];
    let mut m = machine(&prog, &[], TcgOptions { jit_threshold: 50, ..opts() });
    assert_eq!(run(&mut m), 1000);
    let s = m.vcpu.stats();
    assert!(s.chains_made >= 2, "{s:?}");
    assert!(s.loop_iterations < 250, "chained loop must not come back to the run loop: {s:?}");
}

#[test]
fn threshold_zero_compiles_at_once() {
    let mut m = machine(&counting_loop(300), &[], TcgOptions { jit_threshold: 0, ..opts() });
    assert_eq!(run(&mut m), 300);
    let s = m.vcpu.stats();
    assert_eq!(s.interp_execs, 0, "{s:?}");
    assert!(s.compiled_blocks >= 3, "{s:?}");
}

#[test]
fn interpreted_only_gives_the_same_result() {
    let mut m = machine(&counting_loop(500), &[], TcgOptions { jit_threshold: u32::MAX, ..opts() });
    assert_eq!(run(&mut m), 500);
    assert_eq!(m.vcpu.stats().compiled_blocks, 0);
}

fn smc_program() -> Vec<u32> {
    // New instruction for A: ADDI r1, r1, 100.
    let new = ins(op::ADDI, 1, 1, 100);
    let mut p = vec![0u32; 16];
    p[0] = ins(op::LUI, 7, 0, (new >> 16) as u16 as i16); // 0x00 r7 = hi(new)
    p[1] = ins(op::ADDI, 7, 7, (new & 0xffff) as u16 as i16); // 0x04 r7 |= lo(new) (lo < 0x8000)
    p[2] = ins(op::ADDI, 8, 14, 0x20); // 0x08 r8 = &A
    p[3] = ins(op::ADDI, 10, 14, 0x38); // 0x0c r10 = &exit
    p[4] = ins(op::JR, 0, 8, 0); // 0x10 goto A
    p[8] = ins(op::ADDI, 1, 1, 1); // 0x20 A: r1 += 1
    p[9] = ins(op::ADDI, 6, 6, 1); // 0x24 pass += 1
    p[10] = ins(op::ADDI, 9, 0, 3); // 0x28 r9 = 3
    p[11] = ins(op::BNE, 6, 9, 8); // 0x2c if pass != 3 goto 0x34
    p[12] = ins(op::JR, 0, 10, 0); // 0x30 goto exit
    p[13] = ins(op::J, 0, 0, 0x10); // 0x34 goto 0x44
    p[14] = exit_with(1); // 0x38 exit: report r1
    p.extend([0u32; 1]); // 0x40
    p.extend([
        ins(op::BNE, 6, 0, 4),   // 0x44 (always taken: pass >= 1) -> 0x48
        ins(op::ADDI, 11, 0, 1), // 0x48 r11 = 1
        ins(op::BNE, 6, 11, 12), // 0x4c pass != 1 -> 0x58 (skip the overwrite after pass 1)
        ins(op::SW, 7, 8, 0),    // 0x50 overwrite A
        ins(op::JR, 0, 8, 0),    // 0x54 goto A
        ins(op::JR, 0, 8, 0),    // 0x58 goto A
    ]);
    p
}

#[test]
fn self_modifying_code_runs_the_new_instruction() {
    // Pass 1 runs the old A (+1), then A is overwritten with +100; passes 2 and 3 run the new A.
    for threshold in [0, 1, 50] {
        let mut m = machine(&smc_program(), &[], TcgOptions { jit_threshold: threshold, ..opts() });
        assert_eq!(run(&mut m), 201, "threshold {threshold}");
        assert!(m.vcpu.stats().smc_invalidations >= 1);
    }
}

#[test]
fn fence_and_flush_keep_execution_going() {
    let prog = vec![ins(op::ADDI, 1, 1, 5), ins(op::FENCE, 0, 0, 0), ins(op::ADDI, 1, 1, 6), exit_with(1)];
    let mut m = machine(&prog, &[], TcgOptions { jit_threshold: 0, ..opts() });
    assert_eq!(run(&mut m), 11);
    let s = m.vcpu.stats();
    assert!(s.fences >= 1, "{s:?}");
    assert_eq!(s.code_flushes, 0, "a fence revalidates instead of flushing");
    m.vcpu.flush_all_code();
    assert_eq!(m.vcpu.stats().code_flushes, 1);
}

#[test]
fn fence_notices_code_written_behind_the_softmmu() {
    // Run A once, then rewrite A directly in guest RAM (as device DMA would, unseen by the
    // softmmu), then fence and run A again: the new instruction must run.
    let prog = vec![
        ins(op::ADDI, 1, 1, 1),  // 0x00 A
        exit_with(1),            // 0x04
        ins(op::FENCE, 0, 0, 0), // 0x08
        ins(op::J, 0, 0, -12),   // 0x0c goto A
    ];
    for threshold in [0, 50] {
        let mut m = machine(&prog, &[], TcgOptions { jit_threshold: threshold, ..opts() });
        assert_eq!(run(&mut m), 1);
        m.mem.write(RAM, &ins(op::ADDI, 1, 1, 100).to_le_bytes()).unwrap();
        m.vcpu.cpu_mut().env.pc = RAM + 8;
        assert_eq!(run(&mut m), 101, "threshold {threshold}");
        assert!(m.vcpu.stats().stale_blocks >= 1);
    }
}

#[test]
fn fences_with_nothing_written_behind_the_softmmu_keep_the_chains() {
    // A loop of two blocks whose second one fences: with nothing written by a device in
    // between, each fence must leave the chains and the checked blocks alone, so the loop chains
    // once instead of after every fence.
    let prog = vec![
        ins(op::ADDI, 2, 0, 1000), // 0x00 r2 = n
        ins(op::ADDI, 1, 1, 1),    // 0x04 loop: r1 += 1
        ins(op::J, 0, 0, 4),       // 0x08 goto 0x0c (a chained exit)
        ins(op::FENCE, 0, 0, 0),   // 0x0c ends the block
        ins(op::ADDI, 2, 2, -1),   // 0x10 r2 -= 1
        ins(op::BNE, 2, 0, -16),   // 0x14 if r2 != 0 goto loop
        exit_with(1),              // 0x18
    ];
    let mut m = machine(&prog, &[], TcgOptions { jit_threshold: 0, ..opts() });
    assert_eq!(run(&mut m), 1000);
    let s = m.vcpu.stats();
    assert!(s.fences >= 1000, "{s:?}");
    assert!(s.chains_made < 10, "chains are remade after every fence: {s:?}");
    assert_eq!(s.stale_blocks, 0, "{s:?}");
}

#[test]
fn a_region_stops_running_a_member_the_guest_overwrote() {
    // A three-block loop A -> B -> C -> A on one page becomes hot and is compiled as one region.
    // Halfway, the guest overwrites B's first instruction (r3 += 1 becomes r3 += 100): the region
    // holds a copy of B's code, so it must not run any more.
    let prog = three_block_smc_loop();
    // Budget periods of different lengths end at different blocks, so each block becomes a
    // region's head in some run and a member in others.
    // With either quick tier (Cranelift or the baseline) under the optimised regions.
    for (budget, base) in [50, 51, 52, 53].into_iter().flat_map(|b| [(b, None), (b, Some(0))]) {
        let o = TcgOptions { jit_threshold: 0, hot_samples: 1, budget, baseline: base, regions: true, ..opts() };
        let mut m = machine(&prog, &[], o);
        assert_eq!(run(&mut m), (THREE_BLOCK_N as i32 / 2) * 101, "budget {budget}, baseline {base:?}");
        let s = m.vcpu.stats();
        assert!(s.region_members >= 2 && s.smc_invalidations >= 1, "{s:?}");
    }
}

/// A three-block loop A -> B -> C -> A of `n` iterations that stops the run with the number of
/// runs so far; run again, it loops `n` more times.
fn abc_loop(n: i16) -> Vec<u32> {
    vec![
        ins(op::ADDI, 2, 0, n),    // 0x00 r2 = n
        ins(op::ADDI, 1, 1, 1),    // 0x04 A: r1 += 1
        ins(op::J, 0, 0, 8),       // 0x08 goto B
        0,                         // 0x0c
        ins(op::ADDI, 3, 3, 1),    // 0x10 B: r3 += 1
        ins(op::J, 0, 0, 8),       // 0x14 goto C
        0,                         // 0x18
        ins(op::ADDI, 2, 2, -1),   // 0x1c C: r2 -= 1
        ins(op::BNE, 2, 0, -0x1c), // 0x20 -> A
        ins(op::ADDI, 4, 4, 1),    // 0x24 r4 = runs so far
        exit_with(4),              // 0x28 stop the run
        ins(op::ADDI, 2, 0, n),    // 0x2c r2 = n
        ins(op::J, 0, 0, -0x2c),   // 0x30 -> A
    ]
}

#[test]
fn a_block_optimised_alone_while_compiles_queued_gets_its_region_later() {
    // The loop run twice. While the compile queue counts as busy (limit 0) hot blocks are
    // optimised alone; once it is not, they are compiled again with their region.
    const N: i16 = 3000;
    let prog = abc_loop(N);
    let o = TcgOptions { jit_threshold: 0, hot_samples: 1, budget: 50, regions: true, region_queue_limit: 0, ..opts() };
    let mut m = machine(&prog, &[], o);
    assert_eq!(run(&mut m), 1);
    let s = m.vcpu.stats();
    assert!(s.optimized_blocks >= 1 && s.region_members == 0, "{s:?}");
    m.vcpu.set_region_queue_limit(mimic_accel::tcg::DEFAULT_REGION_QUEUE_LIMIT);
    assert_eq!(run(&mut m), 2);
    let s = m.vcpu.stats();
    assert!(s.region_members >= 2, "{s:?}");
    assert_eq!(m.vcpu.cpu().env.regs[3], 2 * N as u64);
}

#[test]
fn every_block_of_a_loop_that_repeats_exactly_gets_samples() {
    // A -> B -> C -> A, two instructions each: 6 per round, and 1200 (the budget) is exactly
    // 200 rounds. With periods of that one length, every period would end at the same block and
    // only that block would ever be sampled hot; periods of varying length sample all three.
    let prog = abc_loop(20000);
    let o = TcgOptions { jit_threshold: 0, hot_samples: 3, budget: 1200, ..opts() };
    let mut m = machine(&prog, &[], o);
    assert_eq!(run(&mut m), 1);
    let s = m.vcpu.stats();
    assert_eq!(s.optimized_blocks, 3, "A, B and C are all found hot: {s:?}");
}

#[test]
fn an_exit_a_helper_asks_for_keeps_the_budget_period() {
    // 1000 helper-requested exits inside one budget period: each returns to the run loop,
    // which puts the budget back instead of starting a new period (and polling) every time.
    let prog = vec![
        ins(op::ADDI, 1, 0, 1000), // 0x00
        ins(op::XIT, 0, 0, 0),     // 0x04 loop
        ins(op::ADDI, 4, 4, 1),    // 0x08
        ins(op::ADDI, 1, 1, -1),   // 0x0c
        ins(op::BNE, 1, 0, -0x0c), // 0x10 -> loop
        exit_with(4),              // 0x14
    ];
    for o in [opts(), TcgOptions { jit_threshold: 2, ..opts() }, baseline(2)] {
        let mut m = machine(&prog, &[], TcgOptions { budget: 1 << 20, ..o });
        assert_eq!(run(&mut m), 1000);
        let refills = m.vcpu.cpu().refills;
        assert!(refills < 5, "{refills} budget periods for 5000 instructions");
        assert!(m.vcpu.stats().loop_iterations >= 1000);
    }
}

#[test]
fn a_direct_jump_into_an_overwritten_block_is_cut() {
    // The same loop in baseline code only: A's exit to B is a patched direct jump, which must
    // go back to its (now empty) cell when the guest overwrites B.
    let o = TcgOptions { hot_samples: u32::MAX, ..baseline(0) };
    let mut m = machine(&three_block_smc_loop(), &[], o);
    assert_eq!(run(&mut m), (THREE_BLOCK_N as i32 / 2) * 101);
    let s = m.vcpu.stats();
    assert!(s.optimized_blocks == 0 && s.chains_made >= 3 && s.smc_invalidations >= 1, "{s:?}");
}

const THREE_BLOCK_N: i16 = 2000;

/// A loop of three blocks on one page (A -> B -> C -> A, r2 = N times) that overwrites B's
/// `r3 += 1` with `r3 += 100` halfway; exits with r3.
fn three_block_smc_loop() -> Vec<u32> {
    let new = ins(op::ADDI, 3, 3, 100);
    assert!(new & 0xffff < 0x8000);
    const N: i16 = THREE_BLOCK_N;
    vec![
        ins(op::ADDI, 2, 0, N),                          // 0x00 r2 = N
        ins(op::LUI, 7, 0, (new >> 16) as u16 as i16),   // 0x04 r7 = new
        ins(op::ADDI, 7, 7, (new & 0xffff) as u16 as i16), // 0x08
        ins(op::ADDI, 8, 14, 0x24),                      // 0x0c r8 = &B
        ins(op::ADDI, 9, 0, N / 2),                      // 0x10 r9 = when to patch
        ins(op::J, 0, 0, 4),                             // 0x14
        ins(op::ADDI, 1, 1, 1),                          // 0x18 A: r1 += 1
        ins(op::J, 0, 0, 8),                             // 0x1c goto B
        0,                                               // 0x20
        ins(op::ADDI, 3, 3, 1),                          // 0x24 B: r3 += 1
        ins(op::ADDI, 2, 2, -1),                         // 0x28 r2 -= 1
        ins(op::BNE, 2, 9, 12),                          // 0x2c if r2 != N/2 goto C
        ins(op::SW, 7, 8, 0),                            // 0x30 overwrite B
        ins(op::J, 0, 0, 4),                             // 0x34 goto C
        ins(op::BNE, 2, 0, -0x20),                       // 0x38 C: if r2 != 0 goto A
        exit_with(3),                                    // 0x3c
    ]
}

/// `n` blocks, each "r1 += 1; jump to the next", run 5 times; exits with r1 = 5n.
fn many_blocks(n: i32) -> Vec<u32> {
    let mut prog = vec![ins(op::ADDI, 2, 0, 5)]; // r2 = passes
    for _ in 0..n {
        prog.push(ins(op::ADDI, 1, 1, 1));
        prog.push(ins(op::J, 0, 0, 4));
    }
    prog.push(ins(op::ADDI, 2, 2, -1));
    let back = -(4 * (prog.len() as i16 - 1));
    prog.push(ins(op::BNE, 2, 0, back));
    prog.push(exit_with(1));
    prog
}

#[test]
fn full_code_cache_is_recycled() {
    // The code cache holds far fewer than the 300 blocks.
    let n = 300;
    let prog = many_blocks(n);
    let mut m = machine(&prog, &[], TcgOptions { jit_threshold: 0, max_code_bytes: 16 << 10, ..opts() });
    assert_eq!(run(&mut m), 5 * n);
    let s = m.vcpu.stats();
    assert!(s.code_flushes > 0, "{s:?}");
}

#[test]
fn mmio_is_routed_to_the_device() {
    let prog = vec![
        ins(op::ADDI, 3, 0, 77),
        ins(op::ST, 3, 15, 8),  // record 77
        ins(op::LD, 4, 15, 16), // r4 = 0x1234
        ins(op::ST, 4, 15, 8),  // record it
        exit_with(0),
    ];
    let mut m = machine(&prog, &[], opts());
    assert_eq!(run(&mut m), 0);
    assert_eq!(*m.recorded.lock().unwrap(), vec![77, 0x1234]);
}

/// A program whose load at 0x08 faults between two writes of r3, and a trap handler that exits
/// with r3.
fn data_fault_program() -> (Vec<u32>, Vec<u32>) {
    let prog = vec![
        ins(op::ADDI, 3, 0, 1),    // 0x00
        ins(op::LUI, 5, 0, -4096), // 0x04 r5 = 0xf000_0000 (HOLE)
        ins(op::LD, 4, 5, 8),      // 0x08 faults
        ins(op::ADDI, 3, 0, 99),   // 0x0c must not run
        exit_with(3),
    ];
    (prog, vec![exit_with(3)])
}

/// Runs `data_fault_program`: the trap names the load and the write after it never happened.
fn assert_fault_precise(m: &mut Machine) {
    assert_eq!(run(m), 1);
    let cpu = m.vcpu.cpu();
    assert_eq!((cpu.epc, cpu.cause, cpu.tval), (RAM + 8, CAUSE_PAGE_FAULT, HOLE + 8));
}

#[test]
fn data_fault_is_precise() {
    let (prog, trap) = data_fault_program();
    for threshold in [0, 50] {
        let mut m = machine(&prog, &trap, TcgOptions { jit_threshold: threshold, ..opts() });
        assert_fault_precise(&mut m);
    }
}

#[test]
fn fetch_fault_is_delivered_with_the_target_pc() {
    let prog = vec![ins(op::ADDI, 3, 0, 7), ins(op::LUI, 5, 0, -4096), ins(op::JR, 0, 5, 0)];
    let trap = vec![exit_with(3)];
    let mut m = machine(&prog, &trap, opts());
    assert_eq!(run(&mut m), 7);
    let cpu = m.vcpu.cpu();
    assert_eq!((cpu.epc, cpu.cause, cpu.tval), (HOLE, CAUSE_PAGE_FAULT, HOLE));
}

#[test]
fn misaligned_access_is_emulated_across_pages_and_aligned_ones_fault() {
    let prog = vec![
        ins(op::LUI, 3, 0, 0x1122),   // r3 = 0x1122_0000
        ins(op::ADDI, 3, 3, 0x3344),  // r3 = 0x1122_3344
        ins(op::ADDI, 6, 14, 0x1ffd), // r6 = RAM + 0x1ffd (crosses into the next page)
        ins(op::ST, 3, 6, 0),         // misaligned 8-byte store
        ins(op::LD, 4, 6, 0),         // misaligned 8-byte load
        ins(op::ST, 4, 15, 8),        // record it
        ins(op::SWA, 3, 6, 0),        // aligned-only store: faults
        exit_with(0),
    ];
    let trap = vec![ins(op::ADDI, 1, 0, 42), exit_with(1)];
    let mut m = machine(&prog, &trap, opts());
    assert_eq!(run(&mut m), 42);
    assert_eq!(*m.recorded.lock().unwrap(), vec![0x1122_3344]);
    let mut b = [0u8; 8];
    m.mem.read_mem(RAM + 0x1ffd, &mut b).unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x1122_3344);
    let cpu = m.vcpu.cpu();
    assert_eq!((cpu.epc, cpu.cause, cpu.tval), (RAM + 24, CAUSE_MISALIGNED, RAM + 0x1ffd));
}

#[test]
fn translate_sees_the_access_size() {
    let prog = vec![
        ins(op::ADDI, 3, 0, 5),       // 0x00
        ins(op::ADDI, 6, 14, 0x4000), // 0x04 r6 = NARROW
        ins(op::SW, 3, 6, 0),         // 0x08 4 bytes: allowed
        ins(op::LD, 4, 6, 0),         // 0x0c 8 bytes: faults
        ins(op::ADDI, 3, 0, 99),      // 0x10 must not run
        exit_with(3),
    ];
    let trap = vec![exit_with(3)];
    for threshold in [0, 50] {
        let mut m = machine(&prog, &trap, TcgOptions { jit_threshold: threshold, ..opts() });
        assert_eq!(run(&mut m), 5);
        let cpu = m.vcpu.cpu();
        assert_eq!((cpu.epc, cpu.cause, cpu.tval), (RAM + 0xc, CAUSE_BUS, NARROW));
        let mut b = [0u8; 4];
        m.mem.read_mem(NARROW, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), 5);
    }
}

#[test]
fn misaligned_store_fault_in_the_second_page_reports_its_first_byte() {
    // Into an unmapped page: a page fault at the page start, not at the access's last byte.
    let prog = vec![
        ins(op::ADDI, 3, 0, 0x3344), // 0x00
        ins(op::LUI, 5, 0, -4096),   // 0x04 r5 = HOLE
        ins(op::ADDI, 5, 5, -3),     // 0x08 r5 = HOLE - 3
        ins(op::ST, 3, 5, 0),        // 0x0c faults in the second page
        exit_with(0),
    ];
    let trap = vec![ins(op::ADDI, 1, 0, 42), exit_with(1)];
    for threshold in [0, 50] {
        let mut m = machine(&prog, &trap, TcgOptions { jit_threshold: threshold, ..opts() });
        assert_eq!(run(&mut m), 42);
        let cpu = m.vcpu.cpu();
        assert_eq!((cpu.epc, cpu.cause, cpu.tval), (RAM + 0xc, CAUSE_PAGE_FAULT, HOLE));
    }
    // Into NARROW with 5 bytes there: the second part is translated with its size, and nothing
    // lands in the first page.
    let prog = vec![
        ins(op::ADDI, 3, 0, 0x3344),  // 0x00
        ins(op::ADDI, 6, 14, 0x3ffd), // 0x04 r6 = NARROW - 3
        ins(op::ST, 3, 6, 0),         // 0x08 faults in the second page
        exit_with(0),
    ];
    for threshold in [0, 50] {
        let mut m = machine(&prog, &trap, TcgOptions { jit_threshold: threshold, ..opts() });
        assert_eq!(run(&mut m), 42);
        let cpu = m.vcpu.cpu();
        assert_eq!((cpu.epc, cpu.cause, cpu.tval), (RAM + 8, CAUSE_BUS, NARROW));
        let mut b = [0u8; 8];
        m.mem.read_mem(NARROW - 3, &mut b).unwrap();
        assert_eq!(b, [0; 8]);
    }
}

#[test]
fn budget_runs_out_and_poll_is_called() {
    let polls = Arc::new(AtomicU64::new(0));
    let p = polls.clone();
    let o = TcgOptions {
        budget: 1000,
        poll: Some(Box::new(move || {
            p.fetch_add(1, Ordering::Relaxed);
            None
        })),
        ..opts()
    };
    let mut m = machine(&counting_loop(10000), &[], o);
    assert_eq!(run(&mut m), 10000);
    // ~30000 instructions in periods of 1000.
    assert!(polls.load(Ordering::Relaxed) >= 29, "{}", polls.load(Ordering::Relaxed));
    assert!(m.vcpu.cpu().refills >= 29);
}

#[test]
fn wfi_sleeps_until_an_interrupt_then_takes_it() {
    let irq = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let (i2, p2) = (irq.clone(), polls.clone());
    let o = TcgOptions {
        poll: Some(Box::new(move || {
            // The "timer" fires on the third poll.
            if p2.fetch_add(1, Ordering::Relaxed) == 2 {
                i2.store(true, Ordering::Release);
            }
            Some(10_000)
        })),
        ..opts()
    };
    let prog = vec![ins(op::WFI, 0, 0, 0), ins(op::ADDI, 1, 0, 9), exit_with(1)];
    let trap = vec![ins(op::ADDI, 1, 0, 5), exit_with(1)];
    let mut m = machine(&prog, &trap, o);
    m.vcpu.cpu_mut().irq = irq;
    assert_eq!(run(&mut m), 5);
    assert_eq!((m.vcpu.cpu().cause, m.vcpu.cpu().epc), (CAUSE_IRQ, RAM + 4));
    assert!(m.vcpu.stats().halts >= 1);
}

/// Harts sharing one vCPU: `progs` are (address, code) pairs loaded into RAM, `starts` the
/// harts' entry points (r15 = DEV, r14 = RAM on each).
fn smp_machine(progs: &[(u64, Vec<u32>)], starts: &[u64], opts: TcgOptions) -> Machine {
    let power = Arc::new(PowerControl::new());
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut mem = AddressSpace::new(&[MemRegionSpec::ram("ram", RAM, 0x10000)]).unwrap();
    let dev = mimic_hw::device::shared(TestDev { power: power.clone(), recorded: recorded.clone() });
    mem.add_mmio(DEV, 0x100, dev).unwrap();
    for (at, code) in progs {
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        mem.load(*at, &bytes).unwrap();
    }
    let mem = Arc::new(mem);
    let cpus = starts
        .iter()
        .map(|&pc| {
            let mut cpu = ToyCpu::new(pc);
            cpu.env.regs[15] = DEV;
            cpu.env.regs[14] = RAM;
            cpu
        })
        .collect();
    let vcpu = TcgVcpu::new_smp(cpus, ToyFrontend, mem.clone(), power, opts).unwrap();
    Machine { vcpu, mem, recorded }
}

#[test]
fn a_hart_writing_code_another_hart_translated_invalidates_it() {
    // Hart B gets a fast-path TLB entry for page P (a data store) before hart A translates X in
    // P; then B overwrites X. B's store must still be seen as a code write: A runs the new X.
    const P: i16 = 0x1000; // X at RAM + P, B's data word at RAM + P + 0x800
    const D: i16 = 0x2000; // flags: +0 B stored its data word, +8 A ran X, +16 B rewrote X
    let new_x = ins(op::ADDI, 1, 1, 100);
    let hart_a = vec![
        ins(op::ADDI, 13, 14, D),  // 0x00 r13 = flags
        ins(op::ADDI, 12, 14, P),  // 0x04 r12 = X
        ins(op::LD, 2, 13, 0),     // 0x08 wait for flag 0
        ins(op::BNE, 2, 0, 8),     // 0x0c
        ins(op::J, 0, 0, -8),      // 0x10
        ins(op::ADDI, 11, 14, 0x20), // 0x14 return address
        ins(op::JR, 0, 12, 0),     // 0x18 call X (translating it)
        0,                         // 0x1c
        ins(op::ADDI, 3, 0, 1),    // 0x20
        ins(op::ST, 3, 13, 8),     // 0x24 flag 8 = 1
        ins(op::LD, 2, 13, 16),    // 0x28 wait for flag 16
        ins(op::BNE, 2, 0, 8),     // 0x2c
        ins(op::J, 0, 0, -8),      // 0x30
        ins(op::ADDI, 11, 14, 0x40), // 0x34 return address
        ins(op::JR, 0, 12, 0),     // 0x38 call X again
        0,                         // 0x3c
        exit_with(1),              // 0x40 1 + (1 or 100)
    ];
    let hart_b = vec![
        ins(op::ADDI, 13, 14, D),  // 0x100
        ins(op::ADDI, 12, 14, P),  // 0x104
        ins(op::ADDI, 3, 0, 1),    // 0x108
        ins(op::ST, 3, 12, 0x800), // 0x10c data store into P: P is not code yet, the fast path is filled
        ins(op::ST, 3, 13, 0),     // 0x110 flag 0 = 1
        ins(op::LD, 2, 13, 8),     // 0x114 wait for flag 8
        ins(op::BNE, 2, 0, 8),     // 0x118
        ins(op::J, 0, 0, -8),      // 0x11c
        ins(op::LUI, 7, 0, (new_x >> 16) as u16 as i16), // 0x120
        ins(op::ADDI, 7, 7, (new_x & 0xffff) as u16 as i16), // 0x124
        ins(op::SW, 7, 12, 0),     // 0x128 overwrite X
        ins(op::ST, 3, 13, 16),    // 0x12c flag 16 = 1
        ins(op::J, 0, 0, 0),       // 0x130 spin
    ];
    let x = vec![ins(op::ADDI, 1, 1, 1), ins(op::JR, 0, 11, 0)];
    for threshold in [0, 500] {
        let progs = [(RAM, hart_a.clone()), (RAM + 0x100, hart_b.clone()), (RAM + P as u64, x.clone())];
        let o = TcgOptions { budget: 8, jit_threshold: threshold, ..opts() };
        let mut m = smp_machine(&progs, &[RAM, RAM + 0x100], o);
        assert_eq!(m.vcpu.hart_count(), 2);
        assert_eq!(run(&mut m), 101, "threshold {threshold}");
        assert!(m.vcpu.stats().hart_switches > 2);
        assert!(m.vcpu.stats().smc_invalidations >= 1);
    }
}

#[test]
fn a_hart_in_wfi_lets_the_others_run_until_its_interrupt() {
    let irq = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let (i2, p2) = (irq.clone(), polls.clone());
    let o = TcgOptions {
        budget: 1000,
        poll: Some(Box::new(move || {
            // The "timer" for hart A fires after hart B has had some turns.
            if p2.fetch_add(1, Ordering::Relaxed) == 20 {
                i2.store(true, Ordering::Release);
            }
            Some(10_000)
        })),
        ..opts()
    };
    let hart_a = vec![ins(op::WFI, 0, 0, 0), ins(op::ADDI, 1, 0, 9), exit_with(1)];
    // The trap handler exits with the count hart B stored at RAM + 0x2000.
    let trap = vec![ins(op::ADDI, 13, 14, 0x2000), ins(op::LD, 1, 13, 0), exit_with(1)];
    let hart_b = vec![
        ins(op::ADDI, 13, 14, 0x2000), // 0x100
        ins(op::ADDI, 1, 1, 1),        // 0x104 count
        ins(op::ST, 1, 13, 0),         // 0x108
        ins(op::J, 0, 0, -8),          // 0x10c
    ];
    let progs = [(RAM, hart_a), (RAM + 0x100, hart_b), (TRAP_VEC, trap)];
    let mut m = smp_machine(&progs, &[RAM, RAM + 0x100], o);
    m.vcpu.cpu_mut().irq = irq;
    let count = run(&mut m);
    // Hart B ran while A waited: ~20 polls of 1000-instruction turns, 3 instructions a count.
    assert!(count > 1000, "hart B counted {count}");
    assert!(m.vcpu.stats().halts >= 1);
}

fn background() -> TcgOptions {
    TcgOptions { background_compile: true, ..opts() }
}

#[test]
fn background_compile_installs_code_while_the_block_keeps_running() {
    // 2000 x 30000 iterations of a one-block loop: interpreted until the compile thread's quick
    // code arrives, then compiled (the interpreter alone would need far more run-loop iterations).
    // Long enough (~0.1 s compiled) for the optimised code to come back even on a busy host.
    let prog = nested_loop(2000);
    // Budget exits every 1000 instructions sample the loop, which gets its optimised code from
    // the thread too.
    let mut m = machine(&prog, &[], TcgOptions { jit_threshold: 50, budget: 1000, ..background() });
    assert_eq!(run(&mut m), 60_000_000);
    let s = m.vcpu.stats();
    assert!(s.compiled_blocks >= 1, "{s:?}");
    assert!(s.optimized_blocks >= 1, "{s:?}");
    assert!(s.loop_iterations < 1_000_000, "the loop ended up running compiled: {s:?}");
}

#[test]
fn background_compile_copes_with_smc_and_cache_flushes() {
    for threshold in [0, 1, 50] {
        let mut m = machine(&smc_program(), &[], TcgOptions { jit_threshold: threshold, ..background() });
        assert_eq!(run(&mut m), 201, "threshold {threshold}");
    }
    // A code cache far too small: the thread's generation fills and is flushed while compiles
    // are queued (their answers are dropped with the blocks they were for).
    let n = 300;
    let mut m = machine(&many_blocks(n), &[], TcgOptions { jit_threshold: 0, max_code_bytes: 16 << 10, ..background() });
    assert_eq!(run(&mut m), 5 * n);
}

#[test]
fn illegal_instruction_traps_and_logging_does_not_disturb() {
    let log = Captured::default();
    let o = TcgOptions {
        log: mimic_accel::tcg::LogMask::parse("in_asm,op,out_asm,int,exec,cpu").unwrap(),
        log_sink: Box::new(log.clone()),
        jit_threshold: 0,
        ..opts()
    };
    let prog = vec![ins(op::ADDI, 1, 0, 3), 0xff];
    let trap = vec![exit_with(1)];
    let mut m = machine(&prog, &trap, o);
    assert_eq!(run(&mut m), 3);
    assert_eq!((m.vcpu.cpu().cause, m.vcpu.cpu().epc, m.vcpu.cpu().tval), (CAUSE_ILLEGAL, RAM + 4, 0xff));
    assert_eq!(m.vcpu.stats().chains_made, 0, "per-block logging must see every block");
    let text = log.text();
    for needle in [
        "IN: [pc=0x80000000",
        "OP: [pc=0x80000000",
        "OUT: [pc=0x80000000",
        "Trace: pc=0x80003000",
        "exception at pc=0x80000004 -> 0x80003000",
        "x1  0000000000000003",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in log:\n{text}");
    }
}

/// Throughput of a hot chained loop (run with `--ignored --nocapture`; prints guest MIPS).
#[test]
#[ignore]
fn bench_hot_loop() {
    let prog = nested_loop(1000);
    for threshold in [0, 50, 1000] {
        let mut m = machine(&prog, &[], TcgOptions { jit_threshold: threshold, ..opts() });
        let t0 = std::time::Instant::now();
        assert_eq!(run(&mut m), 30_000_000);
        let dt = t0.elapsed().as_secs_f64();
        println!("threshold {threshold}: {:.0} MIPS, {:?}", 90e6 / dt / 1e6, m.vcpu.stats());
    }
}

fn baseline(threshold: u32) -> TcgOptions {
    TcgOptions { baseline: Some(threshold), ..opts() }
}

#[test]
fn baseline_tier_compiles_chains_and_is_promoted() {
    // The two-block loop and the hot nested loop: baseline code first (no Cranelift quick
    // compile), chained, and the hot loop recompiled optimised from budget-exit samples.
    for background_compile in [false, true] {
        // The compile thread must get its optimised code back before the program ends, which
        // on a loaded host (CI runs test binaries in parallel on two cores) takes a longer run.
        let n = if background_compile { 2000 } else { 200 };
        let prog = nested_loop(n);
        for threshold in [0, 2] {
            let o = TcgOptions { budget: 1000, background_compile, ..baseline(threshold) };
            let mut m = machine(&prog, &[], o);
            assert_eq!(run(&mut m), 30_000 * n as i32);
            let s = m.vcpu.stats();
            assert!(s.baseline_blocks >= 3, "{s:?}");
            assert_eq!(s.compiled_blocks, s.baseline_blocks, "the quick tier is the baseline: {s:?}");
            assert!(s.interp_execs <= 10 * threshold as u64, "{s:?}");
            assert!(s.chains_made >= 2, "{s:?}");
            assert!(s.optimized_blocks >= 1, "the hot loop is promoted: {s:?}");
            assert!(s.loop_iterations < 500 * n as u64, "{s:?}");
        }
    }
}

#[test]
fn blocks_drop_their_ir_after_the_baseline_compile_and_translate_again_when_hot() {
    // The hot nested loop with regions: by the time its blocks are sampled hot their IR is gone,
    // so the optimised compile translates them again from their saved bytes, with the same
    // result as with the IR kept.
    const N: i16 = 20000;
    for drop_ir in [true, false] {
        let o = TcgOptions { budget: 1000, regions: true, drop_ir, ..baseline(0) };
        let mut m = machine(&abc_loop(N), &[], o);
        assert_eq!(run(&mut m), 1);
        assert_eq!((m.vcpu.cpu().env.regs[1], m.vcpu.cpu().env.regs[3]), (N as u64, N as u64));
        let s = m.vcpu.stats();
        assert!(s.optimized_blocks >= 1 && s.region_members >= 1, "{s:?}");
        if drop_ir {
            assert!(s.retranslated >= 2, "the head and its region member: {s:?}");
        } else {
            assert_eq!(s.retranslated, 0, "{s:?}");
        }
    }
}

#[test]
fn a_block_the_verifier_rejects_is_interpreted_and_never_compiled() {
    // A loop whose IR reads a temp nothing defined. IR is verified when a block is about to be
    // compiled; this one then stays with the interpreter, which reads the temp as 0.
    let prog = vec![
        ins(op::ADDI, 1, 0, 100),  // 0x00 r1 = 100
        ins(op::ADDI, 2, 2, 1),    // 0x04 loop: r2 += 1
        ins(op::BAD, 3, 0, 0),     // 0x08 r3 = (undefined)
        ins(op::ADDI, 1, 1, -1),   // 0x0c
        ins(op::BNE, 1, 0, -0x0c), // 0x10 -> loop
        exit_with(2),              // 0x14
    ];
    for o in [baseline(2), TcgOptions { jit_threshold: 2, ..opts() }] {
        let mut m = machine(&prog, &[], o);
        assert_eq!(run(&mut m), 100);
        assert_eq!(m.vcpu.cpu().env.regs[3], 0);
        let s = m.vcpu.stats();
        assert!(s.interp_execs >= 100 && s.compiled_blocks == 0, "the loop stays interpreted: {s:?}");
    }
}

#[test]
fn baseline_tier_keeps_faults_precise_and_handles_smc_and_flushes() {
    let (prog, trap) = data_fault_program();
    for threshold in [0, 1] {
        let mut m = machine(&prog, &trap, baseline(threshold));
        assert_fault_precise(&mut m);
        // (Each block runs once: only threshold 0 compiles them.)
        assert!(threshold > 0 || m.vcpu.stats().baseline_blocks >= 1);

        let mut m = machine(&smc_program(), &[], baseline(threshold));
        assert_eq!(run(&mut m), 201, "threshold {threshold}");
        assert!(m.vcpu.stats().smc_invalidations >= 1);
    }
    // A baseline code region far too small: it fills and everything is flushed and rebuilt.
    let n = 300;
    let mut m = machine(&many_blocks(n), &[], TcgOptions { max_code_bytes: 16 << 10, ..baseline(0) });
    assert_eq!(run(&mut m), 5 * n);
    let s = m.vcpu.stats();
    assert!(s.code_flushes > 0 && s.baseline_blocks > 300, "{s:?}");
}

#[test]
fn out_asm_shows_baseline_code() {
    let log = Captured::default();
    let o = TcgOptions {
        log: mimic_accel::tcg::LogMask::parse("out_asm").unwrap(),
        log_sink: Box::new(log.clone()),
        ..baseline(0)
    };
    let mut m = machine(&counting_loop(10), &[], o);
    assert_eq!(run(&mut m), 10);
    let text = log.text();
    assert!(text.contains("OUT: [pc=0x80000000"), "{text}");
    // The baseline's budget check opens every block.
    assert!(text.contains("sub qword ptr [rdi + "), "{text}");
    assert!(m.vcpu.stats().baseline_blocks >= 1);
}

#[test]
fn pages_that_share_a_tlb_entry_take_turns_without_page_walks() {
    // Two pages 4 MiB apart have the same (direct-mapped) TLB entry; a loop loading from both
    // evicts one with the other every time. The evicted entry waits in the victim TLB, from
    // which the slow path swaps it back instead of translating the address again.
    let prog = vec![
        ins(op::ADDI, 1, 0, 1000),   // 0x00 r1 = count
        ins(op::LUI, 5, 0, -0x7fc0), // 0x04 r5 = 0x8040_0000
        ins(op::LD, 6, 14, 0x1000),  // 0x08 loop: from page 0x8000_1000
        ins(op::LD, 7, 5, 0x1000),   // 0x0c and from page 0x8040_1000
        ins(op::ADDI, 4, 4, 1),      // 0x10
        ins(op::ADDI, 1, 1, -1),     // 0x14
        ins(op::BNE, 1, 0, -0x10),   // 0x18 -> loop
        exit_with(4),                // 0x1c
    ];
    for o in [TcgOptions { jit_threshold: 2, ..opts() }, baseline(2), TcgOptions { jit_threshold: u32::MAX, ..opts() }] {
        let mut m = machine_with_ram(&prog, &[], o, 0x40_2000);
        assert_eq!(run(&mut m), 1000);
        let walks = m.vcpu.cpu().walks;
        assert!(walks < 20, "{walks} translations for 2000 alternating loads");
    }
}

#[test]
fn a_jump_into_a_page_evicted_from_the_code_tlb_refills_it() {
    // A loop calls a function on the next page, then loads from an address whose TLB entry is
    // the function page's (4 MiB above it), then runs the loop again. The call's chain checks
    // the page's code TLB entry: the lookup hook that finds the function must put it back, or
    // every later call goes through the hook.
    let mut prog = vec![
        ins(op::ADDI, 1, 0, 1000),   // 0x00 r1 = inner count
        ins(op::ADDI, 3, 0, 2),      // 0x04 r3 = outer count
        ins(op::ADDI, 2, 14, 0x14),  // 0x08 loop: r2 = return address
        ins(op::J, 0, 0, 0xff4),     // 0x0c call 0x1000
        0,                           // 0x10
        ins(op::ADDI, 1, 1, -1),     // 0x14
        ins(op::BNE, 1, 0, -0x10),   // 0x18 -> loop
        ins(op::LUI, 5, 0, -0x7fc0), // 0x1c r5 = 0x8040_0000
        ins(op::LD, 6, 5, 0x1000),   // 0x20 evicts page 0x8000_1000 from the TLB
        ins(op::ADDI, 1, 0, 1000),   // 0x24
        ins(op::ADDI, 3, 3, -1),     // 0x28
        ins(op::BNE, 3, 0, -0x24),   // 0x2c -> loop
        exit_with(4),                // 0x30
    ];
    prog.resize(0x1000 / 4, 0);
    prog.extend([
        ins(op::ADDI, 4, 4, 1), // 0x1000 function: r4 += 1
        ins(op::JR, 0, 2, 0),   // return
    ]);
    for o in [TcgOptions { jit_threshold: 2, ..opts() }, baseline(2)] {
        let mut m = machine_with_ram(&prog, &[], o, 0x40_2000);
        assert_eq!(run(&mut m), 2000);
        let s = m.vcpu.stats();
        assert!(s.lookups < 100, "calls after the eviction are not looked up every time: {s:?}");
    }
}

#[test]
fn a_jump_into_a_page_flushed_from_the_tlb_is_found_by_the_lookup_hook() {
    // A loop calls a function on the next page, then drops that page from the TLB (and so makes
    // the jump cache check mappings again). The call's chain misses its guard and asks the lookup
    // hook, which must walk the page back into the code TLB itself rather than send every call
    // back to the run loop for that.
    let mut prog = vec![
        ins(op::ADDI, 1, 0, 1000),     // 0x00 r1 = count
        ins(op::ADDI, 2, 14, 0x10),    // 0x04 loop: r2 = return address
        ins(op::J, 0, 0, 0xffc),       // 0x08 call 0x1004
        0,                             // 0x0c
        ins(op::TLBI, 0, 14, 0x1000),  // 0x10 drop page 0x8000_1000
        ins(op::ADDI, 1, 1, -1),       // 0x14
        ins(op::BNE, 1, 0, -0x14),     // 0x18 -> loop
        exit_with(4),                  // 0x1c
    ];
    prog.resize(0x1004 / 4, 0);
    prog.extend([
        ins(op::ADDI, 4, 4, 1), // 0x1004 function: r4 += 1
        ins(op::JR, 0, 2, 0),   // return
    ]);
    for o in [TcgOptions { jit_threshold: 2, ..opts() }, baseline(2)] {
        let mut m = machine(&prog, &[], o);
        assert_eq!(run(&mut m), 1000);
        let s = m.vcpu.stats();
        assert!(s.lookups - s.lookup_hits < 50, "the hook sent calls back to the run loop: {s:?}");
    }
}

#[test]
fn a_return_to_many_callers_uses_the_indirect_jump_cache() {
    // A function called from two sites: its return's exit slot can hold one of them, the other
    // caller is found through the shared indirect-jump cache instead of the lookup hook.
    let prog = vec![
        ins(op::ADDI, 1, 0, 1000),  // 0x00 r1 = 1000
        ins(op::ADDI, 2, 14, 0x0c), // 0x04 loop: r2 = return address A
        ins(op::J, 0, 0, 0x18),     // 0x08 call 0x20
        ins(op::ADDI, 2, 14, 0x14), // 0x0c A: r2 = return address B
        ins(op::J, 0, 0, 0x10),     // 0x10 call 0x20
        ins(op::ADDI, 1, 1, -1),    // 0x14 B
        ins(op::BNE, 1, 0, -0x14),  // 0x18 -> loop
        exit_with(4),               // 0x1c
        ins(op::ADDI, 4, 4, 1),     // 0x20 function: r4 += 1
        ins(op::JR, 0, 2, 0),       // 0x24 return to r2
    ];
    for o in [TcgOptions { jit_threshold: 2, ..opts() }, baseline(2)] {
        let mut m = machine(&prog, &[], o);
        assert_eq!(run(&mut m), 2000);
        let s = m.vcpu.stats();
        assert!(s.itc_fills >= 1, "{s:?}");
        assert!(s.lookups < 50, "the second caller is not looked up every time: {s:?}");
    }
}
