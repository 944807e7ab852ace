//! Listening sockets from the kernel's socket tables (`/proc/net/tcp`,
//! `tcp6`, `udp`, `udp6`) and their processes, found by matching each
//! socket's inode with the `socket:[inode]` links in `/proc/*/fd`.
//!
//! The tables are those of the reader's network namespace. Without root,
//! other users' `fd` directories cannot be read and their sockets show no
//! process.

use schoolwatch_protocol::SocketProtocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A listening socket as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    /// TCP or UDP.
    pub protocol: SocketProtocol,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// The socket's inode, to find its process.
    pub inode: u64,
}

/// TCP_LISTEN in the `st` column.
const TCP_LISTEN: &str = "0A";
/// TCP_CLOSE: how an unconnected UDP socket shows.
const UDP_UNCONNECTED: &str = "07";

/// Parses one table. The kernel prints each address as the native-endian
/// hex of its network-order words (`0100007F:0016` is 127.0.0.1:22 on a
/// little-endian machine), so the words are turned back into bytes with
/// the native byte order.
pub fn parse_table(text: &str, protocol: SocketProtocol) -> Vec<RawSocket> {
    let wanted_state = match protocol {
        SocketProtocol::Tcp => TCP_LISTEN,
        SocketProtocol::Udp => UDP_UNCONNECTED,
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != wanted_state {
                return None;
            }
            let (address, port) = endpoint(f[1])?;
            if protocol == SocketProtocol::Udp && endpoint(f[2])?.1 != 0 {
                // A connected UDP socket is a client, not a listener.
                return None;
            }
            Some(RawSocket {
                protocol,
                address,
                port,
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The inode in a `socket:[12345]` link target.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    #[test]
    fn tcp_listeners_only() {
        let t = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: {}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: {}:A1B2 {}:0016 01 00000000:00000000 00:00000000 00000000     0        0 777 1\n",
            hex4(Ipv4Addr::UNSPECIFIED),
            hex4(Ipv4Addr::LOCALHOST),
            hex4(Ipv4Addr::new(192, 0, 2, 1)),
        );
        let s = parse_table(&t, SocketProtocol::Tcp);
        assert_eq!(
            s,
            [RawSocket {
                protocol: SocketProtocol::Tcp,
                address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 22,
                inode: 12345
            }]
        );
    }

    #[test]
    fn ipv6_and_udp() {
        let words: String = Ipv6Addr::LOCALHOST
            .octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let zero = "0".repeat(32);
        let t = format!(
            "header\n 0: {words}:0035 {zero}:0000 07 0 0 0 0 0 99 2\n 1: {words}:0036 {words}:1234 07 0 0 0 0 0 98 2\n"
        );
        let s = parse_table(&t, SocketProtocol::Udp);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].address, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!((s[0].port, s[0].inode), (53, 99));
    }

    #[test]
    fn inode_links() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }
}
