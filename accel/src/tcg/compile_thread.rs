//! The Cranelift tiers on a thread of their own (the quick one only where the baseline emitter,
//! which is cheap enough to run on the vCPU thread, does not replace it). A Linux boot compiles thousands of blocks that each
//! run a few hundred times; compiling them on the vCPU's thread stalls the guest for the whole
//! Cranelift run (about a quarter of boot time). Here the vCPU thread hands a copy of the block
//! to the compile thread and keeps running what it had (the interpreter, or the quick code while
//! the optimised one is built) until the code comes back.
//!
//! The thread owns the `Jit`s (Cranelift modules are not `Send`), so every operation on their code
//! generations is a message: compile, and flush (which the vCPU waits for, because the code being
//! compiled refers to exit cells of blocks that a flush frees).

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use mimic_translator::helpers::HelperTable;
use mimic_translator::ir::Block;
use mimic_translator::jit::{Compiled, Jit, JitConfig, JitError, JitStats, RegionMember};

/// A raw pointer moved between the vCPU thread and the compile thread.
struct SendPtr<T>(*const T);

// SAFETY: the pointers sent are exit cells (atomics the vCPU keeps alive until a flush, which
// waits for the thread) and finished code (immutable once sent); see `CompileThread`.
unsafe impl<T> Send for SendPtr<T> {}

/// One block to compile: block `idx` with id `id`, its IR and its exit cells, plus the other
/// blocks of its region (see `Jit::compile_region`; empty for a single block).
pub(crate) struct Job {
    pub idx: u32,
    pub id: u64,
    pub hot: bool,
    pub block: Box<Block>,
    pub slots: *const AtomicPtr<u8>,
    /// (index, id, IR, exit cells) of each other member, and the edges between all of them.
    pub region: Vec<(u32, u64, Box<Block>, *const AtomicPtr<u8>)>,
    pub edges: Vec<(usize, usize, usize)>,
}

// SAFETY: the pointers are exit cells, atomics the vCPU keeps alive until a flush, which waits
// for the thread; see `CompileThread`.
unsafe impl Send for Job {}

enum Request {
    Compile(Job),
    Flush,
}

/// Requests received and not yet served, in the order worth serving them. A block waiting for its
/// quick code is being interpreted meanwhile (about ten times slower), while one waiting to be
/// optimised already runs quick code; so quick compiles go first. Among them the newest goes
/// first: it belongs to what the guest is doing now, while an old request may be for code the
/// guest has left (a Linux boot requests blocks faster than they compile, in bursts, and in FIFO
/// order half of its interpreted executions were of blocks waiting in this queue). A flush
/// answers at once and drops every compile queued before it: their blocks are being freed.
#[derive(Default)]
struct Pending {
    quick: Vec<Request>,
    hot: std::collections::VecDeque<Request>,
    flush: bool,
}

impl Pending {
    fn add(&mut self, req: Request) {
        match req {
            Request::Compile(Job { hot: false, .. }) => self.quick.push(req),
            Request::Compile(Job { hot: true, .. }) => self.hot.push_back(req),
            Request::Flush => {
                self.quick.clear();
                self.hot.clear();
                self.flush = true;
            }
        }
    }

    fn is_empty(&self) -> bool {
        !self.flush && self.quick.is_empty() && self.hot.is_empty()
    }

    fn next(&mut self) -> Option<Request> {
        if std::mem::take(&mut self.flush) {
            return Some(Request::Flush);
        }
        self.quick.pop().or_else(|| self.hot.pop_front())
    }
}

/// What came back from one compile.
pub(crate) struct Done {
    pub idx: u32,
    pub id: u64,
    /// Compiled by the optimising tier.
    pub hot: bool,
    /// The other blocks whose code the result contains.
    pub region: Vec<u32>,
    pub result: Result<Compiled, JitError>,
}

enum Response {
    Compiled { idx: u32, id: u64, hot: bool, region: Vec<u32>, result: Result<(SendPtr<u8>, usize), JitError>, full: bool, stats: JitStats },
    Flushed { result: Result<(), JitError>, stats: JitStats },
}

/// Compile `job` (a single block or a region) with `jit`.
pub(crate) fn compile(jit: &mut Jit, job: &Job) -> Result<Compiled, JitError> {
    if job.region.is_empty() {
        return jit.compile(&job.block, job.id, job.slots);
    }
    let mut members = vec![RegionMember { block: &job.block, block_id: job.id, exit_slots: job.slots }];
    members.extend(job.region.iter().map(|(_, id, block, slots)| RegionMember { block, block_id: *id, exit_slots: *slots }));
    jit.compile_region(&members, &job.edges)
}

