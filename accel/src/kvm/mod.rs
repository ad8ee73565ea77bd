//! KVM accelerator (x86-64 guests through /dev/kvm): the VM (memory slots, in-kernel irqchip and
//! PIT, CPUID), its vCPUs ([`KvmVcpu`], implementing [`crate::Vcpu`]) and IRQ lines into the
//! in-kernel interrupt controllers.
//!
//! The guest is untrusted here: every value it hands us through an exit (port, address, data
//! length) is checked before use, and no guest action may panic the host process.

mod boot;
mod cpuid;
mod vcpu;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use kvm_bindings::{
    kvm_pit_config, kvm_userspace_memory_region, CpuId, KVM_MAX_CPUID_ENTRIES, KVM_MEM_READONLY, KVM_PIT_SPEAKER_DUMMY,
};
use kvm_ioctls::{Cap, Kvm, VmFd};
use mimic_hw::address_space::MemKind;
use mimic_hw::{AddressSpace, Bus, IrqLine, IrqTrigger, PowerControl};
use thiserror::Error;
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion, MemoryRegionAddress};

pub use boot::{LongModeEntry, ProtectedModeEntry, BOOT_GDT_ADDR, BOOT_IDT_ADDR, BOOT_PAGE_TABLES, BOOT_PAGE_TABLES_SIZE, IDENTITY_MAPPED};
pub use cpuid::filter_cpuid;
pub use vcpu::{KvmVcpu, VcpuStats, VmStop};

/// Where KVM lives.
pub const KVM_PATH: &str = "/dev/kvm";
/// Intel VMX needs three pages for the real-mode TSS and one for the identity map; they must be
/// outside guest RAM and MMIO. QEMU's and Firecracker's choice, just below the BIOS area at 4 GiB.
const TSS_ADDR: usize = 0xfffb_d000;
const IDENTITY_MAP_ADDR: u64 = 0xfffb_c000;

