//! The guest physical address space: RAM and ROM backed by `vm-memory`, MMIO windows on a [`Bus`].
//!
//! One `AddressSpace` per machine. Every physical access that is not served straight from a host
//! pointer (TCG's TLB fast path, KVM's memory slots) arrives here: [`AddressSpace::read`] and
//! [`AddressSpace::write`] route it to RAM, ROM or a device. Regions of all kinds may not overlap.

use thiserror::Error;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, ReadVolatile};

use crate::bus::{Bus, BusError};
use crate::device::SharedDevice;
use crate::write_watch::{WatchedWrites, WriteWatch};

#[derive(Debug, Error)]
pub enum AddressSpaceError {
    #[error("memory region '{name}' at {base:#x}+{size:#x} overlaps another region")]
    Overlap { name: String, base: u64, size: u64 },
    #[error("memory region '{name}' at {base:#x} has size zero or wraps the address space")]
    BadRegion { name: String, base: u64 },
    #[error("cannot allocate {size:#x} bytes of guest memory: {reason}")]
    Alloc { size: u64, reason: String },
    #[error("{len} bytes at {addr:#x} are not backed by RAM or ROM")]
    NotMemory { addr: u64, len: usize },
    #[error("cannot read {len} bytes for {addr:#x}: {reason}")]
    LoadSource { addr: u64, len: u64, reason: String },
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// What a RAM/ROM region is to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    Ram,
    /// Guest writes are ignored (and logged); the loader may still fill it.
    Rom,
}

#[derive(Clone, Debug)]
pub struct MemRegionSpec {
    pub name: String,
    pub base: u64,
    pub size: u64,
    pub kind: MemKind,
}

impl MemRegionSpec {
    pub fn ram(name: &str, base: u64, size: u64) -> Self {
        Self { name: name.into(), base, size, kind: MemKind::Ram }
    }
    pub fn rom(name: &str, base: u64, size: u64) -> Self {
        Self { name: name.into(), base, size, kind: MemKind::Rom }
    }
}

/// A host view of guest memory around one physical address, for TLB fills and DMA.
#[derive(Clone, Copy, Debug)]
pub struct RamRef {
    /// Host address corresponding to the queried guest physical address.
    pub host: *mut u8,
    /// Bytes from the queried address to the end of its region.
    pub len: u64,
    /// Guest physical base of the region (for page-granular bookkeeping).
    pub region_base: u64,
    pub read_only: bool,
}

pub struct AddressSpace {
    mem: GuestMemoryMmap,
    specs: Vec<MemRegionSpec>,
    mmio: Bus,
    /// Device windows laid over RAM (HTIF's `tohost` lives inside the guest image, as on QEMU).
    /// They take priority over the RAM beneath, and a page they touch is never handed out as a
    /// host pointer, so every access to it comes through [`AddressSpace::read`]/[`AddressSpace::write`].
    overlays: Bus,
    /// RAM pages whose writes through this address space an accelerator wants to hear about.
    watch: WriteWatch,
    /// Host address of each region of `specs` (same order): `ram_ref` runs on every softmmu TLB
    /// fill and block translation, and vm-memory's lookups were a percent of a boot.
    hosts: Vec<usize>,
}

// SAFETY: `GuestMemoryMmap` owns its mappings; raw pointers in `RamRef` handed out by this type
// are only used while the address space is alive, which machines guarantee by owning it for the
// lifetime of every vCPU.
unsafe impl Sync for AddressSpace {}

/// Ask the host kernel to back guest RAM with transparent huge pages where it can (QEMU does
/// the same). A boot touches hundreds of MiB of RAM; with 4 KiB pages that is tens of thousands
/// of page faults, each costly under nested paging, and KVM's second-level tables get 2 MiB
/// entries. Only advice: a kernel without THP or with it disabled just keeps 4 KiB pages.
fn advise_huge_pages(mem: &GuestMemoryMmap) {
    for region in mem.iter() {
        let (ptr, len) = (region.as_ptr(), region.len() as usize);
        // SAFETY: `ptr..ptr+len` is one mapping owned by `mem`; MADV_HUGEPAGE changes no contents
        // and no protection.
        let r = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
        if r != 0 {
            log::debug!("madvise(MADV_HUGEPAGE) on guest RAM: {}", std::io::Error::last_os_error());
        }
    }
}

