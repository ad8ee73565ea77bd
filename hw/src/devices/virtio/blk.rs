//! virtio-blk backed by a raw image file: READ (IN), WRITE (OUT), FLUSH and GET_ID.
//!
//! A request is a 16-byte header (type, reserved, sector) in device-readable memory, then the
//! data, then one status byte as the last device-writable byte. Requests that cannot carry a
//! status (no header, no writable byte) are malformed chains: the transport sets
//! DEVICE_NEEDS_RESET. Well-formed requests that fail get VIRTIO_BLK_S_IOERR: any part beyond the
//! end of the disk, lengths that are not whole sectors, writes to a read-only disk, host I/O
//! errors. Capacity is the image size in 512-byte sectors (a partial last sector is not exposed).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{read_config_bytes, DescChain, GuestRam, Queue, QueueError, VirtioDevice, VIRTIO_ID_BLOCK};

pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;

pub const VIRTIO_BLK_T_IN: u32 = 0;
pub const VIRTIO_BLK_T_OUT: u32 = 1;
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;

pub const VIRTIO_BLK_S_OK: u8 = 0;
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

const SECTOR: u64 = 512;
const HEADER_LEN: u64 = 16;
const ID_LEN: usize = 20;
/// Data moves through a bounce buffer of this size, so a huge request never allocates its size.
const CHUNK: u64 = 64 * 1024;

pub struct VirtioBlk {
    file: File,
    read_only: bool,
    capacity_sectors: u64,
    id: [u8; ID_LEN],
}

impl VirtioBlk {
    /// Open a raw image; `read_only` opens it read-only and offers VIRTIO_BLK_F_RO.
    pub fn open(path: &Path, read_only: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self::new(file, read_only, &name)
    }

    /// `id` is what GET_ID answers (truncated to 20 bytes).
    pub fn new(file: File, read_only: bool, id: &str) -> std::io::Result<Self> {
        let capacity_sectors = file.metadata()?.len() / SECTOR;
        let mut idb = [0u8; ID_LEN];
        let n = id.len().min(ID_LEN);
        idb[..n].copy_from_slice(&id.as_bytes()[..n]);
        Ok(Self { file, read_only, capacity_sectors, id: idb })
    }

    pub fn capacity_sectors(&self) -> u64 {
        self.capacity_sectors
    }

    /// Byte offset of a transfer of `len` bytes at `sector`, if it lies wholly on the disk.
    fn disk_range(&self, sector: u64, len: u64) -> Option<u64> {
        if len & (SECTOR - 1) != 0 {
            return None;
        }
        let start = sector.checked_mul(SECTOR)?;
        let end = start.checked_add(len)?;
        (end <= self.capacity_sectors * SECTOR).then_some(start)
    }

    /// Serve one request; returns `(status, bytes written to the guest before the status)`.
    fn serve(&mut self, chain: &DescChain, mem: &dyn GuestRam) -> Result<(u8, u64), QueueError> {
        let mut hdr = [0u8; HEADER_LEN as usize];
        chain.read_at(mem, 0, &mut hdr)?;
        let kind = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let sector = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default());
        let in_len = chain.writable_len() - 1;
        let out_len = chain.readable_len() - HEADER_LEN;
        let mut buf = vec![0u8; CHUNK.min(in_len.max(out_len)) as usize];
        match kind {
            VIRTIO_BLK_T_IN => {
                let Some(start) = self.disk_range(sector, in_len) else {
                    log::warn!("guest error: virtio-blk read of {in_len} bytes at sector {sector} is off the disk");
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                };
                let mut done = 0;
                while done < in_len {
                    let n = (in_len - done).min(CHUNK) as usize;
                    if let Err(e) = self.file.read_exact_at(&mut buf[..n], start + done) {
                        log::warn!("virtio-blk: host read failed: {e}");
                        return Ok((VIRTIO_BLK_S_IOERR, done));
                    }
                    chain.write_at(mem, done, &buf[..n])?;
                    done += n as u64;
                }
                Ok((VIRTIO_BLK_S_OK, in_len))
            }
            VIRTIO_BLK_T_OUT => {
                if self.read_only {
                    log::warn!("guest error: virtio-blk write to a read-only disk");
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                }
                let Some(start) = self.disk_range(sector, out_len) else {
                    log::warn!("guest error: virtio-blk write of {out_len} bytes at sector {sector} is off the disk");
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                };
                let mut done = 0;
                while done < out_len {
                    let n = (out_len - done).min(CHUNK) as usize;
                    chain.read_at(mem, HEADER_LEN + done, &mut buf[..n])?;
                    if let Err(e) = self.file.write_all_at(&buf[..n], start + done) {
                        log::warn!("virtio-blk: host write failed: {e}");
                        return Ok((VIRTIO_BLK_S_IOERR, 0));
                    }
                    done += n as u64;
                }
                Ok((VIRTIO_BLK_S_OK, 0))
            }
            VIRTIO_BLK_T_FLUSH => {
                if self.read_only {
                    return Ok((VIRTIO_BLK_S_OK, 0));
                }
                match self.file.sync_data() {
                    Ok(()) => Ok((VIRTIO_BLK_S_OK, 0)),
                    Err(e) => {
                        log::warn!("virtio-blk: flush failed: {e}");
                        Ok((VIRTIO_BLK_S_IOERR, 0))
                    }
                }
            }
            VIRTIO_BLK_T_GET_ID => {
                let n = (in_len as usize).min(ID_LEN);
                chain.write_at(mem, 0, &self.id[..n])?;
                Ok((VIRTIO_BLK_S_OK, n as u64))
            }
            other => {
                log::warn!("guest error: virtio-blk request type {other} unsupported");
                Ok((VIRTIO_BLK_S_UNSUPP, 0))
            }
        }
    }
}

