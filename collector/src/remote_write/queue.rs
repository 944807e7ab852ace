//! The outbound queue of one remote_write endpoint: every accepted
//! report's samples are appended here, durably, inside the ingest
//! transaction (before the agent is acknowledged), and leave only when the
//! endpoint answered 2xx, refused them for good, or the queue dropped
//! them to stay within its bound.
//!
//! # Invariants
//! - Every sample appended is, at every moment, exactly one of: sent,
//!   dropped (by reason: `queue_full`, `rejected`, `corrupt`), or pending
//!   (waiting or on the wire): `enqueued = sent + dropped + pending`.
//! - The segment files never exceed `max_bytes` together: the oldest
//!   segment is deleted (its samples counted as `queue_full`) to make
//!   room, and a record larger than the whole bound is refused.
//! - Appending touches only the local disk: a slow or dead endpoint never
//!   slows ingest, it only fills the queue.
//! - Delivery is first in, first out, and at least once: a record leaves
//!   the queue after its answer, so a crash or shutdown while it is on the
//!   wire sends it again (the TSDBs ignore a sample identical to one they
//!   hold).
//!
//! # On-disk format
//! `<data_dir>/remote_write/<endpoint>/` holds segment files
//! `00000000000000000001.seg`, … (ids grow), oldest first, each at most
//! `segment_bytes` (an eighth of the bound), and `acked`, the id of the
//! last record settled. A segment is a sequence of records:
//!
//! ```text
//! +------------+---------+---------+---------+-------------+----------------+-------------+
//! | magic 4 B  | len u32 | crc u32 | id u64  | samples u32 | enqueued i64   | payload     |
//! | 53 57 72 77|   LE    |   LE    |   LE    |     LE      | ms, LE         | (len bytes) |
//! +------------+---------+---------+---------+-------------+----------------+-------------+
//! ```
//!
//! `payload` is a protobuf `WriteRequest` holding one report's series,
//! snappy-compressed (labels repeat in every series of a report, so this
//! divides the bytes written and synced by about five); a batch is its
//! records' payloads decompressed and concatenated ([`super::proto`]).
//! The queue itself treats payloads as opaque bytes.
//! `crc` is CRC-32 (IEEE) over everything after it. `acked` is the id
//! (u64 LE) and its CRC-32, written to a temporary file, synced and
//! renamed.
//!
//! # Crash and corruption behaviour
//! Appends go to a segment created by this process, synced once per
//! ingest group. On open every segment is scanned: a torn tail or damaged
//! bytes are skipped (logged, with their size) and the scan resumes at the
//! next record whose CRC holds; recovered segments are only read, never
//! appended to. A lost or damaged `acked` file means every record still on
//! disk is sent again. A record that no longer checks out when it is read
//! for sending is dropped as `corrupt`. Nothing here panics on bad bytes.
//!
//! # When files are deleted
//! A segment is deleted once every record in it is settled (after
//! `acked` is written), or when it is the oldest and room is needed.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

const MAGIC: [u8; 4] = *b"SWrw";
/// Bytes before the payload.
pub const HEADER: usize = 4 + 4 + 4 + 8 + 4 + 8;
/// Largest payload: one report's series are a few KiB.
pub const MAX_RECORD: usize = 16 << 20;
const ACKED: &str = "acked";

/// One report's series, encoded, as appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Samples in `payload`.
    pub samples: u32,
    /// When it was appended, ms since the epoch (for the lag).
    pub enqueued_ms: i64,
    /// Opaque to the queue: a snappy-compressed protobuf `WriteRequest`.
    pub payload: Vec<u8>,
}

/// A queue operation that failed.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The file system refused.
    #[error("remote_write queue I/O at {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Why samples left the queue unsent; the `reason` label of
/// `schoolwatch_remote_write_samples_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue reached its byte bound; the oldest went first.
    QueueFull,
    /// The endpoint refused them for good (a 4xx other than 408/429).
    Rejected,
    /// Damaged on disk.
    Corrupt,
    /// Appending failed (disk full, I/O error): never queued.
    WriteError,
}

impl DropReason {
    /// Every reason, in exposition order.
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::Corrupt,
        DropReason::WriteError,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::Corrupt => "corrupt",
            DropReason::WriteError => "write_error",
        }
    }
}

