//! Interrupt lines: a device holds an [`IrqLine`] and sets its level; what the line is wired to
//! (an interrupt controller input, a CPU's pending bit, a KVM irqfd) is the machine's choice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The far end of an interrupt line.
pub trait IrqTrigger: Send + Sync {
    fn set_level(&self, level: bool);
}

/// A level-triggered interrupt line held by a device.
#[derive(Clone)]
pub struct IrqLine(Arc<dyn IrqTrigger>);

impl IrqLine {
    pub fn new(trigger: Arc<dyn IrqTrigger>) -> Self {
        Self(trigger)
    }

    /// A line connected to nothing (for devices whose interrupt a machine does not wire).
    pub fn disconnected() -> Self {
        struct Nothing;
        impl IrqTrigger for Nothing {
            fn set_level(&self, _level: bool) {}
        }
        Self(Arc::new(Nothing))
    }

    pub fn set(&self, level: bool) {
        self.0.set_level(level)
    }
    pub fn raise(&self) {
        self.set(true)
    }
    pub fn lower(&self) {
        self.set(false)
    }
}

/// A set of pending-interrupt bits shared with a CPU (for RISC-V: the hardware-driven bits of
/// `mip`). Any thread may set or clear a bit; the CPU samples them at block boundaries.
#[derive(Default)]
pub struct PendingBits {
    bits: AtomicU64,
}

impl PendingBits {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn get(&self) -> u64 {
        self.bits.load(Ordering::Acquire)
    }
    pub fn set_bit(&self, bit: u32, level: bool) {
        if level {
            self.bits.fetch_or(1 << bit, Ordering::AcqRel);
        } else {
            self.bits.fetch_and(!(1 << bit), Ordering::AcqRel);
        }
    }
    /// A line driving one bit of this set.
    pub fn line(self: &Arc<Self>, bit: u32) -> IrqLine {
        IrqLine::new(Arc::new(BitTrigger { bits: self.clone(), bit }))
    }
}

struct BitTrigger {
    bits: Arc<PendingBits>,
    bit: u32,
}

impl IrqTrigger for BitTrigger {
    fn set_level(&self, level: bool) {
        self.bits.set_bit(self.bit, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drive_their_bit() {
        let pending = PendingBits::new();
        let mtip = pending.line(7);
        let msip = pending.line(3);
        mtip.raise();
        msip.raise();
        assert_eq!(pending.get(), (1 << 7) | (1 << 3));
        mtip.lower();
        assert_eq!(pending.get(), 1 << 3);
        IrqLine::disconnected().raise();
    }
}
