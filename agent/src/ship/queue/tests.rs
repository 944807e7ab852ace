//! The queue against its invariants: round trips, rotation, bounds, and
//! every kind of damage a crash or a disk can do.

use super::*;
use proptest::prelude::*;

fn cfg(max: u64, seg: u64) -> QueueConfig {
    QueueConfig {
        max_bytes: max,
        segment_bytes: seg,
        fsync: Fsync::Never,
    }
}

fn payload(seq: u64) -> Vec<u8> {
    format!(
        "{{\"report\":{seq},\"pad\":\"{}\"}}",
        "x".repeat((seq % 7) as usize * 10)
    )
    .into_bytes()
}

fn fill(q: &mut Queue, from: u64, to: u64) {
    for s in from..=to {
        q.append(s, &payload(s)).unwrap();
    }
}

fn all(q: &mut Queue) -> Vec<u64> {
    q.oldest(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

fn dropped(q: &Queue, r: DropReason) -> u64 {
    q.meta().dropped.get(&r).copied().unwrap_or(0)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_ack_and_reopen() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 4096), 0).unwrap();
    fill(&mut q, 1, 10);
    let got = q.oldest(3).unwrap();
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(got[1].1, payload(2));
    assert_eq!(q.newest().unwrap().unwrap().0, 10);
    q.ack(&[1, 2, 3, 7]).unwrap();
    drop(q);
    let mut q = Queue::open(d.path(), cfg(1 << 20, 4096), 10).unwrap();
    assert_eq!(all(&mut q), vec![4, 5, 6, 8, 9, 10]);
    assert_eq!(q.meta().acked_total, 4);
    assert_eq!(q.last_sequence(), 10);
    assert!(q.meta().dropped.is_empty());
}

#[test]
fn segments_rotate_and_are_deleted_when_settled() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 300), 0).unwrap();
    fill(&mut q, 1, 30);
    let n = segments(d.path()).len();
    assert!(n > 5, "{n} segments");
    q.ack(&(1..=20).collect::<Vec<_>>()).unwrap();
    assert!(segments(d.path()).len() < n);
    q.ack(&(21..=30).collect::<Vec<_>>()).unwrap();
    // Only the active segment is left.
    assert_eq!(segments(d.path()).len(), 1);
    assert_eq!(q.stats().queued, 0);
}

#[test]
fn full_queue_drops_oldest_and_stays_bounded() {
    let d = tempfile::tempdir().unwrap();
    let max = 4_000;
    let mut q = Queue::open(d.path(), cfg(max, 500), 0).unwrap();
    fill(&mut q, 1, 200);
    let on_disk: u64 = segments(d.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= max, "{on_disk} > {max}");
    assert_eq!(q.stats().bytes, on_disk);
    let left = all(&mut q);
    // The newest survive, the oldest went first, and every report is
    // accounted for.
    assert_eq!(*left.last().unwrap(), 200);
    assert_eq!(left, (left[0]..=200).collect::<Vec<_>>());
    assert_eq!(dropped(&q, DropReason::QueueFull) + left.len() as u64, 200);
}

#[test]
fn a_batch_dropped_while_on_the_wire_and_then_acknowledged_counts_once() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(2048, 512), 0).unwrap();
    fill(&mut q, 1, 5);
    // Reports 1..=5 go out; meanwhile appends push the queue over its
    // bound and the oldest segments (holding them) are dropped.
    let batch: Vec<u64> = all(&mut q);
    q.begin_send(&batch);
    fill(&mut q, 6, 60);
    let lost = dropped(&q, DropReason::QueueFull);
    assert!(lost >= 5, "the test must evict the batch: {lost}");
    assert!(batch.iter().all(|s| !q.is_queued(*s)));
    // The collector had them all: they move from dropped to acknowledged.
    q.ack(&batch).unwrap();
    q.end_send();
    assert_eq!(dropped(&q, DropReason::QueueFull), lost - 5);
    assert_eq!(q.meta().acked_total, 5);
    // Every report counted exactly once.
    assert_eq!(
        q.meta().acked_total + dropped(&q, DropReason::QueueFull) + q.stats().queued,
        60
    );
    // Outside a send, an unknown sequence changes nothing.
    q.ack(&[1, 2]).unwrap();
    assert_eq!(q.meta().acked_total, 5);
}

#[test]
fn torn_tail_is_cut_and_appends_continue() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 0).unwrap();
    fill(&mut q, 1, 10);
    drop(q);
    let seg = segments(d.path()).pop().unwrap();
    let len = seg.metadata().unwrap().len();
    // A crash in the middle of appending record 11.
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&encode(11, &payload(11))[..15]).unwrap();
    drop(f);
    // The agent had not recorded 11 as generated (it writes the sequence
    // after the append), so the floor is 10.
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 10).unwrap();
    assert_eq!(seg.metadata().unwrap().len(), len);
    assert_eq!(all(&mut q), (1..=10).collect::<Vec<_>>());
    assert!(q.meta().dropped.is_empty());
    q.append(11, &payload(11)).unwrap();
    drop(q);
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 11).unwrap();
    assert_eq!(all(&mut q), (1..=11).collect::<Vec<_>>());
}

#[test]
fn bit_flip_loses_one_record_counted_once_and_kept_aside() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 0).unwrap();
    fill(&mut q, 1, 10);
    let target = q.index[&5];
    drop(q);
    let seg = segments(d.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[target.offset as usize + HEADER + 3] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 10).unwrap();
    assert_eq!(all(&mut q), vec![1, 2, 3, 4, 6, 7, 8, 9, 10]);
    assert_eq!(dropped(&q, DropReason::Corrupt), 1);
    assert!(d.path().join("damaged").read_dir().unwrap().count() >= 1);
    drop(q);
    let q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 10).unwrap();
    assert_eq!(dropped(&q, DropReason::Corrupt), 1, "counted once");
}

