//! Builds each status page's tables from one [`Fleet`] picture, the same
//! one `/metrics` and `coverage` read, for what the logged-in staff member
//! may see. Pure: no I/O; the handlers in `mod.rs` load the picture and
//! render the result as HTML or CSV.

use super::auth::Who;
use super::i18n::{Lang, Strings};
use super::table::{Cell, Column, Page, Row, Table, encode_segment};
use crate::coverage::{self, HostFacts, SchoolCoverage, Summary};
use crate::fleet::{Fleet, is_online, newest_throughput};
use crate::outage::OutageKind;
use crate::store::HostState;
use crate::targets::Targets;
use schoolwatch_protocol::CheckStatus;
use std::collections::HashMap;

/// Schools on the overview's "needing attention" list.
const WORST_ON_OVERVIEW: usize = 20;

/// The page asked for does not exist, or is outside the viewer's scope
/// (the same answer for both, so ids of other districts leak nothing).
#[derive(Debug, PartialEq, Eq)]
pub struct NotFound;

/// Everything a page needs.
pub struct View<'a> {
    /// The fleet picture.
    pub fleet: &'a Fleet,
    /// The plan's targets.
    pub targets: &'a Targets,
    /// The online window, ms.
    pub window_ms: i64,
    /// The page's words.
    pub t: &'static Strings,
    /// The page's language.
    pub lang: Lang,
    /// `Some` when the language came from `?lang=`: links carry it on.
    pub lang_param: Option<Lang>,
    /// Who is looking.
    pub who: &'a Who,
    /// Hosts by school id.
    hosts: HashMap<&'a str, Vec<&'a HostState>>,
}

impl<'a> View<'a> {
    /// A view of `fleet` for `who`.
    pub fn new(
        fleet: &'a Fleet,
        targets: &'a Targets,
        window_ms: i64,
        lang: Lang,
        lang_param: Option<Lang>,
        who: &'a Who,
    ) -> Self {
        let mut hosts: HashMap<&str, Vec<&HostState>> = HashMap::new();
        for h in &fleet.hosts {
            hosts.entry(h.school_id.as_str()).or_default().push(h);
        }
        Self {
            fleet,
            targets,
            window_ms,
            t: super::i18n::strings(lang),
            lang,
            lang_param,
            who,
            hosts,
        }
    }

    /// `path` with `?lang=` carried on when it was given.
    pub fn href(&self, path: &str) -> String {
        match self.lang_param {
            Some(l) => format!("{path}?lang={}", l.code()),
            None => path.to_owned(),
        }
    }

    fn district_href(&self, d: &str) -> String {
        self.href(&format!("/status/district/{}", encode_segment(d)))
    }

    fn school_href(&self, id: &str) -> String {
        self.href(&format!("/status/school/{}", encode_segment(id)))
    }

    fn host_href(&self, id: &str) -> String {
        self.href(&format!("/status/host/{}", encode_segment(id)))
    }

    fn school_hosts(&self, id: &str) -> &[&'a HostState] {
        self.hosts.get(id).map_or(&[], Vec::as_slice)
    }

    /// Schools the viewer may see.
    fn schools(&self) -> impl Iterator<Item = &'a SchoolCoverage> + '_ {
        self.fleet
            .coverage
            .iter()
            .filter(|s| self.who.sees(&s.district))
    }

    fn up(&self, h: &HostState) -> bool {
        is_online(h.last_seen_ms, self.fleet.now_ms, self.window_ms)
    }

    fn crumbs_province(&self) -> Vec<(String, String)> {
        if self.who.district.is_none() {
            vec![(self.t.province.to_owned(), self.href("/status"))]
        } else {
            Vec::new()
        }
    }
}

// === pages ===

/// `/status`: the province against the targets, its districts, schools
/// offline now and the worst schools. For province staff only (the
/// handler sends district staff to their district).
pub fn overview(v: &View) -> Result<Page, NotFound> {
    if v.who.district.is_some() {
        return Err(NotFound);
    }
    let t = v.t;
    let schools: Vec<&SchoolCoverage> = v.schools().collect();
    let mut worst = schools_table(v, "worst", t.t_worst, &schools);
    worst.rows.truncate(WORST_ON_OVERVIEW);
    if schools.len() > WORST_ON_OVERVIEW {
        worst.note = Some(format!("{} {}", t.worst_first, t.worst_shown));
    }
    Ok(Page {
        title: t.overview_title.to_owned(),
        crumbs: Vec::new(),
        tables: vec![
            targets_table(v, &v.fleet.province),
            districts_table(v),
            link_kinds_table(v, None),
            offline_table(v, &schools),
            worst,
        ],
    })
}

/// `/status/schools`: every school the viewer may see, worst first.
pub fn schools(v: &View) -> Page {
    let schools: Vec<&SchoolCoverage> = v.schools().collect();
    Page {
        title: v.t.schools_title.to_owned(),
        crumbs: v.crumbs_province(),
        tables: vec![schools_table(v, "schools", v.t.t_schools, &schools)],
    }
}

/// `/status/district/{name}`.
pub fn district(v: &View, name: &str) -> Result<Page, NotFound> {
    if !v.who.sees(name) {
        return Err(NotFound);
    }
    let summary = v
        .fleet
        .districts
        .iter()
        .find(|d| d.scope == name)
        .ok_or(NotFound)?;
    let schools: Vec<&SchoolCoverage> = v.schools().filter(|s| s.district == name).collect();
    Ok(Page {
        title: format!("{} {name}", v.t.district_word),
        crumbs: v.crumbs_province(),
        tables: vec![
            targets_table(v, summary),
            link_kinds_table(v, Some(name)),
            schools_table(v, "schools", v.t.t_schools, &schools),
            offline_table(v, &schools),
            outages_table(v, &schools, true),
        ],
    })
}

