//! vCPU state at kernel entry: 64-bit long mode (the Linux x86-64 boot protocol's entry and the
//! one for flat bare-metal binaries) or 32-bit protected mode without paging (PVH, multiboot),
//! FPU and LAPIC as firmware leaves them.
//!
//! Guest layout written here (all below 64 KiB, which boards keep out of their e820 RAM for the
//! kernel's use only after it has built its own tables):
//! - GDT at [`BOOT_GDT_ADDR`]: null, 0x08 = 32-bit code, 0x10 = 64-bit code, 0x18 = data (Linux's
//!   `__BOOT_CS`/`__BOOT_DS`; the 32-bit entries use 0x08 and 0x18, all flat 4 GiB);
//! - an empty IDT at [`BOOT_IDT_ADDR`] (any exception before the guest loads its own triple-faults);
//! - page tables at [`BOOT_PAGE_TABLES`] identity-mapping [`IDENTITY_MAPPED`] with 2 MiB pages, so
//!   MMIO up to 4 GiB (virtio-mmio at 0xfeb0_0000, the IOAPIC, the LAPIC) is reachable too.

use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;
use mimic_hw::AddressSpace;

use super::{ioctl, KvmError};

pub const BOOT_GDT_ADDR: u64 = 0x500;
pub const BOOT_IDT_ADDR: u64 = 0x520;
/// PML4 at +0, PDPT at +0x1000, four page directories at +0x2000..+0x6000.
pub const BOOT_PAGE_TABLES: u64 = 0x9000;
pub const BOOT_PAGE_TABLES_SIZE: u64 = 0x6000;
pub const IDENTITY_MAPPED: u64 = 4 << 30;

const GDT: [u64; 4] = [
    0,
    0x00cf_9b00_0000_ffff, // 0x08: code, 32-bit (D), 4 GiB, present, DPL 0, execute/read, accessed
    0x00af_9b00_0000_ffff, // 0x10: code, 64-bit (L), present, DPL 0, execute/read, accessed
    0x00cf_9300_0000_ffff, // 0x18: data, 4 GiB, present, DPL 0, read/write, accessed
];
const CODE_SEL: u16 = 0x10;
const CODE32_SEL: u16 = 0x08;
const DATA_SEL: u16 = 0x18;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

const PTE_PRESENT_RW: u64 = 0x3;
const PDE_LARGE: u64 = 0x80;

/// Where a 64-bit entry starts: `rsi` carries the Linux zero page (boot_params) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongModeEntry {
    pub rip: u64,
    pub rsp: u64,
    pub rsi: u64,
}

/// Write the GDT, IDT and identity page tables into guest memory.
pub fn write_long_mode_tables(mem: &AddressSpace) -> Result<(), KvmError> {
    let err = |e: mimic_hw::AddressSpaceError| KvmError::Memory(format!("boot tables: {e}"));
    let gdt: Vec<u8> = GDT.iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.load(BOOT_GDT_ADDR, &gdt).map_err(err)?;
    mem.load(BOOT_IDT_ADDR, &[0u8; 16]).map_err(err)?;
    let pml4 = BOOT_PAGE_TABLES;
    let pdpt = pml4 + 0x1000;
    let pd = pml4 + 0x2000;
    mem.load(pml4, &(pdpt | PTE_PRESENT_RW).to_le_bytes()).map_err(err)?;
    let pdpt_entries: Vec<u8> = (0..4u64).flat_map(|i| ((pd + i * 0x1000) | PTE_PRESENT_RW).to_le_bytes()).collect();
    mem.load(pdpt, &pdpt_entries).map_err(err)?;
    let pd_entries: Vec<u8> =
        (0..4 * 512u64).flat_map(|i| ((i << 21) | PTE_PRESENT_RW | PDE_LARGE).to_le_bytes()).collect();
    mem.load(pd, &pd_entries).map_err(err)
}

fn segment(selector: u16, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl: 0,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        ..Default::default()
    }
}

/// The vCPU's segment state at boot: `cs`, flat data segments, the boot GDT and an empty IDT.
fn boot_segments(fd: &VcpuFd, cs: kvm_segment) -> Result<kvm_sregs, KvmError> {
    let mut sregs = fd.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
    sregs.cs = cs;
    let data = segment(DATA_SEL, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.gdt.base = BOOT_GDT_ADDR;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = BOOT_IDT_ADDR;
    sregs.idt.limit = 0;
    Ok(sregs)
}

/// Put the vCPU in 64-bit long mode at `entry` (tables from [`write_long_mode_tables`]).
pub fn setup_long_mode(fd: &VcpuFd, entry: LongModeEntry) -> Result<(), KvmError> {
    let mut sregs = boot_segments(fd, segment(CODE_SEL, true))?;
    sregs.cr3 = BOOT_PAGE_TABLES;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
    fd.set_sregs(&sregs).map_err(ioctl("KVM_SET_SREGS"))?;
    let regs =
        kvm_regs { rflags: 0x2, rip: entry.rip, rsp: entry.rsp, rbp: entry.rsp, rsi: entry.rsi, ..Default::default() };
    fd.set_regs(&regs).map_err(ioctl("KVM_SET_REGS"))
}

/// Where a 32-bit protected-mode kernel starts (PVH, multiboot) and the registers the protocol
/// hands it: EAX a magic number (multiboot), EBX the boot information's physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtectedModeEntry {
    pub eip: u32,
    pub esp: u32,
    pub eax: u32,
    pub ebx: u32,
}

