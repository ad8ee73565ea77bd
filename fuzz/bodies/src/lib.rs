//! The bodies of Mimic's fuzz targets: one plain function per target, taking the fuzzer's bytes.
//!
//! Everything a guest or a user's file controls is untrusted input to Mimic: kernel images, the
//! register accesses a guest makes, the descriptor rings it lays out in RAM, the instructions it
//! runs. Each function here feeds such input to one parser or device interface and panics only
//! if Mimic does something it must never do (panic, hang, allocate without bound, or break an
//! invariant the function checks).
//!
//! The cargo-fuzz crate in `fuzz/` (nightly, libFuzzer) calls these functions from its targets;
//! `tests/corpus.rs` calls them on stable over the checked-in seed corpus and deterministic
//! pseudo-random inputs, so `cargo test --workspace` keeps every target's findings fixed.

mod devices;
mod input;
mod loaders;
pub mod seeds;
mod translate;
mod virtio;

pub use devices::devices_mmio;
pub use input::{Input, XorShift};
pub use loaders::{riscv_loader, x86_linux_loader};
pub use translate::{riscv_jit, riscv_translate};
pub use virtio::{virtio_mmio_device, virtqueue_chain};

/// A target's body: the fuzzer's bytes in, a panic out if Mimic misbehaved.
pub type Body = fn(&[u8]);

/// Every target: `(name, body)`. The name is the cargo-fuzz target and its corpus directory.
pub const TARGETS: &[(&str, Body)] = &[
    ("riscv_loader", riscv_loader),
    ("x86_linux_loader", x86_linux_loader),
    ("virtqueue_chain", virtqueue_chain),
    ("virtio_mmio_device", virtio_mmio_device),
    ("devices_mmio", devices_mmio),
    ("riscv_translate", riscv_translate),
    ("riscv_jit", riscv_jit),
];
