//! See `schoolwatch_tests::fuzzing::exposition_escaping`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| schoolwatch_tests::fuzzing::exposition_escaping(data));