/// Put the vCPU in 32-bit protected mode with paging off at `entry`, as PVH and multiboot
/// specify: CS a flat 32-bit code segment, DS/ES/FS/GS/SS flat 32-bit data, EFLAGS with IF
/// clear. Needs the GDT [`write_long_mode_tables`] writes (the page tables there go unused).
pub fn setup_protected_mode(fd: &VcpuFd, entry: ProtectedModeEntry) -> Result<(), KvmError> {
    let mut sregs = boot_segments(fd, kvm_segment { l: 0, db: 1, ..segment(CODE32_SEL, true) })?;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.efer = 0;
    fd.set_sregs(&sregs).map_err(ioctl("KVM_SET_SREGS"))?;
    let regs = kvm_regs {
        rflags: 0x2,
        rip: u64::from(entry.eip),
        rsp: u64::from(entry.esp),
        rax: u64::from(entry.eax),
        rbx: u64::from(entry.ebx),
        ..Default::default()
    };
    fd.set_regs(&regs).map_err(ioctl("KVM_SET_REGS"))
}

/// x87 and SSE control words as after FNINIT / reset.
pub fn setup_fpu(fd: &VcpuFd) -> Result<(), KvmError> {
    let fpu = kvm_fpu { fcw: 0x37f, mxcsr: 0x1f80, ..Default::default() };
    fd.set_fpu(&fpu).map_err(ioctl("KVM_SET_FPU"))
}

const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_NMI: u32 = 0x4;
const APIC_MODE_EXTINT: u32 = 0x7;

fn set_delivery_mode(reg: u32, mode: u32) -> u32 {
    (reg & !0x700) | (mode << 8)
}

/// LINT0 = ExtINT (the 8259 PIC's output), LINT1 = NMI: the virtual-wire mode a BIOS sets up and
/// Linux expects when it finds no firmware tables saying otherwise.
pub fn setup_lapic(fd: &VcpuFd) -> Result<(), KvmError> {
    let mut lapic = fd.get_lapic().map_err(ioctl("KVM_GET_LAPIC"))?;
    for (off, mode) in [(APIC_LVT0, APIC_MODE_EXTINT), (APIC_LVT1, APIC_MODE_NMI)] {
        let bytes: [u8; 4] = std::array::from_fn(|i| lapic.regs[off + i] as u8);
        let v = set_delivery_mode(u32::from_le_bytes(bytes), mode);
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            lapic.regs[off + i] = b as _;
        }
    }
    fd.set_lapic(&lapic).map_err(ioctl("KVM_SET_LAPIC"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimic_hw::address_space::MemRegionSpec;

    #[test]
    fn tables_identity_map_four_gib() {
        let mem = AddressSpace::new(&[MemRegionSpec::ram("ram", 0, 1 << 20)]).unwrap();
        write_long_mode_tables(&mem).unwrap();
        let rd = |a: u64| {
            let mut b = [0u8; 8];
            mem.read_mem(a, &mut b).unwrap();
            u64::from_le_bytes(b)
        };
        // Walk the tables for 0xfeb0_1234 as the MMU would.
        let va = 0xfeb0_1234u64;
        let pml4e = rd(BOOT_PAGE_TABLES + ((va >> 39) & 511) * 8);
        let pdpte = rd((pml4e & !0xfff) + ((va >> 30) & 511) * 8);
        let pde = rd((pdpte & !0xfff) + ((va >> 21) & 511) * 8);
        assert_eq!(pde & PDE_LARGE, PDE_LARGE);
        assert_eq!((pde & !0x1f_ffff) | (va & 0x1f_ffff), va);
        assert_eq!(rd(BOOT_GDT_ADDR + 0x10), GDT[2]);
    }

    #[test]
    fn lvt_delivery_mode_is_replaced() {
        assert_eq!(set_delivery_mode(0x0001_0000, APIC_MODE_EXTINT), 0x0001_0700);
        assert_eq!(set_delivery_mode(0x0000_0700, APIC_MODE_NMI), 0x0000_0400);
    }
}
