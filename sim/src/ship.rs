//! Enrollment and delivery for every simulated host, through the agent's
//! own HTTPS client ([`Client`]): the real enroll endpoint with the
//! school's token and the host's fingerprint, then the real report
//! endpoint with the host's credential, gzip-compressed batches, and the
//! agent's retry decision (`Delivered`, `Retry`, `Reject`).
//!
//! Each host is one task that sleeps until its next report is due in fleet
//! time. All hosts share one [`Client`], so one connection pool, and a
//! semaphore bounds the requests in flight. A host whose school's link is
//! down (a WAN or LAN outage) keeps making reports and sends nothing; when
//! the link is back its next report goes out with the backlog, as the
//! agent's runner does. A host whose power is cut makes no reports until
//! it is back, then starts again like a booting agent: its first report
//! carries the inventory and posture checks, and its sequence numbers go
//! on without a gap.

use crate::clock::Clock;
use crate::fleet::Fleet;
use crate::progress::Live;
use crate::report::Builder;
use crate::spool::{SendCounts, Spool};
use anyhow::Context;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use schoolwatch_agent::ship::{Client, Enrollment, Outcome, StateDir};
use schoolwatch_protocol::api::EnrollRequest;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Backoff bounds for failed sends, as the agent's runner.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Attempts at one enrollment before the run gives up.
const ENROLL_ATTEMPTS: u32 = 3;

/// What every host task shares.
pub struct Shared {
    /// The one client: one connection pool for the whole fleet.
    pub client: Client,
    /// The collector's base URL.
    pub collector: String,
    /// The host name in it, which the collector probes name.
    pub collector_host: String,
    /// The fleet.
    pub fleet: Fleet,
    /// Fleet time against the wall clock.
    pub clock: Clock,
    /// Fleet time between posture reports, ms.
    pub security_every_ms: u64,
    /// Fleet time between devices pictures of a school's server, ms.
    pub devices_every_ms: u64,
    /// The security baseline (see [`Builder::baseline`]).
    pub baseline: Vec<String>,
    /// Bounds the requests in flight.
    pub permits: Semaphore,
    /// Counters for the progress display.
    pub live: Arc<Live>,
    /// Cancelled on Ctrl-C: hosts stop at once, backlog stays.
    pub cancel: CancellationToken,
    /// How long hosts may go on sending their backlog after the run's
    /// fleet time is over.
    pub drain: Duration,
}

impl Shared {
    /// The report builder of this run.
    pub fn builder(&self) -> Builder<'_> {
        Builder {
            fleet: &self.fleet,
            fleet_start_ms: self.clock.fleet_start_ms,
            security_every_ms: self.security_every_ms,
            baseline: &self.baseline,
            collector_host: &self.collector_host,
            devices_every_ms: self.devices_every_ms,
        }
    }
}

/// The host name of a collector URL, as the agent's runner takes it for
/// its collector probe: no scheme, credentials, port or path, and an IPv6
/// address without its brackets.
pub fn collector_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    host.to_ascii_lowercase()
}

/// A host's credential.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Agent id issued by the collector.
    pub agent_id: String,
    /// The secret for every request.
    pub credential: String,
    /// The collector already knew this fingerprint in this school.
    pub reenrolled: bool,
}

/// What enrollment needs, before the run's [`Shared`] exists.
pub struct Enroller<'a> {
    /// The client the run will use.
    pub client: &'a Client,
    /// The collector's base URL, saved with each credential.
    pub collector: &'a str,
    /// The fleet.
    pub fleet: &'a Fleet,
    /// Bounds the requests in flight.
    pub permits: &'a Semaphore,
    /// The CA, saved in each host's state directory.
    pub ca_pem: Option<&'a [u8]>,
}

