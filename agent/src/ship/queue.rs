//! The agent's on-disk queue: every report is appended here, durably,
//! before anything is sent, and leaves only when the collector has
//! acknowledged it (or it is dropped, with a counted reason).
//!
//! # Invariants
//! - Every sequence number the agent generated is, at every moment,
//!   exactly one of: acknowledged, dropped (by reason: `queue_full`,
//!   `disk_full`, `corrupt`, `rejected`), or still queued.
//! - The queue's files never exceed `max_bytes` (plus one record).
//! - Damage is contained to the bytes that are damaged: a reader skips to
//!   the next good *record*, not the next file.
//!
//! # On-disk format
//! A directory of segment files `00000000000000000001.seg`, … (ids grow),
//! oldest first, the last one open for appending, each at most
//! `segment_bytes`. A segment is a sequence of records:
//!
//! ```text
//! +-------------+-----------+-----------+-----------+------------------+
//! | magic (4 B) | len (u32) | crc (u32) | seq (u64) | payload (len B)  |
//! | A5 5C 57 51 |    LE     |    LE     |    LE     | report JSON      |
//! +-------------+-----------+-----------+-----------+------------------+
//! ```
//!
//! `crc` is CRC-32 (IEEE) over `seq` and `payload`. The magic lets a reader
//! that meets damage find the next record start by scanning, and the CRC
//! proves it.
//!
//! Beside the segments, `meta-a` and `meta-b` hold the bookkeeping
//! ([`Meta`]), written alternately with a generation number and a CRC, so a
//! crash or a bit flip while writing one leaves the other.
//!
//! # Crash and corruption behaviour
//! On open every segment is scanned. A torn tail (a crash mid-append) or a
//! damaged record is cut out: its bytes are copied to `damaged/` (bounded)
//! and the segment is rewritten with its good records only, so the damage
//! is counted once. Reports lost to damage are counted as `corrupt` from
//! the gaps in the sequence numbers; an unreadable `meta` means the
//! acknowledgements since the last good copy are forgotten, so those
//! reports are sent again (the collector de-duplicates). Nothing here
//! panics or refuses to start on bad bytes.
//!
//! # When files are deleted
//! A segment is deleted once every record in it is settled (acknowledged
//! or dropped), oldest first. When the queue is full, the oldest segment
//! is deleted and its unacknowledged records counted as `queue_full`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

const MAGIC: [u8; 4] = [0xA5, 0x5C, 0x57, 0x51];
const HEADER: usize = 4 + 4 + 4 + 8;
/// Largest payload accepted; the protocol's reports are far smaller.
pub const MAX_RECORD: usize = 1 << 20;
/// Most bytes of damage kept in `damaged/` for inspection.
const MAX_DAMAGED_KEPT: u64 = 4 << 20;

/// When appends reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// fsync after every append: a power cut loses nothing appended (the
    /// default; the agent appends about once a minute).
    #[default]
    Always,
    /// Leave it to the OS (faster, loses the last seconds on power loss).
    Never,
}

/// Queue settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Bound on all segment files together.
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started.
    pub segment_bytes: u64,
    /// When appends reach the disk.
    pub fsync: Fsync,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            // A report is 0.5 to 3 KiB; 7 days at one a minute is ~10,000
            // reports, under 30 MiB. 64 MiB leaves room for larger ones.
            max_bytes: 64 << 20,
            segment_bytes: 1 << 20,
            fsync: Fsync::Always,
        }
    }
}

/// Why a report left the queue without being acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The queue reached its byte bound; the oldest went first.
    QueueFull,
    /// The disk was full and no space could be freed.
    DiskFull,
    /// Lost to damage in the queue files.
    Corrupt,
    /// The collector refused it for good (a 4xx other than 408/429).
    Rejected,
}

/// A queue operation that failed.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The file system refused.
    #[error("queue I/O at {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A payload larger than [`MAX_RECORD`].
    #[error("a record of {0} bytes is larger than the queue's limit")]
    TooLarge(usize),
}

impl QueueError {
    /// Whether the disk is full (ENOSPC or a quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            QueueError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.kind() == std::io::ErrorKind::QuotaExceeded
            }
            QueueError::TooLarge(_) => false,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The persisted bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Every sequence up to here is settled (acknowledged or dropped).
    pub front: u64,
    /// Settled sequences above `front`.
    pub settled: BTreeSet<u64>,
    /// Highest sequence known to have been generated.
    pub verified_through: u64,
    /// Reports acknowledged by the collector, ever.
    pub acked_total: u64,
    /// Reports dropped, by reason, ever.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Bytes of damage set aside, ever.
    pub damaged_bytes_total: u64,
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    generation: u64,
    crc: u32,
    body: String,
}

