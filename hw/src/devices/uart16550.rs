//! NS16550A UART, as on QEMU's `virt` (8 byte-wide registers, `reg-shift` 0), driven by Linux's
//! 8250 driver and OpenSBI.
//!
//! Transmission is instantaneous: a THR write goes straight to the output and THR is empty again
//! at once, so the THRE interrupt (when enabled) is pending again right after every write, as on
//! QEMU. The host feeds input with [`Uart16550::enqueue_input`], which takes only what fits the
//! receive FIFO (16 bytes, or the 1-byte holding register with FIFOs off) so the caller keeps the
//! rest instead of the UART losing it to an overrun. Below the FIFO trigger level received data
//! reports the character-timeout interrupt at once (hardware waits four character times; drivers
//! treat both identically).

use std::collections::VecDeque;
use std::io::Write;

use crate::device::{AccessSizes, Device};
use crate::irq::IrqLine;

/// Size of the register window (the `virt` machine maps 0x100 bytes).
pub const UART_REGS: u64 = 8;
const FIFO_LEN: usize = 16;

const IER_RDA: u8 = 1;
const IER_THRE: u8 = 2;
const IER_RLS: u8 = 4;
const IER_MS: u8 = 8;

const IIR_NONE: u8 = 0x01;
const IIR_MS: u8 = 0x00;
const IIR_THRE: u8 = 0x02;
const IIR_RDA: u8 = 0x04;
const IIR_RLS: u8 = 0x06;
const IIR_TIMEOUT: u8 = 0x0c;
const IIR_FIFO: u8 = 0xc0;

const FCR_ENABLE: u8 = 1;
const FCR_CLEAR_RX: u8 = 2;

const LCR_DLAB: u8 = 0x80;

const MCR_DTR: u8 = 1;
const MCR_RTS: u8 = 2;
const MCR_OUT1: u8 = 4;
const MCR_OUT2: u8 = 8;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 1;
const LSR_OE: u8 = 2;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

const MSR_CTS: u8 = 0x10;
const MSR_DSR: u8 = 0x20;
const MSR_RI: u8 = 0x40;
const MSR_DCD: u8 = 0x80;
/// Without loopback the far end is a connected terminal: carrier, DSR and CTS are asserted.
const MSR_CONNECTED: u8 = MSR_DCD | MSR_DSR | MSR_CTS;

pub struct Uart16550 {
    rx: VecDeque<u8>,
    ier: u8,
    lcr: u8,
    mcr: u8,
    /// Only the error bits (OE); DR, THRE and TEMT are derived.
    lsr_errors: u8,
    msr: u8,
    scr: u8,
    divisor: u16,
    fifo_enabled: bool,
    rx_trigger: usize,
    /// THR emptied and the THRE interrupt not yet acknowledged (by an IIR read or a THR write).
    thr_ipending: bool,
    output: Box<dyn Write + Send>,
    irq: IrqLine,
}

