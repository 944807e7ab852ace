//! The kernel's neighbour (ARP) table: which hardware address answered for
//! which IPv4 address on the local segments.
//!
//! Linux: `/proc/net/arp`. An entry is used only when complete (flag
//! `ATF_COM`, 0x2) and its address is not all zeros; an incomplete entry
//! is an address the kernel asked for and nobody answered. The file does
//! not tell a fresh entry from a stale one, so the table is only used to
//! name the MACs of hosts that just answered an echo request.
//!
//! Windows: not read yet (the table would come from `GetIpNetTable2`); an
//! empty table means discovered devices carry no MAC or vendor there.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// A hardware (MAC-48) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Set by software or an administrator, not by the maker (the U/L
    /// bit, 0x02 of the first octet): such an address names no vendor.
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl std::str::FromStr for Mac {
    type Err = ();

    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, either case.
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts.next().ok_or(())?;
            if p.len() != 2 {
                return Err(());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Mac(out))
    }
}

/// IPv4 address → hardware address, for complete entries.
pub type Table = HashMap<Ipv4Addr, Mac>;

/// The kernel's table now; empty (with a debug log) when it cannot be read.
#[cfg(target_os = "linux")]
pub fn read() -> Table {
    match std::fs::read_to_string("/proc/net/arp") {
        Ok(text) => parse_proc_net_arp(&text),
        Err(e) => {
            tracing::debug!(error = %e, "Cannot read /proc/net/arp; devices will have no MAC.");
            Table::new()
        }
    }
}

/// Not read on this system yet: devices carry no MAC or vendor.
#[cfg(not(target_os = "linux"))]
pub fn read() -> Table {
    Table::new()
}

/// The complete entries of `/proc/net/arp` text:
///
/// ```text
/// IP address       HW type     Flags       HW address            Mask     Device
/// 10.77.0.10       0x1         0x2         3c:2a:f4:00:00:10     *        eth0
/// ```
pub fn parse_proc_net_arp(text: &str) -> Table {
    const ATF_COM: u32 = 0x2;
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [ip, _hw_type, flags, mac, ..] = f.as_slice() else {
                return None;
            };
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            let mac: Mac = mac.parse().ok()?;
            (flags & ATF_COM != 0 && mac.0 != [0; 6]).then_some((ip.parse().ok()?, mac))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_entries_only() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    10.77.0.10       0x1         0x2         3c:2a:f4:00:00:10     *        eth0\n\
                    10.77.0.11       0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                    10.77.0.12       0x1         0x6         00:C0:B7:AA:BB:CC     *        eth0\n\
                    10.77.0.13       0x1         0x2         00:00:00:00:00:00     *        eth0\n\
                    garbage\n";
        let t = parse_proc_net_arp(text);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[&Ipv4Addr::new(10, 77, 0, 10)],
            Mac([0x3c, 0x2a, 0xf4, 0, 0, 0x10])
        );
        assert_eq!(
            t[&Ipv4Addr::new(10, 77, 0, 12)].to_string(),
            "00:c0:b7:aa:bb:cc"
        );
    }

    #[test]
    fn mac_text() {
        let m: Mac = "02-00-5E-10-00-01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!(m.is_locally_administered());
        assert!(
            !"3c:2a:f4:00:00:10"
                .parse::<Mac>()
                .unwrap()
                .is_locally_administered()
        );
        for bad in [
            "",
            "3c:2a:f4:00:00",
            "3c:2a:f4:00:00:10:11",
            "3c:2a:f4:00:00:1",
            "zz:2a:f4:00:00:10",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}