/// `/status/school/{id}`: the school, its machines, path quality,
/// outages and security.
pub fn school(v: &View, id: &str) -> Result<Page, NotFound> {
    let s = v
        .fleet
        .coverage
        .iter()
        .find(|s| s.id == id && v.who.sees(&s.district))
        .ok_or(NotFound)?;
    let hosts = v.school_hosts(&s.id);
    let mut crumbs = v.crumbs_province();
    crumbs.push((s.district.clone(), v.district_href(&s.district)));
    Ok(Page {
        title: s.name.clone(),
        crumbs,
        tables: vec![
            school_facts(v, s, hosts),
            targets_table(v, &coverage::summarize(&s.id, std::slice::from_ref(s))),
            hosts_table(v, hosts),
            devices_table(v, &s.id),
            probes_table(v, hosts, true),
            outages_table(v, &[s], false),
            checks_table(v, hosts, true),
            regressions_table(v, hosts),
        ],
    })
}

/// `/status/host/{agent_id}`: one machine.
pub fn host(v: &View, id: &str) -> Result<Page, NotFound> {
    let h = v
        .fleet
        .hosts
        .iter()
        .find(|h| h.agent_id == id)
        .ok_or(NotFound)?;
    let s = v
        .fleet
        .coverage
        .iter()
        .find(|s| s.id == h.school_id && v.who.sees(&s.district))
        .ok_or(NotFound)?;
    let mut crumbs = v.crumbs_province();
    crumbs.push((s.district.clone(), v.district_href(&s.district)));
    crumbs.push((s.name.clone(), v.school_href(&s.id)));
    Ok(Page {
        title: h.hostname.clone(),
        crumbs,
        tables: vec![
            host_facts(v, h, s),
            sample_table(v, h),
            interfaces_table(v, h),
            disks_table(v, h),
            queue_table(v, h),
            probes_table(v, &[h], false),
            checks_table(v, &[h], false),
        ],
    })
}

// === tables ===

/// Coverage of a set of schools against every target.
fn targets_table(v: &View, s: &Summary) -> Table {
    let t = v.t;
    let tg = v.targets;
    let frac = |key: &str, label: &str, num: u32, den: u32, goal: String| Row {
        key: key.to_owned(),
        class: None,
        cells: vec![
            Cell::Text(label.to_owned()),
            Cell::Int(num.into()),
            Cell::Int(den.into()),
            Cell::Share((den > 0).then(|| f64::from(num) / f64::from(den))),
            Cell::Text(goal),
        ],
    };
    let share = |key: &str, label: &str, value: Option<f64>, goal: String| Row {
        key: key.to_owned(),
        class: None,
        cells: vec![
            Cell::Text(label.to_owned()),
            Cell::Empty,
            Cell::Empty,
            Cell::Share(value),
            Cell::Text(goal),
        ],
    };
    let m = &tg.machine;
    let machine_goal = format!(
        "RAM ≥ {}, ≥ {} {}, {} ≥ {}",
        v.lang.bytes(m.min_memory_bytes),
        m.min_logical_cores,
        t.cores,
        t.disk,
        v.lang.bytes(m.min_disk_bytes)
    );
    let availability_goal = format!("≥ {}", v.lang.percent(tg.availability.min_share));
    Table {
        id: "targets",
        title: t.t_targets.to_owned(),
        note: None,
        columns: vec![
            Column::new("target", t.c_target),
            Column::new("achieved", t.c_achieved),
            Column::new("of", t.c_of),
            Column::new("share", t.c_share),
            Column::new("goal", t.c_goal),
        ],
        rows: vec![
            frac(
                "schools_reporting",
                t.g_reporting,
                s.schools_reporting,
                s.schools_registered,
                t.goal_every_school.to_owned(),
            ),
            frac(
                "schools_online",
                t.g_online,
                s.schools_online,
                s.schools_registered,
                t.goal_every_school.to_owned(),
            ),
            frac(
                "schools_link_on_target",
                t.g_link,
                s.schools_link_on_target,
                s.schools_registered,
                t.link_kind(tg.link.required_kind).to_owned(),
            ),
            frac(
                "schools_bandwidth_measured",
                t.g_measured,
                s.schools_bandwidth_measured,
                s.schools_registered,
                t.goal_every_school.to_owned(),
            ),
            frac(
                "schools_bandwidth_on_target",
                t.g_bandwidth,
                s.schools_bandwidth_on_target,
                s.schools_bandwidth_measured,
                format!("≥ {} Mbit/s", v.lang.number(tg.link.min_download_mbps, 1)),
            ),
            frac(
                "machines_meeting_min",
                t.g_machines,
                s.machines_meeting_min,
                s.machines_reporting,
                machine_goal,
            ),
            frac(
                "lab_pcs",
                t.g_lab,
                s.lab_pcs_reporting,
                s.lab_pcs_expected,
                t.goal_registry.to_owned(),
            ),
            frac(
                "equipment_recorded",
                t.g_equipment,
                s.equipment_recorded,
                s.equipment_expected,
                format!(
                    "≥ {} (2025), {} (2030)",
                    v.lang.percent(tg.equipment.digital_record_share_2025),
                    v.lang.percent(tg.equipment.digital_record_share_2030)
                ),
            ),
            frac(
                "machines_security_baseline",
                t.g_security,
                s.machines_security_baseline_met,
                s.machines_security_reporting,
                tg.security.baseline.join(", "),
            ),
            share(
                "availability_24h",
                t.g_avail_24h,
                s.availability_24h,
                availability_goal.clone(),
            ),
            share(
                "availability_7d",
                t.g_avail_7d,
                s.availability_7d,
                availability_goal,
            ),
        ],
    }
}

