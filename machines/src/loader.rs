//! Loading guest images into guest memory: ELF (`-kernel vmlinux`, test programs, firmware) and
//! flat binaries. Images are untrusted input: every size and address is checked against guest
//! memory before anything is written, and a malformed file is an error, never a panic.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// Bytes at the start of an image: enough for every format's magic and the Linux Image header.
const HEAD_LEN: usize = 64;

/// A boot image, opened but not yet read. Its first bytes tell its format; a flat binary or a
/// Linux Image then goes from the file straight into guest memory (`load_at`), which spares a
/// 30 MB kernel its copy on the heap (thousands of page faults at start-up), while an ELF is read
/// whole to be parsed (`into_bytes`).
pub struct ImageFile {
    path: PathBuf,
    head: Vec<u8>,
    len: u64,
    /// A regular file is read when loaded; anything else (a pipe) was read whole at `open`.
    source: ImageSource,
}

enum ImageSource {
    File(File),
    Bytes(Vec<u8>),
}

impl ImageFile {
    pub fn open(path: &Path) -> Result<Self, LoaderError> {
        let read_err = |source| LoaderError::Read { path: path.display().to_string(), source };
        let mut file = File::open(path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            let mut data = Vec::new();
            file.read_to_end(&mut data).map_err(read_err)?;
            return Ok(Self::from_bytes(path, data));
        }
        let mut head = vec![0; HEAD_LEN.min(meta.len() as usize)];
        file.read_exact_at(&mut head, 0).map_err(read_err)?;
        Ok(Self { path: path.to_owned(), head, len: meta.len(), source: ImageSource::File(file) })
    }

    /// An image already in memory (tests, and files that are not regular files).
    pub fn from_bytes(path: &Path, data: Vec<u8>) -> Self {
        let head = data[..data.len().min(HEAD_LEN)].to_vec();
        Self { path: path.to_owned(), head, len: data.len() as u64, source: ImageSource::Bytes(data) }
    }

    /// The image's first bytes (all of it if shorter than the longest header).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole image, for formats parsed on the host (ELF).
    pub fn into_bytes(self) -> Result<Vec<u8>, LoaderError> {
        match self.source {
            ImageSource::Bytes(data) => Ok(data),
            ImageSource::File(mut file) => {
                let mut data = Vec::with_capacity(self.len as usize);
                file.read_to_end(&mut data).map_err(|source| LoaderError::Read { path: self.path.display().to_string(), source })?;
                Ok(data)
            }
        }
    }

