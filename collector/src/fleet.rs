//! The fleet's state at one moment, read from the store: schools, hosts,
//! availability and coverage. `/metrics`, `coverage` and the demo all read
//! this one picture, so they never disagree.

use crate::coverage::{self, HostFacts, SchoolCoverage, SchoolFacts, Summary};
use crate::registry::School;
use crate::store::{HostState, Regression, Store, StoreError};
use crate::targets::Targets;
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
    /// Security regressions of the last 7 days, newest first.
    pub regressions: Vec<Regression>,
    /// Regressions ever, per (school, check).
    pub regression_counts: Vec<(String, String, u64)>,
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
        let agents: HashMap<String, u32> = store.agent_counts()?.into_iter().collect();
        let day: HashMap<String, _> = store
            .availability(now_ms - DAY_MS, now_ms, window_ms)?
            .into_iter()
            .collect();
        let week: HashMap<String, _> = store
            .availability(now_ms - 7 * DAY_MS, now_ms, window_ms)?
            .into_iter()
            .collect();
        let mut by_school: HashMap<&str, Vec<&HostState>> = HashMap::new();
        for h in &hosts {
            by_school.entry(&h.school_id).or_default().push(h);
        }
        let coverage: Vec<SchoolCoverage> = schools
            .iter()
            .map(|s| {
                let own = by_school.get(s.id.as_str()).map_or(&[][..], Vec::as_slice);
                let reporting: Vec<&&HostState> =
                    own.iter().filter(|h| h.reports_total > 0).collect();
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
                    online: reporting
                        .iter()
                        .any(|h| is_online(h.last_seen_ms, now_ms, window_ms)),
                    availability_24h: day.get(&s.id).and_then(|a| a.share()),
                    availability_7d: week.get(&s.id).and_then(|a| a.share()),
                    // The school's newest test, whichever machine ran it.
                    measured_download_mbps: newest_throughput(own)
                        .map(|t| t.download_bytes_per_second * 8.0 / 1e6),
                };
                coverage::school(&facts, targets)
            })
            .collect();
        let districts = coverage::by_district(&coverage);
        let province = coverage::summarize("province", &coverage);
        let regressions = store.regressions(now_ms - 7 * DAY_MS)?;
        let regression_counts = store.regression_counts()?;
        Ok(Self {
            regressions,
            regression_counts,
            now_ms,
            schools,
            hosts,
            coverage,
            districts,
            province,
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