/// One row per district the viewer may see, then the province's.
fn districts_table(v: &View) -> Table {
    let t = v.t;
    let row = |s: &Summary, name: Cell, class| Row {
        key: s.scope.clone(),
        class,
        cells: vec![
            name,
            Cell::Int(s.schools_registered.into()),
            frac(s.schools_reporting, s.schools_registered),
            frac(s.schools_online, s.schools_registered),
            Cell::Share(s.availability_24h),
            Cell::Share(s.availability_7d),
            frac(s.schools_link_on_target, s.schools_registered),
            frac(s.schools_bandwidth_on_target, s.schools_bandwidth_measured),
            frac(s.machines_meeting_min, s.machines_reporting),
            frac(s.lab_pcs_reporting, s.lab_pcs_expected),
            frac(
                s.machines_security_baseline_met,
                s.machines_security_reporting,
            ),
        ],
    };
    let mut rows: Vec<Row> = v
        .fleet
        .districts
        .iter()
        .filter(|d| v.who.sees(&d.scope))
        .map(|d| {
            let link = Cell::Link {
                text: d.scope.clone(),
                href: v.district_href(&d.scope),
            };
            row(d, link, None)
        })
        .collect();
    if v.who.district.is_none() {
        rows.push(row(
            &v.fleet.province,
            Cell::Text(t.province.to_owned()),
            Some("total"),
        ));
    }
    Table {
        id: "districts",
        title: t.t_districts.to_owned(),
        note: None,
        columns: vec![
            Column::new("district", t.c_district),
            Column::new("schools_registered", t.c_schools),
            Column::frac("schools_reporting", t.c_reporting),
            Column::frac("schools_online", t.c_online),
            Column::new("availability_24h", t.c_avail_24h),
            Column::new("availability_7d", t.c_avail_7d),
            Column::frac("schools_link_on_target", t.c_link),
            Column::frac("schools_bandwidth_on_target", t.c_bandwidth),
            Column::frac("machines_meeting_min", t.c_machines),
            Column::frac("lab_pcs", t.c_lab),
            Column::frac("machines_security_baseline", t.c_security),
        ],
        rows,
    }
}

/// Coverage per contracted link kind (fibre, 4G, ...), of the province
/// (`district` `None`) or of one district.
fn link_kinds_table(v: &View, district: Option<&str>) -> Table {
    let t = v.t;
    let rows = v
        .fleet
        .by_link_kind
        .iter()
        .filter(|(d, _, _)| d.as_deref() == district)
        .map(|(_, kind, s)| Row {
            key: kind.as_str().to_owned(),
            class: None,
            cells: vec![
                Cell::Badge {
                    ok: Some(v.targets.link.is_met_by(*kind)),
                    text: t.link_kind(*kind).to_owned(),
                    csv: kind.as_str().to_owned(),
                },
                Cell::Int(s.schools_registered.into()),
                frac(s.schools_reporting, s.schools_registered),
                frac(s.schools_online, s.schools_registered),
                frac(s.schools_bandwidth_measured, s.schools_registered),
                frac(s.schools_bandwidth_on_target, s.schools_bandwidth_measured),
                Cell::Share(s.availability_24h),
                Cell::Share(s.availability_7d),
            ],
        })
        .collect();
    Table {
        id: "link_kinds",
        title: t.t_link_kinds.to_owned(),
        note: None,
        columns: vec![
            Column::new("link_kind", t.c_link_kind),
            Column::new("schools_registered", t.c_schools),
            Column::frac("schools_reporting", t.c_reporting),
            Column::frac("schools_online", t.c_online),
            Column::frac("schools_bandwidth_measured", t.c_measured),
            Column::frac("schools_bandwidth_on_target", t.c_bandwidth),
            Column::new("availability_24h", t.c_avail_24h),
            Column::new("availability_7d", t.c_avail_7d),
        ],
        rows,
    }
}

/// Where a school stands now.
enum State {
    Online,
    /// No report within the window (an outage going on since `since`), or
    /// reports arriving but the gateway silent (`since` unknown).
    Offline {
        since: Option<i64>,
        kind: Option<OutageKind>,
    },
    NoAgent,
}

fn state(s: &SchoolCoverage) -> State {
    if !s.has_reporting_agent {
        State::NoAgent
    } else if s.online {
        State::Online
    } else {
        let ongoing = s.outages.iter().rev().find(|o| o.end_ms.is_none());
        State::Offline {
            since: ongoing.map(|o| o.start_ms),
            kind: ongoing.map(|o| o.kind),
        }
    }
}

fn state_cell(v: &View, st: &State) -> Cell {
    let t = v.t;
    match st {
        State::Online => Cell::Badge {
            ok: Some(true),
            text: t.online.to_owned(),
            csv: "online".into(),
        },
        State::Offline { .. } => Cell::Badge {
            ok: Some(false),
            text: t.offline.to_owned(),
            csv: "offline".into(),
        },
        State::NoAgent => Cell::coded(t.no_agent, "no_agent"),
    }
}

fn kind_cell(v: &View, st: &State) -> Cell {
    match st {
        State::Offline { kind: Some(k), .. } => Cell::coded(v.t.outage_kind(*k), k.as_str()),
        State::Offline { kind: None, .. } => Cell::coded(v.t.gateway_dark, "gateway_dark"),
        _ => Cell::Empty,
    }
}

/// How well a school meets its targets, 0..=1: the mean of what is known
/// (availability, link kind, measured bandwidth, machines, lab PCs,
/// security); 0 when nothing is.
pub fn score(s: &SchoolCoverage) -> f64 {
    let ratio = |n: u32, d: u32| (d > 0).then(|| (f64::from(n) / f64::from(d)).min(1.0));
    let parts = [
        s.availability_7d.or(s.availability_24h),
        Some(if s.link_kind_on_target { 1.0 } else { 0.0 }),
        s.bandwidth_on_target.map(|b| if b { 1.0 } else { 0.0 }),
        ratio(s.machines_meeting_min, s.reporting_hosts),
        ratio(s.lab_pcs_reporting, s.lab_pcs_expected),
        ratio(
            s.machines_security_baseline_met,
            s.machines_security_reporting,
        ),
    ];
    if !s.has_reporting_agent {
        return 0.0;
    }
    let known: Vec<f64> = parts.into_iter().flatten().collect();
    if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    }
}

