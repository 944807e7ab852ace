//! Reports of simulated hosts, as the agent would make them: the
//! protocol's [`Report`] with an inventory in the first report after the
//! agent starts (at the start of the run, and again when the power comes
//! back), a sample and a probe round (the school's gateway and the
//! collector, [`Builder::probes`]) in every one, posture checks when the
//! agent starts and then every `--security-interval` of fleet time (the
//! agent's `[security] interval_secs`), the school's network devices in
//! the server's reports ([`crate::devices`]), and the agent's health.
//!
//! A report is a pure function of the fleet, the host, its tick in the
//! run and the health passed in, so a report that waits for a link to
//! come back can be rebuilt instead of kept.

use crate::fleet::{Fleet, OutageKind, SimHost};
use crate::traffic;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use schoolwatch_agent::collect::security::CHECKS;
use schoolwatch_protocol::{
    AgentHealth, Check, CheckStatus, DiskInfo, DiskKind, Dmi, InterfaceInfo, InterfaceSample,
    Inventory, ListeningSocket, ProbeKind, ProbeResult, Report, Role, Sample, Security, Severity,
    SocketProtocol, Throughput,
};
use std::sync::LazyLock;

/// What the agent version field says, so the collector's operators can
/// tell simulated hosts from real ones.
pub const AGENT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-sim");

/// Echo requests per target per report: the agent's default
/// (`[probe] count`), taken from its own configuration defaults.
pub static PROBE_COUNT: LazyLock<u32> =
    LazyLock::new(|| schoolwatch_agent::config::Config::default().probe.count);

/// Round trip to the school's gateway, ms: a LAN hop.
const GATEWAY_RTT_MS: std::ops::Range<f64> = 0.3..2.0;

/// The report schedule of a run.
#[derive(Debug, Clone)]
pub struct Builder<'a> {
    /// The fleet.
    pub fleet: &'a Fleet,
    /// Fleet time of the start of the run, ms since the Unix epoch.
    pub fleet_start_ms: u64,
    /// Fleet time between two posture reports of a host, ms.
    pub security_every_ms: u64,
    /// The security baseline: checks the posture section must carry even
    /// when the agent's own list does not name them.
    pub baseline: &'a [String],
    /// The collector's host name (from its URL), the target the agent's
    /// collector probe names.
    pub collector_host: &'a str,
    /// Fleet time between two devices pictures of a school's server
    /// (the agent's `[snmp] interval_secs`), ms; 0: none.
    pub devices_every_ms: u64,
}

