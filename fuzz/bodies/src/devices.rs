//! Register-level devices: whatever sequence of accesses a guest makes, through the bus that
//! validates access sizes and window ends the way every board maps them.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mimic_hw::clock::Clock;
use mimic_hw::device::write_le;
use mimic_hw::devices::clint::{Clint, CLINT_SIZE};
use mimic_hw::devices::debug_exit::{DebugExit, DEBUG_EXIT_IOSIZE};
use mimic_hw::devices::goldfish_rtc::{GoldfishRtc, GOLDFISH_RTC_SIZE};
use mimic_hw::devices::htif::Htif;
use mimic_hw::devices::i8042::{I8042, I8042_SIZE};
use mimic_hw::devices::plic::{self, Plic};
use mimic_hw::devices::sifive_test::{SifiveTest, SIFIVE_TEST_SIZE};
use mimic_hw::devices::uart16550::{Uart16550, UART_REGS};
use mimic_hw::devices::virtio::mmio::EmptySlot;
use mimic_hw::irq::PendingBits;
use mimic_hw::{Bus, IrqLine, PowerControl, SharedDevice};

use crate::Input;

const BASE: u64 = 0x1000;

/// Device-specific host-side actions a run interleaves with the guest's accesses.
enum Side {
    None,
    Uart(Arc<Mutex<Uart16550>>),
    Plic(Vec<IrqLine>),
    Clint(Arc<Mutex<Clint>>),
    Rtc(Arc<Mutex<GoldfishRtc>>, Arc<AtomicU64>),
    Htif(Arc<Mutex<Htif>>),
}

/// A console that stops working part-way (a closed terminal or a full pipe).
struct FlakySink(u32);

impl Write for FlakySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.wrapping_add(1);
        if self.0 > 2 {
            self.0 = 0;
            Err(std::io::Error::other("console gone"))
        } else {
            Ok(buf.len())
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Input: a device selector and its construction parameters (hart and context counts, source
/// counts, HTIF word positions), then accesses `(kind, offset, size, value)` and host actions
/// (input bytes, interrupt source levels, timer polls, the passage of time).
pub fn devices_mmio(data: &[u8]) {
    let mut inp = Input::new(data);
    let which = inp.u8();
    let power = Arc::new(PowerControl::new());
    let pending = PendingBits::new();
    let console = || -> Box<dyn Write + Send> { Box::new(FlakySink(0)) };
    let (dev, size, side): (SharedDevice, u64, Side) = match which % 10 {
        kind @ (0 | 1) => {
            let u = Arc::new(Mutex::new(Uart16550::new(console(), pending.line(0))));
            // `virt` maps a 0x100 window, x86 port I/O exactly the eight registers.
            (u.clone(), if kind == 0 { 0x100 } else { UART_REGS }, Side::Uart(u))
        }
        2 => {
            let sources = u32::from(inp.u16() % 1200);
            let contexts = usize::from(inp.u8() % 5);
            let p = Arc::new(Mutex::new(Plic::new(sources, (0..contexts).map(|i| pending.line(i as u32)).collect())));
            let size = p.lock().unwrap_or_else(|e| e.into_inner()).window_size();
            let lines = (0..sources + 2).map(|s| plic::input_line(&p, s)).collect();
            (p, size, Side::Plic(lines))
        }
        3 => {
            let harts = usize::from(inp.u8() % 5);
            let clock = Arc::new(Clock::new(10_000_000));
            let c = Arc::new(Mutex::new(Clint::new(
                clock,
                (0..harts).map(|h| (pending.line(2 * h as u32), pending.line(2 * h as u32 + 1))).collect(),
            )));
            (c.clone(), CLINT_SIZE, Side::Clint(c))
        }
        4 => {
            let now = Arc::new(AtomicU64::new(inp.u64()));
            let t = now.clone();
            let r = Arc::new(Mutex::new(GoldfishRtc::with_time_source(
                pending.line(0),
                Box::new(move || t.load(Ordering::Relaxed)),
            )));
            (r.clone(), GOLDFISH_RTC_SIZE, Side::Rtc(r, now))
        }
        5 => {
            // tohost and fromhost anywhere within a few words of each other, either order.
            let tohost = 0x8000_1000 + 8 * u64::from(inp.u8() % 16);
            let fromhost = 0x8000_1000 + 8 * u64::from(inp.u8() % 16);
            let h = Arc::new(Mutex::new(Htif::new(tohost, fromhost, console(), power.clone())));
            (h.clone(), Htif::window_size(tohost, fromhost).expect("words 120 bytes apart at most"), Side::Htif(h))
        }
        6 => (Arc::new(Mutex::new(SifiveTest::new(power.clone()))), SIFIVE_TEST_SIZE, Side::None),
        7 => (Arc::new(Mutex::new(I8042::new(power.clone()))), I8042_SIZE, Side::None),
        8 => (Arc::new(Mutex::new(DebugExit::new(power.clone()))), DEBUG_EXIT_IOSIZE, Side::None),
        _ => (Arc::new(Mutex::new(EmptySlot)), 0x1000, Side::None),
    };
    let mut bus = Bus::new();
    bus.insert(BASE, size, dev).expect("one window");

    for _ in 0..1024 {
        if inp.is_empty() {
            break;
        }
        let op = inp.u8();
        match op % 4 {
            kind @ (0 | 1) => {
                // Offsets mostly inside the window, some just past it.
                let off = if op & 0x80 != 0 { inp.u64() } else { u64::from(inp.u32()) % size.saturating_add(16) };
                let len = inp.access_len();
                let mut buf = [0u8; 8];
                let addr = BASE.wrapping_add(off);
                if kind == 0 {
                    write_le(&mut buf[..len.min(8)], inp.u64());
                    let _ = bus.write(addr, &buf[..len]);
                } else {
                    let _ = bus.read(addr, &mut buf[..len]);
                }
            }
            2 => side_action(&side, &mut inp),
            _ => {
                let _ = power.take();
            }
        }
    }
    let _ = pending.get();
}

fn side_action(side: &Side, inp: &mut Input) {
    match side {
        Side::None => {}
        Side::Uart(u) => {
            let n = usize::from(inp.u8());
            let mut u = u.lock().unwrap_or_else(|p| p.into_inner());
            let room = u.rx_room();
            let taken = u.enqueue_input(&vec![b'k'; n]);
            assert!(taken <= n && taken <= room, "uart took {taken} of {n} with room for {room}");
        }
        Side::Plic(lines) => {
            let s = usize::from(inp.u16());
            if let Some(l) = lines.get(s % lines.len().max(1)) {
                l.set(inp.u8() & 1 == 1);
            }
        }
        Side::Clint(c) => {
            let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
            c.poll();
            let _ = c.next_deadline_ns();
        }
        Side::Rtc(r, now) => {
            let step = inp.u64();
            if step & 1 == 0 {
                now.fetch_add(step >> 1, Ordering::Relaxed);
            } else {
                now.store(step >> 1, Ordering::Relaxed);
            }
            let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
            r.poll();
            let _ = r.next_deadline_ns();
        }
        Side::Htif(h) => {
            let n = usize::from(inp.u8());
            h.lock().unwrap_or_else(|p| p.into_inner()).push_input(&vec![b'h'; n]);
        }
    }
}
