//! The KVM vCPU run loop: `KVM_RUN`, then serve the exit (port I/O through a [`Bus`], MMIO
//! through the [`AddressSpace`] — the same dispatch TCG uses), until the machine's
//! [`PowerControl`] has an event. With several vCPUs on several threads, the first vCPU to see an
//! event records it in the shared [`VmStop`] and kicks the others out of `KVM_RUN` with a signal.

use std::cell::Cell;
use std::sync::{Arc, Mutex, Once};

use kvm_bindings::{
    kvm_regs, kvm_run, KVM_INTERNAL_ERROR_DELIVERY_EV, KVM_INTERNAL_ERROR_EMULATION,
    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES, KVM_INTERNAL_ERROR_SIMUL_EX,
    KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET,
    KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{VcpuExit as KvmExit, VcpuFd};
use mimic_hw::{AddressSpace, Bus, PowerControl, PowerEvent};

use super::boot::{self, LongModeEntry};
use super::KvmError;
use crate::{AccelError, Vcpu, VcpuExit};

thread_local! {
    /// The `kvm_run` page of the vCPU this thread is running, for the kick signal's handler.
    static RUN_PAGE: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

/// Kick handler: make the interrupted (or the next) `KVM_RUN` of this thread return at once.
extern "C" fn kick_handler(_sig: libc::c_int) {
    // `try_with` on a const-initialised Cell without destructor is async-signal-safe (a TLS load).
    let _ = RUN_PAGE.try_with(|p| {
        let page = p.get();
        if !page.is_null() {
            // SAFETY: the pointer is this thread's live kvm_run mapping, set by `KvmVcpu::run` and
            // cleared before that vCPU (and its mapping) can go away; a byte store is atomic enough.
            unsafe { std::ptr::write_volatile(&mut (*page).immediate_exit, 1) };
        }
    });
}

fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

fn install_kick_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask is well formed; the
        // handler only does an async-signal-safe store.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = kick_handler as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(kick_signal(), &sa, std::ptr::null_mut()) != 0 {
                log::error!("kvm: cannot install the vCPU kick handler: {}", std::io::Error::last_os_error());
            }
        }
    });
}

/// Shared by the vCPUs of one VM: the event that stops them all, and who to kick.
#[derive(Default)]
pub struct VmStop {
    exit: Mutex<Option<VcpuExit>>,
    threads: Mutex<Vec<libc::pthread_t>>,
}

impl VmStop {
    /// Record the event stopping the VM (the first one wins) and kick every other vCPU thread.
    pub fn stop(&self, exit: VcpuExit) {
        {
            let mut slot = self.exit.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(exit);
            }
        }
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        for &t in threads.iter() {
            // SAFETY: a thread stays registered only while it is inside `KvmVcpu::run` (removal
            // takes this same lock), so `t` names a live thread.
            if unsafe { libc::pthread_equal(t, me) } == 0 {
                unsafe { libc::pthread_kill(t, kick_signal()) };
            }
        }
    }

    pub fn exit(&self) -> Option<VcpuExit> {
        *self.exit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Registers the running thread for kicks and its run page for the handler; undone on drop.
struct Running<'a> {
    stop: &'a VmStop,
}

impl<'a> Running<'a> {
    fn enter(stop: &'a VmStop, page: *mut kvm_run) -> Self {
        install_kick_handler();
        RUN_PAGE.with(|p| p.set(page));
        // SAFETY: pthread_self has no preconditions.
        stop.threads.lock().unwrap_or_else(|p| p.into_inner()).push(unsafe { libc::pthread_self() });
        Self { stop }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        self.stop
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&t| unsafe { libc::pthread_equal(t, me) } == 0);
        RUN_PAGE.with(|p| p.set(std::ptr::null_mut()));
    }
}

/// Counters for diagnostics and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuStats {
    pub exits: u64,
    pub pio: u64,
    pub mmio: u64,
    /// Instructions (INT3, FWAIT) the host's emulator refused, done by the VMM.
    pub emulated: u64,
}