impl VirtioDevice for VirtioBlk {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_BLOCK
    }

    fn features(&self) -> u64 {
        VIRTIO_BLK_F_FLUSH | if self.read_only { VIRTIO_BLK_F_RO } else { 0 }
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // Only `capacity` (offset 0) is meaningful: no size_max/seg_max/geometry features.
        let mut cfg = [0u8; 8];
        cfg.copy_from_slice(&self.capacity_sectors.to_le_bytes());
        read_config_bytes(&cfg, offset, data);
    }

    fn process_queue(&mut self, _index: usize, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError> {
        let mut used = false;
        while let Some(chain) = queue.pop(mem)? {
            if chain.readable_len() < HEADER_LEN {
                return Err(QueueError::Request("virtio-blk request without a 16-byte header"));
            }
            if chain.writable_len() == 0 {
                return Err(QueueError::Request("virtio-blk request without a status byte"));
            }
            let (status, written) = self.serve(&chain, mem)?;
            let status_at = chain.writable_len() - 1;
            chain.write_at(mem, status_at, &[status])?;
            queue.add_used(mem, chain.head, (written + 1).min(u32::MAX as u64) as u32)?;
            used = true;
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::super::mmio::STATUS_DEVICE_NEEDS_RESET;
    use super::super::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use super::super::testutil::*;
    use super::super::MmioTransport;
    use super::*;
    use std::sync::Arc;

    const HDR: u64 = BUF;
    const DATA: u64 = BUF + 0x1000;
    const STATUS: u64 = BUF + 0x100;

    struct TempImage(std::path::PathBuf);
    impl Drop for TempImage {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn image(name: &str, sectors: u64) -> TempImage {
        let path = std::env::temp_dir().join(format!("mimic-blk-{}-{name}.img", std::process::id()));
        let data: Vec<u8> = (0..sectors * SECTOR).map(|i| (i / SECTOR) as u8).collect();
        std::fs::write(&path, data).unwrap();
        TempImage(path)
    }

    fn setup(img: &TempImage, ro: bool) -> (MmioTransport<VirtioBlk>, Arc<crate::AddressSpace>) {
        let (asp, bits) = ram();
        let mut t = MmioTransport::new(VirtioBlk::open(&img.0, ro).unwrap(), asp.clone(), bits.line(0));
        bring_up(&mut t, 1);
        (t, asp)
    }

    /// Header, one data descriptor (writable for IN/GET_ID), status; returns (status, used len).
    fn request(
        t: &mut MmioTransport<VirtioBlk>,
        asp: &crate::AddressSpace,
        kind: u32,
        sector: u64,
        len: u32,
        n: u16,
    ) -> (u8, u32) {
        let mut hdr = [0u8; 16];
        hdr[..4].copy_from_slice(&kind.to_le_bytes());
        hdr[8..].copy_from_slice(&sector.to_le_bytes());
        asp.write(HDR, &hdr).unwrap();
        asp.write(STATUS, &[0xff]).unwrap();
        let data_flags = if kind == VIRTIO_BLK_T_OUT { 0 } else { VIRTQ_DESC_F_WRITE };
        put_desc(asp, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(asp, 1, DATA, len, data_flags | VIRTQ_DESC_F_NEXT, 2);
        put_desc(asp, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
        publish(asp, t, 0, 0);
        let (idx, id, used_len) = used(asp, 0, n);
        assert_eq!((idx, id), (n + 1, 0), "request {n} completed");
        let mut s = [0u8];
        asp.read_mem(STATUS, &mut s).unwrap();
        (s[0], used_len)
    }

    #[test]
    fn read_write_flush_get_id_round_trip() {
        let img = image("rw", 8);
        let (mut t, asp) = setup(&img, false);
        assert_eq!(rd32(&mut t, 0x100), 8, "capacity in sectors");
        assert_eq!(rd32(&mut t, 0x104), 0);
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 2, 1024, 0), (VIRTIO_BLK_S_OK, 1025));
        let mut b = [0u8; 1024];
        asp.read_mem(DATA, &mut b).unwrap();
        assert!(b[..512].iter().all(|&x| x == 2) && b[512..].iter().all(|&x| x == 3));
        asp.write(DATA, &[0xee; 512]).unwrap();
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_OUT, 7, 512, 1), (VIRTIO_BLK_S_OK, 1));
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_FLUSH, 0, 0, 2).0, VIRTIO_BLK_S_OK);
        let disk = std::fs::read(&img.0).unwrap();
        assert!(disk[7 * 512..].iter().all(|&x| x == 0xee));
        assert!(disk[6 * 512..7 * 512].iter().all(|&x| x == 6));
        let (s, n) = request(&mut t, &asp, VIRTIO_BLK_T_GET_ID, 0, 64, 3);
        assert_eq!((s, n), (VIRTIO_BLK_S_OK, 21));
        let name = img.0.file_name().unwrap().to_string_lossy().into_owned();
        let mut id = [0u8; 20];
        asp.read_mem(DATA, &mut id).unwrap();
        assert_eq!(&id[..], &name.as_bytes()[..20]);
        assert_eq!(request(&mut t, &asp, 99, 0, 16, 4).0, VIRTIO_BLK_S_UNSUPP);
    }

    #[test]
    fn out_of_range_and_misaligned_requests_get_ioerr() {
        let img = image("range", 4);
        let (mut t, asp) = setup(&img, false);
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 4, 512, 0).0, VIRTIO_BLK_S_IOERR);
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 3, 1024, 1).0, VIRTIO_BLK_S_IOERR, "straddles the end");
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_OUT, u64::MAX / 256, 512, 2).0, VIRTIO_BLK_S_IOERR, "overflow");
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 0, 100, 3).0, VIRTIO_BLK_S_IOERR, "partial sector");
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 3, 512, 4).0, VIRTIO_BLK_S_OK, "last sector is fine");
        assert_eq!(std::fs::read(&img.0).unwrap().len(), 2048, "the image did not grow");
    }

    #[test]
    fn read_only_disk() {
        let img = image("ro", 4);
        let (mut t, asp) = setup(&img, true);
        wr32(&mut t, 0x14, 0);
        assert_ne!(rd32(&mut t, 0x10) as u64 & VIRTIO_BLK_F_RO, 0);
        asp.write(DATA, &[0xaa; 512]).unwrap();
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_OUT, 0, 512, 0).0, VIRTIO_BLK_S_IOERR);
        assert!(std::fs::read(&img.0).unwrap()[..512].iter().all(|&x| x == 0));
        assert_eq!(request(&mut t, &asp, VIRTIO_BLK_T_IN, 1, 512, 1).0, VIRTIO_BLK_S_OK);
    }

    /// A read whose buffer covers the avail ring: every request's data (from the guest's own
    /// disk) publishes the next request, so without a bound one notification never returns.
    #[test]
    fn requests_republished_by_their_own_dma_are_bounded_per_notification() {
        let img = image("republish", 40);
        let header = AVAIL + 0x100;
        let mut disk = vec![0u8; 40 * SECTOR as usize];
        for k in 0..40usize {
            let s = &mut disk[k * SECTOR as usize..][..SECTOR as usize];
            s[2..4].copy_from_slice(&(k as u16 + 2).to_le_bytes()); // avail idx: one more chain
            s[0x108..0x110].copy_from_slice(&(k as u64 + 1).to_le_bytes()); // next request's sector
        }
        std::fs::write(&img.0, &disk).unwrap();
        let (mut t, asp) = setup(&img, false);
        put_desc(&asp, 0, header, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(&asp, 1, AVAIL, SECTOR as u32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
        put_desc(&asp, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
        asp.write(header, &[0; 16]).unwrap(); // IN, sector 0
        asp.write(AVAIL + 2, &1u16.to_le_bytes()).unwrap(); // ring[0] = head 0 already
        wr32(&mut t, 0x50, 0);
        assert_eq!(used(&asp, 0, 0).0, QSIZE, "one notification serves at most the queue size");
        wr32(&mut t, 0x50, 0);
        assert_eq!(used(&asp, 0, 0).0, 2 * QSIZE, "the next one continues");
    }

    #[test]
    fn malformed_layouts_need_reset() {
        let img = image("bad", 4);
        type Build = fn(&crate::AddressSpace);
        let cases: [(&str, Build); 5] = [
            ("header too short", |a| {
                put_desc(a, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
                put_desc(a, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
            }),
            ("no status byte", |a| {
                put_desc(a, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
                put_desc(a, 1, DATA, 512, 0, 0);
            }),
            ("header in a writable descriptor", |a| {
                put_desc(a, 0, HDR, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
                put_desc(a, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
            }),
            ("data beyond RAM", |a| {
                put_desc(a, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
                put_desc(a, 1, RAM_BASE + RAM_SIZE - 256, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
                put_desc(a, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
            }),
            ("loop", |a| {
                put_desc(a, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
                put_desc(a, 1, DATA, 512, VIRTQ_DESC_F_NEXT, 0);
            }),
        ];
        for (what, build) in cases {
            let (mut t, asp) = setup(&img, false);
            asp.write(HDR, &[0; 16]).unwrap();
            build(&asp);
            publish(&asp, &mut t, 0, 0);
            assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0, "{what}");
            assert_eq!(used(&asp, 0, 0).0, 0, "{what}: nothing used");
        }
        assert!(std::fs::read(&img.0).unwrap()[..512].iter().all(|&x| x == 0));
    }
}