#[test]
fn deleted_or_emptied_segment_is_counted_not_fatal() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 300), 0).unwrap();
    fill(&mut q, 1, 30);
    drop(q);
    let segs = segments(d.path());
    std::fs::remove_file(&segs[1]).unwrap();
    std::fs::write(&segs[2], b"").unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 300), 30).unwrap();
    let left = all(&mut q);
    let lost = dropped(&q, DropReason::Corrupt);
    assert!(lost > 0);
    assert_eq!(left.len() as u64 + lost, 30);
    assert_eq!(*left.last().unwrap(), 30);
}

#[test]
fn garbage_meta_means_resend_not_refuse() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 0).unwrap();
    fill(&mut q, 1, 5);
    q.ack(&[1, 2]).unwrap();
    drop(q);
    std::fs::write(d.path().join("meta-a"), b"\x00garbage").unwrap();
    std::fs::write(
        d.path().join("meta-b"),
        b"{\"generation\":9,\"crc\":1,\"body\":\"{}\"}",
    )
    .unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 5).unwrap();
    // 1 and 2 may go again (the collector de-duplicates); nothing is lost.
    assert_eq!(all(&mut q), vec![1, 2, 3, 4, 5]);
    assert!(q.meta().dropped.is_empty());
}

#[test]
fn one_damaged_meta_copy_falls_back_to_the_other() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 0).unwrap();
    fill(&mut q, 1, 5);
    q.ack(&[1]).unwrap();
    q.ack(&[2]).unwrap();
    drop(q);
    // Damage the newer copy: the older one still knows 1 was acked.
    let newest = ["meta-a", "meta-b"]
        .iter()
        .max_by_key(|n| {
            let f: MetaFile =
                serde_json::from_slice(&std::fs::read(d.path().join(n)).unwrap()).unwrap();
            f.generation
        })
        .unwrap();
    std::fs::write(d.path().join(newest), b"xx").unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 5).unwrap();
    let left = all(&mut q);
    assert!(!left.contains(&1));
    assert_eq!(*left.last().unwrap(), 5);
}

#[test]
fn newest_records_lost_below_the_floor_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 0).unwrap();
    fill(&mut q, 1, 10);
    let cut = q.index[&9].offset;
    drop(q);
    let seg = segments(d.path()).pop().unwrap();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let mut q = Queue::open(d.path(), cfg(1 << 20, 1 << 20), 10).unwrap();
    assert_eq!(all(&mut q), (1..=8).collect::<Vec<_>>());
    assert_eq!(dropped(&q, DropReason::Corrupt), 2);
    assert_eq!(q.last_sequence(), 10);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    AckOldest(u8),
    AckNewest,
    Reject(u8),
    Reopen,
    FlipByte(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..5).prop_map(Op::Append),
        2 => (1u8..6).prop_map(Op::AckOldest),
        1 => Just(Op::AckNewest),
        1 => (1u8..3).prop_map(Op::Reject),
        1 => Just(Op::Reopen),
        1 => any::<u16>().prop_map(Op::FlipByte),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Whatever happens, every generated report is acknowledged, dropped
    /// with a reason, or still queued, exactly once; and what is read back
    /// is exactly what was appended.
    #[test]
    fn accounting_holds_under_any_history(ops in prop::collection::vec(op(), 1..60)) {
        let d = tempfile::tempdir().unwrap();
        let config = cfg(3_000, 400);
        let mut q = Queue::open(d.path(), config, 0).unwrap();
        let mut generated = 0u64;
        for op in ops {
            match op {
                Op::Append(n) => for _ in 0..n {
                    generated = q.last_sequence().max(generated) + 1;
                    q.append(generated, &payload(generated)).unwrap();
                },
                Op::AckOldest(n) => {
                    let s: Vec<u64> = q.oldest(n as usize).unwrap().into_iter().map(|(s, p)| {
                        assert_eq!(p, payload(s));
                        s
                    }).collect();
                    q.ack(&s).unwrap();
                }
                Op::AckNewest => if let Some((s, p)) = q.newest().unwrap() {
                    assert_eq!(p, payload(s));
                    q.ack(&[s]).unwrap();
                },
                Op::Reject(n) => {
                    let s: Vec<u64> = q.oldest(n as usize).unwrap().into_iter().map(|(s, _)| s).collect();
                    q.drop_reports(&s, DropReason::Rejected).unwrap();
                }
                Op::Reopen => {
                    drop(q);
                    q = Queue::open(d.path(), config, generated).unwrap();
                }
                Op::FlipByte(at) => {
                    drop(q);
                    if let Some(seg) = segments(d.path()).first() {
                        let mut b = std::fs::read(seg).unwrap();
                        if !b.is_empty() {
                            let i = at as usize % b.len();
                            b[i] ^= 0x40;
                            std::fs::write(seg, &b).unwrap();
                        }
                    }
                    q = Queue::open(d.path(), config, generated).unwrap();
                }
            }
            let m = q.meta().clone();
            let dropped: u64 = m.dropped.values().sum();
            prop_assert_eq!(m.acked_total + dropped + q.stats().queued, generated,
                "acked {} dropped {:?} queued {}", m.acked_total, m.dropped, q.stats().queued);
            let on_disk: u64 = segments(d.path()).iter().map(|p| p.metadata().unwrap().len()).sum();
            prop_assert!(on_disk <= config.max_bytes + 600, "{} bytes on disk", on_disk);
        }
    }
}
