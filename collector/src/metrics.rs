//! Prometheus exposition: the collector's own counters (registered once,
//! atomics) and the fleet's state (encoded from a [`Fleet`] read at scrape
//! time, so revoked hosts vanish at once and nothing is cached stale).
//!
//! Label values come from agents and the registry; prometheus-client
//! escapes them (quotes, backslashes, newlines), and every value is UTF-8.

mod devices;

use crate::coverage::Summary;
use crate::fleet::{Fleet, is_online};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use schoolwatch_protocol::{InterfaceSample, Sample};
use std::sync::Arc;

/// Why a request was refused; the `reason` label of
/// `schoolwatch_ingest_rejected_total`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Reject {
    /// Body over the size limit (compressed).
    TooLarge,
    /// Body over the size limit once decompressed.
    DecompressedTooLarge,
    /// Not JSON or the wrong shape.
    Malformed,
    /// No, unknown or revoked credential (or bad enrollment token).
    Unauthorized,
    /// A schema version this collector does not read.
    UnsupportedVersion,
    /// Over a count or length limit, or an impossible value.
    Limits,
    /// Wrong content type or encoding.
    UnsupportedMediaType,
    /// Too many requests from one credential.
    RateLimited,
    /// The body did not arrive in time.
    Timeout,
}

impl Reject {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reject::TooLarge => "too_large",
            Reject::DecompressedTooLarge => "decompressed_too_large",
            Reject::Malformed => "malformed",
            Reject::Unauthorized => "unauthorized",
            Reject::UnsupportedVersion => "unsupported_version",
            Reject::Limits => "limits",
            Reject::UnsupportedMediaType => "unsupported_media_type",
            Reject::RateLimited => "rate_limited",
            Reject::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The collector's own counters.
pub struct Metrics {
    registry: Registry,
    rejected: Family<ReasonLabels, Counter>,
    /// Reports stored for the first time.
    pub reports_accepted: Counter,
    /// Reports received again (replays), acknowledged but not counted.
    pub reports_duplicate: Counter,
    /// Successful enrollments.
    pub enrollments: Counter,
    /// Requests that failed inside the collector (store errors).
    pub internal_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every counter; each `reason` starts at zero so that a
    /// rate() over it works from the first scrape.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rejected = Family::<ReasonLabels, Counter>::default();
        for r in [
            Reject::TooLarge,
            Reject::DecompressedTooLarge,
            Reject::Malformed,
            Reject::Unauthorized,
            Reject::UnsupportedVersion,
            Reject::Limits,
            Reject::UnsupportedMediaType,
            Reject::RateLimited,
            Reject::Timeout,
        ] {
            let _ = rejected.get_or_create(&ReasonLabels { reason: r.as_str() });
        }
        registry.register(
            "schoolwatch_ingest_rejected",
            "Requests refused, by reason",
            rejected.clone(),
        );
        let reports_accepted = Counter::default();
        registry.register(
            "schoolwatch_ingest_reports",
            "Reports accepted and stored (after de-duplication)",
            reports_accepted.clone(),
        );
        let reports_duplicate = Counter::default();
        registry.register(
            "schoolwatch_ingest_duplicate_reports",
            "Reports received again and acknowledged without storing",
            reports_duplicate.clone(),
        );
        let enrollments = Counter::default();
        registry.register(
            "schoolwatch_enrollments",
            "Agents enrolled (including re-enrollments)",
            enrollments.clone(),
        );
        let internal_errors = Counter::default();
        registry.register(
            "schoolwatch_internal_errors",
            "Requests that failed inside the collector",
            internal_errors.clone(),
        );
        Self {
            registry,
            rejected,
            reports_accepted,
            reports_duplicate,
            enrollments,
            internal_errors,
        }
    }

    /// Adds a collector encoded with the collector's own counters (the
    /// `fleet` part): remote_write's per-endpoint figures.
    pub fn register_collector(
        &mut self,
        collector: Box<dyn prometheus_client::collector::Collector>,
    ) {
        self.registry.register_collector(collector);
    }

