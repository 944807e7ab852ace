//! The outbound queue: order, bounds, accounting, restarts and damage.

use super::*;
use proptest::prelude::*;

fn record(id_tag: u64, samples: u32, size: usize) -> Record {
    // The payload starts with a tag so a test can tell records apart.
    let mut payload = id_tag.to_le_bytes().to_vec();
    payload.resize(size.max(8), 0xAB);
    Record {
        samples,
        enqueued_ms: 1_000 + id_tag as i64,
        payload,
    }
}

fn tags(body: &Body) -> Vec<u64> {
    body.records
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect()
}

fn send_all(q: &Queue, max: u64) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some(b) = q.take(max) {
        let body = Queue::read(&b).unwrap();
        out.extend(tags(&body));
        q.settle(&b, Settled::Sent(body.samples), body.corrupt_samples)
            .unwrap();
    }
    out
}

fn dropped(q: &Queue) -> u64 {
    DropReason::ALL.iter().map(|r| q.counters.dropped(*r)).sum()
}

fn balanced(q: &Queue) {
    let c = &q.counters;
    assert_eq!(
        c.enqueued.load(Ordering::Relaxed),
        c.sent.load(Ordering::Relaxed) + dropped(q) + q.pending().samples,
        "enqueued = sent + dropped + pending"
    );
}

#[test]
fn fifo_in_batches_of_at_most_max_samples() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    let recs: Vec<Record> = (1..=10).map(|i| record(i, 3, 64)).collect();
    q.append(&recs).unwrap();
    assert_eq!(q.pending().samples, 30);
    assert_eq!(q.pending().oldest_enqueued_ms, Some(1_001));
    let b = q.take(7).unwrap();
    assert_eq!(b.samples, 6, "two records of 3 fit in 7");
    let body = Queue::read(&b).unwrap();
    assert_eq!(tags(&body), [1, 2]);
    q.settle(&b, Settled::Sent(6), 0).unwrap();
    assert_eq!(q.pending().oldest_enqueued_ms, Some(1_003));
    assert_eq!(send_all(&q, 1), (3..=10).collect::<Vec<_>>());
    assert_eq!(
        q.pending(),
        Pending {
            samples: 0,
            bytes: q.pending().bytes,
            oldest_enqueued_ms: None
        }
    );
    assert_eq!(q.counters.sent.load(Ordering::Relaxed), 30);
    balanced(&q);
}

#[test]
fn a_record_larger_than_max_samples_goes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    q.append(&[record(1, 50, 64), record(2, 1, 64)]).unwrap();
    assert_eq!(q.take(10).unwrap().samples, 50);
}

#[test]
fn restart_resumes_after_the_last_settled_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
        q.append(&(1..=5).map(|i| record(i, 2, 64)).collect::<Vec<_>>())
            .unwrap();
        let b = q.take(4).unwrap();
        q.settle(&b, Settled::Sent(4), 0).unwrap();
        // On the wire when the process stops: not settled.
        let _unanswered = q.take(4).unwrap();
    }
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    assert_eq!(q.pending().samples, 6);
    q.append(&[record(6, 2, 64)]).unwrap();
    assert_eq!(send_all(&q, 100), [3, 4, 5, 6]);
}

#[test]
fn the_bound_holds_and_the_oldest_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = QueueConfig::with_max_bytes(64 << 10);
    let q = Queue::open(dir.path(), cfg).unwrap();
    // 2,000 records of 1 KiB: about 30 times the bound.
    for i in 1..=2_000 {
        q.append(&[record(i, 10, 1024 - HEADER)]).unwrap();
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert!(on_disk <= cfg.max_bytes, "{on_disk} > {}", cfg.max_bytes);
        assert_eq!(q.pending().bytes, on_disk);
    }
    assert!(q.counters.dropped(DropReason::QueueFull) > 0);
    balanced(&q);
    let left = send_all(&q, 1_000);
    // What is left is the newest, contiguous, ending with the last.
    assert_eq!(*left.last().unwrap(), 2_000);
    assert!(left.windows(2).all(|w| w[1] == w[0] + 1));
    balanced(&q);
}

#[test]
fn a_record_over_the_whole_bound_is_dropped_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(64 << 10)).unwrap();
    q.append(&[record(1, 7, 70 << 10)]).unwrap();
    assert_eq!(q.counters.dropped(DropReason::QueueFull), 7);
    assert_eq!(q.pending().samples, 0);
    balanced(&q);
}

#[test]
fn dropped_while_on_the_wire_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(64 << 10)).unwrap();
    q.append(&[record(1, 10, 1000)]).unwrap();
    let b = q.take(100).unwrap();
    let body = Queue::read(&b).unwrap();
    // The queue fills while the batch is on the wire: its segment goes.
    for i in 2..=200 {
        q.append(&[record(i, 10, 1000)]).unwrap();
    }
    balanced(&q);
    q.settle(&b, Settled::Sent(body.samples), 0).unwrap();
    assert_eq!(q.counters.sent.load(Ordering::Relaxed), 10);
    balanced(&q);
    // Taken but never answered, then dropped: counted as dropped.
    let b = q.take(10).unwrap();
    for i in 201..=400 {
        q.append(&[record(i, 10, 1000)]).unwrap();
    }
    q.untake();
    let _ = b;
    balanced(&q);
}