/// Worst first: offline schools (longest outage first), then schools
/// without a reporting agent, then the rest by score; ties by id.
fn worst_first(schools: &mut [&SchoolCoverage]) {
    let key = |s: &SchoolCoverage| -> (u8, i64, f64) {
        match state(s) {
            State::Offline { since, .. } => (0, since.unwrap_or(i64::MAX), 0.0),
            State::NoAgent => (1, 0, 0.0),
            State::Online => (2, 0, score(s)),
        }
    };
    schools.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(a.id.cmp(&b.id))
    });
}

/// Schools, worst first, with their state, outage and every target.
fn schools_table(v: &View, id: &'static str, title: &str, schools: &[&SchoolCoverage]) -> Table {
    let t = v.t;
    let mut sorted = schools.to_vec();
    worst_first(&mut sorted);
    let rows = sorted
        .iter()
        .map(|s| {
            let st = state(s);
            let since = match &st {
                State::Offline { since, .. } => *since,
                _ => None,
            };
            let download = newest_throughput(v.school_hosts(&s.id))
                .map(|tp| tp.download_bytes_per_second * 8.0);
            Row {
                key: s.id.clone(),
                class: matches!(st, State::Offline { .. }).then_some("offline"),
                cells: vec![
                    Cell::Link {
                        text: s.name.clone(),
                        href: v.school_href(&s.id),
                    },
                    Cell::Text(s.id.clone()),
                    Cell::Link {
                        text: s.district.clone(),
                        href: v.district_href(&s.district),
                    },
                    state_cell(v, &st),
                    kind_cell(v, &st),
                    Cell::Time(since),
                    since.map_or(Cell::Empty, |ms| Cell::Span(v.fleet.now_ms - ms)),
                    Cell::Int(s.outages.len() as u64),
                    Cell::Share(s.availability_24h),
                    Cell::Share(s.availability_7d),
                    Cell::Badge {
                        ok: Some(s.link_kind_on_target),
                        text: t.link_kind(s.link_kind).to_owned(),
                        csv: s.link_kind.as_str().to_owned(),
                    },
                    match download {
                        None => Cell::Empty,
                        Some(bps) => Cell::Badge {
                            ok: s.bandwidth_on_target,
                            text: v.lang.bits_per_second(bps),
                            csv: bps.to_string(),
                        },
                    },
                    frac(s.machines_meeting_min, s.reporting_hosts),
                    frac(s.lab_pcs_reporting, s.lab_pcs_expected),
                    frac(
                        s.machines_security_baseline_met,
                        s.machines_security_reporting,
                    ),
                    Cell::Share(Some(score(s))),
                ],
            }
        })
        .collect();
    Table {
        id,
        title: title.to_owned(),
        note: Some(t.worst_first.to_owned()),
        columns: vec![
            Column::new("school", t.c_school),
            Column::new("id", t.c_id),
            Column::new("district", t.c_district),
            Column::new("state", t.c_state),
            Column::new("outage_kind", t.c_kind),
            Column::new("since", t.c_since),
            Column::new("for", t.c_for),
            Column::new("outages_7d", t.c_outages),
            Column::new("availability_24h", t.c_avail_24h),
            Column::new("availability_7d", t.c_avail_7d),
            Column::new("link_kind", t.c_link_kind),
            Column::new("download", t.c_download),
            Column::frac("machines_meeting_min", t.c_machines),
            Column::frac("lab_pcs", t.c_lab),
            Column::frac("machines_security_baseline", t.c_security),
            Column::new("score", t.c_score),
        ],
        rows,
    }
}

/// Schools offline now: since when, for how long, what kind.
fn offline_table(v: &View, schools: &[&SchoolCoverage]) -> Table {
    let t = v.t;
    let mut offline: Vec<&SchoolCoverage> = schools
        .iter()
        .copied()
        .filter(|s| matches!(state(s), State::Offline { .. }))
        .collect();
    worst_first(&mut offline);
    let rows = offline
        .iter()
        .map(|s| {
            let st = state(s);
            let since = match &st {
                State::Offline { since, .. } => *since,
                _ => None,
            };
            Row {
                key: s.id.clone(),
                class: Some("offline"),
                cells: vec![
                    Cell::Link {
                        text: s.name.clone(),
                        href: v.school_href(&s.id),
                    },
                    Cell::Link {
                        text: s.district.clone(),
                        href: v.district_href(&s.district),
                    },
                    kind_cell(v, &st),
                    Cell::Time(since),
                    since.map_or(Cell::Empty, |ms| Cell::Span(v.fleet.now_ms - ms)),
                    Cell::Badge {
                        ok: Some(s.link_kind_on_target),
                        text: t.link_kind(s.link_kind).to_owned(),
                        csv: s.link_kind.as_str().to_owned(),
                    },
                ],
            }
        })
        .collect();
    Table {
        id: "offline",
        title: t.t_offline.to_owned(),
        note: Some(format!(
            "{} {}.",
            t.online_window,
            v.lang
                .duration(u64::try_from(v.window_ms / 1000).unwrap_or(0))
        )),
        columns: vec![
            Column::new("school", t.c_school),
            Column::new("district", t.c_district),
            Column::new("outage_kind", t.c_kind),
            Column::new("since", t.c_since),
            Column::new("for", t.c_for),
            Column::new("link_kind", t.c_link_kind),
        ],
        rows,
    }
}

