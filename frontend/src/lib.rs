//! Guest ISA frontends. Each turns guest machine code into Mimic IR and carries the guest CPU state
//! and helpers that IR calls (QEMU's `target/<arch>`).

pub mod riscv64;
