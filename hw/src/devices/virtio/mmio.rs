//! virtio-mmio transport, version 2 (virtio 1.x §4.2): the register window in front of one
//! [`VirtioDevice`], as QEMU's `virt` maps them (0x1000-byte windows from 0x1000_1000).
//!
//! The driver must negotiate VIRTIO_F_VERSION_1; FEATURES_OK is refused otherwise, or when it
//! asks for features the device did not offer. A queue goes live only if its size and rings
//! pass [`Queue::validate`]. When a device reports a malformed chain the transport logs a guest
//! error, sets DEVICE_NEEDS_RESET and raises a configuration-change interrupt; the device then
//! ignores notifications until the driver resets it.

use std::sync::Arc;

use super::{GuestRam, Queue, VirtioDevice, VIRTIO_F_VERSION_1};
use crate::device::{read_le, write_le, AccessSizes, Device};
use crate::irq::IrqLine;

/// Window size per device on `virt`.
pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;

const MAGIC: u32 = 0x7472_6976; // "virt"
const VENDOR_ID: u32 = 0x554d_4551; // "QEMU", as QEMU reports

pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 0x40;
pub const STATUS_FAILED: u32 = 0x80;

const INT_USED_BUFFER: u32 = 1;
const INT_CONFIG_CHANGE: u32 = 2;

const CONFIG_SPACE: u64 = 0x100;

/// An empty virtio-mmio slot, as QEMU leaves unused transports: the magic value and version
/// answer, device ID 0 tells the driver there is no device, everything else reads 0 and writes
/// are ignored. Boards map one in every slot that has no device.
pub struct EmptySlot;

impl Device for EmptySlot {
    fn name(&self) -> &str {
        "virtio-mmio (empty)"
    }
    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B4
    }
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = match offset {
            0x0 => MAGIC as u64,
            0x4 => 2,
            0xc => VENDOR_ID as u64,
            _ => 0,
        };
        write_le(data, v);
    }
    fn write(&mut self, _offset: u64, _data: &[u8]) {}
}

pub struct MmioTransport<D: VirtioDevice> {
    device: D,
    queues: Vec<Queue>,
    mem: Arc<dyn GuestRam>,
    irq: IrqLine,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    interrupt_status: u32,
    config_generation: u32,
}

impl<D: VirtioDevice> MmioTransport<D> {
    /// `mem` is the guest RAM the device DMAs to (an `Arc<AddressSpace>`, or a
    /// [`super::LateRam`] bound once the address space holding this transport is built).
    pub fn new(device: D, mem: Arc<dyn GuestRam>, irq: IrqLine) -> Self {
        let queues = device.queue_max_sizes().iter().map(|&m| Queue::new(m)).collect();
        Self {
            device,
            queues,
            mem,
            irq,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            interrupt_status: 0,
            config_generation: 0,
        }
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    pub fn status(&self) -> u32 {
        self.status
    }

    fn offered_features(&self) -> u64 {
        self.device.features() | VIRTIO_F_VERSION_1
    }

    fn reset(&mut self) {
        self.device.reset();
        self.queues.iter_mut().for_each(Queue::reset);
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.interrupt_status = 0;
        self.irq.lower();
    }

    fn raise(&mut self, bits: u32) {
        self.interrupt_status |= bits;
        self.irq.raise();
    }

    /// Let the device serve queue `index` (the guest's QueueNotify, or host-side input arriving).
    pub fn process_queue(&mut self, index: usize) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_DEVICE_NEEDS_RESET != 0 {
            return;
        }
        let Some(queue) = self.queues.get_mut(index) else {
            log::warn!("guest error: virtio-mmio notify of nonexistent queue {index}");
            return;
        };
        if !queue.ready {
            log::warn!("guest error: virtio-mmio notify of queue {index}, which is not ready");
            return;
        }
        queue.begin_service();
        match self.device.process_queue(index, queue, &*self.mem) {
            Ok(false) => {}
            Ok(true) => match queue.wants_interrupt(&*self.mem) {
                Ok(true) => self.raise(INT_USED_BUFFER),
                Ok(false) => {}
                Err(e) => self.needs_reset(index, &e),
            },
            Err(e) => self.needs_reset(index, &e),
        }
    }