/// Outages of the last 7 days, newest first.
fn outages_table(v: &View, schools: &[&SchoolCoverage], with_school: bool) -> Table {
    let t = v.t;
    let mut all: Vec<(&SchoolCoverage, &crate::outage::Outage)> = schools
        .iter()
        .flat_map(|s| s.outages.iter().map(move |o| (*s, o)))
        .collect();
    all.sort_by(|a, b| b.1.start_ms.cmp(&a.1.start_ms).then(a.0.id.cmp(&b.0.id)));
    let mut columns = Vec::new();
    if with_school {
        columns.push(Column::new("school", t.c_school));
    }
    columns.extend([
        Column::new("outage_kind", t.c_kind),
        Column::new("start", t.c_start),
        Column::new("end", t.c_end),
        Column::new("duration", t.c_duration),
        Column::new("counted", t.c_counted),
        Column::new("reports_during", t.c_reports_during),
        Column::new("gateway_answered", t.c_gateway_up),
        Column::new("gateway_silent", t.c_gateway_down),
    ]);
    let rows = all
        .iter()
        .map(|(s, o)| {
            let mut cells = Vec::new();
            if with_school {
                cells.push(Cell::Link {
                    text: s.name.clone(),
                    href: v.school_href(&s.id),
                });
            }
            cells.extend([
                Cell::coded(t.outage_kind(o.kind), o.kind.as_str()),
                Cell::Time(Some(o.start_ms)),
                match o.end_ms {
                    Some(end) => Cell::Time(Some(end)),
                    None => Cell::Badge {
                        ok: Some(false),
                        text: t.ongoing.to_owned(),
                        csv: String::new(),
                    },
                },
                Cell::Span(o.duration_ms),
                Cell::Span(o.counted_ms),
                Cell::Int(o.evidence.reports),
                Cell::Int(o.evidence.gateway_up),
                Cell::Int(o.evidence.gateway_down),
            ]);
            Row {
                key: format!("{}@{}", s.id, o.start_ms),
                class: o.end_ms.is_none().then_some("offline"),
                cells,
            }
        })
        .collect();
    Table {
        id: "outages",
        title: t.t_outages.to_owned(),
        note: None,
        columns,
        rows,
    }
}

/// A two-column table of facts.
fn facts(id: &'static str, title: &str, v: &View, rows: Vec<(&str, &str, Cell)>) -> Table {
    Table {
        id,
        title: title.to_owned(),
        note: None,
        columns: vec![
            Column::new("field", v.t.c_field),
            Column::new("value", v.t.c_value),
        ],
        rows: rows
            .into_iter()
            .map(|(key, label, value)| Row {
                key: key.to_owned(),
                class: None,
                cells: vec![Cell::Text(label.to_owned()), value],
            })
            .collect(),
    }
}

fn school_facts(v: &View, s: &SchoolCoverage, hosts: &[&HostState]) -> Table {
    let t = v.t;
    let st = state(s);
    let since = match &st {
        State::Offline { since, .. } => *since,
        _ => None,
    };
    let tp = newest_throughput(hosts);
    facts(
        "school",
        t.t_school,
        v,
        vec![
            ("name", t.f_name, Cell::Text(s.name.clone())),
            ("id", t.c_id, Cell::Text(s.id.clone())),
            (
                "district",
                t.c_district,
                Cell::Link {
                    text: s.district.clone(),
                    href: v.district_href(&s.district),
                },
            ),
            (
                "level",
                t.f_level,
                Cell::coded(t.level(s.level), s.level.as_str()),
            ),
            (
                "link_kind",
                t.c_link_kind,
                Cell::Badge {
                    ok: Some(s.link_kind_on_target),
                    text: t.link_kind(s.link_kind).to_owned(),
                    csv: s.link_kind.as_str().to_owned(),
                },
            ),
            (
                "contracted",
                t.f_contracted,
                Cell::Rate(s.contracted_mbps * 1e6),
            ),
            ("state", t.c_state, state_cell(v, &st)),
            ("outage_kind", t.c_kind, kind_cell(v, &st)),
            ("since", t.c_since, Cell::Time(since)),
            ("agents", t.f_agents, Cell::Int(s.agents.into())),
            (
                "reporting",
                t.c_reporting,
                Cell::Int(s.reporting_hosts.into()),
            ),
            (
                "availability_24h",
                t.c_avail_24h,
                Cell::Share(s.availability_24h),
            ),
            (
                "availability_7d",
                t.c_avail_7d,
                Cell::Share(s.availability_7d),
            ),
            (
                "download",
                t.c_download,
                tp.map_or(Cell::Empty, |tp| Cell::Badge {
                    ok: s.bandwidth_on_target,
                    text: v.lang.bits_per_second(tp.download_bytes_per_second * 8.0),
                    csv: (tp.download_bytes_per_second * 8.0).to_string(),
                }),
            ),
            (
                "upload",
                t.f_upload,
                tp.map_or(Cell::Empty, |tp| {
                    Cell::Rate(tp.upload_bytes_per_second * 8.0)
                }),
            ),
            (
                "measured_at",
                t.f_measured_at,
                Cell::Time(tp.and_then(|tp| i64::try_from(tp.measured_at_ms).ok())),
            ),
            (
                "collector_loss",
                t.f_path_loss,
                Cell::Ratio(s.collector_path.map(|p| p.loss_ratio)),
            ),
            (
                "collector_rtt",
                t.f_path_rtt,
                Cell::Rtt(s.collector_path.and_then(|p| p.rtt_median_seconds)),
            ),
            ("score", t.c_score, Cell::Share(Some(score(s)))),
        ],
    )
}

fn host_meets_minimum(v: &View, h: &HostState) -> Option<bool> {
    h.has_inventory.then(|| {
        coverage::meets_minimum(
            &HostFacts {
                role: h.role,
                memory_total_bytes: h.memory_total_bytes,
                logical_cores: h.logical_cores,
                disk_total_bytes: h.disk_total_bytes,
                security_baseline_met: None,
            },
            &v.targets.machine,
        )
    })
}

fn yes_no(v: &View, ok: Option<bool>, unknown: &str) -> Cell {
    match ok {
        Some(b) => Cell::Badge {
            ok: Some(b),
            text: if b { v.t.yes } else { v.t.no }.to_owned(),
            csv: b.to_string(),
        },
        None => Cell::coded(unknown, ""),
    }
}