impl Builder<'_> {
    /// The report host `h` makes at tick `k` (from 0), with sequence `seq`.
    pub fn build(
        &self,
        h: usize,
        k: u64,
        agent_id: &str,
        seq: u64,
        health: Option<AgentHealth>,
    ) -> Report {
        let host = &self.fleet.hosts[h];
        let at_ms = self.fleet.tick_ms(h, k);
        let sampled_at_ms = self.fleet_start_ms + at_ms;
        let mut r = Report::new(agent_id.to_owned(), seq, sampled_at_ms);
        let mut noise = Xoshiro256PlusPlus::seed_from_u64(
            host.noise_seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        if self.fleet.starts_agent(h, k) {
            r.inventory = Some(self.inventory(h, at_ms));
        }
        r.sample = Some(self.sample(host, sampled_at_ms, &mut noise));
        if self.carries_security(h, k) {
            r.security = Some(self.security(host, at_ms));
        }
        if self.fleet.report_index(h, k) == Some(0)
            && self.fleet.schools[host.school].hosts.start == h
        {
            r.throughput = Some(self.throughput(host, sampled_at_ms, &mut noise));
        }
        if self.carries_devices(h, k) {
            r.devices = self.devices(h, k);
        }
        r.probes = self.probes(h, k);
        r.health = health;
        r
    }

    /// Whether host `h`'s report at tick `k` carries posture checks: the
    /// first after the agent starts, then the first after each
    /// `security_every_ms` of the run.
    pub fn carries_security(&self, h: usize, k: u64) -> bool {
        let every = self.security_every_ms.max(1);
        let interval = self.fleet.interval_ms;
        self.fleet.starts_agent(h, k)
            || (k > 0 && (k * interval) / every > ((k - 1) * interval) / every)
    }

    /// Whether host `h`'s report at tick `k` carries the inventory.
    pub fn carries_inventory(&self, h: usize, k: u64) -> bool {
        self.fleet.starts_agent(h, k)
    }

    /// The probe round of host `h`'s report at tick `k`, as the agent's
    /// runner adds it: the collector (by the host name of its URL), then
    /// the school's gateway, [`PROBE_COUNT`] echo requests each, summarised
    /// by the agent's own [`summarize`](schoolwatch_agent::collect::icmp::summarize).
    ///
    /// Round trips and losses follow the school's [`crate::fleet::CollectorPath`];
    /// the gateway answers in about a millisecond. In a WAN outage the
    /// collector gets no reply; in a LAN outage neither does the gateway.
    pub fn probes(&self, h: usize, k: u64) -> Vec<ProbeResult> {
        use schoolwatch_agent::collect::icmp::summarize;
        let host = &self.fleet.hosts[h];
        let school = &self.fleet.schools[host.school];
        let at_ms = self.fleet.tick_ms(h, k);
        let dark = self
            .fleet
            .outage(h)
            .filter(|o| o.covers(at_ms))
            .map(|o| o.kind);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            host.noise_seed.rotate_left(17) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let count = *PROBE_COUNT;
        let path = school.path;
        // Every echo draws the same numbers whatever its fate, so the
        // stream does not depend on the outage.
        let mut collector = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let lost = rng.random_bool(path.loss);
            let rtt_ms = path.rtt_ms * (1.0 + path.rtt_spread * rng.random_range(0.0..1.0));
            if !lost {
                collector.push(rtt_ms / 1000.0);
            }
        }
        let mut gateway: Vec<f64> = (0..count)
            .map(|_| rng.random_range(GATEWAY_RTT_MS) / 1000.0)
            .collect();
        match dark {
            Some(OutageKind::Wan) => collector.clear(),
            Some(OutageKind::Lan) => {
                collector.clear();
                gateway.clear();
            }
            // Nothing is made in a power cut.
            Some(OutageKind::Power) | None => {}
        }
        let mut to_collector = summarize(self.collector_host, count, &collector);
        to_collector.kind = ProbeKind::Collector;
        let mut to_gateway = summarize(&school.gateway.to_string(), count, &gateway);
        to_gateway.kind = ProbeKind::Gateway;
        vec![to_collector, to_gateway]
    }

    /// The posture checks of report `k` of host `h`, as the collector
    /// stores them (id and status).
    pub fn checks(&self, h: usize, k: u64) -> Vec<(String, CheckStatus)> {
        let host = &self.fleet.hosts[h];
        self.security(host, self.fleet.tick_ms(h, k))
            .checks
            .into_iter()
            .map(|c| (c.id, c.status))
            .collect()
    }

    /// The throughput result host `h` reports in its first report, if it
    /// runs the school's test: download Mbit/s.
    pub fn measured_download_mbps(&self, h: usize) -> Option<f64> {
        let host = &self.fleet.hosts[h];
        if self.fleet.schools[host.school].hosts.start != h || self.fleet.reports(h) == 0 {
            return None;
        }
        let r = self.build(h, self.fleet.tick_of_report(h, 0), "", 1, None);
        r.throughput
            .map(|t| t.download_bytes_per_second * 8.0 / 1e6)
    }

    /// The inventory of host `h` whose agent starts at fleet time `at_ms`.
    fn inventory(&self, h: usize, at_ms: u64) -> Inventory {
        let host = &self.fleet.hosts[h];
        let school = &self.fleet.schools[host.school];
        let hw = &host.hardware;
        let mut disk_rng = Xoshiro256PlusPlus::seed_from_u64(host.noise_seed ^ 0xD15C);
        let disks = hw
            .disks
            .iter()
            .enumerate()
            .map(|(i, (total, kind))| DiskInfo {
                mount_point: if i == 0 {
                    "/".into()
                } else {
                    format!("/data{i}")
                },
                device: match kind {
                    DiskKind::Ssd if hw.old => "/dev/mmcblk0p2".into(),
                    DiskKind::Ssd => format!("/dev/nvme{i}n1p2"),
                    _ => format!("/dev/sd{}1", (b'a' + i as u8) as char),
                },
                filesystem: "ext4".into(),
                total_bytes: *total,
                available_bytes: (*total as f64 * disk_rng.random_range(0.15..0.7)) as u64,
                kind: *kind,
                removable: false,
            })
            .collect();
        let octets: Vec<u8> = host
            .mac
            .split(':')
            .filter_map(|o| u8::from_str_radix(o, 16).ok())
            .collect();
        let (vendor, product) = match (host.role, hw.old) {
            (Role::Server, _) => ("Dell Inc.", "PowerEdge T140"),
            (_, true) => ("Hewlett-Packard", "HP Compaq Pro 6300 SFF"),
            (_, false) => ("Dell Inc.", "OptiPlex 3080"),
        };
        Inventory {
            hostname: host.hostname.clone(),
            os_name: hw.os_name.into(),
            os_version: hw.os_version.into(),
            kernel_version: hw.kernel_version.into(),
            architecture: "x86_64".into(),
            cpu_model: hw.cpu_model.into(),
            cpu_physical_cores: Some(hw.physical_cores),
            cpu_logical_cores: hw.logical_cores,
            memory_total_bytes: hw.memory_total_bytes,
            swap_total_bytes: 2 << 30,
            boot_time_seconds: match self.fleet.booted_ms(h, at_ms) {
                Some(booted) => (self.fleet_start_ms + booted) / 1000,
                None => (self.fleet_start_ms / 1000).saturating_sub(host.uptime_at_start_secs),
            },
            disks,
            interfaces: vec![InterfaceInfo {
                name: "eth0".into(),
                mac: Some(host.mac.clone()),
                // In the school's /16, beside its gateway (x.x.0.1).
                addresses: vec![format!(
                    "10.{}.{}.{}/16",
                    school.gateway.octets()[1],
                    octets.get(4).copied().unwrap_or(0),
                    octets.get(5).copied().unwrap_or(0).max(2)
                )],
                speed_mbps: Some(if hw.old { 100 } else { 1000 }),
                up: true,
            }],
            dmi: Dmi {
                vendor: Some(vendor.into()),
                product: Some(product.into()),
                serial: None,
                bios_version: Some(if hw.old { "A14" } else { "2.9.1" }.into()),
                bios_date: Some(if hw.old { "06/13/2014" } else { "01/10/2023" }.into()),
            },
            agent_version: AGENT_VERSION.into(),
            role: host.role,
        }
    }

    fn sample(&self, host: &SimHost, sampled_at_ms: u64, noise: &mut Xoshiro256PlusPlus) -> Sample {
        let interval_ms = self.fleet.interval_ms;
        let level = traffic::level(sampled_at_ms as f64 / 1000.0);
        let busy = match host.role {
            Role::Lab => 0.7,
            Role::Office => 0.35,
            Role::Server => 0.25,
        };
        let cpu = (0.02 + busy * level + noise.random_range(0.0..0.05)).min(1.0);
        let total = host.hardware.memory_total_bytes;
        let mem_share = (0.25 + 0.45 * level + noise.random_range(0.0..0.05)).min(0.95);
        let used = (total as f64 * mem_share) as u64;
        let cores = f64::from(host.hardware.logical_cores);
        let peak = host.peak_rx_bytes_per_second;
        let start = self.fleet_start_ms;
        let from = sampled_at_ms.saturating_sub(interval_ms);
        let rx_total = traffic::bytes_between(start, sampled_at_ms, peak);
        let tx_total = traffic::bytes_between(start, sampled_at_ms, peak * host.tx_share);
        let rx_now = traffic::bytes_between(from, sampled_at_ms, peak);
        let tx_now = traffic::bytes_between(from, sampled_at_ms, peak * host.tx_share);
        let secs = interval_ms as f64 / 1000.0;
        let rx_bytes = host.rx_base_bytes + rx_total as u64;
        let tx_bytes = host.tx_base_bytes + tx_total as u64;
        Sample {
            interval_ms,
            cpu_usage_ratio: cpu,
            memory_used_bytes: used,
            memory_available_bytes: total - used,
            swap_used_bytes: 0,
            load: [cpu * cores, cpu * cores * 0.9, cpu * cores * 0.8],
            interfaces: vec![InterfaceSample {
                name: "eth0".into(),
                rx_bytes,
                tx_bytes,
                // Full-size packets down, smaller ones up.
                rx_packets: rx_bytes / 1400,
                tx_packets: tx_bytes / 600,
                rx_bits_per_second: rx_now * 8.0 / secs,
                tx_bits_per_second: tx_now * 8.0 / secs,
                ..Default::default()
            }],
        }
    }

    fn security(&self, host: &SimHost, at_ms: u64) -> Security {
        let mut ids: Vec<(&str, Severity)> = CHECKS.to_vec();
        for b in self.baseline {
            if !ids.iter().any(|(id, _)| id == b) {
                ids.push((b.as_str(), Severity::Medium));
            }
        }
        let checks = ids
            .into_iter()
            .map(|(id, severity)| {
                let fails = host.posture.fails(id, at_ms);
                Check {
                    id: id.to_owned(),
                    status: if fails {
                        CheckStatus::Fail
                    } else {
                        CheckStatus::Pass
                    },
                    severity,
                    evidence: evidence(id, fails).to_owned(),
                    reason: None,
                }
            })
            .collect();
        let listening = if host.role == Role::Server {
            vec![ListeningSocket {
                protocol: SocketProtocol::Tcp,
                address: "0.0.0.0".into(),
                port: 22,
                process: Some("sshd".into()),
            }]
        } else {
            Vec::new()
        };
        Security { checks, listening }
    }

    fn throughput(
        &self,
        host: &SimHost,
        sampled_at_ms: u64,
        noise: &mut Xoshiro256PlusPlus,
    ) -> Throughput {
        let link_bytes = self.fleet.schools[host.school].link_mbps * 1e6 / 8.0;
        let down = link_bytes * noise.random_range(0.7..0.95);
        let up = down * noise.random_range(0.2..0.5);
        let secs = 8.0;
        Throughput {
            measured_at_ms: sampled_at_ms.saturating_sub(30_000),
            download_bytes: (down * secs) as u64,
            download_bytes_per_second: down,
            upload_bytes: (up * secs) as u64,
            upload_bytes_per_second: up,
        }
    }
}

