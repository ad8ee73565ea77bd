//! The machine's virtual clock: a monotonic tick count at a fixed frequency (RISC-V `mtime` runs at
//! 10 MHz on QEMU's `virt` and `spike`), derived from host time since the machine started.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Shared (via `Arc`) by the timer device and every CPU's `time` CSR so both read the same value.
#[derive(Debug)]
pub struct Clock {
    start: Instant,
    freq_hz: u64,
    /// Added to the elapsed ticks; lets the guest write `mtime`.
    offset: AtomicU64,
}

impl Clock {
    pub fn new(freq_hz: u64) -> Self {
        Self { start: Instant::now(), freq_hz, offset: AtomicU64::new(0) }
    }

    /// Make [`Self::ticks`] read `value` now.
    pub fn set_ticks(&self, value: u64) {
        let raw = self.raw_ticks();
        self.offset.store(value.wrapping_sub(raw), Ordering::Release);
    }

    fn raw_ticks(&self) -> u64 {
        let ns = self.start.elapsed().as_nanos();
        (ns * self.freq_hz as u128 / 1_000_000_000) as u64
    }

    pub fn freq_hz(&self) -> u64 {
        self.freq_hz
    }

    /// Ticks since the machine started.
    pub fn ticks(&self) -> u64 {
        self.raw_ticks().wrapping_add(self.offset.load(Ordering::Acquire))
    }

    /// Host nanoseconds until `ticks` is reached (0 if already past).
    pub fn ns_until(&self, ticks: u64) -> u64 {
        let now = self.ticks();
        if ticks <= now {
            return 0;
        }
        ((ticks - now) as u128 * 1_000_000_000 / self.freq_hz as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_advance_monotonically() {
        let c = Clock::new(10_000_000);
        let a = c.ticks();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.ticks();
        assert!(b > a + 10_000, "{a} {b}");
        assert_eq!(c.ns_until(0), 0);
        c.set_ticks(1 << 40);
        assert!(c.ticks() >= 1 << 40 && c.ticks() < (1 << 40) + 10_000_000);
    }
}
