#![no_main]

// The body lives in mimic-fuzz-bodies so the stable regression test runs it too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mimic_fuzz_bodies::devices_mmio(data));