/// Totals since the collector started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Samples appended.
    pub enqueued: AtomicU64,
    /// Samples the endpoint accepted (2xx).
    pub sent: AtomicU64,
    /// Samples dropped, by [`DropReason::ALL`] index.
    pub dropped: [AtomicU64; 4],
}

impl Counters {
    fn drop_samples(&self, reason: DropReason, n: u64) {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.dropped[i].fetch_add(n, Ordering::Relaxed);
    }

    /// Samples dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.dropped[i].load(Ordering::Relaxed)
    }
}

/// A record's place on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    id: u64,
    /// Offset of the record (its header) in the segment.
    offset: u64,
    /// Payload length.
    len: u32,
    samples: u32,
    enqueued_ms: i64,
}

impl Meta {
    fn record_len(&self) -> u64 {
        HEADER as u64 + u64::from(self.len)
    }
}

#[derive(Debug)]
struct Segment {
    id: u64,
    size: u64,
    /// Records not yet settled, in file order.
    pending: VecDeque<Meta>,
}

#[derive(Debug)]
struct Inner {
    segments: VecDeque<Segment>,
    /// Append handle of the last segment, when this process created it.
    active: Option<File>,
    next_id: u64,
    /// Id of the next segment file (ids never repeat within a run).
    next_segment: u64,
    acked_through: u64,
    /// The batch on the wire ends here (0: none).
    in_flight_through: u64,
    /// Samples of the batch on the wire whose records were dropped (queue
    /// full) meanwhile: still pending until the answer says what became
    /// of them.
    orphaned_samples: u64,
    bytes: u64,
    /// Samples of the records in `segments`.
    pending_samples: u64,
}

/// What waits, for the sender's batching and the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Samples not yet settled (waiting or on the wire).
    pub samples: u64,
    /// Bytes of segment files.
    pub bytes: u64,
    /// When the oldest pending record was appended, ms.
    pub oldest_enqueued_ms: Option<i64>,
}

/// The records of one request, taken for sending.
#[derive(Debug, Clone)]
pub struct Batch {
    path: PathBuf,
    records: Vec<Meta>,
    /// Samples in the batch.
    pub samples: u64,
}

impl Batch {
    /// The last record's id.
    fn last_id(&self) -> u64 {
        self.records.last().map_or(0, |m| m.id)
    }
}

/// The body of a batch as read from disk.
#[derive(Debug, Default)]
pub struct Body {
    /// Each good record's samples and payload, in order.
    pub records: Vec<(u32, Vec<u8>)>,
    /// Samples in them.
    pub samples: u64,
    /// Samples of records that no longer check out (dropped as corrupt).
    pub corrupt_samples: u64,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The endpoint answered 2xx: these samples were sent.
    Sent(u64),
    /// The endpoint refused them for good.
    Rejected(u64),
}

/// Queue bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Bound on all segment files together.
    pub max_bytes: u64,
    /// Size at which a segment is closed and the next begun.
    pub segment_bytes: u64,
}

impl QueueConfig {
    /// Segments of an eighth of the bound (4 KiB to 64 MiB), so dropping
    /// the oldest frees a useful share without losing much at once.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(4 << 10, 64 << 20),
        }
    }
}

/// The queue: appended by the ingest writer thread, read by the
/// endpoint's sender task.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    config: QueueConfig,
    inner: Mutex<Inner>,
    /// Totals for `/metrics`.
    pub counters: Counters,
    /// Woken on every append, for the sender.
    pub appended: tokio::sync::Notify,
    /// Limits the "queue full" log lines.
    full_log: super::Every,
}

// === impl Queue ===