pub struct KvmVcpu {
    id: u32,
    fd: VcpuFd,
    mem: Arc<AddressSpace>,
    pio: Arc<Bus>,
    power: Arc<PowerControl>,
    stop: Arc<VmStop>,
    stats: VcpuStats,
    /// Size of the vCPU's shared `kvm_run` mapping (PIO data lives in it, past the struct).
    run_size: usize,
}

impl KvmVcpu {
    pub(super) fn new(
        id: u32,
        fd: VcpuFd,
        mem: Arc<AddressSpace>,
        pio: Arc<Bus>,
        power: Arc<PowerControl>,
        stop: Arc<VmStop>,
        run_size: usize,
    ) -> Self {
        Self { id, fd, mem, pio, power, stop, stats: VcpuStats::default(), run_size }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn stats(&self) -> VcpuStats {
        self.stats
    }

    /// Start in 64-bit long mode at `entry` (writes the GDT and identity page tables too).
    pub fn setup_long_mode(&self, entry: LongModeEntry) -> Result<(), KvmError> {
        boot::write_long_mode_tables(&self.mem)?;
        boot::setup_long_mode(&self.fd, entry)
    }

    /// Start in 32-bit protected mode, paging off, at `entry` (writes the GDT too).
    pub fn setup_protected_mode(&self, entry: boot::ProtectedModeEntry) -> Result<(), KvmError> {
        boot::write_long_mode_tables(&self.mem)?;
        boot::setup_protected_mode(&self.fd, entry)
    }

    /// RIP now (for error reports and tests).
    pub fn rip(&self) -> Option<u64> {
        self.fd.get_regs().ok().map(|r| r.rip)
    }

    /// The vCPU's registers, control registers, exit counters and the code bytes at RIP, for
    /// diagnosing a guest that stopped making progress (call it while the vCPU is not running,
    /// e.g. after a watchdog stopped the VM).
    pub fn state_dump(&self) -> String {
        let st = self.stats;
        let mut out = format!("vCPU {}: exits {} (pio {}, mmio {}, VMM-emulated {})\n", self.id, st.exits, st.pio, st.mmio, st.emulated);
        match self.fd.get_regs() {
            Ok(r) => {
                out += &format!(
                    "  rip {:#018x} rsp {:#018x} rflags {:#x}\n  rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rbp {:#x}\n  r8 {:#x} r9 {:#x} r10 {:#x} r11 {:#x} r12 {:#x} r13 {:#x} r14 {:#x} r15 {:#x}\n",
                    r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15
                );
                // The code at RIP, through the guest's own page tables.
                if let Ok(t) = self.fd.translate_gva(r.rip) {
                    if t.valid != 0 {
                        let mut code = [0u8; 16];
                        let bytes = match self.mem.read_mem(t.physical_address, &mut code) {
                            Ok(()) => code.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
                            Err(e) => e.to_string(),
                        };
                        out += &format!("  rip -> phys {:#x}: {bytes}\n", t.physical_address);
                    }
                }
            }
            Err(e) => out += &format!("  KVM_GET_REGS: {e}\n"),
        }
        match self.fd.get_sregs() {
            Ok(s) => {
                out += &format!(
                    "  cr0 {:#x} cr2 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x} cs {:#x} (l {} dpl {}) idt {:#x}/{:#x} apic_base {:#x}\n",
                    s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.l, s.cs.dpl, s.idt.base, s.idt.limit, s.apic_base
                );
            }
            Err(e) => out += &format!("  KVM_GET_SREGS: {e}\n"),
        }
        out
    }

    fn port_in(&mut self, port: u16, data: &mut [u8]) {
        self.stats.pio += 1;
        if let Err(e) = self.pio.read(u64::from(port), data) {
            // Open bus: unassigned ports read as all ones. Linux probes many, so only at debug.
            log::debug!("kvm: in from port {port:#x}: {e}");
            data.fill(0xff);
        }
    }

    fn port_out(&mut self, port: u16, data: &[u8]) {
        self.stats.pio += 1;
        if let Err(e) = self.pio.write(u64::from(port), data) {
            log::debug!("kvm: out to port {port:#x}: {e}");
        }
    }

    fn mmio_read(&mut self, addr: u64, data: &mut [u8]) {
        self.stats.mmio += 1;
        if let Err(e) = self.mem.read(addr, data) {
            log::warn!("guest error: vCPU {}: MMIO read of {} bytes at {addr:#x}: {e}", self.id, data.len());
            data.fill(0xff);
        }
    }

    fn mmio_write(&mut self, addr: u64, data: &[u8]) {
        self.stats.mmio += 1;
        if let Err(e) = self.mem.write(addr, data) {
            log::warn!("guest error: vCPU {}: MMIO write of {} bytes at {addr:#x}: {e}", self.id, data.len());
        }
    }

    /// An event that stops this vCPU: one of this VM's, or a new power request.
    fn pending_exit(&self) -> Option<VcpuExit> {
        if self.power.is_pending() {
            if let Some(ev) = self.power.take() {
                self.stop.stop(match ev {
                    PowerEvent::Shutdown { exit_code } => VcpuExit::Shutdown { exit_code },
                    PowerEvent::Reset => VcpuExit::Reset,
                });
            }
        }
        self.stop.exit()
    }

    /// Some hosts (nested KVM here) emulate guest ring 0, and their instruction emulator cannot
    /// execute a few one-byte instructions Linux uses: INT3 (on purpose: the alternatives
    /// self-test, text_poke_bp) and FWAIT. Do what the CPU would: for INT3, RIP past it and #BP
    /// delivered (a trap); for FWAIT, nothing (the VMM's guests run with CR0.TS clear... if it
    /// is set with CR0.MP, #NM). Returns whether the exit was one of these.
    fn emulate_refused(&mut self) -> Result<bool, KvmError> {
        let run = self.fd.get_kvm_run();
        // SAFETY: called for KVM_EXIT_INTERNAL_ERROR, whose `internal` member the kernel filled.
        let suberror = unsafe { run.__bindgen_anon_1.internal.suberror };
        if suberror != KVM_INTERNAL_ERROR_EMULATION {
            return Ok(false);
        }
        // Only ring-0 code is emulated by the host here (ring 3 runs natively), and the VMM's own
        // emulation below skips the privilege checks a CPU makes: never do it for CPL > 0, so a
        // guest process cannot use it to write where its page tables forbid.
        let cs = self.fd.get_sregs().map_err(super::ioctl("KVM_GET_SREGS"))?.cs;
        if cs.selector & 3 != 0 || cs.dpl != 0 {
            return Ok(false);
        }
        let mut regs = self.fd.get_regs().map_err(super::ioctl("KVM_GET_REGS"))?;
        let mut insn = [0u8; 15];
        let n = self.read_virt(regs.rip, &mut insn);
        let insn = &insn[..n];
        let Some(&op) = insn.first() else { return Ok(false) };
        // (vector, error code) to deliver after RIP is updated.
        let exception: Option<(u8, Option<u32>)> = match op {
            0xcc => {
                regs.rip = regs.rip.wrapping_add(1);
                Some((3, None))
            }
            0x9b => {
                let sregs = self.fd.get_sregs().map_err(super::ioctl("KVM_GET_SREGS"))?;
                if sregs.cr0 & 0xa == 0xa {
                    Some((7, None)) // #NM: TS and MP set (a fault: RIP stays)
                } else {
                    regs.rip = regs.rip.wrapping_add(1);
                    None
                }
            }
            _ => {
                let sregs = self.fd.get_sregs().map_err(super::ioctl("KVM_GET_SREGS"))?;
                let Some(m) = decode_0fae_mem(insn, &regs, sregs.fs.base, sregs.gs.base) else { return Ok(false) };
                // LDMXCSR (/2) and STMXCSR (/3) on a 4-byte operand within one page.
                if !matches!(m.reg, 2 | 3) || m.addr & 0xfff > 0xffc {
                    return Ok(false);
                }
                let Ok(t) = self.fd.translate_gva(m.addr) else { return Ok(false) };
                if t.valid == 0 || (m.reg == 3 && t.writeable == 0) {
                    return Ok(false); // a page fault: leave it to the error report
                }
                // MXCSR through the XSAVE image (its legacy area, dword 6): KVM_GET_FPU
                // reports MXCSR as 0 on this host, and writing that whole struct back would
                // clobber the x87/SSE state with it.
                let mut xsave = self.fd.get_xsave().map_err(super::ioctl("KVM_GET_XSAVE"))?;
                if m.reg == 2 {
                    let mut v = [0u8; 4];
                    if self.mem.read_mem(t.physical_address, &mut v).is_err() {
                        return Ok(false);
                    }
                    let v = u32::from_le_bytes(v);
                    if v & !0xffff != 0 {
                        Some((13, Some(0))) // reserved MXCSR bits: #GP(0)
                    } else {
                        xsave.region[6] = v;
                        // SAFETY: `xsave` is the kernel's own KVM_GET_XSAVE image of this vCPU
                        // with one MXCSR bit pattern changed; KVM reads the vCPU's uABI XSAVE
                        // size from it, which fits `kvm_xsave`'s 4 KiB because this VMM never
                        // asks for dynamic (AMX) guest XSAVE features.
                        unsafe { self.fd.set_xsave(&xsave) }.map_err(super::ioctl("KVM_SET_XSAVE"))?;
                        regs.rip = regs.rip.wrapping_add(m.len as u64);
                        None
                    }
                } else {
                    if self.mem.write(t.physical_address, &xsave.region[6].to_le_bytes()).is_err() {
                        return Ok(false);
                    }
                    regs.rip = regs.rip.wrapping_add(m.len as u64);
                    None
                }
            }
        };
        self.fd.set_regs(&regs).map_err(super::ioctl("KVM_SET_REGS"))?;
        if let Some((nr, code)) = exception {
            let mut events = self.fd.get_vcpu_events().map_err(super::ioctl("KVM_GET_VCPU_EVENTS"))?;
            events.exception.injected = 1;
            events.exception.nr = nr;
            events.exception.has_error_code = u8::from(code.is_some());
            events.exception.error_code = code.unwrap_or(0);
            events.exception.pending = 0;
            self.fd.set_vcpu_events(&events).map_err(super::ioctl("KVM_SET_VCPU_EVENTS"))?;
        }
        self.stats.emulated += 1;
        log::debug!("kvm: vCPU {}: instruction {op:#04x}.. the host could not emulate done by the VMM", self.id);
        Ok(true)
    }

    /// Read guest-virtual memory through the vCPU's page tables; returns how many bytes were
    /// readable (stops at the first unmapped page).
    fn read_virt(&self, gva: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let va = gva.wrapping_add(done as u64);
            let chunk = ((0x1000 - (va & 0xfff)) as usize).min(buf.len() - done);
            let Ok(t) = self.fd.translate_gva(va) else { break };
            if t.valid == 0 || self.mem.read_mem(t.physical_address, &mut buf[done..done + chunk]).is_err() {
                break;
            }
            done += chunk;
        }
        done
    }

