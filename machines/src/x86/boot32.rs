//! The two 32-bit direct-boot protocols: PVH (an ELF kernel with Xen's
//! `XEN_ELFNOTE_PHYS32_ENTRY` note, entered with EBX = an `hvm_start_info`; how Firecracker,
//! cloud-hypervisor and QEMU start a vmlinux) and multiboot version 1 (a header with magic
//! 0x1BADB002 in the first 8 KiB, entered with EAX = 0x2BADB002 and EBX = the multiboot
//! information; the usual format of bare-metal test kernels). Both start in 32-bit protected
//! mode with paging off.
//!
//! Written from the PVH start-info layout (Xen's `hvm/start_info.h`, version 1) and the
//! Multiboot 0.6.96 specification. Everything read from the image is bounds-checked; a malformed
//! header is a [`BootError::BadImage`] naming what is wrong.

use std::path::Path;

use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
use goblin::elf::Elf;
use mimic_hw::AddressSpace;

use super::linux::{BootError, BootSpec, E820Entry, Entry32, KernelEntry, BOOT_STACK, CMDLINE_ADDR, CMDLINE_MAX, E820_RAM};

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the 32-bit physical entry point of a PVH kernel.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
pub const HVM_START_MAGIC: u32 = 0x336e_c578;
pub const MULTIBOOT_HEADER_MAGIC: u32 = 0x1bad_b002;
pub const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// The header must lie within this many bytes from the start of the image, 4-byte aligned.
const MULTIBOOT_SEARCH: usize = 8192;

/// Where the boot information goes: below the zero page's 0x7000 and above the real-mode IVT and
/// BDA, inside the first e820 RAM range (guests may keep it until they are done with it).
pub const BOOT_INFO_ADDR: u64 = 0x6000;
const BOOT_INFO_SIZE: usize = 0x1000;
/// Offsets inside the boot-information page.
const MEMMAP_OFF: usize = 0x100;
const MODULE_OFF: usize = 0xe00;
const NAME_OFF: usize = 0xf00;
const MAX_MEMMAP: usize = (MODULE_OFF - MEMMAP_OFF) / 24;

// Multiboot header flags (the low 16 are requirements a loader must meet or refuse).
const MB_PAGE_ALIGN: u32 = 1 << 0;
const MB_MEMORY_INFO: u32 = 1 << 1;
const MB_VIDEO_MODE: u32 = 1 << 2;
const MB_AOUT_KLUDGE: u32 = 1 << 16;
// Multiboot information flags.
const MBI_MEM: u32 = 1 << 0;
const MBI_CMDLINE: u32 = 1 << 2;
const MBI_MODS: u32 = 1 << 3;
const MBI_MMAP: u32 = 1 << 6;
const MBI_LOADER_NAME: u32 = 1 << 9;

/// A multiboot v1 header as found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultibootHeader {
    /// File offset of the header.
    pub offset: usize,
    pub flags: u32,
    /// The a.out-kludge addresses (valid with flag 16): header, load, load end, bss end, entry.
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

