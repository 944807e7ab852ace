//! The simulated fleet, decided before anything is sent: which hosts each
//! school has, what hardware they are, when their school is dark and why
//! (its link, its LAN or its power), how good its path to the collector
//! is, which posture checks they fail, and how much traffic they carry.
//!
//! Deterministic: every choice comes from a random stream seeded by the
//! `--seed` and the school's id (and the host's index), so the same seed
//! gives the same fleet, and adding schools to a run does not change the
//! ones already in it.
//!
//! Times here are offsets in fleet time from the start of the run, in ms;
//! [`crate::clock::Clock`] maps them to the wall clock.

use crate::devices::DeviceSet;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use schoolwatch_collector::registry::{LinkKind, School};
use schoolwatch_protocol::{DiskKind, Role};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;
use std::ops::Range;

/// Download rate of a 4G link, Mbit/s, before a school's ±20 % spread.
pub const FOUR_G_MBPS: f64 = 25.0;
/// Download rate of a satellite link, Mbit/s.
pub const SATELLITE_MBPS: f64 = 10.0;
/// Uplink as a share of the downlink for the school's traffic, before a
/// host's spread.
const TX_SHARE: (f64, f64) = (0.1, 0.3);

/// How many hosts each school gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    /// The same number in every school.
    PerSchool(u32),
    /// This many in all, spread evenly over the schools (the first schools
    /// get one more when it does not divide).
    Total(u32),
}

/// What to simulate, validated.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// The seed every choice follows from.
    pub seed: u64,
    /// Hosts per school.
    pub hosts: HostCount,
    /// Share of lab and office PCs that are old and under-configured.
    pub old_share: f64,
    /// Share of hosts failing at least one baseline posture check.
    pub posture_fail_share: f64,
    /// Share of schools that go dark once during the run.
    pub outage_share: f64,
    /// What kind those outages are, in which shares.
    pub outage_mix: OutageMix,
    /// Shortest outage, fleet ms.
    pub outage_min_ms: u64,
    /// Longest outage, fleet ms.
    pub outage_max_ms: u64,
    /// Length of the run, fleet ms.
    pub duration_ms: u64,
    /// Time between two reports of a host, fleet ms.
    pub interval_ms: u64,
    /// The checks a machine must pass (the targets' security baseline);
    /// failing hosts fail one or two of these.
    pub baseline: Vec<String>,
    /// Schools with a server have network devices ([`DeviceSet`]) that its
    /// reports carry.
    pub devices: bool,
}

/// The whole simulated fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Schools in registry order.
    pub schools: Vec<SimSchool>,
    /// Hosts, school after school ([`SimSchool::hosts`] indexes them).
    pub hosts: Vec<SimHost>,
    /// Length of the run, fleet ms.
    pub duration_ms: u64,
    /// Time between two reports of a host, fleet ms.
    pub interval_ms: u64,
}

/// One school of the registry and what happens to it.
#[derive(Debug, Clone)]
pub struct SimSchool {
    /// The registry row.
    pub school: School,
    /// Download capacity of its link, Mbit/s: the contract for fixed
    /// links, about [`FOUR_G_MBPS`] on 4G, none without a link.
    pub link_mbps: f64,
    /// When it is dark, and why, if ever.
    pub outage: Option<Outage>,
    /// Its LAN's default gateway, the target of its hosts' gateway probes
    /// (the hosts' addresses are in its /16).
    pub gateway: Ipv4Addr,
    /// Its path to the collector, for the collector probes.
    pub path: CollectorPath,
    /// Its hosts in [`Fleet::hosts`].
    pub hosts: Range<usize>,
    /// Its network devices, which its server reports; `None` without a
    /// server (or with `--no-devices`).
    pub devices: Option<DeviceSet>,
}

/// A stretch of fleet time when a school is dark. For a WAN or LAN outage
/// its hosts keep sampling and queue their reports, and send them when
/// the link is back; in a power cut they make none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Start, fleet ms from the start of the run.
    pub start_ms: u64,
    /// End (exclusive); may lie past the end of the run.
    pub end_ms: u64,
    /// Why it is dark.
    pub kind: OutageKind,
}

