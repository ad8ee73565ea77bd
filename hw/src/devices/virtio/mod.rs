//! virtio over MMIO (virtio 1.x, transport version 2) and the devices behind it: block, entropy
//! and console.
//!
//! Devices reach guest memory only through [`GuestRam`], which refuses anything that is not RAM
//! (never MMIO, never ROM for writes). [`mmio::MmioTransport`] owns a [`VirtioDevice`] and its
//! queues, decodes the register window and turns queue errors into DEVICE_NEEDS_RESET.

use std::sync::{Arc, OnceLock, Weak};

use thiserror::Error;

use crate::address_space::AddressSpace;

pub mod blk;
pub mod console;
pub mod mmio;
pub mod queue;
pub mod rng;

pub use mmio::MmioTransport;
pub use queue::{read_chain, DescChain, Queue, QueueError};

pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

pub const VIRTIO_ID_NET: u32 = 1;
pub const VIRTIO_ID_BLOCK: u32 = 2;
pub const VIRTIO_ID_CONSOLE: u32 = 3;
pub const VIRTIO_ID_RNG: u32 = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DmaError {
    #[error("{len} bytes at {addr:#x} are not guest RAM")]
    OutOfRange { addr: u64, len: u64 },
    #[error("guest RAM is not bound to the device yet")]
    Unbound,
}

/// Device DMA into guest RAM. Implementations refuse (rather than route) anything that is not
/// RAM, so a guest cannot aim a device's DMA at MMIO registers.
pub trait GuestRam: Send + Sync {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError>;
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), DmaError>;
    /// Is `[addr, addr + len)` wholly RAM a device may read and write?
    fn is_ram(&self, addr: u64, len: u64) -> bool;
}

/// Every 4 KiB page of the range is RAM: not ROM, not a hole, not under an MMIO overlay.
/// `AddressSpace::is_memory` checks only the first page for overlays, hence the walk.
fn writable_ram(asp: &AddressSpace, addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else { return false };
    if len == 0 {
        return true;
    }
    if !asp.is_memory(addr, len) {
        return false;
    }
    let mut page = addr & !0xfff;
    while page < end {
        match asp.ram_ref(page.max(addr)) {
            Some(r) if !r.read_only => {}
            _ => return false,
        }
        let Some(next) = page.checked_add(0x1000) else { break };
        page = next;
    }
    true
}

impl GuestRam for AddressSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        if !writable_ram(self, addr, buf.len() as u64) {
            return Err(DmaError::OutOfRange { addr, len: buf.len() as u64 });
        }
        self.read_mem(addr, buf).map_err(|_| DmaError::OutOfRange { addr, len: buf.len() as u64 })
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), DmaError> {
        if !writable_ram(self, addr, buf.len() as u64) {
            return Err(DmaError::OutOfRange { addr, len: buf.len() as u64 });
        }
        AddressSpace::write(self, addr, buf).map_err(|_| DmaError::OutOfRange { addr, len: buf.len() as u64 })
    }

    fn is_ram(&self, addr: u64, len: u64) -> bool {
        writable_ram(self, addr, len)
    }
}

/// Guest RAM bound after the address space is built: the address space owns the transports, so
/// they cannot hold it from the start. Holds a `Weak` so the two do not keep each other alive.
#[derive(Default)]
pub struct LateRam {
    inner: OnceLock<Weak<dyn GuestRam>>,
}

impl LateRam {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Bind once; later calls are ignored.
    pub fn bind(&self, ram: &Arc<dyn GuestRam>) {
        let _ = self.inner.set(Arc::downgrade(ram));
    }

    fn get(&self) -> Result<Arc<dyn GuestRam>, DmaError> {
        self.inner.get().and_then(Weak::upgrade).ok_or(DmaError::Unbound)
    }
}

impl GuestRam for LateRam {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        self.get()?.read(addr, buf)
    }
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), DmaError> {
        self.get()?.write(addr, buf)
    }
    fn is_ram(&self, addr: u64, len: u64) -> bool {
        self.get().is_ok_and(|m| m.is_ram(addr, len))
    }
}