#[derive(Debug, Error)]
pub enum KvmError {
    #[error("{0} not found: KVM is not available on this host (no kvm module loaded, or no hardware virtualization)")]
    NotFound(String),
    #[error("permission denied opening {path}: it is owned by group '{group}' with mode {mode:o}; add your user to group '{group}' (then log in again) or give it read/write permission")]
    PermissionDenied { path: String, group: String, mode: u32 },
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("KVM API version {0} is not supported (expected 12)")]
    ApiVersion(i32),
    #[error("KVM lacks a required capability: {0}")]
    MissingCap(&'static str),
    #[error("KVM {what}: {source}")]
    Ioctl { what: &'static str, source: kvm_ioctls::Error },
    #[error("guest memory: {0}")]
    Memory(String),
    #[error("vCPU {cpu}: KVM could not emulate an instruction at rip {rip:#x} (bytes {bytes}); the host's KVM (nested/paravirtual here?) lacks it")]
    EmulationFailure { cpu: u32, rip: u64, bytes: String },
    #[error("vCPU {cpu}: KVM internal error, suberror {suberror} ({what}), data {data:x?}")]
    Internal { cpu: u32, suberror: u32, what: &'static str, data: Vec<u64> },
    #[error("vCPU {cpu}: VM entry failed, hardware reason {reason:#x} (invalid guest state)")]
    FailEntry { cpu: u32, reason: u64 },
    #[error("vCPU {cpu}: unhandled KVM exit {exit}")]
    UnhandledExit { cpu: u32, exit: String },
}

impl From<KvmError> for crate::AccelError {
    fn from(e: KvmError) -> Self {
        // AccelError has no KVM variant yet (accel/src/lib.rs is not this module's file).
        crate::AccelError::Setup(format!("kvm: {e}"))
    }
}

fn ioctl(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> KvmError {
    move |source| KvmError::Ioctl { what, source }
}

/// The name of group `gid` from /etc/group, or the number.
fn group_name(gid: u32) -> String {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _pw = f.next()?;
            (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| gid.to_string())
}

/// Map an open() failure of the KVM device to the message a user can act on.
fn open_error(path: &Path, e: io::Error) -> KvmError {
    let p = path.display().to_string();
    match e.kind() {
        io::ErrorKind::NotFound => KvmError::NotFound(p),
        io::ErrorKind::PermissionDenied => {
            let (group, mode) =
                std::fs::metadata(path).map(|m| (group_name(m.gid()), m.mode() & 0o7777)).unwrap_or(("kvm".into(), 0));
            KvmError::PermissionDenied { path: p, group, mode }
        }
        _ => KvmError::Open { path: p, source: e },
    }
}

/// Is /dev/kvm there and usable by this process? `Err` carries the reason (tests print it).
pub fn available() -> Result<(), KvmError> {
    open_kvm(Path::new(KVM_PATH)).map(|_| ())
}

fn open_kvm(path: &Path) -> Result<Kvm, KvmError> {
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| open_error(path, e))?;
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the fd was just opened by us and its ownership passes to `Kvm`, which closes it.
    let kvm = unsafe { Kvm::from_raw_fd(file.into_raw_fd()) };
    let v = kvm.get_api_version();
    if v != kvm_bindings::KVM_API_VERSION as i32 {
        return Err(KvmError::ApiVersion(v));
    }
    Ok(kvm)
}

/// Does this process run as root? (Least privilege: Mimic should run as a `kvm` group member.)
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// One KVM virtual machine: memory slots, in-kernel irqchip (PIC + IOAPIC + LAPICs) and PIT.
pub struct KvmVm {
    kvm: Kvm,
    vm: Arc<VmFd>,
    /// Keeps the guest RAM the memory slots point at alive for as long as the VM.
    mem: Arc<AddressSpace>,
    supported_cpuid: CpuId,
    stop: Arc<VmStop>,
}

impl KvmVm {
    /// Open /dev/kvm, create the VM and register every RAM/ROM region of `mem` as a memory slot.
    pub fn new(mem: Arc<AddressSpace>) -> Result<Self, KvmError> {
        let kvm = open_kvm(Path::new(KVM_PATH))?;
        for (cap, name) in [
            (Cap::Irqchip, "KVM_CAP_IRQCHIP"),
            (Cap::UserMemory, "KVM_CAP_USER_MEMORY"),
            (Cap::Pit2, "KVM_CAP_PIT2"),
            (Cap::ImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"),
        ] {
            if !kvm.check_extension(cap) {
                return Err(KvmError::MissingCap(name));
            }
        }
        let vm = kvm.create_vm().map_err(ioctl("KVM_CREATE_VM"))?;
        vm.set_tss_address(TSS_ADDR).map_err(ioctl("KVM_SET_TSS_ADDR"))?;
        vm.set_identity_map_address(IDENTITY_MAP_ADDR).map_err(ioctl("KVM_SET_IDENTITY_MAP_ADDR"))?;
        vm.create_irq_chip().map_err(ioctl("KVM_CREATE_IRQCHIP"))?;
        // The dummy speaker makes port 0x61 (PIT channel 2 gate/output) answer in the kernel,
        // which Linux's TSC calibration polls.
        vm.create_pit2(kvm_pit_config { flags: KVM_PIT_SPEAKER_DUMMY, ..Default::default() })
            .map_err(ioctl("KVM_CREATE_PIT2"))?;

        let max_slots = kvm.get_nr_memslots();
        let gm = mem.guest_memory();
        for (slot, region) in gm.iter().enumerate() {
            if slot >= max_slots {
                return Err(KvmError::Memory(format!(
                    "{} regions exceed KVM's {max_slots} memory slots",
                    gm.num_regions()
                )));
            }
            let base = region.start_addr().0;
            let host = region.get_host_address(MemoryRegionAddress(0)).map_err(|e| KvmError::Memory(e.to_string()))?;
            let rom = mem.regions().iter().any(|s| s.base == base && s.kind == MemKind::Rom);
            let r = kvm_userspace_memory_region {
                slot: slot as u32,
                // ROM: guest writes exit as MMIO writes, which the address space drops and logs.
                flags: if rom { KVM_MEM_READONLY } else { 0 },
                guest_phys_addr: base,
                memory_size: region.len(),
                userspace_addr: host as u64,
            };
            // SAFETY: `host..host+len` is a live mapping owned by `mem`'s GuestMemoryMmap, and
            // `self.mem` keeps that alive for the VM's lifetime (the VM fd closes before it drops).
            unsafe { vm.set_user_memory_region(r) }.map_err(ioctl("KVM_SET_USER_MEMORY_REGION"))?;
            log::debug!("kvm: slot {slot}: {base:#x}+{:#x}{}", region.len(), if rom { " (read-only)" } else { "" });
        }
        let supported_cpuid =
            kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(ioctl("KVM_GET_SUPPORTED_CPUID"))?;
        Ok(Self { kvm, vm: Arc::new(vm), mem, supported_cpuid, stop: Arc::new(VmStop::default()) })
    }

    pub fn max_vcpus(&self) -> usize {
        self.kvm.get_max_vcpus()
    }

    /// Create vCPU `id` of `smp`, with CPUID filtered for this VMM, the FPU and LAPIC reset as
    /// firmware would leave them. `pio` serves port I/O exits, the address space MMIO exits.
    pub fn create_vcpu(&self, id: u32, smp: u32, pio: Arc<Bus>, power: Arc<PowerControl>) -> Result<KvmVcpu, KvmError> {
        let fd = self.vm.create_vcpu(u64::from(id)).map_err(ioctl("KVM_CREATE_VCPU"))?;
        let entries = filter_cpuid(self.supported_cpuid.as_slice(), id, smp);
        let cpuid = CpuId::from_entries(&entries).map_err(|_| KvmError::Memory("too many CPUID entries".into()))?;
        fd.set_cpuid2(&cpuid).map_err(ioctl("KVM_SET_CPUID2"))?;
        boot::setup_fpu(&fd)?;
        boot::setup_lapic(&fd)?;
        Ok(KvmVcpu::new(id, fd, self.mem.clone(), pio, power, self.stop.clone(), self.vm.run_size()))
    }

    /// An interrupt line driving GSI `gsi` of the in-kernel irqchip (GSIs 0-15: PIC and IOAPIC;
    /// 16-23: IOAPIC only).
    pub fn irq_line(&self, gsi: u32) -> IrqLine {
        IrqLine::new(Arc::new(KvmIrq { vm: self.vm.clone(), gsi }))
    }

    /// The shared stop state of this VM's vCPUs (for boards that run them on several threads).
    pub fn stop(&self) -> &Arc<VmStop> {
        &self.stop
    }
}

/// The far end of a device's IRQ line: `KVM_IRQ_LINE` on one GSI.
struct KvmIrq {
    vm: Arc<VmFd>,
    gsi: u32,
}

impl IrqTrigger for KvmIrq {
    fn set_level(&self, level: bool) {
        if let Err(e) = self.vm.set_irq_line(self.gsi, level) {
            log::error!("kvm: KVM_IRQ_LINE gsi {} level {level}: {e}", self.gsi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_says_kvm_is_unavailable() {
        let e = open_kvm(Path::new("/nonexistent/kvm")).expect_err("must fail");
        let msg = e.to_string();
        assert!(msg.contains("not found: KVM is not available on this host"), "{msg}");
    }

    #[test]
    fn permission_error_names_the_group() {
        let e = open_error(Path::new("/etc/shadow"), io::Error::from(io::ErrorKind::PermissionDenied));
        let msg = e.to_string();
        assert!(
            msg.contains("permission denied") && msg.contains("group 'shadow'") || msg.contains("group '"),
            "{msg}"
        );
        assert!(msg.contains("add your user to group"), "{msg}");
    }

    #[test]
    fn group_name_resolves_root() {
        assert_eq!(group_name(0), "root");
        assert_eq!(group_name(4_000_000_000), "4000000000");
    }
}
