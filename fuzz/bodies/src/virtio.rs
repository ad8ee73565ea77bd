//! virtio: the descriptor rings live in guest RAM and the guest may write anything there at any
//! time; the transport registers are the guest's to poke in any order.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::device::{read_le, write_le, Device};
use mimic_hw::devices::virtio::blk::VirtioBlk;
use mimic_hw::devices::virtio::console::VirtioConsole;
use mimic_hw::devices::virtio::mmio::EmptySlot;
use mimic_hw::devices::virtio::rng::VirtioRng;
use mimic_hw::devices::virtio::{read_chain, GuestRam, LateRam, MmioTransport, Queue, VirtioDevice};
use mimic_hw::irq::PendingBits;
use mimic_hw::AddressSpace;

use crate::Input;

/// Guest memory for the virtio targets. RAM starts at 0 so that small numbers in the input are
/// RAM addresses (the fuzzer finds rings and buffers without guessing a base); a ROM and a hole
/// follow it, and an MMIO overlay sits inside RAM, so DMA aimed at each of them is exercised.
pub const RAM_SIZE: u64 = 0x1_0000;
const ROM_BASE: u64 = 0x2_0000;
const ROM_SIZE: u64 = 0x1000;
const OVERLAY_BASE: u64 = 0xf000;
const OVERLAY_SIZE: u64 = 0x10;
/// Where the transport under test is mapped.
pub const MMIO_BASE: u64 = 0x1000_0000;

/// A register window inside RAM that counts the writes reaching it: device DMA must never.
struct Tripwire(Arc<AtomicUsize>);

impl Device for Tripwire {
    fn name(&self) -> &str {
        "tripwire"
    }
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0xee);
    }
    fn write(&mut self, _offset: u64, _data: &[u8]) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn memory() -> (AddressSpace, Arc<AtomicUsize>) {
    let mut asp =
        AddressSpace::new(&[MemRegionSpec::ram("ram", 0, RAM_SIZE), MemRegionSpec::rom("rom", ROM_BASE, ROM_SIZE)])
            .expect("fixed layout");
    let hits = Arc::new(AtomicUsize::new(0));
    asp.add_mmio_overlay(OVERLAY_BASE, OVERLAY_SIZE, Arc::new(Mutex::new(Tripwire(hits.clone()))))
        .expect("fixed layout");
    (asp, hits)
}

/// A guest address from the input: usually an offset into RAM, sometimes any 64-bit value.
fn addr(inp: &mut Input) -> u64 {
    let sel = inp.u8();
    if sel & 0xc0 == 0xc0 {
        inp.u64()
    } else {
        u64::from(inp.u16())
    }
}

