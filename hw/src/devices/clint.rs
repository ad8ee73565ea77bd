//! CLINT (SiFive core-local interruptor, as on QEMU's `spike` and `virt`): per-hart software
//! interrupt (`msip`) and timer compare (`mtimecmp`) registers and the shared `mtime` counter.
//!
//! Layout: `msip[h]` at `4*h`, `mtimecmp[h]` at `0x4000 + 8*h`, `mtime` at `0xbff8`.
//! The timer interrupt is a level, `mtime >= mtimecmp`; time passes without register accesses, so
//! the machine calls [`Clint::poll`] when the run loop regains control, and
//! [`Clint::next_deadline_ns`] tells it when that must happen at the latest.

use std::sync::Arc;

use crate::clock::Clock;
use crate::device::{read_from_u64, write_into_u64, AccessSizes, Device};
use crate::irq::IrqLine;

pub const CLINT_SIZE: u64 = 0x10000;
const MTIMECMP: u64 = 0x4000;
const MTIME: u64 = 0xbff8;

pub struct Clint {
    clock: Arc<Clock>,
    msip: Vec<bool>,
    mtimecmp: Vec<u64>,
    msip_lines: Vec<IrqLine>,
    mtip_lines: Vec<IrqLine>,
}

impl Clint {
    /// One `(msip, mtip)` line pair per hart.
    pub fn new(clock: Arc<Clock>, lines: Vec<(IrqLine, IrqLine)>) -> Self {
        let harts = lines.len();
        let (msip_lines, mtip_lines) = lines.into_iter().unzip();
        Self { clock, msip: vec![false; harts], mtimecmp: vec![u64::MAX; harts], msip_lines, mtip_lines }
    }

    /// Re-evaluate every hart's timer interrupt level against the current time.
    pub fn poll(&mut self) {
        let now = self.clock.ticks();
        for (cmp, line) in self.mtimecmp.iter().zip(&self.mtip_lines) {
            line.set(now >= *cmp);
        }
    }

    /// Host nanoseconds until the next timer interrupt becomes due (None: none armed).
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.mtimecmp.iter().filter(|&&c| c != u64::MAX).map(|&c| self.clock.ns_until(c)).min()
    }
}

impl Device for Clint {
    fn name(&self) -> &str {
        "clint"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B4_B8
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let harts = self.msip.len() as u64;
        let value = match offset {
            o if o < 4 * harts => self.msip[(o / 4) as usize] as u64,
            o if (MTIMECMP..MTIMECMP + 8 * harts).contains(&o) => {
                read_from_u64(self.mtimecmp[((o - MTIMECMP) / 8) as usize], o, data);
                return;
            }
            o if o >= MTIME => {
                read_from_u64(self.clock.ticks(), o, data);
                return;
            }
            o => {
                log::warn!("guest error: CLINT read at unmapped offset {o:#x}");
                0
            }
        };
        read_from_u64(value, 0, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let harts = self.msip.len() as u64;
        match offset {
            o if o < 4 * harts => {
                let h = (o / 4) as usize;
                self.msip[h] = data[0] & 1 == 1;
                self.msip_lines[h].set(self.msip[h]);
            }
            o if (MTIMECMP..MTIMECMP + 8 * harts).contains(&o) => {
                let h = ((o - MTIMECMP) / 8) as usize;
                self.mtimecmp[h] = write_into_u64(self.mtimecmp[h], o, data);
                self.poll();
            }
            o if o >= MTIME => {
                let t = write_into_u64(self.clock.ticks(), o, data);
                self.clock.set_ticks(t);
                self.poll();
            }
            o => log::warn!("guest error: CLINT write at unmapped offset {o:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::PendingBits;

    #[test]
    fn msip_and_timer_levels() {
        let clock = Arc::new(Clock::new(10_000_000));
        let bits = PendingBits::new();
        let mut c = Clint::new(clock.clone(), vec![(bits.line(3), bits.line(7))]);
        c.write(0, &1u32.to_le_bytes());
        assert_eq!(bits.get(), 1 << 3);
        c.write(0, &0u32.to_le_bytes());
        assert_eq!(bits.get(), 0);
        assert_eq!(c.next_deadline_ns(), None);
        // Timer in the past fires at once; split 32-bit writes of mtimecmp work.
        c.write(MTIMECMP, &0u32.to_le_bytes());
        c.write(MTIMECMP + 4, &0u32.to_le_bytes());
        assert_eq!(bits.get(), 1 << 7);
        c.write(MTIMECMP, &u64::MAX.to_le_bytes());
        assert_eq!(bits.get(), 0);
        let mut t = [0u8; 8];
        c.read(MTIME, &mut t);
        let now = u64::from_le_bytes(t);
        c.write(MTIMECMP, &(now + 1_000_000).to_le_bytes());
        assert!(c.next_deadline_ns().unwrap() > 50_000_000);
        c.write(MTIME, &(now + 2_000_000).to_le_bytes());
        assert_eq!(bits.get(), 1 << 7, "writing mtime past mtimecmp raises the timer");
    }
}
