//! Ground truth: what the collector should show for each simulated school
//! after the run, from what the simulator made and what the collector
//! acknowledged, with the collector's own coverage rules
//! ([`coverage::meets_minimum`], [`coverage::meets_baseline`]) applied to
//! the simulated machines.
//!
//! Written as JSON with `--truth FILE`; `tests/tests/sim.rs` compares it
//! with `schoolwatch-collector coverage --format json`.

use crate::ship::{HostResult, Shared};
use schoolwatch_collector::coverage::{self, HostFacts};
use schoolwatch_collector::targets::Targets;
use schoolwatch_protocol::Role;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The seed the fleet follows from.
    pub seed: u64,
    /// The collector's base URL.
    pub collector: String,
    /// Fleet time of the start of the run, ms since the Unix epoch.
    pub fleet_start_ms: u64,
    /// Fleet time of the end of the run.
    pub fleet_end_ms: u64,
    /// Fleet time between two reports of a host, seconds.
    pub interval_secs: f64,
    /// Fleet seconds per wall second.
    pub speed: f64,
    /// Wall-clock length of the run, seconds.
    pub wall_secs: f64,
    /// Per school, in registry order.
    pub schools: Vec<SchoolTruth>,
    /// Sums over the schools.
    pub totals: Counts,
    /// Why requests failed or were refused (the latest reason of each
    /// host, distinct, at most [`MAX_ERRORS`]).
    pub errors: Vec<String>,
}

/// Most distinct error messages kept in [`Truth::errors`].
pub const MAX_ERRORS: usize = 5;

/// One school after the run.
#[derive(Debug, Clone, Serialize)]
pub struct SchoolTruth {
    /// Registry id.
    pub id: String,
    /// District.
    pub district: String,
    /// Link kind from the registry.
    pub link_kind: &'static str,
    /// Download capacity the simulation gave its link, Mbit/s.
    pub link_mbps: f64,
    /// Hosts simulated (all enrolled).
    pub hosts: u32,
    /// Hosts the collector should count as reporting: at least one report
    /// and the inventory acknowledged.
    pub hosts_reporting: u32,
    /// Of those, machines meeting the minimum configuration of the targets.
    pub machines_meeting_min: u32,
    /// Of those, lab PCs.
    pub lab_pcs_reporting: u32,
    /// Reporting hosts whose posture checks were acknowledged.
    pub machines_security_reporting: u32,
    /// Of those, hosts whose newest acknowledged checks meet the baseline.
    pub machines_security_baseline_met: u32,
    /// The school's measured download, Mbit/s, when its test was
    /// acknowledged.
    pub measured_download_mbps: Option<f64>,
    /// The measured download meets the target; `None` when not measured.
    pub bandwidth_on_target: Option<bool>,
    /// When the school's link was down (ms since the epoch, fleet time;
    /// the end may lie after the run).
    pub outage: Option<OutageTruth>,
    /// The link was still down at the end: the school should show offline
    /// once the collector's online window has passed since `silent_secs`
    /// began.
    pub in_outage_at_end: bool,
    /// Wall-clock seconds from the school's last acknowledged report to
    /// the end of the run; `None` when nothing was acknowledged.
    pub silent_secs: Option<f64>,
    /// What became of its reports.
    pub reports: Counts,
}

/// An outage in fleet time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutageTruth {
    /// Start, ms since the epoch.
    pub start_ms: u64,
    /// End, ms since the epoch (`null` for a school without any link).
    pub end_ms: Option<u64>,
}

/// Report counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Made by the hosts.
    pub made: u64,
    /// Carried by requests (retries count again).
    pub sent: u64,
    /// Acknowledged by the collector.
    pub acked: u64,
    /// Of those, new to the collector.
    pub accepted: u64,
    /// Of those, already stored.
    pub duplicates: u64,
    /// Refused for good.
    pub refused: u64,
    /// Still waiting at the end.
    pub queued: u64,
    /// Requests made.
    pub requests: u64,
    /// Requests that failed and were to be retried.
    pub retries: u64,
}

impl Counts {
    fn add(&mut self, r: &HostResult) {
        self.made += r.made;
        self.sent += r.sent;
        self.acked += r.acked;
        self.accepted += r.accepted;
        self.duplicates += r.duplicates;
        self.refused += r.refused;
        self.queued += r.queued_at_end;
        self.requests += r.requests;
        self.retries += r.retries;
    }

    fn sum(&mut self, o: &Counts) {
        self.made += o.made;
        self.sent += o.sent;
        self.acked += o.acked;
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.refused += o.refused;
        self.queued += o.queued;
        self.requests += o.requests;
        self.retries += o.retries;
    }
}

