//! CPUID for a vCPU: what KVM supports, filtered to what this VMM provides, with the per-vCPU
//! APIC id and a topology consistent with `-smp N` (N cores of one thread in one package).

use kvm_bindings::kvm_cpuid_entry2;

/// Hypervisor leaves KVM implements in the kernel: the "KVMKVMKVM" signature and the paravirt
/// features leaf. Any other 0x4000_xxxx leaf would advertise an interface (Hyper-V, Xen)
/// this VMM does not set up, so it is dropped.
const KVM_SIGNATURE_LEAF: u32 = 0x4000_0000;
const KVM_FEATURES_LEAF: u32 = 0x4000_0001;

const LEAF1_ECX_MONITOR: u32 = 1 << 3;
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
const LEAF1_EDX_HTT: u32 = 1 << 28;

/// Bits needed to number `n` things (ceil(log2 n)).
fn id_bits(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// The CPUID table for vCPU `id` of `smp`, from KVM_GET_SUPPORTED_CPUID's `supported`.
pub fn filter_cpuid(supported: &[kvm_cpuid_entry2], id: u32, smp: u32) -> Vec<kvm_cpuid_entry2> {
    let smp = smp.clamp(1, 255);
    let mut out = Vec::with_capacity(supported.len());
    for e in supported {
        let mut e = *e;
        match e.function {
            0x4000_0000..=0x4fff_ffff if e.function != KVM_SIGNATURE_LEAF && e.function != KVM_FEATURES_LEAF => {
                continue
            }
            0x1 => {
                // EBX[31:24] initial APIC id, [23:16] addressable logical processors per package.
                e.ebx = (e.ebx & 0x0000_ffff) | (id << 24) | (smp << 16);
                e.ecx = (e.ecx & !LEAF1_ECX_MONITOR) | LEAF1_ECX_HYPERVISOR;
                if smp > 1 {
                    e.edx |= LEAF1_EDX_HTT;
                } else {
                    e.edx &= !LEAF1_EDX_HTT;
                }
            }
            0x4 => {
                // Deterministic cache parameters: EAX[31:26] cores per package - 1, [25:14]
                // logical processors sharing this cache - 1 (L3 is shared by all, L1/L2 per core).
                let level = (e.eax >> 5) & 7;
                let sharing = if level >= 3 { smp - 1 } else { 0 };
                e.eax = (e.eax & 0x3fff) | ((smp - 1).min(63) << 26) | (sharing.min(0xfff) << 14);
            }
            0x5 => {
                // MONITOR/MWAIT is not offered (leaf 1 ECX[3] is clear).
                e.eax = 0;
                e.ebx = 0;
                e.ecx = 0;
                e.edx = 0;
            }
            0xb | 0x1f => {
                // Extended topology: level 0 = SMT (1 thread per core), level 1 = core (smp cores).
                let (eax, ebx, ecx) = match e.index {
                    0 => (0, 1, 1 << 8),
                    1 => (id_bits(smp), smp, (2 << 8) | 1),
                    i => (0, 0, i & 0xff),
                };
                e.eax = eax;
                e.ebx = ebx;
                e.ecx = ecx;
                e.edx = id;
            }
            _ => {}
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 { function, index, eax: 0x1234_0121, ebx: 0xffff_ffff, ecx: 0x8, edx: 0, ..Default::default() }
    }

    #[test]
    fn apic_id_topology_and_hypervisor_bit() {
        let supported = [entry(1, 0), entry(0xb, 0), entry(0xb, 1), entry(0xb, 2), entry(4, 0)];
        let t = filter_cpuid(&supported, 3, 4);
        let l1 = t.iter().find(|e| e.function == 1).unwrap();
        assert_eq!(l1.ebx >> 24, 3, "initial APIC id");
        assert_eq!((l1.ebx >> 16) & 0xff, 4, "logical processors");
        assert_eq!(l1.ebx & 0xffff, 0xffff, "other EBX bits kept");
        assert_ne!(l1.ecx & LEAF1_ECX_HYPERVISOR, 0);
        assert_eq!(l1.ecx & LEAF1_ECX_MONITOR, 0);
        assert_ne!(l1.edx & LEAF1_EDX_HTT, 0);
        let b: Vec<_> = t.iter().filter(|e| e.function == 0xb).collect();
        assert_eq!((b[0].eax, b[0].ebx, b[0].ecx >> 8), (0, 1, 1));
        assert_eq!((b[1].eax, b[1].ebx, b[1].ecx >> 8), (2, 4, 2));
        assert_eq!(b[2].ecx >> 8, 0, "levels past core are invalid");
        assert!(b.iter().all(|e| e.edx == 3), "x2APIC id on every level");
        let l4 = t.iter().find(|e| e.function == 4).unwrap();
        assert_eq!(l4.eax >> 26, 3);
    }

    #[test]
    fn drops_unimplemented_hypervisor_leaves() {
        let supported =
            [entry(0x4000_0000, 0), entry(0x4000_0001, 0), entry(0x4000_0100, 0), entry(0x4000_0003, 0), entry(0, 0)];
        let t = filter_cpuid(&supported, 0, 1);
        let f: Vec<u32> = t.iter().map(|e| e.function).collect();
        assert_eq!(f, [0x4000_0000, 0x4000_0001, 0]);
    }

    #[test]
    fn id_bits_rounds_up() {
        assert_eq!([1, 2, 3, 4, 5, 8, 9].map(id_bits), [0, 1, 2, 2, 3, 3, 4]);
    }
}