/// Where a record lives.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    size: u64,
    /// Sequences in this segment, in file order.
    seqs: Vec<u64>,
}

/// Counts and sizes for the agent's health section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Reports waiting for acknowledgement.
    pub queued: u64,
    /// Bytes of segment files.
    pub bytes: u64,
}

/// The queue. Single-threaded by design: the agent owns it in one task.
pub struct Queue {
    dir: PathBuf,
    config: QueueConfig,
    segments: VecDeque<Segment>,
    /// Unsettled records by sequence.
    index: BTreeMap<u64, Loc>,
    /// Append handle of the last segment.
    active: Option<File>,
    meta: Meta,
    meta_generation: u64,
    bytes: u64,
    /// The batch on the wire (see [`Queue::begin_send`]).
    in_flight: std::collections::HashSet<u64>,
    /// Records of that batch the queue had to drop while it was on the
    /// wire: if the collector then acknowledges them they were delivered,
    /// not dropped.
    dropped_in_flight: std::collections::HashMap<u64, DropReason>,
}

// === impl Queue ===

impl Queue {
    /// Opens (creating if needed) the queue in `dir`, repairing what a
    /// crash or damage left. Never fails on bad bytes, only on I/O errors
    /// of the directory itself.
    ///
    /// `floor` is the highest sequence the agent knows it generated (kept
    /// apart from the queue); reports above everything the queue still
    /// knows, up to `floor`, were lost and are counted as `corrupt`.
    pub fn open(dir: &Path, config: QueueConfig, floor: u64) -> Result<Self, QueueError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (meta, meta_generation, meta_found) = load_meta(dir);
        let mut q = Self {
            dir: dir.to_owned(),
            config,
            segments: VecDeque::new(),
            index: BTreeMap::new(),
            active: None,
            meta,
            meta_generation,
            bytes: 0,
            in_flight: std::collections::HashSet::new(),
            dropped_in_flight: std::collections::HashMap::new(),
        };
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut found: Vec<(u64, Loc)> = Vec::new();
        for id in ids {
            q.recover_segment(id, &mut found)?;
        }
        if !meta_found {
            // No bookkeeping survived: treat everything below the oldest
            // record as settled and send the rest again (the collector
            // de-duplicates); with no record at all, everything up to the
            // floor was delivered or cannot be known.
            q.meta.front = found.iter().map(|(s, _)| *s).min().map_or(floor, |s| s - 1);
            q.meta.verified_through = q.meta.front;
        }
        q.account_gaps(&found, floor);
        for (seq, loc) in found {
            if seq > q.meta.front && !q.meta.settled.contains(&seq) {
                q.index.insert(seq, loc);
            }
        }
        q.delete_settled_front()?;
        q.save_meta()?;
        Ok(q)
    }

    /// Reads one segment, cutting out damage; adds its good records to
    /// `found`.
    fn recover_segment(&mut self, id: u64, found: &mut Vec<(u64, Loc)>) -> Result<(), QueueError> {
        let path = self.segment_path(id);
        let mut bytes = Vec::new();
        if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
            tracing::warn!(path = %path.display(), error = %e, "Queue segment unreadable; setting it aside.");
            self.set_aside(&path, &[], id, 0);
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
        let (records, damaged) = scan(&bytes);
        if records.is_empty() {
            if !bytes.is_empty() {
                self.set_aside(&path, &bytes, id, 0);
            }
            std::fs::remove_file(&path).map_err(io(&path))?;
            return Ok(());
        }
        let bytes = if damaged.is_empty() {
            bytes
        } else {
            for (start, end) in &damaged {
                self.set_aside(&path, &bytes[*start..*end], id, *start as u64);
            }
            tracing::warn!(path = %path.display(), regions = damaged.len(), "Damaged queue records set aside.");
            // Rewrite with the good records only, so the damage is counted
            // once and appends continue on a clean tail.
            let mut clean = Vec::with_capacity(bytes.len());
            for r in &records {
                clean.extend_from_slice(&bytes[r.start..r.end]);
            }
            let tmp = path.with_extension("tmp");
            write_synced(&tmp, &clean)?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            clean
        };
        let mut seqs = Vec::with_capacity(records.len());
        let mut offset = 0u64;
        for r in &records {
            let len = (r.end - r.start) as u64;
            found.push((
                r.seq,
                Loc {
                    segment: id,
                    offset,
                    len: (len as usize - HEADER) as u32,
                },
            ));
            seqs.push(r.seq);
            offset += len;
        }
        self.bytes += bytes.len() as u64;
        self.segments.push_back(Segment {
            id,
            size: bytes.len() as u64,
            seqs,
        });
        Ok(())
    }

    /// Counts reports that are neither found, nor settled: missing between
    /// the records found (damage, a deleted file) or after them up to
    /// `floor` (a damaged tail). Counted ones become settled, so a later
    /// open does not count them again.
    fn account_gaps(&mut self, found: &[(u64, Loc)], floor: u64) {
        let present: BTreeSet<u64> = found.iter().map(|(s, _)| *s).collect();
        let last = present.iter().next_back().copied().unwrap_or(0).max(floor);
        let mut lost = 0;
        for s in self.meta.front + 1..=last {
            if !present.contains(&s) && self.meta.settled.insert(s) {
                lost += 1;
            }
        }
        if lost > 0 {
            tracing::warn!(lost, "Reports lost to queue damage.");
            *self.meta.dropped.entry(DropReason::Corrupt).or_default() += lost;
        }
        self.meta.verified_through = self.meta.verified_through.max(last);
        self.advance_front();
    }

    /// The highest sequence the queue has seen (appended, settled or
    /// verified); a new report must use a higher one.
    pub fn last_sequence(&self) -> u64 {
        let in_index = self.index.keys().next_back().copied().unwrap_or(0);
        let settled = self.meta.settled.iter().next_back().copied().unwrap_or(0);
        in_index
            .max(settled)
            .max(self.meta.front)
            .max(self.meta.verified_through)
    }

    /// Appends a report. When the queue is full the oldest segments are
    /// dropped first; when the disk is full, space is freed the same way
    /// and the append retried once.
    pub fn append(&mut self, seq: u64, payload: &[u8]) -> Result<(), QueueError> {
        if payload.len() > MAX_RECORD {
            return Err(QueueError::TooLarge(payload.len()));
        }
        let record_len = (HEADER + payload.len()) as u64;
        while self.bytes + record_len > self.config.max_bytes
            && self.drop_oldest_segment(DropReason::QueueFull)?
        {}
        match self.try_append(seq, payload) {
            Err(e) if e.is_disk_full() && self.drop_oldest_segment(DropReason::DiskFull)? => {
                self.try_append(seq, payload)
            }
            other => other,
        }?;
        self.meta.verified_through = self.meta.verified_through.max(seq);
        Ok(())
    }

    fn try_append(&mut self, seq: u64, payload: &[u8]) -> Result<(), QueueError> {
        let record_len = (HEADER + payload.len()) as u64;
        let needs_new = match self.segments.back() {
            None => true,
            Some(s) => s.size > 0 && s.size + record_len > self.config.segment_bytes,
        };
        if needs_new || self.active.is_none() {
            self.rotate(needs_new)?;
        }
        let record = encode(seq, payload);
        let (id, offset) = {
            let seg = self.segments.back().expect("rotate made a segment");
            (seg.id, seg.size)
        };
        let path = self.segment_path(id);
        let file = self.active.as_mut().expect("rotate opened the segment");
        let written = file
            .write_all(&record)
            .and_then(|()| match self.config.fsync {
                Fsync::Always => file.sync_data(),
                Fsync::Never => Ok(()),
            });
        if let Err(e) = written {
            // Cut a partial record so the next append starts clean.
            let _ = file.set_len(offset);
            let _ = file.seek(SeekFrom::Start(offset));
            return Err(io(&path)(e));
        }
        let seg = self.segments.back_mut().expect("a segment exists");
        seg.size += record_len;
        seg.seqs.push(seq);
        self.bytes += record_len;
        self.index.insert(
            seq,
            Loc {
                segment: id,
                offset,
                len: payload.len() as u32,
            },
        );
        Ok(())
    }

    /// Opens the last segment for appending, or starts a new one.
    fn rotate(&mut self, new_segment: bool) -> Result<(), QueueError> {
        if let Some(f) = self.active.take() {
            f.sync_all().map_err(io(&self.dir))?;
        }
        if new_segment || self.segments.is_empty() {
            let id = self.segments.back().map_or(1, |s| s.id + 1);
            self.segments.push_back(Segment {
                id,
                size: 0,
                seqs: Vec::new(),
            });
        }
        let seg = self.segments.back().expect("just ensured");
        let path = self.segment_path(seg.id);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.seek(SeekFrom::End(0)).map_err(io(&path))?;
        if new_segment {
            sync_dir(&self.dir);
        }
        self.active = Some(f);
        Ok(())
    }

    /// Deletes the oldest segment (never the only one), counting its
    /// unsettled records as dropped for `reason`. Returns false when there
    /// was nothing to drop.
    fn drop_oldest_segment(&mut self, reason: DropReason) -> Result<bool, QueueError> {
        if self.segments.len() < 2 {
            return Ok(false);
        }
        let seg = self.segments.pop_front().expect("two or more");
        let mut dropped = 0;
        for s in &seg.seqs {
            if self.index.remove(s).is_some() {
                dropped += 1;
                if self.in_flight.contains(s) {
                    self.dropped_in_flight.insert(*s, reason);
                }
            }
            self.meta.settled.insert(*s);
        }
        if dropped > 0 {
            *self.meta.dropped.entry(reason).or_default() += dropped;
            tracing::warn!(dropped, reason = ?reason, "Oldest queued reports dropped.");
        }
        self.bytes -= seg.size;
        // The file goes first here: on a full disk its space is what lets
        // the bookkeeping be written. A crash between the two counts these
        // records once, as lost instead of dropped.
        let path = self.segment_path(seg.id);
        std::fs::remove_file(&path).map_err(io(&path))?;
        self.advance_front();
        self.save_meta()?;
        Ok(true)
    }

    /// Up to `n` unsettled reports, oldest first, as (sequence, payload).
    pub fn oldest(&mut self, n: usize) -> Result<Vec<(u64, Vec<u8>)>, QueueError> {
        let locs: Vec<(u64, Loc)> = self.index.iter().take(n).map(|(s, l)| (*s, *l)).collect();
        self.read(locs)
    }

    /// The newest unsettled report.
    pub fn newest(&mut self) -> Result<Option<(u64, Vec<u8>)>, QueueError> {
        let loc = self.index.iter().next_back().map(|(s, l)| (*s, *l));
        Ok(self.read(loc.into_iter().collect())?.pop())
    }

    fn read(&mut self, locs: Vec<(u64, Loc)>) -> Result<Vec<(u64, Vec<u8>)>, QueueError> {
        let mut out = Vec::with_capacity(locs.len());
        let mut open: Option<(u64, File)> = None;
        for (seq, loc) in locs {
            if open.as_ref().is_none_or(|(id, _)| *id != loc.segment) {
                let path = self.segment_path(loc.segment);
                open = Some((loc.segment, File::open(&path).map_err(io(&path))?));
            }
            let (_, f) = open.as_mut().expect("just opened");
            let mut buf = vec![0u8; HEADER + loc.len as usize];
            let path = self.segment_path(loc.segment);
            f.seek(SeekFrom::Start(loc.offset)).map_err(io(&path))?;
            f.read_exact(&mut buf).map_err(io(&path))?;
            // Re-check: the bytes may have rotted since they were indexed.
            match decode_at(&buf, 0) {
                Some(r) if r.seq == seq => out.push((seq, buf[HEADER..].to_vec())),
                _ => {
                    tracing::warn!(seq, "Queued report damaged on disk; dropped.");
                    self.index.remove(&seq);
                    self.meta.settled.insert(seq);
                    *self.meta.dropped.entry(DropReason::Corrupt).or_default() += 1;
                }
            }
        }
        Ok(out)
    }

    /// Notes the batch about to be sent; ends with [`Queue::end_send`].
    /// Sending happens beside appends, which may drop the oldest records
    /// (queue or disk full) while they are on the wire.
    pub fn begin_send(&mut self, seqs: &[u64]) {
        self.in_flight = seqs.iter().copied().collect();
        self.dropped_in_flight.clear();
    }

    /// The batch's answer has been handled.
    pub fn end_send(&mut self) {
        self.in_flight.clear();
        self.dropped_in_flight.clear();
    }

    /// Marks reports acknowledged; deletes segments that became settled. A
    /// report of the batch on the wire that was dropped meanwhile was
    /// delivered after all: it moves from dropped to acknowledged, so each
    /// report is counted once.
    pub fn ack(&mut self, seqs: &[u64]) -> Result<(), QueueError> {
        let mut n = 0;
        for s in seqs {
            if self.index.remove(s).is_some() {
                self.meta.settled.insert(*s);
                n += 1;
            } else if let Some(reason) = self.dropped_in_flight.remove(s) {
                let dropped = self.meta.dropped.entry(reason).or_default();
                *dropped = dropped.saturating_sub(1);
                n += 1;
            }
        }
        self.meta.acked_total += n;
        self.advance_front();
        self.settle()
    }

    /// Drops reports for `reason` (the collector refused them for good).
    pub fn drop_reports(&mut self, seqs: &[u64], reason: DropReason) -> Result<(), QueueError> {
        let mut n = 0;
        for s in seqs {
            if self.index.remove(s).is_some() {
                self.meta.settled.insert(*s);
                n += 1;
            }
        }
        *self.meta.dropped.entry(reason).or_default() += n;
        self.advance_front();
        self.settle()
    }

    /// Saves the bookkeeping, then deletes the segments it settled. In
    /// that order: a crash between the two leaves settled records on disk
    /// (skipped and deleted at the next open), whereas the other order
    /// would leave acknowledged records missing from the files and not yet
    /// settled in the bookkeeping, counted as lost at the next open.
    /// On a full disk the bookkeeping may not fit until the settled files
    /// are gone: then they go first.
    fn settle(&mut self) -> Result<(), QueueError> {
        match self.save_meta() {
            Err(e) if e.is_disk_full() => {
                self.delete_settled_front()?;
                self.save_meta()
            }
            saved => {
                saved?;
                self.delete_settled_front()
            }
        }
    }

    fn advance_front(&mut self) {
        while self.meta.settled.remove(&(self.meta.front + 1)) {
            self.meta.front += 1;
        }
    }

    /// Deletes leading segments whose records are all settled, keeping the
    /// active (last) one.
    fn delete_settled_front(&mut self) -> Result<(), QueueError> {
        while self.segments.len() > 1 {
            let seg = self.segments.front().expect("non-empty");
            if seg.seqs.iter().any(|s| self.index.contains_key(s)) {
                break;
            }
            let seg = self.segments.pop_front().expect("non-empty");
            self.bytes -= seg.size;
            let path = self.segment_path(seg.id);
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Whether `seq` is still waiting for acknowledgement.
    pub fn is_queued(&self, seq: u64) -> bool {
        self.index.contains_key(&seq)
    }

    /// Counts a report that never made it into the queue (the append
    /// failed), so that the accounting still holds.
    pub fn note_unqueued(&mut self, seq: u64, reason: DropReason) {
        if seq > self.meta.front && self.meta.settled.insert(seq) {
            *self.meta.dropped.entry(reason).or_default() += 1;
            self.meta.verified_through = self.meta.verified_through.max(seq);
            self.advance_front();
            if let Err(e) = self.save_meta() {
                tracing::warn!(error = %e, "Could not save the queue's bookkeeping.");
            }
        }
    }

    /// The health section of a report made at `now_ms`: what waits, since
    /// when, and what was dropped, by reason. `send_failures` is the
    /// sender's count.
    pub fn health(
        &mut self,
        now_ms: u64,
        send_failures: u64,
    ) -> Result<schoolwatch_protocol::AgentHealth, QueueError> {
        /// Only the sampling time of a queued report.
        #[derive(Deserialize)]
        struct SampledAt {
            sampled_at_ms: u64,
        }
        let oldest_ms = self
            .oldest(1)?
            .first()
            .and_then(|(_, p)| serde_json::from_slice::<SampledAt>(p).ok())
            .map(|a| a.sampled_at_ms);
        let d = |r| self.meta.dropped.get(&r).copied().unwrap_or(0);
        let stats = self.stats();
        Ok(schoolwatch_protocol::AgentHealth {
            queue_reports: stats.queued,
            queue_bytes: stats.bytes,
            queue_oldest_age_seconds: oldest_ms.map_or(0, |t| now_ms.saturating_sub(t) / 1000),
            dropped_queue_full: d(DropReason::QueueFull),
            dropped_disk_full: d(DropReason::DiskFull),
            dropped_corrupt: d(DropReason::Corrupt),
            dropped_rejected: d(DropReason::Rejected),
            send_failures,
        })
    }

    /// Counts and sizes now.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            queued: self.index.len() as u64,
            bytes: self.bytes,
        }
    }

    /// The persisted bookkeeping (acknowledged and dropped totals).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The oldest unsettled sequence.
    pub fn oldest_sequence(&self) -> Option<u64> {
        self.index.keys().next().copied()
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.seg"))
    }

    /// Copies damaged bytes to `damaged/` (while under its bound) and
    /// counts them.
    fn set_aside(&mut self, from: &Path, bytes: &[u8], id: u64, offset: u64) {
        self.meta.damaged_bytes_total += bytes.len() as u64;
        let dir = self.dir.join("damaged");
        let kept: u64 = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if kept + bytes.len() as u64 > MAX_DAMAGED_KEPT {
            return;
        }
        let _ = std::fs::create_dir_all(&dir);
        let name = format!("{id:020}-{offset}.bin");
        if let Err(e) = std::fs::write(dir.join(&name), bytes) {
            tracing::debug!(from = %from.display(), error = %e, "Could not keep damaged bytes.");
        }
    }

    /// Writes the bookkeeping to the older of the two meta files.
    fn save_meta(&mut self) -> Result<(), QueueError> {
        self.meta_generation += 1;
        let body = serde_json::to_string(&self.meta).expect("meta serializes");
        let file = MetaFile {
            generation: self.meta_generation,
            crc: crc32fast::hash(body.as_bytes()),
            body,
        };
        let name = if self.meta_generation.is_multiple_of(2) {
            "meta-a"
        } else {
            "meta-b"
        };
        let path = self.dir.join(name);
        let tmp = path.with_extension("tmp");
        write_synced(
            &tmp,
            &serde_json::to_vec(&file).expect("meta file serializes"),
        )?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }
}

