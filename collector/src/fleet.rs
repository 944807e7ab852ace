//! The fleet's state at one moment, read from the store: schools, hosts,
//! availability and coverage. `/metrics`, `coverage` and the demo all read
//! this one picture, so they never disagree.

use crate::coverage::{self, HostFacts, SchoolCoverage, SchoolFacts, Summary};
use crate::outage::Outage;
use crate::registry::{LinkKind, School};
use crate::store::{DeviceRow, HostState, Regression, Store, StoreError};
use crate::targets::Targets;
use schoolwatch_protocol::{ProbeKind, ProbeResult};
use std::collections::HashMap;
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// One consistent picture of the fleet.
pub struct Fleet {
    /// When it was taken, ms since the epoch.
    pub now_ms: i64,
    /// Schools in the registry, by id.
    pub schools: Vec<School>,
    /// Hosts of live agents.
    pub hosts: Vec<HostState>,
    /// Coverage per school, in `schools` order.
    pub coverage: Vec<SchoolCoverage>,
    /// Coverage per district.
    pub districts: Vec<Summary>,
    /// Coverage of the whole province.
    pub province: Summary,
    /// Coverage per contracted link kind, of the province and of each
    /// district (district `None` for the province).
    pub by_link_kind: Vec<(Option<String>, LinkKind, Summary)>,
    /// Security regressions of the last 7 days, newest first.
    pub regressions: Vec<Regression>,
    /// Regressions ever, per (school, check).
    pub regression_counts: Vec<(String, String, u64)>,
    /// Network devices on record, by school and key.
    pub devices: Vec<DeviceRow>,
    /// Each school's devices summed up (schools without devices absent).
    pub school_devices: HashMap<String, crate::devices::SchoolDevices>,
}

impl Fleet {
    /// Reads the store (blocking; run it on a blocking thread).
    pub fn load(
        store: &Store,
        targets: &Targets,
        online_window: Duration,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let window_ms = i64::try_from(online_window.as_millis()).unwrap_or(i64::MAX);
        let schools = store.schools()?;
        let hosts = store.hosts()?;
        let devices = store.devices()?;
        let mut devices_by_school: HashMap<&str, Vec<&DeviceRow>> = HashMap::new();
        for d in &devices {
            devices_by_school.entry(&d.school_id).or_default().push(d);
        }
        let school_devices: HashMap<String, crate::devices::SchoolDevices> = devices_by_school
            .iter()
            .map(|(school, rows)| {
                (
                    (*school).to_owned(),
                    crate::devices::summarize(rows.iter().copied(), now_ms),
                )
            })
            .collect();
        let agents: HashMap<String, u32> = store.agent_counts()?.into_iter().collect();
        let first_seen: HashMap<String, i64> = store.first_seen()?.into_iter().collect();
        let week_ago = now_ms - 7 * DAY_MS;
        let mut recorded: HashMap<String, Vec<crate::store::OutageRow>> = HashMap::new();
        for (school, row) in store.outages(week_ago)? {
            recorded.entry(school).or_default().push(row);
        }
        let mut by_school: HashMap<&str, Vec<&HostState>> = HashMap::new();
        for h in &hosts {
            by_school.entry(&h.school_id).or_default().push(h);
        }
        let calendar = &targets.calendar;
        let mut coverage = Vec::with_capacity(schools.len());
        for s in &schools {
            let own = by_school.get(s.id.as_str()).map_or(&[][..], Vec::as_slice);
            let reporting: Vec<&&HostState> = own.iter().filter(|h| h.reports_total > 0).collect();
            let last_seen = reporting.iter().map(|h| h.last_seen_ms).max();
            // Recorded outages, then the one going on now, if any.
            let mut spans: Vec<(i64, Option<i64>)> = recorded
                .get(&s.id)
                .map(|rows| rows.iter().map(|o| (o.start_ms, Some(o.end_ms))).collect())
                .unwrap_or_default();
            if let Some(last) = last_seen
                && !is_online(last, now_ms, window_ms)
            {
                spans.push((last, None));
            }
            let mut outages = Vec::with_capacity(spans.len());
            for (start, end) in spans {
                // An outage still going on has nothing to tell yet.
                let evidence = match end {
                    Some(end) => {
                        let (from, to) = crate::outage::evidence_window(start, end);
                        store.outage_evidence(&s.id, from, to)?
                    }
                    None => crate::outage::Evidence::default(),
                };
                outages.push(Outage::new(start, end, now_ms, evidence, calendar));
            }
            let first = first_seen.get(&s.id).copied();
            let availability = |from_ms: i64| {
                first.and_then(|f| {
                    crate::outage::availability(&outages, calendar, from_ms, f, now_ms)
                })
            };
            let facts = SchoolFacts {
                school: s,
                agents: agents.get(&s.id).copied().unwrap_or(0),
                reporting_hosts: reporting
                    .iter()
                    .filter(|h| h.has_inventory)
                    .map(|h| HostFacts {
                        role: h.role,
                        memory_total_bytes: h.memory_total_bytes,
                        logical_cores: h.logical_cores,
                        disk_total_bytes: h.disk_total_bytes,
                        security_baseline_met: coverage::meets_baseline(
                            &h.checks,
                            &targets.security.baseline,
                        ),
                    })
                    .collect(),
                // Up: a report within the window, and the school's gateway
                // (when probed) still answering.
                online: reporting.iter().any(|h| {
                    is_online(h.last_seen_ms, now_ms, window_ms) && !gateway_dark(&h.probes)
                }),
                availability_24h: availability(now_ms - DAY_MS),
                availability_7d: availability(week_ago),
                // The school's newest test, whichever machine ran it.
                measured_download_mbps: newest_throughput(own)
                    .map(|t| t.download_bytes_per_second * 8.0 / 1e6),
                collector_path: collector_path(
                    reporting
                        .iter()
                        .filter(|h| is_online(h.last_seen_ms, now_ms, window_ms))
                        .flat_map(|h| h.probes.iter()),
                ),
                outages,
                devices_known: school_devices.get(&s.id).map_or(0, |d| d.known),
            };
            coverage.push(coverage::school(&facts, targets));
        }
        let districts = coverage::by_district(&coverage);
        let province = coverage::summarize("province", &coverage);
        let by_link_kind = coverage::by_link_kind(&coverage);
        let regressions = store.regressions(now_ms - 7 * DAY_MS)?;
        let regression_counts = store.regression_counts()?;
        drop(devices_by_school);
        Ok(Self {
            devices,
            school_devices,
            regressions,
            regression_counts,
            now_ms,
            schools,
            hosts,
            coverage,
            districts,
            province,
            by_link_kind,
        })
    }
}