fn up_cell(v: &View, h: &HostState) -> Cell {
    let up = v.up(h);
    Cell::Badge {
        ok: Some(up),
        text: if up { v.t.up } else { v.t.down }.to_owned(),
        csv: up.to_string(),
    }
}

fn hosts_table(v: &View, hosts: &[&HostState]) -> Table {
    let t = v.t;
    let rows = hosts
        .iter()
        .map(|h| Row {
            key: h.agent_id.clone(),
            class: (!v.up(h)).then_some("offline"),
            cells: vec![
                Cell::Link {
                    text: h.hostname.clone(),
                    href: v.host_href(&h.agent_id),
                },
                Cell::Text(h.agent_id.clone()),
                Cell::coded(t.role(h.role), h.role.as_str()),
                Cell::text(h.os.clone()),
                Cell::Int(h.logical_cores.into()),
                Cell::Bytes(h.memory_total_bytes),
                Cell::Bytes(h.disk_total_bytes),
                yes_no(v, host_meets_minimum(v, h), ""),
                yes_no(
                    v,
                    coverage::meets_baseline(&h.checks, &v.targets.security.baseline),
                    t.no_checks,
                ),
                Cell::Time((h.last_seen_ms > 0).then_some(h.last_seen_ms)),
                up_cell(v, h),
                h.health
                    .as_ref()
                    .map_or(Cell::Empty, |x| Cell::Int(x.queue_reports)),
                h.health
                    .as_ref()
                    .map_or(Cell::Empty, |x| Cell::Int(x.dropped_total())),
            ],
        })
        .collect();
    Table {
        id: "hosts",
        title: t.t_hosts.to_owned(),
        note: None,
        columns: vec![
            Column::new("host", t.c_host),
            Column::new("agent_id", t.c_agent),
            Column::new("role", t.c_role),
            Column::new("os", t.c_os),
            Column::new("cores", t.c_cores),
            Column::new("memory", t.c_memory),
            Column::new("disk", t.c_disk),
            Column::new("meets_minimum", t.c_meets_min),
            Column::new("security_baseline", t.c_baseline),
            Column::new("last_seen", t.c_last_seen),
            Column::new("up", t.c_up),
            Column::new("queued", t.c_queue),
            Column::new("dropped", t.c_dropped),
        ],
        rows,
    }
}

/// A school's network devices: what they are, when they were seen, and
/// for polled ones the uplink load and the UPS; missing ones first.
fn devices_table(v: &View, school_id: &str) -> Table {
    let t = v.t;
    let mut devices: Vec<&crate::store::DeviceRow> = v
        .fleet
        .devices
        .iter()
        .filter(|d| d.school_id == school_id)
        .collect();
    devices.sort_by_key(|d| (!d.missing, d.kind, d.key.clone()));
    let now = v.fleet.now_ms;
    let rows = devices
        .iter()
        .map(|d| {
            let snmp = d.snmp.as_ref();
            let uplink = crate::devices::summarize(std::iter::once(*d), now).uplink;
            let mut note = Vec::new();
            if d.missing {
                note.push(t.device_missing.to_owned());
            } else if now - d.first_seen_ms < crate::devices::NEW_WITHIN_MS {
                note.push(t.device_new.to_owned());
            }
            if let Some(e) = &d.error {
                note.push(e.clone());
            }
            Row {
                key: d.key.clone(),
                class: (!d.up()).then_some("offline"),
                cells: vec![
                    Cell::text(snmp.map(|s| s.sys_name.clone()).unwrap_or_default()),
                    Cell::Text(d.address.clone()),
                    Cell::text(d.mac.clone().unwrap_or_default()),
                    Cell::text(d.vendor.clone().unwrap_or_default()),
                    Cell::coded(t.device_kind(d.kind), d.kind.as_str()),
                    Cell::text(snmp.and_then(|s| s.model.clone()).unwrap_or_default()),
                    Cell::Time(Some(d.first_seen_ms)),
                    Cell::Time(Some(d.last_seen_ms)),
                    Cell::Badge {
                        ok: Some(d.up()),
                        text: if d.up() { t.yes } else { t.no }.to_owned(),
                        csv: u8::from(d.up()).to_string(),
                    },
                    uplink.map_or(Cell::Empty, |u| Cell::Rate(u.receive_bps)),
                    uplink.map_or(Cell::Empty, |u| Cell::Rate(u.transmit_bps)),
                    uplink.map_or(Cell::Empty, |u| Cell::Ratio(u.utilisation())),
                    snmp.and_then(|s| s.ups.as_ref())
                        .map_or(Cell::Empty, |u| Cell::Badge {
                            ok: Some(!u.on_battery),
                            text: if u.on_battery {
                                t.ups_on_battery
                            } else {
                                t.ups_on_mains
                            }
                            .to_owned(),
                            csv: if u.on_battery { "battery" } else { "mains" }.to_owned(),
                        }),
                    Cell::text(note.join("; ")),
                ],
            }
        })
        .collect();
    Table {
        id: "devices",
        title: t.t_devices.to_owned(),
        note: None,
        columns: vec![
            Column::new("name", t.c_device),
            Column::new("address", t.c_address),
            Column::new("mac", t.c_mac),
            Column::new("vendor", t.c_vendor),
            Column::new("kind", t.c_device_kind),
            Column::new("model", t.c_model),
            Column::new("first_seen", t.c_first_seen),
            Column::new("last_seen", t.c_seen),
            Column::new("up", t.c_up),
            Column::new("uplink_in", t.c_uplink_in),
            Column::new("uplink_out", t.c_uplink_out),
            Column::new("uplink_use", t.c_uplink_use),
            Column::new("ups", t.c_ups),
            Column::new("note", t.c_note),
        ],
        rows,
    }
}

