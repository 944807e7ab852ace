//! The SNMP probe of what answered the sweep: the system group only, with
//! the configured v2c community, a short timeout and a few at a time. The
//! one place discovery calls the SNMP poller (`collect::snmp`).

use crate::collect::snmp::{self, Credentials, SnmpError, Target};
use schoolwatch_protocol::SnmpData;
use std::net::Ipv4Addr;
use std::time::Duration;

/// What a device answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The system group (boxed: it is large, and most devices are silent).
    Data(Box<SnmpData>),
    /// Nothing: no SNMP agent there, or another community (SNMPv2c drops
    /// a wrong community without a word, so the two look the same). Most
    /// devices on a LAN are like that; it is not an error.
    Silent,
    /// It answered, but not usefully (an SNMP error, a malformed reply).
    Failed(String),
}

/// How the probe asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpProbe {
    /// SNMPv2c community.
    pub community: String,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Extra requests after a timeout.
    pub retries: u32,
    /// Devices asked at once, at most.
    pub concurrency: usize,
}

impl SnmpProbe {
    /// The system group of the agent at `addr`, UDP port 161.
    pub async fn system(&self, addr: Ipv4Addr) -> Answer {
        let target = Target {
            host: addr.to_string(),
            port: 161,
            credentials: Credentials::V2c {
                community: self.community.clone(),
            },
            timeout: self.timeout,
            retries: self.retries,
        };
        answer(snmp::system(&target).await)
    }
}

/// Silence (no answer, or nothing listening) is no error for discovery.
fn answer(r: Result<SnmpData, SnmpError>) -> Answer {
    match r {
        Ok(d) => Answer::Data(Box::new(d)),
        Err(SnmpError::Timeout { .. } | SnmpError::Refused { .. }) => Answer::Silent,
        Err(e) => Answer::Failed(e.to_string()),
    }
}