    fn internal_error(&mut self) -> KvmError {
        let cpu = self.id;
        let run = self.fd.get_kvm_run();
        // SAFETY: the exit reason was KVM_EXIT_INTERNAL_ERROR, so the `internal` union member is
        // the one the kernel filled; `emulation_failure` overlays it with the same header.
        let (internal, emu) = unsafe { (run.__bindgen_anon_1.internal, run.__bindgen_anon_1.emulation_failure) };
        let n = (internal.ndata as usize).min(internal.data.len());
        let data = internal.data[..n].to_vec();
        let what = match internal.suberror {
            KVM_INTERNAL_ERROR_EMULATION => {
                let rip = self.fd.get_regs().map(|r| r.rip).unwrap_or(0);
                let mut bytes = String::from("unknown");
                if emu.flags & u64::from(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0 {
                    // SAFETY: the flag says the instruction bytes member is valid.
                    let ib = unsafe { emu.__bindgen_anon_1.__bindgen_anon_1 };
                    let len = usize::from(ib.insn_size).min(ib.insn_bytes.len());
                    bytes = ib.insn_bytes[..len].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
                }
                return KvmError::EmulationFailure { cpu, rip, bytes };
            }
            KVM_INTERNAL_ERROR_SIMUL_EX => "exception while delivering an exception",
            KVM_INTERNAL_ERROR_DELIVERY_EV => "exit while delivering an event",
            KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON => "unexpected exit reason",
            _ => "unknown",
        };
        KvmError::Internal { cpu, suberror: internal.suberror, what, data }
    }

    fn run_loop(&mut self) -> Result<VcpuExit, KvmError> {
        let page: *mut kvm_run = self.fd.get_kvm_run();
        let stop = self.stop.clone();
        let _running = Running::enter(&stop, page);
        loop {
            if let Some(exit) = self.pending_exit() {
                return Ok(exit);
            }
            self.stats.exits += 1;
            let exit = match self.fd.run() {
                Ok(exit) => exit,
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                    // Kicked (or a host signal): clear the kick and look at the stop state again.
                    self.fd.set_kvm_immediate_exit(0);
                    continue;
                }
                Err(e) => return Err(KvmError::Ioctl { what: "KVM_RUN", source: e }),
            };
            // Copy what the exit says out of the shared page before serving it, so the borrow of
            // the vCPU ends; the data slices are at most 8 bytes (PIO: size*count is bounded by
            // the page, checked below).
            match exit {
                KvmExit::IoIn(port, data) => {
                    let len = data.len();
                    // String I/O (`rep insw`) arrives as count elements of `size` bytes each.
                    let size = self.io_size();
                    let mut small = [0u8; 8];
                    let mut big = Vec::new();
                    let buf: &mut [u8] = if len <= 8 {
                        &mut small[..len]
                    } else {
                        big.resize(len, 0);
                        &mut big
                    };
                    for c in buf.chunks_mut(size) {
                        self.port_in(port, c);
                    }
                    if let KvmExit::IoIn(_, d) = self.reexit()? {
                        if d.len() == buf.len() {
                            d.copy_from_slice(buf);
                        }
                    }
                }
                KvmExit::IoOut(port, data) => {
                    let mut small = [0u8; 8];
                    let len = data.len();
                    let big;
                    let buf: &[u8] = if len <= 8 {
                        small[..len].copy_from_slice(data);
                        &small[..len]
                    } else {
                        big = data.to_vec();
                        &big
                    };
                    let size = self.io_size();
                    for c in buf.chunks(size) {
                        self.port_out(port, c);
                    }
                }
                KvmExit::MmioRead(addr, data) => {
                    let len = data.len().min(8);
                    let mut buf = [0u8; 8];
                    self.mmio_read(addr, &mut buf[..len]);
                    if let KvmExit::MmioRead(_, d) = self.reexit()? {
                        d[..len].copy_from_slice(&buf[..len]);
                    }
                }
                KvmExit::MmioWrite(addr, data) => {
                    let len = data.len().min(8);
                    let mut buf = [0u8; 8];
                    buf[..len].copy_from_slice(&data[..len]);
                    self.mmio_write(addr, &buf[..len]);
                }
                KvmExit::Hlt => {
                    // Only reached without an in-kernel LAPIC, or with interrupts off for good.
                    log::info!("kvm: vCPU {} halted with no way to wake up; powering off", self.id);
                    self.power.request(PowerEvent::Shutdown { exit_code: 0 });
                }
                KvmExit::Shutdown => {
                    // Triple fault: the PC resets (QEMU does too, unless -no-reboot).
                    let rip = self.rip().unwrap_or(0);
                    log::warn!("kvm: vCPU {} triple fault (rip {rip:#x}): resetting the machine", self.id);
                    self.power.request(PowerEvent::Reset);
                }
                KvmExit::SystemEvent(kind, _) => {
                    let ev = match kind {
                        KVM_SYSTEM_EVENT_SHUTDOWN => PowerEvent::Shutdown { exit_code: 0 },
                        KVM_SYSTEM_EVENT_RESET => PowerEvent::Reset,
                        KVM_SYSTEM_EVENT_CRASH => {
                            log::error!("kvm: vCPU {}: guest crash event", self.id);
                            PowerEvent::Shutdown { exit_code: 1 }
                        }
                        other => {
                            log::warn!("kvm: vCPU {}: ignoring system event {other}", self.id);
                            continue;
                        }
                    };
                    self.power.request(ev);
                }
                KvmExit::InternalError => {
                    if self.emulate_refused()? {
                        continue;
                    }
                    return Err(self.internal_error());
                }
                KvmExit::FailEntry(reason, _) => return Err(KvmError::FailEntry { cpu: self.id, reason }),
                KvmExit::Intr => {}
                other => return Err(KvmError::UnhandledExit { cpu: self.id, exit: format!("{other:?}") }),
            }
        }
    }