    /// Copy the whole image to guest RAM or ROM at `addr`. The caller has checked that it fits;
    /// a file that shrank since `open` is an error.
    fn load_at(&mut self, mem: &AddressSpace, addr: u64) -> Result<(), LoaderError> {
        let p = self.path.display().to_string();
        let result = match &mut self.source {
            ImageSource::Bytes(data) => mem.load(addr, data),
            ImageSource::File(file) => {
                // From the start every time, as for an image in memory.
                file.seek(SeekFrom::Start(0)).map_err(|source| LoaderError::Read { path: p.clone(), source })?;
                mem.load_from(addr, file, self.len)
            }
        };
        result.map_err(|e| match e {
            mimic_hw::AddressSpaceError::LoadSource { reason, .. } => LoaderError::Read { path: p, source: std::io::Error::other(reason) },
            _ => LoaderError::OutOfMemory { path: p, addr, len: self.len },
        })
    }
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
pub fn load_flat(mem: &AddressSpace, image: &mut ImageFile, addr: u64) -> Result<u64, LoaderError> {
    let len = image.len();
    if image.is_empty() {
        return Err(LoaderError::Empty { path: image.path().display().to_string() });
    }
    if !mem.is_memory(addr, len) {
        return Err(LoaderError::OutOfMemory { path: image.path().display().to_string(), addr, len });
    }
    image.load_at(mem, addr)?;
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
        let mut flat = ImageFile::from_bytes(p, vec![0; 16]);
        assert!(load_flat(&mem, &mut flat, 0x8000_fff8).is_err());
        assert_eq!(load_flat(&mem, &mut flat, 0x8000_0000).unwrap(), 0x8000_0010);
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

pub fn load_riscv_image(mem: &AddressSpace, image: &mut ImageFile, ram_base: u64) -> Result<RiscvImage, LoaderError> {
    let path = image.path().to_owned();
    let p = || path.display().to_string();
    let data = image.head();
    if !is_riscv_image(data) {
        return Err(LoaderError::BadElf { path: p(), reason: "not a RISC-V Linux Image".into() });
    }
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
    // A zero text_offset means the default 2 MiB (the first 2 MiB belong to the firmware).
    let text_offset = match u64_at(8) {
        0 => 0x20_0000,
        t => t,
    };
    let image_size = u64_at(16).max(image.len());
    let load_addr = ram_base.checked_add(text_offset).ok_or_else(|| LoaderError::OutOfMemory { path: p(), addr: ram_base, len: image_size })?;
    if !mem.is_memory(load_addr, image_size) {
        return Err(LoaderError::OutOfMemory { path: p(), addr: load_addr, len: image_size });
    }
    image.load_at(mem, load_addr)?;
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
        let image = |data: &[u8]| ImageFile::from_bytes(Path::new("i"), data.to_vec());
        let r = load_riscv_image(&mem, &mut image(&img), 0x8000_0000).unwrap();
        assert_eq!((r.load_addr, r.end), (0x8020_0000, 0x8020_1000));
        let mut b = [0u8; 1];
        mem.read_mem(0x8020_0040, &mut b).unwrap();
        assert_eq!(b, [0xaa]);
        img[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load_riscv_image(&mem, &mut image(&img), 0x8000_0000).is_err());
        assert!(load_riscv_image(&mem, &mut image(&[0u8; 10]), 0x8000_0000).is_err());
    }
}

#[cfg(test)]
mod image_file_tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    fn temp_file(name: &str, data: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("mimic-loader-{}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        path
    }

    #[test]
    fn a_file_goes_straight_into_guest_memory() {
        let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10000)]).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let path = temp_file("flat", &data);
        let mut image = ImageFile::open(&path).unwrap();
        assert_eq!((image.len(), image.head()), (5000, &data[..HEAD_LEN]));
        // Loaded twice (at two addresses), the whole file arrives each time.
        for at in [0x8000_1000, 0x8000_8000] {
            assert_eq!(load_flat(&mem, &mut image, at).unwrap(), at + 5000);
            let mut back = vec![0; 5000];
            mem.read_mem(at, &mut back).unwrap();
            assert_eq!(back, data);
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_that_shrinks_after_open_is_an_error() {
        let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10000)]).unwrap();
        let path = temp_file("shrinks", &[7; 4096]);
        let mut image = ImageFile::open(&path).unwrap();
        std::fs::write(&path, [7; 100]).unwrap();
        assert!(matches!(load_flat(&mem, &mut image, 0x8000_0000), Err(LoaderError::Read { .. })));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn short_empty_and_odd_files() {
        let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10000)]).unwrap();
        let path = temp_file("short", b"\x7fELF");
        let image = ImageFile::open(&path).unwrap();
        assert!(is_elf(image.head()));
        assert_eq!(image.into_bytes().unwrap(), b"\x7fELF");
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(load_flat(&mem, &mut ImageFile::open(&path).unwrap(), 0x8000_0000), Err(LoaderError::Empty { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(ImageFile::open(&path), Err(LoaderError::Read { .. })));
        // Not regular files: a directory cannot be read, a character device is read whole.
        assert!(matches!(ImageFile::open(&std::env::temp_dir()), Err(LoaderError::Read { .. })));
        assert!(ImageFile::open(Path::new("/dev/null")).unwrap().is_empty());
    }
}
