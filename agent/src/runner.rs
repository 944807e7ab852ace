//! `schoolwatch-agent run`: sample on a schedule, append each report to the
//! durable queue, and ship the queue to the collector.
//!
//! Order of work for every report: take the next sequence number, append
//! the report to the queue (fsynced), then record the sequence in the state
//! directory. Shipping is separate: it sends the newest report first (the
//! current state matters most) plus the oldest backlog, and removes records
//! only when the collector acknowledged them. Failures back off with
//! jittered exponential delays and honour `Retry-After`; a batch refused
//! for good goes to a bounded dead-letter file and is counted.

use crate::collect::Sources;
use crate::config::Config;
use crate::local_page::{LocalPage, SendResult, Snapshot};
use crate::ship::queue::{DropReason, Queue};
use crate::ship::{Client, Enrollment, Outcome, StateDir};
use anyhow::Context;
use schoolwatch_protocol::Report;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Most reports in one request.
const MAX_BATCH_REPORTS: usize = 500;
/// Most bytes of report JSON in one request (before gzip).
const MAX_BATCH_BYTES: usize = 2 << 20;
/// Backoff bounds for failed sends.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Bound on the dead-letter file.
const DEAD_LETTER_MAX_BYTES: u64 = 1 << 20;

/// Runs until `shutdown` (or, with `once`, until one new report has been
/// delivered).
pub async fn run(
    config: Config,
    state: StateDir,
    interval: Duration,
    once: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let enrollment = state.load()?;
    let client = Client::new(&enrollment.collector, state.ca().as_deref(), &config.tls)?;
    let queue_dir = state.path().join("queue");
    let mut queue = Queue::open(&queue_dir, config.queue, state.last_sequence())
        .with_context(|| format!("opening the report queue in {}", queue_dir.display()))?;
    // Posture checks (at start, then every `[security] interval_secs`) and
    // probe rounds run on their own schedules; each result rides the next
    // report.
    let collector_host = reqwest::Url::parse(&enrollment.collector)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    let mut extras = Extras {
        security: crate::collect::security::Background::start(&config.security),
        probes: crate::collect::icmp::Rounds::start(&config.probe, collector_host),
        devices: crate::collect::devices::Background::start(&config.snmp, &config.discovery),
        throughput: None,
    };
    let mut throughput =
        crate::collect::throughput::Schedule::new(config.throughput.clone(), state.path());
    // The local page (only for a running agent, not `--once`).
    let page = if once {
        LocalPage::off()
    } else {
        LocalPage::start(
            config.local_page,
            Snapshot {
                agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                agent_id: enrollment.agent_id.clone(),
                school_id: enrollment.school_id.clone(),
                collector: enrollment.collector.clone(),
                started_ms: now_ms(),
                ..Snapshot::default()
            },
        )
    };
    let mut sources = Sources::new(config).context("reading this machine's system information")?;
    let mut shipper = Shipper::new(client, enrollment);
    tracing::info!(
        agent = %shipper.enrollment.agent_id,
        school = %shipper.enrollment.school_id,
        collector = %shipper.enrollment.collector,
        queued = queue.stats().queued,
        "Agent running."
    );
    let mut last_inventory: Option<[u8; 32]> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    tokio::pin!(shutdown);
    if once {
        // One sample over one interval, then deliver it (and any backlog).
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => return Ok(()),
        }
        let seq = make_report(
            &mut queue,
            &state,
            &mut sources,
            &mut last_inventory,
            &mut extras,
            &shipper,
            &page,
        )?;
        for _ in 0..3 {
            shipper.ship(&mut queue, &state).await?;
            if !queue.is_queued(seq) {
                anyhow::ensure!(
                    !shipper.last_was_final,
                    "the collector refused the report: {}",
                    shipper.last_error
                );
                return Ok(());
            }
            if shipper.failures_in_a_row > 0 {
                tokio::time::sleep_until(shipper.next_send).await;
            }
        }
        anyhow::bail!(
            "the collector did not take the report ({}); it stays queued",
            shipper.last_error
        );
    }
    // At most one batch is on the wire at a time, and it is a future of
    // its own: a send that hangs on a dead link (a dropped route answers
    // nothing until the timeout) must not stop sampling, or the back-fill
    // that tells what kind of outage it was would have holes.
    let mut in_flight: Option<InFlight> = None;
    loop {
        let backlog = queue.stats().queued > 0;
        tokio::select! {
            _ = ticker.tick() => {
                if throughput.due(now_ms()) {
                    let c = throughput.config().clone();
                    match crate::collect::throughput::measure(&shipper.client, &shipper.enrollment.credential, c.download_bytes, c.upload_bytes).await {
                        Ok(t) => {
                            throughput.record(now_ms(), t.download_bytes + t.upload_bytes);
                            tracing::info!(down = t.download_bytes_per_second * 8.0, up = t.upload_bytes_per_second * 8.0, "Throughput measured (bits/s).");
                            extras.throughput = Some(t);
                        }
                        Err(e) => {
                            // Counted against the day: a failing link is not retried every tick.
                            throughput.record(now_ms(), 0);
                            tracing::warn!("Throughput test failed: {e:#}.");
                        }
                    }
                }
                make_report(&mut queue, &state, &mut sources, &mut last_inventory, &mut extras, &shipper, &page)?;
                // A fresh report goes out now unless the collector asked us
                // to wait.
                if shipper.failures_in_a_row == 0 {
                    shipper.next_send = Instant::now();
                }
            }
            _ = tokio::time::sleep_until(shipper.next_send), if backlog && in_flight.is_none() => {
                in_flight = shipper.start(&mut queue)?;
                if in_flight.is_some() {
                    page.update(|s| s.sending(now_ms()));
                }
            }
            (seqs, payloads, outcome) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                let result = send_result(&outcome);
                shipper.finish(&mut queue, &state, seqs, payloads, outcome)?;
                if page.is_on() {
                    let h = queue.health(now_ms(), shipper.send_failures)?;
                    page.update(|s| {
                        s.sent(result, now_ms());
                        s.queue = h;
                    });
                }
            }
            _ = &mut shutdown => break,
        }
    }
    page.shutdown().await;
    tracing::info!(
        queued = queue.stats().queued,
        "Agent stopped; queued reports wait on disk."
    );
    Ok(())
}

