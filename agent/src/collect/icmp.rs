//! ICMP echo probes with surge-ping: sent, received, loss and round-trip
//! statistics per target.
//!
//! A raw ICMP socket needs CAP_NET_RAW; an unprivileged "ping" socket
//! (SOCK_DGRAM) needs the process's group inside
//! `net.ipv4.ping_group_range`. The prober tries raw first and falls back;
//! when neither is allowed it says so with both fixes, and the agent carries
//! on with its other sources.

use schoolwatch_protocol::{ProbeKind, ProbeResult};
use std::net::IpAddr;
use std::time::Duration;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};
use thiserror::Error;

/// Why the agent cannot probe at all.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// Neither a raw nor an unprivileged ICMP socket may be opened.
    #[error(
        "ICMP is not permitted for this process ({0}); give the agent the CAP_NET_RAW capability (the packaged service has it; by hand: setcap cap_net_raw+ep /usr/bin/schoolwatch-agent) or allow unprivileged ping for its group: sysctl -w net.ipv4.ping_group_range=\"0 2147483647\""
    )]
    NotPermitted(String),
}

/// Which kind of socket the prober got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// SOCK_RAW (CAP_NET_RAW).
    Raw,
    /// SOCK_DGRAM "ping socket" (ping_group_range).
    Unprivileged,
}

/// Probes targets over IPv4 and IPv6.
pub struct Prober {
    v4: Client,
    v6: Option<Client>,
    kind: SocketKind,
}

impl Prober {
    /// Opens the sockets: raw if allowed, unprivileged otherwise.
    pub fn new() -> Result<Self, ProbeError> {
        let open = |kind: ICMP, ty: socket2::Type| {
            Client::new(&Config::builder().kind(kind).sock_type_hint(ty).build())
        };
        let (v4, kind) = match open(ICMP::V4, socket2::Type::RAW) {
            Ok(c) => (c, SocketKind::Raw),
            Err(raw) => match open(ICMP::V4, socket2::Type::DGRAM) {
                Ok(c) => (c, SocketKind::Unprivileged),
                Err(dgram) => {
                    return Err(ProbeError::NotPermitted(format!(
                        "raw socket: {raw}; ping socket: {dgram}"
                    )));
                }
            },
        };
        let ty = match kind {
            SocketKind::Raw => socket2::Type::RAW,
            SocketKind::Unprivileged => socket2::Type::DGRAM,
        };
        // IPv6 may be disabled on the machine; IPv4 probing still works.
        let v6 = open(ICMP::V6, ty).ok();
        Ok(Self { v4, v6, kind })
    }

    /// The socket kind in use.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Sends `count` echo requests to `addr`, `interval` apart, each waiting
    /// at most `timeout`, and summarises the replies. `label` names the
    /// target in the result.
    pub async fn probe(
        &self,
        label: &str,
        addr: IpAddr,
        count: u32,
        interval: Duration,
        timeout: Duration,
    ) -> ProbeResult {
        let client = match (addr, &self.v6) {
            (IpAddr::V6(_), Some(v6)) => v6,
            (IpAddr::V6(_), None) => return summarize(label, count, &[]),
            (IpAddr::V4(_), _) => &self.v4,
        };
        let ident = PingIdentifier(random_u16());
        let payload = [0u8; 56];
        let mut rtts = Vec::with_capacity(count as usize);
        let mut ticker = tokio::time::interval(interval);
        // Requests go out on a fixed schedule; a slow reply does not delay
        // the next request (like fping's period).
        let mut waiting = tokio::task::JoinSet::new();
        for seq in 0..count {
            ticker.tick().await;
            let mut p = client.pinger(addr, ident).await;
            p.timeout(timeout);
            waiting.spawn(async move {
                match p.ping(PingSequence(seq as u16), &payload).await {
                    Ok((packet, rtt)) if is_echo_reply(&packet, addr) => Some((seq, rtt)),
                    // An ICMP error about the request (host or network
                    // unreachable): no reply, so lost.
                    Ok(_) => None,
                    Err(SurgeError::Timeout { .. }) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "Echo request failed.");
                        None
                    }
                }
            });
        }
        let mut replies: Vec<(u32, Duration)> = Vec::new();
        while let Some(r) = waiting.join_next().await {
            if let Ok(Some(reply)) = r {
                replies.push(reply);
            }
        }
        // Jitter is between consecutive requests, so keep send order.
        replies.sort_by_key(|(seq, _)| *seq);
        rtts.extend(replies.into_iter().map(|(_, rtt)| rtt.as_secs_f64()));
        summarize(label, count, &rtts)
    }
}

