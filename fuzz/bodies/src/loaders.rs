//! Kernel images are files the user hands Mimic, often downloaded: the loaders must turn any file
//! into either a load inside guest RAM or an error.

use std::path::Path;
use std::sync::{Arc, Mutex};

use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::devices::htif::Htif;
use mimic_hw::{AddressSpace, PowerControl};
use mimic_machines::loader;
use mimic_machines::riscv::{spike, virt};
use mimic_machines::x86::{linux, microvm};

use crate::Input;

/// RISC-V guest memory: a small DRAM where `virt` and `spike` put it, and a ROM below it (QEMU's
/// `virt` boot ROM), so loads into ROM, holes and past the end are all reachable.
const RV_RAM_BASE: u64 = 0x8000_0000;
const RV_RAM_SIZE: u64 = 4 << 20;
const RV_ROM_BASE: u64 = 0x1000;
const RV_ROM_SIZE: u64 = 0x1000;

fn riscv_memory() -> AddressSpace {
    AddressSpace::new(&[
        MemRegionSpec::rom("mrom", RV_ROM_BASE, RV_ROM_SIZE),
        MemRegionSpec::ram("dram", RV_RAM_BASE, RV_RAM_SIZE),
    ])
    .expect("fixed layout")
}

/// `[low, high)` starts and ends in guest memory (an ELF may span the ROM and the RAM).
fn assert_in_ram(what: &str, low: u64, high: u64) {
    let inside = |a: u64| {
        (RV_RAM_BASE..RV_RAM_BASE + RV_RAM_SIZE).contains(&a) || (RV_ROM_BASE..RV_ROM_BASE + RV_ROM_SIZE).contains(&a)
    };
    assert!(low < high && inside(low) && inside(high - 1), "{what}: {low:#x}..{high:#x} is outside guest memory");
}

/// The kernel file is the whole input: it goes through every RISC-V loader (ELF, Linux `Image`,
/// flat) and, when it loads, through the boards' placement of HTIF (`spike`) and the initrd
/// (`virt`), which depend on values read from the image.
pub fn riscv_loader(data: &[u8]) {
    let path = Path::new("fuzz-kernel");
    let mem = riscv_memory();
    if let Ok(l) = loader::load_riscv_elf(&mem, path, data) {
        assert_in_ram("ELF segments", l.low, l.high);
        place_initrd(&mem, Some(l.entry), l.high);
        if let Some(tohost) = l.tohost {
            place_htif(tohost, l.fromhost);
        }
    }
    let mem = riscv_memory();
    let image = || loader::ImageFile::from_bytes(path, data.to_vec());
    if let Ok(img) = loader::load_riscv_image(&mem, &mut image(), RV_RAM_BASE) {
        assert_in_ram("Image", img.load_addr, img.end);
        place_initrd(&mem, Some(img.load_addr), img.end);
    }
    let mem = riscv_memory();
    if let Ok(end) = loader::load_flat(&mem, &mut image(), RV_RAM_BASE) {
        assert_in_ram("flat image", RV_RAM_BASE, end);
        place_initrd(&mem, None, end);
    }
}

/// `virt`'s initrd placement after a kernel with this entry and end; a small initrd must land
/// above the kernel and inside RAM, or be refused.
fn place_initrd(mem: &AddressSpace, kernel_entry: Option<u64>, kernel_end: u64) {
    let Some(start) = virt::initrd_start(kernel_entry, RV_RAM_BASE, kernel_end, RV_RAM_SIZE) else { return };
    assert!(start >= kernel_end, "initrd at {start:#x} overlaps the kernel ending at {kernel_end:#x}");
    let mut initrd = loader::ImageFile::from_bytes(Path::new("fuzz-initrd"), vec![0x5a; 64]);
    if let Ok(end) = loader::load_flat(mem, &mut initrd, start) {
        assert_in_ram("initrd", start, end);
    }
}