/// How a send ended, for the local page.
fn send_result(outcome: &Outcome) -> SendResult {
    match outcome {
        Outcome::Delivered(_) => SendResult::Delivered,
        Outcome::Retry { reason, .. } => SendResult::Failed(reason.clone()),
        Outcome::Reject { status, reason } => SendResult::Refused(format!("{status}: {reason}")),
    }
}

/// What runs beside sampling, on its own schedule, and rides the next
/// report when it has something: posture checks, probe rounds, a
/// throughput test.
struct Extras {
    security: crate::collect::security::Background,
    probes: crate::collect::icmp::Rounds,
    devices: crate::collect::devices::Background,
    throughput: Option<schoolwatch_protocol::Throughput>,
}

/// Samples, builds the next report and appends it; returns its sequence.
/// The local page (when on) gets the report and the queue after it.
fn make_report(
    queue: &mut Queue,
    state: &StateDir,
    sources: &mut Sources,
    last_inventory: &mut Option<[u8; 32]>,
    extras: &mut Extras,
    shipper: &Shipper,
    page: &LocalPage,
) -> anyhow::Result<u64> {
    let seq = queue.last_sequence().max(state.last_sequence()) + 1;
    let mut report = Report::new(shipper.enrollment.agent_id.clone(), seq, now_ms());
    let (inv, errors) = sources.inventory();
    let digest = inventory_digest(&inv);
    let page_inventory = page.is_on().then(|| inv.clone());
    // Send the inventory whole when it changed; the first report after a
    // start always carries it.
    if *last_inventory != Some(digest) {
        report.inventory = Some(inv);
        *last_inventory = Some(digest);
    }
    report.sample = Some(sources.sample());
    report.errors = errors;
    report.health = Some(queue.health(now_ms(), shipper.send_failures)?);
    report.security = extras.security.take();
    report.probes = extras.probes.take();
    report.devices = extras.devices.take();
    report.throughput = extras.throughput.take();
    let payload = serde_json::to_vec(&report).context("encoding a report")?;
    match queue.append(seq, &payload) {
        Ok(()) => {}
        Err(e) => {
            // The agent keeps running; the report is counted as dropped.
            tracing::error!(seq, error = %e, "Report could not be queued; dropped.");
            queue.note_unqueued(seq, DropReason::DiskFull);
        }
    }
    if let Err(e) = state.set_last_sequence(seq) {
        tracing::warn!(error = %e, "Could not record the sequence number; the queue still knows it.");
    }
    // One update with the report and the queue after it, so the page
    // never shows one without the other.
    if let Some(inv) = &page_inventory {
        let h = queue.health(now_ms(), shipper.send_failures)?;
        page.update(|s| {
            s.report(&report, inv);
            s.queue = h;
        });
    }
    Ok(seq)
}

