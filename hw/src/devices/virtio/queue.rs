//! Split virtqueues (virtio 1.x §2.7) read from and written to guest RAM through [`GuestRam`].
//!
//! The guest owns the rings and may change them at any time, so every descriptor is copied out of
//! guest memory once and only the copy is validated and used. [`read_chain`] is a pure function
//! of guest memory, so fuzz targets can drive it directly. Limits it enforces: a chain has at most
//! `queue_size` descriptors (which also ends loops), every buffer lies wholly inside guest RAM
//! with no address overflow, device-writable descriptors follow all device-readable ones, and an
//! indirect table may only be the whole chain (the head, without NEXT), never nested.

use std::sync::atomic::{fence, Ordering};

use thiserror::Error;

use super::{DmaError, GuestRam};

pub const VIRTQ_DESC_F_NEXT: u16 = 1;
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
pub const VIRTQ_DESC_F_INDIRECT: u16 = 4;
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Largest queue the split layout allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("descriptor index {index} outside a table of {size}")]
    BadIndex { index: u16, size: u32 },
    #[error("chain longer than {limit} descriptors (or a loop)")]
    TooLong { limit: u32 },
    #[error("buffer {addr:#x}+{len:#x} is not inside guest RAM")]
    OutOfRam { addr: u64, len: u64 },
    #[error("device-readable descriptor after a device-writable one")]
    ReadableAfterWritable,
    #[error("indirect descriptor that is not the whole chain, is nested, or has length {len}")]
    BadIndirect { len: u32 },
    #[error(transparent)]
    Dma(#[from] DmaError),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueueError {
    #[error("queue size {size} is not a power of two in 1..={max}")]
    BadSize { size: u32, max: u16 },
    #[error("ring at {addr:#x} ({what}) is misaligned or outside guest RAM")]
    BadRing { what: &'static str, addr: u64 },
    #[error("avail index jumped from {last} to {idx} on a queue of {size}")]
    BadAvailIdx { last: u16, idx: u16, size: u16 },
    #[error("bad descriptor chain: {0}")]
    Chain(#[from] ChainError),
    #[error("malformed request: {0}")]
    Request(&'static str),
    #[error(transparent)]
    Dma(#[from] DmaError),
}

/// One guest buffer, already checked to lie inside guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub addr: u64,
    pub len: u32,
}

/// A validated descriptor chain: device-readable buffers, then device-writable ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescChain {
    pub head: u16,
    pub readable: Vec<Segment>,
    pub writable: Vec<Segment>,
}

fn total(segs: &[Segment]) -> u64 {
    segs.iter().map(|s| s.len as u64).sum()
}

/// Copy between `buf` and the byte range starting `offset` bytes into `segs`.
fn walk(
    segs: &[Segment],
    mut offset: u64,
    len: usize,
    mut f: impl FnMut(u64, usize, usize) -> Result<(), DmaError>,
) -> Result<(), DmaError> {
    let mut done = 0usize;
    for s in segs {
        if done == len {
            break;
        }
        if offset >= s.len as u64 {
            offset -= s.len as u64;
            continue;
        }
        let n = ((s.len as u64 - offset) as usize).min(len - done);
        f(s.addr + offset, done, n)?;
        done += n;
        offset = 0;
    }
    if done < len {
        return Err(DmaError::OutOfRange { addr: 0, len: len as u64 });
    }
    Ok(())
}

impl DescChain {
    pub fn readable_len(&self) -> u64 {
        total(&self.readable)
    }

    pub fn writable_len(&self) -> u64 {
        total(&self.writable)
    }

    /// Read `buf.len()` bytes starting `offset` bytes into the device-readable part.
    pub fn read_at(&self, mem: &dyn GuestRam, offset: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        walk(&self.readable, offset, buf.len(), |addr, at, n| mem.read(addr, &mut buf[at..at + n]))
    }

    /// Write `buf` starting `offset` bytes into the device-writable part.
    pub fn write_at(&self, mem: &dyn GuestRam, offset: u64, buf: &[u8]) -> Result<(), DmaError> {
        walk(&self.writable, offset, buf.len(), |addr, at, n| mem.write(addr, &buf[at..at + n]))
    }
}

#[derive(Clone, Copy)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc(mem: &dyn GuestRam, table: u64, index: u16) -> Result<Desc, DmaError> {
    let mut raw = [0u8; 16];
    let addr = table.checked_add(16 * index as u64).ok_or(DmaError::OutOfRange { addr: table, len: 16 })?;
    mem.read(addr, &mut raw)?;
    Ok(Desc {
        addr: u64::from_le_bytes(raw[0..8].try_into().unwrap_or_default()),
        len: u32::from_le_bytes(raw[8..12].try_into().unwrap_or_default()),
        flags: u16::from_le_bytes([raw[12], raw[13]]),
        next: u16::from_le_bytes([raw[14], raw[15]]),
    })
}

/// Walk a table of `size` descriptors from `head`, appending buffers to `chain`.
fn walk_table(
    mem: &dyn GuestRam,
    table: u64,
    size: u32,
    head: u16,
    chain: &mut DescChain,
    indirect: bool,
) -> Result<(), ChainError> {
    let mut index = head;
    let mut count = 0u32;
    loop {
        if index as u32 >= size {
            return Err(ChainError::BadIndex { index, size });
        }
        count += 1;
        if count > size {
            return Err(ChainError::TooLong { limit: size });
        }
        let d = read_desc(mem, table, index)?;
        if d.flags & VIRTQ_DESC_F_INDIRECT != 0 {
            // Only a lone head descriptor may point to a table, and tables do not nest.
            let table_ok = d.len != 0 && d.len % 16 == 0 && d.len / 16 <= MAX_QUEUE_SIZE as u32;
            if indirect || count != 1 || d.flags & VIRTQ_DESC_F_NEXT != 0 || !table_ok {
                return Err(ChainError::BadIndirect { len: d.len });
            }
            if !in_ram(mem, d.addr, d.len as u64) {
                return Err(ChainError::OutOfRam { addr: d.addr, len: d.len as u64 });
            }
            return walk_table(mem, d.addr, d.len / 16, 0, chain, true);
        }
        if !in_ram(mem, d.addr, d.len as u64) {
            return Err(ChainError::OutOfRam { addr: d.addr, len: d.len as u64 });
        }
        let seg = Segment { addr: d.addr, len: d.len };
        if d.flags & VIRTQ_DESC_F_WRITE != 0 {
            if d.len > 0 {
                chain.writable.push(seg);
            }
        } else if !chain.writable.is_empty() {
            return Err(ChainError::ReadableAfterWritable);
        } else if d.len > 0 {
            chain.readable.push(seg);
        }
        if d.flags & VIRTQ_DESC_F_NEXT == 0 {
            return Ok(());
        }
        index = d.next;
    }
}

fn in_ram(mem: &dyn GuestRam, addr: u64, len: u64) -> bool {
    // Zero-length buffers carry nothing; they are accepted wherever they point.
    len == 0 || (addr.checked_add(len).is_some() && mem.is_ram(addr, len))
}

/// Parse and validate the chain starting at descriptor `head` of the table at `desc_table`.
pub fn read_chain(mem: &dyn GuestRam, desc_table: u64, queue_size: u16, head: u16) -> Result<DescChain, ChainError> {
    let mut chain = DescChain { head, ..Default::default() };
    walk_table(mem, desc_table, queue_size as u32, head, &mut chain, false)?;
    Ok(chain)
}

/// One split virtqueue's driver-programmed configuration and the device's ring positions.
#[derive(Clone, Debug)]
pub struct Queue {
    pub max_size: u16,
    /// As the driver wrote it (validated when it sets QueueReady).
    pub size: u32,
    pub ready: bool,
    pub desc_table: u64,
    pub avail_ring: u64,
    pub used_ring: u64,
    next_avail: u16,
    next_used: u16,
    /// Chains popped since [`Queue::begin_service`]; see there.
    served: u32,
}

impl Queue {
    pub fn new(max_size: u16) -> Self {
        Self {
            max_size,
            size: max_size as u32,
            ready: false,
            desc_table: 0,
            avail_ring: 0,
            used_ring: 0,
            next_avail: 0,
            next_used: 0,
            served: 0,
        }
    }

    pub fn reset(&mut self) {
        *self = Self::new(self.max_size);
    }

    /// Check the driver's configuration before the queue goes live.
    pub fn validate(&self, mem: &dyn GuestRam) -> Result<(), QueueError> {
        let size = self.size;
        if size == 0 || !size.is_power_of_two() || size > self.max_size as u32 {
            return Err(QueueError::BadSize { size, max: self.max_size });
        }
        let n = size as u64;
        for (what, addr, align, len) in [
            ("descriptor table", self.desc_table, 16, 16 * n),
            ("available ring", self.avail_ring, 2, 6 + 2 * n),
            ("used ring", self.used_ring, 4, 6 + 8 * n),
        ] {
            if addr % align != 0 || addr.checked_add(len).is_none() || !mem.is_ram(addr, len) {
                return Err(QueueError::BadRing { what, addr });
            }
        }
        Ok(())
    }

    /// The transport calls this before each time the device serves the queue: one service takes
    /// at most `size` chains. The device's own DMA can rewrite the avail ring (a read request
    /// whose buffer covers the avail index), so without the bound a guest can keep a vCPU in one
    /// notification forever, re-publishing chains from its disk. A driver never has more than
    /// `size` chains outstanding, so a well-behaved one never meets the bound.
    pub fn begin_service(&mut self) {
        self.served = 0;
    }

    fn size16(&self) -> u16 {
        self.size as u16
    }

    fn read_u16(mem: &dyn GuestRam, addr: u64) -> Result<u16, DmaError> {
        let mut b = [0u8; 2];
        mem.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Take the next available chain, if the driver has published one.
    pub fn pop(&mut self, mem: &dyn GuestRam) -> Result<Option<DescChain>, QueueError> {
        let idx = Self::read_u16(mem, self.avail_ring + 2)?;
        let outstanding = idx.wrapping_sub(self.next_avail);
        if outstanding == 0 {
            return Ok(None);
        }
        if outstanding > self.size16() {
            return Err(QueueError::BadAvailIdx { last: self.next_avail, idx, size: self.size16() });
        }
        if self.served >= self.size {
            log::warn!("guest error: virtqueue republished more than {} chains in one notification; the rest wait", self.size);
            return Ok(None);
        }
        self.served += 1;
        // The ring entry must be read after the index that published it.
        fence(Ordering::Acquire);
        let slot = (self.next_avail % self.size16()) as u64;
        let head = Self::read_u16(mem, self.avail_ring + 4 + 2 * slot)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(read_chain(mem, self.desc_table, self.size16(), head)?))
    }

    /// Return chain `head` to the driver with `len` bytes written.
    pub fn add_used(&mut self, mem: &dyn GuestRam, head: u16, len: u32) -> Result<(), DmaError> {
        let slot = (self.next_used % self.size16()) as u64;
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&(head as u32).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        mem.write(self.used_ring + 4 + 8 * slot, &elem)?;
        self.next_used = self.next_used.wrapping_add(1);
        // The element must be visible before the index that publishes it.
        fence(Ordering::Release);
        mem.write(self.used_ring + 2, &self.next_used.to_le_bytes())
    }

    /// Does the driver want an interrupt for used buffers (VIRTQ_AVAIL_F_NO_INTERRUPT clear)?
    pub fn wants_interrupt(&self, mem: &dyn GuestRam) -> Result<bool, DmaError> {
        fence(Ordering::SeqCst);
        Ok(Self::read_u16(mem, self.avail_ring)? & VIRTQ_AVAIL_F_NO_INTERRUPT == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn good_chain_with_readable_then_writable() {
        let (asp, _) = ram();
        let asp: &crate::AddressSpace = &asp;
        put_desc(asp, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(asp, 1, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
        put_desc(asp, 2, BUF + 0x400, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
        put_desc(asp, 3, BUF + 0x300, 1, VIRTQ_DESC_F_WRITE, 0);
        let c = read_chain(asp, DESC, 16, 0).unwrap();
        assert_eq!(c.readable, vec![Segment { addr: BUF, len: 16 }]);
        assert_eq!(c.writable.len(), 2, "the zero-length descriptor carries nothing");
        assert_eq!(c.writable_len(), 513);
        c.write_at(asp, 511, &[7, 8]).unwrap();
        let mut b = [0u8; 1];
        asp.read_mem(BUF + 0x300, &mut b).unwrap();
        assert_eq!(b, [8], "writes continue into the next segment");
        assert!(c.write_at(asp, 512, &[0, 0]).is_err(), "writes past the chain fail");
    }

    #[test]
    fn malicious_chains_are_rejected() {
        let (asp, _) = ram();
        let asp: &crate::AddressSpace = &asp;
        // A loop: 0 -> 1 -> 0.
        put_desc(asp, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
        put_desc(asp, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
        assert_eq!(read_chain(asp, DESC, 16, 0), Err(ChainError::TooLong { limit: 16 }));
        // Next index outside the table, and a head outside it.
        put_desc(asp, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 16);
        assert_eq!(read_chain(asp, DESC, 16, 0), Err(ChainError::BadIndex { index: 16, size: 16 }));
        assert!(matches!(read_chain(asp, DESC, 16, 200), Err(ChainError::BadIndex { .. })));
        // Out of RAM, wrapping, huge.
        for (addr, len) in [(0x1000, 8), (u64::MAX - 3, 8), (BUF, u32::MAX), (RAM_BASE + RAM_SIZE - 4, 8)] {
            put_desc(asp, 0, addr, len, 0, 0);
            assert!(matches!(read_chain(asp, DESC, 16, 0), Err(ChainError::OutOfRam { .. })), "{addr:#x}+{len:#x}");
        }
        // Readable after writable.
        put_desc(asp, 0, BUF, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
        put_desc(asp, 1, BUF, 8, 0, 0);
        assert_eq!(read_chain(asp, DESC, 16, 0), Err(ChainError::ReadableAfterWritable));
        // A descriptor table that itself is outside RAM.
        assert!(matches!(read_chain(asp, 0x10, 16, 0), Err(ChainError::Dma(_))));
        assert!(matches!(read_chain(asp, u64::MAX - 8, 16, 1), Err(ChainError::Dma(_))));
    }

    #[test]
    fn indirect_tables() {
        let (asp, _) = ram();
        let asp: &crate::AddressSpace = &asp;
        let table = BUF + 0x1000;
        asp.write(table, &desc_bytes(BUF, 16, VIRTQ_DESC_F_NEXT, 1)).unwrap();
        asp.write(table + 16, &desc_bytes(BUF + 0x100, 4, VIRTQ_DESC_F_WRITE, 0)).unwrap();
        put_desc(asp, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
        let c = read_chain(asp, DESC, 16, 0).unwrap();
        assert_eq!((c.readable_len(), c.writable_len()), (16, 4));
        // Bad lengths, NEXT together with INDIRECT, nesting, and a loop inside the table.
        for (len, flags) in [(0, 0), (24, 0), (32, VIRTQ_DESC_F_NEXT)] {
            put_desc(asp, 0, table, len, VIRTQ_DESC_F_INDIRECT | flags, 1);
            assert!(matches!(read_chain(asp, DESC, 16, 0), Err(ChainError::BadIndirect { .. })));
        }
        put_desc(asp, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
        asp.write(table + 16, &desc_bytes(table, 32, VIRTQ_DESC_F_INDIRECT, 0)).unwrap();
        assert!(matches!(read_chain(asp, DESC, 16, 0), Err(ChainError::BadIndirect { .. })));
        asp.write(table + 16, &desc_bytes(BUF, 4, VIRTQ_DESC_F_NEXT, 0)).unwrap();
        assert_eq!(read_chain(asp, DESC, 16, 0), Err(ChainError::TooLong { limit: 2 }));
        put_desc(asp, 0, RAM_BASE + RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
        assert!(matches!(read_chain(asp, DESC, 16, 0), Err(ChainError::OutOfRam { .. })));
        // An indirect descriptor later in a chain is refused.
        put_desc(asp, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
        put_desc(asp, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
        assert!(matches!(read_chain(asp, DESC, 16, 0), Err(ChainError::BadIndirect { .. })));
    }

    #[test]
    fn queue_validation_and_avail_index() {
        let (asp, _) = ram();
        let asp: &crate::AddressSpace = &asp;
        let mut q = Queue::new(16);
        q.desc_table = DESC;
        q.avail_ring = AVAIL;
        q.used_ring = USED;
        for size in [0, 3, 32, 12, u32::MAX] {
            q.size = size;
            assert!(matches!(q.validate(asp), Err(QueueError::BadSize { .. })), "{size}");
        }
        q.size = 16;
        q.validate(asp).unwrap();
        q.used_ring = USED + 2;
        assert!(matches!(q.validate(asp), Err(QueueError::BadRing { .. })), "misaligned used ring");
        q.used_ring = RAM_BASE + RAM_SIZE - 8;
        assert!(matches!(q.validate(asp), Err(QueueError::BadRing { .. })), "used ring past RAM");
        q.used_ring = USED;
        assert_eq!(q.pop(asp).unwrap(), None);
        asp.write(AVAIL + 2, &17u16.to_le_bytes()).unwrap();
        assert!(matches!(q.pop(asp), Err(QueueError::BadAvailIdx { .. })), "more entries than the ring holds");
    }
}