    /// Counts a refused request.
    pub fn reject(&self, reason: Reject) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// How many requests were refused for `reason` so far.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .get()
    }

    /// The counters and `fleet` as exposition text: OpenMetrics when
    /// `openmetrics` (what Prometheus asks for), else the classic
    /// Prometheus text format (what `curl` and `promtool check metrics`
    /// read). Returns the content type and the text.
    pub fn encode(
        &self,
        fleet: Arc<Fleet>,
        online_window_ms: i64,
        targets: &crate::targets::Targets,
        selection: &Selection,
        openmetrics: bool,
    ) -> (&'static str, String) {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.encode_into(
            &mut out,
            Some(fleet),
            online_window_ms,
            targets,
            selection,
            openmetrics,
        );
        (content_type(openmetrics), out)
    }

    /// Like [`Metrics::encode`], into any writer: `/metrics` streams it in
    /// chunks, so a scrape of tens of thousands of hosts is never held in
    /// memory whole. An error from the writer (the client went away) stops
    /// the encoding. Without a fleet (a collector that is not the leader
    /// of several), only the collector's own counters.
    pub fn encode_into(
        &self,
        out: &mut impl std::fmt::Write,
        fleet: Option<Arc<Fleet>>,
        online_window_ms: i64,
        targets: &crate::targets::Targets,
        selection: &Selection,
        openmetrics: bool,
    ) -> std::fmt::Result {
        use prometheus_client::encoding::{prometheus_text, text};
        let mut fleet_registry = Registry::default();
        if let Some(fleet) = fleet {
            fleet_registry.register_collector(Box::new(FleetCollector {
                fleet,
                part: selection.part,
                district: selection.district.clone(),
                online_window_ms,
                baseline: targets.security.baseline.clone(),
                min_download_mbps: targets.link.min_download_mbps,
            }));
        }
        // The collector's own counters belong to the fleet part.
        let own = selection.part.fleet();
        if openmetrics {
            if own {
                text::encode_registry(out, &self.registry)?;
            }
            text::encode_registry(out, &fleet_registry)?;
            text::encode_eof(out)
        } else {
            if own {
                prometheus_text::encode(out, &self.registry)?;
            }
            prometheus_text::encode(out, &fleet_registry)
        }
    }
}

/// The content type of the exposition: OpenMetrics when asked for, else
/// the classic Prometheus text format.
pub fn content_type(openmetrics: bool) -> &'static str {
    if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    }
}

/// Which part of the exposition a scrape asks for (`/metrics?part=...`
/// and `&district=...`). A province of a few hundred schools scrapes it
/// all; tens of thousands of hosts are better split into one small fleet
/// scrape and one host scrape per district (README, "Scale").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// What to include.
    pub part: Part,
    /// Only the hosts of this district (host series only).
    pub district: Option<String>,
}

/// A part of the exposition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Part {
    /// Everything.
    #[default]
    All,
    /// The collector's own counters and the series per school, district
    /// and province: no per-host series.
    Fleet,
    /// Only the per-host series.
    Hosts,
}

impl Part {
    /// Parses the `part` query value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Self::All),
            "fleet" => Some(Self::Fleet),
            "hosts" => Some(Self::Hosts),
            _ => None,
        }
    }

    fn fleet(self) -> bool {
        self != Self::Hosts
    }

    fn hosts(self) -> bool {
        self != Self::Fleet
    }
}

/// The labels of every per-host series, in exposition order. remote_write
/// labels its samples with the same function, so both paths name a host
/// alike.
pub fn host_label_set(
    school_id: &str,
    district: &str,
    hostname: &str,
    agent_id: &str,
    role: schoolwatch_protocol::Role,
) -> [(&'static str, String); 5] {
    [
        ("school", school_id.to_owned()),
        ("district", district.to_owned()),
        ("host", hostname.to_owned()),
        ("agent_id", agent_id.to_owned()),
        ("role", role.as_str().to_owned()),
    ]
}

/// Encodes one [`Fleet`] as gauges and counters.
struct FleetCollector {
    fleet: Arc<Fleet>,
    /// The part asked for.
    part: Part,
    /// Only this district's hosts.
    district: Option<String>,
    online_window_ms: i64,
    /// The security baseline's check ids.
    baseline: Vec<String>,
    /// The plan's minimum measured download, Mbit/s.
    min_download_mbps: f64,
}

impl std::fmt::Debug for FleetCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetCollector").finish_non_exhaustive()
    }
}

/// Writes one metric family: a descriptor, then one sample per label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> std::fmt::Result {
    family(
        e,
        name,
        help,
        MetricType::Gauge,
        samples.into_iter().map(|(l, v)| (l, ConstGauge::new(v))),
    )
}