impl Uart16550 {
    pub fn new(output: Box<dyn Write + Send>, irq: IrqLine) -> Self {
        Self {
            rx: VecDeque::with_capacity(FIFO_LEN),
            ier: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: MSR_CONNECTED,
            scr: 0,
            divisor: 0,
            fifo_enabled: false,
            rx_trigger: 1,
            thr_ipending: false,
            output,
            irq,
        }
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_LEN
        } else {
            1
        }
    }

    /// Bytes [`Self::enqueue_input`] would take now.
    pub fn rx_room(&self) -> usize {
        if self.mcr & MCR_LOOP != 0 {
            0
        } else {
            self.rx_capacity().saturating_sub(self.rx.len())
        }
    }

    /// Offer host input to the receiver; returns how many leading bytes were taken. In loopback
    /// mode the serial input is disconnected and nothing is taken.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let n = self.rx_room().min(bytes.len());
        self.rx.extend(&bytes[..n]);
        if n > 0 {
            self.update_irq();
        }
        n
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.is_empty() { 0 } else { LSR_DR };
        dr | self.lsr_errors | LSR_THRE | LSR_TEMT
    }

    fn iir_id(&self) -> u8 {
        if self.ier & IER_RLS != 0 && self.lsr_errors != 0 {
            IIR_RLS
        } else if self.ier & IER_RDA != 0 && !self.rx.is_empty() {
            if self.rx.len() >= self.rx_trigger {
                IIR_RDA
            } else {
                IIR_TIMEOUT
            }
        } else if self.ier & IER_THRE != 0 && self.thr_ipending {
            IIR_THRE
        } else if self.ier & IER_MS != 0 && self.msr & 0x0f != 0 {
            IIR_MS
        } else {
            IIR_NONE
        }
    }

    fn update_irq(&self) {
        self.irq.set(self.iir_id() != IIR_NONE);
    }

    /// Modem status inputs as loopback wires them, with delta bits for lines that changed.
    fn set_modem_inputs(&mut self, new: u8) {
        let old = self.msr & 0xf0;
        let changed = old ^ new;
        let mut delta = self.msr & 0x0f;
        if changed & MSR_CTS != 0 {
            delta |= 1;
        }
        if changed & MSR_DSR != 0 {
            delta |= 2;
        }
        // TERI: RI going from on to off.
        if old & MSR_RI != 0 && new & MSR_RI == 0 {
            delta |= 4;
        }
        if changed & MSR_DCD != 0 {
            delta |= 8;
        }
        self.msr = new | delta;
    }

    fn loop_msr(mcr: u8) -> u8 {
        let mut m = 0;
        if mcr & MCR_RTS != 0 {
            m |= MSR_CTS;
        }
        if mcr & MCR_DTR != 0 {
            m |= MSR_DSR;
        }
        if mcr & MCR_OUT1 != 0 {
            m |= MSR_RI;
        }
        if mcr & MCR_OUT2 != 0 {
            m |= MSR_DCD;
        }
        m
    }

    fn transmit(&mut self, byte: u8) {
        if self.mcr & MCR_LOOP != 0 {
            if self.rx.len() < self.rx_capacity() {
                self.rx.push_back(byte);
            } else {
                self.lsr_errors |= LSR_OE;
            }
        } else if let Err(e) = self.output.write_all(&[byte]).and_then(|_| self.output.flush()) {
            log::warn!("uart16550: output error, byte dropped: {e}");
        }
        self.thr_ipending = true;
    }

    fn read_reg(&mut self, offset: u64) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor as u8,
            0 => {
                let b = self.rx.pop_front().unwrap_or(0);
                self.update_irq();
                b
            }
            1 if dlab => (self.divisor >> 8) as u8,
            1 => self.ier,
            2 => {
                let id = self.iir_id();
                if id == IIR_THRE {
                    // Reading IIR while it reports THRE acknowledges that interrupt.
                    self.thr_ipending = false;
                    self.update_irq();
                }
                id | if self.fifo_enabled { IIR_FIFO } else { 0 }
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let v = self.lsr();
                self.lsr_errors = 0;
                self.update_irq();
                v
            }
            6 => {
                let v = self.msr;
                self.msr &= 0xf0;
                self.update_irq();
                v
            }
            7 => self.scr,
            o => {
                log::warn!("guest error: uart16550 read at unmapped offset {o:#x}");
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, v: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor = (self.divisor & 0xff00) | v as u16,
            0 => {
                self.thr_ipending = false;
                self.transmit(v);
            }
            1 if dlab => self.divisor = (self.divisor & 0x00ff) | (v as u16) << 8,
            1 => {
                let changed = (self.ier ^ v) & 0x0f;
                self.ier = v & 0x0f;
                // Enabling ETBEI with THR empty raises THRE at once, as hardware and QEMU do;
                // Linux's 8250 driver relies on it to start transmission.
                if changed & IER_THRE != 0 {
                    self.thr_ipending = self.ier & IER_THRE != 0;
                }
            }
            2 => {
                let enable = v & FCR_ENABLE != 0;
                if enable != self.fifo_enabled {
                    self.rx.clear();
                }
                self.fifo_enabled = enable;
                if v & FCR_CLEAR_RX != 0 {
                    self.rx.clear();
                }
                // TX FIFO clear needs no action: transmission is instantaneous.
                self.rx_trigger = if enable { [1, 4, 8, 14][(v >> 6) as usize] } else { 1 };
            }
            3 => self.lcr = v,
            4 => {
                let was_loop = self.mcr & MCR_LOOP != 0;
                self.mcr = v & 0x1f;
                if self.mcr & MCR_LOOP != 0 {
                    self.set_modem_inputs(Self::loop_msr(self.mcr));
                } else if was_loop {
                    self.set_modem_inputs(MSR_CONNECTED);
                }
            }
            5 | 6 => log::debug!("uart16550: write of {v:#x} to read-only status register {offset}"),
            7 => self.scr = v,
            o => log::warn!("guest error: uart16550 write at unmapped offset {o:#x}"),
        }
        self.update_irq();
    }
}