fn probes_table(v: &View, hosts: &[&HostState], with_host: bool) -> Table {
    let t = v.t;
    let mut columns = Vec::new();
    if with_host {
        columns.push(Column::new("host", t.c_host));
    }
    columns.extend([
        Column::new("target", t.c_probe_target),
        Column::new("kind", t.c_probe_kind),
        Column::new("sent", t.c_sent),
        Column::new("received", t.c_received),
        Column::new("loss", t.c_loss),
        Column::new("rtt_median", t.c_rtt),
        Column::new("rtt_max", t.c_rtt_max),
        Column::new("jitter", t.c_jitter),
    ]);
    let rows = hosts
        .iter()
        .flat_map(|h| h.probes.iter().map(move |p| (*h, p)))
        .map(|(h, p)| {
            let mut cells = Vec::new();
            if with_host {
                cells.push(Cell::Link {
                    text: h.hostname.clone(),
                    href: v.host_href(&h.agent_id),
                });
            }
            cells.extend([
                Cell::Text(p.target.clone()),
                Cell::coded(t.probe_kind(p.kind), p.kind.as_str()),
                Cell::Int(p.sent.into()),
                Cell::Int(p.received.into()),
                Cell::Ratio(Some(p.loss_ratio)),
                Cell::Rtt(p.rtt_median_seconds),
                Cell::Rtt(p.rtt_max_seconds),
                Cell::Rtt(p.jitter_seconds),
            ]);
            Row {
                key: format!("{}/{}", h.agent_id, p.target),
                class: (p.sent > 0 && p.received == 0).then_some("offline"),
                cells,
            }
        })
        .collect();
    Table {
        id: "probes",
        title: t.t_probes.to_owned(),
        note: None,
        columns,
        rows,
    }
}

/// Every check of every host, failures first.
fn checks_table(v: &View, hosts: &[&HostState], with_host: bool) -> Table {
    let t = v.t;
    let baseline = &v.targets.security.baseline;
    let mut all: Vec<(&HostState, &str, CheckStatus)> = hosts
        .iter()
        .flat_map(|h| h.checks.iter().map(move |(c, s)| (*h, c.as_str(), *s)))
        .collect();
    let rank = |s: CheckStatus| match s {
        CheckStatus::Fail => 0,
        CheckStatus::Unknown => 1,
        CheckStatus::Pass => 2,
    };
    all.sort_by(|a, b| {
        rank(a.2)
            .cmp(&rank(b.2))
            .then(a.0.hostname.cmp(&b.0.hostname))
            .then(a.1.cmp(b.1))
    });
    let mut columns = Vec::new();
    if with_host {
        columns.push(Column::new("host", t.c_host));
    }
    columns.extend([
        Column::new("check", t.c_check),
        Column::new("result", t.c_result),
        Column::new("in_baseline", t.c_in_baseline),
    ]);
    let rows = all
        .iter()
        .map(|(h, check, status)| {
            let mut cells = Vec::new();
            if with_host {
                cells.push(Cell::Link {
                    text: h.hostname.clone(),
                    href: v.host_href(&h.agent_id),
                });
            }
            let in_baseline = baseline.iter().any(|b| b.as_str() == *check);
            cells.extend([
                Cell::Text((*check).to_owned()),
                Cell::Badge {
                    ok: match status {
                        CheckStatus::Pass => Some(true),
                        CheckStatus::Fail => Some(false),
                        CheckStatus::Unknown => None,
                    },
                    text: t.check_status(*status).to_owned(),
                    csv: crate::store::status_name(*status).to_owned(),
                },
                Cell::coded(
                    if in_baseline { t.yes } else { "" },
                    in_baseline.to_string(),
                ),
            ]);
            Row {
                key: format!("{}/{check}", h.agent_id),
                class: None,
                cells,
            }
        })
        .collect();
    Table {
        id: "checks",
        title: t.t_security.to_owned(),
        note: Some(format!("{}: {}", t.c_in_baseline, baseline.join(", "))),
        columns,
        rows,
    }
}

fn regressions_table(v: &View, hosts: &[&HostState]) -> Table {
    let t = v.t;
    let rows = v
        .fleet
        .regressions
        .iter()
        .filter_map(|r| {
            let h = hosts.iter().find(|h| h.agent_id == r.agent_id)?;
            Some(Row {
                key: format!("{}/{}@{}", r.agent_id, r.check_id, r.at_ms),
                class: None,
                cells: vec![
                    Cell::Link {
                        text: h.hostname.clone(),
                        href: v.host_href(&h.agent_id),
                    },
                    Cell::Text(r.check_id.clone()),
                    Cell::Text(r.severity.clone()),
                    Cell::Time(Some(r.at_ms)),
                ],
            })
        })
        .collect();
    Table {
        id: "regressions",
        title: t.t_regressions.to_owned(),
        note: None,
        columns: vec![
            Column::new("host", t.c_host),
            Column::new("check", t.c_check),
            Column::new("severity", t.c_severity),
            Column::new("at", t.c_at),
        ],
        rows,
    }
}