impl AddressSpace {
    /// Build the RAM/ROM layout. MMIO windows are added afterwards with [`Self::add_mmio`].
    pub fn new(regions: &[MemRegionSpec]) -> Result<Self, AddressSpaceError> {
        let mut specs: Vec<MemRegionSpec> = Vec::new();
        for r in regions {
            let end = r.base.checked_add(r.size).filter(|_| r.size > 0);
            if end.is_none() || usize::try_from(r.size).is_err() {
                return Err(AddressSpaceError::BadRegion { name: r.name.clone(), base: r.base });
            }
            if specs.iter().any(|s| overlaps(s.base, s.size, r.base, r.size)) {
                return Err(AddressSpaceError::Overlap { name: r.name.clone(), base: r.base, size: r.size });
            }
            specs.push(r.clone());
        }
        specs.sort_by_key(|s| s.base);
        let ranges: Vec<(GuestAddress, usize)> = specs.iter().map(|s| (GuestAddress(s.base), s.size as usize)).collect();
        let mem = if ranges.is_empty() {
            GuestMemoryMmap::default()
        } else {
            GuestMemoryMmap::from_ranges(&ranges).map_err(|e| AddressSpaceError::Alloc {
                size: specs.iter().map(|s| s.size).sum(),
                reason: e.to_string(),
            })?
        };
        advise_huge_pages(&mem);
        let watch = WriteWatch::new(specs.iter().filter(|s| s.kind == MemKind::Ram).map(|s| (s.base, s.size)));
        let hosts = specs
            .iter()
            .map(|s| mem.get_host_address(GuestAddress(s.base)).map(|p| p as usize))
            .collect::<Result<_, _>>()
            .map_err(|e| AddressSpaceError::Alloc { size: specs.iter().map(|s| s.size).sum(), reason: e.to_string() })?;
        Ok(Self { mem, specs, mmio: Bus::new(), overlays: Bus::new(), watch, hosts })
    }

    /// Map a device window. Overlaps with RAM, ROM or another device are refused.
    pub fn add_mmio(&mut self, base: u64, size: u64, dev: SharedDevice) -> Result<(), AddressSpaceError> {
        if self.specs.iter().any(|s| overlaps(s.base, s.size, base, size)) {
            let name = dev.lock().map(|d| d.name().to_string()).unwrap_or_default();
            return Err(AddressSpaceError::Overlap { name, base, size });
        }
        Ok(self.mmio.insert(base, size, dev)?)
    }

    /// Lay a device window over RAM; it must lie wholly inside one RAM region.
    pub fn add_mmio_overlay(&mut self, base: u64, size: u64, dev: SharedDevice) -> Result<(), AddressSpaceError> {
        if !self.specs.iter().any(|s| base >= s.base && base.saturating_add(size) <= s.base + s.size) {
            let name = dev.lock().map(|d| d.name().to_string()).unwrap_or_default();
            return Err(AddressSpaceError::BadRegion { name, base });
        }
        Ok(self.overlays.insert(base, size, dev)?)
    }

    /// Does a device overlay intersect the 4 KiB page holding `addr`?
    fn page_has_overlay(&self, addr: u64) -> bool {
        let page = addr & !0xfff;
        self.overlays.windows().any(|(b, sz, _)| b < page + 0x1000 && page < b + sz)
    }

    /// The guest RAM, for accelerators that map it (KVM memory slots) and for DMA.
    pub fn guest_memory(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    pub fn regions(&self) -> &[MemRegionSpec] {
        &self.specs
    }

    pub fn mmio_bus(&self) -> &Bus {
        &self.mmio
    }

    fn spec_at(&self, addr: u64) -> Option<&MemRegionSpec> {
        self.spec_index(addr).map(|i| &self.specs[i])
    }

    fn spec_index(&self, addr: u64) -> Option<usize> {
        let i = self.specs.partition_point(|s| s.base <= addr).checked_sub(1)?;
        (addr - self.specs[i].base < self.specs[i].size).then_some(i)
    }

    /// Host pointer for the RAM/ROM byte at `addr`, if `addr` is memory (not MMIO, not a hole).
    pub fn ram_ref(&self, addr: u64) -> Option<RamRef> {
        let i = self.spec_index(addr)?;
        if !self.overlays.is_empty() && self.page_has_overlay(addr) {
            return None;
        }
        let spec = &self.specs[i];
        let off = addr - spec.base;
        Some(RamRef {
            host: (self.hosts[i] + off as usize) as *mut u8,
            len: spec.size - off,
            region_base: spec.base,
            read_only: spec.kind == MemKind::Rom,
        })
    }

    /// Is `[addr, addr + len)` wholly inside one RAM/ROM region?
    pub fn is_memory(&self, addr: u64, len: u64) -> bool {
        self.ram_ref(addr).is_some_and(|r| r.len >= len)
    }

    /// A guest (or device DMA) read of physical memory or MMIO.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> Result<(), AddressSpaceError> {
        if self.overlays.contains(addr) {
            return Ok(self.overlays.read(addr, data)?);
        }
        if self.spec_at(addr).is_some() {
            return self
                .mem
                .read_slice(data, GuestAddress(addr))
                .map_err(|_| AddressSpaceError::NotMemory { addr, len: data.len() });
        }
        Ok(self.mmio.read(addr, data)?)
    }

