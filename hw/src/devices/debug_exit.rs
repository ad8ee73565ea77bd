//! isa-debug-exit (`-device isa-debug-exit,iobase=0xf4,iosize=0x4`): a port the guest writes a
//! value `v` to, powering the machine off with exit status `(v << 1) | 1` — QEMU's semantics, so
//! test guests and harnesses written for QEMU keep their meaning (an odd status; `v = 0` is 1).

use std::sync::Arc;

use crate::device::{read_le, AccessSizes, Device};
use crate::power::{PowerControl, PowerEvent};

/// QEMU's defaults.
pub const DEBUG_EXIT_IOBASE: u64 = 0xf4;
pub const DEBUG_EXIT_IOSIZE: u64 = 4;

pub struct DebugExit {
    power: Arc<PowerControl>,
}

impl DebugExit {
    pub fn new(power: Arc<PowerControl>) -> Self {
        Self { power }
    }

    /// The process exit status for a written value (wraps like QEMU's `(val << 1) | 1`).
    pub fn exit_code(value: u64) -> i32 {
        ((value as u32) << 1 | 1) as i32
    }
}

impl Device for DebugExit {
    fn name(&self) -> &str {
        "isa-debug-exit"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B1.union(AccessSizes::B2).union(AccessSizes::B4)
    }

    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        // Write-only; QEMU's reads return 0 here.
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) {
        let value = read_le(data);
        log::info!("isa-debug-exit: guest wrote {value:#x}, exit status {}", Self::exit_code(value));
        self.power.request(PowerEvent::Shutdown { exit_code: Self::exit_code(value) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_powers_off_with_qemu_status() {
        let power = Arc::new(PowerControl::new());
        let mut d = DebugExit::new(power.clone());
        let mut r = [0xffu8; 1];
        d.read(0, &mut r);
        assert_eq!(r, [0]);
        assert!(!power.is_pending());
        d.write(0, &[0x21]);
        assert_eq!(power.take(), Some(PowerEvent::Shutdown { exit_code: 0x43 }));
        d.write(0, &0u32.to_le_bytes());
        assert_eq!(power.take(), Some(PowerEvent::Shutdown { exit_code: 1 }));
        assert_eq!(DebugExit::exit_code(0xffff_ffff), -1);
    }
}
