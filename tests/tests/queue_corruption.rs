//! 200 random corruptions of the agent's queue files — bit flips, zeroed
//! ranges, truncations, deleted or emptied segments, garbage bookkeeping:
//! the agent always starts, delivers every undamaged record, and counts
//! exactly the damaged ones as `corrupt`.
//!
//! The oracle is the test's own reading of the pristine segment files (the
//! format is documented in agent/src/ship/queue.rs): a record is damaged
//! when a changed byte falls inside it, or its file was cut before its end.

use schoolwatch_tests::agent::{TestAgent, dropped};
use schoolwatch_tests::{ChildGuard, Rng, TestCollector};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A record in a pristine segment.
struct Record {
    seq: u64,
    start: usize,
    end: usize,
}

fn segments(queue: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(queue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// magic(4) | len u32 | crc u32 | seq u64 | payload.
fn records(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 20 <= bytes.len() {
        assert_eq!(
            bytes[at..at + 4],
            [0xA5, 0x5C, 0x57, 0x51],
            "pristine segment"
        );
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(bytes[at + 12..at + 20].try_into().unwrap());
        out.push(Record {
            seq,
            start: at,
            end: at + 20 + len,
        });
        at += 20 + len;
    }
    assert_eq!(at, bytes.len(), "pristine segment ends on a record");
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Applies one random corruption to the queue in `queue`; returns the
/// sequences it damaged and a description.
fn corrupt(rng: &mut Rng, queue: &Path) -> (BTreeSet<u64>, String) {
    let segs = segments(queue);
    let pick = &segs[rng.range(0, segs.len() as u64) as usize];
    let mut bytes = std::fs::read(pick).unwrap();
    let recs = records(&bytes);
    let name = pick.file_name().unwrap().to_string_lossy().into_owned();
    let hit = |positions: &[usize]| -> BTreeSet<u64> {
        recs.iter()
            .filter(|r| positions.iter().any(|p| (r.start..r.end).contains(p)))
            .map(|r| r.seq)
            .collect()
    };
    match rng.range(0, 7) {
        0 | 1 => {
            let flips = rng.range(1, 6) as usize;
            let positions: Vec<usize> = (0..flips)
                .map(|_| rng.range(0, bytes.len() as u64) as usize)
                .collect();
            for p in &positions {
                bytes[*p] ^= 1 << rng.range(0, 8);
            }
            std::fs::write(pick, &bytes).unwrap();
            (hit(&positions), format!("{flips} bit flips in {name}"))
        }
        2 => {
            let start = rng.range(0, bytes.len() as u64) as usize;
            let end = (start + rng.range(1, 200) as usize).min(bytes.len());
            bytes[start..end].fill(0);
            std::fs::write(pick, &bytes).unwrap();
            (
                hit(&(start..end).collect::<Vec<_>>()),
                format!("zeroed {start}..{end} of {name}"),
            )
        }
        3 => {
            let at = rng.range(0, bytes.len() as u64) as usize;
            std::fs::write(pick, &bytes[..at]).unwrap();
            let lost = recs.iter().filter(|r| r.end > at).map(|r| r.seq).collect();
            (lost, format!("truncated {name} at {at}"))
        }
        4 => {
            std::fs::remove_file(pick).unwrap();
            (
                recs.iter().map(|r| r.seq).collect(),
                format!("deleted {name}"),
            )
        }
        5 => {
            std::fs::write(pick, b"").unwrap();
            (
                recs.iter().map(|r| r.seq).collect(),
                format!("emptied {name}"),
            )
        }
        _ => {
            let junk: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
            std::fs::write(queue.join("meta-a"), &junk).unwrap();
            std::fs::write(queue.join("meta-b"), &junk[..7]).unwrap();
            (BTreeSet::new(), "garbage bookkeeping".into())
        }
    }
}

#[test]
fn two_hundred_corruptions_deliver_every_undamaged_record() {
    let mut c = TestCollector::start("[ingest]\nrequests_per_minute = 100000\n");
    let dir = tempfile::tempdir().unwrap();
    let config = "[queue]\nmax_size_bytes = 1048576\n";
    // A pristine backlog of a few hundred reports in several segments,
    // made while the collector is away.
    let pristine = TestAgent::enroll(&c, dir.path(), "t-d", "pristine", config);
    c.stop();
    let mut agent = ChildGuard::spawn(
        "agent run",
        &mut pristine.command(&["run", "--interval", "5ms"]),
    );
    while pristine.generated() < 300 {
        agent.assert_running();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(agent.terminate().success());
    c.restart();
    let queue = pristine.state.join("queue");
    assert!(segments(&queue).len() >= 3, "want several segments");
    let all: BTreeSet<u64> = segments(&queue)
        .iter()
        .flat_map(|s| records(&std::fs::read(s).unwrap()))
        .map(|r| r.seq)
        .collect();
    let generated = pristine.generated();
    assert_eq!(
        all,
        (1..=generated).collect(),
        "nothing was acknowledged or dropped yet"
    );

    let mut rng = Rng::from_env("two_hundred_corruptions_deliver_every_undamaged_record");
    for i in 0..200 {
        // A fresh copy of the pristine queue under a new host, so each
        // round's deliveries can be told apart.
        let name = format!("round-{i}");
        let (id, credential) = c.enroll_as("t-d", &name, &name);
        let state = dir.path().join(&name);
        TestAgent::write_state(&c, &state, &id, "t-d", &credential);
        copy_dir(&queue, &state.join("queue"));
        std::fs::copy(pristine.state.join("sequence"), state.join("sequence")).unwrap();
        let (damaged, what) = corrupt(&mut rng, &state.join("queue"));
        let a = TestAgent {
            state,
            config: pristine.config.clone(),
            id,
        };
        a.run_once().unwrap_or_else(|err| {
            panic!("round {i} ({what}): the agent did not start or deliver: {err}")
        });
        let stored: BTreeSet<u64> = c.stored_sequences(&a.id).into_iter().collect();
        let mut expected: BTreeSet<u64> = all.difference(&damaged).copied().collect();
        expected.insert(generated + 1);
        assert_eq!(stored, expected, "round {i} ({what})");
        assert_eq!(
            dropped(&c, &a.id, "corrupt"),
            damaged.len() as u64,
            "round {i} ({what}): damaged records counted"
        );
    }
}
