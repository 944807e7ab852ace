//! Ground truth: what the collector should show for each simulated school
//! after the run, from what the simulator made and what the collector
//! acknowledged, with the collector's own coverage rules
//! ([`coverage::meets_minimum`], [`coverage::meets_baseline`]) applied to
//! the simulated machines.
//!
//! Written as JSON with `--truth FILE`; `tests/tests/sim.rs` compares it
//! with `schoolwatch-collector coverage --format json` and `coverage
//! --outages`.

use crate::fleet::{OutageKind, SimSchool};
use crate::report::Builder;
use crate::ship::{HostResult, Shared};
use schoolwatch_collector::coverage::{self, HostFacts};
use schoolwatch_collector::targets::Targets;
use schoolwatch_protocol::{ProbeKind, ProbeResult, Role};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// When the school was dark and why: the outages that ended during the
    /// run, and the one still going at its end, oldest first.
    pub outages: Vec<OutageTruth>,
    /// It was still dark at the end: the school should show offline once
    /// the collector's online window has passed since `silent_secs` began.
    pub in_outage_at_end: bool,
    /// Its path to the collector as its hosts' newest acknowledged reports
    /// probed it (the collector keeps each host's newest probe round):
    /// over its hosts when it was not dark at the end, which the collector
    /// counts online; `None` when it was dark (the collector shows none
    /// once the online window has passed) or nothing was acknowledged.
    pub collector_path: Option<PathTruth>,
    /// Wall-clock seconds from the school's last acknowledged report to
    /// the end of the run; `None` when nothing was acknowledged.
    pub silent_secs: Option<f64>,
    /// Its network devices as the collector should have them; `None`
    /// when it has no server to report them (or with `--no-devices`).
    pub devices: Option<DevicesTruth>,
    /// Network devices the registry expects (`expected_devices`, 0 when
    /// it does not say).
    pub devices_expected: u32,
    /// Equipment the registry expects: lab PCs and network devices.
    pub equipment_expected: u32,
    /// Equipment with a digital record, as the collector counts it:
    /// reporting hosts plus devices on record, at most
    /// `equipment_expected`.
    pub equipment_recorded: u32,
    /// What became of its reports.
    pub reports: Counts,
}

/// A school's network devices at the end of the run, from the pictures
/// its server's acknowledged reports carried.
#[derive(Debug, Clone, Serialize)]
pub struct DevicesTruth {
    /// Devices the school has in the simulation (fewer than expected at
    /// some schools).
    pub installed: u32,
    /// Devices on record: in at least one acknowledged picture.
    pub known: u32,
    /// Those by kind (the kind the agent gave them in the newest
    /// acknowledged picture that held them).
    pub by_kind: BTreeMap<&'static str, u32>,
    /// Those by kind and vendor (`unknown` without one), as the
    /// collector's `schoolwatch_school_devices{kind,vendor}` counts them.
    pub by_kind_vendor: Vec<KindVendor>,
    /// Devices on record that the newest acknowledged picture lacks.
    pub missing: u32,
    /// UPS units on battery in the newest acknowledged picture.
    pub ups_on_battery: u32,
    /// The uplink port's rates in the newest acknowledged picture;
    /// `None` when it had none (no picture, the first poll after the
    /// agent started, or the poll failed).
    pub uplink: Option<UplinkTruth>,
    /// Sampling time of the newest acknowledged picture, ms since the
    /// epoch.
    pub last_picture_ms: Option<u64>,
}

/// A count of devices of one kind and vendor.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct KindVendor {
    /// The kind's label value.
    pub kind: &'static str,
    /// The vendor from the MAC's OUI, `unknown` without one.
    pub vendor: String,
    /// Devices.
    pub count: u32,
}

/// The school's uplink in a picture.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UplinkTruth {
    /// Into the school, bits/s.
    pub receive_bps: f64,
    /// Out of the school, bits/s.
    pub transmit_bps: f64,
    /// The port's speed, bits/s.
    pub speed_bps: f64,
}

