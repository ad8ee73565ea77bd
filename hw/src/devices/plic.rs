//! PLIC (RISC-V platform-level interrupt controller) with the SiFive / QEMU `virt` register layout.
//!
//! Layout: source priorities at `4*src`, pending bits at `0x1000`, per-context enable bits at
//! `0x2000 + 0x80*ctx`, per-context threshold at `0x20_0000 + 0x1000*ctx` and claim/complete at
//! `+4`. On `virt` each hart has two contexts (M then S) and there are 96 sources, source 0 being
//! reserved ("no interrupt").
//!
//! Inputs are level-triggered: a device's [`IrqLine`] made by [`input_line`] drives one source's
//! gateway. The gateway latches a rising level into the pending bit; a claim clears pending and
//! holds the source in flight until the guest writes the id to complete, after which a level
//! that is still high pends the source again. Each context's output line is re-evaluated after
//! every change: it is high while some enabled, pending, not-in-flight source has a priority
//! above the context's threshold.

use std::sync::{Arc, Mutex};

use crate::device::{read_le, write_le, AccessSizes, Device};
use crate::irq::{IrqLine, IrqTrigger};

/// Sources on QEMU's `virt` machine, including the reserved source 0.
pub const VIRT_NUM_SOURCES: u32 = 96;
/// Size of the `virt` machine's PLIC window.
pub const VIRT_PLIC_SIZE: u64 = 0x60_0000;

const PENDING_BASE: u64 = 0x1000;
const ENABLE_BASE: u64 = 0x2000;
const ENABLE_STRIDE: u64 = 0x80;
const CONTEXT_BASE: u64 = 0x20_0000;
const CONTEXT_STRIDE: u64 = 0x1000;
/// `virt` implements 7 priority levels; priorities and thresholds keep 3 bits.
const PRIORITY_MASK: u32 = 7;

pub struct Plic {
    num_sources: u32,
    priority: Vec<u32>,
    /// Input levels as the devices drive them.
    level: Vec<bool>,
    pending: Vec<bool>,
    /// Claimed and not yet completed: the gateway forwards nothing for these.
    in_flight: Vec<bool>,
    /// Per context, one bit per source, as 32-bit words like the registers.
    enable: Vec<Vec<u32>>,
    threshold: Vec<u32>,
    outputs: Vec<IrqLine>,
}

impl Plic {
    /// `num_sources` counts source 0 (so `virt` passes 96); `outputs` holds one line per context,
    /// in context order (on `virt`: hart 0 M, hart 0 S, hart 1 M, ...).
    pub fn new(num_sources: u32, outputs: Vec<IrqLine>) -> Self {
        // Enable words are 0x80 bytes per context: at most 1024 sources fit the layout.
        let n = num_sources.clamp(1, 1024);
        let words = n.div_ceil(32) as usize;
        let contexts = outputs.len().min(((CONTEXT_BASE - ENABLE_BASE) / ENABLE_STRIDE) as usize);
        Self {
            num_sources: n,
            priority: vec![0; n as usize],
            level: vec![false; n as usize],
            pending: vec![false; n as usize],
            in_flight: vec![false; n as usize],
            enable: vec![vec![0; words]; contexts],
            threshold: vec![0; contexts],
            outputs: outputs.into_iter().take(contexts).collect(),
        }
    }

    /// Window size covering every context's threshold/claim page.
    pub fn window_size(&self) -> u64 {
        CONTEXT_BASE + CONTEXT_STRIDE * self.outputs.len() as u64
    }

    pub fn num_sources(&self) -> u32 {
        self.num_sources
    }

    /// Drive source `source`'s input level (what [`input_line`]'s lines call).
    pub fn set_input(&mut self, source: u32, level: bool) {
        let s = source as usize;
        if source == 0 || s >= self.level.len() {
            log::warn!("PLIC: input for nonexistent source {source} ignored");
            return;
        }
        self.level[s] = level;
        if !self.in_flight[s] {
            // A level that drops before it is claimed withdraws the request (as QEMU does), so
            // the guest does not take an interrupt the device no longer asserts.
            self.pending[s] = level;
        }
        self.update();
    }

    fn enabled(&self, ctx: usize, s: usize) -> bool {
        self.enable[ctx][s / 32] & (1 << (s % 32)) != 0
    }

    /// The source a claim by `ctx` would return (0: none).
    fn best(&self, ctx: usize) -> u32 {
        let mut best = 0usize;
        let mut best_prio = self.threshold[ctx];
        for s in 1..self.num_sources as usize {
            // Strictly greater: ties keep the lowest id, and a priority must exceed the threshold.
            if self.pending[s] && !self.in_flight[s] && self.enabled(ctx, s) && self.priority[s] > best_prio {
                best = s;
                best_prio = self.priority[s];
            }
        }
        best as u32
    }

