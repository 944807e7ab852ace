//! A school's network devices summed up (pure functions): how many of what
//! kind and vendor, which are new or missing, how loaded the uplink is and
//! whether a UPS is carrying the load. `/metrics` and the status page read
//! the same figures.

use crate::store::DeviceRow;
use schoolwatch_protocol::DeviceKind;
use std::collections::BTreeMap;

/// How recently a device must have first appeared to count as new.
pub const NEW_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// The school's uplink load, from the device ports marked as uplink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uplink {
    /// Receive rate, bits/s (into the school), summed over uplink ports.
    pub receive_bps: f64,
    /// Transmit rate, bits/s, summed over uplink ports.
    pub transmit_bps: f64,
    /// Port speed, bits/s, summed; 0 when no port tells its speed.
    pub speed_bps: f64,
}

impl Uplink {
    /// The busier direction's share of the port speed; `None` when the
    /// speed is unknown.
    pub fn utilisation(&self) -> Option<f64> {
        (self.speed_bps > 0.0).then(|| self.receive_bps.max(self.transmit_bps) / self.speed_bps)
    }
}

/// One school's devices summed up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchoolDevices {
    /// Devices on record.
    pub known: u32,
    /// Seen in the newest round and answering.
    pub up: u32,
    /// Not seen in the newest round of the agent that saw them last.
    pub missing: u32,
    /// First seen within [`NEW_WITHIN_MS`].
    pub new: u32,
    /// Devices per (kind, vendor); vendor `unknown` when the OUI is not
    /// in the registry.
    pub by_kind_vendor: BTreeMap<(DeviceKind, String), u32>,
    /// Uplink load; `None` when no polled port is marked as uplink or it
    /// has no rate yet (first poll, device rebooted).
    pub uplink: Option<Uplink>,
    /// UPS units running on battery now.
    pub ups_on_battery: u32,
}

/// Sums up one school's devices at `now_ms`.
pub fn summarize<'a>(
    devices: impl IntoIterator<Item = &'a DeviceRow>,
    now_ms: i64,
) -> SchoolDevices {
    let mut out = SchoolDevices::default();
    let mut uplink: Option<Uplink> = None;
    for d in devices {
        out.known += 1;
        out.up += u32::from(d.up());
        out.missing += u32::from(d.missing);
        out.new += u32::from(now_ms - d.first_seen_ms < NEW_WITHIN_MS);
        let vendor = d.vendor.clone().unwrap_or_else(|| "unknown".to_owned());
        *out.by_kind_vendor.entry((d.kind, vendor)).or_default() += 1;
        // A missing device's last rates are history, not the load now.
        let Some(snmp) = d.snmp.as_ref().filter(|_| !d.missing) else {
            continue;
        };
        if snmp.ups.as_ref().is_some_and(|u| u.on_battery) {
            out.ups_on_battery += 1;
        }
        for i in snmp.interfaces.iter().filter(|i| i.uplink) {
            let (Some(rx), Some(tx)) = (i.in_bps, i.out_bps) else {
                continue;
            };
            let u = uplink.get_or_insert(Uplink {
                receive_bps: 0.0,
                transmit_bps: 0.0,
                speed_bps: 0.0,
            });
            u.receive_bps += rx;
            u.transmit_bps += tx;
            u.speed_bps += i.speed_bps as f64;
        }
    }
    out.uplink = uplink;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use schoolwatch_protocol::{DeviceInterface, SnmpData, UpsStatus};

    fn device(key: &str, kind: DeviceKind, vendor: Option<&str>) -> DeviceRow {
        DeviceRow {
            school_id: "s".into(),
            key: key.into(),
            address: "10.0.0.1".into(),
            mac: None,
            vendor: vendor.map(str::to_owned),
            kind,
            configured: false,
            icmp_up: true,
            snmp: None,
            error: None,
            reporter: "a".into(),
            first_seen_ms: 0,
            last_seen_ms: 100,
            missing: false,
        }
    }

    fn port(uplink: bool, rx: Option<f64>, tx: f64, speed: u64) -> DeviceInterface {
        DeviceInterface {
            index: 1,
            name: "p".into(),
            oper_up: true,
            speed_bps: speed,
            in_bps: rx,
            out_bps: Some(tx),
            uplink,
            ..Default::default()
        }
    }

    #[test]
    fn counts_kinds_new_missing_uplink_and_ups() {
        let now = 10 * NEW_WITHIN_MS;
        let mut switch = device("sw", DeviceKind::Switch, Some("Cisco Systems, Inc"));
        switch.snmp = Some(SnmpData {
            interfaces: vec![
                port(true, Some(30e6), 5e6, 100_000_000),
                port(false, Some(90e6), 90e6, 1_000_000_000),
                // An uplink without a rate yet does not count.
                port(true, None, 1e6, 100_000_000),
            ],
            ..Default::default()
        });
        let mut ups = device("ups", DeviceKind::Ups, None);
        ups.first_seen_ms = now - 1000;
        ups.snmp = Some(SnmpData {
            ups: Some(UpsStatus {
                on_battery: true,
                battery_status: 2,
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut gone = device("old", DeviceKind::Switch, Some("Cisco Systems, Inc"));
        gone.missing = true;
        gone.snmp = switch.snmp.clone();
        let s = summarize([&switch, &ups, &gone], now);
        assert_eq!((s.known, s.up, s.missing, s.new), (3, 2, 1, 1));
        assert_eq!(s.ups_on_battery, 1);
        assert_eq!(
            s.by_kind_vendor.into_iter().collect::<Vec<_>>(),
            [
                ((DeviceKind::Switch, "Cisco Systems, Inc".to_owned()), 2),
                ((DeviceKind::Ups, "unknown".to_owned()), 1),
            ]
        );
        let u = s.uplink.expect("one uplink port with rates");
        assert_eq!(
            (u.receive_bps, u.transmit_bps, u.speed_bps),
            (30e6, 5e6, 1e8)
        );
        assert_eq!(u.utilisation(), Some(0.3));
        assert_eq!(summarize([], now).uplink, None);
    }
}