impl Outage {
    /// Whether it covers fleet time `at_ms`.
    pub fn covers(&self, at_ms: u64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }
}

/// Why a school is dark, as the collector tells it from the back-filled
/// reports (`schoolwatch_collector::outage::OutageKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    /// The operator's link is down: the hosts run and queue, their gateway
    /// answers, the collector does not.
    Wan,
    /// The school's router, switch or cabling is down: the hosts run and
    /// queue, and neither the gateway nor the collector answers.
    Lan,
    /// The power is off: the hosts make no reports at all, and their
    /// sequence numbers go on from where they were when it is back.
    Power,
}

impl OutageKind {
    /// Every kind, in the order of [`OutageMix`].
    pub const ALL: [OutageKind; 3] = [Self::Wan, Self::Lan, Self::Power];

    /// The name the collector uses (`coverage --outages`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wan => "wan",
            Self::Lan => "lan",
            Self::Power => "power",
        }
    }
}

/// The shares of outage kinds: weights, not necessarily summing to one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutageMix {
    /// Weight of [`OutageKind::Wan`].
    pub wan: f64,
    /// Weight of [`OutageKind::Lan`].
    pub lan: f64,
    /// Weight of [`OutageKind::Power`].
    pub power: f64,
}

impl Default for OutageMix {
    /// Half the outages are the operator's link, a quarter the school's
    /// LAN, a quarter power cuts.
    fn default() -> Self {
        Self {
            wan: 0.5,
            lan: 0.25,
            power: 0.25,
        }
    }
}

impl OutageMix {
    /// Parses `wan=0.5,lan=0.25,power=0.25` (kinds left out weigh 0; at
    /// least one weight must be above 0).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut mix = Self {
            wan: 0.0,
            lan: 0.0,
            power: 0.0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected KIND=WEIGHT, e.g. wan=0.5"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| format!("`{part}`: the weight is not a number of 0 or more"))?;
            match kind.trim() {
                "wan" => mix.wan = weight,
                "lan" => mix.lan = weight,
                "power" => mix.power = weight,
                other => return Err(format!("`{other}`: not an outage kind (wan, lan, power)")),
            }
        }
        if mix.wan + mix.lan + mix.power > 0.0 {
            Ok(mix)
        } else {
            Err("no kind has a weight above 0".into())
        }
    }

    /// The kind a draw `u` from `[0, 1)` falls on.
    fn pick(&self, u: f64) -> OutageKind {
        let total = self.wan + self.lan + self.power;
        let x = u * total;
        if x < self.wan {
            OutageKind::Wan
        } else if x < self.wan + self.lan || self.power == 0.0 {
            OutageKind::Lan
        } else {
            OutageKind::Power
        }
    }
}

/// A school's path to the collector, for the collector probes: round
/// trips around `rtt_ms` (times a spread of `rtt_spread` at most), each
/// echo lost with probability `loss`. The gateway answers in about a
/// millisecond and loses nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollectorPath {
    /// The school's typical round trip to the collector, ms.
    pub rtt_ms: f64,
    /// Most a round trip is above `rtt_ms`, as a share of it.
    pub rtt_spread: f64,
    /// Chance that one echo request goes unanswered.
    pub loss: f64,
}

impl CollectorPath {
    /// The path of a school on `link`, drawn from `rng`: fibre and
    /// broadband 10–30 ms and hardly a loss, 4G 40–120 ms losing 1–8 %,
    /// satellite about 600 ms losing a little.
    fn draw(link: LinkKind, rng: &mut Xoshiro256PlusPlus) -> Self {
        let (rtt, spread, loss) = match link {
            LinkKind::Fibre => (10.0..20.0, 0.5, 0.0..0.002),
            LinkKind::Broadband => (15.0..25.0, 0.2, 0.0..0.005),
            LinkKind::FourG => (40.0..80.0, 0.5, 0.01..0.08),
            LinkKind::Satellite => (550.0..650.0, 0.15, 0.005..0.03),
            LinkKind::None => (0.0..1.0, 0.0, 0.0..0.001),
        };
        Self {
            rtt_ms: rng.random_range(rtt),
            rtt_spread: spread,
            loss: rng.random_range(loss),
        }
    }
}

