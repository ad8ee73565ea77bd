//! The one device interface: register reads and writes at an offset inside the device's window.
//!
//! A device sees only `offset` (relative to where the machine mapped it) and a byte buffer whose
//! length is the access size; it never sees the accelerator, the guest address, or the bus. Its
//! register logic is therefore testable on its own, and the same object serves TCG and KVM.

use std::sync::{Arc, Mutex};

/// The access sizes (in bytes) a device accepts, as a bit set: bit `n` set means `1 << n` bytes.
/// The bus rejects other sizes before the device is called, so register logic can assume them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessSizes(u8);

impl AccessSizes {
    pub const B1: Self = Self(1);
    pub const B2: Self = Self(2);
    pub const B4: Self = Self(4);
    pub const B8: Self = Self(8);
    pub const ALL: Self = Self(0xf);
    pub const B4_B8: Self = Self(4 | 8);

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Does this set contain an access of `len` bytes?
    pub fn allows(self, len: usize) -> bool {
        matches!(len, 1 | 2 | 4 | 8) && (self.0 & (len as u8)) != 0
    }
}

/// A memory-mapped or port-mapped device.
///
/// `data.len()` is always one of the sizes in [`Device::access_sizes`], and `offset + data.len()`
/// never exceeds the size the device was mapped with. Multi-byte values are little-endian in
/// `data`. A guest that misprograms a device must get the device's defined behaviour or a
/// `log::warn!` guest-error line, never a panic.
pub trait Device: Send {
    /// A short name for logs and `info mtree`-style dumps.
    fn name(&self) -> &str;

    /// Which access sizes the device decodes.
    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::ALL
    }

    fn read(&mut self, offset: u64, data: &mut [u8]);
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// Devices are shared between the address space (dispatch) and the machine (wiring, reset).
pub type SharedDevice = Arc<Mutex<dyn Device>>;

/// Wrap a device for mapping.
pub fn shared<D: Device + 'static>(dev: D) -> Arc<Mutex<D>> {
    Arc::new(Mutex::new(dev))
}

/// Little-endian helpers for register files: devices keep their registers as integers.
pub fn read_le(data: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = data.len().min(8);
    buf[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(buf)
}

pub fn write_le(data: &mut [u8], value: u64) {
    let n = data.len().min(8);
    data[..n].copy_from_slice(&value.to_le_bytes()[..n]);
}

/// Read an access of `data.len()` bytes at byte `offset` out of a 64-bit register image, so a
/// device can expose 64-bit registers to 4- and 8-byte accesses with one piece of code.
pub fn read_from_u64(reg: u64, offset_in_reg: u64, data: &mut [u8]) {
    let shifted = reg >> (8 * (offset_in_reg & 7));
    write_le(data, shifted);
}

/// Merge a write of `data` at byte `offset_in_reg` into a 64-bit register image.
pub fn write_into_u64(reg: u64, offset_in_reg: u64, data: &[u8]) -> u64 {
    let shift = 8 * (offset_in_reg & 7);
    let bits = 8 * data.len() as u64;
    let mask = if bits >= 64 { u64::MAX } else { ((1u64 << bits) - 1) << shift };
    (reg & !mask) | ((read_le(data) << shift) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_sizes() {
        assert!(AccessSizes::ALL.allows(8));
        assert!(!AccessSizes::B4.allows(8));
        assert!(!AccessSizes::ALL.allows(3));
        assert!(AccessSizes::B4_B8.allows(4));
        assert!(!AccessSizes::B4_B8.allows(2));
    }

    #[test]
    fn u64_register_halves() {
        let reg = 0x1122_3344_5566_7788u64;
        let mut lo = [0u8; 4];
        read_from_u64(reg, 0, &mut lo);
        assert_eq!(u32::from_le_bytes(lo), 0x5566_7788);
        let mut hi = [0u8; 4];
        read_from_u64(reg, 4, &mut hi);
        assert_eq!(u32::from_le_bytes(hi), 0x1122_3344);
        let r = write_into_u64(reg, 4, &0xdead_beefu32.to_le_bytes());
        assert_eq!(r, 0xdead_beef_5566_7788);
        let r = write_into_u64(reg, 0, &u64::MAX.to_le_bytes());
        assert_eq!(r, u64::MAX);
    }
}
