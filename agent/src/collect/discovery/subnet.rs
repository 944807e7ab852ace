//! An IPv4 subnet to sweep, in CIDR form, and the addresses a sweep may
//! send to: the subnet's hosts and nothing else.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use thiserror::Error;

/// The shortest prefix a sweep accepts: a /22 holds 1,022 hosts, already
/// more than a school LAN segment (about 20 s at 50 packets/s).
pub const MIN_PREFIX_LEN: u8 = 22;

/// Why a subnet cannot be swept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubnetError {
    /// Not `a.b.c.d/len`.
    #[error(
        "{0:?} is not an IPv4 subnet in CIDR form; write the network address and prefix length, e.g. \"10.1.2.0/24\""
    )]
    Syntax(String),
    /// An IPv6 subnet: sweeping one is neither possible nor useful.
    #[error(
        "{0:?} is an IPv6 subnet; discovery sweeps IPv4 subnets only (IPv6 devices are found through the IPv4 ones)"
    )]
    Ipv6(String),
    /// The address has bits set past the prefix (`10.1.2.5/24`).
    #[error("{given:?} is an address, not a subnet; did you mean \"{subnet}\"?")]
    HostBits {
        /// What was written.
        given: String,
        /// The subnet it lies in.
        subnet: Subnet,
    },
    /// Shorter than [`MIN_PREFIX_LEN`].
    #[error(
        "{subnet} has too many addresses for a school LAN sweep ({hosts}); use a /{MIN_PREFIX_LEN} (1,022 addresses) or smaller, e.g. one /24 per VLAN"
    )]
    TooLarge {
        /// The subnet asked for.
        subnet: Subnet,
        /// How many hosts it holds.
        hosts: u64,
    },
}

/// An IPv4 subnet: its network address and prefix length (22 to 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `addr`/`prefix`, host bits cleared, if it is not too
    /// large to sweep.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, SubnetError> {
        let subnet = Self::unchecked(addr, prefix.min(32));
        if subnet.prefix < MIN_PREFIX_LEN {
            return Err(SubnetError::TooLarge {
                subnet,
                hosts: subnet.host_count(),
            });
        }
        Ok(subnet)
    }

    fn unchecked(addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` lies in the subnet (network and broadcast included).
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.network)
    }

    /// The broadcast address (the last one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// How many addresses [`Subnet::hosts`] yields.
    pub fn host_count(&self) -> u64 {
        let all = 1u64 << (32 - u32::from(self.prefix));
        // /31 (RFC 3021) and /32 have no network or broadcast address.
        if self.prefix >= 31 { all } else { all - 2 }
    }

    /// The addresses a sweep sends to, in order: every address of the
    /// subnet except the network and broadcast addresses (a /31 or /32
    /// has neither).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let first = u32::from(self.network);
        let last = u32::from(self.broadcast());
        let (first, last) = if self.prefix >= 31 {
            (first, last)
        } else {
            (first + 1, last - 1)
        };
        (first..=last).map(Ipv4Addr::from)
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Self, SubnetError> {
        let syntax = || SubnetError::Syntax(s.to_owned());
        let (addr, len) = s.trim().split_once('/').ok_or_else(syntax)?;
        if addr.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(SubnetError::Ipv6(s.to_owned()));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| syntax())?;
        // Digits only: `u8::from_str` would accept "+24".
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let prefix: u8 = len.parse().map_err(|_| syntax())?;
        if prefix > 32 {
            return Err(syntax());
        }
        let subnet = Self::unchecked(addr, prefix);
        if subnet.network != addr {
            return Err(SubnetError::HostBits {
                given: s.to_owned(),
                subnet,
            });
        }
        Self::new(addr, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_slash_24_has_254_hosts_without_network_and_broadcast() {
        let s: Subnet = "10.1.2.0/24".parse().unwrap();
        let hosts: Vec<Ipv4Addr> = s.hosts().collect();
        assert_eq!(hosts.len(), 254);
        assert_eq!(s.host_count(), 254);
        assert_eq!(hosts[0], Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(hosts[253], Ipv4Addr::new(10, 1, 2, 254));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(s.to_string(), "10.1.2.0/24");
    }

    #[test]
    fn small_subnets() {
        let s: Subnet = "192.168.1.8/30".parse().unwrap();
        assert_eq!(
            s.hosts().collect::<Vec<_>>(),
            [
                Ipv4Addr::new(192, 168, 1, 9),
                Ipv4Addr::new(192, 168, 1, 10)
            ]
        );
        let s: Subnet = "192.168.1.8/31".parse().unwrap();
        assert_eq!(s.hosts().count(), 2);
        let s: Subnet = "192.168.1.8/32".parse().unwrap();
        assert_eq!(
            s.hosts().collect::<Vec<_>>(),
            [Ipv4Addr::new(192, 168, 1, 8)]
        );
        let s: Subnet = "10.0.0.0/22".parse().unwrap();
        assert_eq!(s.hosts().count(), 1022);
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(matches!(
            "10.0.0.0/21".parse::<Subnet>(),
            Err(SubnetError::TooLarge { hosts: 2046, .. })
        ));
        let e = "10.0.0.0/16".parse::<Subnet>().unwrap_err().to_string();
        assert!(
            e.contains("too many addresses for a school LAN sweep"),
            "{e}"
        );
        let e = "10.1.2.5/24".parse::<Subnet>().unwrap_err().to_string();
        assert!(e.contains("\"10.1.2.0/24\""), "{e}");
        for bad in [
            "10.1.2.0",
            "10.1.2.0/",
            "10.1.2.0/33",
            "10.1.2/24",
            "10.1.2.0/+24",
            "lan",
            "",
        ] {
            assert!(
                matches!(bad.parse::<Subnet>(), Err(SubnetError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "fd00::/64".parse::<Subnet>(),
            Err(SubnetError::Ipv6(_))
        ));
    }

    proptest! {
        /// Every address a sweep would send to lies inside the subnet and
        /// is neither its network nor (below /31) its broadcast address;
        /// there are exactly `host_count` of them, each once.
        #[test]
        fn sweep_addresses_never_leave_the_subnet(addr: u32, prefix in MIN_PREFIX_LEN..=32u8) {
            let s = Subnet::new(Ipv4Addr::from(addr), prefix).unwrap();
            let hosts: Vec<Ipv4Addr> = s.hosts().collect();
            prop_assert_eq!(hosts.len() as u64, s.host_count());
            prop_assert_eq!(hosts.len() as u64, (1u64 << (32 - prefix)).saturating_sub(if prefix >= 31 { 0 } else { 2 }));
            let first = u32::from(s.network());
            let last = first | u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            for (i, h) in hosts.iter().enumerate() {
                let h32 = u32::from(*h);
                // Independent of `contains`: compare the masked bits.
                let host_bits = 32 - u32::from(prefix);
                prop_assert_eq!(h32 >> host_bits, first >> host_bits);
                prop_assert!((first..=last).contains(&h32));
                prop_assert!(s.contains(*h));
                if prefix < 31 {
                    prop_assert!(h32 != first && h32 != last);
                }
                if i > 0 {
                    prop_assert!(u32::from(hosts[i - 1]) < h32);
                }
            }
        }

        /// Parsing what Display wrote gives the same subnet.
        #[test]
        fn display_round_trips(addr: u32, prefix in MIN_PREFIX_LEN..=32u8) {
            let s = Subnet::new(Ipv4Addr::from(addr), prefix).unwrap();
            prop_assert_eq!(s.to_string().parse::<Subnet>(), Ok(s));
        }
    }
}
