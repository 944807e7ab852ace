//! Coverage arithmetic: how far each school, each district and the province
//! are from the plan's [`Targets`].
//!
//! Pure functions, no I/O. The store gathers what it knows about a school
//! into [`SchoolFacts`]; [`school`] turns that into a [`SchoolCoverage`]
//! row, and [`summarize`] / [`by_district`] roll rows up into [`Summary`]
//! counts for a district or the province. Summaries hold counts, not ratios,
//! so dashboards can show both "412 of 519" and a percentage.

use std::collections::BTreeMap;

use schoolwatch_protocol::Role;
use serde::Serialize;

use crate::outage::Outage;
use crate::registry::{Level, LinkKind, School};
use crate::targets::{MachineTarget, Targets};

/// What the store knows about one reporting host, from its latest inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// The host's role at its school.
    pub role: Role,
    /// Physical memory as the OS reports it, bytes.
    pub memory_total_bytes: u64,
    /// Logical cores online.
    pub logical_cores: u32,
    /// Disk size, bytes, as the store totals it for the host.
    pub disk_total_bytes: u64,
    /// Whether the host meets the security baseline; `None` when it has not
    /// reported security checks.
    pub security_baseline_met: Option<bool>,
}

/// What the store knows about one registered school.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolFacts<'a> {
    /// The registry row; borrowed from the loaded registry.
    pub school: &'a School,
    /// Agents enrolled for the school and not revoked.
    pub agents: u32,
    /// Hosts that sent at least one report.
    pub reporting_hosts: Vec<HostFacts>,
    /// Whether the school is online now.
    pub online: bool,
    /// Share of the last 24 hours online, when known.
    pub availability_24h: Option<f64>,
    /// Share of the last 7 days online, when known.
    pub availability_7d: Option<f64>,
    /// Latest measured download, Mbit/s; `None` when never measured.
    pub measured_download_mbps: Option<f64>,
    /// Loss and latency to the collector, from the online hosts' probes.
    pub collector_path: Option<PathQuality>,
    /// Outages of the last 7 days, oldest first (the last may be going on).
    pub outages: Vec<Outage>,
    /// Network devices on record (found or polled by its servers' agents
    /// and not forgotten by retention).
    pub devices_known: u32,
}

/// Loss and latency of a path, from ICMP probes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PathQuality {
    /// Mean share of echo requests lost.
    pub loss_ratio: f64,
    /// Mean of the median round trips, seconds; `None` if all were lost.
    pub rtt_median_seconds: Option<f64>,
}

/// One school measured against the targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolCoverage {
    /// School id from the registry.
    pub id: String,
    /// School name from the registry.
    pub name: String,
    /// District from the registry; the key of [`by_district`].
    pub district: String,
    /// Level from the registry.
    pub level: Level,
    /// Contracted link kind from the registry.
    pub link_kind: LinkKind,
    /// Contracted download, Mbit/s, from the registry.
    pub contracted_mbps: f64,
    /// Agents enrolled and not revoked.
    pub agents: u32,
    /// Hosts that sent at least one report.
    pub reporting_hosts: u32,
    /// At least one host has reported.
    pub has_reporting_agent: bool,
    /// Online now.
    pub online: bool,
    /// Share of the last 24 hours online, when known.
    pub availability_24h: Option<f64>,
    /// Share of the last 7 days online, when known.
    pub availability_7d: Option<f64>,
    /// Reporting hosts that meet the minimum machine configuration.
    pub machines_meeting_min: u32,
    /// Reporting hosts with role `lab`.
    pub lab_pcs_reporting: u32,
    /// Lab PCs the registry expects.
    pub lab_pcs_expected: u32,
    /// The contracted link kind meets the link target.
    pub link_kind_on_target: bool,
    /// The measured download meets the target; `None` when never measured.
    pub bandwidth_on_target: Option<bool>,
    /// Reporting hosts that reported security checks.
    pub machines_security_reporting: u32,
    /// Of those, hosts meeting the security baseline.
    pub machines_security_baseline_met: u32,
    /// Loss and latency to the collector; `None` without collector probes.
    pub collector_path: Option<PathQuality>,
    /// Outages of the last 7 days with their kind, oldest first.
    pub outages: Vec<Outage>,
    /// Network devices on record.
    pub devices_known: u32,
    /// Network devices the registry expects.
    pub devices_expected: u32,
    /// Equipment the registry expects: lab PCs and network devices.
    pub equipment_expected: u32,
    /// Equipment with a digital record, counted towards the expectation:
    /// reporting machines plus devices on record, at most
    /// `equipment_expected` (a school's extra machines do not make up for
    /// another school's missing ones).
    pub equipment_recorded: u32,
}