#[test]
fn rejected_batches_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    q.append(&[record(1, 4, 64), record(2, 4, 64)]).unwrap();
    let b = q.take(4).unwrap();
    q.settle(&b, Settled::Rejected(4), 0).unwrap();
    assert_eq!(q.counters.dropped(DropReason::Rejected), 4);
    assert_eq!(send_all(&q, 100), [2]);
    balanced(&q);
}

/// A bit flipped in a record after it was written: the others still go,
/// the damaged one is counted, nothing panics.
#[test]
fn damage_is_skipped_at_read_and_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    q.append(&(1..=3).map(|i| record(i, 5, 64)).collect::<Vec<_>>())
        .unwrap();
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let second = HEADER + 64 + HEADER + 10;
    bytes[second] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    // Read for sending: record 2 no longer checks out.
    let b = q.take(100).unwrap();
    let body = Queue::read(&b).unwrap();
    assert_eq!(tags(&body), [1, 3]);
    assert_eq!(body.corrupt_samples, 5);
    q.settle(&b, Settled::Sent(body.samples), body.corrupt_samples)
        .unwrap();
    assert_eq!(q.counters.dropped(DropReason::Corrupt), 5);
    balanced(&q);

    // At open: a torn tail and a damaged record are skipped.
    let dir = tempfile::tempdir().unwrap();
    {
        let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
        q.append(&(1..=3).map(|i| record(i, 5, 64)).collect::<Vec<_>>())
            .unwrap();
    }
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[HEADER + 3] ^= 0xFF;
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&seg, &bytes).unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    assert_eq!(send_all(&q, 100), [2, 3]);
    // Appends after a damaged open go on cleanly.
    q.append(&[record(9, 1, 64)]).unwrap();
    assert_eq!(send_all(&q, 100), [9]);
}

#[test]
fn damaged_cursor_sends_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
        q.append(&(1..=3).map(|i| record(i, 1, 64)).collect::<Vec<_>>())
            .unwrap();
        let b = q.take(1).unwrap();
        q.settle(&b, Settled::Sent(1), 0).unwrap();
    }
    std::fs::write(dir.path().join(ACKED), b"garbage").unwrap();
    let q = Queue::open(dir.path(), QueueConfig::with_max_bytes(1 << 20)).unwrap();
    assert_eq!(send_all(&q, 100), [1, 2, 3]);
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(u32, usize)>),
    Send(u64),
    Reject(u64),
    TakeThenAppendThenSettle(u64, u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((1u32..40, 8usize..3000), 1..6).prop_map(Op::Append),
        2 => (1u64..200).prop_map(Op::Send),
        1 => (1u64..200).prop_map(Op::Reject),
        1 => (1u64..200, 1u8..6).prop_map(|(m, n)| Op::TakeThenAppendThenSettle(m, n)),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Under any history: the accounting balances (while running), the
    /// files stay within the bound, and delivery is in order with no
    /// record twice.
    #[test]
    fn accounting_bound_and_order_hold(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = QueueConfig::with_max_bytes(64 << 10);
        let mut q = Queue::open(dir.path(), cfg).unwrap();
        let mut next_tag = 1u64;
        let mut delivered: Vec<u64> = Vec::new();
        let read_tags = tags;
        for op in ops {
            match op {
                Op::Append(recs) => {
                    let recs: Vec<Record> = recs.into_iter().map(|(s, size)| {
                        let size = size.max(16);
                        let mut payload = next_tag.to_le_bytes().to_vec();
                        payload.extend_from_slice(&(size as u64).to_le_bytes());
                        payload.resize(size, 0);
                        next_tag += 1;
                        Record { samples: s, enqueued_ms: 0, payload }
                    }).collect();
                    q.append(&recs).unwrap();
                }
                Op::Send(max) | Op::Reject(max) => {
                    if let Some(b) = q.take(max) {
                        let body = Queue::read(&b).unwrap();
                        let outcome = if matches!(op, Op::Send(_)) {
                            delivered.extend(read_tags(&body));
                            Settled::Sent(body.samples)
                        } else {
                            Settled::Rejected(body.samples)
                        };
                        q.settle(&b, outcome, body.corrupt_samples).unwrap();
                    }
                }
                Op::TakeThenAppendThenSettle(max, n) => {
                    if let Some(b) = q.take(max) {
                        let body = Queue::read(&b).unwrap();
                        for _ in 0..n {
                            let mut payload = next_tag.to_le_bytes().to_vec();
                            payload.extend_from_slice(&(9000u64).to_le_bytes());
                            payload.resize(9000, 0);
                            next_tag += 1;
                            q.append(&[Record { samples: 5, enqueued_ms: 0, payload }]).unwrap();
                        }
                        delivered.extend(read_tags(&body));
                        q.settle(&b, Settled::Sent(body.samples), body.corrupt_samples).unwrap();
                    }
                }
                Op::Reopen => {
                    drop(q);
                    q = Queue::open(dir.path(), cfg).unwrap();
                    // Counters restart with the process.
                    q.counters.enqueued.store(q.pending().samples, Ordering::Relaxed);
                }
            }
            balanced(&q);
            let on_disk: u64 = std::fs::read_dir(dir.path()).unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .map(|e| e.metadata().unwrap().len())
                .sum();
            prop_assert!(on_disk <= cfg.max_bytes);
            prop_assert_eq!(q.pending().bytes, on_disk);
            prop_assert!(delivered.windows(2).all(|w| w[0] < w[1]), "{:?}", delivered);
        }
    }
}