pub(crate) struct CompileThread {
    tx: Option<Sender<Request>>,
    rx: Receiver<Response>,
    /// Responses sent and not yet received: the run loop looks at this on every iteration, which
    /// is cheaper than polling the channel.
    ready: Arc<AtomicUsize>,
    /// Compiles requested and not yet collected by [`Self::finished`].
    outstanding: usize,
    handle: Option<JoinHandle<()>>,
    /// The thread's code generation has reached its size limit.
    full: bool,
    stats: JitStats,
}

impl CompileThread {
    /// `quick` and `hot`: the two tiers' configurations (no quick tier: its jobs are refused).
    pub fn start(helpers: HelperTable, quick: Option<JitConfig>, hot: JitConfig) -> Result<Self, JitError> {
        let (tx, requests) = channel::<Request>();
        let (responses, rx) = channel::<Response>();
        let (ready_tx, ready_rx) = channel::<Result<(), JitError>>();
        let ready = Arc::new(AtomicUsize::new(0));
        let sent = ready.clone();
        let handle = std::thread::Builder::new()
            .name("mimic-jit".into())
            .spawn(move || {
                let tiers = quick.map(|q| Jit::new(helpers, q)).transpose().and_then(|q| Ok((q, Jit::new(helpers, hot)?)));
                let (mut quick, mut hot) = match tiers {
                    Ok(tiers) => {
                        let _ = ready_tx.send(Ok(()));
                        tiers
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let stats = |quick: &Option<Jit>, hot: &Jit| {
                    let (q, h) = (quick.as_ref().map(Jit::stats).unwrap_or_default(), hot.stats());
                    JitStats {
                        blocks: q.blocks + h.blocks,
                        compile_ns: q.compile_ns + h.compile_ns,
                        code_bytes: q.code_bytes + h.code_bytes,
                        flushes: h.flushes,
                        grouped_accesses: q.grouped_accesses + h.grouped_accesses,
                    }
                };
                let mut queue = Pending::default();
                loop {
                    // Take everything the vCPU has sent so far, waiting only when there is
                    // nothing to do; ends when the vCPU drops its sender.
                    if queue.is_empty() {
                        match requests.recv() {
                            Ok(req) => queue.add(req),
                            Err(_) => return,
                        }
                    }
                    while let Ok(req) = requests.try_recv() {
                        queue.add(req);
                    }
                    let resp = match queue.next() {
                        Some(Request::Compile(job)) => {
                            let jit = if job.hot { Some(&mut hot) } else { quick.as_mut() };
                            let result = match jit {
                                Some(jit) => compile(jit, &job).map(|c| (SendPtr(c.code), c.size)),
                                None => Err(JitError::Module("this compile thread has no quick tier".into())),
                            };
                            let full = hot.is_full() || quick.as_ref().is_some_and(Jit::is_full);
                            let region = job.region.iter().map(|m| m.0).collect();
                            Response::Compiled { idx: job.idx, id: job.id, hot: job.hot, region, result, full, stats: stats(&quick, &hot) }
                        }
                        Some(Request::Flush) => {
                            let mut result = Ok(());
                            for jit in quick.iter_mut().chain(std::iter::once(&mut hot)) {
                                // SAFETY: the vCPU sent Flush from its run loop (no compiled code
                                // runs) and forgets every code pointer and exit cell of these
                                // generations once it has the answer (see `CompileThread::flush`).
                                if let Err(e) = unsafe { jit.flush_all() } {
                                    result = Err(e);
                                }
                            }
                            Response::Flushed { result, stats: stats(&quick, &hot) }
                        }
                        None => continue,
                    };
                    // Counted before it is sent, so the vCPU's decrement after receiving it never
                    // goes below zero.
                    sent.fetch_add(1, Ordering::Release);
                    if responses.send(resp).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| JitError::Memory(format!("cannot start the compile thread: {e}")))?;
        ready_rx.recv().map_err(|_| JitError::Memory("the compile thread died at start".into()))??;
        Ok(Self { tx: Some(tx), rx, ready, outstanding: 0, handle: Some(handle), full: false, stats: JitStats::default() })
    }

    /// Queue `job` for compiling by the quick or the optimising tier; its exit cells must stay
    /// alive until the answer comes back or [`Self::flush`] returns.
    /// Gives the job back if the thread is gone.
    pub fn request(&mut self, job: Job) -> Result<(), Job> {
        let Some(tx) = &self.tx else { return Err(job) };
        match tx.send(Request::Compile(job)) {
            Ok(()) => {
                self.outstanding += 1;
                Ok(())
            }
            Err(std::sync::mpsc::SendError(Request::Compile(job))) => Err(job),
            Err(_) => Ok(()),
        }
    }

    /// Compiles waiting in the thread's queue or being compiled.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Has the thread answered something not yet collected by [`Self::finished`]?
    #[inline]
    pub fn has_answers(&self) -> bool {
        self.ready.load(Ordering::Acquire) > 0
    }

    /// The compiles finished so far (never waits).
    pub fn finished(&mut self) -> Vec<Done> {
        let mut done = Vec::new();
        while let Ok(resp) = self.rx.try_recv() {
            self.ready.fetch_sub(1, Ordering::AcqRel);
            self.note(resp, &mut done);
        }
        done
    }

    fn note(&mut self, resp: Response, done: &mut Vec<Done>) {
        match resp {
            Response::Compiled { idx, id, hot, region, result, full, stats } => {
                self.outstanding = self.outstanding.saturating_sub(1);
                self.full = full;
                self.stats = stats;
                done.push(Done { idx, id, hot, region, result: result.map(|(code, size)| Compiled { code: code.0, size }) });
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
            let resp = self.rx.recv();
            if resp.is_ok() {
                self.ready.fetch_sub(1, Ordering::AcqRel);
            }
            match resp {
                Ok(Response::Compiled { stats, .. }) => {
                    self.stats = stats;
                }
                Ok(Response::Flushed { result, stats }) => {
                    self.stats = stats;
                    self.full = false;
                    // The thread answered or dropped everything queued before the flush.
                    self.outstanding = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(idx: u32, hot: bool) -> Request {
        let block = Box::new(Block::new(0));
        Request::Compile(Job { idx, id: idx as u64, hot, block, slots: std::ptr::null(), region: Vec::new(), edges: Vec::new() })
    }

    fn order(q: &mut Pending) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| match q.next()? {
            Request::Compile(Job { idx, hot, .. }) => Some((idx, hot)),
            Request::Flush => Some((u32::MAX, false)),
        })
        .collect()
    }

    #[test]
    fn quick_compiles_first_newest_first_then_optimising_ones_in_order() {
        let mut q = Pending::default();
        for r in [compile(1, false), compile(2, true), compile(3, false), compile(4, true), compile(5, false)] {
            q.add(r);
        }
        assert_eq!(order(&mut q), [(5, false), (3, false), (1, false), (2, true), (4, true)]);
        assert!(q.is_empty());
    }

    #[test]
    fn outstanding_counts_compiles_until_their_answer_is_collected() {
        let cfg = JitConfig::default();
        let mut t = CompileThread::start(&[], Some(JitConfig { opt_level: "none", ..cfg }), cfg).expect("thread");
        for idx in 0..3 {
            // An empty block fails verification: a quick answer is all this needs.
            let job = Job { idx, id: 0, hot: true, block: Box::new(Block::new(0)), slots: std::ptr::null(), region: Vec::new(), edges: Vec::new() };
            assert!(t.request(job).is_ok());
        }
        assert_eq!(t.outstanding(), 3);
        let mut got = 0;
        while got < 3 {
            got += t.finished().len();
            std::thread::yield_now();
        }
        assert_eq!(t.outstanding(), 0);
        let job = Job { idx: 9, id: 0, hot: true, block: Box::new(Block::new(0)), slots: std::ptr::null(), region: Vec::new(), edges: Vec::new() };
        assert!(t.request(job).is_ok());
        // SAFETY: no compiled code exists or runs.
        unsafe { t.flush() }.expect("flush");
        assert_eq!(t.outstanding(), 0, "a flush answers or drops everything before it");
    }

    #[test]
    fn a_flush_drops_what_was_queued_before_it() {
        let mut q = Pending::default();
        q.add(compile(1, false));
        q.add(compile(2, true));
        q.add(Request::Flush);
        assert!(!q.is_empty());
        assert_eq!(order(&mut q), [(u32::MAX, false)]);
    }
}