/// Sends the queue to the collector, one batch per call.
struct Shipper {
    client: Client,
    enrollment: Enrollment,
    /// When the next send may start (now, or after a backoff).
    next_send: Instant,
    backoff: Duration,
    send_failures: u64,
    failures_in_a_row: u32,
    last_was_final: bool,
    last_error: String,
    /// A backlog being sent after the collector came back, for the log.
    drain: Option<Drain>,
}

/// Progress of sending a backlog: an IT person reading the journal after
/// an outage sees it go down, and a summary at the end.
struct Drain {
    started: Instant,
    sent: u64,
    last_logged: Instant,
}

impl Drain {
    /// How often progress is logged while a backlog goes out.
    const EVERY: Duration = Duration::from_secs(5);

    /// Counts `sent` more; logs progress now and then, and the summary
    /// when nothing is `left`. Returns whether the drain is over.
    fn delivered(&mut self, sent: u64, left: u64) -> bool {
        self.sent += sent;
        if left == 0 {
            tracing::info!(
                reports = self.sent,
                seconds = self.started.elapsed().as_secs_f64(),
                "Backlog sent: the collector has every report."
            );
            return true;
        }
        if self.last_logged.elapsed() >= Self::EVERY {
            self.last_logged = Instant::now();
            let done = self.sent as f64 / (self.sent + left) as f64;
            tracing::info!(
                sent = self.sent,
                left,
                percent = (done * 100.0).round(),
                "Sending the backlog."
            );
        }
        false
    }
}

impl Shipper {
    fn new(client: Client, enrollment: Enrollment) -> Self {
        Self {
            client,
            enrollment,
            next_send: Instant::now(),
            backoff: BACKOFF_MIN,
            send_failures: 0,
            failures_in_a_row: 0,
            last_was_final: false,
            last_error: String::new(),
            drain: None,
        }
    }

