//! Kernel loading for x86 boards: the Linux x86 boot protocol (bzImage with its setup header;
//! 64-bit entry at the protected-mode kernel + 0x200), ELF64 images (vmlinux, or a bare-metal ELF)
//! entered in 64-bit mode at `e_entry`, and flat binaries. Kernels with a PVH note or a
//! multiboot header take the 32-bit protocols of `boot32.rs` instead.
//!
//! Written here rather than with the `linux-loader` crate: its releases pin a `vm-memory` older
//! than the 0.18 `hw` uses, so its `GuestMemory` trait would not accept our memory without a
//! second copy of vm-memory and an adapter; the protocol part we need is ~150 lines.
//!
//! Every field read from the image is bounds-checked against the file, and every write goes
//! through `AddressSpace::load`, which refuses anything outside RAM: a malformed kernel is an
//! error message, never a panic or a write outside guest memory.

use std::path::Path;

use goblin::elf::{program_header::PT_LOAD, Elf};
use mimic_hw::AddressSpace;
use thiserror::Error;

/// Zero page (struct boot_params) and command line addresses, below the EBDA.
pub const ZERO_PAGE_ADDR: u64 = 0x7000;
pub const CMDLINE_ADDR: u64 = 0x20000;
pub const CMDLINE_MAX: usize = 0x10000;
/// Where protected-mode kernels and flat binaries go.
pub const KERNEL_LOAD_ADDR: u64 = 0x10_0000;
/// Boot stack for flat binaries and ELF images (grows down, below the EBDA).
pub const BOOT_STACK: u64 = 0x8_0000;

// struct boot_params / setup_header offsets (Documentation/arch/x86/boot.rst).
const BP_E820_ENTRIES: usize = 0x1e8;
const BP_SETUP_HEADER: usize = 0x1f1;
const BP_E820_TABLE: usize = 0x2d0;
const E820_MAX: usize = 128;
const HDR_SETUP_SECTS: usize = 0x1f1;
const HDR_VID_MODE: usize = 0x1fa;
const HDR_BOOT_FLAG: usize = 0x1fe;
const HDR_JUMP: usize = 0x200;
const HDR_MAGIC: usize = 0x202;
const HDR_VERSION: usize = 0x206;
const HDR_TYPE_OF_LOADER: usize = 0x210;
const HDR_LOADFLAGS: usize = 0x211;
const HDR_RAMDISK_IMAGE: usize = 0x218;
const HDR_RAMDISK_SIZE: usize = 0x21c;
const HDR_HEAP_END_PTR: usize = 0x224;
const HDR_CMD_LINE_PTR: usize = 0x228;
const HDR_INITRD_ADDR_MAX: usize = 0x22c;
const HDR_KERNEL_ALIGNMENT: usize = 0x230;
const HDR_XLOADFLAGS: usize = 0x236;
const HDR_CMDLINE_SIZE: usize = 0x238;

const LOADFLAGS_LOADED_HIGH: u8 = 0x01;
const LOADFLAGS_CAN_USE_HEAP: u8 = 0x80;
const XLF_KERNEL_64: u16 = 0x1;

pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;

#[derive(Debug, Error)]
pub enum BootError {
    #[error("cannot read '{path}': {source}")]
    Read { path: String, source: std::io::Error },
    #[error("'{path}': {reason}")]
    BadImage { path: String, reason: String },
    #[error("'{path}' does not fit in guest memory at {addr:#x} ({len:#x} bytes)")]
    DoesNotFit { path: String, addr: u64, len: u64 },
    #[error("kernel command line is {len} bytes; at most {max} fit")]
    CmdlineTooLong { len: usize, max: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// What kind of kernel a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    BzImage,
    Elf64,
    Flat,
}

pub fn detect(data: &[u8]) -> KernelKind {
    if data.len() > HDR_MAGIC + 4 && &data[HDR_MAGIC..HDR_MAGIC + 4] == b"HdrS" && data.get(HDR_BOOT_FLAG..HDR_BOOT_FLAG + 2) == Some(&[0x55, 0xaa]) {
        KernelKind::BzImage
    } else if data.starts_with(b"\x7fELF") {
        KernelKind::Elf64
    } else {
        KernelKind::Flat
    }
}

fn le16(d: &[u8], off: usize) -> u16 {
    d.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).unwrap_or(0)
}
fn le32(d: &[u8], off: usize) -> u32 {
    d.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0)
}
fn put16(d: &mut [u8], off: usize, v: u16) {
    d[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Where the kernel starts and what it is handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelEntry {
    pub rip: u64,
    pub rsp: u64,
    /// Zero page address for `rsi` (64-bit entries), or the boot information (32-bit ones).
    pub boot_params: u64,
    /// `Some`: start in 32-bit protected mode with these registers (PVH, multiboot; see
    /// `boot32.rs`) instead of 64-bit long mode.
    pub entry32: Option<Entry32>,
}

/// EAX and EBX at a 32-bit entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry32 {
    pub eax: u32,
    pub ebx: u32,
}

pub struct BootSpec<'a> {
    pub path: &'a Path,
    pub kernel: &'a [u8],
    pub initrd: Option<(&'a Path, &'a [u8])>,
    pub cmdline: &'a str,
    pub e820: &'a [E820Entry],
    /// End of RAM below 4 GiB (initrd placement).
    pub low_ram_end: u64,
}

