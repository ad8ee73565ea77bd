//! Device tree generation for RISC-V boards, from the board's memory map and configuration
//! (never hand-written blobs): what Linux and OpenSBI learn the machine from.

use vm_fdt::{FdtWriter, FdtWriterResult};

use crate::memmap::MemMapEntry;

/// The inputs a board passes to the generator.
pub struct FdtConfig<'a> {
    pub harts: u32,
    pub ram_base: u64,
    pub ram_size: u64,
    pub timebase_hz: u64,
    pub isa: &'a str,
    pub isa_extensions: &'a [&'a str],
    pub mmu_type: &'a str,
    pub bootargs: Option<&'a str>,
    /// `[start, end)` of the initrd in guest memory.
    pub initrd: Option<(u64, u64)>,
    /// Random bytes for `/chosen/rng-seed` (see [`host_rng_seed`]).
    pub rng_seed: Option<[u8; RNG_SEED_BYTES]>,
    pub clint: MemMapEntry,
    pub plic: MemMapEntry,
    pub plic_ndev: u32,
    pub uart: MemMapEntry,
    pub uart_irq: u32,
    pub uart_clock_hz: u32,
    /// virtio-mmio slots: window and PLIC source.
    pub virtio: Vec<(MemMapEntry, u32)>,
    pub test: MemMapEntry,
    pub rtc: MemMapEntry,
    pub rtc_irq: u32,
}

/// As QEMU's `virt` board gives (hw/riscv/virt.c): 256 bits.
pub const RNG_SEED_BYTES: usize = 32;

/// A fresh seed for the guest's random number generator, from the host's, for
/// `/chosen/rng-seed`: Linux mixes it in and credits it before it starts its clock, so its CRNG
/// is ready from the start. Without one it stayed unready through a whole Debian boot, and
/// every random number the kernel took meanwhile cost an entropy extraction (blake2s over the
/// input pool): SLUB's freelist randomisation alone took ~40 ms of a boot here, against under
/// a millisecond on QEMU. QEMU's `virt` gives a seed on every boot, and a new one on each reset
/// (a board is rebuilt for each, so this is called again). `None`, with a warning, if the host
/// cannot give one: the guest then seeds itself, as on hardware without.
pub fn host_rng_seed() -> Option<[u8; RNG_SEED_BYTES]> {
    let mut seed = [0u8; RNG_SEED_BYTES];
    // SAFETY: the buffer is ours and `seed.len()` bytes long; getrandom writes at most that many.
    let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    if n == seed.len() as isize {
        Some(seed)
    } else {
        log::warn!("no rng-seed for the guest: getrandom: {}", std::io::Error::last_os_error());
        None
    }
}

const PHANDLE_PLIC: u32 = 1;
const PHANDLE_TEST: u32 = 2;
/// Hart `h`'s interrupt controller.
fn phandle_intc(h: u32) -> u32 {
    0x100 + h
}

const IRQ_S_SOFT: u32 = 1;
const IRQ_M_SOFT: u32 = 3;
const IRQ_S_TIMER: u32 = 5;
const IRQ_M_TIMER: u32 = 7;
const IRQ_S_EXT: u32 = 9;
const IRQ_M_EXT: u32 = 11;

fn reg(base: u64, size: u64) -> [u64; 2] {
    [base, size]
}

