//! Network device series: per school (counts by kind and vendor, new and
//! missing devices, uplink load, UPS on battery) in the fleet part, and per
//! device (status, interfaces, UPS, printer supplies) beside the hosts, so
//! a district's scrape carries its own devices.

use super::{family, gauge};
use crate::fleet::Fleet;
use crate::store::DeviceRow;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use std::collections::HashMap;

type Labels = Vec<(&'static str, String)>;

/// Per school: device counts, uplink, UPS.
pub(super) fn encode_schools(e: &mut DescriptorEncoder, f: &Fleet) -> std::fmt::Result {
    // Registry order, schools with devices only.
    let schools: Vec<(Labels, &crate::devices::SchoolDevices)> = f
        .schools
        .iter()
        .filter_map(|s| {
            let d = f.school_devices.get(&s.id)?;
            Some((
                vec![("school", s.id.clone()), ("district", s.district.clone())],
                d,
            ))
        })
        .collect();
    gauge(
        e,
        "schoolwatch_school_devices",
        "Network devices on record at the school, by kind and vendor (from the MAC's OUI)",
        schools.iter().flat_map(|(l, d)| {
            d.by_kind_vendor.iter().map(move |((kind, vendor), n)| {
                let mut l = l.clone();
                l.push(("kind", kind.as_str().to_owned()));
                l.push(("vendor", vendor.clone()));
                (l, f64::from(*n))
            })
        }),
    )?;
    for (name, help, pick) in [
        (
            "schoolwatch_school_devices_up",
            "Network devices of the school seen in the newest round and answering ICMP or SNMP",
            (|d: &crate::devices::SchoolDevices| d.up) as fn(&_) -> u32,
        ),
        (
            "schoolwatch_school_devices_missing",
            "Network devices on record that the newest round of the agent that saw them last did not find",
            |d| d.missing,
        ),
        (
            "schoolwatch_school_devices_new",
            "Network devices first seen in the last 24 hours",
            |d| d.new,
        ),
        (
            "schoolwatch_school_ups_on_battery",
            "UPS units of the school running on battery (mains out)",
            |d| d.ups_on_battery,
        ),
    ] {
        gauge(
            e,
            name,
            help,
            schools.iter().map(|(l, d)| (l.clone(), f64::from(pick(d)))),
        )?;
    }
    let uplinks: Vec<(&Labels, crate::devices::Uplink)> = schools
        .iter()
        .filter_map(|(l, d)| Some((l, d.uplink?)))
        .collect();
    for (name, help, pick) in [
        (
            "schoolwatch_school_uplink_receive_bits_per_second",
            "Traffic into the school on the device ports marked as uplink: the school's real download use",
            (|u: &crate::devices::Uplink| Some(u.receive_bps)) as fn(&_) -> Option<f64>,
        ),
        (
            "schoolwatch_school_uplink_transmit_bits_per_second",
            "Traffic out of the school on the uplink ports",
            |u| Some(u.transmit_bps),
        ),
        (
            "schoolwatch_school_uplink_speed_bits_per_second",
            "Speed of the uplink ports as the device reports it",
            |u| (u.speed_bps > 0.0).then_some(u.speed_bps),
        ),
        (
            "schoolwatch_school_uplink_utilisation_ratio",
            "The busier direction's share of the uplink ports' speed",
            crate::devices::Uplink::utilisation,
        ),
    ] {
        gauge(
            e,
            name,
            help,
            uplinks
                .iter()
                .filter_map(|(l, u)| Some(((*l).clone(), pick(u)?))),
        )?;
    }
    Ok(())
}

/// Per device, of one district when asked.
pub(super) fn encode_devices(
    e: &mut DescriptorEncoder,
    f: &Fleet,
    district: Option<&str>,
) -> std::fmt::Result {
    let district_of: HashMap<&str, &str> = f
        .schools
        .iter()
        .map(|s| (s.id.as_str(), s.district.as_str()))
        .collect();
    let devices: Vec<(Labels, &DeviceRow)> = f
        .devices
        .iter()
        .filter_map(|d| {
            let dist = *district_of.get(d.school_id.as_str())?;
            if district.is_some_and(|want| want != dist) {
                return None;
            }
            Some((
                vec![
                    ("school", d.school_id.clone()),
                    ("district", dist.to_owned()),
                    ("device", d.key.clone()),
                ],
                d,
            ))
        })
        .collect();
    gauge(
        e,
        "schoolwatch_device_info",
        "A network device on record (always 1)",
        devices.iter().map(|(l, d)| {
            let snmp = d.snmp.as_ref();
            let mut l = l.clone();
            l.extend([
                ("address", d.address.clone()),
                ("mac", d.mac.clone().unwrap_or_default()),
                ("vendor", d.vendor.clone().unwrap_or_default()),
                ("kind", d.kind.as_str().to_owned()),
                ("name", snmp.map(|s| s.sys_name.clone()).unwrap_or_default()),
                (
                    "model",
                    snmp.and_then(|s| s.model.clone()).unwrap_or_default(),
                ),
                (
                    "serial",
                    snmp.and_then(|s| s.serial.clone()).unwrap_or_default(),
                ),
                (
                    "sys_object_id",
                    snmp.map(|s| s.sys_object_id.clone()).unwrap_or_default(),
                ),
                ("configured", d.configured.to_string()),
            ]);
            (l, 1.0)
        }),
    )?;
    gauge(
        e,
        "schoolwatch_device_up",
        "1 when the device was seen in the newest round and answered ICMP or SNMP",
        devices
            .iter()
            .map(|(l, d)| (l.clone(), f64::from(u8::from(d.up())))),
    )?;
    gauge(
        e,
        "schoolwatch_device_snmp_up",
        "1 when the device answered SNMP when last seen; 0 when polling it failed (see the agent's log or the status page for why)",
        devices
            .iter()
            .filter(|(_, d)| d.snmp.is_some() || d.error.is_some())
            .map(|(l, d)| (l.clone(), f64::from(u8::from(d.snmp.is_some())))),
    )?;
    gauge(
        e,
        "schoolwatch_device_first_seen_timestamp_seconds",
        "When the device was first seen",
        devices
            .iter()
            .map(|(l, d)| (l.clone(), d.first_seen_ms as f64 / 1000.0)),
    )?;
    gauge(
        e,
        "schoolwatch_device_last_seen_timestamp_seconds",
        "When the device was last seen (sampling time of the round)",
        devices
            .iter()
            .map(|(l, d)| (l.clone(), d.last_seen_ms as f64 / 1000.0)),
    )?;
    let polled: Vec<(&Labels, &schoolwatch_protocol::SnmpData)> = devices
        .iter()
        .filter_map(|(l, d)| Some((l, d.snmp.as_ref()?)))
        .collect();
    gauge(
        e,
        "schoolwatch_device_uptime_seconds",
        "The device's sysUpTime when last polled",
        polled.iter().map(|(l, s)| ((*l).clone(), s.uptime_seconds)),
    )?;
    encode_interfaces(e, &polled)?;
    encode_ups(e, &polled)?;
    gauge(
        e,
        "schoolwatch_device_supply_level_ratio",
        "A printer supply's level as a share of its capacity (Printer-MIB)",
        polled.iter().flat_map(|(l, s)| {
            s.supplies.iter().filter_map(move |p| {
                let mut l = (*l).clone();
                l.push(("supply", p.description.clone()));
                Some((l, p.level_ratio?))
            })
        }),
    )
}

fn encode_interfaces(
    e: &mut DescriptorEncoder,
    polled: &[(&Labels, &schoolwatch_protocol::SnmpData)],
) -> std::fmt::Result {
    let ports = || {
        polled.iter().flat_map(|(l, s)| {
            s.interfaces.iter().map(move |i| {
                let mut l = (*l).clone();
                l.push(("interface", i.name.clone()));
                (l, i)
            })
        })
    };
    gauge(
        e,
        "schoolwatch_device_interface_info",
        "A polled device's interface, with its alias and whether it is the school's uplink (always 1)",
        ports().map(|(mut l, i)| {
            l.push(("alias", i.alias.clone()));
            l.push(("uplink", i.uplink.to_string()));
            (l, 1.0)
        }),
    )?;
    gauge(
        e,
        "schoolwatch_device_interface_up",
        "1 when the interface's ifOperStatus is up",
        ports().map(|(l, i)| (l, f64::from(u8::from(i.oper_up)))),
    )?;
    gauge(
        e,
        "schoolwatch_device_interface_speed_bits_per_second",
        "The interface's speed (ifHighSpeed, else ifSpeed)",
        ports()
            .filter(|(_, i)| i.speed_bps > 0)
            .map(|(l, i)| (l, i.speed_bps as f64)),
    )?;
    gauge(
        e,
        "schoolwatch_device_interface_receive_bits_per_second",
        "Receive rate between the last two polls (counter wraps handled; absent after a reboot)",
        ports().filter_map(|(l, i)| Some((l, i.in_bps?))),
    )?;
    gauge(
        e,
        "schoolwatch_device_interface_transmit_bits_per_second",
        "Transmit rate between the last two polls",
        ports().filter_map(|(l, i)| Some((l, i.out_bps?))),
    )?;
    family(
        e,
        "schoolwatch_device_interface_receive_bytes",
        "Octets received (ifHCInOctets, else ifInOctets) as last polled",
        MetricType::Counter,
        ports().map(|(l, i)| (l, ConstCounter::new(i.in_octets))),
    )?;
    family(
        e,
        "schoolwatch_device_interface_transmit_bytes",
        "Octets sent (ifHCOutOctets, else ifOutOctets) as last polled",
        MetricType::Counter,
        ports().map(|(l, i)| (l, ConstCounter::new(i.out_octets))),
    )
}

fn encode_ups(
    e: &mut DescriptorEncoder,
    polled: &[(&Labels, &schoolwatch_protocol::SnmpData)],
) -> std::fmt::Result {
    let ups = || {
        polled
            .iter()
            .filter_map(|(l, s)| Some(((*l).clone(), s.ups.as_ref()?)))
    };
    gauge(
        e,
        "schoolwatch_device_ups_on_battery",
        "1 when the UPS's output comes from its battery (upsOutputSource battery)",
        ups().map(|(l, u)| (l, f64::from(u8::from(u.on_battery)))),
    )?;
    gauge(
        e,
        "schoolwatch_device_ups_battery_status",
        "upsBatteryStatus: 1 unknown, 2 normal, 3 low, 4 depleted",
        ups().map(|(l, u)| (l, f64::from(u.battery_status))),
    )?;
    gauge(
        e,
        "schoolwatch_device_ups_charge_ratio",
        "The UPS's estimated charge remaining, 0 to 1",
        ups().filter_map(|(l, u)| Some((l, u.charge_percent? / 100.0))),
    )?;
    gauge(
        e,
        "schoolwatch_device_ups_runtime_seconds",
        "The UPS's estimated runtime on battery",
        ups().filter_map(|(l, u)| Some((l, u.runtime_seconds?))),
    )
}