fn fit(mem: &AddressSpace, path: &Path, addr: u64, data: &[u8]) -> Result<(), BootError> {
    mem.load(addr, data).map_err(|_| BootError::DoesNotFit { path: path.display().to_string(), addr, len: data.len() as u64 })
}

/// Put the initrd (if any) as high as possible below `low_ram_end` and `initrd_max`, above
/// `kernel_end`, and record it in the zero page `zp`.
fn load_initrd(mem: &AddressSpace, spec: &BootSpec, zp: &mut [u8], kernel_end: u64, initrd_max: u64) -> Result<(), BootError> {
    let Some((ipath, initrd)) = spec.initrd else { return Ok(()) };
    let top = spec.low_ram_end.min(initrd_max + 1);
    let len = initrd.len() as u64;
    let addr = top
        .checked_sub(len)
        .map(|a| a & !0xfff)
        .filter(|&a| a >= kernel_end && u32::try_from(len).is_ok())
        .ok_or_else(|| BootError::DoesNotFit { path: ipath.display().to_string(), addr: kernel_end, len })?;
    fit(mem, ipath, addr, initrd)?;
    put32(zp, HDR_RAMDISK_IMAGE, addr as u32);
    put32(zp, HDR_RAMDISK_SIZE, len as u32);
    Ok(())
}