/// One simulated machine.
#[derive(Debug, Clone)]
pub struct SimHost {
    /// Index of its school in [`Fleet::schools`].
    pub school: usize,
    /// Host name, a label (`gl-0042-lab-03`).
    pub hostname: String,
    /// Server, office or lab PC.
    pub role: Role,
    /// The identity fingerprint it enrolls with, made by the agent's own
    /// function from a DMI UUID and a MAC address.
    pub fingerprint: String,
    /// Its network card's address.
    pub mac: String,
    /// What the machine is.
    pub hardware: Hardware,
    /// Which checks it fails, from when.
    pub posture: Posture,
    /// Peak download through its interface, bytes per second.
    pub peak_rx_bytes_per_second: f64,
    /// Upload as a share of download.
    pub tx_share: f64,
    /// Interface counters when the run starts (the machine was up before).
    pub rx_base_bytes: u64,
    /// Likewise for transmit.
    pub tx_base_bytes: u64,
    /// Seconds it had been up when the run started.
    pub uptime_at_start_secs: u64,
    /// When in the interval it reports: offset of its first report, fleet
    /// ms, so the fleet's reports spread evenly.
    pub phase_ms: u64,
    /// Seed of the small per-report variations (CPU, memory).
    pub noise_seed: u64,
}

/// A machine's hardware and operating system.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    /// An old, under-configured PC (the kind the plan wants replaced).
    pub old: bool,
    /// CPU model string.
    pub cpu_model: &'static str,
    /// Physical cores.
    pub physical_cores: u32,
    /// Logical cores.
    pub logical_cores: u32,
    /// Memory as the OS reports it, bytes.
    pub memory_total_bytes: u64,
    /// Disks: size in bytes and kind.
    pub disks: Vec<(u64, DiskKind)>,
    /// OS name.
    pub os_name: &'static str,
    /// OS version.
    pub os_version: &'static str,
    /// Kernel version.
    pub kernel_version: &'static str,
}

/// Posture checks a host fails.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Posture {
    /// Check ids that fail; every other check passes.
    pub failing: Vec<String>,
    /// From when they fail, fleet ms (0: from the start; later: a
    /// regression the collector should count).
    pub from_ms: u64,
}

impl Posture {
    /// Whether `check` fails at fleet time `at_ms`.
    pub fn fails(&self, check: &str, at_ms: u64) -> bool {
        at_ms >= self.from_ms && self.failing.iter().any(|c| c == check)
    }
}

// === impl Fleet ===