impl prometheus_client::collector::Collector for FleetCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        if self.part.fleet() {
            self.encode_schools(&mut e)?;
            devices::encode_schools(&mut e, &self.fleet)?;
        }
        if self.part.hosts() {
            self.encode_hosts(&mut e)?;
            devices::encode_devices(&mut e, &self.fleet, self.district.as_deref())?;
        }
        if self.part.fleet() {
            self.encode_coverage(&mut e)?;
        }
        Ok(())
    }
}

impl FleetCollector {
    /// Per school: registry, online, speed tests, availability, outages,
    /// security regressions.
    fn encode_schools(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let f = &*self.fleet;
        let school_of: std::collections::HashMap<&str, &crate::registry::School> =
            f.schools.iter().map(|s| (s.id.as_str(), s)).collect();

        // === schools ===
        gauge(
            e,
            "schoolwatch_school_info",
            "A school in the registry (always 1)",
            f.schools.iter().map(|s| {
                (
                    [
                        ("school", s.id.as_str()),
                        ("name", s.name.as_str()),
                        ("district", s.district.as_str()),
                        ("level", s.level.as_str()),
                        ("link_kind", s.link_kind.as_str()),
                    ],
                    1.0,
                )
            }),
        )?;
        let school_labels = |id: &'_ str, district: &'_ str| -> [(&'static str, String); 2] {
            [("school", id.to_owned()), ("district", district.to_owned())]
        };
        gauge(
            e,
            "schoolwatch_school_online",
            "1 when an agent of the school reported within the online window and the school's gateway (when probed) answers",
            f.coverage.iter().map(|c| {
                (
                    school_labels(&c.id, &c.district),
                    f64::from(u8::from(c.online)),
                )
            }),
        )?;
        gauge(
            e,
            "schoolwatch_school_agents",
            "Enrolled agents of the school that are not revoked",
            f.coverage
                .iter()
                .map(|c| (school_labels(&c.id, &c.district), f64::from(c.agents))),
        )?;
        gauge(
            e,
            "schoolwatch_school_contracted_bytes_per_second",
            "Contracted link speed from the registry (Mbit/s times 125000)",
            f.schools.iter().map(|s| {
                (
                    school_labels(&s.id, &s.district),
                    s.contracted_mbps * 125_000.0,
                )
            }),
        )?;
        // The newest throughput test of each school.
        let mut hosts_of: std::collections::HashMap<&str, Vec<&crate::store::HostState>> =
            std::collections::HashMap::new();
        for h in &f.hosts {
            hosts_of.entry(h.school_id.as_str()).or_default().push(h);
        }
        let measured: Vec<(&crate::registry::School, &schoolwatch_protocol::Throughput)> = f
            .schools
            .iter()
            .filter_map(|s| {
                let hosts = hosts_of.get(s.id.as_str())?;
                Some((s, crate::fleet::newest_throughput(hosts)?))
            })
            .collect();
        for (name, help, pick) in [
            (
                "schoolwatch_school_measured_download_bytes_per_second",
                "Download rate of the school's newest throughput test",
                (|t: &schoolwatch_protocol::Throughput| t.download_bytes_per_second)
                    as fn(&_) -> f64,
            ),
            (
                "schoolwatch_school_measured_upload_bytes_per_second",
                "Upload rate of the school's newest throughput test",
                |t| t.upload_bytes_per_second,
            ),
            (
                "schoolwatch_school_measured_timestamp_seconds",
                "When the school's newest throughput test ran",
                |t| t.measured_at_ms as f64 / 1000.0,
            ),
        ] {
            gauge(
                e,
                name,
                help,
                measured
                    .iter()
                    .map(|(s, t)| (school_labels(&s.id, &s.district), pick(t))),
            )?;
        }
        gauge(
            e,
            "schoolwatch_school_target_download_bytes_per_second",
            "The plan's minimum measured download for a school",
            f.schools.iter().map(|s| {
                (
                    school_labels(&s.id, &s.district),
                    self.min_download_mbps * 125_000.0,
                )
            }),
        )?;
        for (name, help, pick) in [
            (
                "schoolwatch_school_availability_24h_ratio",
                "Share of school hours online in the last 24 hours (since the school first reported); scheduled outages do not count",
                (|c: &crate::coverage::SchoolCoverage| c.availability_24h) as fn(&_) -> Option<f64>,
            ),
            (
                "schoolwatch_school_availability_7d_ratio",
                "Share of school hours online in the last 7 days (since the school first reported); scheduled outages do not count",
                |c| c.availability_7d,
            ),
        ] {
            gauge(
                e,
                name,
                help,
                f.coverage
                    .iter()
                    .filter_map(|c| Some((school_labels(&c.id, &c.district), pick(c)?))),
            )?;
        }

        // Loss and latency to the collector, from the online hosts' probes.
        for (name, help, pick) in [
            (
                "schoolwatch_school_collector_loss_ratio",
                "Mean share of ICMP echo requests to the collector lost, over the school's online hosts",
                (|p: &crate::coverage::PathQuality| Some(p.loss_ratio)) as fn(&_) -> Option<f64>,
            ),
            (
                "schoolwatch_school_collector_rtt_median_seconds",
                "Mean of the median round trips to the collector, over the school's online hosts",
                |p| p.rtt_median_seconds,
            ),
        ] {
            gauge(
                e,
                name,
                help,
                f.coverage.iter().filter_map(|c| {
                    Some((
                        school_labels(&c.id, &c.district),
                        pick(c.collector_path.as_ref()?)?,
                    ))
                }),
            )?;
        }
        self.encode_outages(e)?;

        family(
            e,
            "schoolwatch_security_regressions",
            "Security checks that passed on a machine and then failed, per school and check",
            MetricType::Counter,
            f.regression_counts.iter().map(|(school, check, n)| {
                let district = school_of
                    .get(school.as_str())
                    .map_or("", |s| s.district.as_str());
                (
                    [
                        ("school", school.clone()),
                        ("district", district.to_owned()),
                        ("check", check.clone()),
                    ],
                    ConstCounter::new(*n),
                )
            }),
        )?;
        Ok(())
    }

    /// Per host (of one district when asked): inventory, samples, queue
    /// health, probes, security checks.
    fn encode_hosts(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let f = &*self.fleet;
        let school_of: std::collections::HashMap<&str, &crate::registry::School> =
            f.schools.iter().map(|s| (s.id.as_str(), s)).collect();
        let hosts: Vec<&crate::store::HostState> = f
            .hosts
            .iter()
            .filter(|h| {
                self.district.as_deref().is_none_or(|d| {
                    school_of
                        .get(h.school_id.as_str())
                        .is_some_and(|s| s.district == d)
                })
            })
            .collect();
        // === hosts ===
        let host_labels = |h: &crate::store::HostState| -> [(&'static str, String); 5] {
            let district = school_of
                .get(h.school_id.as_str())
                .map_or("", |s| s.district.as_str());
            host_label_set(&h.school_id, district, &h.hostname, &h.agent_id, h.role)
        };
        let reporting = || hosts.iter().copied().filter(|h| h.reports_total > 0);
        let inventoried = || hosts.iter().copied().filter(|h| h.has_inventory);
        gauge(
            e,
            "schoolwatch_host_info",
            "A reporting host (always 1)",
            inventoried().map(|h| {
                let [a, b, c, d, r] = host_labels(h);
                (
                    vec![
                        a,
                        b,
                        c,
                        d,
                        r,
                        ("os", h.os.clone()),
                        ("cpu_model", h.cpu_model.clone()),
                    ],
                    1.0,
                )
            }),
        )?;
        gauge(
            e,
            "schoolwatch_host_last_seen_timestamp_seconds",
            "When the host's last report was received",
            reporting().map(|h| (host_labels(h), h.last_seen_ms as f64 / 1000.0)),
        )?;
        gauge(
            e,
            "schoolwatch_host_up",
            "1 when the host reported within the online window",
            reporting().map(|h| {
                (
                    host_labels(h),
                    f64::from(u8::from(is_online(
                        h.last_seen_ms,
                        f.now_ms,
                        self.online_window_ms,
                    ))),
                )
            }),
        )?;
        family(
            e,
            "schoolwatch_host_reports",
            "Reports accepted from the host (after de-duplication)",
            MetricType::Counter,
            reporting().map(|h| (host_labels(h), ConstCounter::new(h.reports_total))),
        )?;
        gauge(
            e,
            "schoolwatch_host_last_sequence",
            "Highest report sequence accepted from the host",
            reporting().map(|h| (host_labels(h), h.last_sequence as f64)),
        )?;
        for (name, help, pick) in [
            (
                "schoolwatch_host_boot_time_seconds",
                "When the host booted, seconds since the epoch",
                (|h: &crate::store::HostState| h.boot_time_seconds as f64) as fn(&_) -> f64,
            ),
            (
                "schoolwatch_host_memory_total_bytes",
                "Physical memory of the host",
                |h| h.memory_total_bytes as f64,
            ),
            (
                "schoolwatch_host_cpu_logical_cores",
                "Logical CPU cores of the host",
                |h| f64::from(h.logical_cores),
            ),
            (
                "schoolwatch_host_disk_total_bytes",
                "Sum of the host's disk sizes",
                |h| h.disk_total_bytes as f64,
            ),
        ] {
            gauge(
                e,
                name,
                help,
                inventoried().map(|h| (host_labels(h), pick(h))),
            )?;
        }
        // The agent's own health: its queue and what it had to drop, so
        // that reports_total + dropped = last_sequence can be checked.
        let healthy = || reporting().filter_map(|h| Some((h, h.health.as_ref()?)));
        family(
            e,
            "schoolwatch_host_queue_dropped_reports",
            "Reports the agent dropped, by reason (queue_full, disk_full, corrupt, rejected)",
            MetricType::Counter,
            healthy().flat_map(|(h, hl)| {
                let labels = host_labels(h);
                [
                    ("queue_full", hl.dropped_queue_full),
                    ("disk_full", hl.dropped_disk_full),
                    ("corrupt", hl.dropped_corrupt),
                    ("rejected", hl.dropped_rejected),
                ]
                .map(|(reason, n)| {
                    let mut l = labels.to_vec();
                    l.push(("reason", reason.to_owned()));
                    (l, ConstCounter::new(n))
                })
            }),
        )?;
        gauge(
            e,
            "schoolwatch_host_queue_reports",
            "Reports waiting in the agent's queue, as of its newest report",
            healthy().map(|(h, hl)| (host_labels(h), hl.queue_reports as f64)),
        )?;
        gauge(
            e,
            "schoolwatch_host_queue_bytes",
            "Size of the agent's queue files",
            healthy().map(|(h, hl)| (host_labels(h), hl.queue_bytes as f64)),
        )?;
        gauge(
            e,
            "schoolwatch_host_queue_oldest_age_seconds",
            "Age of the oldest report waiting in the agent's queue",
            healthy().map(|(h, hl)| (host_labels(h), hl.queue_oldest_age_seconds as f64)),
        )?;
        family(
            e,
            "schoolwatch_host_send_failures",
            "Sends the agent had to retry (since it started)",
            MetricType::Counter,
            healthy().map(|(h, hl)| (host_labels(h), ConstCounter::new(hl.send_failures))),
        )?;
        let per_disk = |pick: fn(&crate::store::DiskState) -> u64| {
            inventoried().flat_map(move |h| {
                let labels = host_labels(h);
                h.disks.iter().map(move |d| {
                    let mut l = labels.to_vec();
                    l.push(("mount", d.mount.clone()));
                    (l, pick(d) as f64)
                })
            })
        };
        gauge(
            e,
            "schoolwatch_host_disk_size_bytes",
            "Size of a filesystem, as last reported",
            per_disk(|d| d.size_bytes),
        )?;
        gauge(
            e,
            "schoolwatch_host_disk_available_bytes",
            "Free space of a filesystem available to users, as last reported",
            per_disk(|d| d.available_bytes),
        )?;
        let sampled = || {
            hosts
                .iter()
                .copied()
                .filter_map(|h| Some((h, h.last_sample.as_ref()?)))
        };
        gauge(
            e,
            "schoolwatch_host_cpu_usage_ratio",
            "Share of CPU time busy over the last sample interval",
            sampled().map(|(h, s)| (host_labels(h), s.cpu_usage_ratio)),
        )?;
        gauge(
            e,
            "schoolwatch_host_memory_used_bytes",
            "Memory in use at the last sample",
            sampled().map(|(h, s)| (host_labels(h), s.memory_used_bytes as f64)),
        )?;
        // Interface traffic: the kernel's cumulative counters as the agent
        // last read them (for rate() in PromQL) and the agent's own rate
        // over its interval. Base unit bytes, per Prometheus conventions.
        // One sample per host interface, labelled like the host plus
        // `interface`; `pick` chooses the value.
        fn per_interface<'a, T: 'a>(
            hosts: impl Iterator<Item = (Vec<(&'static str, String)>, &'a Sample)> + 'a,
            pick: fn(&InterfaceSample) -> T,
        ) -> impl Iterator<Item = (Vec<(&'static str, String)>, T)> + 'a {
            hosts.flat_map(move |(labels, s)| {
                s.interfaces.iter().map(move |i| {
                    let mut l = labels.clone();
                    l.push(("interface", i.name.clone()));
                    (l, pick(i))
                })
            })
        }
        let labelled = || sampled().map(|(h, s)| (host_labels(h).to_vec(), s));
        family(
            e,
            "schoolwatch_host_network_receive_bytes",
            "Bytes received by an interface, as last reported",
            MetricType::Counter,
            per_interface(labelled(), |i| ConstCounter::new(i.rx_bytes)),
        )?;
        family(
            e,
            "schoolwatch_host_network_transmit_bytes",
            "Bytes sent by an interface, as last reported",
            MetricType::Counter,
            per_interface(labelled(), |i| ConstCounter::new(i.tx_bytes)),
        )?;
        gauge(
            e,
            "schoolwatch_host_network_receive_bytes_per_second",
            "Receive rate of an interface over the agent's last sample interval",
            per_interface(labelled(), |i| i.rx_bits_per_second / 8.0),
        )?;
        gauge(
            e,
            "schoolwatch_host_network_transmit_bytes_per_second",
            "Transmit rate of an interface over the agent's last sample interval",
            per_interface(labelled(), |i| i.tx_bits_per_second / 8.0),
        )?;

        // === probes ===
        // Per host and target, from the newest round the agent reported.
        let per_probe = |pick: fn(&schoolwatch_protocol::ProbeResult) -> Option<f64>| {
            hosts.iter().copied().flat_map(move |h| {
                let labels = host_labels(h);
                h.probes.iter().filter_map(move |p| {
                    let mut l = labels.to_vec();
                    l.push(("target", p.target.clone()));
                    Some((l, pick(p)?))
                })
            })
        };
        for (name, help, pick) in [
            (
                "schoolwatch_probe_loss_ratio",
                "Share of ICMP echo requests without a reply in the newest probe round",
                (|p: &schoolwatch_protocol::ProbeResult| Some(p.loss_ratio))
                    as fn(&_) -> Option<f64>,
            ),
            (
                "schoolwatch_probe_rtt_median_seconds",
                "Median round-trip time of the newest probe round",
                |p| p.rtt_median_seconds,
            ),
            (
                "schoolwatch_probe_rtt_avg_seconds",
                "Mean round-trip time of the newest probe round",
                |p| p.rtt_avg_seconds,
            ),
            (
                "schoolwatch_probe_rtt_max_seconds",
                "Slowest round trip of the newest probe round",
                |p| p.rtt_max_seconds,
            ),
            (
                "schoolwatch_probe_jitter_seconds",
                "Mean difference between consecutive round trips of the newest probe round",
                |p| p.jitter_seconds,
            ),
        ] {
            gauge(e, name, help, per_probe(pick))?;
        }

        // === security ===
        // Unknown results are left out: an alert on `== 0` must not fire
        // for a check the machine could not answer.
        family(
            e,
            "schoolwatch_host_check_passed",
            "1 when a security check passes on the host, 0 when it fails",
            MetricType::Gauge,
            hosts.iter().copied().flat_map(|h| {
                let labels = host_labels(h);
                h.checks.iter().filter_map(move |(id, status)| {
                    let v = match status {
                        schoolwatch_protocol::CheckStatus::Pass => 1.0,
                        schoolwatch_protocol::CheckStatus::Fail => 0.0,
                        schoolwatch_protocol::CheckStatus::Unknown => return None,
                    };
                    let mut l = labels.to_vec();
                    l.push(("check", id.clone()));
                    Some((l, ConstGauge::new(v)))
                })
            }),
        )?;
        gauge(
            e,
            "schoolwatch_host_security_baseline_met",
            "1 when every check of the security baseline passes on the host",
            hosts.iter().copied().filter_map(|h| {
                let met = crate::coverage::meets_baseline(&h.checks, &self.baseline)?;
                Some((host_labels(h), f64::from(u8::from(met))))
            }),
        )?;
        let by_agent: std::collections::HashMap<&str, &crate::store::HostState> = hosts
            .iter()
            .copied()
            .map(|h| (h.agent_id.as_str(), h))
            .collect();
        let mut last_regression: std::collections::BTreeMap<(&str, &str), i64> =
            std::collections::BTreeMap::new();
        for r in &f.regressions {
            let at = last_regression
                .entry((&r.agent_id, &r.check_id))
                .or_insert(r.at_ms);
            *at = (*at).max(r.at_ms);
        }
        gauge(
            e,
            "schoolwatch_host_check_regression_timestamp_seconds",
            "When a check last went from pass to fail on the host (last 7 days)",
            last_regression.iter().filter_map(|((agent, check), at)| {
                let h = by_agent.get(agent)?;
                let mut l = host_labels(h).to_vec();
                l.push(("check", (*check).to_owned()));
                Some((l, *at as f64 / 1000.0))
            }),
        )?;

        Ok(())
    }

    /// Coverage per district, the province and link kind.
    fn encode_coverage(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let f = &*self.fleet;
        // === coverage ===
        coverage_families(e, "schoolwatch_district", &f.districts, true)?;
        coverage_families(
            e,
            "schoolwatch_province",
            std::slice::from_ref(&f.province),
            false,
        )?;
        link_kind_families(e, &f.by_link_kind)?;
        Ok(())
    }

    /// Outages of the last 7 days per school and kind, and the newest one.
    fn encode_outages(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        let school_labels = |id: &str, district: &str| {
            [("school", id.to_owned()), ("district", district.to_owned())]
        };
        use crate::outage::OutageKind;
        let f = &*self.fleet;
        // Per school and kind: how many, and for how long. Kinds a school
        // did not have are left out rather than written as 0 for every
        // school; `or vector(0)` in PromQL fills them.
        let per_kind = |pick: fn(&crate::outage::Outage) -> f64| {
            f.coverage.iter().flat_map(move |c| {
                OutageKind::ALL.into_iter().filter_map(move |kind| {
                    let mine: Vec<_> = c.outages.iter().filter(|o| o.kind == kind).collect();
                    if mine.is_empty() {
                        return None;
                    }
                    let mut l = school_labels(&c.id, &c.district).to_vec();
                    l.push(("kind", kind.as_str().to_owned()));
                    Some((l, mine.iter().map(|o| pick(o)).sum::<f64>()))
                })
            })
        };
        gauge(
            e,
            "schoolwatch_school_outages_7d",
            "Outages of the school in the last 7 days (including one going on), by kind: wan, lan, power, scheduled, unknown",
            per_kind(|_| 1.0),
        )?;
        gauge(
            e,
            "schoolwatch_school_outage_7d_seconds",
            "Total length of the school's outages of the last 7 days, by kind",
            per_kind(|o| o.duration_ms as f64 / 1000.0),
        )?;
        gauge(
            e,
            "schoolwatch_school_outage_counted_7d_seconds",
            "School hours lost to the school's outages of the last 7 days, by kind (what availability counts)",
            per_kind(|o| o.counted_ms as f64 / 1000.0),
        )?;
        let last = || {
            f.coverage.iter().filter_map(|c| {
                let o = c.outages.last()?;
                let mut l = school_labels(&c.id, &c.district).to_vec();
                l.push(("kind", o.kind.as_str().to_owned()));
                Some((l, o))
            })
        };
        gauge(
            e,
            "schoolwatch_school_last_outage_start_timestamp_seconds",
            "When the school's newest outage began (its last report before the silence)",
            last().map(|(l, o)| (l, o.start_ms as f64 / 1000.0)),
        )?;
        gauge(
            e,
            "schoolwatch_school_last_outage_end_timestamp_seconds",
            "When the school's newest outage ended; absent while it lasts",
            last().filter_map(|(l, o)| Some((l, o.end_ms? as f64 / 1000.0))),
        )?;
        gauge(
            e,
            "schoolwatch_school_last_outage_duration_seconds",
            "Length of the school's newest outage (so far, while it lasts)",
            last().map(|(l, o)| (l, o.duration_ms as f64 / 1000.0)),
        )
    }
}

/// Picks one coverage figure from a summary.
type Pick = fn(&Summary) -> Option<f64>;

/// Every coverage figure: metric name suffix, help, how to read it.
fn coverage_fields() -> [(&'static str, &'static str, Pick); 20] {
    [
        ("schools_registered", "Schools in the registry", |s| {
            Some(f64::from(s.schools_registered))
        }),
        (
            "schools_reporting",
            "Schools with at least one reporting agent",
            |s| Some(f64::from(s.schools_reporting)),
        ),
        (
            "schools_without_agent",
            "Registered schools with no reporting agent",
            |s| Some(f64::from(s.schools_without_agent)),
        ),
        ("schools_online", "Schools online now", |s| {
            Some(f64::from(s.schools_online))
        }),
        (
            "availability_24h_ratio",
            "Mean availability over 24 hours of reporting schools",
            |s| s.availability_24h,
        ),
        (
            "availability_7d_ratio",
            "Mean availability over 7 days of reporting schools",
            |s| s.availability_7d,
        ),
        ("machines_reporting", "Machines reporting", |s| {
            Some(f64::from(s.machines_reporting))
        }),
        (
            "machines_meeting_minimum",
            "Machines meeting the minimum configuration",
            |s| Some(f64::from(s.machines_meeting_min)),
        ),
        ("lab_pcs_reporting", "Lab PCs reporting", |s| {
            Some(f64::from(s.lab_pcs_reporting))
        }),
        (
            "lab_pcs_expected",
            "Lab PCs expected by the registry",
            |s| Some(f64::from(s.lab_pcs_expected)),
        ),
        (
            "schools_link_on_target",
            "Schools whose contracted link is of the target kind",
            |s| Some(f64::from(s.schools_link_on_target)),
        ),
        (
            "schools_bandwidth_measured",
            "Schools with a measured bandwidth",
            |s| Some(f64::from(s.schools_bandwidth_measured)),
        ),
        (
            "schools_bandwidth_on_target",
            "Schools whose measured bandwidth meets the target",
            |s| Some(f64::from(s.schools_bandwidth_on_target)),
        ),
        (
            "machines_security_reporting",
            "Machines that reported security checks",
            |s| Some(f64::from(s.machines_security_reporting)),
        ),
        (
            "machines_security_baseline_met",
            "Machines meeting the security baseline",
            |s| Some(f64::from(s.machines_security_baseline_met)),
        ),
        (
            "devices_known",
            "Network devices on record (found or polled on the schools' LANs)",
            |s| Some(f64::from(s.devices_known)),
        ),
        (
            "devices_expected",
            "Network devices expected by the registry",
            |s| Some(f64::from(s.devices_expected)),
        ),
        (
            "equipment_expected",
            "Equipment expected by the registry: lab PCs and network devices",
            |s| Some(f64::from(s.equipment_expected)),
        ),
        (
            "equipment_recorded",
            "Expected equipment with a digital record (reporting machines and known devices, at most each school's expectation)",
            |s| Some(f64::from(s.equipment_recorded)),
        ),
        (
            "equipment_record_ratio",
            "Share of the expected equipment with a digital record",
            Summary::equipment_record_ratio,
        ),
    ]
}

/// Coverage of the schools on each contracted link kind, for the province
/// and per district: how the fibre plan is going, and whether 4G schools
/// get the bandwidth they need meanwhile.
fn link_kind_families(
    e: &mut DescriptorEncoder,
    groups: &[(Option<String>, crate::registry::LinkKind, Summary)],
) -> std::fmt::Result {
    // The coverage fields that make sense per link kind.
    const PER_KIND: [&str; 6] = [
        "schools_registered",
        "schools_reporting",
        "schools_online",
        "schools_bandwidth_measured",
        "schools_bandwidth_on_target",
        "availability_7d_ratio",
    ];
    let fields: Vec<_> = coverage_fields()
        .into_iter()
        .filter(|(name, _, _)| PER_KIND.contains(name))
        .collect();
    for (prefix, district_level) in [
        ("schoolwatch_province", false),
        ("schoolwatch_district", true),
    ] {
        for &(name, help, pick) in &fields {
            gauge(
                e,
                &format!("{prefix}_link_kind_{name}"),
                &format!("{help}, by contracted link kind"),
                groups
                    .iter()
                    .filter(|(d, _, _)| d.is_some() == district_level)
                    .filter_map(|(d, kind, s)| {
                        let mut l = vec![("link_kind", kind.as_str().to_owned())];
                        if let Some(d) = d {
                            l.insert(0, ("district", d.clone()));
                        }
                        Some((l, pick(s)?))
                    }),
            )?;
        }
    }
    Ok(())
}

/// Coverage gauges for districts (labelled by district) or the province.
fn coverage_families(
    e: &mut DescriptorEncoder,
    prefix: &str,
    summaries: &[Summary],
    by_district: bool,
) -> std::fmt::Result {
    let labels = |s: &Summary| -> Vec<(&'static str, String)> {
        if by_district {
            vec![("district", s.scope.clone())]
        } else {
            Vec::new()
        }
    };
    for (name, help, pick) in coverage_fields() {
        gauge(
            e,
            &format!("{prefix}_{name}"),
            help,
            summaries.iter().filter_map(|s| Some((labels(s), pick(s)?))),
        )?;
    }
    Ok(())
}