/// Tallies the hosts' results (indexed like the fleet's hosts).
pub fn tally(
    shared: &Shared,
    results: &[HostResult],
    targets: &Targets,
    seed: u64,
    ended: Instant,
) -> Truth {
    let fleet = &shared.fleet;
    let b = shared.builder();
    let mut schools = Vec::with_capacity(fleet.schools.len());
    let mut totals = Counts::default();
    for s in &fleet.schools {
        let mut t = SchoolTruth {
            id: s.school.id.clone(),
            district: s.school.district.clone(),
            link_kind: s.school.link_kind.as_str(),
            link_mbps: s.link_mbps,
            hosts: s.hosts.len() as u32,
            hosts_reporting: 0,
            machines_meeting_min: 0,
            lab_pcs_reporting: 0,
            machines_security_reporting: 0,
            machines_security_baseline_met: 0,
            measured_download_mbps: None,
            bandwidth_on_target: None,
            outage: s.outage.map(|o| OutageTruth {
                start_ms: shared.clock.unix_ms(o.start_ms),
                end_ms: (o.end_ms != u64::MAX).then(|| shared.clock.unix_ms(o.end_ms)),
            }),
            in_outage_at_end: s
                .outage
                .is_some_and(|o| (o.start_ms..o.end_ms).contains(&fleet.duration_ms)),
            silent_secs: None,
            reports: Counts::default(),
        };
        let mut last_ack: Option<Instant> = None;
        for h in s.hosts.clone() {
            let r = &results[h];
            t.reports.add(r);
            last_ack = last_ack.max(r.last_ack);
            if r.acked == 0 || !r.inventory_acked {
                continue;
            }
            let host = &fleet.hosts[h];
            let security_met = r.last_security_k.and_then(|k| {
                coverage::meets_baseline(&b.checks(h, k), &targets.security.baseline)
            });
            // The collector totals a host's disks (store ingest).
            let facts = HostFacts {
                role: host.role,
                memory_total_bytes: host.hardware.memory_total_bytes,
                logical_cores: host.hardware.logical_cores,
                disk_total_bytes: host.hardware.disks.iter().map(|(b, _)| b).sum(),
                security_baseline_met: security_met,
            };
            t.hosts_reporting += 1;
            t.machines_meeting_min += u32::from(coverage::meets_minimum(&facts, &targets.machine));
            t.lab_pcs_reporting += u32::from(host.role == Role::Lab);
            t.machines_security_reporting += u32::from(security_met.is_some());
            t.machines_security_baseline_met += u32::from(security_met == Some(true));
            if let Some(mbps) = b.measured_download_mbps(h) {
                t.measured_download_mbps = Some(mbps);
                t.bandwidth_on_target = Some(mbps >= targets.link.min_download_mbps);
            }
        }
        t.silent_secs = last_ack.map(|a| ended.saturating_duration_since(a).as_secs_f64());
        totals.sum(&t.reports);
        schools.push(t);
    }
    let mut errors: Vec<String> = Vec::new();
    for e in results.iter().filter_map(|r| r.last_error.as_ref()) {
        if errors.len() < MAX_ERRORS && !errors.contains(e) {
            errors.push(e.clone());
        }
    }
    Truth {
        errors,
        seed,
        collector: shared.collector.clone(),
        fleet_start_ms: shared.clock.fleet_start_ms,
        fleet_end_ms: shared.clock.unix_ms(fleet.duration_ms),
        interval_secs: fleet.interval_ms as f64 / 1000.0,
        speed: shared.clock.speed(),
        wall_secs: ended
            .saturating_duration_since(shared.clock.wall_start())
            .as_secs_f64(),
        schools,
        totals,
    }
}

impl Truth {
    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let hosts: u32 = self.schools.iter().map(|s| s.hosts).sum();
        let reporting: u32 = self.schools.iter().map(|s| s.hosts_reporting).sum();
        let meeting: u32 = self.schools.iter().map(|s| s.machines_meeting_min).sum();
        let sec: u32 = self
            .schools
            .iter()
            .map(|s| s.machines_security_reporting)
            .sum();
        let sec_ok: u32 = self
            .schools
            .iter()
            .map(|s| s.machines_security_baseline_met)
            .sum();
        let dark: Vec<&str> = self
            .schools
            .iter()
            .filter(|s| s.in_outage_at_end)
            .map(|s| s.id.as_str())
            .collect();
        let recovered = self
            .schools
            .iter()
            .filter(|s| s.outage.is_some() && !s.in_outage_at_end)
            .count();
        let fleet = Duration::from_millis(self.fleet_end_ms - self.fleet_start_ms);
        let rate = t.acked as f64 / self.wall_secs.max(0.001);
        let mut out = format!(
            "Simulated {hosts} hosts in {} schools (seed {}): {} of fleet time at {}x in {:.1} s of wall time.\n\
             Reports: {} made, {} acknowledged ({} new, {} already stored), {} refused, {} still queued; \
             {} requests, {} retried; {:.0} reports/s acknowledged.\n\
             Hosts reporting: {reporting} of {hosts}; {meeting} meet the minimum machine configuration; \
             {sec_ok} of {sec} with posture checks meet the security baseline.\n\
             Outages: {recovered} schools lost their link and got it back; {} still without a link at the end{}.",
            self.schools.len(),
            self.seed,
            humantime::format_duration(fleet),
            self.speed,
            self.wall_secs,
            t.made,
            t.acked,
            t.accepted,
            t.duplicates,
            t.refused,
            t.queued,
            t.requests,
            t.retries,
            rate,
            dark.len(),
            if dark.is_empty() {
                String::new()
            } else {
                format!(
                    " ({}{}; they show offline once the collector's online window has passed since their last report)",
                    dark.iter().take(10).copied().collect::<Vec<_>>().join(", "),
                    if dark.len() > 10 { ", ..." } else { "" }
                )
            }
        );
        out.push('\n');
        for e in &self.errors {
            out.push_str(&format!("Error seen: {e}\n"));
        }
        out
    }
}
