//! The series of one accepted report, at the report's own timestamps,
//! with the names and labels `/metrics` gives the same data.
//!
//! What a report carries (its sample, probe round, queue health, security
//! results, throughput test) becomes samples at its `sampled_at_ms` (the
//! throughput test at its `measured_at_ms`). What describes the host
//! rather than the moment (`schoolwatch_host_info`, memory, cores, disks,
//! the latest check results) comes from the report when it carries an
//! inventory or security section, else from the host's state in the
//! store ([`Host`]), so dashboards that join on those series work on
//! remote-written data too. Fleet, school coverage and outage series
//! describe "now" and are not written; scrape `/metrics?part=fleet` for
//! them.

use super::proto::TimeSeries;
use crate::metrics::host_label_set;
use crate::store::DiskState;
use schoolwatch_protocol::{CheckStatus, Inventory, Report, Role};

/// What the store knows of a host: its labels and the figures that
/// describe it rather than a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The agent id (label `agent_id`).
    pub agent_id: String,
    /// Its school (label `school`).
    pub school_id: String,
    /// The school's district (label `district`).
    pub district: String,
    /// Host name (label `host`).
    pub hostname: String,
    /// Role (label `role`).
    pub role: Role,
    /// The latest inventory's figures, once one was received.
    pub inventory: Option<InventoryFigures>,
    /// The newest security results, by check id.
    pub checks: Vec<(String, CheckStatus)>,
}

/// The inventory figures `/metrics` exposes per host.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryFigures {
    /// OS name and version (label `os`).
    pub os: String,
    /// CPU model (label `cpu_model`).
    pub cpu_model: String,
    /// Logical cores.
    pub logical_cores: u32,
    /// RAM, bytes.
    pub memory_total_bytes: u64,
    /// Sum of disk sizes, bytes.
    pub disk_total_bytes: u64,
    /// Boot time, seconds since the epoch.
    pub boot_time_seconds: u64,
    /// Each filesystem.
    pub disks: Vec<DiskState>,
}

impl InventoryFigures {
    /// The figures of `inv`, computed as the store computes them.
    pub fn of(inv: &Inventory) -> Self {
        Self {
            os: format!("{} {}", inv.os_name, inv.os_version)
                .trim()
                .to_owned(),
            cpu_model: inv.cpu_model.clone(),
            logical_cores: inv.cpu_logical_cores,
            memory_total_bytes: inv.memory_total_bytes,
            disk_total_bytes: inv.disks.iter().map(|d| d.total_bytes).sum(),
            boot_time_seconds: inv.boot_time_seconds,
            disks: DiskState::of(inv),
        }
    }
}