/// Input: descriptor-table address, queue size and head for [`read_chain`], a few accesses
/// through the resulting chain, ring addresses for a [`Queue`], then the content of RAM.
pub fn virtqueue_chain(data: &[u8]) {
    let mut inp = Input::new(data);
    let desc = addr(&mut inp);
    let size = inp.u16();
    let head = inp.u16();
    let accesses: Vec<(u64, usize, bool)> =
        (0..4).map(|_| (u64::from(inp.u16()), usize::from(inp.u16() % 2048), inp.u8() & 1 == 1)).collect();
    let mut q = Queue::new(inp.u16());
    q.size = inp.u32();
    q.desc_table = addr(&mut inp);
    q.avail_ring = addr(&mut inp);
    q.used_ring = addr(&mut inp);
    let (asp, tripwire) = memory();
    asp.load(0, inp.bytes(RAM_SIZE as usize)).expect("RAM");
    let mem: &dyn GuestRam = &asp;

    if let Ok(chain) = read_chain(mem, desc, size, head) {
        assert_eq!(chain.head, head);
        let segs = chain.readable.len() + chain.writable.len();
        assert!(segs <= usize::from(size).max(usize::from(mimic_hw::devices::virtio::queue::MAX_QUEUE_SIZE)));
        for s in chain.readable.iter().chain(&chain.writable) {
            assert!(s.len > 0 && mem.is_ram(s.addr, u64::from(s.len)), "segment {s:?} is not RAM");
        }
        for (offset, len, write) in accesses {
            let mut buf = vec![0x3cu8; len];
            let (r, total) = if write {
                (chain.write_at(mem, offset, &buf), chain.writable_len())
            } else {
                (chain.read_at(mem, offset, &mut buf), chain.readable_len())
            };
            // Empty accesses succeed anywhere; others exactly when they fit the chain.
            assert_eq!(
                r.is_ok(),
                len == 0 || offset + len as u64 <= total,
                "access {offset}+{len} to a chain of {total} bytes"
            );
        }
    }

    if q.validate(mem).is_ok() {
        for i in 0..4u32 {
            match q.pop(mem) {
                Ok(Some(chain)) => {
                    let _ = q.add_used(mem, chain.head, i);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = q.wants_interrupt(mem);
    }
    assert_eq!(tripwire.load(Ordering::Relaxed), 0, "device DMA reached MMIO");
}

/// A disk image in memory (memfd): fast, private to this run, gone when closed.
fn memfd_image(len: u64, fill: u8) -> std::fs::File {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"mimic-fuzz-disk".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor nothing else owns; the File takes ownership and closes it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let bytes: Vec<u8> = (0..len).map(|i| fill ^ (i / 512) as u8).collect();
    f.write_all(&bytes).expect("memfd write");
    f
}

/// An entropy source that fails after `n` bytes (a host `/dev/urandom` read error).
struct Failing(usize);

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("entropy source failed"));
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(0x42);
        self.0 -= n;
        Ok(n)
    }
}

/// A console sink that fails every write (a closed host terminal).
struct Broken;