fn le32(d: &[u8], off: usize) -> Option<u32> {
    d.get(off..off.checked_add(4)?).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Find the multiboot header: `Ok(None)` without the magic, an error if the magic is there but
/// the checksum or the flags are not acceptable.
pub fn find_multiboot_header(k: &[u8]) -> Result<Option<MultibootHeader>, String> {
    let end = k.len().min(MULTIBOOT_SEARCH);
    let Some(offset) = (0..end.saturating_sub(11)).step_by(4).find(|&o| le32(k, o) == Some(MULTIBOOT_HEADER_MAGIC)) else {
        return Ok(None);
    };
    let (flags, sum) = (le32(k, offset + 4).unwrap_or(0), le32(k, offset + 8).unwrap_or(0));
    if MULTIBOOT_HEADER_MAGIC.wrapping_add(flags).wrapping_add(sum) != 0 {
        return Err(format!("multiboot header at {offset:#x}: checksum {sum:#x} does not match flags {flags:#x}"));
    }
    if flags & MB_VIDEO_MODE != 0 {
        return Err("multiboot header asks for a video mode (flag 2); microvm has no display".into());
    }
    let unknown = flags & 0xffff & !(MB_PAGE_ALIGN | MB_MEMORY_INFO);
    if unknown != 0 {
        return Err(format!("multiboot header requires features this loader does not know (flags {unknown:#x})"));
    }
    let mut h = MultibootHeader { offset, flags, header_addr: 0, load_addr: 0, load_end_addr: 0, bss_end_addr: 0, entry_addr: 0 };
    if flags & MB_AOUT_KLUDGE != 0 {
        let f = |i: usize| le32(k, offset + 12 + 4 * i).ok_or_else(|| format!("multiboot header at {offset:#x} is cut off"));
        (h.header_addr, h.load_addr, h.load_end_addr, h.bss_end_addr, h.entry_addr) = (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?);
    }
    Ok(Some(h))
}

/// The PVH entry in the contents of an ELF note segment: the descriptor of the first note named
/// "Xen" with type 18 (4 or 8 bytes; an address that must fit 32 bits).
pub fn pvh_entry_in_notes(notes: &[u8]) -> Result<Option<u32>, String> {
    let align4 = |n: usize| n.checked_add(3).map(|v| v & !3);
    let mut o = 0usize;
    while o + 12 <= notes.len() {
        let (namesz, descsz, kind) = (le32(notes, o).unwrap_or(0) as usize, le32(notes, o + 4).unwrap_or(0) as usize, le32(notes, o + 8).unwrap_or(0));
        let name_at = o + 12;
        let desc_at = align4(namesz).and_then(|n| name_at.checked_add(n)).ok_or("note name size overflows")?;
        let next = align4(descsz).and_then(|d| desc_at.checked_add(d)).ok_or("note descriptor size overflows")?;
        if next > notes.len() {
            return Err(format!("note at {o:#x} runs past its segment"));
        }
        let name = &notes[name_at..name_at + namesz];
        if kind == XEN_ELFNOTE_PHYS32_ENTRY && name.strip_suffix(b"\0").unwrap_or(name) == b"Xen" {
            let desc = &notes[desc_at..desc_at + descsz];
            let entry = match descsz {
                4 => u64::from(le32(desc, 0).unwrap_or(0)),
                8 => u64::from_le_bytes(desc.try_into().map_err(|_| "note descriptor")?),
                n => return Err(format!("PVH entry note has a {n}-byte descriptor (4 or 8 expected)")),
            };
            return u32::try_from(entry).map(Some).map_err(|_| format!("PVH entry {entry:#x} is above 4 GiB"));
        }
        o = next;
    }
    Ok(None)
}

/// The PVH entry of an ELF image, if it has the note.
pub fn pvh_entry(elf: &Elf, k: &[u8]) -> Result<Option<u32>, String> {
    for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_NOTE) {
        let notes = usize::try_from(ph.p_offset)
            .ok()
            .zip(usize::try_from(ph.p_filesz).ok())
            .and_then(|(off, len)| k.get(off..off.checked_add(len)?))
            .ok_or("note segment outside the file")?;
        if let Some(e) = pvh_entry_in_notes(notes)? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

fn fit(mem: &AddressSpace, path: &Path, addr: u64, data: &[u8]) -> Result<(), BootError> {
    mem.load(addr, data).map_err(|_| BootError::DoesNotFit { path: path.display().to_string(), addr, len: data.len() as u64 })
}

/// Load an ELF's PT_LOAD segments at their physical addresses (ELF32 or ELF64, x86); returns
/// the end of the highest one.
fn load_elf_segments(mem: &AddressSpace, path: &Path, elf: &Elf, k: &[u8], ram_end: u64) -> Result<u64, BootError> {
    let bad = |reason: &str| BootError::BadImage { path: path.display().to_string(), reason: reason.into() };
    use goblin::elf::header::{EM_386, EM_X86_64};
    if !matches!(elf.header.e_machine, EM_386 | EM_X86_64) {
        return Err(bad("not an x86 ELF image"));
    }
    let mut end = 0u64;
    for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0) {
        let off = usize::try_from(ph.p_offset).map_err(|_| bad("segment offset"))?;
        let filesz = usize::try_from(ph.p_filesz).map_err(|_| bad("segment size"))?;
        let bytes = off.checked_add(filesz).and_then(|e| k.get(off..e)).ok_or_else(|| bad("segment outside the file"))?;
        // Checked before the zeroed tail is allocated: a huge p_memsz must not cost host memory.
        if ph.p_memsz < ph.p_filesz || ph.p_paddr.checked_add(ph.p_memsz).is_none_or(|e| e > ram_end.min(1 << 32)) {
            return Err(BootError::DoesNotFit { path: path.display().to_string(), addr: ph.p_paddr, len: ph.p_memsz });
        }
        fit(mem, path, ph.p_paddr, bytes)?;
        fit(mem, path, ph.p_paddr + ph.p_filesz, &vec![0u8; (ph.p_memsz - ph.p_filesz) as usize])?;
        end = end.max(ph.p_paddr + ph.p_memsz);
    }
    if end == 0 {
        return Err(bad("no loadable segment"));
    }
    Ok(end)
}

/// The initrd (if any) page-aligned as high as possible in low RAM, above `kernel_end`.
fn place_initrd(mem: &AddressSpace, spec: &BootSpec, kernel_end: u64) -> Result<Option<(u32, u32)>, BootError> {
    let Some((ipath, initrd)) = spec.initrd else { return Ok(None) };
    let len = initrd.len() as u64;
    let addr = spec
        .low_ram_end
        .min(1 << 32)
        .checked_sub(len)
        .map(|a| a & !0xfff)
        .filter(|&a| a >= kernel_end.max(super::linux::KERNEL_LOAD_ADDR))
        .ok_or_else(|| BootError::DoesNotFit { path: ipath.display().to_string(), addr: kernel_end, len })?;
    fit(mem, ipath, addr, initrd)?;
    Ok(Some((addr as u32, len as u32)))
}

fn write_cmdline(mem: &AddressSpace, spec: &BootSpec) -> Result<(), BootError> {
    if spec.cmdline.len() >= CMDLINE_MAX {
        return Err(BootError::CmdlineTooLong { len: spec.cmdline.len(), max: CMDLINE_MAX - 1 });
    }
    let mut cmd = spec.cmdline.as_bytes().to_vec();
    cmd.push(0);
    fit(mem, spec.path, CMDLINE_ADDR, &cmd)
}

fn put32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(d: &mut [u8], off: usize, v: u64) {
    d[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Boot a PVH kernel: segments loaded, `hvm_start_info` (version 1) with the command line, the
/// e820 map as its memory map and the initrd as module 0.
pub fn load_pvh(mem: &AddressSpace, spec: &BootSpec, elf: &Elf, entry: u32) -> Result<KernelEntry, BootError> {
    let kernel_end = load_elf_segments(mem, spec.path, elf, spec.kernel, spec.low_ram_end)?;
    write_cmdline(mem, spec)?;
    let initrd = place_initrd(mem, spec, kernel_end)?;
    let mut info = vec![0u8; BOOT_INFO_SIZE];
    let base = BOOT_INFO_ADDR;
    put32(&mut info, 0, HVM_START_MAGIC);
    put32(&mut info, 4, 1);
    if let Some((addr, len)) = initrd {
        put32(&mut info, 12, 1);
        put64(&mut info, 16, base + MODULE_OFF as u64);
        put64(&mut info, MODULE_OFF, u64::from(addr));
        put64(&mut info, MODULE_OFF + 8, u64::from(len));
    }
    put64(&mut info, 24, CMDLINE_ADDR);
    let map = memmap(spec.e820)?;
    put64(&mut info, 40, base + MEMMAP_OFF as u64);
    put32(&mut info, 48, map.len() as u32);
    for (i, e) in map.iter().enumerate() {
        let o = MEMMAP_OFF + 24 * i;
        put64(&mut info, o, e.addr);
        put64(&mut info, o + 8, e.size);
        put32(&mut info, o + 16, e.kind);
    }
    fit(mem, spec.path, base, &info)?;
    log::info!("'{}': PVH entry {entry:#x}", spec.path.display());
    Ok(KernelEntry { rip: u64::from(entry), rsp: BOOT_STACK, boot_params: base, entry32: Some(Entry32 { eax: 0, ebx: base as u32 }) })
}

fn memmap(e820: &[E820Entry]) -> Result<&[E820Entry], BootError> {
    if e820.len() > MAX_MEMMAP {
        return Err(BootError::BadImage { path: "memory map".into(), reason: format!("{} entries, at most {MAX_MEMMAP}", e820.len()) });
    }
    Ok(e820)
}

/// Boot a multiboot v1 kernel (ELF, or any image with the a.out-kludge addresses).
pub fn load_multiboot(mem: &AddressSpace, spec: &BootSpec, h: &MultibootHeader) -> Result<KernelEntry, BootError> {
    let path = spec.path;
    let k = spec.kernel;
    let bad = |reason: String| BootError::BadImage { path: path.display().to_string(), reason };
    let (entry, kernel_end) = if h.flags & MB_AOUT_KLUDGE != 0 {
        // The file from `header_offset - (header_addr - load_addr)` is loaded at load_addr,
        // up to load_end_addr (0: the end of the file), then zeroed up to bss_end_addr.
        let before = h.header_addr.checked_sub(h.load_addr).ok_or_else(|| bad("multiboot load_addr is above header_addr".into()))?;
        let start = h.offset.checked_sub(before as usize).ok_or_else(|| bad("multiboot load_addr is before the start of the file".into()))?;
        let len = match h.load_end_addr {
            0 => k.len() - start,
            e => e.checked_sub(h.load_addr).ok_or_else(|| bad("multiboot load_end_addr is below load_addr".into()))? as usize,
        };
        let bytes = start.checked_add(len).and_then(|e| k.get(start..e)).ok_or_else(|| bad("multiboot load range runs past the file".into()))?;
        fit(mem, path, u64::from(h.load_addr), bytes)?;
        let mut end = u64::from(h.load_addr) + len as u64;
        if h.bss_end_addr != 0 {
            let bss = u64::from(h.bss_end_addr).checked_sub(end).ok_or_else(|| bad("multiboot bss_end_addr is below the loaded image".into()))?;
            if u64::from(h.bss_end_addr) > spec.low_ram_end {
                return Err(BootError::DoesNotFit { path: path.display().to_string(), addr: end, len: bss });
            }
            fit(mem, path, end, &vec![0u8; bss as usize])?;
            end = u64::from(h.bss_end_addr);
        }
        if !(u64::from(h.load_addr)..end).contains(&u64::from(h.entry_addr)) {
            return Err(bad(format!("multiboot entry {:#x} is outside the loaded image", h.entry_addr)));
        }
        (h.entry_addr, end)
    } else {
        let elf = Elf::parse(k).map_err(|e| bad(format!("multiboot image without load addresses must be ELF: {e}")))?;
        let end = load_elf_segments(mem, path, &elf, k, spec.low_ram_end)?;
        let entry = u32::try_from(elf.header.e_entry).map_err(|_| bad(format!("multiboot entry {:#x} is above 4 GiB", elf.header.e_entry)))?;
        (entry, end)
    };
    write_cmdline(mem, spec)?;
    let initrd = place_initrd(mem, spec, kernel_end)?;
    let map = memmap(spec.e820)?;
    let mut info = vec![0u8; BOOT_INFO_SIZE];
    let base = BOOT_INFO_ADDR as u32;
    let mut flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
    // mem_lower: KiB of RAM from 0 (up to 640 KiB); mem_upper: KiB from 1 MiB to the first hole.
    let ram = |at: u64| map.iter().find(|e| e.kind == E820_RAM && e.addr <= at && at < e.addr + e.size);
    let lower = ram(0).map_or(0, |e| (e.addr + e.size).min(0xa_0000) / 1024);
    let upper = ram(0x10_0000).map_or(0, |e| (e.addr + e.size - 0x10_0000) / 1024).min(u64::from(u32::MAX));
    put32(&mut info, 4, lower as u32);
    put32(&mut info, 8, upper as u32);
    put32(&mut info, 16, CMDLINE_ADDR as u32);
    if let Some((addr, len)) = initrd {
        flags |= MBI_MODS;
        put32(&mut info, 20, 1);
        put32(&mut info, 24, base + MODULE_OFF as u32);
        put32(&mut info, MODULE_OFF, addr);
        put32(&mut info, MODULE_OFF + 4, addr + len);
    }
    // mmap entries: size (of the rest: 20), base, length, type.
    put32(&mut info, 44, (map.len() * 24) as u32);
    put32(&mut info, 48, base + MEMMAP_OFF as u32);
    for (i, e) in map.iter().enumerate() {
        let o = MEMMAP_OFF + 24 * i;
        put32(&mut info, o, 20);
        put64(&mut info, o + 4, e.addr);
        put64(&mut info, o + 12, e.size);
        put32(&mut info, o + 20, e.kind);
    }
    let name = b"Mimic\0";
    info[NAME_OFF..NAME_OFF + name.len()].copy_from_slice(name);
    put32(&mut info, 64, base + NAME_OFF as u32);
    put32(&mut info, 0, flags);
    fit(mem, path, BOOT_INFO_ADDR, &info)?;
    log::info!("'{}': multiboot entry {entry:#x}", path.display());
    Ok(KernelEntry {
        rip: u64::from(entry),
        rsp: BOOT_STACK,
        boot_params: BOOT_INFO_ADDR,
        entry32: Some(Entry32 { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: base }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::linux::{load_kernel, E820_RESERVED};
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    const E820: &[E820Entry] = &[
        E820Entry { addr: 0, size: 0x9fc00, kind: E820_RAM },
        E820Entry { addr: 0x9fc00, size: 0x100000 - 0x9fc00, kind: E820_RESERVED },
        E820Entry { addr: 0x100000, size: (64 << 20) - 0x100000, kind: E820_RAM },
    ];

    fn mem() -> AddressSpace {
        AddressSpace::new(&[MemRegionSpec::ram("ram", 0, 64 << 20)]).unwrap()
    }
    fn spec<'a>(kernel: &'a [u8], initrd: Option<&'a [u8]>) -> BootSpec<'a> {
        BootSpec { path: Path::new("k"), kernel, initrd: initrd.map(|d| (Path::new("i"), d)), cmdline: "hello", e820: E820, low_ram_end: 64 << 20 }
    }
    fn rd(m: &AddressSpace, a: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        m.read_mem(a, &mut b).unwrap();
        b
    }
    fn r32(m: &AddressSpace, a: u64) -> u32 {
        u32::from_le_bytes(rd(m, a, 4).try_into().unwrap())
    }
    fn r64(m: &AddressSpace, a: u64) -> u64 {
        u64::from_le_bytes(rd(m, a, 8).try_into().unwrap())
    }
    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend_from_slice(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    /// An ELF64 with one PT_LOAD (`code` at 2 MiB) and one PT_NOTE (`notes`).
    fn elf_with_notes(code: &[u8], notes: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 2 * 56];
        e[..4].copy_from_slice(b"\x7fELF");
        (e[4], e[5], e[6]) = (2, 1, 1);
        e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        e[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        e[20..24].copy_from_slice(&1u32.to_le_bytes());
        e[24..32].copy_from_slice(&0xffff_ffff_8020_0000u64.to_le_bytes()); // the 64-bit e_entry
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[52..54].copy_from_slice(&64u16.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&2u16.to_le_bytes());
        let code_off = e.len() as u64;
        let note_off = code_off + code.len() as u64;
        for (i, (kind, off, paddr, len)) in [(PT_LOAD, code_off, 0x20_0000u64, code.len()), (PT_NOTE, note_off, 0, notes.len())].into_iter().enumerate() {
            let ph = 64 + 56 * i;
            e[ph..ph + 4].copy_from_slice(&kind.to_le_bytes());
            e[ph + 8..ph + 16].copy_from_slice(&off.to_le_bytes());
            e[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
            e[ph + 32..ph + 40].copy_from_slice(&(len as u64).to_le_bytes());
            e[ph + 40..ph + 48].copy_from_slice(&(len as u64).to_le_bytes());
        }
        e.extend_from_slice(code);
        e.extend_from_slice(notes);
        e
    }

    #[test]
    fn pvh_note_parsing() {
        let entry = note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &0x1234u32.to_le_bytes());
        assert_eq!(pvh_entry_in_notes(&entry), Ok(Some(0x1234)));
        // Other notes first, an 8-byte descriptor (Linux's `_ASM_PTR`).
        let mut n = note(b"GNU\0", 3, &[1, 2, 3, 4, 5]);
        n.extend(note(b"Xen\0", 5, b"xen-3.0\0"));
        n.extend(note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &0x100_0200u64.to_le_bytes()));
        assert_eq!(pvh_entry_in_notes(&n), Ok(Some(0x100_0200)));
        assert_eq!(pvh_entry_in_notes(&note(b"Xen\0", 2, &[0; 4])), Ok(None));
        assert_eq!(pvh_entry_in_notes(&[]), Ok(None));
        // Malformed: errors, never panics.
        assert!(pvh_entry_in_notes(&note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &(1u64 << 32).to_le_bytes())).unwrap_err().contains("above 4 GiB"));
        assert!(pvh_entry_in_notes(&note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &[1, 2, 3])).unwrap_err().contains("3-byte"));
        let mut huge = note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &[0; 4]);
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(pvh_entry_in_notes(&huge).is_err());
        huge[0..4].copy_from_slice(&4u32.to_le_bytes());
        huge[4..8].copy_from_slice(&0x100u32.to_le_bytes());
        assert!(pvh_entry_in_notes(&huge).unwrap_err().contains("runs past"));
    }

    #[test]
    fn pvh_kernel_gets_start_info() {
        let m = mem();
        let k = elf_with_notes(&[0xf4], &note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &0x20_0000u32.to_le_bytes()));
        let initrd = [0xab; 300];
        let e = load_kernel(&m, &spec(&k, Some(&initrd))).unwrap();
        assert_eq!((e.rip, e.entry32), (0x20_0000, Some(Entry32 { eax: 0, ebx: BOOT_INFO_ADDR as u32 })));
        assert_eq!(rd(&m, 0x20_0000, 1), [0xf4]);
        let si = BOOT_INFO_ADDR;
        assert_eq!((r32(&m, si), r32(&m, si + 4)), (HVM_START_MAGIC, 1));
        assert_eq!(rd(&m, r64(&m, si + 24), 6), b"hello\0");
        let (map, n) = (r64(&m, si + 40), r32(&m, si + 48));
        assert_eq!(n, 3);
        assert_eq!((r64(&m, map + 48), r64(&m, map + 56), r32(&m, map + 64)), (0x100000, (64 << 20) - 0x100000, E820_RAM));
        assert_eq!(r32(&m, si + 12), 1);
        let module = r64(&m, si + 16);
        let (addr, size) = (r64(&m, module), r64(&m, module + 8));
        assert_eq!(size, 300);
        assert!(addr % 4096 == 0 && addr >= 0x20_1000, "{addr:#x}");
        assert_eq!(rd(&m, addr, 2), [0xab, 0xab]);
        // A kernel without the note keeps the 64-bit entry.
        let k = elf_with_notes(&[0xf4], &note(b"GNU\0", 3, &[0; 4]));
        assert_eq!(load_kernel(&m, &spec(&k, None)).unwrap().entry32, None);
    }

    /// A flat multiboot image with the a.out-kludge addresses: loaded at 1 MiB, entry +0x20.
    fn multiboot_flat(flags: u32) -> Vec<u8> {
        let mut k = vec![0x90u8; 0x40];
        let words = [MULTIBOOT_HEADER_MAGIC, flags, 0u32.wrapping_sub(MULTIBOOT_HEADER_MAGIC.wrapping_add(flags)), 0x10_0004, 0x10_0000, 0, 0x10_2000, 0x10_0020];
        for (i, w) in words.iter().enumerate() {
            k[4 + 4 * i..8 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        k
    }

    #[test]
    fn multiboot_header_parsing_and_refusals() {
        let k = multiboot_flat(MB_AOUT_KLUDGE | MB_MEMORY_INFO);
        let h = find_multiboot_header(&k).unwrap().unwrap();
        assert_eq!((h.offset, h.load_addr, h.bss_end_addr, h.entry_addr), (4, 0x10_0000, 0x10_2000, 0x10_0020));
        assert_eq!(find_multiboot_header(&[0x90; 64]), Ok(None));
        // Past the first 8 KiB it does not count.
        let mut far = vec![0u8; 9000];
        far[8200..8204].copy_from_slice(&MULTIBOOT_HEADER_MAGIC.to_le_bytes());
        assert_eq!(find_multiboot_header(&far), Ok(None));
        let mut bad = k.clone();
        bad[12] ^= 1;
        assert!(find_multiboot_header(&bad).unwrap_err().contains("checksum"));
        assert!(find_multiboot_header(&multiboot_flat(MB_VIDEO_MODE)).unwrap_err().contains("video"));
        assert!(find_multiboot_header(&multiboot_flat(1 << 5)).unwrap_err().contains("0x20"));
        // The magic with nothing after it, and a header cut off before its addresses.
        assert_eq!(find_multiboot_header(&MULTIBOOT_HEADER_MAGIC.to_le_bytes()), Ok(None));
        assert!(find_multiboot_header(&k[..20]).unwrap_err().contains("cut off"));
        // Load addresses that do not make sense are errors from the loader.
        let m = mem();
        let mut k2 = multiboot_flat(MB_AOUT_KLUDGE);
        k2[32..36].copy_from_slice(&0x50_0000u32.to_le_bytes()); // entry outside the image
        let e = load_kernel(&m, &spec(&k2, None)).unwrap_err().to_string();
        assert!(e.contains("outside the loaded image"), "{e}");
        let mut k3 = multiboot_flat(MB_AOUT_KLUDGE);
        k3[28..32].copy_from_slice(&0xffff_f000u32.to_le_bytes()); // bss far beyond RAM
        assert!(matches!(load_kernel(&m, &spec(&k3, None)), Err(BootError::DoesNotFit { .. })));
    }

    #[test]
    fn multiboot_information() {
        let m = mem();
        let k = multiboot_flat(MB_AOUT_KLUDGE | MB_PAGE_ALIGN | MB_MEMORY_INFO);
        let initrd = [0x5a; 5000];
        let e = load_kernel(&m, &spec(&k, Some(&initrd))).unwrap();
        assert_eq!((e.rip, e.entry32), (0x10_0020, Some(Entry32 { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: BOOT_INFO_ADDR as u32 })));
        assert_eq!(rd(&m, 0x10_0000, 4), &k[..4]);
        assert_eq!(rd(&m, 0x10_1000, 4), [0; 4], "bss zeroed");
        let mbi = BOOT_INFO_ADDR;
        let flags = r32(&m, mbi);
        assert_eq!(flags, MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
        assert_eq!((r32(&m, mbi + 4), r32(&m, mbi + 8)), (639, 63 * 1024));
        assert_eq!(rd(&m, u64::from(r32(&m, mbi + 16)), 6), b"hello\0");
        let (mods, n) = (u64::from(r32(&m, mbi + 24)), r32(&m, mbi + 20));
        assert_eq!(n, 1);
        let (start, end) = (r32(&m, mods), r32(&m, mods + 4));
        assert_eq!((end - start, start % 4096), (5000, 0));
        let (len, map) = (r32(&m, mbi + 44), u64::from(r32(&m, mbi + 48)));
        assert_eq!(len, 3 * 24);
        // Second entry: size 20, the reserved legacy hole.
        assert_eq!((r32(&m, map + 24), r64(&m, map + 28), r32(&m, map + 44)), (20, 0x9fc00, E820_RESERVED));
        assert_eq!(rd(&m, u64::from(r32(&m, mbi + 64)), 6), b"Mimic\0");
    }
}