impl Enroller<'_> {
    /// Enrolls host `h` with `token`, or, with a state directory that holds
    /// a credential for this collector and school, reuses it (as a
    /// restarted agent does).
    pub async fn enroll(
        &self,
        h: usize,
        token: &str,
        state: Option<&StateDir>,
    ) -> anyhow::Result<Enrolled> {
        let host = &self.fleet.hosts[h];
        let school = &self.fleet.schools[host.school].school.id;
        if let Some(state) = state
            && let Ok(e) = state.load()
            && e.collector == self.collector
            && &e.school_id == school
        {
            return Ok(Enrolled {
                agent_id: e.agent_id,
                credential: e.credential,
                reenrolled: false,
            });
        }
        let req = EnrollRequest {
            token: token.to_owned(),
            fingerprint: host.fingerprint.clone(),
            hostname: host.hostname.clone(),
        };
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let r = {
                let _permit = self.permits.acquire().await?;
                self.client.enroll(&req).await
            };
            match r {
                Ok(resp) => break resp,
                Err(e) if attempt >= ENROLL_ATTEMPTS => {
                    return Err(e).with_context(|| {
                        format!("enrolling {} into school {school}", host.hostname)
                    });
                }
                // The client does not tell a refused token from a network
                // problem, so both get a few attempts.
                Err(_) => tokio::time::sleep(BACKOFF_MIN * attempt).await,
            }
        };
        if let Some(state) = state {
            let e = Enrollment {
                collector: self.collector.to_owned(),
                agent_id: resp.agent_id.clone(),
                school_id: resp.school_id.clone(),
                credential: resp.credential.clone(),
            };
            tokio::task::block_in_place(|| state.save(&e, self.ca_pem))
                .with_context(|| format!("saving the credential of {}", host.hostname))?;
        }
        Ok(Enrolled {
            agent_id: resp.agent_id,
            credential: resp.credential,
            reenrolled: resp.reenrolled,
        })
    }
}

/// Where host `h` keeps its state under `--queue-dir`.
pub fn state_dir(root: &Path, fleet: &Fleet, h: usize) -> StateDir {
    let host = &fleet.hosts[h];
    StateDir::new(
        root.join(&fleet.schools[host.school].school.id)
            .join(&host.hostname),
    )
}

/// What became of one host's reports.
#[derive(Debug, Clone, Default)]
pub struct HostResult {
    /// Reports made in this run.
    pub made: u64,
    /// Reports carried by requests (a report retried counts again).
    pub sent: u64,
    /// Requests made.
    pub requests: u64,
    /// Reports the collector acknowledged.
    pub acked: u64,
    /// Of those, new to the collector.
    pub accepted: u64,
    /// Of those, stored before (re-sent, or an earlier run's numbers).
    pub duplicates: u64,
    /// Reports refused for good (4xx other than 408/429).
    pub refused: u64,
    /// Requests that failed and will be retried (network, 408, 429, 5xx).
    pub retries: u64,
    /// Reports still waiting when the run ended.
    pub queued_at_end: u64,
    /// A report with the inventory (the first after the agent started)
    /// was acknowledged.
    pub inventory_acked: bool,
    /// Tick of the newest acknowledged report with posture checks.
    pub last_security_k: Option<u64>,
    /// Tick of the newest acknowledged report: the one whose probes the
    /// collector keeps (it keeps the highest sequence's).
    pub last_acked_k: Option<u64>,
    /// The school's devices in at least one acknowledged devices picture
    /// (bit `i` for device `i` of its [`crate::devices::DeviceSet`]): what
    /// the collector has on record.
    pub devices_seen: u64,
    /// Tick of the newest acknowledged report with a devices picture: the
    /// one the collector's device states and missing devices follow.
    pub last_devices_k: Option<u64>,
    /// When the collector last acknowledged something of this host.
    pub last_ack: Option<Instant>,
    /// The latest reason a request failed or was refused.
    pub last_error: Option<String>,
}

/// A host's sending state.
struct Sender {
    agent: Enrolled,
    backoff: Duration,
    failures_in_a_row: u32,
    next_send: Instant,
    counts: SendCounts,
    jitter: Xoshiro256PlusPlus,
    result: HostResult,
}