    /// The current exit again, for filling in an IN/MMIO-read result after the device ran
    /// (the device call needs `&mut self`, so the first view of the exit had to end).
    fn reexit(&mut self) -> Result<KvmExit<'_>, KvmError> {
        let run_size = self.run_size;
        let run = self.fd.get_kvm_run();
        let reason = run.exit_reason;
        // SAFETY: reading the union member that matches the exit reason the kernel just wrote.
        unsafe {
            match reason {
                kvm_bindings::KVM_EXIT_IO => {
                    let io = run.__bindgen_anon_1.io;
                    let len = usize::from(io.size) * io.count as usize;
                    let off = io.data_offset as usize;
                    if off.checked_add(len).is_none_or(|end| end > run_size) {
                        return Err(KvmError::UnhandledExit {
                            cpu: self.id,
                            exit: "I/O data outside the run page".into(),
                        });
                    }
                    let ptr = (run as *mut kvm_run as *mut u8).add(off);
                    Ok(KvmExit::IoIn(io.port, std::slice::from_raw_parts_mut(ptr, len)))
                }
                kvm_bindings::KVM_EXIT_MMIO => {
                    let m = &mut run.__bindgen_anon_1.mmio;
                    let len = (m.len as usize).min(m.data.len());
                    Ok(KvmExit::MmioRead(m.phys_addr, &mut m.data[..len]))
                }
                _ => Ok(KvmExit::Unknown),
            }
        }
    }

    /// Element size of the current KVM_EXIT_IO (1, 2 or 4).
    fn io_size(&mut self) -> usize {
        let run = self.fd.get_kvm_run();
        // SAFETY: called only while handling KVM_EXIT_IO, whose union member is `io`.
        let size = usize::from(unsafe { run.__bindgen_anon_1.io.size });
        if matches!(size, 1 | 2 | 4) {
            size
        } else {
            1
        }
    }
}


