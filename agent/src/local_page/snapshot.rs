//! What the local page shows: the agent's own newest measurements, its
//! queue and whether the collector answered, as the runner last knew them.
//!
//! The runner writes it (a few clones a minute); the page reads it. It is
//! also the page's JSON (`/status.json`), so field names follow the
//! protocol's report sections.

use schoolwatch_protocol::{
    AgentHealth, Check, Inventory, ProbeResult, Report, Sample, Throughput,
};
use serde::Serialize;

/// The agent as the local page shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// When this answer was made, ms since the epoch.
    pub now_ms: u64,
    /// The agent's version.
    pub agent_version: String,
    /// The host's agent id (from enrollment).
    pub agent_id: String,
    /// The school it enrolled into.
    pub school_id: String,
    /// The collector's address.
    pub collector: String,
    /// When `run` started, ms.
    pub started_ms: u64,
    /// The newest host picture (the report carries it only when changed;
    /// the page keeps the last one).
    pub inventory: Option<Inventory>,
    /// The newest report made.
    pub last_report: Option<LastReport>,
    /// The newest sample: CPU, memory, interfaces and their rates.
    pub sample: Option<Sample>,
    /// The newest probe round (loss and round trips per target).
    pub probes: Vec<ProbeResult>,
    /// When that round rode a report, ms.
    pub probes_at_ms: Option<u64>,
    /// The newest throughput test.
    pub throughput: Option<Throughput>,
    /// The newest posture checks.
    pub checks: Vec<Check>,
    /// The queue: reports waiting, oldest age, dropped by reason, failed
    /// sends; as of the last change.
    pub queue: AgentHealth,
    /// Whether the collector answered the last send.
    pub collector_link: CollectorLink,
}

/// The newest report made.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LastReport {
    /// Its sequence number.
    pub sequence: u64,
    /// When it was sampled, ms.
    pub sampled_at_ms: u64,
}

/// How the last sends to the collector went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectorLink {
    /// `true` when the last send got an answer from the collector
    /// (acknowledged or refused), `false` when it did not get through,
    /// `None` before the first send.
    pub reachable: Option<bool>,
    /// When the last send finished, ms.
    pub last_attempt_ms: Option<u64>,
    /// When the collector last acknowledged a batch, ms.
    pub last_delivery_ms: Option<u64>,
    /// The last failure, as the shipper logged it.
    pub last_error: Option<String>,
    /// When it happened, ms.
    pub last_error_ms: Option<u64>,
    /// Set while a batch is on the wire: when it left, ms. A send that
    /// hangs on a dead link shows here before it times out.
    pub sending_since_ms: Option<u64>,
}

/// How one send ended, for [`Snapshot::sent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// The collector acknowledged the batch.
    Delivered,
    /// The send did not get through (or the collector asked to retry).
    Failed(String),
    /// The collector answered and refused the batch for good.
    Refused(String),
}

// === impl Snapshot ===

impl Snapshot {
    /// Records a report just made: its sample, probes, throughput test and
    /// checks, and the inventory it was made from.
    pub fn report(&mut self, report: &Report, inventory: &Inventory) {
        self.inventory = Some(inventory.clone());
        self.last_report = Some(LastReport {
            sequence: report.sequence,
            sampled_at_ms: report.sampled_at_ms,
        });
        if let Some(s) = &report.sample {
            self.sample = Some(s.clone());
        }
        if !report.probes.is_empty() {
            self.probes = report.probes.clone();
            self.probes_at_ms = Some(report.sampled_at_ms);
        }
        if let Some(t) = &report.throughput {
            self.throughput = Some(t.clone());
        }
        if let Some(s) = &report.security {
            self.checks = s.checks.clone();
        }
    }

    /// Records that a batch left at `now_ms`.
    pub fn sending(&mut self, now_ms: u64) {
        self.collector_link.sending_since_ms = Some(now_ms);
    }

    /// Records how a send ended at `now_ms`.
    pub fn sent(&mut self, result: SendResult, now_ms: u64) {
        let link = &mut self.collector_link;
        link.sending_since_ms = None;
        link.last_attempt_ms = Some(now_ms);
        match result {
            SendResult::Delivered => {
                link.reachable = Some(true);
                link.last_delivery_ms = Some(now_ms);
            }
            SendResult::Failed(e) => {
                link.reachable = Some(false);
                link.last_error = Some(e);
                link.last_error_ms = Some(now_ms);
            }
            SendResult::Refused(e) => {
                link.reachable = Some(true);
                link.last_error = Some(e);
                link.last_error_ms = Some(now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_follows_the_last_send() {
        let mut s = Snapshot::default();
        assert_eq!(s.collector_link.reachable, None);
        s.sending(10);
        assert_eq!(s.collector_link.sending_since_ms, Some(10));
        s.sent(SendResult::Failed("connection refused".into()), 20);
        let l = &s.collector_link;
        assert_eq!(
            (l.reachable, l.sending_since_ms, l.last_error_ms),
            (Some(false), None, Some(20))
        );
        s.sent(SendResult::Delivered, 30);
        let l = &s.collector_link;
        assert_eq!((l.reachable, l.last_delivery_ms), (Some(true), Some(30)));
        // The last error stays visible after the link came back.
        assert_eq!(l.last_error.as_deref(), Some("connection refused"));
        s.sent(SendResult::Refused("422: too old".into()), 40);
        assert_eq!(s.collector_link.reachable, Some(true));
    }

    #[test]
    fn a_report_without_probes_keeps_the_last_round() {
        let mut s = Snapshot::default();
        let inv: Inventory = serde_json::from_value(serde_json::json!({
            "hostname": "lab-01", "os_name": "Debian", "os_version": "12",
            "kernel_version": "6.1", "architecture": "x86_64", "cpu_model": "x",
            "cpu_physical_cores": 2, "cpu_logical_cores": 4, "memory_total_bytes": 1,
            "swap_total_bytes": 0, "boot_time_seconds": 1, "disks": [], "interfaces": [],
            "dmi": {}, "agent_version": "0", "role": "lab"
        }))
        .expect("an inventory");
        let mut r = Report::new("a".into(), 1, 100);
        r.probes = vec![ProbeResult {
            target: "gw".into(),
            kind: schoolwatch_protocol::ProbeKind::Gateway,
            sent: 1,
            received: 1,
            loss_ratio: 0.0,
            rtt_min_seconds: None,
            rtt_median_seconds: None,
            rtt_avg_seconds: None,
            rtt_max_seconds: None,
            jitter_seconds: None,
        }];
        s.report(&r, &inv);
        let r2 = Report::new("a".into(), 2, 200);
        s.report(&r2, &inv);
        assert_eq!(s.probes.len(), 1);
        assert_eq!(s.probes_at_ms, Some(100));
        assert_eq!(s.last_report.map(|l| l.sequence), Some(2));
    }
}