fn host_facts(v: &View, h: &HostState, s: &SchoolCoverage) -> Table {
    let t = v.t;
    let tp = h.throughput.as_ref();
    facts(
        "host",
        t.t_host,
        v,
        vec![
            ("hostname", t.f_hostname, Cell::Text(h.hostname.clone())),
            ("agent_id", t.c_agent, Cell::Text(h.agent_id.clone())),
            (
                "school",
                t.c_school,
                Cell::Link {
                    text: s.name.clone(),
                    href: v.school_href(&s.id),
                },
            ),
            (
                "district",
                t.c_district,
                Cell::Link {
                    text: s.district.clone(),
                    href: v.district_href(&s.district),
                },
            ),
            (
                "role",
                t.c_role,
                Cell::coded(t.role(h.role), h.role.as_str()),
            ),
            ("os", t.c_os, Cell::text(h.os.clone())),
            ("cpu", t.f_cpu, Cell::text(h.cpu_model.clone())),
            ("cores", t.c_cores, Cell::Int(h.logical_cores.into())),
            ("memory", t.c_memory, Cell::Bytes(h.memory_total_bytes)),
            ("disk", t.c_disk, Cell::Bytes(h.disk_total_bytes)),
            (
                "meets_minimum",
                t.c_meets_min,
                yes_no(v, host_meets_minimum(v, h), ""),
            ),
            (
                "security_baseline",
                t.c_baseline,
                yes_no(
                    v,
                    coverage::meets_baseline(&h.checks, &v.targets.security.baseline),
                    t.no_checks,
                ),
            ),
            (
                "boot",
                t.f_boot,
                Cell::Time(
                    (h.boot_time_seconds > 0)
                        .then(|| i64::try_from(h.boot_time_seconds.saturating_mul(1000)).ok())
                        .flatten(),
                ),
            ),
            (
                "last_seen",
                t.c_last_seen,
                Cell::Time((h.last_seen_ms > 0).then_some(h.last_seen_ms)),
            ),
            ("up", t.c_up, up_cell(v, h)),
            ("reports", t.f_reports, Cell::Int(h.reports_total)),
            (
                "last_sequence",
                t.f_last_sequence,
                Cell::Int(h.last_sequence),
            ),
            (
                "download",
                t.c_download,
                tp.map_or(Cell::Empty, |tp| {
                    Cell::Rate(tp.download_bytes_per_second * 8.0)
                }),
            ),
            (
                "upload",
                t.f_upload,
                tp.map_or(Cell::Empty, |tp| {
                    Cell::Rate(tp.upload_bytes_per_second * 8.0)
                }),
            ),
            (
                "measured_at",
                t.f_measured_at,
                Cell::Time(tp.and_then(|tp| i64::try_from(tp.measured_at_ms).ok())),
            ),
        ],
    )
}

fn sample_table(v: &View, h: &HostState) -> Table {
    let t = v.t;
    let rows = match &h.last_sample {
        None => Vec::new(),
        Some(s) => vec![
            (
                "cpu_usage",
                t.f_cpu_usage,
                Cell::Ratio(Some(s.cpu_usage_ratio)),
            ),
            (
                "memory_used",
                t.f_mem_used,
                Cell::Bytes(s.memory_used_bytes),
            ),
            (
                "memory_available",
                t.f_mem_avail,
                Cell::Bytes(s.memory_available_bytes),
            ),
            ("swap_used", t.f_swap, Cell::Bytes(s.swap_used_bytes)),
            ("load_1m", t.f_load, Cell::Text(v.lang.number(s.load[0], 2))),
        ],
    };
    facts("sample", t.t_sample, v, rows)
}

fn interfaces_table(v: &View, h: &HostState) -> Table {
    let t = v.t;
    let rows = h
        .last_sample
        .iter()
        .flat_map(|s| s.interfaces.iter())
        .map(|i| Row {
            key: i.name.clone(),
            class: None,
            cells: vec![
                Cell::Text(i.name.clone()),
                Cell::Rate(i.rx_bits_per_second),
                Cell::Rate(i.tx_bits_per_second),
                Cell::Bytes(i.rx_bytes),
                Cell::Bytes(i.tx_bytes),
                Cell::Int(i.rx_errors + i.tx_errors),
                Cell::Int(i.rx_dropped + i.tx_dropped),
            ],
        })
        .collect();
    Table {
        id: "interfaces",
        title: t.t_interfaces.to_owned(),
        note: None,
        columns: vec![
            Column::new("name", t.c_name),
            Column::new("rx_rate", t.c_rx),
            Column::new("tx_rate", t.c_tx),
            Column::new("rx_bytes", t.c_rx_total),
            Column::new("tx_bytes", t.c_tx_total),
            Column::new("errors", t.c_errors),
            Column::new("drops", t.c_drops),
        ],
        rows,
    }
}

fn disks_table(v: &View, h: &HostState) -> Table {
    let t = v.t;
    Table {
        id: "disks",
        title: t.t_disks.to_owned(),
        note: None,
        columns: vec![
            Column::new("mount", t.c_mount),
            Column::new("size", t.c_size),
            Column::new("free", t.c_free),
        ],
        rows: h
            .disks
            .iter()
            .map(|d| Row {
                key: d.mount.clone(),
                class: None,
                cells: vec![
                    Cell::Text(d.mount.clone()),
                    Cell::Bytes(d.size_bytes),
                    Cell::Bytes(d.available_bytes),
                ],
            })
            .collect(),
    }
}

fn queue_table(v: &View, h: &HostState) -> Table {
    let t = v.t;
    let rows = match &h.health {
        None => Vec::new(),
        Some(q) => vec![
            ("queue_reports", t.c_queue, Cell::Int(q.queue_reports)),
            ("queue_bytes", t.f_queue_bytes, Cell::Bytes(q.queue_bytes)),
            (
                "queue_oldest_age",
                t.f_queue_oldest,
                Cell::Span(
                    i64::try_from(q.queue_oldest_age_seconds.saturating_mul(1000))
                        .unwrap_or(i64::MAX),
                ),
            ),
            (
                "dropped_queue_full",
                t.f_dropped_queue_full,
                Cell::Int(q.dropped_queue_full),
            ),
            (
                "dropped_disk_full",
                t.f_dropped_disk_full,
                Cell::Int(q.dropped_disk_full),
            ),
            (
                "dropped_corrupt",
                t.f_dropped_corrupt,
                Cell::Int(q.dropped_corrupt),
            ),
            (
                "dropped_rejected",
                t.f_dropped_rejected,
                Cell::Int(q.dropped_rejected),
            ),
            (
                "send_failures",
                t.f_send_failures,
                Cell::Int(q.send_failures),
            ),
        ],
    };
    facts("queue", t.t_queue, v, rows)
}

fn frac(num: u32, den: u32) -> Cell {
    Cell::Frac {
        num: num.into(),
        den: den.into(),
    }
}

#[cfg(test)]
mod tests;