pub fn build(c: &FdtConfig) -> FdtWriterResult<Vec<u8>> {
    let _ = (IRQ_S_SOFT, IRQ_S_TIMER);
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "riscv-virtio")?;
    f.property_string("model", "riscv-virtio,qemu")?;

    let chosen = f.begin_node("chosen")?;
    if let Some(args) = c.bootargs {
        f.property_string("bootargs", args)?;
    }
    f.property_string("stdout-path", &format!("/soc/serial@{:x}", c.uart.base))?;
    if let Some((start, end)) = c.initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
    if let Some(seed) = &c.rng_seed {
        f.property("rng-seed", seed)?;
    }
    f.end_node(chosen)?;

    let mem = f.begin_node(&format!("memory@{:x}", c.ram_base))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &reg(c.ram_base, c.ram_size))?;
    f.end_node(mem)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    f.property_u32("timebase-frequency", c.timebase_hz as u32)?;
    for h in 0..c.harts {
        let cpu = f.begin_node(&format!("cpu@{h}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_u32("reg", h)?;
        f.property_string("status", "okay")?;
        f.property_string("compatible", "riscv")?;
        f.property_string("riscv,isa", c.isa)?;
        f.property_string("riscv,isa-base", "rv64i")?;
        f.property_string_list("riscv,isa-extensions", c.isa_extensions.iter().map(|s| s.to_string()).collect())?;
        f.property_string("mmu-type", c.mmu_type)?;
        let intc = f.begin_node("interrupt-controller")?;
        f.property_u32("#interrupt-cells", 1)?;
        f.property_null("interrupt-controller")?;
        f.property_string("compatible", "riscv,cpu-intc")?;
        f.property_phandle(phandle_intc(h))?;
        f.end_node(intc)?;
        f.end_node(cpu)?;
    }
    f.end_node(cpus)?;

    let soc = f.begin_node("soc")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "simple-bus")?;
    f.property_null("ranges")?;

    let clint = f.begin_node(&format!("clint@{:x}", c.clint.base))?;
    f.property_string_list("compatible", vec!["sifive,clint0".into(), "riscv,clint0".into()])?;
    f.property_array_u64("reg", &reg(c.clint.base, c.clint.size))?;
    let ext: Vec<u32> = (0..c.harts).flat_map(|h| [phandle_intc(h), IRQ_M_SOFT, phandle_intc(h), IRQ_M_TIMER]).collect();
    f.property_array_u32("interrupts-extended", &ext)?;
    f.end_node(clint)?;

    let plic = f.begin_node(&format!("plic@{:x}", c.plic.base))?;
    f.property_string_list("compatible", vec!["sifive,plic-1.0.0".into(), "riscv,plic0".into()])?;
    f.property_array_u64("reg", &reg(c.plic.base, c.plic.size))?;
    f.property_u32("#address-cells", 0)?;
    f.property_u32("#interrupt-cells", 1)?;
    f.property_null("interrupt-controller")?;
    f.property_u32("riscv,ndev", c.plic_ndev)?;
    let ext: Vec<u32> = (0..c.harts).flat_map(|h| [phandle_intc(h), IRQ_M_EXT, phandle_intc(h), IRQ_S_EXT]).collect();
    f.property_array_u32("interrupts-extended", &ext)?;
    f.property_phandle(PHANDLE_PLIC)?;
    f.end_node(plic)?;

    let uart = f.begin_node(&format!("serial@{:x}", c.uart.base))?;
    f.property_string("compatible", "ns16550a")?;
    f.property_array_u64("reg", &reg(c.uart.base, c.uart.size))?;
    f.property_u32("clock-frequency", c.uart_clock_hz)?;
    f.property_u32("interrupt-parent", PHANDLE_PLIC)?;
    f.property_u32("interrupts", c.uart_irq)?;
    f.end_node(uart)?;

    for (win, irq) in &c.virtio {
        let v = f.begin_node(&format!("virtio_mmio@{:x}", win.base))?;
        f.property_string("compatible", "virtio,mmio")?;
        f.property_array_u64("reg", &reg(win.base, win.size))?;
        f.property_u32("interrupt-parent", PHANDLE_PLIC)?;
        f.property_u32("interrupts", *irq)?;
        f.end_node(v)?;
    }

    let test = f.begin_node(&format!("test@{:x}", c.test.base))?;
    f.property_string_list("compatible", vec!["sifive,test1".into(), "sifive,test0".into(), "syscon".into()])?;
    f.property_array_u64("reg", &reg(c.test.base, c.test.size))?;
    f.property_phandle(PHANDLE_TEST)?;
    f.end_node(test)?;
    for (name, compat, value) in [("poweroff", "syscon-poweroff", 0x5555u32), ("reboot", "syscon-reboot", 0x7777)] {
        let n = f.begin_node(name)?;
        f.property_string("compatible", compat)?;
        f.property_u32("regmap", PHANDLE_TEST)?;
        f.property_u32("offset", 0)?;
        f.property_u32("value", value)?;
        f.end_node(n)?;
    }

    let rtc = f.begin_node(&format!("rtc@{:x}", c.rtc.base))?;
    f.property_string("compatible", "google,goldfish-rtc")?;
    f.property_array_u64("reg", &reg(c.rtc.base, c.rtc.size))?;
    f.property_u32("interrupt-parent", PHANDLE_PLIC)?;
    f.property_u32("interrupts", c.rtc_irq)?;
    f.end_node(rtc)?;

    f.end_node(soc)?;
    f.end_node(root)?;
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rng_seed: Option<[u8; RNG_SEED_BYTES]>) -> FdtConfig<'static> {
        let win = |base| MemMapEntry { name: "dev", base, size: 0x1000 };
        FdtConfig {
            harts: 1,
            ram_base: 0x8000_0000,
            ram_size: 128 << 20,
            timebase_hz: 10_000_000,
            isa: "rv64imafdc",
            isa_extensions: &["i", "m"],
            mmu_type: "riscv,sv48",
            bootargs: Some("console=ttyS0"),
            initrd: None,
            rng_seed,
            clint: win(0x200_0000),
            plic: win(0xc00_0000),
            plic_ndev: 95,
            uart: win(0x1000_0000),
            uart_irq: 10,
            uart_clock_hz: 3_686_400,
            virtio: vec![(win(0x1000_1000), 1)],
            test: win(0x10_0000),
            rtc: win(0x10_1000),
            rtc_irq: 11,
        }
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn chosen_carries_the_rng_seed_it_is_given() {
        let seed: [u8; RNG_SEED_BYTES] = std::array::from_fn(|i| 0xa0 ^ i as u8);
        let with = build(&config(Some(seed))).unwrap();
        assert!(contains(&with, b"rng-seed\0") && contains(&with, &seed));
        let without = build(&config(None)).unwrap();
        assert!(!contains(&without, b"rng-seed"));
    }

    #[test]
    fn host_seeds_differ() {
        let (a, b) = (host_rng_seed().expect("host randomness"), host_rng_seed().expect("host randomness"));
        assert_ne!(a, b, "two seeds from the host's generator came out equal");
    }
}
