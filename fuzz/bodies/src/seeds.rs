//! Structured seed inputs: well-formed images, a working virtqueue round trip, typical register
//! sequences. The fuzzer starts from these (they are written to `fuzz/corpus/<target>/` by the
//! ignored test `write_seed_corpus`), and the stable test runs them and mutations of them.

use crate::virtio::RAM_SIZE;

pub const EM_RISCV: u16 = 243;
pub const EM_X86_64: u16 = 62;

fn put(v: &mut [u8], at: usize, bytes: &[u8]) {
    v[at..at + bytes.len()].copy_from_slice(bytes);
}

/// An ELF64 executable: one PT_LOAD per `(paddr, bytes, memsz)` and, if `symbols` is not empty,
/// a symbol table (with its string table) found through section headers.
pub fn elf64(machine: u16, entry: u64, segments: &[(u64, &[u8], u64)], symbols: &[(&str, u64)]) -> Vec<u8> {
    let phoff = 64;
    let mut f = vec![0u8; phoff + 56 * segments.len()];
    put(&mut f, 0, b"\x7fELF\x02\x01\x01");
    put(&mut f, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut f, 18, &machine.to_le_bytes());
    put(&mut f, 20, &1u32.to_le_bytes());
    put(&mut f, 24, &entry.to_le_bytes());
    put(&mut f, 32, &(phoff as u64).to_le_bytes());
    put(&mut f, 52, &64u16.to_le_bytes());
    put(&mut f, 54, &56u16.to_le_bytes());
    put(&mut f, 56, &(segments.len() as u16).to_le_bytes());
    for (i, (paddr, bytes, memsz)) in segments.iter().enumerate() {
        let off = f.len() as u64;
        f.extend_from_slice(bytes);
        let ph = phoff + 56 * i;
        put(&mut f, ph, &1u32.to_le_bytes()); // PT_LOAD
        put(&mut f, ph + 4, &7u32.to_le_bytes()); // RWX
        put(&mut f, ph + 8, &off.to_le_bytes());
        put(&mut f, ph + 16, &paddr.to_le_bytes());
        put(&mut f, ph + 24, &paddr.to_le_bytes());
        put(&mut f, ph + 32, &(bytes.len() as u64).to_le_bytes());
        put(&mut f, ph + 40, &memsz.to_le_bytes());
    }
    if symbols.is_empty() {
        return f;
    }
    // .strtab (also used as the section-name table), then .symtab, then the section headers.
    let mut strtab = vec![0u8];
    let mut syms = vec![0u8; 24];
    for (name, value) in symbols {
        let mut s = [0u8; 24];
        put(&mut s, 0, &(strtab.len() as u32).to_le_bytes());
        s[4] = 0x10; // STB_GLOBAL, STT_NOTYPE
        put(&mut s, 6, &1u16.to_le_bytes());
        put(&mut s, 8, &value.to_le_bytes());
        syms.extend_from_slice(&s);
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
    }
    let strtab_off = f.len() as u64;
    f.extend_from_slice(&strtab);
    let symtab_off = f.len() as u64;
    f.extend_from_slice(&syms);
    let shoff = f.len() as u64;
    let mut shdr = |kind: u32, off: u64, size: u64, link: u32, entsize: u64| {
        let mut s = [0u8; 64];
        put(&mut s, 4, &kind.to_le_bytes());
        put(&mut s, 24, &off.to_le_bytes());
        put(&mut s, 32, &size.to_le_bytes());
        put(&mut s, 40, &link.to_le_bytes());
        put(&mut s, 44, &1u32.to_le_bytes()); // first global symbol
        put(&mut s, 56, &entsize.to_le_bytes());
        f.extend_from_slice(&s);
    };
    shdr(0, 0, 0, 0, 0);
    shdr(2, symtab_off, syms.len() as u64, 2, 24); // SHT_SYMTAB, strings in section 2
    shdr(3, strtab_off, strtab.len() as u64, 0, 0); // SHT_STRTAB
    put(&mut f, 40, &shoff.to_le_bytes());
    put(&mut f, 58, &64u16.to_le_bytes());
    put(&mut f, 60, &3u16.to_le_bytes());
    put(&mut f, 62, &2u16.to_le_bytes());
    f
}

