//! A bus: non-overlapping windows, each owned by one device, with access-size validation.
//!
//! Used for MMIO inside an [`crate::AddressSpace`] and on its own for x86 port I/O. Lookup is a
//! `BTreeMap` range query (O(log n)); the hot path for guest RAM never comes here.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::device::{Device, SharedDevice};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BusError {
    #[error("window {base:#x}+{size:#x} for '{name}' overlaps '{other}' at {other_base:#x}")]
    Overlap { name: String, base: u64, size: u64, other: String, other_base: u64 },
    #[error("window for '{name}' at {base:#x} has size zero or wraps the address space")]
    BadWindow { name: String, base: u64 },
    #[error("no device at {addr:#x}")]
    Unmapped { addr: u64 },
    #[error("{len}-byte access at {addr:#x} not supported by '{name}'")]
    BadAccessSize { name: String, addr: u64, len: usize },
    #[error("{len}-byte access at {addr:#x} crosses the end of '{name}'")]
    CrossesWindow { name: String, addr: u64, len: usize },
}

struct Window {
    size: u64,
    name: String,
    dev: SharedDevice,
}

/// Non-overlapping device windows.
#[derive(Default)]
pub struct Bus {
    windows: BTreeMap<u64, Window>,
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Map `dev` at `[base, base + size)`. Overlapping windows are refused.
    pub fn insert(&mut self, base: u64, size: u64, dev: SharedDevice) -> Result<(), BusError> {
        let name = dev.lock().map(|d| d.name().to_string()).unwrap_or_else(|_| "?".into());
        let end = base.checked_add(size).filter(|_| size > 0).ok_or(BusError::BadWindow { name: name.clone(), base })?;
        // The window starting at or below `end - 1` with the greatest base is the only candidate
        // for an overlap from below; the one at or above `base` with the smallest base from above.
        if let Some((&obase, w)) = self.windows.range(..end).next_back() {
            if obase + w.size > base {
                return Err(BusError::Overlap { name, base, size, other: w.name.clone(), other_base: obase });
            }
        }
        self.windows.insert(base, Window { size, name, dev });
        Ok(())
    }

    /// The window containing `addr`: `(base, size, device)`.
    pub fn find(&self, addr: u64) -> Option<(u64, u64, &SharedDevice)> {
        let (&base, w) = self.windows.range(..=addr).next_back()?;
        (addr - base < w.size).then_some((base, w.size, &w.dev))
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.find(addr).is_some()
    }

    /// Find the window for an access of `len` bytes at `addr`, validate it, and hand the locked
    /// device and the offset to `access` (one lock per access).
    fn with_device<R>(&self, addr: u64, len: usize, access: impl FnOnce(&mut dyn Device, u64) -> R) -> Result<R, BusError> {
        let (base, size, dev) = self.find(addr).ok_or(BusError::Unmapped { addr })?;
        let offset = addr - base;
        let mut guard = dev.lock().unwrap_or_else(|p| p.into_inner());
        if !guard.access_sizes().allows(len) {
            return Err(BusError::BadAccessSize { name: guard.name().to_string(), addr, len });
        }
        if offset + len as u64 > size {
            return Err(BusError::CrossesWindow { name: guard.name().to_string(), addr, len });
        }
        Ok(access(&mut *guard, offset))
    }

    pub fn read(&self, addr: u64, data: &mut [u8]) -> Result<(), BusError> {
        self.with_device(addr, data.len(), |dev, offset| dev.read(offset, data))
    }

    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), BusError> {
        self.with_device(addr, data.len(), |dev, offset| dev.write(offset, data))
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// `(base, size, name)` of every window, in address order (for `info mtree`-like dumps).
    pub fn windows(&self) -> impl Iterator<Item = (u64, u64, &str)> {
        self.windows.iter().map(|(&b, w)| (b, w.size, w.name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{shared, AccessSizes, Device};

    struct Reg {
        value: u32,
    }
    impl Device for Reg {
        fn name(&self) -> &str {
            "reg"
        }
        fn access_sizes(&self) -> AccessSizes {
            AccessSizes::B4
        }
        fn read(&mut self, _offset: u64, data: &mut [u8]) {
            data.copy_from_slice(&self.value.to_le_bytes());
        }
        fn write(&mut self, _offset: u64, data: &[u8]) {
            self.value = u32::from_le_bytes(data.try_into().unwrap());
        }
    }

    #[test]
    fn rejects_overlaps_from_both_sides() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x100, shared(Reg { value: 0 })).unwrap();
        assert!(matches!(bus.insert(0x10ff, 0x10, shared(Reg { value: 0 })), Err(BusError::Overlap { .. })));
        assert!(matches!(bus.insert(0xf00, 0x101, shared(Reg { value: 0 })), Err(BusError::Overlap { .. })));
        assert!(matches!(bus.insert(0x0, 0x10000, shared(Reg { value: 0 })), Err(BusError::Overlap { .. })));
        bus.insert(0x1100, 0x10, shared(Reg { value: 0 })).unwrap();
        bus.insert(0xf00, 0x100, shared(Reg { value: 0 })).unwrap();
        assert!(matches!(bus.insert(u64::MAX, 2, shared(Reg { value: 0 })), Err(BusError::BadWindow { .. })));
        assert!(matches!(bus.insert(0x5000, 0, shared(Reg { value: 0 })), Err(BusError::BadWindow { .. })));
    }

    #[test]
    fn validates_access_size_and_window_end() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x8, shared(Reg { value: 7 })).unwrap();
        let mut four = [0u8; 4];
        bus.read(0x1000, &mut four).unwrap();
        assert_eq!(u32::from_le_bytes(four), 7);
        let mut eight = [0u8; 8];
        assert!(matches!(bus.read(0x1000, &mut eight), Err(BusError::BadAccessSize { .. })));
        assert!(matches!(bus.read(0x1006, &mut four), Err(BusError::CrossesWindow { .. })));
        assert!(matches!(bus.write(0x2000, &four), Err(BusError::Unmapped { .. })));
        bus.write(0x1000, &9u32.to_le_bytes()).unwrap();
        bus.read(0x1000, &mut four).unwrap();
        assert_eq!(u32::from_le_bytes(four), 9);
    }
}
