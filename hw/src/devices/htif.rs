//! HTIF, the Berkeley host-target interface used by `spike` and riscv-tests: the guest writes
//! commands to `tohost` and reads answers from `fromhost`, two 64-bit words whose addresses come
//! from the guest ELF's symbols.
//!
//! A command is `device << 56 | cmd << 48 | payload`. Supported, as on QEMU's `spike`:
//! device 0 cmd 0 with payload bit 0 set ends the simulation with status `payload >> 1`;
//! device 1 (console) cmd 1 writes the byte `payload & 0xff`, cmd 0 reads one (non-blocking).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use crate::device::{read_from_u64, read_le, write_into_u64, AccessSizes, Device};
use crate::power::{PowerControl, PowerEvent};

pub struct Htif {
    tohost_offset: u64,
    fromhost_offset: u64,
    tohost: u64,
    fromhost: u64,
    console: Box<dyn Write + Send>,
    input: VecDeque<u8>,
    power: Arc<PowerControl>,
}

impl Htif {
    /// `tohost_offset`/`fromhost_offset` are the words' offsets inside the window the machine maps
    /// (which starts at the lower of the two addresses and is [`Htif::window_size`] long).
    pub fn new(tohost: u64, fromhost: u64, console: Box<dyn Write + Send>, power: Arc<PowerControl>) -> Self {
        let base = tohost.min(fromhost);
        Self { tohost_offset: tohost - base, fromhost_offset: fromhost - base, tohost: 0, fromhost: 0, console, input: VecDeque::new(), power }
    }

    /// None if the words are so far apart that the size does not fit in 64 bits.
    pub fn window_size(tohost: u64, fromhost: u64) -> Option<u64> {
        tohost.abs_diff(fromhost).checked_add(8)
    }

    /// Queue console input for the guest's getchar command.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend(bytes);
    }

    fn command(&mut self, value: u64) {
        let device = value >> 56;
        let cmd = (value >> 48) & 0xff;
        let payload = value & 0xffff_ffff_ffff;
        match (device, cmd) {
            (0, 0) if payload & 1 == 1 => {
                let code = (payload >> 1) as i32;
                self.power.request(PowerEvent::Shutdown { exit_code: code });
            }
            (0, _) => log::warn!("guest error: HTIF syscall proxy (payload {payload:#x}) is not supported"),
            (1, 1) => {
                let _ = self.console.write_all(&[payload as u8]);
                let _ = self.console.flush();
                self.fromhost = (1 << 56) | (1 << 48);
            }
            (1, 0) => {
                // Spike answers getchar with the byte plus one, or 0 when there is none.
                let c = self.input.pop_front().map_or(0, |b| b as u64 + 1);
                self.fromhost = (1 << 56) | c;
            }
            _ => log::warn!("guest error: unknown HTIF command device {device} cmd {cmd}"),
        }
        self.tohost = 0;
    }
}

impl Device for Htif {
    fn name(&self) -> &str {
        "htif"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B4_B8
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let word = offset & !7;
        let value = if word == self.tohost_offset {
            self.tohost
        } else if word == self.fromhost_offset {
            self.fromhost
        } else {
            0
        };
        read_from_u64(value, offset, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let word = offset & !7;
        if word == self.tohost_offset {
            // A 32-bit guest writes the low half first; the command runs on the write that
            // completes the word (the high half, or a full 64-bit store).
            self.tohost = write_into_u64(self.tohost, offset, data);
            if data.len() == 8 || offset & 4 == 4 {
                let value = self.tohost;
                if value != 0 {
                    self.command(value);
                }
            }
        } else if word == self.fromhost_offset {
            self.fromhost = write_into_u64(self.fromhost, offset, data);
        } else {
            log::debug!("HTIF: write of {:#x} to unused offset {offset:#x}", read_le(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sink = crate::chardev::BufferWriter;

    #[test]
    fn exit_and_console() {
        let power = Arc::new(PowerControl::new());
        let sink = Sink::default();
        let mut h = Htif::new(0x1000, 0x1040, Box::new(sink.clone()), power.clone());
        assert_eq!(Htif::window_size(0x1000, 0x1040), Some(0x48));
        assert_eq!(Htif::window_size(0, u64::MAX), None);
        h.write(0, &((1u64 << 56) | (1 << 48) | b'A' as u64).to_le_bytes());
        assert_eq!(sink.contents(), b"A");
        let mut f = [0u8; 8];
        h.read(0x40, &mut f);
        assert_eq!(u64::from_le_bytes(f), (1 << 56) | (1 << 48));
        let mut t = [0u8; 8];
        h.read(0, &mut t);
        assert_eq!(t, [0; 8], "tohost is cleared once the command is taken");
        assert!(!power.is_pending());
        // Two 32-bit halves: exit with status 21.
        h.write(0, &((21u32 << 1) | 1).to_le_bytes());
        assert!(!power.is_pending());
        h.write(4, &0u32.to_le_bytes());
        assert_eq!(power.take(), Some(PowerEvent::Shutdown { exit_code: 21 }));
    }
}
