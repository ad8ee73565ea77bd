//! Loading guest images into guest memory: ELF (`-kernel vmlinux`, test programs, firmware) and
//! flat binaries. Images are untrusted input: every size and address is checked against guest
//! memory before anything is written, and a malformed file is an error, never a panic.

use std::path::Path;

use goblin::elf::{program_header::PT_LOAD, Elf};
use mimic_hw::AddressSpace;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoaderError {
    #[error("cannot read '{path}': {source}")]
    Read { path: String, source: std::io::Error },
    #[error("'{path}' is not a valid ELF file: {reason}")]
    BadElf { path: String, reason: String },
    #[error("'{path}' is a {found} ELF; this machine needs {expected}")]
    WrongArch { path: String, found: String, expected: &'static str },
    #[error("'{path}': segment at {addr:#x} ({len:#x} bytes) does not fit in guest memory")]
    OutOfMemory { path: String, addr: u64, len: u64 },
    #[error("'{path}' has no loadable segments")]
    Empty { path: String },
}

/// What the machine needs to know about a loaded ELF.
#[derive(Clone, Debug, Default)]
pub struct LoadedElf {
    pub entry: u64,
    /// Lowest and highest (exclusive) physical addresses written.
    pub low: u64,
    pub high: u64,
    /// Addresses of the HTIF symbols, if the image has them.
    pub tohost: Option<u64>,
    pub fromhost: Option<u64>,
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, LoaderError> {
    std::fs::read(path).map_err(|source| LoaderError::Read { path: path.display().to_string(), source })
}

pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// Load a 64-bit RISC-V ELF's PT_LOAD segments at their physical addresses.
pub fn load_riscv_elf(mem: &AddressSpace, path: &Path, data: &[u8]) -> Result<LoadedElf, LoaderError> {
    let p = || path.display().to_string();
    let elf = Elf::parse(data).map_err(|e| LoaderError::BadElf { path: p(), reason: e.to_string() })?;
    if !elf.is_64 || elf.header.e_machine != goblin::elf::header::EM_RISCV {
        let found = format!("{}-bit {}", if elf.is_64 { 64 } else { 32 }, goblin::elf::header::machine_to_str(elf.header.e_machine));
        return Err(LoaderError::WrongArch { path: p(), found, expected: "64-bit RISC-V" });
    }
    let mut out = LoadedElf { entry: elf.entry, low: u64::MAX, high: 0, ..Default::default() };
    for ph in elf.program_headers.iter().filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0) {
        let addr = ph.p_paddr;
        let bad = || LoaderError::OutOfMemory { path: p(), addr, len: ph.p_memsz };
        if ph.p_filesz > ph.p_memsz {
            return Err(LoaderError::BadElf { path: p(), reason: format!("segment at {addr:#x} has filesz > memsz") });
        }
        let file_range = usize::try_from(ph.p_offset)
            .ok()
            .zip(usize::try_from(ph.p_filesz).ok())
            .and_then(|(off, len)| off.checked_add(len).map(|end| off..end))
            .filter(|r| r.end <= data.len())
            .ok_or_else(|| LoaderError::BadElf { path: p(), reason: format!("segment at {addr:#x} lies outside the file") })?;
        let end = addr.checked_add(ph.p_memsz).ok_or_else(bad)?;
        if !mem.is_memory(addr, ph.p_memsz) {
            return Err(bad());
        }
        mem.load(addr, &data[file_range]).map_err(|_| bad())?;
        // The rest of memsz (.bss) is zero; guest RAM starts zeroed but a reset may reuse it.
        let zeros = vec![0u8; (ph.p_memsz - ph.p_filesz) as usize];
        mem.load(addr + ph.p_filesz, &zeros).map_err(|_| bad())?;
        out.low = out.low.min(addr);
        out.high = out.high.max(end);
    }
    if out.high == 0 {
        return Err(LoaderError::Empty { path: p() });
    }
    for sym in elf.syms.iter() {
        match elf.strtab.get_at(sym.st_name) {
            Some("tohost") => out.tohost = Some(sym.st_value),
            Some("fromhost") => out.fromhost = Some(sym.st_value),
            _ => {}
        }
    }
    Ok(out)
}

/// Load a flat binary at `addr`.
pub fn load_flat(mem: &AddressSpace, path: &Path, data: &[u8], addr: u64) -> Result<u64, LoaderError> {
    let len = data.len() as u64;
    if data.is_empty() {
        return Err(LoaderError::Empty { path: path.display().to_string() });
    }
    if !mem.is_memory(addr, len) {
        return Err(LoaderError::OutOfMemory { path: path.display().to_string(), addr, len });
    }
    mem.load(addr, data).map_err(|_| LoaderError::OutOfMemory { path: path.display().to_string(), addr, len })?;
    Ok(addr + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    fn ram() -> AddressSpace {
        AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10000)]).unwrap()
    }

    /// A minimal ELF64 RISC-V executable with one PT_LOAD segment, built by hand.
    fn tiny_elf(paddr: u64, payload: &[u8], memsz: u64, machine: u16) -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little endian
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&paddr.to_le_bytes()); // entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        f[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
        let ph = &mut f[64..120];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        ph[4..8].copy_from_slice(&7u32.to_le_bytes());
        ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // offset
        ph[16..24].copy_from_slice(&paddr.to_le_bytes());
        ph[24..32].copy_from_slice(&paddr.to_le_bytes());
        ph[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn loads_segments_and_zeroes_bss() {
        let mem = ram();
        mem.load(0x8000_0004, &[0xff; 4]).unwrap();
        let elf = tiny_elf(0x8000_0000, &[1, 2, 3, 4], 8, goblin::elf::header::EM_RISCV);
        let l = load_riscv_elf(&mem, Path::new("t"), &elf).unwrap();
        assert_eq!((l.entry, l.low, l.high), (0x8000_0000, 0x8000_0000, 0x8000_0008));
        let mut b = [0u8; 8];
        mem.read_mem(0x8000_0000, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn rejects_bad_images_with_errors() {
        let mem = ram();
        let p = Path::new("t");
        let x86 = tiny_elf(0x8000_0000, &[1], 1, goblin::elf::header::EM_X86_64);
        assert!(matches!(load_riscv_elf(&mem, p, &x86), Err(LoaderError::WrongArch { .. })));
        let outside = tiny_elf(0x1000, &[1], 1, goblin::elf::header::EM_RISCV);
        assert!(matches!(load_riscv_elf(&mem, p, &outside), Err(LoaderError::OutOfMemory { .. })));
        let huge = tiny_elf(0x8000_0000, &[1], u64::MAX, goblin::elf::header::EM_RISCV);
        assert!(load_riscv_elf(&mem, p, &huge).is_err());
        let mut truncated = tiny_elf(0x8000_0000, &[1, 2, 3, 4], 4, goblin::elf::header::EM_RISCV);
        truncated.truncate(121);
        assert!(load_riscv_elf(&mem, p, &truncated).is_err());
        assert!(load_riscv_elf(&mem, p, b"\x7fELF garbage").is_err());
        for cut in 0..120 {
            let elf = tiny_elf(0x8000_0000, &[1, 2, 3, 4], 4, goblin::elf::header::EM_RISCV);
            let _ = load_riscv_elf(&mem, p, &elf[..cut]);
        }
        assert!(load_flat(&mem, p, &[0; 16], 0x8000_fff8).is_err());
        assert_eq!(load_flat(&mem, p, &[0; 16], 0x8000_0000).unwrap(), 0x8000_0010);
    }
}

/// A RISC-V Linux `Image` (what Debian ships as /boot/vmlinux-*-riscv64): a flat binary with a
/// 64-byte header carrying the load offset from the start of RAM and the in-memory image size.
pub struct RiscvImage {
    pub load_addr: u64,
    /// End of the memory the kernel will use (from the header's image size).
    pub end: u64,
}

const RISCV_IMAGE_MAGIC2: &[u8; 4] = b"RSC\x05";
const RISCV_IMAGE_MAGIC: &[u8; 8] = b"RISCV\0\0\0";

pub fn is_riscv_image(data: &[u8]) -> bool {
    data.len() >= 64 && (&data[0x38..0x3c] == RISCV_IMAGE_MAGIC2 || &data[0x30..0x38] == RISCV_IMAGE_MAGIC)
}

pub fn load_riscv_image(mem: &AddressSpace, path: &Path, data: &[u8], ram_base: u64) -> Result<RiscvImage, LoaderError> {
    let p = || path.display().to_string();
    if !is_riscv_image(data) {
        return Err(LoaderError::BadElf { path: p(), reason: "not a RISC-V Linux Image".into() });
    }
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
    // A zero text_offset means the default 2 MiB (the first 2 MiB belong to the firmware).
    let text_offset = match u64_at(8) {
        0 => 0x20_0000,
        t => t,
    };
    let image_size = u64_at(16).max(data.len() as u64);
    let load_addr = ram_base.checked_add(text_offset).ok_or_else(|| LoaderError::OutOfMemory { path: p(), addr: ram_base, len: image_size })?;
    if !mem.is_memory(load_addr, image_size) {
        return Err(LoaderError::OutOfMemory { path: p(), addr: load_addr, len: image_size });
    }
    mem.load(load_addr, data).map_err(|_| LoaderError::OutOfMemory { path: p(), addr: load_addr, len: image_size })?;
    Ok(RiscvImage { load_addr, end: load_addr + image_size })
}

#[cfg(test)]
mod image_tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    #[test]
    fn loads_image_at_its_text_offset() {
        let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x40_0000)]).unwrap();
        let mut img = vec![0u8; 0x100];
        img[8..16].copy_from_slice(&0x20_0000u64.to_le_bytes());
        img[16..24].copy_from_slice(&0x1000u64.to_le_bytes());
        img[0x38..0x3c].copy_from_slice(RISCV_IMAGE_MAGIC2);
        img[0x40] = 0xaa;
        let r = load_riscv_image(&mem, Path::new("i"), &img, 0x8000_0000).unwrap();
        assert_eq!((r.load_addr, r.end), (0x8020_0000, 0x8020_1000));
        let mut b = [0u8; 1];
        mem.read_mem(0x8020_0040, &mut b).unwrap();
        assert_eq!(b, [0xaa]);
        img[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load_riscv_image(&mem, Path::new("i"), &img, 0x8000_0000).is_err());
        assert!(load_riscv_image(&mem, Path::new("i"), &[0u8; 10], 0x8000_0000).is_err());
    }
}