/// `spike`'s HTIF window from an ELF's symbols, mapped over RAM the way the board does.
fn place_htif(tohost: u64, fromhost: Option<u64>) {
    let Some(w) = spike::htif_window(tohost, fromhost) else { return };
    let mut mem = riscv_memory();
    let power = Arc::new(PowerControl::new());
    let htif = Arc::new(Mutex::new(Htif::new(tohost, w.fromhost, Box::new(std::io::sink()), power)));
    if mem.add_mmio_overlay(w.base, w.size, htif).is_ok() {
        // A console write and a read back, through the window as the guest would make them.
        let cmd = (1u64 << 56) | (1 << 48) | u64::from(b'x');
        let _ = mem.write(tohost, &cmd.to_le_bytes());
        let mut b = [0u8; 8];
        let _ = mem.read(w.fromhost, &mut b);
    }
}

/// x86 guest memory: 16 MiB of RAM at 0, as a small `microvm`.
const X86_RAM: u64 = 16 << 20;

/// Input: a selector byte (command-line length, initrd size, odd e820 maps), two bytes of initrd
/// size, then the kernel file: a bzImage, an ELF64 vmlinux or a flat binary, whatever it is.
pub fn x86_linux_loader(data: &[u8]) {
    let mut inp = Input::new(data);
    let sel = inp.u8();
    let initrd_len = usize::from(inp.u16()) * 64;
    let kernel = inp.rest();
    let cmdline_len = match sel & 7 {
        0 => 0,
        1 => 13,
        2 => 255,
        3 => 2047,
        4 => 2048,
        5 => linux::CMDLINE_MAX - 1,
        6 => linux::CMDLINE_MAX,
        _ => usize::from(sel),
    };
    let cmdline = "x".repeat(cmdline_len);
    let initrd = vec![0xa5u8; initrd_len];
    let e820 = match (sel >> 3) & 3 {
        0 => microvm::e820(X86_RAM),
        1 => Vec::new(),
        // More entries than the zero page holds.
        2 => (0..200).map(|i| linux::E820Entry { addr: i << 12, size: 0x1000, kind: linux::E820_RAM }).collect(),
        _ => vec![linux::E820Entry { addr: u64::MAX, size: u64::MAX, kind: u32::MAX }],
    };
    let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0, X86_RAM)]).expect("fixed layout");
    let spec = linux::BootSpec {
        path: Path::new("fuzz-bzImage"),
        kernel,
        initrd: (sel & 0x20 != 0).then_some((Path::new("fuzz-initrd"), initrd.as_slice())),
        cmdline: &cmdline,
        e820: &e820,
        low_ram_end: if sel & 0x40 != 0 { X86_RAM } else { X86_RAM / 2 },
    };
    let _ = linux::detect(kernel);
    if let Ok(entry) = linux::load_kernel(&mem, &spec) {
        assert_eq!(entry.boot_params, linux::ZERO_PAGE_ADDR);
        // The zero page must have been written, with the command line pointer in it.
        let mut zp = [0u8; 4];
        mem.read_mem(linux::ZERO_PAGE_ADDR + 0x228, &mut zp).expect("zero page is RAM");
        assert_eq!(u64::from(u32::from_le_bytes(zp)), linux::CMDLINE_ADDR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds::seeds;

    fn seed(target: &str, name: &str) -> Vec<u8> {
        seeds().into_iter().find(|(t, n, _)| *t == target && n == name).expect("seed").2
    }

    /// The image seeds are valid, so the fuzzer starts past the parsers' first checks.
    #[test]
    fn image_seeds_load() {
        let mem = riscv_memory();
        let l = loader::load_riscv_elf(&mem, Path::new("s"), &seed("riscv_loader", "elf-htif")).unwrap();
        assert_eq!((l.tohost, l.fromhost), (Some(0x8000_1000), Some(0x8000_1040)));
        let mut image = loader::ImageFile::from_bytes(Path::new("s"), seed("riscv_loader", "image"));
        let img = loader::load_riscv_image(&mem, &mut image, RV_RAM_BASE).unwrap();
        assert_eq!(img.load_addr, RV_RAM_BASE + 0x20_0000);
        for name in ["bzimage", "elf64"] {
            let s = seed("x86_linux_loader", name);
            let kernel = &s[3..];
            let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0, X86_RAM)]).unwrap();
            let initrd = [0u8; 256];
            let e820 = microvm::e820(X86_RAM);
            let spec = linux::BootSpec {
                path: Path::new("s"),
                kernel,
                initrd: Some((Path::new("i"), &initrd)),
                cmdline: "console=ttyS0",
                e820: &e820,
                low_ram_end: X86_RAM,
            };
            linux::load_kernel(&mem, &spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