/// Short evidence, as the agent would write it.
fn evidence(id: &str, fails: bool) -> &'static str {
    use schoolwatch_agent::collect::security as s;
    match (id, fails) {
        (s::FIREWALL_ACTIVE, false) => "nftables: input chain policy drop",
        (s::FIREWALL_ACTIVE, true) => "no input filter rules",
        (s::ENDPOINT_PROTECTION_RUNNING, false) => "clamd running, signatures 1 day old",
        (s::ENDPOINT_PROTECTION_RUNNING, true) => "no known antivirus process running",
        (s::SECURITY_UPDATES_PENDING, true) => "14 security updates pending",
        (s::OS_UPDATES_PENDING, true) => "37 updates pending",
        (s::AUTOMATIC_UPDATES_ENABLED, true) => "unattended-upgrades not installed",
        (s::EMPTY_PASSWORD_ACCOUNTS, true) => "account without a password: student",
        (s::EXTRA_UID0_ACCOUNTS, true) => "uid 0 besides root: admin2",
        (_, false) => "ok",
        (_, true) => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{FleetSpec, HostCount};
    use schoolwatch_collector::registry::LinkKind;

    fn fleet() -> Fleet {
        let schools = schoolwatch_collector::registry::parse_csv(
            schoolwatch_collector::demo::SAMPLE_REGISTRY,
        )
        .unwrap();
        Fleet::build(
            &schools[..4],
            &FleetSpec {
                seed: 5,
                hosts: HostCount::PerSchool(4),
                old_share: 0.5,
                posture_fail_share: 1.0,
                outage_share: 0.0,
                outage_mix: crate::fleet::OutageMix::default(),
                outage_min_ms: 0,
                outage_max_ms: 0,
                duration_ms: 3 * 3_600_000,
                interval_ms: 60_000,
                baseline: vec!["firewall_active".into()],
                devices: true,
            },
        )
    }

    #[test]
    fn probes_follow_the_link_and_the_outage() {
        let schools = schoolwatch_collector::registry::parse_csv(
            schoolwatch_collector::demo::SAMPLE_REGISTRY,
        )
        .unwrap();
        let f = Fleet::build(
            &schools,
            &FleetSpec {
                seed: 9,
                hosts: HostCount::PerSchool(2),
                old_share: 0.0,
                posture_fail_share: 0.0,
                outage_share: 0.5,
                outage_mix: crate::fleet::OutageMix::parse("wan=1,lan=1").unwrap(),
                outage_min_ms: 3_600_000,
                outage_max_ms: 3_600_000,
                duration_ms: 3 * 3_600_000,
                interval_ms: 600_000,
                baseline: Vec::new(),
                devices: true,
            },
        );
        let b = Builder {
            fleet: &f,
            fleet_start_ms: 1_740_970_800_000,
            security_every_ms: 3_600_000,
            baseline: &[],
            collector_host: "collector.example",
            devices_every_ms: 60_000,
        };
        let (mut seen_loss, mut seen_wan, mut seen_lan) = (false, false, false);
        for h in 0..f.hosts.len() {
            let school = &f.schools[f.hosts[h].school];
            for k in 0..f.ticks(h) {
                let [c, g] = <[ProbeResult; 2]>::try_from(b.probes(h, k)).unwrap();
                assert_eq!(
                    (c.kind, c.target.as_str()),
                    (ProbeKind::Collector, "collector.example")
                );
                assert_eq!(
                    (g.kind, g.target.clone()),
                    (ProbeKind::Gateway, school.gateway.to_string())
                );
                for p in [&c, &g] {
                    assert_eq!(p.sent, *PROBE_COUNT);
                    let rtts = [
                        p.rtt_min_seconds,
                        p.rtt_median_seconds,
                        p.rtt_avg_seconds,
                        p.rtt_max_seconds,
                    ];
                    if p.received == 0 {
                        assert_eq!(p.loss_ratio, 1.0);
                        assert!(rtts.iter().all(Option::is_none) && p.jitter_seconds.is_none());
                    } else {
                        let [min, median, avg, max] = rtts.map(Option::unwrap);
                        assert!(min <= median && median <= max, "{p:?}");
                        assert!(min <= avg && avg <= max, "{p:?}");
                    }
                }
                let dark = f
                    .outage(h)
                    .filter(|o| o.covers(f.tick_ms(h, k)))
                    .map(|o| o.kind);
                match dark {
                    Some(OutageKind::Wan) => {
                        seen_wan = true;
                        assert_eq!((c.received, g.received), (0, g.sent));
                    }
                    Some(OutageKind::Lan) => {
                        seen_lan = true;
                        assert_eq!((c.received, g.received), (0, 0));
                    }
                    _ if school.school.link_kind == LinkKind::None => {}
                    _ => {
                        assert_eq!(g.received, g.sent);
                        assert!(g.rtt_max_seconds.unwrap() < 0.002, "{g:?}");
                        seen_loss |= c.received < c.sent;
                        if c.received > 0 {
                            let (min, max) =
                                (c.rtt_min_seconds.unwrap(), c.rtt_max_seconds.unwrap());
                            let want = match school.school.link_kind {
                                LinkKind::Fibre | LinkKind::Broadband => 0.010..=0.030,
                                LinkKind::FourG => 0.040..=0.120,
                                _ => 0.0..=1.0,
                            };
                            assert!(
                                want.contains(&min) && want.contains(&max),
                                "{:?}: {c:?}",
                                school.school.link_kind
                            );
                        }
                    }
                }
            }
        }
        assert!(seen_loss && seen_wan && seen_lan);
    }

    #[test]
    fn reports_are_valid_and_rebuild_the_same() {
        let f = fleet();
        let baseline = vec!["firewall_active".to_owned()];
        let b = Builder {
            fleet: &f,
            fleet_start_ms: 1_740_970_800_000,
            security_every_ms: 3_600_000,
            baseline: &baseline,
            collector_host: "collector.example",
            devices_every_ms: 60_000,
        };
        let mut last_rx = 0;
        for k in 0..f.ticks(0) {
            let r = b.build(0, k, "agent-1", k + 1, None);
            let bytes = serde_json::to_vec(&r).unwrap();
            // The collector's own decoder, with its limits, takes it.
            let back = schoolwatch_protocol::decode_report(&bytes).unwrap();
            assert_eq!(back.sequence, k + 1);
            // Rebuilt later, the same report.
            assert_eq!(r, b.build(0, k, "agent-1", k + 1, None));
            assert_eq!(r.inventory.is_some(), k == 0);
            assert_eq!(r.probes.len(), 2);
            assert_eq!(r.throughput.is_some(), k == 0);
            let rx = r.sample.unwrap().interfaces[0].rx_bytes;
            assert!(rx > last_rx);
            last_rx = rx;
        }
        // Posture every hour of fleet time: the first report and two more.
        let with_security = (0..f.ticks(0))
            .filter(|k| b.carries_security(0, *k))
            .count();
        assert_eq!(with_security, 3);
    }
}
