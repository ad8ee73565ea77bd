//! virtio-console with a single port (no MULTIPORT, no size): queue 0 receives (host to guest),
//! queue 1 transmits (guest to host, written to a `Write`).
//!
//! Host input waits in a bounded buffer until the driver posts receive buffers;
//! [`MmioTransport::enqueue_input`] reports how much of the offered input it took.

use std::collections::VecDeque;
use std::io::Write;

use super::{GuestRam, MmioTransport, Queue, QueueError, VirtioDevice, VIRTIO_ID_CONSOLE};

const RX_QUEUE: usize = 0;
const TX_QUEUE: usize = 1;
/// Host input held while the guest has no receive buffers posted.
pub const INPUT_CAPACITY: usize = 4096;
/// Bytes taken from one transmit chain at most; the rest of a larger chain is dropped (logged).
const MAX_TX_CHAIN: u64 = 64 * 1024;

pub struct VirtioConsole {
    output: Box<dyn Write + Send>,
    input: VecDeque<u8>,
}

impl VirtioConsole {
    pub fn new(output: Box<dyn Write + Send>) -> Self {
        Self { output, input: VecDeque::new() }
    }

    fn fill_rx(&mut self, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError> {
        let mut used = false;
        while !self.input.is_empty() {
            let Some(chain) = queue.pop(mem)? else { break };
            if chain.writable_len() == 0 {
                return Err(QueueError::Request("receive buffer with no device-writable space"));
            }
            let n = (chain.writable_len().min(self.input.len() as u64)) as usize;
            let bytes: Vec<u8> = self.input.drain(..n).collect();
            chain.write_at(mem, 0, &bytes)?;
            queue.add_used(mem, chain.head, n as u32)?;
            used = true;
        }
        Ok(used)
    }

    fn drain_tx(&mut self, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError> {
        let mut used = false;
        while let Some(chain) = queue.pop(mem)? {
            let len = chain.readable_len();
            if len > MAX_TX_CHAIN {
                log::warn!("guest error: virtio-console transmit chain of {len} bytes truncated");
            }
            let mut buf = vec![0u8; len.min(MAX_TX_CHAIN) as usize];
            chain.read_at(mem, 0, &mut buf)?;
            if let Err(e) = self.output.write_all(&buf).and_then(|_| self.output.flush()) {
                log::warn!("virtio-console: output error, {} bytes dropped: {e}", buf.len());
            }
            queue.add_used(mem, chain.head, 0)?;
            used = true;
        }
        Ok(used)
    }
}

impl VirtioDevice for VirtioConsole {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_CONSOLE
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256, 256]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // cols, rows, max_nr_ports, emerg_wr: all zero without the features that give them meaning.
        super::read_config_bytes(&[0; 12], offset, data);
    }

    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &dyn GuestRam) -> Result<bool, QueueError> {
        match index {
            RX_QUEUE => self.fill_rx(queue, mem),
            TX_QUEUE => self.drain_tx(queue, mem),
            _ => Ok(false),
        }
    }

    fn reset(&mut self) {
        self.input.clear();
    }
}

impl MmioTransport<VirtioConsole> {
    /// Offer host input to the guest; returns how many leading bytes were taken (the rest did not
    /// fit the bounded buffer and should be offered again later).
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let dev = self.device_mut();
        let n = INPUT_CAPACITY.saturating_sub(dev.input.len()).min(bytes.len());
        dev.input.extend(&bytes[..n]);
        self.process_queue(RX_QUEUE);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::super::mmio::STATUS_DEVICE_NEEDS_RESET;
    use super::super::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use super::super::testutil::*;
    use super::*;
    use std::sync::Arc;

    type Sink = crate::chardev::BufferWriter;

    fn setup() -> (MmioTransport<VirtioConsole>, Arc<crate::AddressSpace>, Sink, Arc<crate::irq::PendingBits>) {
        let (asp, bits) = ram();
        let sink = Sink::default();
        let mut t = MmioTransport::new(VirtioConsole::new(Box::new(sink.clone())), asp.clone(), bits.line(0));
        bring_up(&mut t, 2);
        (t, asp, sink, bits)
    }

    #[test]
    fn transmit_round_trip() {
        let (mut t, asp, sink, bits) = setup();
        asp.write(BUF, b"hello, ").unwrap();
        asp.write(BUF + 0x100, b"world").unwrap();
        put_desc_q(&asp, 1, 0, BUF, 7, VIRTQ_DESC_F_NEXT, 1);
        put_desc_q(&asp, 1, 1, BUF + 0x100, 5, 0, 0);
        publish(&asp, &mut t, 1, 0);
        assert_eq!(sink.contents(), b"hello, world");
        assert_eq!(used(&asp, 1, 0), (1, 0, 0));
        assert_eq!(bits.get(), 1);
    }

    #[test]
    fn receive_waits_for_buffers_and_is_bounded() {
        let (mut t, asp, _sink, _bits) = setup();
        assert_eq!(t.enqueue_input(b"abcdef"), 6, "held until the guest posts buffers");
        put_desc_q(&asp, 0, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 0);
        assert_eq!(used(&asp, 0, 0), (1, 0, 4));
        let mut b = [0u8; 4];
        asp.read_mem(BUF, &mut b).unwrap();
        assert_eq!(&b, b"abcd");
        put_desc_q(&asp, 0, 1, BUF + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 1);
        assert_eq!(used(&asp, 0, 1), (2, 1, 2), "the rest of the input");
        // No buffers posted now: input is buffered up to the bound.
        assert_eq!(t.enqueue_input(&vec![b'x'; INPUT_CAPACITY + 10]), INPUT_CAPACITY);
        assert_eq!(t.enqueue_input(b"y"), 0);
        put_desc_q(&asp, 0, 2, BUF, 0x1000, VIRTQ_DESC_F_WRITE, 0);
        publish(&asp, &mut t, 0, 2);
        assert_eq!(used(&asp, 0, 2), (3, 2, INPUT_CAPACITY as u32));
        assert_eq!(t.enqueue_input(b"y"), 1);
    }

    #[test]
    fn malicious_transmit_chains() {
        let (mut t, asp, sink, _bits) = setup();
        // A transmit buffer reaching past RAM.
        put_desc_q(&asp, 1, 0, RAM_BASE + RAM_SIZE - 4, 8, 0, 0);
        publish(&asp, &mut t, 1, 0);
        assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
        assert!(sink.contents().is_empty());
        // Receive buffers that are device-readable only: nothing can be written to them.
        let (mut t, asp, _sink, _bits) = setup();
        t.enqueue_input(b"z");
        put_desc_q(&asp, 0, 0, BUF, 4, 0, 0);
        publish(&asp, &mut t, 0, 0);
        assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0, "readable-only receive buffer");
    }
}
