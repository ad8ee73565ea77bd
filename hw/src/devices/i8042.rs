//! The i8042 keyboard controller, as much of it as a PC without a keyboard needs: the status
//! port (never any data), the command port's pulse of the CPU reset line (command 0xFE, the way
//! Linux's `reboot=k` and many bare-metal guests reset the machine), and the data port.
//!
//! Mapped at port 0x60 with size 5: offset 0 is the data port 0x60, offset 4 the status/command
//! port 0x64. Offsets 1-3 (0x61-0x63) belong to other chips; with KVM's in-kernel PIT, port 0x61
//! never reaches here, and elsewhere those offsets read as open bus.

use std::sync::Arc;

use crate::device::{AccessSizes, Device};
use crate::power::{PowerControl, PowerEvent};

pub const I8042_BASE: u64 = 0x60;
pub const I8042_SIZE: u64 = 5;

const DATA: u64 = 0;
const STATUS_COMMAND: u64 = 4;

const CMD_READ_CONFIG: u8 = 0x20;
const CMD_WRITE_CONFIG: u8 = 0x60;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_PULSE_RESET: u8 = 0xfe;

/// Status bits: output buffer full, system flag (POST passed), last write was a command.
const STATUS_OBF: u8 = 0x01;
const STATUS_SYS: u8 = 0x04;
const STATUS_CMD: u8 = 0x08;

pub struct I8042 {
    power: Arc<PowerControl>,
    config: u8,
    status: u8,
    /// A reply waiting in the output buffer.
    output: Option<u8>,
    /// The next data-port write is the configuration byte.
    expect_config: bool,
}

impl I8042 {
    pub fn new(power: Arc<PowerControl>) -> Self {
        Self { power, config: 0, status: STATUS_SYS, output: None, expect_config: false }
    }

    fn reply(&mut self, v: u8) {
        self.output = Some(v);
    }
}

impl Device for I8042 {
    fn name(&self) -> &str {
        "i8042"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B1
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data[0] = match offset {
            DATA => self.output.take().unwrap_or(0),
            STATUS_COMMAND => self.status | if self.output.is_some() { STATUS_OBF } else { 0 },
            _ => 0xff,
        };
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let v = data[0];
        match offset {
            STATUS_COMMAND => {
                self.status |= STATUS_CMD;
                match v {
                    CMD_PULSE_RESET => {
                        log::info!("i8042: reset requested by the guest");
                        self.power.request(PowerEvent::Reset);
                    }
                    CMD_READ_CONFIG => self.reply(self.config),
                    CMD_WRITE_CONFIG => self.expect_config = true,
                    CMD_SELF_TEST => self.reply(0x55),
                    other => log::debug!("i8042: command {other:#x} ignored"),
                }
            }
            DATA => {
                self.status &= !STATUS_CMD;
                if std::mem::take(&mut self.expect_config) {
                    self.config = v;
                } else {
                    log::debug!("i8042: keyboard byte {v:#x} ignored (no keyboard)");
                }
            }
            _ => log::debug!("i8042: write of {v:#x} to offset {offset} ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_fe_resets() {
        let power = Arc::new(PowerControl::new());
        let mut k = I8042::new(power.clone());
        k.write(STATUS_COMMAND, &[0xad]);
        assert!(!power.is_pending());
        k.write(STATUS_COMMAND, &[CMD_PULSE_RESET]);
        assert_eq!(power.take(), Some(PowerEvent::Reset));
    }

    #[test]
    fn status_and_config_byte() {
        let mut k = I8042::new(Arc::new(PowerControl::new()));
        let mut b = [0u8];
        k.read(STATUS_COMMAND, &mut b);
        assert_eq!(b[0] & STATUS_OBF, 0, "nothing to read at power-on");
        k.write(STATUS_COMMAND, &[CMD_WRITE_CONFIG]);
        k.write(DATA, &[0x45]);
        k.write(STATUS_COMMAND, &[CMD_READ_CONFIG]);
        k.read(STATUS_COMMAND, &mut b);
        assert_ne!(b[0] & STATUS_OBF, 0);
        k.read(DATA, &mut b);
        assert_eq!(b[0], 0x45);
        k.write(STATUS_COMMAND, &[CMD_SELF_TEST]);
        k.read(DATA, &mut b);
        assert_eq!(b[0], 0x55);
        k.read(2, &mut b);
        assert_eq!(b[0], 0xff);
    }
}