/// An outage in fleet time.
///
/// What the collector records differs in two ways: it measures by when
/// reports ARRIVE, so its outage starts at the school's last report before
/// (up to an interval earlier) and ends at the first report after (up to
/// an interval later), and it records one only when that silence is
/// longer than its online window in wall time (`wall_secs`, at `--speed`)
/// and the school had reported before (`after_first_report`). It
/// classifies one that ended from the reports SAMPLED in its middle half,
/// which match these kinds only when fleet time is wall time (`--speed
/// 1`); one still going on is `unknown` there.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutageTruth {
    /// Why the school was dark.
    pub kind: OutageKind,
    /// Start, ms since the epoch.
    pub start_ms: u64,
    /// End, ms since the epoch; `null` while it was still going on at the
    /// end of the run.
    pub end_ms: Option<u64>,
    /// Its length within the run in wall-clock seconds (fleet time divided
    /// by the speed).
    pub wall_secs: f64,
    /// A host of the school made a report before it began, so the
    /// collector knew the school and can see the silence.
    pub after_first_report: bool,
    /// It ended and a host of the school made a report after that within
    /// the run. Only then does the collector see a power cut end; a WAN or
    /// LAN outage that ended also shows as ended, by its backlog sent at
    /// the end of the run.
    pub reported_after: bool,
}

