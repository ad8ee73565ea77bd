//! virtio-rng (entropy device): fills each chain's device-writable buffers from the host's
//! `/dev/urandom`. Device-readable buffers in a request carry nothing and are ignored.

use std::fs::File;
use std::io::Read;

use super::{GuestRam, Queue, QueueError, VirtioDevice, VIRTIO_ID_RNG};

/// Bytes served per request at most; a driver asking for more gets a short (valid) answer
/// instead of stalling the vCPU that notified.
const MAX_PER_REQUEST: u64 = 64 * 1024;

pub struct VirtioRng {
    source: Box<dyn Read + Send>,
}

impl VirtioRng {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self::with_source(Box::new(File::open("/dev/urandom")?)))
    }

    /// Any byte source (tests use a fixed pattern).
    pub fn with_source(source: Box<dyn Read + Send>) -> Self {
        Self { source }
    }
}

impl VirtioDevice for VirtioRng {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_RNG
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256]
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn process_queue(&mut self, _index: usize, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError> {
        let mut used = false;
        let mut buf = vec![0u8; 4096];
        while let Some(chain) = queue.pop(mem)? {
            let want = chain.writable_len().min(MAX_PER_REQUEST);
            let mut done = 0u64;
            while done < want {
                let n = (want - done).min(buf.len() as u64) as usize;
                if let Err(e) = self.source.read_exact(&mut buf[..n]) {
                    log::warn!("virtio-rng: entropy source failed: {e}");
                    break;
                }
                chain.write_at(mem, done, &buf[..n])?;
                done += n as u64;
            }
            queue.add_used(mem, chain.head, done as u32)?;
            used = true;
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::super::queue::{VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use super::super::testutil::*;
    use super::super::MmioTransport;
    use super::*;

    fn setup(
    ) -> (MmioTransport<VirtioRng>, std::sync::Arc<crate::AddressSpace>, std::sync::Arc<crate::irq::PendingBits>) {
        let (asp, bits) = ram();
        let dev = VirtioRng::with_source(Box::new(std::io::repeat(0x5a)));
        let mut t = MmioTransport::new(dev, asp.clone(), bits.line(0));
        bring_up(&mut t, 1);
        (t, asp, bits)
    }

    #[test]
    fn round_trip_fills_writable_buffers() {
        let (mut t, asp, bits) = setup();
        put_desc(&asp, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
        put_desc(&asp, 1, BUF + 0x100, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
        put_desc(&asp, 2, BUF + 0x200, 0, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 0);
        assert_eq!(used(&asp, 0, 0), (1, 0, 32));
        let mut b = [0u8; 33];
        asp.read_mem(BUF + 0x100, &mut b).unwrap();
        assert!(b[..32].iter().all(|&x| x == 0x5a));
        assert_eq!(b[32], 0, "nothing past the buffer");
        asp.read_mem(BUF, &mut b[..4]).unwrap();
        assert_eq!(&b[..4], &[0; 4], "readable buffers are not written");
        assert_eq!(bits.get(), 1);
        assert_eq!(rd32(&mut t, 0x60), 1);
        wr32(&mut t, 0x64, 1);
        assert_eq!(bits.get(), 0);
        // VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the used-buffer interrupt.
        asp.write(AVAIL, &VIRTQ_AVAIL_F_NO_INTERRUPT.to_le_bytes()).unwrap();
        put_desc(&asp, 3, BUF + 0x300, 8, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 3);
        assert_eq!(used(&asp, 0, 1), (2, 3, 8));
        assert_eq!(bits.get(), 0);
    }

    #[test]
    fn real_urandom_and_huge_requests_are_capped() {
        let (asp, bits) = ram();
        let mut t = MmioTransport::new(VirtioRng::new().unwrap(), asp.clone(), bits.line(0));
        bring_up(&mut t, 1);
        put_desc(&asp, 0, BUF, 0x8_0000, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 0);
        assert_eq!(used(&asp, 0, 0), (1, 0, MAX_PER_REQUEST as u32));
        let mut b = [0u8; 64];
        asp.read_mem(BUF, &mut b).unwrap();
        assert!(b.iter().any(|&x| x != 0), "random bytes arrived");
    }

    #[test]
    fn malicious_requests() {
        let (mut t, asp, _bits) = setup();
        // Writable buffer outside RAM: the device needs reset, nothing is written anywhere.
        put_desc(&asp, 0, 0x1000, 16, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 0);
        assert_ne!(t.status() & super::super::mmio::STATUS_DEVICE_NEEDS_RESET, 0);
        assert_eq!(used(&asp, 0, 0).0, 0);
    }
}