impl Write for Broken {
    fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("console gone"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Register offsets of the virtio-mmio window, for ops that name registers (the fuzzer also
/// writes arbitrary offsets).
const REGS: [u64; 24] = [
    0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034, 0x038, 0x044, 0x050, 0x060, 0x064, 0x070,
    0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x0fc, 0x100,
];

/// What the harness remembers of the queues it set up, to publish buffers on them.
#[derive(Clone, Copy, Default)]
struct Rings {
    avail: u64,
    size: u16,
}

struct Harness {
    asp: Arc<AddressSpace>,
    console: Option<Arc<Mutex<MmioTransport<VirtioConsole>>>>,
    rings: [Rings; 2],
}

impl Harness {
    fn wr(&self, off: u64, data: &[u8]) {
        let _ = self.asp.write(MMIO_BASE + off, data);
    }
    fn wr32(&self, off: u64, v: u32) {
        self.wr(off, &v.to_le_bytes());
    }
    fn rd32(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        let _ = self.asp.read(MMIO_BASE + off, &mut b);
        u32::from_le_bytes(b)
    }

    /// The driver's bring-up sequence (virtio 1.x §3.1.1) for queue `q`, with the input choosing
    /// the features, the queue size and where the rings go.
    /// Bit 1 of the queue byte skips the reset and feature negotiation (a second queue).
    fn bring_up(&mut self, inp: &mut Input) {
        let qsel = inp.u8();
        let q = u32::from(qsel & 1);
        let feature_mask = inp.u64();
        let size = match inp.u8() {
            0 => u32::from(inp.u16()),
            s => 1 << (s % 9),
        };
        let (desc, avail, used) = (addr(inp), addr(inp), addr(inp));
        if qsel & 2 == 0 {
            self.wr32(0x70, 0);
            self.wr32(0x70, 1 | 2);
            for sel in 0..2 {
                self.wr32(0x14, sel);
                let offered = self.rd32(0x10);
                self.wr32(0x24, sel);
                self.wr32(0x20, offered & (feature_mask >> (32 * sel)) as u32);
            }
            self.wr32(0x70, 1 | 2 | 8);
        }
        self.wr32(0x30, q);
        self.wr32(0x38, size);
        for (reg, a) in [(0x80, desc), (0x90, avail), (0xa0, used)] {
            self.wr32(reg, a as u32);
            self.wr32(reg + 4, (a >> 32) as u32);
        }
        self.wr32(0x44, 1);
        self.wr32(0x70, 1 | 2 | 8 | 4);
        self.rings[q as usize] = Rings { avail, size: size as u16 };
    }

    /// Put `head` in the next avail slot of queue `q`, bump the index, notify.
    fn publish(&self, q: usize, head: u16) {
        let r = self.rings[q];
        let mut idx = [0u8; 2];
        if r.size == 0 || self.asp.read_mem(r.avail.wrapping_add(2), &mut idx).is_err() {
            return;
        }
        let idx = u16::from_le_bytes(idx);
        let slot = r.avail.wrapping_add(4 + 2 * u64::from(idx % r.size));
        let _ = self.asp.load(slot, &head.to_le_bytes());
        let _ = self.asp.load(r.avail.wrapping_add(2), &idx.wrapping_add(1).to_le_bytes());
        self.wr32(0x50, q as u32);
    }
}

/// Input: the backend (virtio-blk read-write or read-only over a small in-memory image,
/// virtio-rng with a good or a failing source, virtio-console with a good or a broken sink, or
/// an empty slot), then a sequence of guest actions: register reads and writes of any size at any
/// offset, the driver's bring-up, writes of descriptors and data into RAM, publishing a chain,
/// console input from the host.
pub fn virtio_mmio_device(data: &[u8]) {
    run_virtio_mmio(data);
}

/// [`virtio_mmio_device`], returning guest memory for the seeds' tests.
fn run_virtio_mmio(data: &[u8]) -> Arc<AddressSpace> {
    let mut inp = Input::new(data);
    let backend = inp.u8();
    let image_len = u64::from(inp.u16() % (64 * 512 + 1));
    let (mut asp, tripwire) = memory();
    let late = LateRam::new();
    let bits = PendingBits::new();
    let irq = bits.line(0);
    fn transport<D: VirtioDevice + 'static>(
        d: D,
        late: &Arc<LateRam>,
        irq: mimic_hw::IrqLine,
    ) -> Arc<Mutex<MmioTransport<D>>> {
        Arc::new(Mutex::new(MmioTransport::new(d, late.clone(), irq)))
    }
    let mut console = None;
    let dev: mimic_hw::SharedDevice = match backend % 7 {
        0 | 1 => {
            let blk =
                VirtioBlk::new(memfd_image(image_len, backend), backend % 7 == 1, "fuzz-disk").expect("memfd metadata");
            transport(blk, &late, irq)
        }
        2 => transport(VirtioRng::with_source(Box::new(std::io::repeat(0x5a))), &late, irq),
        3 => transport(VirtioRng::with_source(Box::new(Failing(usize::from(backend >> 3) * 97))), &late, irq),
        4 | 5 => {
            let sink: Box<dyn Write + Send> =
                if backend % 7 == 4 { Box::new(std::io::sink()) } else { Box::new(Broken) };
            let t = transport(VirtioConsole::new(sink), &late, irq);
            console = Some(t.clone());
            t
        }
        _ => Arc::new(Mutex::new(EmptySlot)),
    };
    asp.add_mmio(MMIO_BASE, mimic_hw::devices::virtio::mmio::VIRTIO_MMIO_SIZE, dev).expect("fixed layout");
    let asp = Arc::new(asp);
    let ram: Arc<dyn GuestRam> = asp.clone();
    late.bind(&ram);
    let mut h = Harness { asp, console, rings: [Rings::default(); 2] };

    for _ in 0..512 {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 8 {
            0 => {
                let off =
                    if inp.u8() & 1 == 0 { REGS[usize::from(inp.u8()) % REGS.len()] } else { u64::from(inp.u16()) };
                let len = inp.access_len();
                let mut buf = [0u8; 8];
                write_le(&mut buf[..len.min(8)], inp.u64());
                h.wr(off, &buf[..len]);
            }
            1 => {
                let off = u64::from(inp.u16() % 0x1100);
                let len = inp.access_len();
                let mut buf = [0u8; 8];
                let _ = h.asp.read(MMIO_BASE + off, &mut buf[..len]);
                let _ = read_le(&buf[..len]);
            }
            2 => h.bring_up(&mut inp),
            3 => {
                // A descriptor: address, length, flags, next.
                let at = addr(&mut inp);
                let mut d = [0u8; 16];
                d[..8].copy_from_slice(&addr(&mut inp).to_le_bytes());
                d[8..12].copy_from_slice(&inp.u32().to_le_bytes());
                d[12..14].copy_from_slice(&u16::from(inp.u8() & 7).to_le_bytes());
                d[14..].copy_from_slice(&inp.u16().to_le_bytes());
                let _ = h.asp.load(at, &d);
            }
            4 => {
                // Raw bytes into RAM (request headers, ring contents).
                let at = u64::from(inp.u16());
                let n = usize::from(inp.u8());
                let _ = h.asp.load(at, inp.bytes(n));
            }
            5 => {
                let q = usize::from(inp.u8() & 1);
                let head = inp.u16();
                h.publish(q, head);
            }
            6 => {
                if let Some(c) = &h.console {
                    let n = usize::from(inp.u16() % 5000);
                    let bytes = vec![b'i'; n];
                    let taken = c.lock().unwrap_or_else(|p| p.into_inner()).enqueue_input(&bytes);
                    assert!(taken <= n);
                }
            }
            _ => {
                let v = inp.u32();
                h.wr32(0x70, v & 0xff);
            }
        }
    }
    assert_eq!(tripwire.load(Ordering::Relaxed), 0, "device DMA reached MMIO");
    let _ = bits.get();
    h.asp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds::seeds;

    fn seed(name: &str) -> Vec<u8> {
        seeds().into_iter().find(|(t, n, _)| *t == "virtio_mmio_device" && n == name).expect("seed").2
    }

    fn mem_u16(asp: &AddressSpace, addr: u64) -> u16 {
        let mut b = [0u8; 2];
        asp.read_mem(addr, &mut b).unwrap();
        u16::from_le_bytes(b)
    }

    /// The seeds are real round trips, so the fuzzer starts from requests that reach the devices.
    #[test]
    fn seeds_complete_their_requests() {
        for name in ["blk-read", "blk-write", "blk-get-id", "blk-ro-write"] {
            let asp = run_virtio_mmio(&seed(name));
            assert_eq!(mem_u16(&asp, 0x2002), 1, "{name}: one used buffer");
            let mut status = [0xffu8];
            asp.read_mem(0x3100, &mut status).unwrap();
            assert_eq!(status[0], if name == "blk-ro-write" { 1 } else { 0 }, "{name}: status");
        }
        let asp = run_virtio_mmio(&seed("blk-read"));
        let mut sector = [0u8; 2];
        asp.read_mem(0x4000, &mut sector).unwrap();
        assert_eq!(sector, [1, 1], "sector 1 of an image filled with backend ^ sector");
        for name in ["rng", "rng-indirect"] {
            let asp = run_virtio_mmio(&seed(name));
            assert_eq!(mem_u16(&asp, 0x902), 1, "{name}: one used buffer");
        }
        let asp = run_virtio_mmio(&seed("console"));
        assert_eq!(mem_u16(&asp, 0xa002), 1, "console: transmit buffer used");
        assert_eq!(mem_u16(&asp, 0x2002), 1, "console: receive buffer used");
        let mut b = [0u8; 8];
        asp.read_mem(0x5000, &mut b).unwrap();
        assert_eq!(&b, b"iiiiiiii");
    }
}