/// Loss and latency to the collector, as the collector sums them up over
/// a school's online hosts' newest collector probes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PathTruth {
    /// Mean share of echo requests lost.
    pub loss_ratio: f64,
    /// Mean of the median round trips, seconds; `None` if all were lost.
    pub rtt_median_seconds: Option<f64>,
    /// Hosts whose probes were summed.
    pub hosts: u32,
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
            outages: s
                .outage
                .map(|o| {
                    let ended = o.end_ms <= fleet.duration_ms;
                    let until = o.end_ms.min(fleet.duration_ms);
                    OutageTruth {
                        kind: o.kind,
                        start_ms: shared.clock.unix_ms(o.start_ms),
                        end_ms: ended.then(|| shared.clock.unix_ms(o.end_ms)),
                        wall_secs: until.saturating_sub(o.start_ms) as f64
                            / 1000.0
                            / shared.clock.speed(),
                        after_first_report: s
                            .hosts
                            .clone()
                            .any(|h| fleet.ticks(h) > 0 && fleet.tick_ms(h, 0) < o.start_ms),
                        reported_after: ended
                            && s.hosts.clone().any(|h| {
                                fleet.ticks(h) > 0
                                    && fleet.tick_ms(h, fleet.ticks(h) - 1) >= o.end_ms
                            }),
                    }
                })
                .into_iter()
                .collect(),
            in_outage_at_end: s.outage.is_some_and(|o| o.covers(fleet.duration_ms)),
            collector_path: None,
            silent_secs: None,
            devices: None,
            devices_expected: s.school.expected_devices,
            equipment_expected: s
                .school
                .expected_lab_pcs
                .saturating_add(s.school.expected_devices),
            equipment_recorded: 0,
            reports: Counts::default(),
        };
        let mut last_ack: Option<Instant> = None;
        let mut path = PathSum::default();
        for h in s.hosts.clone() {
            let r = &results[h];
            t.reports.add(r);
            last_ack = last_ack.max(r.last_ack);
            if !t.in_outage_at_end
                && let Some(k) = r.last_acked_k
            {
                path.add(&b.probes(h, k));
            }
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
        t.collector_path = path.mean();
        t.devices = devices_truth(&b, s, results);
        let known = t.devices.as_ref().map_or(0, |d| d.known);
        t.equipment_recorded = t
            .hosts_reporting
            .saturating_add(known)
            .min(t.equipment_expected);
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

/// What the collector should have of school `s`'s devices, from what its
/// server's acknowledged pictures held.
fn devices_truth(b: &Builder<'_>, s: &SimSchool, results: &[HostResult]) -> Option<DevicesTruth> {
    let set = s.devices.as_ref()?;
    let h = s
        .hosts
        .clone()
        .find(|&h| b.fleet.hosts[h].role == Role::Server)?;
    let r = &results[h];
    let mut t = DevicesTruth {
        installed: set.devices.len() as u32,
        known: 0,
        by_kind: BTreeMap::new(),
        by_kind_vendor: Vec::new(),
        missing: 0,
        ups_on_battery: 0,
        uplink: None,
        last_picture_ms: None,
    };
    let Some(k) = r.last_devices_k else {
        return Some(t);
    };
    t.last_picture_ms = Some(b.fleet_start_ms + b.fleet.tick_ms(h, k));
    let last = b.devices(h, k).unwrap_or_default();
    let in_last = b.devices_present(h, k);
    let mut by_kind_vendor: BTreeMap<(&'static str, String), u32> = BTreeMap::new();
    for (i, d) in set.devices.iter().enumerate() {
        if r.devices_seen & (1 << i) == 0 {
            continue;
        }
        t.known += 1;
        // The collector keeps each device as the newest picture holding it
        // showed it: a polled device under its address, a swept one under
        // its MAC.
        let key = if d.configured {
            d.address.to_string()
        } else {
            d.mac.clone()
        };
        let (kind, vendor) = if in_last & (1 << i) != 0 {
            let e = last
                .devices
                .iter()
                .find(|e| e.mac.as_deref().unwrap_or(&e.address) == key)
                .expect("a device the mask holds is in the picture");
            (e.kind, e.vendor.clone())
        } else {
            // Only swept devices go missing, and a sweep describes one
            // the same way every time.
            t.missing += 1;
            (d.swept_kind(), d.vendor.map(str::to_owned))
        };
        *t.by_kind.entry(kind.as_str()).or_default() += 1;
        *by_kind_vendor
            .entry((
                kind.as_str(),
                vendor.unwrap_or_else(|| "unknown".to_owned()),
            ))
            .or_default() += 1;
    }
    t.by_kind_vendor = by_kind_vendor
        .into_iter()
        .map(|((kind, vendor), count)| KindVendor {
            kind,
            vendor,
            count,
        })
        .collect();
    for snmp in last.devices.iter().filter_map(|d| d.snmp.as_ref()) {
        t.ups_on_battery += u32::from(snmp.ups.as_ref().is_some_and(|u| u.on_battery));
        for i in snmp.interfaces.iter().filter(|i| i.uplink) {
            let (Some(rx), Some(tx)) = (i.in_bps, i.out_bps) else {
                continue;
            };
            let u = t.uplink.get_or_insert(UplinkTruth {
                receive_bps: 0.0,
                transmit_bps: 0.0,
                speed_bps: 0.0,
            });
            u.receive_bps += rx;
            u.transmit_bps += tx;
            u.speed_bps += i.speed_bps as f64;
        }
    }
    Some(t)
}

/// Sums of collector probes, as the collector averages them.
#[derive(Default)]
struct PathSum {
    hosts: u32,
    probes: u32,
    loss: f64,
    medians: Vec<f64>,
}

impl PathSum {
    /// Adds a host's probe round.
    fn add(&mut self, round: &[ProbeResult]) {
        let mine: Vec<&ProbeResult> = round
            .iter()
            .filter(|p| p.kind == ProbeKind::Collector && p.sent > 0)
            .collect();
        self.hosts += u32::from(!mine.is_empty());
        for p in mine {
            self.probes += 1;
            self.loss += p.loss_ratio;
            self.medians.extend(p.rtt_median_seconds);
        }
    }

    /// Mean loss and mean median; `None` without probes.
    fn mean(&self) -> Option<PathTruth> {
        (self.probes > 0).then(|| PathTruth {
            loss_ratio: self.loss / f64::from(self.probes),
            rtt_median_seconds: (!self.medians.is_empty())
                .then(|| self.medians.iter().sum::<f64>() / self.medians.len() as f64),
            hosts: self.hosts,
        })
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
        let ended: Vec<OutageKind> = self
            .schools
            .iter()
            .flat_map(|s| &s.outages)
            .filter(|o| o.end_ms.is_some())
            .map(|o| o.kind)
            .collect();
        let kinds = OutageKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    ended.iter().filter(|e| *e == k).count(),
                    k.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let devices: Vec<&DevicesTruth> = self
            .schools
            .iter()
            .filter_map(|s| s.devices.as_ref())
            .collect();
        let known: u32 = devices.iter().map(|d| d.known).sum();
        let missing: u32 = devices.iter().map(|d| d.missing).sum();
        let on_battery: u32 = devices.iter().map(|d| d.ups_on_battery).sum();
        let recorded: u32 = self.schools.iter().map(|s| s.equipment_recorded).sum();
        let expected: u32 = self.schools.iter().map(|s| s.equipment_expected).sum();
        let fleet = Duration::from_millis(self.fleet_end_ms - self.fleet_start_ms);
        let rate = t.acked as f64 / self.wall_secs.max(0.001);
        let mut out = format!(
            "Simulated {hosts} hosts in {} schools (seed {}): {} of fleet time at {}x in {:.1} s of wall time.\n\
             Reports: {} made, {} acknowledged ({} new, {} already stored), {} refused, {} still queued; \
             {} requests, {} retried; {:.0} reports/s acknowledged.\n\
             Hosts reporting: {reporting} of {hosts}; {meeting} meet the minimum machine configuration; \
             {sec_ok} of {sec} with posture checks meet the security baseline.\n\
             Devices: {known} on record in {} schools, {missing} missing, {on_battery} UPS on battery at the end; \
             equipment with a digital record: {recorded} of {expected} expected.\n\
             Outages: {} ended ({kinds}); {} schools still dark at the end{}.",
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
            devices.len(),
            ended.len(),
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
