//! See `schoolwatch_tests::fuzzing::decode_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| schoolwatch_tests::fuzzing::decode_body(data));