impl Queue {
    /// Opens (creating if needed) the queue in `dir`. Fails only on I/O
    /// errors of the directory itself, never on bad bytes.
    pub fn open(dir: &Path, config: QueueConfig) -> Result<Self, QueueError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let acked_through = read_acked(dir);
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".seg")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        let mut inner = Inner {
            segments: VecDeque::new(),
            active: None,
            next_id: acked_through + 1,
            next_segment: ids.last().map_or(1, |l| l + 1),
            acked_through,
            in_flight_through: 0,
            orphaned_samples: 0,
            bytes: 0,
            pending_samples: 0,
        };
        for id in ids {
            let path = segment_path(dir, id);
            let mut bytes = Vec::new();
            if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
                tracing::warn!(path = %path.display(), error = %e, "Remote-write queue segment unreadable; deleting it.");
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let (records, damaged) = scan(&bytes);
            if damaged > 0 {
                tracing::warn!(path = %path.display(), bytes = damaged, "Damaged bytes in a remote_write queue segment skipped.");
            }
            if let Some(last) = records.last() {
                inner.next_id = inner.next_id.max(last.id + 1);
            }
            let pending: VecDeque<Meta> = records
                .into_iter()
                .filter(|m| m.id > acked_through)
                .collect();
            if pending.is_empty() {
                std::fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            inner.pending_samples += pending.iter().map(|m| u64::from(m.samples)).sum::<u64>();
            inner.bytes += bytes.len() as u64;
            inner.segments.push_back(Segment {
                id,
                size: bytes.len() as u64,
                pending,
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            config,
            inner: Mutex::new(inner),
            counters: Counters::default(),
            appended: tokio::sync::Notify::new(),
            full_log: super::Every::new(std::time::Duration::from_secs(60)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the bookkeeping as it was
        // between two whole operations on disk; carry on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `records` and syncs them to disk. Makes room by dropping the
    /// oldest segments; a record larger than the whole bound is dropped.
    /// On an I/O error the records not yet written are counted as
    /// `write_error` and the error returned.
    pub fn append(&self, records: &[Record]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let mut result = Ok(());
        let mut touched = false;
        for (i, r) in records.iter().enumerate() {
            let samples = u64::from(r.samples);
            self.counters.enqueued.fetch_add(samples, Ordering::Relaxed);
            let len = (HEADER + r.payload.len()) as u64;
            if r.payload.len() > MAX_RECORD || len > self.config.max_bytes {
                if let Some(held_back) = self.full_log.ready() {
                    tracing::warn!(
                        bytes = len,
                        bound = self.config.max_bytes,
                        drops_not_logged = held_back,
                        "A report's samples are larger than the remote_write queue's bound; dropped (raise max_queue_bytes)."
                    );
                }
                self.counters.drop_samples(DropReason::QueueFull, samples);
                continue;
            }
            if let Err(e) = self.append_one(&mut inner, r, len) {
                let unwritten: u64 = records[i..].iter().map(|r| u64::from(r.samples)).sum();
                let later: u64 = records[i + 1..].iter().map(|r| u64::from(r.samples)).sum();
                self.counters.enqueued.fetch_add(later, Ordering::Relaxed);
                self.counters
                    .drop_samples(DropReason::WriteError, unwritten);
                result = Err(e);
                break;
            }
            touched = true;
        }
        if touched && let Some(f) = inner.active.as_mut() {
            let synced = f.sync_data();
            if let Err(e) = synced {
                // Written but maybe not durable: still queued, so nothing
                // is counted twice; the error is logged by the caller.
                result = result.and(Err(io(&self.dir)(e)));
            }
        }
        drop(inner);
        self.appended.notify_one();
        result
    }

    fn append_one(&self, inner: &mut Inner, r: &Record, len: u64) -> Result<(), QueueError> {
        while inner.bytes + len > self.config.max_bytes {
            if !self.drop_oldest(inner)? {
                break;
            }
        }
        let needs_new = match (inner.segments.back(), &inner.active) {
            (Some(s), Some(_)) => s.size > 0 && s.size + len > self.config.segment_bytes,
            _ => true,
        };
        if needs_new {
            if let Some(f) = inner.active.take() {
                f.sync_data().map_err(io(&self.dir))?;
            }
            let id = inner.next_segment;
            inner.next_segment += 1;
            let path = segment_path(&self.dir, id);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            sync_dir(&self.dir);
            inner.segments.push_back(Segment {
                id,
                size: 0,
                pending: VecDeque::new(),
            });
            inner.active = Some(f);
        }
        let id = inner.next_id;
        let bytes = encode(id, r);
        let seg_id = inner.segments.back().map_or(0, |s| s.id);
        let offset = inner.segments.back().map_or(0, |s| s.size);
        let path = segment_path(&self.dir, seg_id);
        let f = inner.active.as_mut().expect("a segment was opened above");
        if let Err(e) = f.write_all(&bytes) {
            // Cut a partial record so the next append starts clean.
            let _ = f.set_len(offset);
            let _ = f.seek(SeekFrom::Start(offset));
            return Err(io(&path)(e));
        }
        inner.next_id += 1;
        inner.bytes += len;
        inner.pending_samples += u64::from(r.samples);
        let seg = inner.segments.back_mut().expect("a segment exists");
        seg.size += len;
        seg.pending.push_back(Meta {
            id,
            offset,
            len: r.payload.len() as u32,
            samples: r.samples,
            enqueued_ms: r.enqueued_ms,
        });
        Ok(())
    }

    /// Deletes the oldest segment, counting its pending samples as
    /// `queue_full` (those on the wire wait for their answer). False when
    /// there is none.
    fn drop_oldest(&self, inner: &mut Inner) -> Result<bool, QueueError> {
        let Some(seg) = inner.segments.pop_front() else {
            return Ok(false);
        };
        if inner.segments.is_empty() {
            inner.active = None;
        }
        let mut dropped = 0;
        for m in &seg.pending {
            inner.pending_samples -= u64::from(m.samples);
            if m.id <= inner.in_flight_through {
                inner.orphaned_samples += u64::from(m.samples);
            } else {
                dropped += u64::from(m.samples);
            }
        }
        inner.bytes -= seg.size;
        if dropped > 0 {
            self.counters.drop_samples(DropReason::QueueFull, dropped);
            if let Some(held_back) = self.full_log.ready() {
                tracing::warn!(samples = dropped, dir = %self.dir.display(), drops_not_logged = held_back, "Remote-write queue full: oldest samples dropped (logged at most once a minute; see schoolwatch_remote_write_samples_dropped_total).");
            }
        }
        let path = segment_path(&self.dir, seg.id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(true),
        }
    }

    /// What waits now.
    pub fn pending(&self) -> Pending {
        let inner = self.lock();
        Pending {
            samples: inner.pending_samples + inner.orphaned_samples,
            bytes: inner.bytes,
            oldest_enqueued_ms: inner
                .segments
                .iter()
                .find_map(|s| s.pending.front())
                .map(|m| m.enqueued_ms),
        }
    }

    /// The oldest pending records, up to `max_samples` samples (at least
    /// one record) from one segment, marked as on the wire until
    /// [`Queue::settle`]. `None` when nothing waits.
    pub fn take(&self, max_samples: u64) -> Option<Batch> {
        let mut inner = self.lock();
        let seg = inner.segments.iter().find(|s| !s.pending.is_empty())?;
        let mut records = Vec::new();
        let mut samples = 0u64;
        for m in &seg.pending {
            if !records.is_empty() && samples + u64::from(m.samples) > max_samples {
                break;
            }
            samples += u64::from(m.samples);
            records.push(*m);
        }
        let batch = Batch {
            path: segment_path(&self.dir, seg.id),
            records,
            samples,
        };
        inner.in_flight_through = batch.last_id();
        Some(batch)
    }

    /// Reads a batch's records from disk (call off the async threads).
    /// Records that no longer check out are left out and counted in
    /// `corrupt_samples`; a segment dropped meanwhile (queue full) reads
    /// as empty.
    pub fn read(batch: &Batch) -> Result<Body, QueueError> {
        let (Some(first), Some(last)) = (batch.records.first(), batch.records.last()) else {
            return Ok(Body::default());
        };
        let span = (last.offset + last.record_len() - first.offset) as usize;
        let mut buf = vec![0u8; span];
        let read = File::open(&batch.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(first.offset))?;
            f.read_exact(&mut buf)
        });
        match read {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Body::default());
            }
            Err(e) => return Err(io(&batch.path)(e)),
        }
        let mut body = Body::default();
        for m in &batch.records {
            let at = (m.offset - first.offset) as usize;
            match decode_at(&buf, at) {
                Some((found, payload)) if found.id == m.id => {
                    body.records.push((m.samples, payload.to_vec()));
                    body.samples += u64::from(m.samples);
                }
                _ => body.corrupt_samples += u64::from(m.samples),
            }
        }
        Ok(body)
    }

    /// Settles the batch on the wire: counts its samples (`outcome`, and
    /// `corrupt` for those that did not read back), removes its records,
    /// saves `acked` and deletes segments left with nothing pending.
    pub fn settle(&self, batch: &Batch, outcome: Settled, corrupt: u64) -> Result<(), QueueError> {
        let last = batch.last_id();
        let deletable = {
            let mut inner = self.lock();
            // Records of the batch still held (not dropped meanwhile).
            let mut held = 0u64;
            for seg in inner.segments.iter_mut() {
                while seg.pending.front().is_some_and(|m| m.id <= last) {
                    let m = seg.pending.pop_front().expect("just checked");
                    held += u64::from(m.samples);
                }
            }
            inner.pending_samples -= held;
            // Whatever the batch held beyond what was read (a segment
            // dropped while it was on the wire and before it was read) was
            // neither sent nor refused: the queue dropped it.
            let (sent, rejected) = match outcome {
                Settled::Sent(n) => (n, 0),
                Settled::Rejected(n) => (0, n),
            };
            let unread = batch.samples.saturating_sub(sent + rejected + corrupt);
            inner.orphaned_samples = 0;
            inner.in_flight_through = 0;
            inner.acked_through = inner.acked_through.max(last);
            self.counters.sent.fetch_add(sent, Ordering::Relaxed);
            self.counters.drop_samples(DropReason::Rejected, rejected);
            self.counters.drop_samples(DropReason::Corrupt, corrupt);
            self.counters.drop_samples(DropReason::QueueFull, unread);
            let mut deletable = Vec::new();
            // Settled segments go, except the one being appended to.
            while inner.segments.len() > 1 || (inner.active.is_none() && !inner.segments.is_empty())
            {
                let front = inner.segments.front().expect("non-empty");
                if !front.pending.is_empty() {
                    break;
                }
                let seg = inner.segments.pop_front().expect("non-empty");
                inner.bytes -= seg.size;
                deletable.push(segment_path(&self.dir, seg.id));
            }
            deletable
        };
        write_acked(&self.dir, last)?;
        for path in deletable {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Gives a batch back without an answer (shutdown while it was on the
    /// wire): it stays queued and is sent again later.
    pub fn untake(&self) {
        let mut inner = self.lock();
        inner.in_flight_through = 0;
        // Its dropped records were never sent: they count as dropped now.
        let orphaned = std::mem::take(&mut inner.orphaned_samples);
        self.counters.drop_samples(DropReason::QueueFull, orphaned);
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn encode(id: u64, r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + r.payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&r.samples.to_le_bytes());
    out.extend_from_slice(&r.enqueued_ms.to_le_bytes());
    out.extend_from_slice(&r.payload);
    let crc = crc32fast::hash(&out[12..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The record at `at`, if whole and its CRC holds: its place (offset
/// relative to `bytes`) and payload.
fn decode_at(bytes: &[u8], at: usize) -> Option<(Meta, &[u8])> {
    let h = bytes.get(at..at.checked_add(HEADER)?)?;
    if h[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?);
    if len as usize > MAX_RECORD {
        return None;
    }
    let end = at + HEADER + len as usize;
    let whole = bytes.get(at..end)?;
    let crc = u32::from_le_bytes(h[8..12].try_into().ok()?);
    if crc32fast::hash(&whole[12..]) != crc {
        return None;
    }
    Some((
        Meta {
            id: u64::from_le_bytes(h[12..20].try_into().ok()?),
            offset: at as u64,
            len,
            samples: u32::from_le_bytes(h[20..24].try_into().ok()?),
            enqueued_ms: i64::from_le_bytes(h[24..32].try_into().ok()?),
        },
        &whole[HEADER..],
    ))
}

/// Every good record of a segment, and how many bytes were damaged.
fn scan(bytes: &[u8]) -> (Vec<Meta>, usize) {
    let mut records = Vec::new();
    let mut damaged = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some((m, _)) = decode_at(bytes, at) {
            at += m.record_len() as usize;
            records.push(m);
            continue;
        }
        // Resynchronise at the next position where a whole record checks out.
        let next = (at + 1..bytes.len())
            .filter(|&p| bytes[p..].starts_with(&MAGIC))
            .find(|&p| decode_at(bytes, p).is_some())
            .unwrap_or(bytes.len());
        damaged += next - at;
        at = next;
    }
    (records, damaged)
}

fn read_acked(dir: &Path) -> u64 {
    let Ok(b) = std::fs::read(dir.join(ACKED)) else {
        return 0;
    };
    if b.len() != 12 || crc32fast::hash(&b[..8]).to_le_bytes() != b[8..12] {
        tracing::warn!(dir = %dir.display(), "Remote-write queue cursor damaged; what is still on disk will be sent again.");
        return 0;
    }
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

fn write_acked(dir: &Path, id: u64) -> Result<(), QueueError> {
    let mut b = id.to_le_bytes().to_vec();
    b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
    let path = dir.join(ACKED);
    let tmp = dir.join("acked.tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&b).map_err(io(&tmp))?;
    f.sync_data().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Makes a new file's directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