impl Host {
    /// Takes what `report` says about the host (host name, role,
    /// inventory, check results), as the store does when it accepts it.
    pub fn update_from(&mut self, report: &Report) {
        if let Some(inv) = &report.inventory {
            self.hostname = inv.hostname.clone();
            self.role = inv.role;
            self.inventory = Some(InventoryFigures::of(inv));
        }
        if let Some(sec) = &report.security {
            self.checks = sec
                .checks
                .iter()
                .map(|c| (c.id.clone(), c.status))
                .collect();
            self.checks.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
}

/// Collects series for one report.
struct Out<'a> {
    labels: Vec<(&'static str, String)>,
    at: i64,
    series: &'a mut Vec<TimeSeries>,
}

impl Out<'_> {
    fn push(&mut self, name: &str, extra: &[(&str, &str)], value: f64) {
        self.push_at(name, extra, value, self.at);
    }

    fn push_at(&mut self, name: &str, extra: &[(&str, &str)], value: f64, at: i64) {
        let mut l: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        l.extend_from_slice(extra);
        self.series.push(TimeSeries::one(name, &l, value, at));
    }
}

/// The series of `report` from `host` (whose state is as of just before
/// this report; the report's own inventory and security results win).
pub fn for_report(host: &Host, report: &Report) -> Vec<TimeSeries> {
    let mut host = std::borrow::Cow::Borrowed(host);
    if report.inventory.is_some() || report.security.is_some() {
        host.to_mut().update_from(report);
    }
    let at = i64::try_from(report.sampled_at_ms).unwrap_or(i64::MAX);
    let mut series = Vec::with_capacity(48);
    let mut o = Out {
        labels: host_label_set(
            &host.school_id,
            &host.district,
            &host.hostname,
            &host.agent_id,
            host.role,
        )
        .to_vec(),
        at,
        series: &mut series,
    };

    // === host ===
    o.push("schoolwatch_host_up", &[], 1.0);
    o.push(
        "schoolwatch_host_last_sequence",
        &[],
        report.sequence as f64,
    );
    if let Some(inv) = &host.inventory {
        o.push(
            "schoolwatch_host_info",
            &[("os", &inv.os), ("cpu_model", &inv.cpu_model)],
            1.0,
        );
        o.push(
            "schoolwatch_host_boot_time_seconds",
            &[],
            inv.boot_time_seconds as f64,
        );
        o.push(
            "schoolwatch_host_memory_total_bytes",
            &[],
            inv.memory_total_bytes as f64,
        );
        o.push(
            "schoolwatch_host_cpu_logical_cores",
            &[],
            f64::from(inv.logical_cores),
        );
        o.push(
            "schoolwatch_host_disk_total_bytes",
            &[],
            inv.disk_total_bytes as f64,
        );
        for d in &inv.disks {
            let m = [("mount", d.mount.as_str())];
            o.push("schoolwatch_host_disk_size_bytes", &m, d.size_bytes as f64);
            o.push(
                "schoolwatch_host_disk_available_bytes",
                &m,
                d.available_bytes as f64,
            );
        }
    }

    // === agent health ===
    if let Some(h) = &report.health {
        for (reason, n) in [
            ("queue_full", h.dropped_queue_full),
            ("disk_full", h.dropped_disk_full),
            ("corrupt", h.dropped_corrupt),
            ("rejected", h.dropped_rejected),
        ] {
            o.push(
                "schoolwatch_host_queue_dropped_reports_total",
                &[("reason", reason)],
                n as f64,
            );
        }
        o.push(
            "schoolwatch_host_queue_reports",
            &[],
            h.queue_reports as f64,
        );
        o.push("schoolwatch_host_queue_bytes", &[], h.queue_bytes as f64);
        o.push(
            "schoolwatch_host_queue_oldest_age_seconds",
            &[],
            h.queue_oldest_age_seconds as f64,
        );
        o.push(
            "schoolwatch_host_send_failures_total",
            &[],
            h.send_failures as f64,
        );
    }

    // === sample ===
    if let Some(s) = &report.sample {
        o.push("schoolwatch_host_cpu_usage_ratio", &[], s.cpu_usage_ratio);
        o.push(
            "schoolwatch_host_memory_used_bytes",
            &[],
            s.memory_used_bytes as f64,
        );
        // Not on /metrics (yet): the load averages, node_exporter's names
        // with our prefix.
        for (name, v) in [
            ("schoolwatch_host_load1", s.load[0]),
            ("schoolwatch_host_load5", s.load[1]),
            ("schoolwatch_host_load15", s.load[2]),
        ] {
            o.push(name, &[], v);
        }
        for i in &s.interfaces {
            let l = [("interface", i.name.as_str())];
            o.push(
                "schoolwatch_host_network_receive_bytes_total",
                &l,
                i.rx_bytes as f64,
            );
            o.push(
                "schoolwatch_host_network_transmit_bytes_total",
                &l,
                i.tx_bytes as f64,
            );
            o.push(
                "schoolwatch_host_network_receive_bytes_per_second",
                &l,
                i.rx_bits_per_second / 8.0,
            );
            o.push(
                "schoolwatch_host_network_transmit_bytes_per_second",
                &l,
                i.tx_bits_per_second / 8.0,
            );
        }
    }

    // === probes ===
    for p in &report.probes {
        let l = [("target", p.target.as_str())];
        o.push("schoolwatch_probe_loss_ratio", &l, p.loss_ratio);
        for (name, v) in [
            ("schoolwatch_probe_rtt_median_seconds", p.rtt_median_seconds),
            ("schoolwatch_probe_rtt_avg_seconds", p.rtt_avg_seconds),
            ("schoolwatch_probe_rtt_max_seconds", p.rtt_max_seconds),
            ("schoolwatch_probe_jitter_seconds", p.jitter_seconds),
        ] {
            if let Some(v) = v {
                o.push(name, &l, v);
            }
        }
    }

    // === security ===
    // Unknown results are left out, as on /metrics.
    for (id, status) in &host.checks {
        let v = match status {
            CheckStatus::Pass => 1.0,
            CheckStatus::Fail => 0.0,
            CheckStatus::Unknown => continue,
        };
        o.push("schoolwatch_host_check_passed", &[("check", id)], v);
    }

    // === school ===
    // A throughput test is the school's measurement, at the time it ran.
    if let Some(t) = &report.throughput {
        let at = i64::try_from(t.measured_at_ms).unwrap_or(i64::MAX);
        o.labels = vec![
            ("school", host.school_id.clone()),
            ("district", host.district.clone()),
        ];
        for (name, v) in [
            (
                "schoolwatch_school_measured_download_bytes_per_second",
                t.download_bytes_per_second,
            ),
            (
                "schoolwatch_school_measured_upload_bytes_per_second",
                t.upload_bytes_per_second,
            ),
            (
                "schoolwatch_school_measured_timestamp_seconds",
                t.measured_at_ms as f64 / 1000.0,
            ),
        ] {
            o.push_at(name, &[], v, at);
        }
    }
    series
}

#[cfg(test)]
mod tests;
