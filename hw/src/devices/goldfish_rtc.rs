//! Goldfish RTC (`google,goldfish-rtc` on QEMU's `virt`): nanoseconds since the Unix epoch from the
//! host wall clock, plus a one-shot alarm with an interrupt.
//!
//! Reading `TIME_LOW` samples the clock and latches the high half, which the following
//! `TIME_HIGH` read returns, so a 32-bit guest reads a consistent 64-bit time. Writes to the time
//! registers move the guest's clock by an offset (the host clock is never touched). Time passes
//! without register accesses, so like the CLINT the machine calls [`GoldfishRtc::poll`] when the
//! run loop regains control, no later than [`GoldfishRtc::next_deadline_ns`] says.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::device::{read_le, write_le, AccessSizes, Device};
use crate::irq::IrqLine;

/// Size of the window on `virt`.
pub const GOLDFISH_RTC_SIZE: u64 = 0x1000;

const TIME_LOW: u64 = 0x00;
const TIME_HIGH: u64 = 0x04;
const ALARM_LOW: u64 = 0x08;
const ALARM_HIGH: u64 = 0x0c;
const IRQ_ENABLED: u64 = 0x10;
const CLEAR_ALARM: u64 = 0x14;
const ALARM_STATUS: u64 = 0x18;
const CLEAR_INTERRUPT: u64 = 0x1c;

/// Host nanoseconds since the Unix epoch; injectable so tests control time.
pub type TimeSource = Box<dyn Fn() -> u64 + Send>;

