//! Every fuzz target's body on stable: over the checked-in corpus (seeds and past crashes, in
//! `fuzz/corpus/<target>/`), the generated seeds, and deterministic pseudo-random inputs (pure
//! noise and mutations of the seeds). A failure names the target and the input to reproduce it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};

use mimic_fuzz_bodies::{seeds, XorShift, TARGETS};

/// Like libFuzzer's malloc limit: an allocation this large is a bug (input-driven sizes must be
/// bounded), even where the host's overcommit would let it succeed.
const ALLOC_LIMIT: usize = 256 << 20;

/// The system allocator, refusing allocations over [`ALLOC_LIMIT`] (the process then aborts
/// with "memory allocation of N bytes failed").
struct Limited;

// SAFETY: every method forwards to `System` unchanged, or returns null (allowed: allocation
// failure) without touching memory.
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is the one `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Limited = Limited;

/// Pseudo-random inputs per target (half noise, half seed mutations).
const RANDOM_INPUTS: u64 = 2000;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus").join(target)
}

/// Run one input; on a failure keep the input in a file for `cargo fuzz run <target> FILE`.
fn run(target: &str, body: fn(&[u8]), what: &dyn std::fmt::Display, input: &[u8]) {
    if std::panic::catch_unwind(|| body(input)).is_err() {
        let keep = std::env::temp_dir().join(format!("mimic-fuzz-failure-{target}-{}", std::process::id()));
        let saved =
            std::fs::write(&keep, input).map_or_else(|e| format!("(not saved: {e})"), |()| keep.display().to_string());
        panic!("fuzz target {target} failed on {what}; input saved to {saved}");
    }
}

#[test]
fn checked_in_corpus() {
    let mut total = 0;
    for (target, body) in TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        for f in files {
            let data = std::fs::read(&f).expect("corpus file");
            run(target, *body, &f.display(), &data);
            total += 1;
        }
    }
    assert!(total > 0);
}

#[test]
fn generated_seeds_and_random_inputs() {
    let seeds = seeds::seeds();
    for (i, (target, body)) in TARGETS.iter().enumerate() {
        let mine: Vec<&Vec<u8>> = seeds.iter().filter(|(t, _, _)| t == target).map(|(_, _, b)| b).collect();
        assert!(!mine.is_empty(), "{target} has no seeds");
        for (t, name, bytes) in seeds.iter().filter(|(t, _, _)| t == target) {
            run(t, *body, &format!("seed {name}"), bytes);
        }
        let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15 ^ i as u64);
        for n in 0..RANDOM_INPUTS {
            let input = if n % 2 == 0 {
                let len = rng.below(if n % 8 == 0 { 4096 } else { 256 }) as usize;
                rng.bytes(len)
            } else {
                let seed = mine[rng.below(mine.len() as u64) as usize];
                rng.mutate(seed)
            };
            run(target, *body, &format!("pseudo-random input {n}"), &input);
        }
    }
}

/// `cargo test -p mimic-fuzz-bodies -- --ignored write_seed_corpus` refreshes the generated seeds
/// in `fuzz/corpus/` (crash reproducers there are kept).
#[test]
#[ignore]
fn write_seed_corpus() {
    for (target, name, bytes) in seeds::seeds() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    }
}