impl Device for Uart16550 {
    fn name(&self) -> &str {
        "uart16550"
    }

    fn access_sizes(&self) -> AccessSizes {
        AccessSizes::B1
    }

    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        data[0] = self.read_reg(offset);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.write_reg(offset, data[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::PendingBits;
    use std::sync::Arc;

    type Sink = crate::chardev::BufferWriter;

    fn setup() -> (Uart16550, Sink, Arc<PendingBits>) {
        let sink = Sink::default();
        let bits = PendingBits::new();
        (Uart16550::new(Box::new(sink.clone()), bits.line(0)), sink, bits)
    }
    fn rd(u: &mut Uart16550, off: u64) -> u8 {
        let mut b = [0u8];
        u.read(off, &mut b);
        b[0]
    }
    fn wr(u: &mut Uart16550, off: u64, v: u8) {
        u.write(off, &[v]);
    }

    #[test]
    fn transmit_and_thre_interrupt() {
        let (mut u, sink, bits) = setup();
        wr(&mut u, 0, b'h');
        wr(&mut u, 0, b'i');
        assert_eq!(sink.contents(), b"hi");
        assert_eq!(rd(&mut u, 5), LSR_THRE | LSR_TEMT);
        assert_eq!(bits.get(), 0, "no interrupts enabled");
        assert_eq!(rd(&mut u, 2), IIR_NONE);
        // Enabling ETBEI with THR empty interrupts at once.
        wr(&mut u, 1, IER_THRE);
        assert_eq!(bits.get(), 1);
        assert_eq!(rd(&mut u, 2), IIR_THRE);
        assert_eq!(bits.get(), 0, "reading IIR acknowledges THRE");
        assert_eq!(rd(&mut u, 2), IIR_NONE);
        wr(&mut u, 0, b'!');
        assert_eq!(bits.get(), 1, "THR empties again after a write");
        wr(&mut u, 1, 0);
        assert_eq!(bits.get(), 0);
    }

    #[test]
    fn receive_with_fifo_and_priorities() {
        let (mut u, _sink, bits) = setup();
        assert_eq!(u.enqueue_input(b"abc"), 1, "without FIFO only the holding register");
        wr(&mut u, 2, FCR_ENABLE | FCR_CLEAR_RX | 0x80); // trigger level 8
        assert_eq!(rd(&mut u, 2) & IIR_FIFO, IIR_FIFO);
        assert_eq!(rd(&mut u, 5) & LSR_DR, 0, "FCR cleared the receiver");
        assert_eq!(u.enqueue_input(&[7u8; 20]), 16);
        assert_eq!(u.enqueue_input(b"x"), 0);
        wr(&mut u, 1, IER_RDA | IER_THRE);
        assert_eq!(bits.get(), 1);
        assert_eq!(rd(&mut u, 2) & 0x0f, IIR_RDA, "received data outranks THRE");
        for _ in 0..10 {
            assert_eq!(rd(&mut u, 0), 7);
        }
        assert_eq!(rd(&mut u, 2) & 0x0f, IIR_TIMEOUT, "below the trigger level");
        for _ in 0..6 {
            rd(&mut u, 0);
        }
        assert_eq!(rd(&mut u, 5) & LSR_DR, 0);
        assert_eq!(rd(&mut u, 2) & 0x0f, IIR_THRE);
        assert_eq!(rd(&mut u, 2) & 0x0f, IIR_NONE);
        assert_eq!(bits.get(), 0);
        assert_eq!(rd(&mut u, 0), 0, "empty RBR reads 0");
    }

    #[test]
    fn divisor_latch_and_scratch() {
        let (mut u, sink, _bits) = setup();
        wr(&mut u, 1, 0x0f);
        wr(&mut u, 3, LCR_DLAB | 3);
        wr(&mut u, 0, 0x34);
        wr(&mut u, 1, 0x12);
        assert_eq!((rd(&mut u, 0), rd(&mut u, 1)), (0x34, 0x12));
        assert!(sink.contents().is_empty(), "DLL writes are not transmitted");
        wr(&mut u, 3, 3);
        assert_eq!(rd(&mut u, 1), 0x0f, "IER survives the divisor latch");
        assert_eq!(rd(&mut u, 3), 3);
        wr(&mut u, 7, 0x5a);
        assert_eq!(rd(&mut u, 7), 0x5a);
        wr(&mut u, 1, 0xff);
        assert_eq!(rd(&mut u, 1), 0x0f, "IER keeps four bits");
    }

    #[test]
    fn loopback_like_linux_autoconfig() {
        let (mut u, sink, bits) = setup();
        assert_eq!(rd(&mut u, 6) & 0xf0, MSR_CONNECTED);
        wr(&mut u, 4, MCR_LOOP | MCR_OUT2 | MCR_RTS);
        assert_eq!(rd(&mut u, 6) & 0xf0, MSR_DCD | MSR_CTS, "8250 autoconfig's loopback check");
        assert_eq!(u.enqueue_input(b"z"), 0, "input is disconnected in loopback");
        wr(&mut u, 0, 0xa5);
        assert!(sink.contents().is_empty());
        assert_eq!(rd(&mut u, 5) & LSR_DR, LSR_DR);
        assert_eq!(rd(&mut u, 0), 0xa5);
        // A full holding register overruns; the error raises the line-status interrupt.
        wr(&mut u, 0, 1);
        wr(&mut u, 0, 2);
        wr(&mut u, 1, IER_RLS);
        assert_eq!(bits.get(), 1);
        assert_eq!(rd(&mut u, 2), IIR_RLS);
        assert_eq!(rd(&mut u, 5) & LSR_OE, LSR_OE);
        assert_eq!(rd(&mut u, 5) & LSR_OE, 0, "reading LSR clears OE");
        assert_eq!(bits.get(), 0);
        // Modem-status interrupt on a loopback line change.
        rd(&mut u, 6);
        wr(&mut u, 1, IER_MS);
        wr(&mut u, 4, MCR_LOOP | MCR_DTR);
        assert_eq!(bits.get(), 1);
        assert_eq!(rd(&mut u, 2), IIR_MS);
        assert!(rd(&mut u, 6) & 0x0f != 0);
        assert_eq!(bits.get(), 0, "reading MSR clears the deltas");
        wr(&mut u, 4, 0);
        assert_eq!(u.enqueue_input(b"q"), 0, "holding register still full");
        assert_eq!(rd(&mut u, 0), 1);
        assert_eq!(u.enqueue_input(b"q"), 1);
    }

    #[test]
    fn unmapped_offsets_are_harmless() {
        let (mut u, _sink, _bits) = setup();
        wr(&mut u, 9, 1);
        assert_eq!(rd(&mut u, 0x80), 0);
        wr(&mut u, 5, 0xff);
        assert_eq!(rd(&mut u, 5), LSR_THRE | LSR_TEMT);
    }
}