fn host_wall_clock_ns() -> u64 {
    // A host clock before 1970 is a host misconfiguration; read it as the epoch.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

pub struct GoldfishRtc {
    now: TimeSource,
    /// Added to host time to give guest time.
    offset: u64,
    time_high_latch: u32,
    alarm_high: u32,
    alarm: Option<u64>,
    irq_enabled: bool,
    irq_pending: bool,
    irq: IrqLine,
}

impl GoldfishRtc {
    pub fn new(irq: IrqLine) -> Self {
        Self::with_time_source(irq, Box::new(host_wall_clock_ns))
    }

    pub fn with_time_source(irq: IrqLine, now: TimeSource) -> Self {
        Self {
            now,
            offset: 0,
            time_high_latch: 0,
            alarm_high: 0,
            alarm: None,
            irq_enabled: false,
            irq_pending: false,
            irq,
        }
    }

    fn guest_ns(&self) -> u64 {
        (self.now)().wrapping_add(self.offset)
    }

    fn set_guest_ns(&mut self, value: u64) {
        self.offset = value.wrapping_sub((self.now)());
    }

    /// Fire the alarm if its time has come, and drive the interrupt line.
    pub fn poll(&mut self) {
        if let Some(at) = self.alarm {
            if self.guest_ns() >= at {
                self.alarm = None;
                self.irq_pending = true;
            }
        }
        self.irq.set(self.irq_pending && self.irq_enabled);
    }

    /// Host nanoseconds until the armed alarm is due (None: no alarm).
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.alarm.map(|at| at.saturating_sub(self.guest_ns()))
    }

    fn read32(&mut self, offset: u64) -> u32 {
        match offset {
            TIME_LOW => {
                let t = self.guest_ns();
                self.time_high_latch = (t >> 32) as u32;
                t as u32
            }
            TIME_HIGH => self.time_high_latch,
            ALARM_LOW => self.alarm.unwrap_or(0) as u32,
            ALARM_HIGH => self.alarm_high,
            IRQ_ENABLED => self.irq_enabled as u32,
            ALARM_STATUS => self.alarm.is_some() as u32,
            o => {
                log::warn!("guest error: goldfish_rtc read at offset {o:#x}");
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, value: u32) {
        match offset {
            TIME_LOW => {
                let t = self.guest_ns();
                self.set_guest_ns((t & !0xffff_ffff) | value as u64);
            }
            TIME_HIGH => {
                let t = self.guest_ns();
                self.set_guest_ns((t & 0xffff_ffff) | (value as u64) << 32);
            }
            ALARM_HIGH => self.alarm_high = value,
            // Writing the low half arms the alarm, as on QEMU (Linux writes high, then low).
            ALARM_LOW => self.alarm = Some((self.alarm_high as u64) << 32 | value as u64),
            IRQ_ENABLED => self.irq_enabled = value & 1 != 0,
            CLEAR_ALARM => self.alarm = None,
            CLEAR_INTERRUPT => self.irq_pending = false,
            o => log::warn!("guest error: goldfish_rtc write of {value:#x} at offset {o:#x}"),
        }
        self.poll();
    }
}

impl Device for GoldfishRtc {
    fn name(&self) -> &str {
        "goldfish_rtc"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B4
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = self.read32(offset);
        write_le(data, v as u64);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.write32(offset, read_le(data) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::PendingBits;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn rd(r: &mut GoldfishRtc, off: u64) -> u32 {
        let mut b = [0u8; 4];
        r.read(off, &mut b);
        u32::from_le_bytes(b)
    }
    fn wr(r: &mut GoldfishRtc, off: u64, v: u32) {
        r.write(off, &v.to_le_bytes());
    }

    fn fake() -> (GoldfishRtc, Arc<AtomicU64>, Arc<PendingBits>) {
        let t = Arc::new(AtomicU64::new(0x1_2345_6789));
        let t2 = t.clone();
        let bits = PendingBits::new();
        (GoldfishRtc::with_time_source(bits.line(0), Box::new(move || t2.load(Ordering::SeqCst))), t, bits)
    }

    #[test]
    fn host_wall_clock() {
        let mut r = GoldfishRtc::new(IrqLine::disconnected());
        let lo = rd(&mut r, TIME_LOW) as u64;
        let t = (rd(&mut r, TIME_HIGH) as u64) << 32 | lo;
        let host = host_wall_clock_ns();
        assert!(t <= host && host - t < 10_000_000_000, "{t} vs {host}");
        assert!(t > 1_600_000_000 * 1_000_000_000, "nanoseconds since the epoch");
    }

    #[test]
    fn time_low_latches_high() {
        let (mut r, t, _bits) = fake();
        assert_eq!(rd(&mut r, TIME_LOW), 0x2345_6789);
        t.store(0x2_0000_0000, Ordering::SeqCst);
        assert_eq!(rd(&mut r, TIME_HIGH), 1, "high half is the one latched by the TIME_LOW read");
        assert_eq!(rd(&mut r, TIME_LOW), 0);
        assert_eq!(rd(&mut r, TIME_HIGH), 2);
        // Setting the guest clock moves it by an offset that persists as host time passes.
        wr(&mut r, TIME_HIGH, 7);
        wr(&mut r, TIME_LOW, 5);
        t.fetch_add(10, Ordering::SeqCst);
        assert_eq!(rd(&mut r, TIME_LOW), 15);
        assert_eq!(rd(&mut r, TIME_HIGH), 7);
    }

    #[test]
    fn alarm_fires_and_clears() {
        let (mut r, t, bits) = fake();
        let now = t.load(Ordering::SeqCst);
        wr(&mut r, IRQ_ENABLED, 1);
        wr(&mut r, ALARM_HIGH, ((now + 1000) >> 32) as u32);
        wr(&mut r, ALARM_LOW, (now + 1000) as u32);
        assert_eq!(rd(&mut r, ALARM_STATUS), 1);
        assert_eq!(r.next_deadline_ns(), Some(1000));
        r.poll();
        assert_eq!(bits.get(), 0);
        t.fetch_add(1000, Ordering::SeqCst);
        r.poll();
        assert_eq!(bits.get(), 1);
        assert_eq!(rd(&mut r, ALARM_STATUS), 0, "one-shot");
        wr(&mut r, CLEAR_INTERRUPT, 1);
        assert_eq!(bits.get(), 0);
        // An alarm in the past fires at once; with interrupts disabled the line stays low.
        wr(&mut r, IRQ_ENABLED, 0);
        wr(&mut r, ALARM_LOW, 0);
        assert_eq!(bits.get(), 0);
        wr(&mut r, IRQ_ENABLED, 1);
        assert_eq!(bits.get(), 1);
        wr(&mut r, CLEAR_INTERRUPT, 1);
        wr(&mut r, ALARM_HIGH, u32::MAX);
        wr(&mut r, ALARM_LOW, 0);
        wr(&mut r, CLEAR_ALARM, 1);
        assert_eq!(r.next_deadline_ns(), None);
        wr(&mut r, 0x40, 1);
        assert_eq!(rd(&mut r, 0x44), 0);
    }
}