/// A virtio device's side of the transport.
pub trait VirtioDevice: Send {
    fn device_id(&self) -> u32;
    /// Device-specific feature bits; the transport adds VIRTIO_F_VERSION_1.
    fn features(&self) -> u64;
    /// Maximum size of each queue; the slice's length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// Read device configuration space; bytes past its end read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    fn write_config(&mut self, offset: u64, _data: &[u8]) {
        log::warn!("guest error: write to read-only virtio config at {offset:#x}");
    }
    /// Serve available buffers on queue `index`; returns whether any were used. An error makes
    /// the transport set DEVICE_NEEDS_RESET.
    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError>;
    /// The driver reset the device (status 0).
    fn reset(&mut self) {}
}

/// Copy `src` into config-space reads at `offset`, zero past its end.
pub(crate) fn read_config_bytes(src: &[u8], offset: u64, data: &mut [u8]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b = usize::try_from(offset).ok().and_then(|o| o.checked_add(i)).and_then(|o| src.get(o)).copied().unwrap_or(0);
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Guest-side helpers: a RAM-only address space and a minimal driver that programs a
    //! transport through its registers and builds rings in RAM.

    use super::*;
    use crate::address_space::MemRegionSpec;
    use crate::device::Device;
    use crate::irq::PendingBits;

    pub const RAM_BASE: u64 = 0x8000_0000;
    pub const RAM_SIZE: u64 = 0x10_0000;
    pub const DESC: u64 = RAM_BASE;
    pub const AVAIL: u64 = RAM_BASE + 0x1000;
    pub const USED: u64 = RAM_BASE + 0x2000;
    pub const BUF: u64 = RAM_BASE + 0x10_000;
    pub const QSIZE: u16 = 16;

    pub fn ram() -> (Arc<AddressSpace>, Arc<PendingBits>) {
        let asp = AddressSpace::new(&[MemRegionSpec::ram("ram", RAM_BASE, RAM_SIZE)]).unwrap();
        (Arc::new(asp), PendingBits::new())
    }

    pub fn desc_bytes(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
        let mut d = [0u8; 16];
        d[..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..].copy_from_slice(&next.to_le_bytes());
        d
    }

    pub fn put_desc(asp: &AddressSpace, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        asp.write(DESC + 16 * i as u64, &desc_bytes(addr, len, flags, next)).unwrap();
    }

    pub fn wr32<D: VirtioDevice>(t: &mut MmioTransport<D>, off: u64, v: u32) {
        t.write(off, &v.to_le_bytes());
    }
    pub fn rd32<D: VirtioDevice>(t: &mut MmioTransport<D>, off: u64) -> u32 {
        let mut b = [0u8; 4];
        t.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    /// Negotiate features and set up queue `q` at DESC/AVAIL/USED (queue `q` gets its rings
    /// offset by `q * 0x4000`), then DRIVER_OK.
    pub fn bring_up<D: VirtioDevice>(t: &mut MmioTransport<D>, queues: u32) {
        wr32(t, 0x70, 0);
        wr32(t, 0x70, 1 | 2);
        wr32(t, 0x14, 1);
        let hi = rd32(t, 0x10);
        wr32(t, 0x24, 1);
        wr32(t, 0x20, hi);
        wr32(t, 0x14, 0);
        let lo = rd32(t, 0x10);
        wr32(t, 0x24, 0);
        wr32(t, 0x20, lo);
        wr32(t, 0x70, 1 | 2 | 8);
        assert_eq!(rd32(t, 0x70) & 8, 8, "FEATURES_OK accepted");
        for q in 0..queues {
            let off = q as u64 * 0x4000;
            wr32(t, 0x30, q);
            wr32(t, 0x38, QSIZE as u32);
            wr32(t, 0x80, (DESC + off) as u32);
            wr32(t, 0x84, ((DESC + off) >> 32) as u32);
            wr32(t, 0x90, (AVAIL + off) as u32);
            wr32(t, 0x94, 0);
            wr32(t, 0xa0, (USED + off) as u32);
            wr32(t, 0xa4, 0);
            wr32(t, 0x44, 1);
            assert_eq!(rd32(t, 0x44), 1);
        }
        wr32(t, 0x70, 1 | 2 | 8 | 4);
    }

    /// Publish chain `head` on queue `q`'s avail ring (slot = current idx) and notify.
    pub fn publish<D: VirtioDevice>(asp: &AddressSpace, t: &mut MmioTransport<D>, q: u32, head: u16) {
        let avail = AVAIL + q as u64 * 0x4000;
        let mut b = [0u8; 2];
        asp.read_mem(avail + 2, &mut b).unwrap();
        let idx = u16::from_le_bytes(b);
        asp.write(avail + 4 + 2 * (idx % QSIZE) as u64, &head.to_le_bytes()).unwrap();
        asp.write(avail + 2, &idx.wrapping_add(1).to_le_bytes()).unwrap();
        wr32(t, 0x50, q);
    }

    /// The used ring's index and its element `i` (id, len), for queue `q`.
    pub fn used(asp: &AddressSpace, q: u32, i: u16) -> (u16, u32, u32) {
        let used = USED + q as u64 * 0x4000;
        let mut b = [0u8; 8];
        asp.read_mem(used, &mut b[..4]).unwrap();
        let idx = u16::from_le_bytes([b[2], b[3]]);
        asp.read_mem(used + 4 + 8 * (i % QSIZE) as u64, &mut b).unwrap();
        (idx, u32::from_le_bytes(b[..4].try_into().unwrap()), u32::from_le_bytes(b[4..].try_into().unwrap()))
    }

    pub fn put_desc_q(asp: &AddressSpace, q: u32, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        asp.write(DESC + q as u64 * 0x4000 + 16 * i as u64, &desc_bytes(addr, len, flags, next)).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::address_space::MemRegionSpec;
    use crate::device::{shared, Device};

    struct Regs;
    impl Device for Regs {
        fn name(&self) -> &str {
            "regs"
        }
        fn read(&mut self, _offset: u64, data: &mut [u8]) {
            data.fill(0xaa);
        }
        fn write(&mut self, _offset: u64, _data: &[u8]) {
            panic!("DMA reached MMIO");
        }
    }

    #[test]
    fn guest_ram_refuses_mmio_rom_and_holes() {
        let mut asp = AddressSpace::new(&[
            MemRegionSpec::rom("rom", 0x1000, 0x1000),
            MemRegionSpec::ram("ram", RAM_BASE, 0x4000),
        ])
        .unwrap();
        asp.add_mmio(0x1000_0000, 0x100, shared(Regs)).unwrap();
        asp.add_mmio_overlay(RAM_BASE + 0x2000, 0x10, shared(Regs)).unwrap();
        let mem: &dyn GuestRam = &asp;
        let mut b = [0u8; 4];
        assert!(mem.read(0x1000_0000, &mut b).is_err());
        assert!(mem.write(0x1000_0000, &b).is_err());
        assert!(mem.write(0x1000, &b).is_err(), "ROM is not DMA-writable");
        assert!(mem.write(RAM_BASE + 0x1ffe, &b).is_err(), "range reaching an overlay page");
        assert!(mem.write(RAM_BASE + 0x3ffe, &b).is_err(), "range past the end of RAM");
        assert!(!mem.is_ram(u64::MAX - 1, 4));
        mem.write(RAM_BASE + 0x100, &[1, 2, 3, 4]).unwrap();
        mem.read(RAM_BASE + 0x100, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
    }

    #[test]
    fn late_ram_binds_once() {
        let late = LateRam::new();
        let mut b = [0u8; 1];
        assert_eq!(late.read(RAM_BASE, &mut b), Err(DmaError::Unbound));
        let (asp, _) = ram();
        let dynram: Arc<dyn GuestRam> = asp.clone();
        late.bind(&dynram);
        late.write(RAM_BASE, &[9]).unwrap();
        late.read(RAM_BASE, &mut b).unwrap();
        assert_eq!(b, [9]);
    }
}