    fn needs_reset(&mut self, index: usize, e: &dyn std::fmt::Display) {
        log::warn!("guest error: virtio device {} queue {index}: {e}; device needs reset", self.device.device_id());
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        self.raise(INT_CONFIG_CHANGE);
    }

    fn set_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        let newly = value & !self.status;
        if newly & STATUS_FEATURES_OK != 0 {
            let offered = self.offered_features();
            if self.driver_features & !offered != 0 || self.driver_features & VIRTIO_F_VERSION_1 == 0 {
                log::warn!(
                    "guest error: virtio driver features {:#x} not acceptable (offered {offered:#x}, VERSION_1 required)",
                    self.driver_features
                );
                // Leaving FEATURES_OK clear is how the device refuses (virtio 1.x §3.1.1).
                self.status = (self.status | value) & !STATUS_FEATURES_OK;
                return;
            }
        }
        if newly & STATUS_DRIVER_OK != 0 && self.status & STATUS_FEATURES_OK == 0 && value & STATUS_FEATURES_OK == 0 {
            log::warn!("guest error: virtio DRIVER_OK without FEATURES_OK");
        }
        // The driver cannot clear bits except by resetting, nor set DEVICE_NEEDS_RESET.
        self.status |= value & !STATUS_DEVICE_NEEDS_RESET;
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        let q = self.queues.get_mut(self.queue_sel as usize);
        if q.is_none() {
            log::warn!("guest error: virtio-mmio access to nonexistent queue {}", self.queue_sel);
        }
        q
    }

    /// A queue whose configuration registers may be written (selected, exists, not live).
    fn queue_for_setup(&mut self) -> Option<&mut Queue> {
        let sel = self.queue_sel;
        let q = self.queue()?;
        if q.ready {
            log::warn!("guest error: virtio-mmio queue {sel} reconfigured while ready");
            return None;
        }
        Some(q)
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            0x000 => MAGIC,
            0x004 => 2,
            0x008 => self.device.device_id(),
            0x00c => VENDOR_ID,
            0x010 => match self.device_features_sel {
                0 => self.offered_features() as u32,
                1 => (self.offered_features() >> 32) as u32,
                _ => 0,
            },
            0x034 => self.queue().map_or(0, |q| q.max_size as u32),
            0x038 => self.queue().map_or(0, |q| q.size),
            0x044 => self.queue().map_or(0, |q| q.ready as u32),
            0x060 => self.interrupt_status,
            0x070 => self.status,
            0x080 => self.queue().map_or(0, |q| q.desc_table as u32),
            0x084 => self.queue().map_or(0, |q| (q.desc_table >> 32) as u32),
            0x090 => self.queue().map_or(0, |q| q.avail_ring as u32),
            0x094 => self.queue().map_or(0, |q| (q.avail_ring >> 32) as u32),
            0x0a0 => self.queue().map_or(0, |q| q.used_ring as u32),
            0x0a4 => self.queue().map_or(0, |q| (q.used_ring >> 32) as u32),
            0x0fc => self.config_generation,
            o => {
                log::warn!("guest error: virtio-mmio read of write-only or unknown register {o:#x}");
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, v: u32) {
        let set_lo = |r: &mut u64| *r = (*r & !0xffff_ffff) | v as u64;
        let set_hi = |r: &mut u64| *r = (*r & 0xffff_ffff) | (v as u64) << 32;
        match offset {
            0x014 => self.device_features_sel = v,
            0x020 => {
                if self.status & STATUS_FEATURES_OK != 0 {
                    log::warn!("guest error: virtio driver features written after FEATURES_OK");
                    return;
                }
                match self.driver_features_sel {
                    0 => set_lo(&mut self.driver_features),
                    1 => set_hi(&mut self.driver_features),
                    s => log::warn!("guest error: virtio driver features word {s} does not exist"),
                }
            }
            0x024 => self.driver_features_sel = v,
            0x030 => self.queue_sel = v,
            0x038 => {
                if let Some(q) = self.queue_for_setup() {
                    q.size = v;
                }
            }
            0x044 => {
                let mem = self.mem.clone();
                let sel = self.queue_sel;
                let Some(q) = self.queue() else { return };
                if v & 1 == 0 {
                    // Disabling a queue forgets its ring positions, as a reset would.
                    q.reset();
                } else if !q.ready {
                    match q.validate(&*mem) {
                        Ok(()) => q.ready = true,
                        Err(e) => log::warn!("guest error: virtio queue {sel} not enabled: {e}"),
                    }
                }
            }
            0x050 => self.process_queue(v as usize),
            0x064 => {
                self.interrupt_status &= !v;
                self.irq.set(self.interrupt_status != 0);
            }
            0x070 => self.set_status(v),
            0x080 | 0x084 | 0x090 | 0x094 | 0x0a0 | 0x0a4 => {
                let Some(q) = self.queue_for_setup() else { return };
                match offset {
                    0x080 => set_lo(&mut q.desc_table),
                    0x084 => set_hi(&mut q.desc_table),
                    0x090 => set_lo(&mut q.avail_ring),
                    0x094 => set_hi(&mut q.avail_ring),
                    0x0a0 => set_lo(&mut q.used_ring),
                    _ => set_hi(&mut q.used_ring),
                }
            }
            o => log::warn!("guest error: virtio-mmio write of {v:#x} to read-only or unknown register {o:#x}"),
        }
    }
}