    /// The newest report (fresh state first) and the oldest backlog.
    fn batch(queue: &mut Queue) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let mut batch = queue.oldest(MAX_BATCH_REPORTS)?;
        if let Some(newest) = queue.newest()?
            && !batch.iter().any(|(s, _)| *s == newest.0)
        {
            batch.pop();
            batch.insert(0, newest);
        }
        let mut bytes = 0;
        batch.retain(|(_, p)| {
            bytes += p.len();
            bytes <= MAX_BATCH_BYTES
        });
        Ok(batch)
    }

    /// Sends one batch and handles the outcome.
    async fn ship(&mut self, queue: &mut Queue, state: &StateDir) -> anyhow::Result<()> {
        if let Some(send) = self.start(queue)? {
            let (seqs, payloads, outcome) = send.await;
            self.finish(queue, state, seqs, payloads, outcome)?;
        }
        Ok(())
    }

    /// Takes the next batch from the queue (it stays there until
    /// acknowledged) and returns its send, which owns what it needs.
    fn start(&mut self, queue: &mut Queue) -> anyhow::Result<Option<InFlight>> {
        let batch = Self::batch(queue)?;
        if batch.is_empty() {
            return Ok(None);
        }
        let (seqs, payloads): (Vec<u64>, Vec<Vec<u8>>) = batch.into_iter().unzip();
        queue.begin_send(&seqs);
        let client = self.client.clone();
        let credential = self.enrollment.credential.clone();
        Ok(Some(Box::pin(async move {
            let outcome = client.send_raw(&credential, &payloads).await;
            (seqs, payloads, outcome)
        })))
    }

    /// Acknowledges, retries later or dead-letters a sent batch.
    fn finish(
        &mut self,
        queue: &mut Queue,
        state: &StateDir,
        seqs: Vec<u64>,
        payloads: Vec<Vec<u8>>,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        match outcome {
            Outcome::Delivered(ack) => {
                queue.ack(&ack.acknowledged)?;
                let left = queue.stats().queued;
                tracing::debug!(
                    accepted = ack.accepted,
                    duplicates = ack.duplicates,
                    left,
                    "Batch delivered."
                );
                let sent = ack.acknowledged.len() as u64;
                // More than a batch waiting: a backlog, worth following.
                if self.drain.is_none() && left > 0 && sent + left > MAX_BATCH_REPORTS as u64 {
                    let now = Instant::now();
                    tracing::info!(left, "The collector is reachable; sending the backlog.");
                    self.drain = Some(Drain {
                        started: now,
                        sent: 0,
                        last_logged: now,
                    });
                }
                if let Some(d) = &mut self.drain
                    && d.delivered(sent, left)
                {
                    self.drain = None;
                }
                self.backoff = BACKOFF_MIN;
                self.failures_in_a_row = 0;
                // More backlog goes out at once.
                self.next_send = Instant::now();
            }
            Outcome::Retry { reason, after } => {
                self.send_failures += 1;
                self.failures_in_a_row += 1;
                self.last_was_final = false;
                let wait = after
                    .unwrap_or_else(|| jitter(self.backoff))
                    .min(BACKOFF_MAX);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                tracing::warn!(queued = queue.stats().queued, retry_in = ?wait, "Send failed: {reason}.");
                self.last_error = reason;
                self.next_send = Instant::now() + wait;
            }
            Outcome::Reject { status, reason } => {
                self.failures_in_a_row += 1;
                self.last_was_final = true;
                tracing::error!(
                    status,
                    dropped = seqs.len(),
                    "The collector refused the batch for good: {reason}."
                );
                dead_letter(state, status, &reason, &payloads);
                queue.drop_reports(&seqs, DropReason::Rejected)?;
                self.last_error = format!("{status}: {reason}");
                self.next_send = Instant::now();
            }
        }
        queue.end_send();
        Ok(())
    }
}

/// A batch on the wire: its sequences, its payloads and, when done, the
/// collector's answer.
type InFlight =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Vec<u64>, Vec<Vec<u8>>, Outcome)> + Send>>;

/// A random delay between half and all of `d` ("equal jitter"), so agents
/// that lost the collector together do not all come back together (the
/// collector's remote_write senders back off the same way).
pub fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 8];
    let r = if getrandom::fill(&mut b).is_ok() {
        u64::from_le_bytes(b)
    } else {
        now_ms()
    };
    let half = d / 2;
    half + Duration::from_nanos(r % (half.as_nanos().max(1) as u64))
}

/// Keeps refused reports for inspection, up to a bound.
fn dead_letter(state: &StateDir, status: u16, reason: &str, payloads: &[Vec<u8>]) {
    use std::io::Write;
    let path = state.path().join("dead-letter.jsonl");
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    if size > DEAD_LETTER_MAX_BYTES {
        return;
    }
    let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    for p in payloads {
        let line = serde_json::json!({
            "status": status,
            "reason": reason,
            "report": String::from_utf8_lossy(p),
        });
        let _ = writeln!(f, "{line}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_counts_what_was_sent_and_ends_when_nothing_is_left() {
        let now = Instant::now();
        let mut d = Drain {
            started: now,
            sent: 0,
            last_logged: now,
        };
        assert!(!d.delivered(500, 1_200));
        assert!(!d.delivered(500, 700));
        assert!(d.delivered(700, 0));
        assert_eq!(d.sent, 1_700);
    }

    #[test]
    fn jitter_stays_between_half_and_whole() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(8));
            assert!(
                j >= Duration::from_secs(4) && j < Duration::from_secs(8),
                "{j:?}"
            );
        }
    }
}