/// Whether checks meet a baseline: every baseline check is present and
/// passes. `None` when the host reported no checks at all.
pub fn meets_baseline(
    checks: &[(String, schoolwatch_protocol::CheckStatus)],
    baseline: &[String],
) -> Option<bool> {
    if checks.is_empty() {
        return None;
    }
    Some(baseline.iter().all(|id| {
        checks
            .iter()
            .any(|(c, s)| c == id && *s == schoolwatch_protocol::CheckStatus::Pass)
    }))
}

/// Counts for a set of schools: a district or the province.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// District name, or `province`.
    pub scope: String,
    /// Schools in the scope.
    pub schools_registered: u32,
    /// Schools with at least one reporting host.
    pub schools_reporting: u32,
    /// Schools with no reporting host (none enrolled, or none has reported).
    pub schools_without_agent: u32,
    /// Schools online now.
    pub schools_online: u32,
    /// Mean 24-hour availability over the schools where it is known; `None`
    /// when it is known for none.
    pub availability_24h: Option<f64>,
    /// Mean 7-day availability, likewise.
    pub availability_7d: Option<f64>,
    /// Reporting hosts.
    pub machines_reporting: u32,
    /// Reporting hosts meeting the minimum configuration.
    pub machines_meeting_min: u32,
    /// Reporting lab PCs.
    pub lab_pcs_reporting: u32,
    /// Lab PCs the registry expects.
    pub lab_pcs_expected: u32,
    /// Schools whose contracted link kind meets the target.
    pub schools_link_on_target: u32,
    /// Schools with a measured download.
    pub schools_bandwidth_measured: u32,
    /// Schools whose measured download meets the target.
    pub schools_bandwidth_on_target: u32,
    /// Machines that reported security checks.
    pub machines_security_reporting: u32,
    /// Machines meeting the security baseline.
    pub machines_security_baseline_met: u32,
    /// Network devices on record.
    pub devices_known: u32,
    /// Network devices the registry expects.
    pub devices_expected: u32,
    /// Equipment (lab PCs and network devices) the registry expects.
    pub equipment_expected: u32,
    /// Of that, equipment with a digital record (see
    /// [`SchoolCoverage::equipment_recorded`]).
    pub equipment_recorded: u32,
}

impl Summary {
    /// Share of the expected equipment with a digital record, the plan's
    /// "facilities and equipment managed with digital records"; `None`
    /// when the registry expects none.
    pub fn equipment_record_ratio(&self) -> Option<f64> {
        (self.equipment_expected > 0)
            .then(|| f64::from(self.equipment_recorded) / f64::from(self.equipment_expected))
    }
}

/// The scope name of the province-wide summary.
pub const PROVINCE: &str = "province";

/// Whether a host meets the minimum machine configuration: memory, logical
/// cores and disk each at or above the target.
pub fn meets_minimum(host: &HostFacts, target: &MachineTarget) -> bool {
    host.memory_total_bytes >= target.min_memory_bytes
        && host.logical_cores >= target.min_logical_cores
        && host.disk_total_bytes >= target.min_disk_bytes
}

/// Measures one school against the targets.
pub fn school(facts: &SchoolFacts, targets: &Targets) -> SchoolCoverage {
    let s = facts.school;
    let hosts = &facts.reporting_hosts;
    SchoolCoverage {
        id: s.id.clone(),
        name: s.name.clone(),
        district: s.district.clone(),
        level: s.level,
        link_kind: s.link_kind,
        contracted_mbps: s.contracted_mbps,
        agents: facts.agents,
        reporting_hosts: count(hosts.iter()),
        has_reporting_agent: !hosts.is_empty(),
        online: facts.online,
        availability_24h: facts.availability_24h,
        availability_7d: facts.availability_7d,
        machines_meeting_min: count(hosts.iter().filter(|h| meets_minimum(h, &targets.machine))),
        lab_pcs_reporting: count(hosts.iter().filter(|h| h.role == Role::Lab)),
        lab_pcs_expected: s.expected_lab_pcs,
        link_kind_on_target: targets.link.is_met_by(s.link_kind),
        bandwidth_on_target: facts
            .measured_download_mbps
            .map(|mbps| mbps >= targets.link.min_download_mbps),
        machines_security_reporting: count(
            hosts.iter().filter(|h| h.security_baseline_met.is_some()),
        ),
        machines_security_baseline_met: count(
            hosts
                .iter()
                .filter(|h| h.security_baseline_met == Some(true)),
        ),
        collector_path: facts.collector_path,
        outages: facts.outages.clone(),
        devices_known: facts.devices_known,
        devices_expected: s.expected_devices,
        equipment_expected: s.expected_lab_pcs.saturating_add(s.expected_devices),
        equipment_recorded: count(hosts.iter())
            .saturating_add(facts.devices_known)
            .min(s.expected_lab_pcs.saturating_add(s.expected_devices)),
    }
}

