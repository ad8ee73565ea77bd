//! Watched RAM pages: writes that reach guest RAM through [`crate::AddressSpace`] (device DMA,
//! page-table walkers, loaders) to pages an accelerator asked about are remembered for it.
//!
//! TCG needs this for instruction-fetch fences. The CPU's own stores are checked against the
//! translated code by its softmmu, but a device writes RAM behind that softmmu, so without help a
//! fence (`fence.i`) would have to assume that any code may have changed. Linux fences tens of
//! thousands of times while it boots (every text patch, every executable page it maps): with
//! this log a fence only has to look at the pages actually written since the previous one, which
//! is usually none.
//!
//! Ordering: the watcher marks a page *before* it reads the bytes it translates, and a writer
//! checks the marks *after* its bytes are in place, each with a sequentially consistent fence in
//! between, so either the writer sees the mark (and logs the page) or the watcher reads the new
//! bytes.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

const PAGE_BITS: u32 = 12;

/// Pages logged between two [`WriteWatch::take`]s before the log gives up and reports
/// [`WatchedWrites::Unknown`] (a disk read into the page cache can touch thousands).
const MAX_LOGGED_PAGES: usize = 256;

/// What was written to watched pages since the last [`WriteWatch::take`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchedWrites {
    /// Nothing.
    None,
    /// These pages (guest-physical page addresses, each listed once).
    Pages(Vec<u64>),
    /// Too many pages to list: assume any watched page changed.
    Unknown,
}

#[derive(Default)]
struct Log {
    pages: Vec<u64>,
    overflow: bool,
}

struct Range {
    base: u64,
    pages: u64,
    bits: Box<[AtomicU64]>,
}

/// One bit per 4 KiB page of each RAM range, plus the log of watched pages written.
pub struct WriteWatch {
    ranges: Vec<Range>,
    /// Something is in `log` (checked without the lock on every fence).
    logged: AtomicBool,
    log: Mutex<Log>,
}

impl WriteWatch {
    /// A watch over the RAM ranges `(base, size)`; pages outside them are never watched.
    pub fn new(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let ranges = ranges
            .into_iter()
            .map(|(base, size)| {
                let pages = size.div_ceil(1 << PAGE_BITS);
                let words = pages.div_ceil(64) as usize;
                Range { base, pages, bits: (0..words).map(|_| AtomicU64::new(0)).collect() }
            })
            .collect();
        Self { ranges, logged: AtomicBool::new(false), log: Mutex::new(Log::default()) }
    }

    /// The word and bit of `addr`'s page, if it is in a watched range.
    fn slot(&self, addr: u64) -> Option<(&AtomicU64, u64)> {
        let r = self.ranges.iter().find(|r| addr >= r.base && (addr - r.base) >> PAGE_BITS < r.pages)?;
        let page = (addr - r.base) >> PAGE_BITS;
        Some((&r.bits[(page / 64) as usize], 1 << (page % 64)))
    }

    /// Report later writes to `addr`'s page. Call it before reading the page's bytes.
    pub fn watch(&self, addr: u64) {
        if let Some((word, bit)) = self.slot(addr) {
            if word.load(Ordering::Relaxed) & bit == 0 {
                word.fetch_or(bit, Ordering::SeqCst);
            }
        }
        // Pairs with the fence in `note_write`: the mark is visible before our reads of the page.
        fence(Ordering::SeqCst);
    }

    /// Stop watching every page (the watcher forgot what it had read from them).
    pub fn unwatch_all(&self) {
        for r in &self.ranges {
            for w in r.bits.iter() {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// `len` bytes at `addr` were just written: log the watched pages among them.
    pub fn note_write(&self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        // Pairs with the fence in `watch`: our bytes are visible before we read the marks.
        fence(Ordering::SeqCst);
        let last = addr.saturating_add(len - 1) >> PAGE_BITS;
        let mut hit = Vec::new();
        for page in (addr >> PAGE_BITS)..=last {
            let a = page << PAGE_BITS;
            if let Some((word, bit)) = self.slot(a) {
                if word.load(Ordering::Relaxed) & bit != 0 {
                    hit.push(a);
                }
            }
        }
        if hit.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        for a in hit {
            if log.overflow || log.pages.contains(&a) {
                continue;
            }
            if log.pages.len() == MAX_LOGGED_PAGES {
                log.overflow = true;
                log.pages.clear();
            } else {
                log.pages.push(a);
            }
        }
        self.logged.store(true, Ordering::Release);
    }

    /// The watched pages written since the last call, and start a new log.
    pub fn take(&self) -> WatchedWrites {
        if !self.logged.load(Ordering::Acquire) {
            return WatchedWrites::None;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        self.logged.store(false, Ordering::Relaxed);
        let overflow = std::mem::take(&mut log.overflow);
        let pages = std::mem::take(&mut log.pages);
        if overflow {
            WatchedWrites::Unknown
        } else if pages.is_empty() {
            WatchedWrites::None
        } else {
            WatchedWrites::Pages(pages)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x8000_0000;

    #[test]
    fn only_watched_pages_are_logged_once_each() {
        let w = WriteWatch::new([(BASE, 1 << 20)]);
        w.note_write(BASE, 8);
        assert_eq!(w.take(), WatchedWrites::None, "nothing watched yet");
        w.watch(BASE + 0x1234);
        w.watch(BASE + 0x3000);
        w.note_write(BASE + 0x1ff8, 0x10);
        w.note_write(BASE + 0x1000, 1);
        w.note_write(BASE + 0x2000, 8);
        assert_eq!(w.take(), WatchedWrites::Pages(vec![BASE + 0x1000]));
        assert_eq!(w.take(), WatchedWrites::None, "take starts a new log");
        w.note_write(BASE + 0xfff, 0x2002);
        assert_eq!(w.take(), WatchedWrites::Pages(vec![BASE + 0x1000, BASE + 0x3000]));
    }

    #[test]
    fn pages_outside_the_ranges_and_edges_are_safe() {
        let w = WriteWatch::new([(BASE, 0x1800)]);
        w.watch(0);
        w.watch(u64::MAX);
        w.watch(BASE + 0x1000);
        w.note_write(u64::MAX - 3, 8);
        w.note_write(BASE + 0x17ff, 1);
        assert_eq!(w.take(), WatchedWrites::Pages(vec![BASE + 0x1000]));
        w.unwatch_all();
        w.note_write(BASE + 0x1000, 1);
        assert_eq!(w.take(), WatchedWrites::None);
    }

    #[test]
    fn a_flood_of_pages_is_reported_as_unknown() {
        let w = WriteWatch::new([(BASE, 1 << 24)]);
        for p in 0..(MAX_LOGGED_PAGES as u64 + 1) {
            w.watch(BASE + (p << PAGE_BITS));
        }
        w.note_write(BASE, (MAX_LOGGED_PAGES as u64 + 1) << PAGE_BITS);
        assert_eq!(w.take(), WatchedWrites::Unknown);
        assert_eq!(w.take(), WatchedWrites::None);
    }
}