    /// A guest (or device DMA) write. Writes to ROM are dropped with a guest-error log line.
    /// Watched pages written are logged (see [`Self::watch_writes`]).
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), AddressSpaceError> {
        self.write_inner(addr, data, true)
    }

    /// A write by the CPU that watches pages: it sees its own stores, so they are not logged.
    pub fn write_unwatched(&self, addr: u64, data: &[u8]) -> Result<(), AddressSpaceError> {
        self.write_inner(addr, data, false)
    }

    fn write_inner(&self, addr: u64, data: &[u8], note: bool) -> Result<(), AddressSpaceError> {
        if self.overlays.contains(addr) {
            return Ok(self.overlays.write(addr, data)?);
        }
        if let Some(spec) = self.spec_at(addr) {
            if spec.kind == MemKind::Rom {
                log::warn!("guest error: {}-byte write to ROM '{}' at {addr:#x} ignored", data.len(), spec.name);
                return Ok(());
            }
            self.mem
                .write_slice(data, GuestAddress(addr))
                .map_err(|_| AddressSpaceError::NotMemory { addr, len: data.len() })?;
            if note {
                self.watch.note_write(addr, data.len() as u64);
            }
            return Ok(());
        }
        Ok(self.mmio.write(addr, data)?)
    }

    /// Log later writes through this address space to the RAM page holding `addr`, until
    /// [`Self::unwatch_all_writes`]. Call it before reading the page's bytes (see
    /// [`crate::write_watch`]). TCG watches the pages it translated code from.
    pub fn watch_writes(&self, addr: u64) {
        self.watch.watch(addr);
    }

    pub fn unwatch_all_writes(&self) {
        self.watch.unwatch_all();
    }

    /// Watched pages written since the last call.
    pub fn take_watched_writes(&self) -> WatchedWrites {
        self.watch.take()
    }

    /// The loader's write: fills RAM or ROM, never MMIO.
    pub fn load(&self, addr: u64, mut data: &[u8]) -> Result<(), AddressSpaceError> {
        let len = data.len() as u64;
        self.load_from(addr, &mut data, len)
    }

    /// The loader's read of `len` bytes from `src` (a file, usually) straight into RAM or ROM at
    /// `addr`, never MMIO: a 30 MB kernel needs no copy on the heap on its way in.
    pub fn load_from<R: ReadVolatile>(&self, addr: u64, src: &mut R, len: u64) -> Result<(), AddressSpaceError> {
        let not_memory = || AddressSpaceError::NotMemory { addr, len: len as usize };
        let end = addr.checked_add(len);
        let inside = |s: &MemRegionSpec| end.is_some_and(|e| addr >= s.base && e <= s.base + s.size);
        if len == 0 {
            return Ok(());
        }
        if !self.specs.iter().any(inside) {
            return Err(not_memory());
        }
        let count = usize::try_from(len).map_err(|_| not_memory())?;
        let mut slice = self.mem.get_slice(GuestAddress(addr), count).map_err(|_| not_memory())?;
        src.read_exact_volatile(&mut slice).map_err(|e| AddressSpaceError::LoadSource { addr, len, reason: e.to_string() })?;
        self.watch.note_write(addr, len);
        Ok(())
    }

    /// Read guest memory (RAM/ROM only) for loaders, DMA and debuggers.
    pub fn read_mem(&self, addr: u64, data: &mut [u8]) -> Result<(), AddressSpaceError> {
        if !self.is_memory(addr, data.len() as u64) {
            return Err(AddressSpaceError::NotMemory { addr, len: data.len() });
        }
        self.mem.read_slice(data, GuestAddress(addr)).map_err(|_| AddressSpaceError::NotMemory { addr, len: data.len() })
    }
}

fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{shared, Device};

    struct Echo(u64);
    impl Device for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            crate::device::write_le(data, self.0 + offset);
        }
        fn write(&mut self, _offset: u64, data: &[u8]) {
            self.0 = crate::device::read_le(data);
        }
    }

    #[test]
    fn writes_to_watched_pages_are_logged_except_the_watchers_own() {
        let a = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x10000), MemRegionSpec::rom("rom", 0x1000, 0x1000)]).unwrap();
        a.watch_writes(0x8000_2000);
        a.watch_writes(0x1000);
        a.write_unwatched(0x8000_2000, &[1]).unwrap();
        a.write(0x8000_1000, &[1]).unwrap();
        assert_eq!(a.take_watched_writes(), WatchedWrites::None);
        a.write(0x8000_2ffe, &[1, 2, 3, 4]).unwrap();
        assert_eq!(a.take_watched_writes(), WatchedWrites::Pages(vec![0x8000_2000]));
        a.load(0x8000_2010, &[5]).unwrap();
        assert_eq!(a.take_watched_writes(), WatchedWrites::Pages(vec![0x8000_2000]));
        a.unwatch_all_writes();
        a.write(0x8000_2000, &[1]).unwrap();
        assert_eq!(a.take_watched_writes(), WatchedWrites::None);
    }

    #[test]
    fn routes_ram_rom_and_mmio() {
        let mut asp = AddressSpace::new(&[MemRegionSpec::rom("rom", 0x1000, 0x1000), MemRegionSpec::ram("ram", 0x8000_0000, 0x10000)]).unwrap();
        asp.add_mmio(0x2000, 0x100, shared(Echo(0))).unwrap();
        asp.write(0x8000_0010, &[1, 2, 3, 4]).unwrap();
        let mut b = [0u8; 4];
        asp.read(0x8000_0010, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        asp.load(0x1000, &[9, 9]).unwrap();
        asp.write(0x1000, &[5]).unwrap(); // dropped: ROM
        let mut r = [0u8; 2];
        asp.read(0x1000, &mut r).unwrap();
        assert_eq!(r, [9, 9]);
        asp.write(0x2000, &40u32.to_le_bytes()).unwrap();
        asp.read(0x2004, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), 44);
        assert!(asp.read(0x3000, &mut b).is_err());
        let rr = asp.ram_ref(0x8000_0010).unwrap();
        assert_eq!((rr.len, rr.region_base, rr.read_only), (0x10000 - 0x10, 0x8000_0000, false));
        // SAFETY: `rr` points into RAM that `asp` keeps mapped.
        assert_eq!(unsafe { std::slice::from_raw_parts(rr.host, 4) }, [1, 2, 3, 4]);
        let rom = asp.ram_ref(0x1001).unwrap();
        assert_eq!((rom.len, rom.region_base, rom.read_only), (0xfff, 0x1000, true));
        // SAFETY: as above.
        assert_eq!(unsafe { *rom.host }, 9);
        assert!(asp.ram_ref(0x2000).is_none());
        assert!(asp.ram_ref(0x8001_0000).is_none() && asp.ram_ref(0xfff).is_none());
    }

    #[test]
    fn overlays_take_priority_and_hide_their_page() {
        let mut asp = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x4000)]).unwrap();
        asp.add_mmio_overlay(0x8000_1000, 0x10, shared(Echo(100))).unwrap();
        assert!(asp.add_mmio_overlay(0x9000_0000, 0x10, shared(Echo(0))).is_err());
        let mut b = [0u8; 4];
        asp.read(0x8000_1004, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), 104);
        assert!(asp.ram_ref(0x8000_1800).is_none(), "the overlay's page must not get a host pointer");
        assert!(asp.ram_ref(0x8000_2000).is_some());
        asp.write(0x8000_1800, &[7]).unwrap();
        let mut one = [0u8; 1];
        asp.read(0x8000_1800, &mut one).unwrap();
        assert_eq!(one, [7], "the rest of the page is still RAM, through the slow path");
    }

    #[test]
    fn rejects_overlaps_and_out_of_range_loads() {
        assert!(AddressSpace::new(&[MemRegionSpec::ram("a", 0, 0x2000), MemRegionSpec::ram("b", 0x1000, 0x1000)]).is_err());
        let mut asp = AddressSpace::new(&[MemRegionSpec::ram("ram", 0x8000_0000, 0x1000)]).unwrap();
        assert!(asp.add_mmio(0x8000_0800, 0x1000, shared(Echo(0))).is_err());
        assert!(asp.load(0x8000_0ffe, &[0; 4]).is_err());
        assert!(asp.load(u64::MAX - 1, &[0; 4]).is_err());
    }
}