/// A decoded `0f ae /r` with a memory operand (64-bit mode).
#[derive(Debug, PartialEq, Eq)]
struct MemOp {
    /// Linear address of the operand (segment base included for FS/GS).
    addr: u64,
    /// Instruction length.
    len: usize,
    /// ModRM.reg: the operation (2 = LDMXCSR, 3 = STMXCSR, ...).
    reg: u8,
}

/// Decode `[seg prefix] [REX] 0f ae modrm [sib] [disp]` with a memory operand; `None` for
/// anything else (other prefixes select other instructions, mod 3 has no memory operand).
fn decode_0fae_mem(b: &[u8], regs: &kvm_regs, fs_base: u64, gs_base: u64) -> Option<MemOp> {
    let gpr = |n: u8| -> u64 {
        [regs.rax, regs.rcx, regs.rdx, regs.rbx, regs.rsp, regs.rbp, regs.rsi, regs.rdi, regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15]
            [usize::from(n & 15)]
    };
    let mut i = 0;
    let mut seg = 0u64;
    loop {
        match *b.get(i)? {
            0x64 => seg = fs_base,
            0x65 => seg = gs_base,
            0x26 | 0x2e | 0x36 | 0x3e => {}
            _ => break,
        }
        i += 1;
    }
    let mut rex = 0u8;
    if (0x40..=0x4f).contains(b.get(i)?) {
        rex = b[i];
        i += 1;
    }
    if b.get(i..i + 2)? != [0x0f, 0xae] {
        return None;
    }
    let modrm = *b.get(i + 2)?;
    i += 3;
    let (md, reg, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if md == 3 {
        return None;
    }
    let (rex_x, rex_b) = ((rex >> 1) & 1, rex & 1);
    let mut rip_relative = false;
    let mut addr: u64;
    let mut disp32 = md == 2;
    if rm == 4 {
        let sib = *b.get(i)?;
        i += 1;
        let index = ((sib >> 3) & 7) | (rex_x << 3);
        addr = if index == 4 { 0 } else { gpr(index) << (sib >> 6) };
        if sib & 7 == 5 && md == 0 {
            disp32 = true;
        } else {
            addr = addr.wrapping_add(gpr((sib & 7) | (rex_b << 3)));
        }
    } else if rm == 5 && md == 0 {
        rip_relative = true;
        disp32 = true;
        addr = 0;
    } else {
        addr = gpr(rm | (rex_b << 3));
    }
    let disp: i64 = if md == 1 {
        let d = *b.get(i)? as i8;
        i += 1;
        i64::from(d)
    } else if disp32 {
        let d = i32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?);
        i += 4;
        i64::from(d)
    } else {
        0
    };
    addr = addr.wrapping_add(disp as u64);
    if rip_relative {
        addr = addr.wrapping_add(regs.rip).wrapping_add(i as u64);
    }
    Some(MemOp { addr: addr.wrapping_add(seg), len: i, reg })
}

