//! Where a simulated host keeps its reports until the collector
//! acknowledges them.
//!
//! With `--queue-dir` every host has the agent's own durable
//! [`Queue`] (and [`StateDir`] for its credential and sequence number),
//! used as `schoolwatch-agent run` uses it: append each report before
//! sending, send the newest report plus the oldest backlog, remove only
//! what was acknowledged. Without it, the backlog is kept in memory as the
//! ticks and sequence numbers still owed (a report is rebuilt from its
//! tick, see [`crate::report`]), which costs a few bytes per report and no
//! file handles, for fleets of tens of thousands of hosts.
//!
//! Sequence numbers count the reports made, as the agent's do: a power cut
//! (no report made) leaves no gap, so a report's number is the run's first
//! plus [`Fleet::report_index`](crate::fleet::Fleet::report_index), not
//! plus its tick.

use crate::report::Builder;
use anyhow::Context;
use schoolwatch_agent::ship::StateDir;
use schoolwatch_agent::ship::queue::{DropReason, Queue};
use schoolwatch_protocol::AgentHealth;
use std::collections::{HashSet, VecDeque};

/// Most reports in one request, as the agent's runner sends.
pub const MAX_BATCH_REPORTS: usize = 500;
/// Most bytes of report JSON in one request (before gzip), as the agent's
/// runner sends.
pub const MAX_BATCH_BYTES: usize = 2 << 20;

/// A host's reports waiting for acknowledgement.
pub enum Spool {
    /// Reports owed, oldest first, by tick and sequence number, with the
    /// health each report carried when it was made.
    Memory {
        /// Sequence number of report 0 of this run.
        first_seq: u64,
        /// Reports made and not yet settled.
        pending: VecDeque<Pending>,
    },
    /// The agent's on-disk queue.
    Disk {
        /// Sequence number of report 0 of this run (the queue continues
        /// the numbers of earlier runs).
        first_seq: u64,
        /// The queue; owned by the host's task alone.
        queue: Box<Queue>,
        /// The host's state directory (credential, sequence number).
        state: StateDir,
    },
}

/// A batch ready to send: sequences and their JSON.
pub type Batch = Vec<(u64, Vec<u8>)>;

/// A report kept in memory until it is settled.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The tick it was made at, from which it is rebuilt.
    pub k: u64,
    /// Its sequence number.
    pub seq: u64,
    /// The health section it carried when it was made.
    pub health: AgentHealth,
}

/// Counts the health section carries besides the queue's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendCounts {
    /// Sends that failed and were retried.
    pub send_failures: u64,
    /// Reports the collector refused for good.
    pub dropped_rejected: u64,
}

impl Spool {
    /// An in-memory spool whose first report has sequence 1.
    pub fn memory() -> Self {
        Spool::Memory {
            first_seq: 1,
            pending: VecDeque::new(),
        }
    }

    /// The agent's queue in `state`'s `queue/` directory, continuing the
    /// sequence numbers of an earlier run.
    pub fn disk(
        state: StateDir,
        config: schoolwatch_agent::ship::queue::QueueConfig,
    ) -> anyhow::Result<Self> {
        let dir = state.path().join("queue");
        let queue = Queue::open(&dir, config, state.last_sequence())
            .with_context(|| format!("opening the report queue in {}", dir.display()))?;
        let first_seq = queue.last_sequence().max(state.last_sequence()) + 1;
        Ok(Spool::Disk {
            first_seq,
            queue: Box::new(queue),
            state,
        })
    }

    /// Sequence number of report 0 of this run.
    pub fn first_seq(&self) -> u64 {
        match self {
            Spool::Memory { first_seq, .. } | Spool::Disk { first_seq, .. } => *first_seq,
        }
    }

