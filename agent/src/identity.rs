//! How a machine proves it is the same machine: a fingerprint of its
//! hardware, not of its disk.
//!
//! Lab PCs are cloned from one disk image, so the hostname and
//! `/etc/machine-id` are the same on all of them and cannot tell them apart.
//! The hardware can: the firmware's product UUID (DMI, root-readable) and
//! the permanent MAC addresses of the network cards. The fingerprint is a
//! SHA-256 over those, so the raw serials never leave the machine. The same
//! machine re-enrolled (disk wiped, agent reinstalled) gives the same
//! fingerprint and keeps its host at the collector; a clone on other
//! hardware gives another.

use sha2::{Digest, Sha256};

/// The fingerprint of this machine, as hex.
pub fn fingerprint() -> String {
    let (uuid, macs) = imp::hardware();
    fingerprint_of(uuid.as_deref(), &macs)
}

/// The fingerprint of a product UUID and MAC addresses (order-independent).
pub fn fingerprint_of(uuid: Option<&str>, macs: &[String]) -> String {
    let mut macs: Vec<String> = macs.iter().map(|m| m.to_ascii_lowercase()).collect();
    macs.sort();
    macs.dedup();
    let mut h = Sha256::new();
    h.update(b"schoolwatch-fingerprint-v1\n");
    h.update(uuid.unwrap_or("").trim().to_ascii_lowercase().as_bytes());
    for m in macs {
        h.update(b"\n");
        h.update(m.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(target_os = "linux")]
mod imp {
    use std::path::Path;

    /// The DMI product UUID where readable, and the MACs of physical network
    /// cards (those with a `device` link in sysfs), or of every non-loopback
    /// interface when there is none (containers, namespaces).
    pub fn hardware() -> (Option<String>, Vec<String>) {
        let uuid = std::fs::read_to_string("/sys/class/dmi/id/product_uuid")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let mut physical = Vec::new();
        let mut other = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
            for e in entries.flatten() {
                let dir = e.path();
                let Ok(mac) = std::fs::read_to_string(dir.join("address")) else {
                    continue;
                };
                let mac = mac.trim().to_owned();
                if mac.is_empty() || mac == "00:00:00:00:00:00" {
                    continue;
                }
                if Path::new(&dir).join("device").exists() {
                    physical.push(mac);
                } else {
                    other.push(mac);
                }
            }
        }
        (uuid, if physical.is_empty() { other } else { physical })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// Untested off Linux: MACs of all interfaces via sysinfo.
    pub fn hardware() -> (Option<String>, Vec<String>) {
        let macs = sysinfo::Networks::new_with_refreshed_list()
            .map(|n| {
                n.iter()
                    .map(|(_, d)| d.mac_address())
                    .filter(|m| m.0 != [0; 6])
                    .map(|m| m.to_string())
                    .collect()
            })
            .unwrap_or_default();
        (None, macs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_case_do_not_matter() {
        let a = fingerprint_of(
            Some("ABC"),
            &["AA:BB:CC:00:00:01".into(), "aa:bb:cc:00:00:02".into()],
        );
        let b = fingerprint_of(
            Some("abc"),
            &["aa:bb:cc:00:00:02".into(), "aa:bb:cc:00:00:01".into()],
        );
        assert_eq!(a, b);
    }

    #[test]
    fn different_hardware_differs() {
        let a = fingerprint_of(None, &["aa:bb:cc:00:00:01".into()]);
        let b = fingerprint_of(None, &["aa:bb:cc:00:00:02".into()]);
        assert_ne!(a, b);
        assert_ne!(a, fingerprint_of(Some("x"), &["aa:bb:cc:00:00:01".into()]));
    }

    #[test]
    fn this_machine_is_stable() {
        assert_eq!(fingerprint(), fingerprint());
    }
}
