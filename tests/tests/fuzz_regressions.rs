//! Every fuzz corpus entry and every crash the fuzzers ever found, replayed
//! through the same target bodies as `bench/fuzz.sh` runs.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                f(&std::fs::read(&path).unwrap());
                n += 1;
            }
        }
    }
    n
}

#[test]
fn decode_body_corpus_and_crashes() {
    let n = replay("decode_body", schoolwatch_tests::fuzzing::decode_body);
    assert!(n > 0, "fuzz/corpus/decode_body is empty; run bench/fuzz.sh");
}

#[test]
fn exposition_escaping_corpus_and_crashes() {
    let n = replay(
        "exposition_escaping",
        schoolwatch_tests::fuzzing::exposition_escaping,
    );
    assert!(
        n > 0,
        "fuzz/corpus/exposition_escaping is empty; run bench/fuzz.sh"
    );
}

#[test]
fn seeds_that_matter() {
    // Quotes, backslashes, newlines, Vietnamese, and a closing brace.
    schoolwatch_tests::fuzzing::exposition_escaping(
        "a\"b\\c\nd}\u{0}Trường \"x\"\u{0}Chư Păh\\n".as_bytes(),
    );
    // A gzip body that expands past the bound, and an empty body.
    let mut bomb = vec![1u8];
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 2 << 20]).unwrap();
        bomb.extend(gz.finish().unwrap());
    }
    schoolwatch_tests::fuzzing::decode_body(&bomb);
    schoolwatch_tests::fuzzing::decode_body(b"");
}
