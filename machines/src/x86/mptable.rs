//! The Intel MultiProcessor Specification 1.4 table: how a guest without ACPI (Linux with
//! `acpi=off`, or no ACPI tables as on this board) finds its CPUs, the IOAPIC and ISA IRQ routing.
//! Lives in the last KiB of base memory, one of the places the spec says to search.

use mimic_hw::AddressSpace;

pub const MPTABLE_ADDR: u64 = 0x9_fc00;
pub const MPTABLE_MAX: u64 = 0x400;
pub const IOAPIC_ADDR: u32 = 0xfec0_0000;
pub const LAPIC_ADDR: u32 = 0xfee0_0000;
const LAPIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
const ISA_IRQS: u8 = 16;

fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

/// The table bytes for `smp` CPUs (APIC ids 0..smp), to be placed at [`MPTABLE_ADDR`].
pub fn build(smp: u32) -> Vec<u8> {
    let smp = smp.clamp(1, 254) as u8;
    let ioapic_id = smp;
    let mut entries = Vec::new();
    let mut count = 0u16;
    for id in 0..smp {
        let flags = 1 | if id == 0 { 2 } else { 0 }; // enabled, BSP
        entries.extend_from_slice(&[0, id, LAPIC_VERSION, flags]);
        entries.extend_from_slice(&0x600u32.to_le_bytes()); // CPU signature: family 6
        entries.extend_from_slice(&0x201u32.to_le_bytes()); // features: FPU, APIC
        entries.extend_from_slice(&[0; 8]);
        count += 1;
    }
    entries.extend_from_slice(&[1, 0]);
    entries.extend_from_slice(b"ISA   ");
    entries.extend_from_slice(&[2, ioapic_id, IOAPIC_VERSION, 1]);
    entries.extend_from_slice(&IOAPIC_ADDR.to_le_bytes());
    count += 2;
    // ISA IRQ n -> IOAPIC pin n, as KVM's default GSI routing wires them.
    for irq in 0..ISA_IRQS {
        entries.extend_from_slice(&[3, 0, 0, 0, 0, irq, ioapic_id, irq]);
        count += 1;
    }
    // LINT0 = ExtINT (the PIC), LINT1 = NMI, on every local APIC.
    entries.extend_from_slice(&[4, 3, 0, 0, 0, 0, 0xff, 0]);
    entries.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0xff, 1]);
    count += 2;

    let config_addr = MPTABLE_ADDR as u32 + 16;
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"PCMP");
    header.extend_from_slice(&((44 + entries.len()) as u16).to_le_bytes());
    header.push(4); // spec revision 1.4
    header.push(0); // checksum, below
    header.extend_from_slice(b"MIMIC   ");
    header.extend_from_slice(b"MICROVM     ");
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&0u16.to_le_bytes());
    header.extend_from_slice(&count.to_le_bytes());
    header.extend_from_slice(&LAPIC_ADDR.to_le_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    let mut config = header;
    config.extend_from_slice(&entries);
    config[7] = checksum(&config);

    let mut fp = Vec::with_capacity(16);
    fp.extend_from_slice(b"_MP_");
    fp.extend_from_slice(&config_addr.to_le_bytes());
    fp.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
    fp[10] = checksum(&fp);
    fp.extend_from_slice(&config);
    fp
}

/// Write the table; it must fit the reserved KiB.
pub fn write(mem: &AddressSpace, smp: u32) -> Result<(), mimic_hw::AddressSpaceError> {
    let t = build(smp);
    debug_assert!(t.len() as u64 <= MPTABLE_MAX);
    mem.load(MPTABLE_ADDR, &t[..t.len().min(MPTABLE_MAX as usize)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_cpu_entries() {
        let t = build(4);
        assert_eq!(&t[..4], b"_MP_");
        assert_eq!(t[..16].iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "floating pointer checksum");
        let cfg = &t[16..];
        assert_eq!(&cfg[..4], b"PCMP");
        let len = u16::from_le_bytes([cfg[4], cfg[5]]) as usize;
        assert_eq!(len, cfg.len());
        assert_eq!(cfg.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "config table checksum");
        let cpus: Vec<_> = cfg[44..].chunks(20).take(4).map(|e| (e[0], e[1], e[3])).collect();
        assert_eq!(cpus, [(0, 0, 3), (0, 1, 1), (0, 2, 1), (0, 3, 1)]);
        assert_eq!(u16::from_le_bytes([cfg[34], cfg[35]]), 4 + 2 + 16 + 2);
        assert!(t.len() as u64 <= MPTABLE_MAX);
        assert!(build(super::super::microvm::MAX_SMP).len() as u64 <= MPTABLE_MAX, "the largest -smp fits the reserved KiB");
    }
}