    /// Reports waiting.
    pub fn len(&self) -> u64 {
        match self {
            Spool::Memory { pending, .. } => pending.len() as u64,
            Spool::Disk { queue, .. } => queue.stats().queued,
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes host `h`'s report at tick `k` with sequence `seq` and keeps it
    /// (for the disk queue: appends it, fsynced as configured, before
    /// anything is sent).
    pub fn push(
        &mut self,
        b: &Builder,
        h: usize,
        k: u64,
        seq: u64,
        agent_id: &str,
        counts: SendCounts,
    ) -> anyhow::Result<()> {
        let now_ms = b.fleet_start_ms + b.fleet.tick_ms(h, k);
        match self {
            Spool::Memory { pending, .. } => {
                let oldest_ms = pending
                    .front()
                    .map(|p| b.fleet_start_ms + b.fleet.tick_ms(h, p.k));
                let health = AgentHealth {
                    queue_reports: pending.len() as u64,
                    queue_bytes: 0,
                    queue_oldest_age_seconds: oldest_ms
                        .map_or(0, |t| now_ms.saturating_sub(t) / 1000),
                    dropped_rejected: counts.dropped_rejected,
                    send_failures: counts.send_failures,
                    ..AgentHealth::default()
                };
                pending.push_back(Pending { k, seq, health });
                Ok(())
            }
            Spool::Disk { queue, .. } => {
                let health = disk_health(queue, now_ms, counts)?;
                let report = b.build(h, k, agent_id, seq, Some(health));
                let payload = serde_json::to_vec(&report).context("encoding a report")?;
                tokio::task::block_in_place(|| queue.append(seq, &payload)).or_else(|e| {
                    // As the agent: the report is counted as dropped and
                    // the host goes on.
                    tracing::warn!(seq, error = %e, "Report could not be queued; dropped.");
                    queue.note_unqueued(seq, DropReason::DiskFull);
                    anyhow::Ok(())
                })
            }
        }
    }

    /// The next batch: the newest report (the current state) first, then
    /// the oldest backlog, within the agent's bounds.
    pub fn batch(&mut self, b: &Builder, h: usize, agent_id: &str) -> anyhow::Result<Batch> {
        let mut batch: Batch = match self {
            Spool::Memory { pending, .. } => {
                let mut picks: Vec<&Pending> = pending.iter().take(MAX_BATCH_REPORTS).collect();
                if let Some(newest) = pending.back()
                    && !picks.iter().any(|p| p.seq == newest.seq)
                {
                    picks.pop();
                    picks.insert(0, newest);
                }
                picks
                    .into_iter()
                    .map(|p| {
                        let r = b.build(h, p.k, agent_id, p.seq, Some(p.health.clone()));
                        Ok((p.seq, serde_json::to_vec(&r).context("encoding a report")?))
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            Spool::Disk { queue, .. } => tokio::task::block_in_place(|| {
                let mut batch = queue.oldest(MAX_BATCH_REPORTS)?;
                if let Some(newest) = queue.newest()?
                    && !batch.iter().any(|(s, _)| *s == newest.0)
                {
                    batch.pop();
                    batch.insert(0, newest);
                }
                anyhow::Ok(batch)
            })?,
        };
        let mut bytes = 0;
        batch.retain(|(_, p)| {
            bytes += p.len();
            bytes <= MAX_BATCH_BYTES
        });
        Ok(batch)
    }

    /// Removes what the collector acknowledged.
    pub fn ack(&mut self, seqs: &[u64]) -> anyhow::Result<()> {
        match self {
            Spool::Memory { pending, .. } => {
                let done: HashSet<u64> = seqs.iter().copied().collect();
                pending.retain(|p| !done.contains(&p.seq));
                Ok(())
            }
            Spool::Disk { queue, .. } => tokio::task::block_in_place(|| queue.ack(seqs))
                .context("acknowledging in the queue"),
        }
    }

    /// Removes what the collector refused for good.
    pub fn reject(&mut self, seqs: &[u64]) -> anyhow::Result<()> {
        match self {
            Spool::Memory { .. } => self.ack(seqs),
            Spool::Disk { queue, .. } => {
                tokio::task::block_in_place(|| queue.drop_reports(seqs, DropReason::Rejected))
                    .context("dropping refused reports from the queue")
            }
        }
    }

    /// At the end of the run: records the last sequence used in the state
    /// directory, as the agent does. (The agent writes it after every
    /// report; the queue already holds every number it was given, so one
    /// write at the end spares a fsync per report.)
    pub fn close(&mut self, made: u64) -> anyhow::Result<()> {
        if let Spool::Disk {
            first_seq, state, ..
        } = self
            && made > 0
        {
            let last = *first_seq + made - 1;
            tokio::task::block_in_place(|| state.set_last_sequence(last))?;
        }
        Ok(())
    }
}

/// The health section from the queue, as the agent's runner makes it; the
/// sim counts refusals itself as well (in memory it has no queue to ask).
fn disk_health(queue: &mut Queue, now_ms: u64, counts: SendCounts) -> anyhow::Result<AgentHealth> {
    let mut h = tokio::task::block_in_place(|| queue.health(now_ms, counts.send_failures))?;
    h.dropped_rejected = h.dropped_rejected.max(counts.dropped_rejected);
    Ok(h)
}