impl Fleet {
    /// Decides the fleet for `schools` (already selected).
    pub fn build(schools: &[School], spec: &FleetSpec) -> Fleet {
        let mut out = Fleet {
            schools: Vec::with_capacity(schools.len()),
            hosts: Vec::new(),
            duration_ms: spec.duration_ms,
            interval_ms: spec.interval_ms,
        };
        let n = schools.len() as u32;
        for (i, school) in schools.iter().enumerate() {
            let count = match spec.hosts {
                HostCount::PerSchool(m) => m,
                HostCount::Total(t) => t / n.max(1) + u32::from((i as u32) < t % n.max(1)),
            };
            let mut rng = stream(spec.seed, &["school", &school.id]);
            let link_mbps = match school.link_kind {
                LinkKind::Fibre | LinkKind::Broadband => school.contracted_mbps,
                LinkKind::FourG => FOUR_G_MBPS * rng.random_range(0.8..1.2),
                LinkKind::Satellite => SATELLITE_MBPS,
                LinkKind::None => 0.0,
            };
            // The gateway, the path and the outage's kind come from a
            // stream of their own (they came later), so a seed's other
            // choices stay what they were.
            let mut extra = stream(spec.seed, &["school-extra", &school.id]);
            let gateway = Ipv4Addr::new(10, extra.random(), 0, 1);
            let path = CollectorPath::draw(school.link_kind, &mut extra);
            let outage = if school.link_kind == LinkKind::None {
                // No link at all: the machines are there, nothing arrives.
                Some(Outage {
                    start_ms: 0,
                    end_ms: u64::MAX,
                    kind: OutageKind::Wan,
                })
            } else if rng.random_bool(spec.outage_share) {
                // An outage lasts at least the minimum inside the run, so
                // one still going at the end has been silent that long.
                let latest_start = spec.duration_ms.saturating_sub(spec.outage_min_ms);
                let start_ms = rng.random_range(0..=latest_start);
                let len = rng.random_range(spec.outage_min_ms..=spec.outage_max_ms);
                Some(Outage {
                    start_ms,
                    end_ms: start_ms.saturating_add(len),
                    kind: spec.outage_mix.pick(extra.random_range(0.0..1.0)),
                })
            } else {
                None
            };
            let utilisation = rng.random_range(0.3..0.8);
            let first = out.hosts.len();
            let mut weights = Vec::with_capacity(count as usize);
            for h in 0..count {
                let (host, weight) = SimHost::build(i, school, h, count, spec);
                out.hosts.push(host);
                weights.push(weight);
            }
            let total: f64 = weights.iter().sum();
            let school_peak = link_mbps * 1e6 / 8.0 * utilisation;
            for (host, w) in out.hosts[first..].iter_mut().zip(&weights) {
                host.peak_rx_bytes_per_second = school_peak * w / total;
            }
            // From a stream of their own, so the other choices stay.
            let hosts = &out.hosts[first..];
            let devices = (spec.devices && hosts.iter().any(|h| h.role == Role::Server))
                .then(|| DeviceSet::build(spec.seed, school, gateway, hosts, spec.duration_ms));
            out.schools.push(SimSchool {
                school: school.clone(),
                link_mbps,
                outage,
                gateway,
                path,
                hosts: first..out.hosts.len(),
                devices,
            });
        }
        out
    }

    /// Reports host `h` makes in the run.
    pub fn ticks(&self, h: usize) -> u64 {
        let phase = self.hosts[h].phase_ms;
        if phase >= self.duration_ms {
            0
        } else {
            (self.duration_ms - phase - 1) / self.interval_ms + 1
        }
    }

    /// Fleet time of host `h`'s report number `k` (from 0).
    pub fn tick_ms(&self, h: usize, k: u64) -> u64 {
        self.hosts[h].phase_ms + k * self.interval_ms
    }

    /// The outage of host `h`'s school, if it has one.
    pub fn outage(&self, h: usize) -> Option<Outage> {
        self.schools[self.hosts[h].school].outage
    }

    /// Whether host `h` can reach the collector at fleet time `at_ms`: no
    /// outage of any kind (in a power cut nothing is sent either).
    pub fn link_up(&self, h: usize, at_ms: u64) -> bool {
        self.outage(h).is_none_or(|o| !o.covers(at_ms))
    }

    /// Whether host `h` is switched on at fleet time `at_ms`.
    pub fn powered(&self, h: usize, at_ms: u64) -> bool {
        self.outage(h)
            .is_none_or(|o| o.kind != OutageKind::Power || !o.covers(at_ms))
    }

    /// Whether host `h` makes its report at tick `k` (it is switched on).
    pub fn makes(&self, h: usize, k: u64) -> bool {
        self.powered(h, self.tick_ms(h, k))
    }

    /// The ticks of host `h` in a power cut, as a range of tick numbers
    /// (empty without one); may reach past the run's ticks.
    fn dark_ticks(&self, h: usize) -> Range<u64> {
        match self.outage(h) {
            Some(o) if o.kind == OutageKind::Power => {
                // The first tick at or after a time.
                let at = |ms: u64| {
                    ms.saturating_sub(self.hosts[h].phase_ms)
                        .div_ceil(self.interval_ms.max(1))
                };
                at(o.start_ms)..at(o.end_ms).max(at(o.start_ms))
            }
            _ => 0..0,
        }
    }