/// Rolls schools up into one summary named `scope` (a district name, or
/// [`PROVINCE`]).
pub fn summarize(scope: &str, schools: &[SchoolCoverage]) -> Summary {
    summarize_iter(scope, schools.iter())
}

/// One summary per district present in `schools`, sorted by district name
/// (byte order, so `Đ…` sorts after `P…`).
pub fn by_district(schools: &[SchoolCoverage]) -> Vec<Summary> {
    let mut districts: BTreeMap<&str, Vec<&SchoolCoverage>> = BTreeMap::new();
    for s in schools {
        districts.entry(s.district.as_str()).or_default().push(s);
    }
    districts
        .into_iter()
        .map(|(district, rows)| summarize_iter(district, rows.into_iter()))
        .collect()
}

/// One summary per contracted link kind present, for the province
/// (district `None`) and for each district, in that order, kinds sorted.
pub fn by_link_kind(schools: &[SchoolCoverage]) -> Vec<(Option<String>, LinkKind, Summary)> {
    let mut groups: BTreeMap<(Option<&str>, LinkKind), Vec<&SchoolCoverage>> = BTreeMap::new();
    for s in schools {
        groups.entry((None, s.link_kind)).or_default().push(s);
        groups
            .entry((Some(s.district.as_str()), s.link_kind))
            .or_default()
            .push(s);
    }
    groups
        .into_iter()
        .map(|((district, kind), rows)| {
            let scope = district.unwrap_or(PROVINCE);
            (
                district.map(str::to_owned),
                kind,
                summarize_iter(scope, rows.into_iter()),
            )
        })
        .collect()
}

fn summarize_iter<'a>(scope: &str, schools: impl Iterator<Item = &'a SchoolCoverage>) -> Summary {
    let mut sum = Summary {
        scope: scope.to_owned(),
        schools_registered: 0,
        schools_reporting: 0,
        schools_without_agent: 0,
        schools_online: 0,
        availability_24h: None,
        availability_7d: None,
        machines_reporting: 0,
        machines_meeting_min: 0,
        lab_pcs_reporting: 0,
        lab_pcs_expected: 0,
        schools_link_on_target: 0,
        schools_bandwidth_measured: 0,
        schools_bandwidth_on_target: 0,
        machines_security_reporting: 0,
        machines_security_baseline_met: 0,
        devices_known: 0,
        devices_expected: 0,
        equipment_expected: 0,
        equipment_recorded: 0,
    };
    let mut av_24h = Mean::default();
    let mut av_7d = Mean::default();
    for s in schools {
        sum.schools_registered += 1;
        sum.schools_reporting += u32::from(s.has_reporting_agent);
        sum.schools_without_agent += u32::from(!s.has_reporting_agent);
        sum.schools_online += u32::from(s.online);
        av_24h.add(s.availability_24h);
        av_7d.add(s.availability_7d);
        sum.machines_reporting = sum.machines_reporting.saturating_add(s.reporting_hosts);
        sum.machines_meeting_min = sum
            .machines_meeting_min
            .saturating_add(s.machines_meeting_min);
        sum.lab_pcs_reporting = sum.lab_pcs_reporting.saturating_add(s.lab_pcs_reporting);
        sum.lab_pcs_expected = sum.lab_pcs_expected.saturating_add(s.lab_pcs_expected);
        sum.schools_link_on_target += u32::from(s.link_kind_on_target);
        sum.schools_bandwidth_measured += u32::from(s.bandwidth_on_target.is_some());
        sum.schools_bandwidth_on_target += u32::from(s.bandwidth_on_target == Some(true));
        sum.machines_security_reporting = sum
            .machines_security_reporting
            .saturating_add(s.machines_security_reporting);
        sum.devices_known = sum.devices_known.saturating_add(s.devices_known);
        sum.devices_expected = sum.devices_expected.saturating_add(s.devices_expected);
        sum.equipment_expected = sum.equipment_expected.saturating_add(s.equipment_expected);
        sum.equipment_recorded = sum.equipment_recorded.saturating_add(s.equipment_recorded);
        sum.machines_security_baseline_met = sum
            .machines_security_baseline_met
            .saturating_add(s.machines_security_baseline_met);
    }
    sum.availability_24h = av_24h.value();
    sum.availability_7d = av_7d.value();
    sum
}

