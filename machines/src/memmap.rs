//! The memory-map table every board is described by (QEMU's `hw/riscv/virt.c` idea).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemMapEntry {
    pub name: &'static str,
    pub base: u64,
    /// Window size; for DRAM the default size (the command line's `-m` wins).
    pub size: u64,
}

/// Look an entry up by name; board tables are static, so a missing name is a programming error
/// caught by each board's unit test.
pub fn entry(map: &[MemMapEntry], name: &str) -> MemMapEntry {
    *map.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("memmap has no '{name}'"))
}

/// Entries must not overlap (checked by each board's tests; the address space checks again).
pub fn check_disjoint(map: &[MemMapEntry]) -> Result<(), String> {
    for (i, a) in map.iter().enumerate() {
        for b in &map[i + 1..] {
            if a.base < b.base.saturating_add(b.size) && b.base < a.base.saturating_add(a.size) {
                return Err(format!("'{}' overlaps '{}'", a.name, b.name));
            }
        }
    }
    Ok(())
}
