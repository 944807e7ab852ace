//! `schoolwatch-agent run`: sample on a schedule, make reports, ship them.
//!
//! Until the durable queue lands, unacknowledged reports wait in memory
//! (bounded); the sequence number is persisted before each report is sent
//! so that a restart never reuses one.

use crate::collect::Sources;
use crate::config::Config;
use crate::ship::{Client, Outcome, StateDir};
use anyhow::Context;
use schoolwatch_protocol::{Batch, Report};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

/// Most reports held in memory while the collector is unreachable.
const MAX_PENDING: usize = 10_000;
/// Most reports in one request.
const MAX_BATCH: usize = 500;

/// Runs until `shutdown` (or after one delivered report when `once`).
pub async fn run(
    config: Config,
    state: StateDir,
    interval: Duration,
    once: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let enrollment = state.load()?;
    let client = Client::new(&enrollment.collector, state.ca().as_deref())?;
    let mut sources = Sources::new(config).context("reading this machine's system information")?;
    let mut seq = state.last_sequence();
    let mut pending: VecDeque<Report> = VecDeque::new();
    let mut last_inventory: Option<[u8; 32]> = None;
    let mut backoff = Duration::from_secs(1);
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    tracing::info!(agent = %enrollment.agent_id, school = %enrollment.school_id, collector = %enrollment.collector, "Agent running.");
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => break,
        }
        seq += 1;
        state.set_last_sequence(seq)?;
        let mut report = Report::new(enrollment.agent_id.clone(), seq, now_ms());
        let (inv, errors) = sources.inventory();
        let digest = inventory_digest(&inv);
        if last_inventory != Some(digest) {
            report.inventory = Some(inv);
        }
        report.sample = Some(sources.sample());
        report.errors = errors;
        pending.push_back(report);
        if pending.len() > MAX_PENDING {
            pending.pop_front();
            tracing::warn!("Report dropped: too many waiting for the collector.");
        }
        let batch = Batch {
            reports: pending.iter().take(MAX_BATCH).cloned().collect(),
        };
        match client.send(&enrollment.credential, &batch).await {
            Outcome::Delivered(ack) => {
                if batch.reports.iter().any(|r| r.inventory.is_some()) {
                    last_inventory = Some(digest);
                }
                pending.retain(|r| !ack.acknowledged.contains(&r.sequence));
                backoff = Duration::from_secs(1);
                tracing::debug!(
                    accepted = ack.accepted,
                    duplicates = ack.duplicates,
                    "Batch delivered."
                );
                if once {
                    return Ok(());
                }
            }
            Outcome::Retry { reason, after } => {
                anyhow::ensure!(!once, "the collector did not take the report: {reason}");
                let wait = after.unwrap_or(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(300));
                tracing::warn!(pending = pending.len(), retry_in = ?wait, "Send failed: {reason}.");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = &mut shutdown => break,
                }
            }
            Outcome::Reject { status, reason } => {
                // Retrying would be refused again; drop the batch so that
                // one bad report does not block every later one.
                let n = batch.reports.len();
                pending.drain(..n.min(pending.len()));
                tracing::error!(
                    status,
                    dropped = n,
                    "The collector refused the batch: {reason}."
                );
                anyhow::ensure!(
                    !once,
                    "the collector refused the report ({status}): {reason}"
                );
            }
        }
    }
    tracing::info!(pending = pending.len(), "Agent stopped.");
    Ok(())
}

/// Identifies an inventory for "has it changed?"; free disk space is
/// rounded to GiB so that ordinary file writes do not resend it every time.
fn inventory_digest(inv: &schoolwatch_protocol::Inventory) -> [u8; 32] {
    let mut inv = inv.clone();
    for d in &mut inv.disks {
        d.available_bytes >>= 30;
    }
    Sha256::digest(serde_json::to_vec(&inv).unwrap_or_default()).into()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