/// The newest valid meta copy, its generation, and whether one was found.
fn load_meta(dir: &Path) -> (Meta, u64, bool) {
    let mut best: Option<(u64, Meta)> = None;
    for name in ["meta-a", "meta-b"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let Ok(file) = serde_json::from_slice::<MetaFile>(&bytes) else {
            tracing::warn!(
                file = name,
                "Queue bookkeeping copy unreadable; using the other."
            );
            continue;
        };
        if crc32fast::hash(file.body.as_bytes()) != file.crc {
            tracing::warn!(
                file = name,
                "Queue bookkeeping copy damaged; using the other."
            );
            continue;
        }
        let Ok(meta) = serde_json::from_str::<Meta>(&file.body) else {
            continue;
        };
        if best.as_ref().is_none_or(|(g, _)| file.generation > *g) {
            best = Some((file.generation, meta));
        }
    }
    match best {
        Some((g, m)) => (m, g, true),
        None => (Meta::default(), 0, false),
    }
}

fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A record found in a segment: its sequence and byte range.
struct Found {
    seq: u64,
    start: usize,
    end: usize,
}

/// The record starting at `at`, if one is whole and its CRC holds.
fn decode_at(bytes: &[u8], at: usize) -> Option<Found> {
    let h = bytes.get(at..at + HEADER)?;
    if h[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    if len > MAX_RECORD {
        return None;
    }
    let crc = u32::from_le_bytes(h[8..12].try_into().ok()?);
    let seq_bytes = &h[12..20];
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    let mut c = crc32fast::Hasher::new();
    c.update(seq_bytes);
    c.update(payload);
    (c.finalize() == crc).then(|| Found {
        seq: u64::from_le_bytes(seq_bytes.try_into().expect("8 bytes")),
        start: at,
        end: at + HEADER + len,
    })
}

/// Every good record of a segment, and the byte ranges between them that
/// are damage (including a torn tail).
fn scan(bytes: &[u8]) -> (Vec<Found>, Vec<(usize, usize)>) {
    let mut records = Vec::new();
    let mut damaged = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if let Some(r) = decode_at(bytes, at) {
            at = r.end;
            records.push(r);
            continue;
        }
        // Resynchronise: the next position where a whole record checks out.
        let start = at;
        let mut next = None;
        let mut probe = at + 1;
        while let Some(pos) = find_magic(bytes, probe) {
            if decode_at(bytes, pos).is_some() {
                next = Some(pos);
                break;
            }
            probe = pos + 1;
        }
        let end = next.unwrap_or(bytes.len());
        damaged.push((start, end));
        at = end;
    }
    (records, damaged)
}

fn find_magic(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(4)
        .position(|w| w == MAGIC)
        .map(|p| p + from)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(())
}

/// Makes a new or renamed file's directory entry durable (best effort: not
/// every platform can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