/// Runs host `h` through the run: one report per interval of fleet time,
/// each sent when the school's link is up, then the backlog for at most
/// [`Shared::drain`].
pub async fn run_host(
    shared: Arc<Shared>,
    h: usize,
    agent: Enrolled,
    mut spool: Spool,
) -> anyhow::Result<HostResult> {
    let fleet = &shared.fleet;
    let b = shared.builder();
    let n = fleet.ticks(h);
    let mut s = Sender {
        agent,
        backoff: BACKOFF_MIN,
        failures_in_a_row: 0,
        next_send: Instant::now(),
        counts: SendCounts::default(),
        jitter: Xoshiro256PlusPlus::seed_from_u64(fleet.hosts[h].noise_seed ^ 0x5E4D),
        result: HostResult::default(),
    };
    let first_seq = spool.first_seq();
    let mut k = 0;
    while k < n {
        if !fleet.makes(h, k) {
            // Switched off: no report, no number.
            k += 1;
            continue;
        }
        if k > 0 && fleet.starts_agent(h, k) {
            // Booted after a power cut: the agent's counters start again.
            s.counts.send_failures = 0;
        }
        let due = shared.clock.instant_at(fleet.tick_ms(h, k));
        let link_up = fleet.link_up(h, shared.clock.offset_now().min(fleet.duration_ms));
        let retry = s.failures_in_a_row > 0 && !spool.is_empty() && link_up;
        tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => break,
            _ = tokio::time::sleep_until(s.next_send), if retry => {
                s.ship(&shared, &b, h, first_seq, &mut spool).await?;
            }
            _ = tokio::time::sleep_until(due) => {
                let seq = first_seq + s.result.made;
                spool.push(&b, h, k, seq, &s.agent.agent_id, s.counts)?;
                s.result.made += 1;
                shared.live.made.fetch_add(1, Ordering::Relaxed);
                let up = fleet.link_up(h, fleet.tick_ms(h, k));
                k += 1;
                if !up {
                    // The agent would try, fail to connect and back off.
                    s.counts.send_failures += 1;
                } else if s.failures_in_a_row == 0 || Instant::now() >= s.next_send {
                    s.ship(&shared, &b, h, first_seq, &mut spool).await?;
                }
            }
        }
    }
    // Fleet time is over: send what is left while the link is up at the
    // end, within the drain time. The host's last tick may come a little
    // before the end, and before its link is back: the backlog goes at the
    // end.
    if !spool.is_empty() && fleet.link_up(h, fleet.duration_ms) {
        tokio::select! {
            _ = shared.cancel.cancelled() => {}
            _ = tokio::time::sleep_until(shared.clock.instant_at(fleet.duration_ms)) => {}
        }
    }
    let deadline = Instant::now() + shared.drain;
    if fleet.link_up(h, fleet.duration_ms) {
        while !spool.is_empty() && !shared.cancel.is_cancelled() {
            if s.failures_in_a_row > 0 {
                if s.next_send >= deadline {
                    break;
                }
                tokio::select! {
                    _ = shared.cancel.cancelled() => break,
                    _ = tokio::time::sleep_until(s.next_send) => {}
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            let before = spool.len();
            s.ship(&shared, &b, h, first_seq, &mut spool).await?;
            if s.failures_in_a_row == 0 && spool.len() >= before {
                // Delivered but not acknowledged: no use asking again.
                break;
            }
        }
    }
    s.result.queued_at_end = spool.len();
    spool.close(s.result.made)?;
    Ok(s.result)
}

// === impl Sender ===

impl Sender {
    /// Sends batches until the spool is empty or a send fails.
    async fn ship(
        &mut self,
        shared: &Shared,
        b: &Builder<'_>,
        h: usize,
        first_seq: u64,
        spool: &mut Spool,
    ) -> anyhow::Result<()> {
        loop {
            let batch = spool.batch(b, h, &self.agent.agent_id)?;
            if batch.is_empty() {
                return Ok(());
            }
            let (seqs, payloads): (Vec<u64>, Vec<Vec<u8>>) = batch.into_iter().unzip();
            let outcome = {
                let _permit = shared.permits.acquire().await?;
                shared
                    .client
                    .send_raw(&self.agent.credential, &payloads)
                    .await
            };
            let live = &shared.live;
            self.result.requests += 1;
            self.result.sent += seqs.len() as u64;
            live.requests.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Outcome::Delivered(ack) => {
                    spool.ack(&ack.acknowledged)?;
                    let n = ack.acknowledged.iter().filter(|s| seqs.contains(s)).count() as u64;
                    self.result.acked += n;
                    self.result.accepted += u64::from(ack.accepted);
                    self.result.duplicates += u64::from(ack.duplicates);
                    live.acked.fetch_add(n, Ordering::Relaxed);
                    for seq in &ack.acknowledged {
                        // Numbers before the run's are an earlier run's.
                        let Some(i) = seq.checked_sub(first_seq) else {
                            continue;
                        };
                        let k = b.fleet.tick_of_report(h, i);
                        self.result.inventory_acked |= b.carries_inventory(h, k);
                        if b.carries_security(h, k) {
                            self.result.last_security_k = self.result.last_security_k.max(Some(k));
                        }
                        self.result.last_acked_k = self.result.last_acked_k.max(Some(k));
                        if b.carries_devices(h, k) {
                            self.result.devices_seen |= b.devices_present(h, k);
                            self.result.last_devices_k = self.result.last_devices_k.max(Some(k));
                        }
                    }
                    self.result.last_ack = Some(Instant::now());
                    self.backoff = BACKOFF_MIN;
                    self.failures_in_a_row = 0;
                    if n < seqs.len() as u64 {
                        // Part of the batch was not acknowledged; it stays
                        // and goes with the next report rather than in a
                        // tight loop.
                        return Ok(());
                    }
                }
                Outcome::Retry { reason, after } => {
                    self.counts.send_failures += 1;
                    self.failures_in_a_row += 1;
                    self.result.retries += 1;
                    live.retries.fetch_add(1, Ordering::Relaxed);
                    // "Equal jitter": between half and all of the backoff.
                    let half = self.backoff / 2;
                    let jittered = half + half.mul_f64(self.jitter.random_range(0.0..1.0));
                    let wait = after.unwrap_or(jittered).min(BACKOFF_MAX);
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                    self.next_send = Instant::now() + wait;
                    self.result.last_error = Some(reason);
                    return Ok(());
                }
                Outcome::Reject { status, reason } => {
                    spool.reject(&seqs)?;
                    let n = seqs.len() as u64;
                    self.counts.dropped_rejected += n;
                    self.result.refused += n;
                    live.refused.fetch_add(n, Ordering::Relaxed);
                    self.result.last_error = Some(format!("HTTP {status}: {reason}"));
                }
            }
        }
    }
}