/// Mean of the `Some` values seen.
#[derive(Default)]
struct Mean {
    total: f64,
    n: u32,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.total += v;
            self.n += 1;
        }
    }

    fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.total / f64::from(self.n))
    }
}

/// Counts items into a `u32`; a school has far fewer than 4 billion hosts,
/// but saturate rather than wrap if one ever claims to.
fn count<T>(it: impl Iterator<Item = T>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn host(role: Role, memory_gib_x10: u64, cores: u32, disk_gib: u64) -> HostFacts {
        HostFacts {
            role,
            memory_total_bytes: memory_gib_x10 * GIB / 10,
            logical_cores: cores,
            disk_total_bytes: disk_gib * GIB,
            security_baseline_met: None,
        }
    }

    // Against the default targets (4 GiB, 2 cores, 100 GiB):
    /// Comfortably above the minimum.
    fn good(role: Role) -> HostFacts {
        host(role, 80, 4, 500)
    }
    /// Exactly at the minimum: meets it.
    fn exact(role: Role) -> HostFacts {
        host(role, 40, 2, 100)
    }
    /// A "4 GB" PC as the OS reports it: 3.8 GiB, below the minimum.
    fn low_memory(role: Role) -> HostFacts {
        host(role, 38, 4, 500)
    }
    fn low_disk(role: Role) -> HostFacts {
        host(role, 80, 4, 99)
    }
    fn one_core(role: Role) -> HostFacts {
        host(role, 80, 1, 500)
    }

    fn reg(id: &str, district: &str, level: Level, link_kind: LinkKind, lab: u32) -> School {
        School {
            id: id.into(),
            name: format!("School {id}"),
            district: district.into(),
            level,
            expected_lab_pcs: lab,
            link_kind,
            contracted_mbps: if link_kind == LinkKind::FourG {
                25.0
            } else {
                50.0
            },
            expected_devices: 0,
        }
    }

    struct Fleet {
        schools: Vec<School>,
    }

    /// Five schools in two districts:
    ///
    /// | id | district | link      | lab exp | agents | hosts (role: machine)              | online | 24h  | 7d    | download |
    /// |----|----------|-----------|---------|--------|------------------------------------|--------|------|-------|----------|
    /// | p1 | Pleiku   | fibre     | 20      | 3      | server good, lab exact, lab low mem | yes    | 1.0  | 0.875 | 45.0     |
    /// | p2 | Pleiku   | broadband | 25      | 1      | lab low disk                       | no     | 0.5  | -     | 29.9     |
    /// | k1 | Kbang    | 4g        | 40      | 2      | server one core, office good       | yes    | 0.75 | 0.625 | 30.0     |
    /// | k2 | Kbang    | fibre     | 0       | 1      | (enrolled, never reported)         | no     | -    | -     | -        |
    /// | k3 | Kbang    | 4g        | 15      | 0      | -                                  | no     | -    | -     | -        |
    fn fleet() -> Fleet {
        Fleet {
            schools: vec![
                reg("p1", "Pleiku", Level::Primary, LinkKind::Fibre, 20),
                reg(
                    "p2",
                    "Pleiku",
                    Level::LowerSecondary,
                    LinkKind::Broadband,
                    25,
                ),
                reg("k1", "Kbang", Level::UpperSecondary, LinkKind::FourG, 40),
                reg("k2", "Kbang", Level::Primary, LinkKind::Fibre, 0),
                reg("k3", "Kbang", Level::Continuing, LinkKind::FourG, 15),
            ],
        }
    }

    impl Fleet {
        fn facts(&self) -> Vec<SchoolFacts<'_>> {
            let s = &self.schools;
            let f = |school, agents, hosts, online, a24, a7, dl| SchoolFacts {
                school,
                agents,
                reporting_hosts: hosts,
                online,
                availability_24h: a24,
                availability_7d: a7,
                measured_download_mbps: dl,
                collector_path: None,
                outages: Vec::new(),
                devices_known: 0,
            };
            vec![
                f(
                    &s[0],
                    3,
                    vec![good(Role::Server), exact(Role::Lab), low_memory(Role::Lab)],
                    true,
                    Some(1.0),
                    Some(0.875),
                    Some(45.0),
                ),
                f(
                    &s[1],
                    1,
                    vec![low_disk(Role::Lab)],
                    false,
                    Some(0.5),
                    None,
                    Some(29.9),
                ),
                f(
                    &s[2],
                    2,
                    vec![one_core(Role::Server), good(Role::Office)],
                    true,
                    Some(0.75),
                    Some(0.625),
                    Some(30.0),
                ),
                f(&s[3], 1, vec![], false, None, None, None),
                f(&s[4], 0, vec![], false, None, None, None),
            ]
        }

        fn coverage(&self) -> Vec<SchoolCoverage> {
            let targets = Targets::default();
            self.facts().iter().map(|f| school(f, &targets)).collect()
        }
    }

    #[test]
    fn school_rows() {
        let rows = fleet().coverage();
        // (id, reporting hosts, meeting min, lab reporting, lab expected,
        //  link on target, bandwidth on target)
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.reporting_hosts,
                    r.machines_meeting_min,
                    r.lab_pcs_reporting,
                    r.lab_pcs_expected,
                    r.link_kind_on_target,
                    r.bandwidth_on_target,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // p1: good + exact meet, low memory does not; 2 lab PCs.
                ("p1", 3, 2, 2, 20, true, Some(true)),
                // p2: low disk fails; broadband is not fibre; 29.9 < 30.
                ("p2", 1, 0, 1, 25, false, Some(false)),
                // k1: one core fails, office good meets; no lab PC; 30.0 ≥ 30.
                ("k1", 2, 1, 0, 40, false, Some(true)),
                ("k2", 0, 0, 0, 0, true, None),
                ("k3", 0, 0, 0, 15, false, None),
            ]
        );
        let k2 = &rows[3];
        assert_eq!(k2.agents, 1);
        assert!(!k2.has_reporting_agent);
        assert_eq!(rows[0].level, Level::Primary);
        assert_eq!(rows[2].link_kind, LinkKind::FourG);
        assert_eq!(rows[2].contracted_mbps, 25.0);
        assert_eq!(rows[0].availability_7d, Some(0.875));
    }

    #[test]
    fn province_summary_by_hand() {
        let rows = fleet().coverage();
        assert_eq!(
            summarize(PROVINCE, &rows),
            Summary {
                scope: "province".into(),
                schools_registered: 5,
                schools_reporting: 3,           // p1 p2 k1
                schools_without_agent: 2,       // k2 (enrolled, silent) k3 (none)
                schools_online: 2,              // p1 k1
                availability_24h: Some(0.75),   // (1.0 + 0.5 + 0.75) / 3
                availability_7d: Some(0.75),    // (0.875 + 0.625) / 2
                machines_reporting: 6,          // 3 + 1 + 2
                machines_meeting_min: 3,        // p1: 2, k1: 1
                lab_pcs_reporting: 3,           // p1: 2, p2: 1
                lab_pcs_expected: 100,          // 20 + 25 + 40 + 0 + 15
                schools_link_on_target: 2,      // p1 k2 (fibre)
                schools_bandwidth_measured: 3,  // p1 p2 k1
                schools_bandwidth_on_target: 2, // p1 (45) k1 (30.0)
                machines_security_reporting: 0,
                machines_security_baseline_met: 0,
                devices_known: 0,
                devices_expected: 0,
                equipment_expected: 100, // the lab PCs
                equipment_recorded: 6,   // 3 + 1 + 2 machines, each under its school's
            }
        );
    }

    #[test]
    fn district_summaries_by_hand() {
        let rows = fleet().coverage();
        assert_eq!(
            by_district(&rows),
            [
                Summary {
                    scope: "Kbang".into(),
                    schools_registered: 3,
                    schools_reporting: 1,         // k1
                    schools_without_agent: 2,     // k2 k3
                    schools_online: 1,            // k1
                    availability_24h: Some(0.75), // k1 only
                    availability_7d: Some(0.625), // k1 only
                    machines_reporting: 2,        // k1
                    machines_meeting_min: 1,      // k1 office
                    lab_pcs_reporting: 0,
                    lab_pcs_expected: 55,           // 40 + 0 + 15
                    schools_link_on_target: 1,      // k2
                    schools_bandwidth_measured: 1,  // k1
                    schools_bandwidth_on_target: 1, // k1
                    machines_security_reporting: 0,
                    machines_security_baseline_met: 0,
                    devices_known: 0,
                    devices_expected: 0,
                    equipment_expected: 55, // the lab PCs
                    equipment_recorded: 2,  // k1's two machines
                },
                Summary {
                    scope: "Pleiku".into(),
                    schools_registered: 2,
                    schools_reporting: 2,
                    schools_without_agent: 0,
                    schools_online: 1,              // p1
                    availability_24h: Some(0.75),   // (1.0 + 0.5) / 2
                    availability_7d: Some(0.875),   // p1 only
                    machines_reporting: 4,          // 3 + 1
                    machines_meeting_min: 2,        // p1
                    lab_pcs_reporting: 3,           // 2 + 1
                    lab_pcs_expected: 45,           // 20 + 25
                    schools_link_on_target: 1,      // p1
                    schools_bandwidth_measured: 2,  // p1 p2
                    schools_bandwidth_on_target: 1, // p1
                    machines_security_reporting: 0,
                    machines_security_baseline_met: 0,
                    devices_known: 0,
                    devices_expected: 0,
                    equipment_expected: 45, // the lab PCs
                    equipment_recorded: 4,  // 3 + 1 machines
                },
            ]
        );
    }

    #[test]
    fn empty_scope_is_all_zero_and_no_availability() {
        let s = summarize("Ia Grai", &[]);
        assert_eq!(
            s,
            Summary {
                scope: "Ia Grai".into(),
                schools_registered: 0,
                schools_reporting: 0,
                schools_without_agent: 0,
                schools_online: 0,
                availability_24h: None,
                availability_7d: None,
                machines_reporting: 0,
                machines_meeting_min: 0,
                lab_pcs_reporting: 0,
                lab_pcs_expected: 0,
                schools_link_on_target: 0,
                schools_bandwidth_measured: 0,
                schools_bandwidth_on_target: 0,
                machines_security_reporting: 0,
                machines_security_baseline_met: 0,
                devices_known: 0,
                devices_expected: 0,
                equipment_expected: 0,
                equipment_recorded: 0,
            }
        );
        assert!(by_district(&[]).is_empty());
    }

    #[test]
    fn all_availability_unknown_gives_none() {
        let rows = fleet().coverage();
        // k2 and k3 have neither availability.
        let s = summarize("silent", &rows[3..]);
        assert_eq!((s.availability_24h, s.availability_7d), (None, None));
        assert_eq!(s.schools_without_agent, 2);
    }

    #[test]
    fn machine_exactly_at_minimum_meets_it_one_below_does_not() {
        let t = Targets::default().machine;
        let at = HostFacts {
            role: Role::Lab,
            memory_total_bytes: t.min_memory_bytes,
            logical_cores: t.min_logical_cores,
            disk_total_bytes: t.min_disk_bytes,
            security_baseline_met: None,
        };
        assert!(meets_minimum(&at, &t));
        assert!(!meets_minimum(
            &HostFacts {
                memory_total_bytes: t.min_memory_bytes - 1,
                ..at
            },
            &t
        ));
        assert!(!meets_minimum(
            &HostFacts {
                logical_cores: t.min_logical_cores - 1,
                ..at
            },
            &t
        ));
        assert!(!meets_minimum(
            &HostFacts {
                disk_total_bytes: t.min_disk_bytes - 1,
                ..at
            },
            &t
        ));
    }

    #[test]
    fn bandwidth_exactly_at_target_is_on_target() {
        let f = fleet();
        let facts = f.facts();
        let k1 = school(&facts[2], &Targets::default());
        assert_eq!(k1.bandwidth_on_target, Some(true)); // 30.0 vs 30.0
    }

    #[test]
    fn coverage_serializes_with_registry_spellings() {
        let rows = fleet().coverage();
        let json = serde_json::to_value(&rows[2]).expect("serialize");
        assert_eq!(json["level"], "upper-secondary");
        assert_eq!(json["link_kind"], "4g");
        assert_eq!(json["bandwidth_on_target"], true);
        assert_eq!(
            serde_json::to_value(&rows[3]).expect("serialize")["bandwidth_on_target"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn security_baseline_counts_hosts_that_reported_checks() {
        use schoolwatch_protocol::CheckStatus::{Fail, Pass, Unknown};
        let baseline = vec![
            "firewall_active".to_owned(),
            "endpoint_protection_running".to_owned(),
        ];
        let checks = |fw, av| {
            vec![
                ("firewall_active".to_owned(), fw),
                ("endpoint_protection_running".to_owned(), av),
            ]
        };
        assert_eq!(meets_baseline(&[], &baseline), None);
        assert_eq!(meets_baseline(&checks(Pass, Pass), &baseline), Some(true));
        assert_eq!(meets_baseline(&checks(Pass, Fail), &baseline), Some(false));
        // Unknown is not a pass, and a missing check is not a pass either.
        assert_eq!(
            meets_baseline(&checks(Pass, Unknown), &baseline),
            Some(false)
        );
        assert_eq!(
            meets_baseline(&checks(Pass, Pass)[..1], &baseline),
            Some(false)
        );

        // One school: two machines that reported checks (one meets the
        // baseline), one that never did. By hand: 2 reporting, 1 met.
        let school = reg("s", "D", Level::Primary, LinkKind::Fibre, 2);
        let mut ok = good(Role::Lab);
        ok.security_baseline_met = Some(true);
        let mut bad = good(Role::Lab);
        bad.security_baseline_met = Some(false);
        let silent = good(Role::Server);
        let c = super::school(
            &SchoolFacts {
                school: &school,
                agents: 3,
                reporting_hosts: vec![ok, bad, silent],
                online: true,
                availability_24h: None,
                availability_7d: None,
                measured_download_mbps: None,
                collector_path: None,
                outages: Vec::new(),
                devices_known: 0,
            },
            &Targets::default(),
        );
        assert_eq!(
            (
                c.machines_security_reporting,
                c.machines_security_baseline_met
            ),
            (2, 1)
        );
        let sum = summarize(PROVINCE, &[c.clone(), c]);
        assert_eq!(
            (
                sum.machines_security_reporting,
                sum.machines_security_baseline_met
            ),
            (4, 2)
        );
    }

    #[test]
    fn equipment_on_record_counts_towards_each_schools_expectation() {
        // a: 20 lab PCs + 5 devices expected; 3 machines and 4 devices on
        // record -> 7 of 25. b: no lab, 2 devices expected; 3 machines and
        // 5 devices on record -> 2 of 2 (its extras do not cover a's gap).
        // c: nothing expected, 1 device -> 0 of 0. Province: 9 of 27.
        let mut a = reg("a", "D", Level::Primary, LinkKind::Fibre, 20);
        a.expected_devices = 5;
        let mut b = reg("b", "D", Level::Primary, LinkKind::Fibre, 0);
        b.expected_devices = 2;
        let c = reg("c", "E", Level::Primary, LinkKind::Fibre, 0);
        let facts = |school, hosts: Vec<HostFacts>, devices| SchoolFacts {
            school,
            agents: 0,
            reporting_hosts: hosts,
            online: true,
            availability_24h: None,
            availability_7d: None,
            measured_download_mbps: None,
            collector_path: None,
            outages: Vec::new(),
            devices_known: devices,
        };
        let t = Targets::default();
        let three = vec![good(Role::Lab), good(Role::Lab), good(Role::Server)];
        let rows = [
            super::school(&facts(&a, three.clone(), 4), &t),
            super::school(&facts(&b, three, 5), &t),
            super::school(&facts(&c, Vec::new(), 1), &t),
        ];
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.devices_known,
                    r.devices_expected,
                    r.equipment_recorded,
                    r.equipment_expected,
                )
            })
            .collect();
        assert_eq!(got, [(4, 5, 7, 25), (5, 2, 2, 2), (1, 0, 0, 0)]);
        let p = summarize(PROVINCE, &rows);
        assert_eq!((p.devices_known, p.devices_expected), (10, 7));
        assert_eq!((p.equipment_recorded, p.equipment_expected), (9, 27));
        assert_eq!(p.equipment_record_ratio(), Some(9.0 / 27.0));
        let e = &by_district(&rows)[1];
        assert_eq!((e.scope.as_str(), e.equipment_record_ratio()), ("E", None));
    }
}