/// Load the kernel, build the zero page (setup header, e820, command line, initrd) and return
/// the 64-bit entry.
pub fn load_kernel(mem: &AddressSpace, spec: &BootSpec) -> Result<KernelEntry, BootError> {
    let path = spec.path;
    let bad = |reason: String| BootError::BadImage { path: path.display().to_string(), reason };
    let k = spec.kernel;
    let kind = detect(k);
    // 32-bit protocols first: a vmlinux with a PVH note, then a multiboot header (never in a
    // bzImage, whose own header decides).
    if kind == KernelKind::Elf64 {
        if let Ok(elf) = Elf::parse(k) {
            if let Some(entry) = super::boot32::pvh_entry(&elf, k).map_err(bad)? {
                return super::boot32::load_pvh(mem, spec, &elf, entry);
            }
        }
    }
    if kind != KernelKind::BzImage {
        if let Some(h) = super::boot32::find_multiboot_header(k).map_err(bad)? {
            return super::boot32::load_multiboot(mem, spec, &h);
        }
    }
    let mut zp = vec![0u8; 4096];
    let entry = match kind {
        KernelKind::BzImage => {
            let version = le16(k, HDR_VERSION);
            if version < 0x0206 {
                return Err(bad(format!("boot protocol {}.{:02} is too old (need 2.06+)", version >> 8, version & 0xff)));
            }
            if le16(k, HDR_XLOADFLAGS) & XLF_KERNEL_64 == 0 {
                return Err(bad("kernel has no 64-bit entry point (XLF_KERNEL_64)".into()));
            }
            let setup_sects = match k[HDR_SETUP_SECTS] {
                0 => 4,
                n => usize::from(n),
            };
            let pm_off = (setup_sects + 1) * 512;
            if pm_off >= k.len() {
                return Err(bad(format!("setup ({pm_off} bytes) is larger than the file")));
            }
            // The setup header runs from 0x1f1 to 0x202 + the byte at 0x201.
            let hdr_end = (HDR_MAGIC + usize::from(k[HDR_JUMP + 1])).min(k.len()).min(0x280);
            zp[BP_SETUP_HEADER..hdr_end].copy_from_slice(&k[BP_SETUP_HEADER..hdr_end]);
            let cmdline_max = (le32(k, HDR_CMDLINE_SIZE) as usize).min(CMDLINE_MAX - 1);
            if spec.cmdline.len() > cmdline_max {
                return Err(BootError::CmdlineTooLong { len: spec.cmdline.len(), max: cmdline_max });
            }
            fit(mem, path, KERNEL_LOAD_ADDR, &k[pm_off..])?;
            let initrd_max = u64::from(le32(k, HDR_INITRD_ADDR_MAX)).max(0x37ff_ffff);
            load_initrd(mem, spec, &mut zp, KERNEL_LOAD_ADDR + (k.len() - pm_off) as u64, initrd_max)?;
            zp[HDR_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP | LOADFLAGS_LOADED_HIGH;
            put16(&mut zp, HDR_HEAP_END_PTR, 0xfe00);
            KernelEntry { rip: KERNEL_LOAD_ADDR + 0x200, rsp: BOOT_STACK, boot_params: ZERO_PAGE_ADDR, entry32: None }
        }
        KernelKind::Elf64 => {
            let elf = Elf::parse(k).map_err(|e| bad(format!("bad ELF: {e}")))?;
            if !elf.is_64 || elf.header.e_machine != goblin::elf::header::EM_X86_64 {
                return Err(bad("not an x86-64 ELF64 image, and neither a PVH (Xen PHYS32_ENTRY note) nor a multiboot kernel".into()));
            }
            let mut kernel_end = 0u64;
            for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0) {
                let off = usize::try_from(ph.p_offset).map_err(|_| bad("segment offset".into()))?;
                let filesz = usize::try_from(ph.p_filesz).map_err(|_| bad("segment size".into()))?;
                let bytes = off.checked_add(filesz).and_then(|end| k.get(off..end)).ok_or_else(|| bad("segment outside the file".into()))?;
                if ph.p_memsz < ph.p_filesz || ph.p_memsz > 1 << 32 {
                    return Err(bad("segment memory size".into()));
                }
                fit(mem, path, ph.p_paddr, bytes)?;
                if !mem.is_memory(ph.p_paddr, ph.p_memsz) {
                    return Err(BootError::DoesNotFit { path: path.display().to_string(), addr: ph.p_paddr, len: ph.p_memsz });
                }
                let bss = vec![0u8; (ph.p_memsz - ph.p_filesz) as usize];
                fit(mem, path, ph.p_paddr + ph.p_filesz, &bss)?;
                kernel_end = kernel_end.max(ph.p_paddr + ph.p_memsz);
            }
            // The boot protocol's default initrd limit (a vmlinux has no header saying more).
            load_initrd(mem, spec, &mut zp, kernel_end, 0x37ff_ffff)?;
            // A minimal setup header so a vmlinux finds the protocol fields it reads.
            zp[HDR_BOOT_FLAG..HDR_BOOT_FLAG + 2].copy_from_slice(&[0x55, 0xaa]);
            zp[HDR_MAGIC..HDR_MAGIC + 4].copy_from_slice(b"HdrS");
            put16(&mut zp, HDR_VERSION, 0x020c);
            put32(&mut zp, HDR_KERNEL_ALIGNMENT, 0x0100_0000);
            KernelEntry { rip: elf.header.e_entry, rsp: BOOT_STACK, boot_params: ZERO_PAGE_ADDR, entry32: None }
        }
        KernelKind::Flat => {
            fit(mem, path, KERNEL_LOAD_ADDR, k)?;
            KernelEntry { rip: KERNEL_LOAD_ADDR, rsp: BOOT_STACK, boot_params: ZERO_PAGE_ADDR, entry32: None }
        }
    };
    if spec.cmdline.len() >= CMDLINE_MAX {
        return Err(BootError::CmdlineTooLong { len: spec.cmdline.len(), max: CMDLINE_MAX - 1 });
    }
    let mut cmd = spec.cmdline.as_bytes().to_vec();
    cmd.push(0);
    fit(mem, path, CMDLINE_ADDR, &cmd)?;
    put16(&mut zp, HDR_VID_MODE, 0xffff);
    zp[HDR_TYPE_OF_LOADER] = 0xff;
    put32(&mut zp, HDR_CMD_LINE_PTR, CMDLINE_ADDR as u32);
    let n = spec.e820.len().min(E820_MAX);
    zp[BP_E820_ENTRIES] = n as u8;
    for (i, e) in spec.e820[..n].iter().enumerate() {
        let o = BP_E820_TABLE + i * 20;
        zp[o..o + 8].copy_from_slice(&e.addr.to_le_bytes());
        zp[o + 8..o + 16].copy_from_slice(&e.size.to_le_bytes());
        put32(&mut zp, o + 16, e.kind);
    }
    fit(mem, path, ZERO_PAGE_ADDR, &zp)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    fn mem() -> AddressSpace {
        AddressSpace::new(&[MemRegionSpec::ram("ram", 0, 64 << 20)]).unwrap()
    }

    fn spec<'a>(kernel: &'a [u8], e820: &'a [E820Entry]) -> BootSpec<'a> {
        BootSpec { path: Path::new("k"), kernel, initrd: None, cmdline: "console=ttyS0", e820, low_ram_end: 64 << 20 }
    }

    fn rd(m: &AddressSpace, a: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        m.read_mem(a, &mut b).unwrap();
        b
    }

    /// A synthetic bzImage: 4 setup sectors + header, then a protected-mode part.
    fn bzimage() -> Vec<u8> {
        let mut k = vec![0u8; 5 * 512 + 64];
        k[HDR_SETUP_SECTS] = 4;
        k[HDR_BOOT_FLAG..HDR_BOOT_FLAG + 2].copy_from_slice(&[0x55, 0xaa]);
        k[HDR_JUMP + 1] = 0x66;
        k[HDR_MAGIC..HDR_MAGIC + 4].copy_from_slice(b"HdrS");
        put16(&mut k, HDR_VERSION, 0x020f);
        put16(&mut k, HDR_XLOADFLAGS, XLF_KERNEL_64);
        put32(&mut k, HDR_CMDLINE_SIZE, 2047);
        put32(&mut k, HDR_INITRD_ADDR_MAX, 0x7fff_ffff);
        k[5 * 512] = 0xe9;
        k
    }

    #[test]
    fn bzimage_zero_page_cmdline_initrd() {
        let m = mem();
        let k = bzimage();
        let e820 = [E820Entry { addr: 0, size: 0x9fc00, kind: E820_RAM }, E820Entry { addr: 0x10_0000, size: 63 << 20, kind: E820_RAM }];
        let initrd = vec![0xab; 5000];
        let mut s = spec(&k, &e820);
        s.initrd = Some((Path::new("i"), &initrd));
        let entry = load_kernel(&m, &s).unwrap();
        assert_eq!(entry.rip, 0x10_0200);
        assert_eq!(rd(&m, KERNEL_LOAD_ADDR, 1), [0xe9]);
        let zp = rd(&m, ZERO_PAGE_ADDR, 4096);
        assert_eq!(&zp[HDR_MAGIC..HDR_MAGIC + 4], b"HdrS");
        assert_eq!(zp[HDR_TYPE_OF_LOADER], 0xff);
        assert_eq!(le32(&zp, HDR_CMD_LINE_PTR) as u64, CMDLINE_ADDR);
        assert_eq!(rd(&m, CMDLINE_ADDR, 14), b"console=ttyS0\0");
        assert_eq!(zp[BP_E820_ENTRIES], 2);
        assert_eq!(le32(&zp, BP_E820_TABLE + 20 + 16), E820_RAM);
        let (ia, is) = (le32(&zp, HDR_RAMDISK_IMAGE) as u64, le32(&zp, HDR_RAMDISK_SIZE));
        assert_eq!(is, 5000);
        assert_eq!(ia % 4096, 0);
        assert!(ia + 5000 <= 64 << 20);
        assert_eq!(rd(&m, ia, 2), [0xab, 0xab]);
    }

    #[test]
    fn malformed_images_are_errors() {
        let m = mem();
        let mut k = bzimage();
        put16(&mut k, HDR_XLOADFLAGS, 0);
        assert!(matches!(load_kernel(&m, &spec(&k, &[])), Err(BootError::BadImage { .. })));
        let mut k = bzimage();
        k[HDR_SETUP_SECTS] = 200; // setup larger than the file
        assert!(matches!(load_kernel(&m, &spec(&k, &[])), Err(BootError::BadImage { .. })));
        let k = bzimage();
        let long = "x".repeat(3000);
        let mut s = spec(&k, &[]);
        s.cmdline = &long;
        assert!(matches!(load_kernel(&m, &s), Err(BootError::CmdlineTooLong { .. })));
        // A truncated ELF and a flat image too big for RAM.
        assert!(load_kernel(&m, &spec(b"\x7fELF\x02\x01\x01", &[])).is_err());
        let huge = vec![0u8; 64 << 20];
        assert!(matches!(load_kernel(&m, &spec(&huge, &[])), Err(BootError::DoesNotFit { .. })));
    }

    /// A minimal x86-64 ELF64 executable: one PT_LOAD of `code` at physical 0x200000 with
    /// 0x1000 bytes of memory, entry at its start.
    fn elf64(code: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2; // 64-bit
        e[5] = 1; // little-endian
        e[6] = 1;
        put16(&mut e, 16, 2); // ET_EXEC
        put16(&mut e, 18, 62); // EM_X86_64
        put32(&mut e, 20, 1);
        e[24..32].copy_from_slice(&0x20_0000u64.to_le_bytes()); // e_entry
        e[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        put16(&mut e, 52, 64); // e_ehsize
        put16(&mut e, 54, 56); // e_phentsize
        put16(&mut e, 56, 1); // e_phnum
        let ph = 64;
        put32(&mut e, ph, 1); // PT_LOAD
        put32(&mut e, ph + 4, 5); // R X
        e[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        e[ph + 16..ph + 24].copy_from_slice(&0xffff_ffff_8020_0000u64.to_le_bytes()); // p_vaddr
        e[ph + 24..ph + 32].copy_from_slice(&0x20_0000u64.to_le_bytes()); // p_paddr
        e[ph + 32..ph + 40].copy_from_slice(&(code.len() as u64).to_le_bytes()); // p_filesz
        e[ph + 40..ph + 48].copy_from_slice(&0x1000u64.to_le_bytes()); // p_memsz
        e.extend_from_slice(code);
        e
    }

    #[test]
    fn elf_kernel_gets_its_initrd() {
        // A vmlinux booted at its 64-bit entry must find the initramfs in the zero page too.
        let m = mem();
        let k = elf64(&[0xf4]);
        let initrd = vec![0xcd; 3000];
        let mut s = spec(&k, &[]);
        s.initrd = Some((Path::new("i"), &initrd));
        let entry = load_kernel(&m, &s).unwrap();
        assert_eq!(entry.rip, 0x20_0000);
        assert_eq!(rd(&m, 0x20_0000, 1), [0xf4]);
        let zp = rd(&m, ZERO_PAGE_ADDR, 4096);
        let (ia, is) = (le32(&zp, HDR_RAMDISK_IMAGE) as u64, le32(&zp, HDR_RAMDISK_SIZE));
        assert_eq!(is, 3000);
        assert!(ia >= 0x20_1000 && ia % 4096 == 0 && ia + 3000 <= 64 << 20, "{ia:#x}");
        assert_eq!(rd(&m, ia, 2), [0xcd, 0xcd]);
        // An initrd that cannot fit above the kernel is an error, not a silent omission.
        let big = vec![0u8; 64 << 20];
        s.initrd = Some((Path::new("i"), &big));
        assert!(matches!(load_kernel(&m, &s), Err(BootError::DoesNotFit { .. })));
    }

    #[test]
    fn flat_binary_at_one_mib() {
        let m = mem();
        let e = load_kernel(&m, &spec(&[0xf4, 0x90], &[])).unwrap();
        assert_eq!(e, KernelEntry { rip: KERNEL_LOAD_ADDR, rsp: BOOT_STACK, boot_params: ZERO_PAGE_ADDR, entry32: None });
        assert_eq!(rd(&m, KERNEL_LOAD_ADDR, 2), [0xf4, 0x90]);
        assert_eq!(detect(&bzimage()), KernelKind::BzImage);
    }
}