/// A RISC-V Linux `Image`: the 64-byte header, then `body`.
pub fn riscv_image(text_offset: u64, image_size: u64, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    put(&mut f, 8, &text_offset.to_le_bytes());
    put(&mut f, 16, &image_size.to_le_bytes());
    put(&mut f, 0x30, b"RISCV\0\0\0");
    put(&mut f, 0x38, b"RSC\x05");
    f.extend_from_slice(body);
    f
}

/// A bzImage: four setup sectors with the boot-protocol 2.15 header, then a protected-mode part.
pub fn bzimage(pm: &[u8]) -> Vec<u8> {
    let mut k = vec![0u8; 5 * 512];
    k[0x1f1] = 4; // setup_sects
    put(&mut k, 0x1fe, &[0x55, 0xaa]);
    k[0x201] = 0x66; // the setup header's length, as a jump offset
    put(&mut k, 0x202, b"HdrS");
    put(&mut k, 0x206, &0x020fu16.to_le_bytes());
    put(&mut k, 0x22c, &0x7fff_ffffu32.to_le_bytes()); // initrd_addr_max
    put(&mut k, 0x236, &1u16.to_le_bytes()); // XLF_KERNEL_64
    put(&mut k, 0x238, &2047u32.to_le_bytes()); // cmdline_size
    k.extend_from_slice(pm);
    k
}

/// Builds `virtio_mmio_device` inputs op by op, in the encoding that target decodes.
pub struct VirtioOps(Vec<u8>);

