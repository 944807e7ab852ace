//! The ICMP sweep: one echo request to every host address of a subnet, a
//! second to those that did not answer, at a fixed packet rate.
//!
//! Cost on a /24 at the default 50 packets/s: 253 requests of 64 bytes in
//! about 5 s, then one retry per silent address (another 5 s on an empty
//! subnet), about 34 kbit/s; at most `max_in_flight` requests wait for a
//! reply at once (rate × timeout, about 50, in practice). The kernel ARPs
//! for each address on the way, which is what fills the neighbour table
//! with the responders' MACs; for an address nobody holds it broadcasts up
//! to 3 ARP requests (42 bytes each) per pass, the one cost every host on
//! the segment sees.
//!
//! Safety: addresses come only from [`Subnet::hosts`], and every send is
//! checked against the subnet again, so a bug elsewhere cannot make the
//! agent ping outside the subnet it was given.

use super::subnet::Subnet;
use crate::collect::icmp::{ProbeError, is_echo_reply};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

/// How a sweep paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOptions {
    /// Echo requests per second, over the whole sweep (retries included).
    pub rate_pps: u32,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Extra requests to an address that did not answer.
    pub retries: u32,
    /// Requests waiting for a reply at once, at most.
    pub max_in_flight: usize,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            rate_pps: 50,
            timeout: Duration::from_secs(1),
            retries: 1,
            // Above rate × timeout for any rate up to 256/s, so the rate,
            // not this bound, sets the pace; it only caps memory.
            max_in_flight: 256,
        }
    }
}

/// An open ICMP socket for sweeps (raw if allowed, else a ping socket).
pub struct Sweeper {
    client: Client,
}

impl Sweeper {
    /// Opens the socket; without permission for either kind of ICMP socket
    /// the error says how to grant it.
    pub fn new() -> Result<Self, ProbeError> {
        let open = |ty: socket2::Type| {
            Client::new(&Config::builder().kind(ICMP::V4).sock_type_hint(ty).build())
        };
        let client = match open(socket2::Type::RAW) {
            Ok(c) => c,
            Err(raw) => open(socket2::Type::DGRAM).map_err(|dgram| {
                ProbeError::NotPermitted(format!("raw socket: {raw}; ping socket: {dgram}"))
            })?,
        };
        Ok(Self { client })
    }

    /// Sweeps `targets` (which must all lie in `subnet`) and returns those
    /// that answered. Pass `n` (0 = the first) goes only to addresses that
    /// have not answered yet.
    ///
    /// # Panics
    /// If a target lies outside `subnet`: callers take targets from
    /// [`Subnet::hosts`], so that is a bug, and sending would touch a
    /// network nobody asked to sweep.
    pub async fn sweep(
        &self,
        subnet: &Subnet,
        targets: &[Ipv4Addr],
        opts: &SweepOptions,
    ) -> BTreeSet<Ipv4Addr> {
        for t in targets {
            assert!(
                subnet.contains(*t),
                "sweep target {t} lies outside {subnet}"
            );
        }
        let rate = opts.rate_pps.max(1);
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
        // After a stall, go on at the rate rather than catch up in a burst.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(opts.max_in_flight.max(1)));
        let ident = PingIdentifier(random_u16());
        let payload = [0u8; 56];
        let mut answered = BTreeSet::new();
        for pass in 0..=opts.retries {
            let mut waiting = tokio::task::JoinSet::new();
            for &addr in targets.iter().filter(|a| !answered.contains(*a)) {
                // Checked again at the send itself (see the module doc).
                assert!(
                    subnet.contains(addr),
                    "sweep target {addr} lies outside {subnet}"
                );
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                ticker.tick().await;
                let mut pinger = self.client.pinger(IpAddr::V4(addr), ident).await;
                pinger.timeout(opts.timeout);
                waiting.spawn(async move {
                    let _permit = permit;
                    match pinger.ping(PingSequence(pass as u16), &payload).await {
                        // An echo reply from the address itself; an ICMP
                        // error about the request (host unreachable, sent
                        // by this machine when ARP fails) also comes back
                        // here and means nobody is there.
                        Ok((packet, _)) if is_echo_reply(&packet, IpAddr::V4(addr)) => Some(addr),
                        Ok(_) => None,
                        Err(SurgeError::Timeout { .. }) => None,
                        Err(e) => {
                            tracing::debug!(%addr, error = %e, "Echo request failed.");
                            None
                        }
                    }
                });
            }
            while let Some(r) = waiting.join_next().await {
                if let Ok(Some(addr)) = r {
                    answered.insert(addr);
                }
            }
            if answered.len() == targets.len() {
                break;
            }
        }
        answered
    }
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    // A fixed identifier works as well; randomness only keeps two sweeps
    // apart.
    let _ = getrandom::fill(&mut b);
    u16::from_le_bytes(b)
}