/// The newest throughput test among `hosts`.
pub fn newest_throughput<'a>(
    hosts: &[&'a HostState],
) -> Option<&'a schoolwatch_protocol::Throughput> {
    hosts
        .iter()
        .filter_map(|h| h.throughput.as_ref())
        .max_by_key(|t| t.measured_at_ms)
}

/// Whether a host's newest probe round shows its gateway dark: gateway
/// probes went out and not one came back.
pub fn gateway_dark(probes: &[ProbeResult]) -> bool {
    let mut gateway = probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Gateway && p.sent > 0)
        .peekable();
    gateway.peek().is_some() && gateway.all(|p| p.received == 0)
}

/// The school's path to the collector: mean loss and mean median RTT over
/// the collector probes of its online hosts. `None` without such probes.
fn collector_path<'a>(
    probes: impl Iterator<Item = &'a ProbeResult>,
) -> Option<coverage::PathQuality> {
    let mine: Vec<&ProbeResult> = probes
        .filter(|p| p.kind == ProbeKind::Collector && p.sent > 0)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let rtts: Vec<f64> = mine.iter().filter_map(|p| p.rtt_median_seconds).collect();
    Some(coverage::PathQuality {
        loss_ratio: mine.iter().map(|p| p.loss_ratio).sum::<f64>() / mine.len() as f64,
        rtt_median_seconds: (!rtts.is_empty())
            .then(|| rtts.iter().sum::<f64>() / rtts.len() as f64),
    })
}

/// Whether a report received at `last_seen_ms` is recent enough.
pub fn is_online(last_seen_ms: i64, now_ms: i64, window_ms: i64) -> bool {
    last_seen_ms > 0 && now_ms - last_seen_ms <= window_ms
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The newest fleet picture, kept for a while in proportion to what it
/// cost to build: a fleet scrape and one host scrape per district arriving
/// together build it once, and however often anyone scrapes, building it
/// takes at most a fifth of the time. A picture that took 5 ms is kept for
/// 20 ms; one that took a second, for 4 s (never more than 10 s).
#[derive(Default)]
pub struct FleetCache {
    /// Held while a picture is built, so concurrent scrapes wait for that
    /// one instead of building their own.
    slot: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    built: std::time::Instant,
    took: Duration,
    fleet: std::sync::Arc<Fleet>,
}

impl FleetCache {
    /// The cached picture if still fresh, else one built by `load` on a
    /// blocking thread.
    pub async fn get(
        &self,
        load: impl FnOnce() -> Result<Fleet, StoreError> + Send + 'static,
    ) -> Result<std::sync::Arc<Fleet>, CacheError> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref()
            && c.built.elapsed() < (c.took * 4).min(Duration::from_secs(10))
        {
            return Ok(c.fleet.clone());
        }
        // Let the stale picture go first (unless a scrape still encodes
        // it), so that two of them are not held at once.
        *slot = None;
        let start = std::time::Instant::now();
        let fleet = std::sync::Arc::new(tokio::task::spawn_blocking(load).await??);
        *slot = Some(Cached {
            built: std::time::Instant::now(),
            took: start.elapsed(),
            fleet: fleet.clone(),
        });
        Ok(fleet)
    }
}

/// Why no fleet picture could be built.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task panicked or was cancelled.
    #[error("building the fleet picture failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