    /// Reports host `h` makes in the run: one per tick it is switched on.
    pub fn reports(&self, h: usize) -> u64 {
        let n = self.ticks(h);
        let dark = self.dark_ticks(h);
        n - (dark.end.min(n) - dark.start.min(n))
    }

    /// The number in the run (from 0) of the report host `h` makes at tick
    /// `k`, which is its sequence number less the run's first: reports
    /// are numbered as they are made, as the agent numbers them, so a
    /// power cut leaves no gap. `None` when it is switched off then.
    pub fn report_index(&self, h: usize, k: u64) -> Option<u64> {
        let dark = self.dark_ticks(h);
        if dark.contains(&k) {
            None
        } else if k < dark.start {
            Some(k)
        } else {
            Some(k - (dark.end - dark.start))
        }
    }

    /// The tick of host `h`'s report number `i` in the run (the inverse of
    /// [`Fleet::report_index`]).
    pub fn tick_of_report(&self, h: usize, i: u64) -> u64 {
        let dark = self.dark_ticks(h);
        if i < dark.start {
            i
        } else {
            i + (dark.end - dark.start)
        }
    }

    /// Whether host `h`'s agent starts at tick `k`: its first tick, or the
    /// first after the power came back. Its report then carries the
    /// inventory and the posture checks, as the agent's first report does.
    pub fn starts_agent(&self, h: usize, k: u64) -> bool {
        if !self.makes(h, k) {
            return false;
        }
        k == 0
            || self.outage(h).is_some_and(|o| {
                o.kind == OutageKind::Power
                    && (self.tick_ms(h, k - 1) + 1..=self.tick_ms(h, k)).contains(&o.end_ms)
            })
    }

    /// When host `h` last booted before fleet time `at_ms`, fleet ms: when
    /// the power came back, if it was cut before; `None` when it has been
    /// up since before the run.
    pub fn booted_ms(&self, h: usize, at_ms: u64) -> Option<u64> {
        self.outage(h)
            .filter(|o| o.kind == OutageKind::Power && o.end_ms <= at_ms)
            .map(|o| o.end_ms)
    }

    /// Reports the whole fleet makes in the run.
    pub fn total_reports(&self) -> u64 {
        (0..self.hosts.len()).map(|h| self.reports(h)).sum()
    }
}

// === impl SimHost ===

impl SimHost {
    /// Host number `h` of `count` at `school`, with its traffic weight
    /// (its peak is set once the school's weights are known).
    fn build(
        school_index: usize,
        school: &School,
        h: u32,
        count: u32,
        spec: &FleetSpec,
    ) -> (SimHost, f64) {
        let mut rng = stream(spec.seed, &["host", &school.id, &h.to_string()]);
        // With three machines or more a school has a server and an office
        // PC; the rest are lab PCs.
        let role = match h {
            0 if count >= 3 => Role::Server,
            1 if count >= 3 => Role::Office,
            _ => Role::Lab,
        };
        let hostname = match role {
            Role::Server => format!("{}-server", school.id),
            Role::Office => format!("{}-office", school.id),
            Role::Lab => format!("{}-lab-{:02}", school.id, h + 1),
        };
        let hardware = if role == Role::Server {
            SERVER.hardware()
        } else if rng.random_bool(spec.old_share) {
            OLD[rng.random_range(0..OLD.len())].hardware()
        } else {
            NEW[rng.random_range(0..NEW.len())].hardware()
        };
        let posture = if rng.random_bool(spec.posture_fail_share) {
            let pool: Vec<&str> = if spec.baseline.is_empty() {
                schoolwatch_agent::collect::security::CHECKS
                    .iter()
                    .map(|(id, _)| *id)
                    .collect()
            } else {
                spec.baseline.iter().map(String::as_str).collect()
            };
            let mut failing = vec![pool[rng.random_range(0..pool.len())].to_owned()];
            if pool.len() > 1 && rng.random_bool(0.3) {
                let other = pool[rng.random_range(0..pool.len())];
                if !failing.iter().any(|f| f == other) {
                    failing.push(other.to_owned());
                }
            }
            // Half fail from the start, half start failing during the run.
            let from_ms = if rng.random_bool(0.5) {
                0
            } else {
                rng.random_range(0..spec.duration_ms.max(1))
            };
            Posture { failing, from_ms }
        } else {
            Posture::default()
        };
        let mut id = [0u8; 16];
        rng.fill(&mut id[..]);
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            hex::encode(&id[0..4]),
            hex::encode(&id[4..6]),
            hex::encode(&id[6..8]),
            hex::encode(&id[8..10]),
            hex::encode(&id[10..16])
        );
        // A locally administered unicast address.
        let mac = format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            id[11], id[12], id[13], id[14], id[15]
        );
        let fingerprint =
            schoolwatch_agent::identity::fingerprint_of(Some(&uuid), std::slice::from_ref(&mac));
        let weight = if role == Role::Server {
            3.0
        } else {
            rng.random_range(0.5..1.5)
        };
        let host = SimHost {
            school: school_index,
            hostname,
            role,
            fingerprint,
            mac,
            hardware,
            posture,
            peak_rx_bytes_per_second: 0.0,
            tx_share: rng.random_range(TX_SHARE.0..TX_SHARE.1),
            rx_base_bytes: rng.random_range(0..50_000_000_000),
            tx_base_bytes: rng.random_range(0..10_000_000_000),
            uptime_at_start_secs: rng.random_range(3600..72 * 3600),
            phase_ms: rng.random_range(0..spec.interval_ms.max(1)),
            noise_seed: rng.random(),
        };
        (host, weight)
    }
}