impl Vcpu for KvmVcpu {
    fn run(&mut self) -> Result<VcpuExit, AccelError> {
        match self.run_loop() {
            Ok(exit) => Ok(exit),
            Err(e) => {
                // Stop the other vCPUs too: the machine cannot go on without this one.
                self.stop.stop(VcpuExit::Shutdown { exit_code: 1 });
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ldmxcsr_and_stmxcsr_operands() {
        let regs = kvm_regs { rsp: 0x1000, rax: 0x10, rbx: 0x2000, r12: 0x3000, rip: 0x100, ..Default::default() };
        // ldmxcsr 0x4(%rsp) (Linux's kernel_fpu_begin)
        assert_eq!(decode_0fae_mem(&[0x0f, 0xae, 0x54, 0x24, 0x04], &regs, 0, 0), Some(MemOp { addr: 0x1004, len: 5, reg: 2 }));
        // stmxcsr (%rbx,%rax,4)
        assert_eq!(decode_0fae_mem(&[0x0f, 0xae, 0x1c, 0x83], &regs, 0, 0), Some(MemOp { addr: 0x2040, len: 4, reg: 3 }));
        // %gs:ldmxcsr -8(%r12)
        assert_eq!(decode_0fae_mem(&[0x65, 0x41, 0x0f, 0xae, 0x54, 0x24, 0xf8], &regs, 0, 0x10_0000), Some(MemOp { addr: 0x10_2ff8, len: 7, reg: 2 }));
        // ldmxcsr 0x10(%rip): relative to the next instruction
        assert_eq!(decode_0fae_mem(&[0x0f, 0xae, 0x15, 0x10, 0, 0, 0], &regs, 0, 0), Some(MemOp { addr: 0x100 + 7 + 0x10, len: 7, reg: 2 }));
        // Register forms, other opcodes, truncated bytes.
        assert_eq!(decode_0fae_mem(&[0x0f, 0xae, 0xf0], &regs, 0, 0), None);
        assert_eq!(decode_0fae_mem(&[0x0f, 0xaf, 0x10], &regs, 0, 0), None);
        assert_eq!(decode_0fae_mem(&[0x0f, 0xae, 0x94, 0x24], &regs, 0, 0), None);
        assert_eq!(decode_0fae_mem(&[], &regs, 0, 0), None);
    }
}
