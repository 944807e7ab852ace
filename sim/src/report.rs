//! Reports of simulated hosts, as the agent would make them: the
//! protocol's [`Report`] with an inventory in the first report of a run,
//! a sample in every one, posture checks in the first and then every
//! `--security-interval` of fleet time (the agent's `[security]
//! interval_secs`), and the agent's health.
//!
//! A report is a pure function of the fleet, the host, its number in the
//! run and the health passed in, so a report that waits for a link to
//! come back can be rebuilt instead of kept.

use crate::fleet::{Fleet, SimHost};
use crate::traffic;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use schoolwatch_agent::collect::security::CHECKS;
use schoolwatch_protocol::{
    AgentHealth, Check, CheckStatus, DiskInfo, DiskKind, Dmi, InterfaceInfo, InterfaceSample,
    Inventory, ListeningSocket, Report, Role, Sample, Security, Severity, SocketProtocol,
    Throughput,
};

/// What the agent version field says, so the collector's operators can
/// tell simulated hosts from real ones.
pub const AGENT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-sim");

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
}

impl Builder<'_> {
    /// Report number `k` (from 0) of host `h`, with sequence `seq`.
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
        if k == 0 {
            r.inventory = Some(self.inventory(host));
        }
        r.sample = Some(self.sample(host, sampled_at_ms, &mut noise));
        if self.carries_security(k) {
            r.security = Some(self.security(host, at_ms));
        }
        if k == 0 && self.fleet.schools[host.school].hosts.start == h {
            r.throughput = Some(self.throughput(host, sampled_at_ms, &mut noise));
        }
        r.health = health;
        r
    }

    /// Whether report `k` of host `h` carries posture checks: the first of
    /// the run, then the first after each `security_every_ms`.
    pub fn carries_security(&self, k: u64) -> bool {
        let every = self.security_every_ms.max(1);
        let interval = self.fleet.interval_ms;
        k == 0 || (k * interval) / every > ((k - 1) * interval) / every
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
        if self.fleet.schools[host.school].hosts.start != h {
            return None;
        }
        let r = self.build(h, 0, "", 1, None);
        r.throughput
            .map(|t| t.download_bytes_per_second * 8.0 / 1e6)
    }

    fn inventory(&self, host: &SimHost) -> Inventory {
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
            boot_time_seconds: (self.fleet_start_ms / 1000)
                .saturating_sub(host.uptime_at_start_secs),
            disks,
            interfaces: vec![InterfaceInfo {
                name: "eth0".into(),
                mac: Some(host.mac.clone()),
                addresses: vec![format!(
                    "10.{}.{}.{}/16",
                    octets.get(3).copied().unwrap_or(0),
                    octets.get(4).copied().unwrap_or(0),
                    octets.get(5).copied().unwrap_or(0).max(1)
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
                outage_min_ms: 0,
                outage_max_ms: 0,
                duration_ms: 3 * 3_600_000,
                interval_ms: 60_000,
                baseline: vec!["firewall_active".into()],
            },
        )
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
            assert_eq!(r.throughput.is_some(), k == 0);
            let rx = r.sample.unwrap().interfaces[0].rx_bytes;
            assert!(rx > last_rx);
            last_rx = rx;
        }
        // Posture every hour of fleet time: the first report and two more.
        let with_security = (0..f.ticks(0)).filter(|k| b.carries_security(*k)).count();
        assert_eq!(with_security, 3);
    }
}