impl VirtioOps {
    /// `backend`: 0 blk, 1 read-only blk, 2 rng, 3 failing rng, 4 console, 5 broken console,
    /// 6 empty slot; `image_len` bytes of disk.
    pub fn new(backend: u8, image_len: u16) -> Self {
        let mut v = vec![backend];
        v.extend_from_slice(&image_len.to_le_bytes());
        Self(v)
    }
    fn addr(&mut self, a: u16) {
        self.0.push(0);
        self.0.extend_from_slice(&a.to_le_bytes());
    }
    pub fn reg_write(mut self, off: u16, value: u32) -> Self {
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend_from_slice(&off.to_le_bytes());
        self.0.push(4); // 4-byte access
        self.0.extend_from_slice(&u64::from(value).to_le_bytes());
        self
    }
    pub fn reg_read(mut self, off: u16) -> Self {
        self.0.push(1);
        self.0.extend_from_slice(&off.to_le_bytes());
        self.0.push(4);
        self
    }
    /// Bring-up of queue `q & 1` with `1 << log2_size` entries and its rings at RAM offsets;
    /// `q & 2` adds the queue to a device already negotiated.
    pub fn bring_up(mut self, q: u8, log2_size: u8, desc: u16, avail: u16, used: u16) -> Self {
        self.0.extend_from_slice(&[2, q]);
        self.0.extend_from_slice(&u64::MAX.to_le_bytes());
        self.0.push(log2_size);
        self.addr(desc);
        self.addr(avail);
        self.addr(used);
        self
    }
    pub fn desc(mut self, at: u16, addr: u16, len: u32, flags: u8, next: u16) -> Self {
        self.0.push(3);
        self.addr(at);
        self.addr(addr);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.push(flags);
        self.0.extend_from_slice(&next.to_le_bytes());
        self
    }
    pub fn poke(mut self, at: u16, bytes: &[u8]) -> Self {
        self.0.push(4);
        self.0.extend_from_slice(&at.to_le_bytes());
        self.0.push(bytes.len() as u8);
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn publish(mut self, q: u8, head: u16) -> Self {
        self.0.extend_from_slice(&[5, q]);
        self.0.extend_from_slice(&head.to_le_bytes());
        self
    }
    pub fn console_input(mut self, n: u16) -> Self {
        self.0.push(6);
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

const NEXT: u8 = 1;
const WRITE: u8 = 2;
const INDIRECT: u8 = 4;

fn desc_bytes(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
    let mut d = [0u8; 16];
    put(&mut d, 0, &addr.to_le_bytes());
    put(&mut d, 8, &len.to_le_bytes());
    put(&mut d, 12, &flags.to_le_bytes());
    put(&mut d, 14, &next.to_le_bytes());
    d
}

/// A `virtqueue_chain` input: read_chain(desc 0x0, size 16, head 0); a queue of 16 at
/// 0x0/0x1000/0x2000 with one published chain; RAM holding `descs` at 0 and avail idx 1.
fn virtqueue(descs: &[[u8; 16]], extra: &[(usize, &[u8])]) -> Vec<u8> {
    let mut v = vec![0u8, 0, 0]; // desc: u16 form, 0x0
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    for (off, len, write) in [(0u16, 16u16, false), (4, 8, true), (0, 600, true), (510, 4, false)] {
        v.extend_from_slice(&off.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.push(write as u8);
    }
    v.extend_from_slice(&16u16.to_le_bytes()); // max size
    v.extend_from_slice(&16u32.to_le_bytes()); // size
    for a in [0u16, 0x1000, 0x2000] {
        v.push(0);
        v.extend_from_slice(&a.to_le_bytes());
    }
    let mut ram = vec![0u8; 0x3000];
    for (i, d) in descs.iter().enumerate() {
        put(&mut ram, 16 * i, d);
    }
    put(&mut ram, 0x1002, &1u16.to_le_bytes()); // avail idx 1, ring[0] = head 0
    for (at, bytes) in extra {
        if ram.len() < at + bytes.len() {
            ram.resize(at + bytes.len(), 0);
        }
        put(&mut ram, *at, bytes);
    }
    assert!(ram.len() as u64 <= RAM_SIZE);
    v.extend_from_slice(&ram);
    v
}

/// Encoded `devices_mmio` accesses: `(write, offset, size, value)`.
fn device_ops(which: u8, params: &[u8], ops: &[(bool, u32, u8, u64)], side: usize) -> Vec<u8> {
    let mut v = vec![which];
    v.extend_from_slice(params);
    for &(write, off, size, value) in ops {
        v.push(if write { 0 } else { 1 });
        v.extend_from_slice(&off.to_le_bytes());
        v.push(match size {
            1 => 0,
            2 => 2,
            4 => 4,
            _ => 7,
        });
        if write {
            v.extend_from_slice(&value.to_le_bytes());
        }
    }
    for _ in 0..side {
        v.extend_from_slice(&[2, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
    v
}

/// `riscv_translate` input: M-mode with FS dirty, start of page, `max` instructions.
fn code(words: &[u32], max: u8) -> Vec<u8> {
    let mut v = vec![0x32, 0, 0, max];
    v.extend_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
    for w in words {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

/// Every seed: `(target, file name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |t: &'static str, name: &str, bytes: Vec<u8>| out.push((t, name.to_string(), bytes));

    // riscv_loader: an ELF with HTIF symbols (as riscv-tests link them), one without, a Linux
    // Image with and without its image size, a flat binary.
    let prog = [0x13u8, 0, 0, 0, 0x6f, 0, 0, 0];
    add(
        "riscv_loader",
        "elf-htif",
        elf64(
            EM_RISCV,
            0x8000_0000,
            &[(0x8000_0000, &prog, 0x2000)],
            &[("tohost", 0x8000_1000), ("fromhost", 0x8000_1040)],
        ),
    );
    add(
        "riscv_loader",
        "elf-tohost-only",
        elf64(EM_RISCV, 0x8000_0000, &[(0x8000_0000, &prog, 0x1010)], &[("tohost", 0x8000_1000)]),
    );
    add(
        "riscv_loader",
        "elf-two-segments",
        elf64(EM_RISCV, 0x8000_0100, &[(0x8000_0000, &prog, 8), (0x8010_0000, &prog, 0x100)], &[]),
    );
    add("riscv_loader", "image", riscv_image(0x20_0000, 0x1000, &prog));
    add("riscv_loader", "image-default-offset", riscv_image(0, 0, &prog));
    add("riscv_loader", "flat", prog.to_vec());

    // x86_linux_loader: selector 0x25 = cmdline of 13 bytes, with an initrd, in low RAM.
    let mut bz = vec![0x61u8, 4, 0];
    bz.extend_from_slice(&bzimage(&[0xe9, 0, 0, 0, 0, 0xf4]));
    add("x86_linux_loader", "bzimage", bz);
    let mut vmlinux = vec![0x21u8, 2, 0];
    vmlinux.extend_from_slice(&elf64(EM_X86_64, 0x20_0000, &[(0x20_0000, &[0xf4], 0x1000)], &[]));
    add("x86_linux_loader", "elf64", vmlinux);
    add("x86_linux_loader", "flat", vec![0x01, 0, 0, 0xf4, 0x90]);

    // virtqueue_chain: a direct chain (readable header, writable data), an indirect table.
    add(
        "virtqueue_chain",
        "direct",
        virtqueue(&[desc_bytes(0x4000, 16, 1, 1), desc_bytes(0x5000, 512, 3, 2), desc_bytes(0x4100, 1, 2, 0)], &[]),
    );
    let table: Vec<u8> = [desc_bytes(0x4000, 16, 1, 1), desc_bytes(0x5000, 512, 2, 0)].concat();
    add("virtqueue_chain", "indirect", virtqueue(&[desc_bytes(0x6000, 32, 4, 0)], &[(0x6000, &table)]));

    // virtio_mmio_device: a working request on every backend.
    let blk_read = |backend: u8, kind: u32| {
        let mut hdr = [0u8; 16];
        put(&mut hdr, 0, &kind.to_le_bytes());
        put(&mut hdr, 8, &1u64.to_le_bytes());
        VirtioOps::new(backend, 8 * 512)
            .reg_read(0x100)
            .bring_up(0, 4, 0x0, 0x1000, 0x2000)
            .poke(0x3000, &hdr)
            .desc(0x0, 0x3000, 16, NEXT, 1)
            .desc(0x10, 0x4000, 512, if kind == 1 { NEXT } else { NEXT | WRITE }, 2)
            .desc(0x20, 0x3100, 1, WRITE, 0)
            .publish(0, 0)
            .reg_read(0x60)
            .reg_write(0x64, 1)
            .finish()
    };
    add("virtio_mmio_device", "blk-read", blk_read(0, 0));
    add("virtio_mmio_device", "blk-write", blk_read(0, 1));
    add("virtio_mmio_device", "blk-ro-write", blk_read(1, 1));
    add("virtio_mmio_device", "blk-get-id", blk_read(0, 8));
    add(
        "virtio_mmio_device",
        "rng",
        VirtioOps::new(2, 0).bring_up(0, 3, 0x0, 0x800, 0x900).desc(0x0, 0x4000, 64, WRITE, 0).publish(0, 0).finish(),
    );
    add(
        "virtio_mmio_device",
        "rng-indirect",
        VirtioOps::new(3, 0)
            .bring_up(0, 3, 0x0, 0x800, 0x900)
            .desc(0x0, 0x6000, 32, INDIRECT, 0)
            .desc(0x6000, 0x4000, 64, WRITE | NEXT, 1)
            .desc(0x6010, 0x5000, 64, WRITE, 0)
            .publish(0, 0)
            .finish(),
    );
    add(
        "virtio_mmio_device",
        "console",
        VirtioOps::new(4, 0)
            .bring_up(0, 4, 0x0, 0x1000, 0x2000)
            .bring_up(3, 4, 0x8000, 0x9000, 0xa000)
            .poke(0x4000, b"hello")
            .desc(0x8000, 0x4000, 5, 0, 0)
            .publish(1, 0)
            .console_input(10)
            .desc(0x0, 0x5000, 8, WRITE, 0)
            .publish(0, 0)
            .finish(),
    );
    add("virtio_mmio_device", "empty-slot", VirtioOps::new(6, 0).reg_read(0).reg_read(8).reg_write(0x70, 1).finish());

    // devices_mmio: typical driver sequences.
    add(
        "devices_mmio",
        "uart",
        device_ops(
            0,
            &[],
            &[
                (true, 3, 1, 0x80),
                (true, 0, 1, 1),
                (true, 3, 1, 3),
                (true, 2, 1, 0xc7),
                (true, 1, 1, 3),
                (true, 0, 1, b'A' as u64),
                (false, 2, 1, 0),
                (false, 5, 1, 0),
                (false, 0, 1, 0),
            ],
            2,
        ),
    );
    add(
        "devices_mmio",
        "plic",
        device_ops(
            2,
            &[96, 0, 2],
            &[
                (true, 4 * 10, 4, 7),
                (true, 0x2000, 4, 1 << 10),
                (true, 0x20_0000, 4, 0),
                (false, 0x20_0004, 4, 0),
                (true, 0x20_0004, 4, 10),
                (false, 0x1000, 4, 0),
            ],
            2,
        ),
    );
    add(
        "devices_mmio",
        "clint",
        device_ops(
            3,
            &[1],
            &[
                (true, 0, 4, 1),
                (true, 0x4000, 8, 0),
                (false, 0xbff8, 8, 0),
                (true, 0xbff8, 4, 5),
                (false, 0x4004, 4, 0),
            ],
            2,
        ),
    );
    add(
        "devices_mmio",
        "rtc",
        device_ops(
            4,
            &[0; 8],
            &[
                (false, 0, 4, 0),
                (false, 4, 4, 0),
                (true, 0xc, 4, 0),
                (true, 8, 4, 100),
                (true, 0x10, 4, 1),
                (false, 0x18, 4, 0),
            ],
            2,
        ),
    );
    add(
        "devices_mmio",
        "htif",
        device_ops(
            5,
            &[0, 8],
            &[
                (true, 0, 8, 0x0101_0000_0000_0041),
                (false, 8, 8, 0),
                (true, 0, 4, 0),
                (true, 4, 4, 0x0100_0000),
                (true, 0, 8, 1),
            ],
            1,
        ),
    );
    add(
        "devices_mmio",
        "sifive-test",
        device_ops(6, &[], &[(true, 0, 4, 0x5555), (true, 0, 4, 0x3333 | 7 << 16), (true, 0, 2, 0x7777)], 0),
    );
    add(
        "devices_mmio",
        "i8042",
        device_ops(
            7,
            &[],
            &[
                (true, 4, 1, 0x20),
                (false, 4, 1, 0),
                (false, 0, 1, 0),
                (true, 4, 1, 0x60),
                (true, 0, 1, 0x47),
                (true, 4, 1, 0xfe),
            ],
            0,
        ),
    );
    add("devices_mmio", "debug-exit", device_ops(8, &[], &[(true, 0, 1, 0x10), (false, 0, 4, 0)], 0));

    // riscv_translate: integer, memory, CSR, atomics, FP, compressed, branches, system.
    add("riscv_translate", "alu", code(&[0x00150513, 0x12345537, 0x67850513, 0x02b50533, 0x40b50533], 8));
    add("riscv_translate", "mem", code(&[0x00052583, 0x00b53023, 0x0005b503, 0x100525af, 0x18b5262f, 0x00b5252f], 8));
    add("riscv_translate", "csr", code(&[0x30002573, 0x34051073, 0x18051073, 0xc0102573, 0x30200073], 8));
    add("riscv_translate", "fp", code(&[0x00053007, 0x02b57053, 0x0200f0d3, 0xe2050553, 0xd2057053, 0x00b52027], 8));
    add("riscv_translate", "branch", code(&[0x00b50463, 0x00000013, 0x008000ef, 0x00008067], 8));
    add(
        "riscv_translate",
        "system",
        code(&[0x00000073, 0x00100073, 0x10500073, 0x0000100f, 0x12000073, 0x0ff0000f], 8),
    );
    let mut rvc = code(&[], 16);
    for h in [0x0505u16, 0x4501, 0x852e, 0x9532, 0x6108, 0xe10c, 0x8082, 0x0000] {
        rvc.extend_from_slice(&h.to_le_bytes());
    }
    add("riscv_translate", "compressed", rvc);
    // riscv_jit: the same code, on both tiers (bit 7 of the first byte).
    let translate: Vec<(String, Vec<u8>)> =
        out.iter().filter(|(t, _, _)| *t == "riscv_translate").map(|(_, n, b)| (n.clone(), b.clone())).collect();
    for (name, bytes) in translate {
        let mut opt = bytes.clone();
        opt[0] |= 0x80;
        out.push(("riscv_jit", format!("{name}-quick"), bytes));
        out.push(("riscv_jit", format!("{name}-opt"), opt));
    }
    out
}