/// Enrollment tokens by school id, from `--tokens`: CSV rows
/// `school_id,token`, with or without that header line.
pub fn parse_tokens(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = HashMap::new();
    for (i, row) in r.records().enumerate() {
        let row = row.context("reading the tokens CSV")?;
        let line = row.position().map_or(i as u64 + 1, |p| p.line());
        match (row.get(0), row.get(1), row.len()) {
            (Some("school_id"), Some("token"), 2) if i == 0 => continue,
            (Some(school), Some(token), 2) if !school.is_empty() && !token.is_empty() => {
                anyhow::ensure!(
                    out.insert(school.to_owned(), token.to_owned()).is_none(),
                    "line {line}: a second token for school {school}"
                );
            }
            _ => anyhow::bail!("line {line}: expected `school_id,token`"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_or_without_a_header() {
        let t = parse_tokens("school_id,token\ngl-0001,swt_a\n gl-0002 , swt_b \n").unwrap();
        assert_eq!(t["gl-0001"], "swt_a");
        assert_eq!(t["gl-0002"], "swt_b");
        assert_eq!(parse_tokens("gl-0001,swt_a\n").unwrap().len(), 1);
        let e = parse_tokens("gl-0001,swt_a\ngl-0001,swt_c\n").unwrap_err();
        assert!(e.to_string().contains("second token"), "{e}");
        let e = parse_tokens("gl-0001\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn the_collector_host_as_the_agent_takes_it() {
        for (url, host) in [
            ("https://collector.example:8443", "collector.example"),
            ("https://Collector.Example/api/", "collector.example"),
            ("https://127.0.0.1:8443", "127.0.0.1"),
            ("https://[::1]:8443/x", "::1"),
            ("https://user@10.0.0.5", "10.0.0.5"),
        ] {
            assert_eq!(collector_host(url), host, "{url}");
        }
    }
}