/// Whether `packet` is an echo reply from `addr` itself. surge-ping also
/// hands back ICMP errors about a request (host unreachable from this
/// machine when ARP fails, network unreachable from a router) as answers;
/// they mean nobody replied.
pub fn is_echo_reply(packet: &surge_ping::IcmpPacket, addr: IpAddr) -> bool {
    const ECHO_REPLY_V4: u8 = 0;
    const ECHO_REPLY_V6: u8 = 129;
    match packet {
        surge_ping::IcmpPacket::V4(p) => {
            p.get_icmp_type().0 == ECHO_REPLY_V4 && IpAddr::V4(p.get_source()) == addr
        }
        surge_ping::IcmpPacket::V6(p) => {
            p.get_icmpv6_type().0 == ECHO_REPLY_V6 && IpAddr::V6(p.get_source()) == addr
        }
    }
}

/// Statistics of `rtts` (seconds, in send order) out of `sent` requests.
pub fn summarize(target: &str, sent: u32, rtts: &[f64]) -> ProbeResult {
    let received = rtts.len() as u32;
    let loss_ratio = if sent == 0 {
        0.0
    } else {
        f64::from(sent - received.min(sent)) / f64::from(sent)
    };
    let mut sorted = rtts.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    };
    let jitter = (rtts.len() >= 2).then(|| {
        rtts.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (rtts.len() - 1) as f64
    });
    ProbeResult {
        target: target.to_owned(),
        kind: ProbeKind::Extra,
        sent,
        received,
        loss_ratio,
        rtt_min_seconds: sorted.first().copied(),
        rtt_median_seconds: median,
        rtt_avg_seconds: (!rtts.is_empty()).then(|| rtts.iter().sum::<f64>() / rtts.len() as f64),
        rtt_max_seconds: sorted.last().copied(),
        jitter_seconds: jitter,
    }
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_le_bytes(b)
}

/// The default IPv4 gateway from the routing table, if any.
pub fn default_gateway() -> Option<IpAddr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_route_table(&table)
}

/// The gateway of the default route (destination 0) in `/proc/net/route`
/// text, whose addresses are little-endian hex.
pub fn parse_route_table(table: &str) -> Option<IpAddr> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[1] != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(f[2], 16).ok()?;
        (gw != 0).then(|| IpAddr::V4(std::net::Ipv4Addr::from(gw.swap_bytes())))
    })
}

/// The `nameserver` addresses of resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Resolves a target (an address, or a name) to one address.
pub async fn resolve(target: &str) -> Option<IpAddr> {
    if let Ok(ip) = target.parse() {
        return Some(ip);
    }
    tokio::net::lookup_host((target, 0))
        .await
        .ok()?
        .next()
        .map(|a| a.ip())
}

