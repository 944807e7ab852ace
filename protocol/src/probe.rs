//! ICMP probe results: is the link up, and how good is it.

use serde::{Deserialize, Serialize};

/// One target probed over one interval.
///
/// RTT figures are `None` when no reply came back (all lost).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    /// The target as configured (an address or a name).
    pub target: String,
    /// Why the agent probes it. The collector tells a WAN outage from a
    /// LAN one by the gateway's answers. Absent (older agents): `extra`.
    #[serde(default)]
    pub kind: ProbeKind,
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received in time.
    pub received: u32,
    /// Share of requests without a reply, 0.0 to 1.0.
    pub loss_ratio: f64,
    /// Fastest reply, seconds.
    pub rtt_min_seconds: Option<f64>,
    /// Median reply time, seconds.
    pub rtt_median_seconds: Option<f64>,
    /// Mean reply time, seconds.
    pub rtt_avg_seconds: Option<f64>,
    /// Slowest reply, seconds.
    pub rtt_max_seconds: Option<f64>,
    /// Mean absolute difference between consecutive reply times, seconds
    /// (the interarrival jitter of RFC 3550, without its smoothing).
    pub jitter_seconds: Option<f64>,
}

/// The role of a probe target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// The collector the agent reports to: the school's path to the centre.
    Collector,
    /// The default gateway: the school's own LAN and router.
    Gateway,
    /// A DNS server from resolv.conf.
    Dns,
    /// A target configured by hand.
    #[default]
    Extra,
}

impl ProbeKind {
    /// The name used in labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Collector => "collector",
            Self::Gateway => "gateway",
            Self::Dns => "dns",
            Self::Extra => "extra",
        }
    }
}