impl<D: VirtioDevice> Device for MmioTransport<D> {
    fn name(&self) -> &str {
        "virtio-mmio"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::ALL
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_SPACE {
            self.device.read_config(offset - CONFIG_SPACE, data);
        } else if data.len() != 4 || offset & 3 != 0 {
            log::warn!("guest error: virtio-mmio {}-byte register read at {offset:#x}", data.len());
            data.fill(0);
        } else {
            let v = self.read_reg(offset);
            write_le(data, v as u64);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_SPACE {
            self.device.write_config(offset - CONFIG_SPACE, data);
        } else if data.len() != 4 || offset & 3 != 0 {
            log::warn!("guest error: virtio-mmio {}-byte register write at {offset:#x}", data.len());
        } else {
            self.write_reg(offset, read_le(data) as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_virtio_slot_identifies_itself() {
        let mut s = super::EmptySlot;
        let mut b = [0u8; 4];
        s.read(0, &mut b);
        assert_eq!(&b, b"virt");
        s.read(4, &mut b);
        assert_eq!(u32::from_le_bytes(b), 2);
        s.read(8, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0, "device id 0: no device");
    }

    use super::super::rng::VirtioRng;
    use super::super::testutil::*;
    use super::*;
    use crate::irq::PendingBits;

    fn rng_transport() -> (MmioTransport<VirtioRng>, Arc<crate::AddressSpace>, Arc<PendingBits>) {
        let (asp, bits) = ram();
        let t = MmioTransport::new(VirtioRng::new().unwrap(), asp.clone(), bits.line(0));
        (t, asp, bits)
    }

    #[test]
    fn identification_registers() {
        let (mut t, _asp, _bits) = rng_transport();
        assert_eq!(rd32(&mut t, 0), 0x7472_6976);
        assert_eq!(rd32(&mut t, 4), 2);
        assert_eq!(rd32(&mut t, 8), 4);
        assert_eq!(rd32(&mut t, 0xc), VENDOR_ID);
        wr32(&mut t, 0x14, 1);
        assert_eq!(rd32(&mut t, 0x10) & 1, 1, "VIRTIO_F_VERSION_1 offered");
        wr32(&mut t, 0x30, 0);
        assert_eq!(rd32(&mut t, 0x34), 256);
        wr32(&mut t, 0x30, 5);
        assert_eq!(rd32(&mut t, 0x34), 0, "nonexistent queue");
        let mut b = [0u8; 2];
        t.read(0, &mut b);
        assert_eq!(b, [0, 0], "narrow register reads are refused");
    }

    #[test]
    fn features_ok_requires_version_1_and_offered_bits() {
        let (mut t, _asp, _bits) = rng_transport();
        wr32(&mut t, 0x70, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        wr32(&mut t, 0x70, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        assert_eq!(rd32(&mut t, 0x70) & STATUS_FEATURES_OK, 0, "legacy driver refused");
        wr32(&mut t, 0x24, 1);
        wr32(&mut t, 0x20, 1 | 2);
        wr32(&mut t, 0x70, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        assert_eq!(rd32(&mut t, 0x70) & STATUS_FEATURES_OK, 0, "feature 33 was not offered");
        wr32(&mut t, 0x20, 1);
        wr32(&mut t, 0x70, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        assert_eq!(rd32(&mut t, 0x70) & STATUS_FEATURES_OK, STATUS_FEATURES_OK);
        wr32(&mut t, 0x20, 3);
        wr32(&mut t, 0x70, 0);
        assert_eq!(rd32(&mut t, 0x70), 0, "status 0 resets");
        wr32(&mut t, 0x70, STATUS_FEATURES_OK);
        assert_eq!(rd32(&mut t, 0x70), 0, "reset cleared the negotiated features");
        wr32(&mut t, 0x70, STATUS_FAILED);
        assert_eq!(rd32(&mut t, 0x70), STATUS_FAILED);
    }

    #[test]
    fn bad_queue_configuration_is_not_enabled() {
        let (mut t, _asp, _bits) = rng_transport();
        for (size, desc) in
            [(3, DESC), (512, DESC), (0, DESC), (16, RAM_BASE + RAM_SIZE - 16), (16, DESC + 8), (16, 0x10)]
        {
            wr32(&mut t, 0x70, 0);
            wr32(&mut t, 0x30, 0);
            wr32(&mut t, 0x38, size);
            wr32(&mut t, 0x80, desc as u32);
            wr32(&mut t, 0x84, (desc >> 32) as u32);
            wr32(&mut t, 0x90, AVAIL as u32);
            wr32(&mut t, 0xa0, USED as u32);
            wr32(&mut t, 0x44, 1);
            assert_eq!(rd32(&mut t, 0x44), 0, "size {size} desc {desc:#x}");
        }
        bring_up(&mut t, 1);
        wr32(&mut t, 0x38, 2);
        assert_eq!(rd32(&mut t, 0x38), QSIZE as u32, "a live queue cannot be resized");
    }

    #[test]
    fn bad_chain_sets_needs_reset_until_reset() {
        let (mut t, asp, bits) = rng_transport();
        bring_up(&mut t, 1);
        put_desc(&asp, 0, BUF, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 0);
        assert_eq!(rd32(&mut t, 0x70) & STATUS_DEVICE_NEEDS_RESET, STATUS_DEVICE_NEEDS_RESET);
        assert_eq!(rd32(&mut t, 0x60), INT_CONFIG_CHANGE);
        assert_eq!(bits.get(), 1);
        wr32(&mut t, 0x64, INT_CONFIG_CHANGE);
        assert_eq!(bits.get(), 0);
        put_desc(&asp, 1, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 1);
        assert_eq!(used(&asp, 0, 0).0, 0, "notifications are ignored while the device needs reset");
        wr32(&mut t, 0x70, 0);
        assert_eq!(rd32(&mut t, 0x70), 0);
        // Start again with fresh rings.
        asp.write(AVAIL, &[0; 4]).unwrap();
        asp.write(USED, &[0; 4]).unwrap();
        bring_up(&mut t, 1);
        publish(&asp, &mut t, 0, 1);
        assert_eq!(used(&asp, 0, 0), (1, 1, 8));
    }

    use super::super::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
}
