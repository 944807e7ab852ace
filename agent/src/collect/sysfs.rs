//! What sysinfo does not cover, read straight from Linux's sysfs: DMI
//! identity, link speed, interface state and drop counters.
//!
//! Each reader returns `None` where the file is missing or unreadable
//! (virtual machines without DMI, interfaces without a speed, a serial number
//! that only root may read). On other platforms every reader is `None`.

#[cfg(target_os = "linux")]
mod imp {
    use std::path::Path;

    /// Placeholders vendors leave in DMI fields; they are not information.
    const DMI_PLACEHOLDERS: &[&str] = &[
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "system product name",
        "system manufacturer",
        "not specified",
        "not applicable",
        "none",
        "0",
        "0123456789",
    ];

    fn read_trimmed(path: &Path) -> Option<String> {
        let s = std::fs::read_to_string(path).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    }

    pub fn dmi(field: &str) -> Option<String> {
        let v = read_trimmed(&Path::new("/sys/class/dmi/id").join(field))?;
        (!DMI_PLACEHOLDERS.contains(&v.to_ascii_lowercase().as_str())).then_some(v)
    }

    fn net(iface: &str, file: &str) -> Option<String> {
        read_trimmed(&Path::new("/sys/class/net").join(iface).join(file))
    }

    pub fn link_speed_mbps(iface: &str) -> Option<u64> {
        // Drivers write -1 (or fail with EINVAL) when the speed is unknown,
        // e.g. a cable unplugged or a virtual interface.
        net(iface, "speed")?
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .map(|s| s as u64)
    }

    /// Administratively up (IFF_UP) and with carrier (what `ip link` shows
    /// as `UP,LOWER_UP`).
    pub fn is_up(iface: &str) -> bool {
        let flags = net(iface, "flags")
            .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        const IFF_UP: u32 = 0x1;
        // `carrier` fails to read on an interface that is administratively down.
        flags & IFF_UP != 0 && net(iface, "carrier").as_deref() == Some("1")
    }

    pub fn counter(iface: &str, name: &str) -> Option<u64> {
        net(iface, &format!("statistics/{name}"))?.parse().ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn dmi(_field: &str) -> Option<String> {
        None
    }
    pub fn link_speed_mbps(_iface: &str) -> Option<u64> {
        None
    }
    pub fn is_up(_iface: &str) -> bool {
        true
    }
    pub fn counter(_iface: &str, _name: &str) -> Option<u64> {
        None
    }
}

pub use imp::{counter, dmi, is_up, link_speed_mbps};
