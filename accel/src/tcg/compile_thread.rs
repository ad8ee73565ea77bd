//! The quick JIT tier on a thread of its own. A Linux boot compiles thousands of blocks that each
//! run a few hundred times; compiling them on the vCPU's thread stalls the guest for the whole
//! Cranelift run (about a quarter of boot time). Here the vCPU thread hands a copy of the block
//! to the compile thread and keeps interpreting it until the code comes back.
//!
//! The thread owns its `Jit` (Cranelift modules are not `Send`), so every operation on the quick
//! tier's code generation is a message: compile, and flush (which the vCPU waits for, because the
//! exit cells a compile is writing into belong to blocks a flush frees).

use std::sync::atomic::AtomicPtr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use mimic_translator::helpers::HelperTable;
use mimic_translator::ir::Block;
use mimic_translator::jit::{Compiled, Jit, JitConfig, JitError, JitStats};

/// A raw pointer moved between the vCPU thread and the compile thread.
struct SendPtr<T>(*const T);

// SAFETY: the pointers sent are exit cells (atomics the vCPU keeps alive until a flush, which
// waits for the thread) and finished code (immutable once sent); see `CompileThread`.
unsafe impl<T> Send for SendPtr<T> {}

enum Request {
    Compile { idx: u32, id: u64, block: Box<Block>, slots: SendPtr<AtomicPtr<u8>> },
    Flush,
}

/// What came back from one compile.
pub(crate) struct Done {
    pub idx: u32,
    pub id: u64,
    pub result: Result<Compiled, JitError>,
}

enum Response {
    Compiled { idx: u32, id: u64, result: Result<(SendPtr<u8>, usize), JitError>, full: bool, stats: JitStats },
    Flushed { result: Result<(), JitError>, stats: JitStats },
}

pub(crate) struct CompileThread {
    tx: Option<Sender<Request>>,
    rx: Receiver<Response>,
    handle: Option<JoinHandle<()>>,
    /// Compiles sent and not yet answered.
    in_flight: usize,
    /// The thread's code generation has reached its size limit.
    full: bool,
    stats: JitStats,
}

impl CompileThread {
    pub fn start(helpers: HelperTable, config: JitConfig) -> Result<Self, JitError> {
        let (tx, requests) = channel::<Request>();
        let (responses, rx) = channel::<Response>();
        let (ready_tx, ready_rx) = channel::<Result<(), JitError>>();
        let handle = std::thread::Builder::new()
            .name("mimic-jit".into())
            .spawn(move || {
                let mut jit = match Jit::new(helpers, config) {
                    Ok(j) => {
                        let _ = ready_tx.send(Ok(()));
                        j
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Ends when the vCPU drops its sender.
                for req in requests {
                    let resp = match req {
                        Request::Compile { idx, id, block, slots } => {
                            let result = jit.compile(&block, id, slots.0).map(|c| (SendPtr(c.code), c.size));
                            Response::Compiled { idx, id, result, full: jit.is_full(), stats: jit.stats() }
                        }
                        Request::Flush => {
                            // SAFETY: the vCPU sent Flush from its run loop (no compiled code runs)
                            // and forgets every code pointer and exit cell of this generation
                            // once it has the answer (see `CompileThread::flush`).
                            let result = unsafe { jit.flush_all() };
                            Response::Flushed { result, stats: jit.stats() }
                        }
                    };
                    if responses.send(resp).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| JitError::Memory(format!("cannot start the compile thread: {e}")))?;
        ready_rx.recv().map_err(|_| JitError::Memory("the compile thread died at start".into()))??;
        Ok(Self { tx: Some(tx), rx, handle: Some(handle), in_flight: 0, full: false, stats: JitStats::default() })
    }

    /// Queue `block` (block `idx`, id `id`) for compiling into exit cells `slots`, which must stay
    /// alive until the answer comes back or [`Self::flush`] returns.
    pub fn request(&mut self, idx: u32, id: u64, block: Box<Block>, slots: *const AtomicPtr<u8>) -> bool {
        let Some(tx) = &self.tx else { return false };
        if tx.send(Request::Compile { idx, id, block, slots: SendPtr(slots) }).is_err() {
            return false;
        }
        self.in_flight += 1;
        true
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The compiles finished so far (never waits).
    pub fn finished(&mut self) -> Vec<Done> {
        let mut done = Vec::new();
        while self.in_flight > 0 {
            match self.rx.try_recv() {
                Ok(resp) => self.note(resp, &mut done),
                Err(_) => break,
            }
        }
        done
    }

    fn note(&mut self, resp: Response, done: &mut Vec<Done>) {
        match resp {
            Response::Compiled { idx, id, result, full, stats } => {
                self.in_flight -= 1;
                self.full = full;
                self.stats = stats;
                done.push(Done { idx, id, result: result.map(|(code, size)| Compiled { code: code.0, size }) });
            }
            Response::Flushed { stats, .. } => self.stats = stats,
        }
    }

    /// Start a new code generation. Waits until the thread has finished what it was compiling and
    /// dropped the old generation: compiles still queued are answered first and thrown away (their
    /// blocks and exit cells are about to be freed by the caller).
    ///
    /// # Safety
    /// No compiled code of the quick tier may run, and the caller must forget every code pointer
    /// it received from this thread.
    pub unsafe fn flush(&mut self) -> Result<(), JitError> {
        let Some(tx) = &self.tx else { return Err(JitError::Memory("the compile thread is gone".into())) };
        tx.send(Request::Flush).map_err(|_| JitError::Memory("the compile thread is gone".into()))?;
        loop {
            match self.rx.recv() {
                Ok(Response::Compiled { stats, .. }) => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.stats = stats;
                }
                Ok(Response::Flushed { result, stats }) => {
                    self.stats = stats;
                    self.in_flight = 0;
                    self.full = false;
                    return result;
                }
                Err(_) => return Err(JitError::Memory("the compile thread died".into())),
            }
        }
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    pub fn stats(&self) -> JitStats {
        self.stats
    }
}

impl Drop for CompileThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; wait for it so its code generation (which
        // blocks may still point into) is dropped before the vCPU's state.
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