/// The random stream for one thing, from the seed and the thing's names.
pub fn stream(seed: u64, parts: &[&str]) -> Xoshiro256PlusPlus {
    let mut h = Sha256::new();
    h.update(b"schoolwatch-sim-v1");
    h.update(seed.to_le_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    Xoshiro256PlusPlus::from_seed(h.finalize().into())
}

// === machine models ===

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// A kind of machine found in schools.
struct Model {
    cpu: &'static str,
    physical: u32,
    logical: u32,
    /// Memory as the OS reports it: a little under what is installed.
    memory: u64,
    disks: &'static [(u64, DiskKind)],
    os: (&'static str, &'static str, &'static str),
    old: bool,
}

impl Model {
    fn hardware(&self) -> Hardware {
        Hardware {
            old: self.old,
            cpu_model: self.cpu,
            physical_cores: self.physical,
            logical_cores: self.logical,
            memory_total_bytes: self.memory,
            disks: self.disks.to_vec(),
            os_name: self.os.0,
            os_version: self.os.1,
            kernel_version: self.os.2,
        }
    }
}

const UBUNTU_22: (&str, &str, &str) = ("Ubuntu", "22.04", "5.15.0-105-generic");
const UBUNTU_18: (&str, &str, &str) = ("Ubuntu", "18.04", "4.15.0-213-generic");
const DEBIAN_12: (&str, &str, &str) = ("Debian GNU/Linux", "12", "6.1.0-18-amd64");

/// The school's server.
const SERVER: Model = Model {
    cpu: "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz",
    physical: 4,
    logical: 4,
    memory: 16 * GIB - 420 * MIB,
    disks: &[(931 * GIB, DiskKind::Hdd), (931 * GIB, DiskKind::Hdd)],
    os: DEBIAN_12,
    old: false,
};

/// PCs bought in the last few years: they meet the plan's minimum.
const NEW: [Model; 3] = [
    Model {
        cpu: "Intel(R) Core(TM) i3-10100 CPU @ 3.60GHz",
        physical: 4,
        logical: 8,
        memory: 8 * GIB - 310 * MIB,
        disks: &[(238 * GIB, DiskKind::Ssd)],
        os: UBUNTU_22,
        old: false,
    },
    Model {
        cpu: "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz",
        physical: 6,
        logical: 6,
        memory: 16 * GIB - 420 * MIB,
        disks: &[(238 * GIB, DiskKind::Ssd), (931 * GIB, DiskKind::Hdd)],
        os: UBUNTU_22,
        old: false,
    },
    Model {
        cpu: "AMD Ryzen 3 3200G with Radeon Vega Graphics",
        physical: 4,
        logical: 4,
        memory: 8 * GIB - 600 * MIB,
        disks: &[(476 * GIB, DiskKind::Ssd)],
        os: UBUNTU_22,
        old: false,
    },
];

/// Old lab PCs: 2 GiB (or a "4 GB" that reports 3.8 GiB), two cores,
/// small disks; under the plan's minimum of 4 GiB, 2 cores and 100 GiB.
const OLD: [Model; 3] = [
    Model {
        cpu: "Intel(R) Pentium(R) CPU G630 @ 2.70GHz",
        physical: 2,
        logical: 2,
        memory: 2 * GIB - 150 * MIB,
        disks: &[(74 * GIB, DiskKind::Hdd)],
        os: UBUNTU_18,
        old: true,
    },
    Model {
        cpu: "Intel(R) Core(TM)2 Duo CPU E7500 @ 2.93GHz",
        physical: 2,
        logical: 2,
        memory: 4 * GIB - 210 * MIB,
        disks: &[(149 * GIB, DiskKind::Hdd)],
        os: UBUNTU_18,
        old: true,
    },
    Model {
        cpu: "Intel(R) Celeron(R) CPU J1800 @ 2.41GHz",
        physical: 2,
        logical: 2,
        memory: 2 * GIB - 180 * MIB,
        disks: &[(29 * GIB, DiskKind::Ssd)],
        os: UBUNTU_18,
        old: true,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn schools() -> Vec<School> {
        schoolwatch_collector::registry::parse_csv(schoolwatch_collector::demo::SAMPLE_REGISTRY)
            .unwrap()
    }

    fn spec(seed: u64) -> FleetSpec {
        FleetSpec {
            seed,
            hosts: HostCount::PerSchool(5),
            old_share: 0.25,
            posture_fail_share: 0.2,
            outage_share: 0.2,
            outage_mix: OutageMix::default(),
            outage_min_ms: 1_800_000,
            outage_max_ms: 4 * 3_600_000,
            duration_ms: 6 * 3_600_000,
            interval_ms: 60_000,
            baseline: vec![
                "firewall_active".into(),
                "endpoint_protection_running".into(),
            ],
            devices: true,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet() {
        let s = schools();
        let a = Fleet::build(&s[..50], &spec(7));
        let b = Fleet::build(&s[..50], &spec(7));
        let c = Fleet::build(&s[..50], &spec(8));
        let key = |f: &Fleet| {
            f.hosts
                .iter()
                .map(|h| (h.fingerprint.clone(), h.hardware.old, h.phase_ms))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        // Adding schools leaves the first ones as they were.
        let more = Fleet::build(&s[..80], &spec(7));
        assert_eq!(key(&a), key(&more)[..a.hosts.len()]);
    }

    #[test]
    fn fingerprints_are_distinct_and_shares_roughly_hold() {
        let s = schools();
        let f = Fleet::build(&s, &spec(1));
        assert_eq!(f.hosts.len(), s.len() * 5);
        let mut fps: Vec<&str> = f.hosts.iter().map(|h| h.fingerprint.as_str()).collect();
        fps.sort_unstable();
        fps.dedup();
        assert_eq!(fps.len(), f.hosts.len());
        let pcs = f.hosts.iter().filter(|h| h.role != Role::Server).count() as f64;
        let old = f.hosts.iter().filter(|h| h.hardware.old).count() as f64;
        assert!((old / pcs - 0.25).abs() < 0.05, "{}", old / pcs);
        let outages = f.schools.iter().filter(|s| s.outage.is_some()).count() as f64;
        assert!((outages / s.len() as f64 - 0.2).abs() < 0.07);
        for school in &f.schools {
            if let Some(o) = school.outage {
                assert!(o.end_ms - o.start_ms >= 1_800_000);
                assert!(o.start_ms + 1_800_000 <= 6 * 3_600_000);
            }
        }
    }

    #[test]
    fn a_total_is_spread_over_the_schools() {
        let s = schools();
        let mut sp = spec(1);
        sp.hosts = HostCount::Total(13);
        let f = Fleet::build(&s[..5], &sp);
        let counts: Vec<usize> = f.schools.iter().map(|s| s.hosts.len()).collect();
        assert_eq!(counts, [3, 3, 3, 2, 2]);
    }

    #[test]
    fn outage_kinds_follow_the_mix() {
        let s = schools();
        let mut sp = spec(1);
        sp.outage_share = 1.0;
        let f = Fleet::build(&s, &sp);
        let share = |kind| {
            f.schools
                .iter()
                .filter(|s| s.school.link_kind != LinkKind::None)
                .filter(|s| s.outage.is_some_and(|o| o.kind == kind))
                .count() as f64
                / f.schools.len() as f64
        };
        let mix = OutageMix::default();
        for (kind, want) in [
            (OutageKind::Wan, mix.wan),
            (OutageKind::Lan, mix.lan),
            (OutageKind::Power, mix.power),
        ] {
            assert!(
                (share(kind) - want).abs() < 0.07,
                "{kind:?}: {}",
                share(kind)
            );
        }
        // The kinds do not move the other choices of a seed.
        sp.outage_mix = OutageMix::parse("power=1").unwrap();
        let g = Fleet::build(&s, &sp);
        for (a, b) in f.schools.iter().zip(&g.schools) {
            assert_eq!(
                a.outage.map(|o| (o.start_ms, o.end_ms)),
                b.outage.map(|o| (o.start_ms, o.end_ms))
            );
            assert_eq!((a.gateway, a.path), (b.gateway, b.path));
            if a.school.link_kind != LinkKind::None {
                assert_eq!(b.outage.unwrap().kind, OutageKind::Power);
            }
        }
    }

    #[test]
    fn outage_mix_parses_and_refuses() {
        let m = OutageMix::parse("wan=2, lan=1").unwrap();
        assert_eq!((m.wan, m.lan, m.power), (2.0, 1.0, 0.0));
        assert_eq!(m.pick(0.0), OutageKind::Wan);
        assert_eq!(m.pick(0.7), OutageKind::Lan);
        assert_eq!(m.pick(0.999), OutageKind::Lan);
        for bad in ["", "wan=0", "wan", "wan=-1", "wan=x", "dns=1"] {
            assert!(OutageMix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_power_cut_makes_no_reports_and_leaves_no_numbers_out() {
        let s = schools();
        let mut sp = spec(2);
        sp.outage_share = 1.0;
        sp.outage_mix = OutageMix::parse("power=1").unwrap();
        let f = Fleet::build(&s[..20], &sp);
        let mut cuts = 0;
        for h in 0..f.hosts.len() {
            let Some(o) = f.outage(h) else { continue };
            let mut next = 0;
            for k in 0..f.ticks(h) {
                let at = f.tick_ms(h, k);
                assert_eq!(f.makes(h, k), !o.covers(at));
                assert!(!f.link_up(h, at) || !o.covers(at));
                match f.report_index(h, k) {
                    Some(i) => {
                        // Numbered as made: consecutive, and back again.
                        assert_eq!(i, next, "host {h} tick {k}");
                        assert_eq!(f.tick_of_report(h, i), k);
                        next += 1;
                        let restarted = k == 0 || (k > 0 && !f.makes(h, k - 1));
                        assert_eq!(f.starts_agent(h, k), restarted, "host {h} tick {k}");
                        assert_eq!(f.booted_ms(h, at).is_some(), at >= o.end_ms);
                    }
                    None => assert!(o.covers(at)),
                }
            }
            assert_eq!(next, f.reports(h));
            cuts += u64::from(f.reports(h) < f.ticks(h));
        }
        assert!(cuts > 0, "no host lost a report to a power cut");
    }

    #[test]
    fn ticks_cover_the_run() {
        let s = schools();
        let f = Fleet::build(&s[..3], &spec(3));
        for h in 0..f.hosts.len() {
            let n = f.ticks(h);
            assert!(f.tick_ms(h, n - 1) < f.duration_ms);
            assert!(f.tick_ms(h, n) >= f.duration_ms);
        }
    }
}
