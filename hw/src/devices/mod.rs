//! Device models. Each file holds one device's register logic and its unit tests.

pub mod clint;
pub mod htif;
pub mod plic;
pub mod uart16550;
pub mod sifive_test;
pub mod goldfish_rtc;
pub mod i8042;
pub mod debug_exit;
pub mod virtio;
