//! Mimic's device model tree.
//!
//! Everything a machine is made of that is not a CPU lives here: the guest physical address space
//! (RAM, ROM and MMIO regions), the [`Device`] trait every device implements, interrupt lines, the
//! machine's power/reset control and its clock. Nothing in this crate knows which accelerator runs
//! the guest: TCG's softmmu slow path and KVM's MMIO/PIO exits both end in [`AddressSpace::read`] /
//! [`AddressSpace::write`] (or a [`Bus`] for port I/O), and devices raise interrupts through
//! [`IrqLine`]s whose far end the machine wires to whatever the accelerator needs.
//!
//! This crate depends on no other Mimic crate, by design.

pub mod address_space;
pub mod bus;
pub mod chardev;
pub mod clock;
pub mod device;
pub mod devices;
pub mod irq;
pub mod power;
pub mod write_watch;

pub use address_space::{AddressSpace, AddressSpaceError, RamRef};
pub use bus::{Bus, BusError};
pub use device::{AccessSizes, Device, SharedDevice};
pub use irq::{IrqLine, IrqTrigger};
pub use power::{PowerControl, PowerEvent};
pub use write_watch::WatchedWrites;