    fn update(&self) {
        for (ctx, line) in self.outputs.iter().enumerate() {
            line.set(self.best(ctx) != 0);
        }
    }

    fn claim(&mut self, ctx: usize) -> u32 {
        let s = self.best(ctx);
        if s != 0 {
            self.pending[s as usize] = false;
            self.in_flight[s as usize] = true;
            self.update();
        }
        s
    }

    fn complete(&mut self, ctx: usize, id: u32) {
        let s = id as usize;
        if id == 0 || s >= self.num_sources as usize || !self.enabled(ctx, s) {
            // The spec says such completions are silently ignored; it is still worth a trace.
            log::warn!("guest error: PLIC context {ctx} completes source {id}, which it does not have enabled");
            return;
        }
        if !self.in_flight[s] {
            log::debug!("PLIC: completion of source {id} that was not claimed");
        }
        self.in_flight[s] = false;
        if self.level[s] {
            self.pending[s] = true;
        }
        self.update();
    }

    fn read32(&mut self, offset: u64) -> u32 {
        let nsrc = self.num_sources as u64;
        let words = self.enable.first().map_or(nsrc.div_ceil(32), |e| e.len() as u64);
        match offset {
            o if o < 4 * nsrc => self.priority[(o / 4) as usize],
            o if (PENDING_BASE..PENDING_BASE + 4 * words).contains(&o) => {
                let w = ((o - PENDING_BASE) / 4) as usize;
                (0..32).filter(|b| self.pending.get(w * 32 + b).copied().unwrap_or(false)).fold(0, |a, b| a | 1 << b)
            }
            o if (ENABLE_BASE..CONTEXT_BASE).contains(&o) => {
                let ctx = ((o - ENABLE_BASE) / ENABLE_STRIDE) as usize;
                let w = ((o - ENABLE_BASE) % ENABLE_STRIDE / 4) as usize;
                self.enable.get(ctx).and_then(|e| e.get(w)).copied().unwrap_or(0)
            }
            o if o >= CONTEXT_BASE => {
                let ctx = ((o - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;
                if ctx >= self.outputs.len() {
                    log::warn!("guest error: PLIC read of nonexistent context {ctx}");
                    return 0;
                }
                match (o - CONTEXT_BASE) % CONTEXT_STRIDE {
                    0 => self.threshold[ctx],
                    4 => self.claim(ctx),
                    r => {
                        log::warn!("guest error: PLIC read at context {ctx} offset {r:#x}");
                        0
                    }
                }
            }
            o => {
                log::warn!("guest error: PLIC read at unmapped offset {o:#x}");
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, value: u32) {
        let nsrc = self.num_sources as u64;
        match offset {
            0 => log::warn!("guest error: PLIC write to reserved source 0's priority"),
            o if o < 4 * nsrc => {
                self.priority[(o / 4) as usize] = value & PRIORITY_MASK;
                self.update();
            }
            o if (PENDING_BASE..ENABLE_BASE).contains(&o) => {
                log::warn!("guest error: PLIC write of {value:#x} to read-only pending bits at {o:#x}")
            }
            o if (ENABLE_BASE..CONTEXT_BASE).contains(&o) => {
                let ctx = ((o - ENABLE_BASE) / ENABLE_STRIDE) as usize;
                let w = ((o - ENABLE_BASE) % ENABLE_STRIDE / 4) as usize;
                let Some(word) = self.enable.get_mut(ctx).and_then(|e| e.get_mut(w)) else {
                    log::warn!("guest error: PLIC enable write for context {ctx} word {w} out of range");
                    return;
                };
                let mut v = value;
                if w == 0 {
                    v &= !1; // source 0 does not exist
                }
                let last = nsrc as usize - 32 * w;
                if last < 32 {
                    v &= (1u32 << last) - 1;
                }
                *word = v;
                self.update();
            }
            o if o >= CONTEXT_BASE => {
                let ctx = ((o - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;
                if ctx >= self.outputs.len() {
                    log::warn!("guest error: PLIC write to nonexistent context {ctx}");
                    return;
                }
                match (o - CONTEXT_BASE) % CONTEXT_STRIDE {
                    0 => {
                        self.threshold[ctx] = value & PRIORITY_MASK;
                        self.update();
                    }
                    4 => self.complete(ctx, value),
                    r => log::warn!("guest error: PLIC write at context {ctx} offset {r:#x}"),
                }
            }
            o => log::warn!("guest error: PLIC write at unmapped offset {o:#x}"),
        }
    }
}

impl Device for Plic {
    fn name(&self) -> &str {
        "plic"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B4
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = self.read32(offset & !3);
        write_le(data, v as u64);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.write32(offset & !3, read_le(data) as u32);
    }
}

struct PlicInput {
    plic: Arc<Mutex<Plic>>,
    source: u32,
}

impl IrqTrigger for PlicInput {
    fn set_level(&self, level: bool) {
        self.plic.lock().unwrap_or_else(|p| p.into_inner()).set_input(self.source, level);
    }
}

/// A line driving PLIC input `source`, for a device's interrupt output.
///
/// Setting the line locks the PLIC, so a device may set it while holding its own lock (the PLIC
/// never calls back into devices).
pub fn input_line(plic: &Arc<Mutex<Plic>>, source: u32) -> IrqLine {
    IrqLine::new(Arc::new(PlicInput { plic: plic.clone(), source }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::PendingBits;

    fn w(p: &Arc<Mutex<Plic>>, off: u64, v: u32) {
        p.lock().unwrap().write(off, &v.to_le_bytes());
    }
    fn r(p: &Arc<Mutex<Plic>>, off: u64) -> u32 {
        let mut b = [0u8; 4];
        p.lock().unwrap().read(off, &mut b);
        u32::from_le_bytes(b)
    }
    const CLAIM0: u64 = CONTEXT_BASE + 4;
    const CLAIM1: u64 = CONTEXT_BASE + CONTEXT_STRIDE + 4;

    /// One hart: context 0 drives bit 11 (MEIP), context 1 bit 9 (SEIP).
    fn setup() -> (Arc<Mutex<Plic>>, Arc<PendingBits>) {
        let bits = PendingBits::new();
        let plic = Arc::new(Mutex::new(Plic::new(VIRT_NUM_SOURCES, vec![bits.line(11), bits.line(9)])));
        (plic, bits)
    }

    #[test]
    fn claim_complete_level_cycle() {
        let (p, bits) = setup();
        let l10 = input_line(&p, 10);
        w(&p, 4 * 10, 1);
        w(&p, ENABLE_BASE, 1 << 10);
        l10.raise();
        assert_eq!(bits.get(), 1 << 11);
        assert_eq!(r(&p, PENDING_BASE), 1 << 10);
        assert_eq!(r(&p, CLAIM0), 10);
        assert_eq!(bits.get(), 0, "a claimed source no longer drives the output");
        assert_eq!(r(&p, PENDING_BASE), 0, "claim clears pending");
        assert_eq!(r(&p, CLAIM0), 0, "nothing else to claim");
        // The level stays high: completing re-pends the source through the gateway.
        w(&p, CLAIM0, 10);
        assert_eq!(bits.get(), 1 << 11);
        assert_eq!(r(&p, CLAIM0), 10);
        l10.lower();
        w(&p, CLAIM0, 10);
        assert_eq!(bits.get(), 0, "a low level after completion leaves nothing pending");
        assert_eq!(r(&p, PENDING_BASE), 0);
    }

    #[test]
    fn priority_threshold_and_ties() {
        let (p, bits) = setup();
        for s in [3, 5, 7] {
            input_line(&p, s).raise();
        }
        w(&p, ENABLE_BASE, (1 << 3) | (1 << 5) | (1 << 7));
        assert_eq!(bits.get(), 0, "priority 0 never interrupts");
        w(&p, 4 * 3, 2);
        w(&p, 4 * 5, 2);
        w(&p, 4 * 7, 1);
        assert_eq!(bits.get(), 1 << 11);
        w(&p, CONTEXT_BASE, 2);
        assert_eq!(r(&p, CONTEXT_BASE), 2);
        assert_eq!(bits.get(), 0, "priority must exceed the threshold");
        w(&p, CONTEXT_BASE, 1);
        assert_eq!(r(&p, CLAIM0), 3, "equal priorities: lowest id first");
        assert_eq!(r(&p, CLAIM0), 5);
        assert_eq!(bits.get(), 0, "source 7 (priority 1) is not above threshold 1");
        w(&p, CONTEXT_BASE, 0);
        assert_eq!(r(&p, CLAIM0), 7);
        // Priorities are 3 bits wide; source 0's is hardwired.
        w(&p, 4 * 3, 0xff);
        assert_eq!(r(&p, 4 * 3), 7);
        w(&p, 0, 5);
        assert_eq!(r(&p, 0), 0);
    }

    #[test]
    fn higher_priority_wins_over_lower_id() {
        let (p, _bits) = setup();
        input_line(&p, 1).raise();
        input_line(&p, 40).raise();
        w(&p, 4, 1);
        w(&p, 4 * 40, 6);
        w(&p, ENABLE_BASE, 1 << 1);
        w(&p, ENABLE_BASE + 4, 1 << 8);
        assert_eq!(r(&p, ENABLE_BASE + 4), 1 << 8);
        assert_eq!(r(&p, PENDING_BASE + 4), 1 << 8);
        assert_eq!(r(&p, CLAIM0), 40);
        assert_eq!(r(&p, CLAIM0), 1);
    }

    #[test]
    fn contexts_are_independent() {
        let (p, bits) = setup();
        input_line(&p, 2).raise();
        w(&p, 8, 1);
        w(&p, ENABLE_BASE + ENABLE_STRIDE, 1 << 2);
        assert_eq!(bits.get(), 1 << 9, "only the S context has it enabled");
        assert_eq!(r(&p, CLAIM0), 0);
        // Completing from a context that does not enable the source is ignored.
        assert_eq!(r(&p, CLAIM1), 2);
        w(&p, CLAIM0, 2);
        assert_eq!(bits.get(), 0, "still in flight");
        w(&p, CLAIM1, 2);
        assert_eq!(bits.get(), 1 << 9);
    }

    #[test]
    fn level_dropping_before_claim_withdraws_request() {
        let (p, bits) = setup();
        let l = input_line(&p, 4);
        w(&p, 16, 1);
        w(&p, ENABLE_BASE, 1 << 4);
        l.raise();
        l.lower();
        assert_eq!(bits.get(), 0);
        assert_eq!(r(&p, CLAIM0), 0);
        // While in flight, a toggling level does not re-pend until completion.
        l.raise();
        assert_eq!(r(&p, CLAIM0), 4);
        l.lower();
        l.raise();
        assert_eq!(r(&p, PENDING_BASE), 0);
        w(&p, CLAIM0, 4);
        assert_eq!(r(&p, PENDING_BASE), 1 << 4);
    }

    #[test]
    fn guest_errors_do_not_panic() {
        let (p, bits) = setup();
        w(&p, ENABLE_BASE, u32::MAX);
        assert_eq!(r(&p, ENABLE_BASE) & 1, 0, "source 0 cannot be enabled");
        w(&p, ENABLE_BASE + 8, u32::MAX);
        assert_eq!(r(&p, ENABLE_BASE + 8), u32::MAX, "sources 64..95 exist");
        w(&p, ENABLE_BASE + 12, u32::MAX);
        assert_eq!(r(&p, ENABLE_BASE + 12), 0, "sources 96..127 do not exist");
        w(&p, ENABLE_BASE + 0x7c, u32::MAX);
        w(&p, ENABLE_BASE + 2 * ENABLE_STRIDE, u32::MAX);
        assert_eq!(r(&p, ENABLE_BASE + 2 * ENABLE_STRIDE), 0);
        w(&p, PENDING_BASE, u32::MAX);
        assert_eq!(r(&p, PENDING_BASE), 0);
        w(&p, CLAIM0, 0);
        w(&p, CLAIM0, 5000);
        w(&p, CONTEXT_BASE + 5 * CONTEXT_STRIDE, 1);
        assert_eq!(r(&p, CONTEXT_BASE + 5 * CONTEXT_STRIDE + 4), 0);
        assert_eq!(r(&p, 0x1f_fffc), 0);
        p.lock().unwrap().set_input(0, true);
        p.lock().unwrap().set_input(500, true);
        assert_eq!(bits.get(), 0);
        assert_eq!(p.lock().unwrap().window_size(), 0x20_2000);
    }

    #[test]
    fn device_line_through_plic() {
        use crate::devices::uart16550::Uart16550;
        let (p, bits) = setup();
        let uart = crate::device::shared(Uart16550::new(Box::new(std::io::sink()), input_line(&p, 10)));
        w(&p, 4 * 10, 1);
        w(&p, ENABLE_BASE + ENABLE_STRIDE, 1 << 10);
        uart.lock().unwrap().write(1, &[1]); // IER: received data available
        assert_eq!(uart.lock().unwrap().enqueue_input(b"k"), 1);
        assert_eq!(bits.get(), 1 << 9, "UART interrupt reaches the S-mode context");
        assert_eq!(r(&p, CLAIM1), 10);
        let mut b = [0u8];
        uart.lock().unwrap().read(0, &mut b);
        assert_eq!(b, [b'k']);
        w(&p, CLAIM1, 10);
        assert_eq!(bits.get(), 0, "the UART lowered its line, so completion leaves nothing pending");
    }
}