/// Probes the configured targets on their own schedule in the background;
/// each completed round is handed to the next report once.
pub struct Rounds {
    latest: std::sync::Arc<std::sync::Mutex<Option<Vec<ProbeResult>>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Rounds {
    /// Starts probing `targets` per `config`, plus `collector` (a host name
    /// or address) when configured. Without permission for ICMP it warns
    /// once with the fix and probes nothing; the agent's other reports go on.
    pub fn start(config: &crate::config::ProbeConfig, collector: Option<String>) -> Self {
        let latest = std::sync::Arc::new(std::sync::Mutex::new(None));
        let mut targets: Vec<(String, ProbeKind)> = Vec::new();
        if config.collector
            && let Some(c) = collector
        {
            targets.push((c, ProbeKind::Collector));
        }
        if config.gateway
            && let Some(gw) = default_gateway()
        {
            targets.push((gw.to_string(), ProbeKind::Gateway));
        }
        if config.dns {
            let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            targets.extend(
                parse_resolv_conf(&conf)
                    .into_iter()
                    .map(|ip| (ip.to_string(), ProbeKind::Dns)),
            );
        }
        targets.extend(config.targets.iter().map(|t| (t.clone(), ProbeKind::Extra)));
        // A target listed twice is probed once, under its first role.
        let mut seen = std::collections::HashSet::new();
        targets.retain(|(t, _)| seen.insert(t.clone()));
        if targets.is_empty() {
            return Self { latest, task: None };
        }
        let prober = match Prober::new() {
            Ok(p) => std::sync::Arc::new(p),
            Err(e) => {
                tracing::warn!("Probes are off: {e}.");
                return Self { latest, task: None };
            }
        };
        let cfg = config.clone();
        let out = latest.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(cfg.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let mut round = tokio::task::JoinSet::new();
                for (i, (t, kind)) in targets.iter().enumerate() {
                    let (prober, t, kind, cfg) = (prober.clone(), t.clone(), *kind, cfg.clone());
                    round.spawn(async move {
                        let mut r = match resolve(&t).await {
                            Some(ip) => {
                                prober
                                    .probe(&t, ip, cfg.count, cfg.spacing, cfg.timeout)
                                    .await
                            }
                            None => summarize(&t, cfg.count, &[]),
                        };
                        r.kind = kind;
                        (i, r)
                    });
                }
                let mut results = Vec::with_capacity(targets.len());
                while let Some(Ok(r)) = round.join_next().await {
                    results.push(r);
                }
                results.sort_by_key(|(i, _)| *i);
                *out.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(results.into_iter().map(|(_, r)| r).collect());
            }
        });
        Self {
            latest,
            task: Some(task),
        }
    }

    /// The newest completed round, once.
    pub fn take(&self) -> Vec<ProbeResult> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        // The probe loop belongs to the runner; it ends with it.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        // 5 sent, 4 back: 10, 30, 20, 40 ms in send order.
        let r = summarize("t", 5, &[0.010, 0.030, 0.020, 0.040]);
        assert_eq!((r.sent, r.received), (5, 4));
        assert!((r.loss_ratio - 0.2).abs() < 1e-12);
        assert_eq!(r.rtt_min_seconds, Some(0.010));
        assert_eq!(r.rtt_max_seconds, Some(0.040));
        assert!((r.rtt_median_seconds.unwrap() - 0.025).abs() < 1e-12);
        assert!((r.rtt_avg_seconds.unwrap() - 0.025).abs() < 1e-12);
        // |30-10| + |20-30| + |40-20| = 50 ms over 3 steps.
        assert!((r.jitter_seconds.unwrap() - 0.050 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn all_lost_has_no_rtt() {
        let r = summarize("t", 3, &[]);
        assert_eq!(r.loss_ratio, 1.0);
        assert_eq!(r.rtt_median_seconds, None);
        assert_eq!(r.jitter_seconds, None);
    }

    #[test]
    fn default_route_and_nameservers_parse() {
        let route = "Iface\tDestination\tGateway \tFlags\nveth0\t0000A8C0\t00000000\t0001\neth0\t00000000\t0102A8C0\t0003\n";
        assert_eq!(
            parse_route_table(route),
            Some("192.168.2.1".parse().unwrap())
        );
        assert_eq!(parse_route_table("Iface\tDestination\tGateway\n"), None);
        let conf =
            "# comment\nnameserver 192.0.2.53\nsearch example\nnameserver ::1\nnameserver bogus\n";
        assert_eq!(
            parse_resolv_conf(conf),
            vec![
                "192.0.2.53".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn odd_count_median_is_the_middle() {
        let r = summarize("t", 3, &[0.3, 0.1, 0.2]);
        assert_eq!(r.rtt_median_seconds, Some(0.2));
    }
}
