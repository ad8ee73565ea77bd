//! SiFive test finisher (`sifive,test0` on QEMU's `virt`): one write-only word the guest uses to
//! power the machine off with a status, or to reset it. OpenSBI and Linux's syscon-poweroff use it.
//!
//! A write's low 16 bits select the action and the high 16 bits carry the failure code:
//! `0x5555` passes (exit 0), `0x3333 | code << 16` fails with `code`, `0x7777` resets.

use std::sync::Arc;

use crate::device::{read_le, AccessSizes, Device};
use crate::power::{PowerControl, PowerEvent};

/// Size of the window on `virt`.
pub const SIFIVE_TEST_SIZE: u64 = 0x1000;

const FINISHER_FAIL: u64 = 0x3333;
const FINISHER_PASS: u64 = 0x5555;
const FINISHER_RESET: u64 = 0x7777;

pub struct SifiveTest {
    power: Arc<PowerControl>,
}

impl SifiveTest {
    pub fn new(power: Arc<PowerControl>) -> Self {
        Self { power }
    }
}

impl Device for SifiveTest {
    fn name(&self) -> &str {
        "sifive_test"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B2.union(AccessSizes::B4)
    }

    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let value = read_le(data);
        if offset != 0 {
            log::warn!("guest error: sifive_test write of {value:#x} at offset {offset:#x}");
            return;
        }
        let code = (value >> 16) as i32;
        match value & 0xffff {
            FINISHER_PASS => self.power.request(PowerEvent::Shutdown { exit_code: 0 }),
            FINISHER_FAIL => self.power.request(PowerEvent::Shutdown { exit_code: code }),
            FINISHER_RESET => self.power.request(PowerEvent::Reset),
            _ => log::warn!("guest error: sifive_test: unknown command {value:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(value: u32) -> Option<PowerEvent> {
        let power = Arc::new(PowerControl::new());
        let mut t = SifiveTest::new(power.clone());
        t.write(0, &value.to_le_bytes());
        power.take()
    }

    #[test]
    fn pass_fail_reset() {
        assert_eq!(run(0x5555), Some(PowerEvent::Shutdown { exit_code: 0 }));
        assert_eq!(run(0x3333 | (42 << 16)), Some(PowerEvent::Shutdown { exit_code: 42 }));
        assert_eq!(run(0x3333 | (0xffff << 16)), Some(PowerEvent::Shutdown { exit_code: 0xffff }));
        assert_eq!(run(0x7777), Some(PowerEvent::Reset));
        assert_eq!(run(0x1234), None);
        assert_eq!(run(0), None);
    }

    #[test]
    fn other_offsets_and_reads_do_nothing() {
        let power = Arc::new(PowerControl::new());
        let mut t = SifiveTest::new(power.clone());
        t.write(4, &0x5555u32.to_le_bytes());
        assert_eq!(power.take(), None);
        let mut b = [0xffu8; 4];
        t.read(0, &mut b);
        assert_eq!(b, [0; 4]);
        t.write(0, &0x5555u16.to_le_bytes());
        assert_eq!(power.take(), Some(PowerEvent::Shutdown { exit_code: 0 }), "16-bit writes work too");
    }
}
