//! What a poll reads from a device and how it becomes [`SnmpData`].
//!
//! A full poll of a v2c/v3 device costs, in request/answer pairs: one GET
//! (system group and the UPS-MIB scalars together), the IF-MIB walk (ten
//! columns side by side, about six rows per GETBULK: ten pairs for a
//! 48-port switch with its VLANs), one or two for ENTITY-MIB (the walk
//! stops at the first chassis) and one for the Printer-MIB when the device
//! has none. SNMPv3 adds one pair for engine discovery. SNMPv1 has no
//! GETBULK, so it asks for each value on its own: fine for a UPS, slow for
//! a switch.

use super::client::{OidVec, Session, SnmpError, Target, Val, dotted};
use super::oids;
use super::rates::{self, Counter, PortReading, Reading, Width};
use schoolwatch_protocol::Limits;
use schoolwatch_protocol::{DeviceInterface, PrinterSupply, SnmpData, UpsStatus};
use std::collections::{BTreeMap, HashMap};

/// Longest string the protocol carries.
const MAX_STRING: usize = Limits::DEFAULT.max_string_bytes;
/// Most interfaces reported per device.
const MAX_INTERFACES: usize = Limits::DEFAULT.max_device_interfaces;
/// Most supplies reported per printer.
const MAX_SUPPLIES: usize = Limits::DEFAULT.max_supplies;
/// Rows read per IF-MIB column at most (a chassis with many VLAN and
/// tunnel interfaces); the report keeps [`MAX_INTERFACES`] of them.
const MAX_IF_ROWS: usize = 1024;
/// Entities read while looking for the chassis.
const MAX_ENTITY_ROWS: usize = 512;
/// Supply rows read per column.
const MAX_SUPPLY_ROWS: usize = 64;

/// The system group only: what answers SNMP and what it says it is (for
/// LAN discovery). One GET.
pub async fn system(target: &Target) -> Result<SnmpData, SnmpError> {
    let mut s = Session::open(target).await?;
    let v = s.get(&oids::SYSTEM).await?;
    Ok(system_group(&v))
}

/// Polls devices and keeps each one's previous counters, so interface
/// rates come out of the second poll on.
#[derive(Debug)]
pub struct Poller {
    /// Readings are timed in seconds since this instant (tokio's clock, so
    /// tests can pause time).
    epoch: tokio::time::Instant,
    /// The previous reading of each device, keyed by `host:port`; replaced
    /// by every successful poll, kept over failed ones (counters only grow,
    /// so the next rate spans the gap).
    last: HashMap<String, Reading>,
}

impl Default for Poller {
    fn default() -> Self {
        Self::new()
    }
}

impl Poller {
    /// A poller with no history.
    pub fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
            last: HashMap::new(),
        }
    }

    /// Reads everything the device has of the system group, IF-MIB,
    /// ENTITY-MIB chassis, UPS-MIB and Printer-MIB supplies. Interfaces
    /// whose ifName, ifDescr or ifAlias equals `uplink` are marked as the
    /// school's uplink (and always kept when a device has more interfaces
    /// than a report carries).
    pub async fn poll(
        &mut self,
        target: &Target,
        uplink: Option<&str>,
    ) -> Result<SnmpData, SnmpError> {
        let key = target.address();
        let started = tokio::time::Instant::now();
        let mut s = Session::open(target).await?;
        let scalars: Vec<&[u64]> = oids::SYSTEM.iter().chain(&oids::UPS).copied().collect();
        let v = s.get(&scalars).await?;
        let mut data = system_group(&v[..oids::SYSTEM.len()]);
        data.ups = ups_status(&v[oids::SYSTEM.len()..]);
        let uptime_ticks = match v[2] {
            Val::Ticks(t) => Some(t),
            _ => None,
        };

        let at_secs = self.epoch.elapsed().as_secs_f64();
        let columns = s.walk(&oids::IF_COLUMNS, MAX_IF_ROWS, None).await?;
        let rows = interface_rows(columns);
        let reading = Reading {
            at_secs,
            uptime_ticks,
            ports: rows.iter().map(|(&i, r)| r.reading(i)).collect(),
        };
        let rates = rates::port_rates(self.last.get(&key), &reading);

        let (model, serial) = optional(&key, "ENTITY-MIB", chassis(&mut s).await)?;
        data.model = model;
        data.serial = serial;
        let supplies = s.walk(&oids::SUPPLIES, MAX_SUPPLY_ROWS, None).await;
        data.supplies = optional(&key, "Printer-MIB", supplies.map(printer_supplies))?;

        data.interfaces = interfaces(&rows, &rates, uplink);
        tracing::debug!(
            device = %key,
            requests = s.sent,
            interfaces = rows.len(),
            seconds = started.elapsed().as_secs_f64(),
            "Polled."
        );
        self.last.insert(key, reading);
        Ok(data)
    }

    /// Forgets the history of devices for which `keep(address)` is false
    /// (removed from the config), so their baselines do not linger.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.last.retain(|k, _| keep(k));
    }
}

/// An optional MIB the device answered badly: logged and left out, the
/// rest of the poll stands. No answer at all still fails the poll.
fn optional<T: Default>(addr: &str, mib: &str, r: Result<T, SnmpError>) -> Result<T, SnmpError> {
    match r {
        Ok(v) => Ok(v),
        Err(e @ (SnmpError::Agent { .. } | SnmpError::Protocol { .. })) => {
            tracing::warn!(device = %addr, error = %e, "Left out {mib}: the device answered it with an error.");
            Ok(T::default())
        }
        Err(e) => Err(e),
    }
}

/// At most [`MAX_STRING`] bytes, cut at a character boundary.
fn clip(mut s: String) -> String {
    if s.len() > MAX_STRING {
        let mut end = MAX_STRING;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn text(v: &Val) -> String {
    v.as_text().map(clip).unwrap_or_default()
}

/// The five system scalars, in [`oids::SYSTEM`] order.
fn system_group(v: &[Val]) -> SnmpData {
    SnmpData {
        sys_descr: text(&v[0]),
        sys_object_id: match &v[1] {
            Val::Oid(o) => clip(dotted(o)),
            _ => String::new(),
        },
        uptime_seconds: v[2].as_u64().map_or(0.0, |t| t as f64 / 100.0),
        sys_name: text(&v[3]),
        sys_location: text(&v[4]),
        ..SnmpData::default()
    }
}

/// The UPS-MIB scalars in [`oids::UPS`] order; `None` when the device has
/// none of them (not a UPS).
fn ups_status(v: &[Val]) -> Option<UpsStatus> {
    if v.iter().all(|x| matches!(x, Val::Missing | Val::Other)) {
        return None;
    }
    Some(UpsStatus {
        on_battery: v[0].as_i64() == Some(oids::UPS_SOURCE_BATTERY),
        // Outside 1..=4 is not in the MIB: call it unknown(1).
        battery_status: v[1]
            .as_i64()
            .and_then(|b| u8::try_from(b).ok())
            .filter(|b| (1..=4).contains(b))
            .unwrap_or(1),
        charge_percent: v[3]
            .as_i64()
            .filter(|c| (0..=100).contains(c))
            .map(|c| c as f64),
        runtime_seconds: v[2].as_i64().filter(|m| *m >= 0).map(|m| m as f64 * 60.0),
    })
}

/// The first chassis's model and serial (ENTITY-MIB), where the device has
/// the table and fills them in.
async fn chassis(s: &mut Session) -> Result<(Option<String>, Option<String>), SnmpError> {
    let is_chassis = |_: usize, v: &Val| v.as_i64() == Some(oids::CLASS_CHASSIS);
    let cols = s
        .walk(
            &[oids::ENT_PHYSICAL_CLASS],
            MAX_ENTITY_ROWS,
            Some(&is_chassis),
        )
        .await?;
    let Some((index, _)) = cols[0].iter().find(|(_, v)| is_chassis(0, v)) else {
        return Ok((None, None));
    };
    let model = [oids::ENT_PHYSICAL_MODEL, index].concat();
    let serial = [oids::ENT_PHYSICAL_SERIAL, index].concat();
    let v = s.get(&[&model, &serial]).await?;
    let named = |v: &Val| Some(text(v).trim().to_owned()).filter(|s| !s.is_empty());
    Ok((named(&v[0]), named(&v[1])))
}

/// Supply rows joined by index, in table order, at most [`MAX_SUPPLIES`].
fn printer_supplies(cols: Vec<Vec<(OidVec, Val)>>) -> Vec<PrinterSupply> {
    type Row = (Option<String>, Option<i64>, Option<i64>);
    let mut rows: BTreeMap<OidVec, Row> = BTreeMap::new();
    for (c, col) in cols.into_iter().enumerate() {
        for (index, v) in col {
            let row = rows.entry(index).or_default();
            match c {
                0 => row.0 = v.as_text(),
                1 => row.1 = v.as_i64(),
                _ => row.2 = v.as_i64(),
            }
        }
    }
    rows.into_values()
        .take(MAX_SUPPLIES)
        .map(|(description, max, level)| PrinterSupply {
            description: clip(description.unwrap_or_default()),
            // -1 other, -2 unknown, -3 "some left": no ratio.
            level_ratio: match (max, level) {
                (Some(m), Some(l)) if m > 0 && l >= 0 => Some((l as f64 / m as f64).min(1.0)),
                _ => None,
            },
        })
        .collect()
}

/// One ifIndex's columns.
#[derive(Debug, Default, Clone, PartialEq)]
struct IfRow {
    descr: Option<String>,
    speed: Option<u64>,
    oper: Option<i64>,
    in32: Option<u64>,
    out32: Option<u64>,
    name: Option<String>,
    hc_in: Option<u64>,
    hc_out: Option<u64>,
    high_speed: Option<u64>,
    alias: Option<String>,
}

/// Octet counter: the 64-bit one when the device has it.
fn counter(hc: Option<u64>, c32: Option<u64>) -> Option<Counter> {
    match (hc, c32) {
        (Some(value), _) => Some(Counter {
            value,
            width: Width::Bits64,
        }),
        (None, Some(value)) => Some(Counter {
            value,
            width: Width::Bits32,
        }),
        (None, None) => None,
    }
}

/// Port speed in bits/s: ifHighSpeed × 10⁶ (ifSpeed stops at 4.29 Gbit/s),
/// except that an exact ifSpeed within ifHighSpeed's rounding wins (a
/// 1.544 Mbit/s line has ifHighSpeed 2); ifSpeed alone on devices without
/// ifXTable or below 1 Mbit/s; 0 when the device does not say.
fn speed_bps(if_speed: Option<u64>, high_speed: Option<u64>) -> u64 {
    match (if_speed, high_speed) {
        (s, Some(h)) if h > 0 => {
            let hs = h.saturating_mul(1_000_000);
            match s {
                Some(s) if s < u64::from(u32::MAX) && s.abs_diff(hs) < 1_000_000 => s,
                _ => hs,
            }
        }
        (Some(s), _) => s,
        (None, _) => 0,
    }
}

impl IfRow {
    fn name(&self, index: u32) -> String {
        let named = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        clip(
            named(&self.name)
                .or_else(|| named(&self.descr))
                .unwrap_or_else(|| format!("if{index}")),
        )
    }

    fn reading(&self, index: u32) -> PortReading {
        PortReading {
            index,
            name: self.name(index),
            in_octets: counter(self.hc_in, self.in32),
            out_octets: counter(self.hc_out, self.out32),
            speed_bps: speed_bps(self.speed, self.high_speed),
        }
    }

    fn is_uplink(&self, index: u32, uplink: &str) -> bool {
        let is = |s: &Option<String>| s.as_deref() == Some(uplink);
        self.name(index) == uplink || is(&self.name) || is(&self.descr) || is(&self.alias)
    }
}

/// The walked IF-MIB columns ([`oids::IF_COLUMNS`] order) joined by ifIndex.
fn interface_rows(cols: Vec<Vec<(OidVec, Val)>>) -> BTreeMap<u32, IfRow> {
    let mut rows: BTreeMap<u32, IfRow> = BTreeMap::new();
    for (c, col) in cols.into_iter().enumerate() {
        for (suffix, v) in col {
            // IF-MIB tables are indexed by ifIndex alone.
            let [index] = suffix[..] else { continue };
            let Ok(index) = u32::try_from(index) else {
                continue;
            };
            let row = rows.entry(index).or_default();
            match c {
                0 => row.descr = v.as_text(),
                1 => row.speed = v.as_u64(),
                2 => row.oper = v.as_i64(),
                3 => row.in32 = v.as_u64(),
                4 => row.out32 = v.as_u64(),
                5 => row.name = v.as_text(),
                6 => row.hc_in = v.as_u64(),
                7 => row.hc_out = v.as_u64(),
                8 => row.high_speed = v.as_u64(),
                _ => row.alias = v.as_text(),
            }
        }
    }
    rows
}

/// The report's interfaces: every row with its rates (in `rows` order),
/// the uplink marked. Beyond [`MAX_INTERFACES`], the uplink stays, then
/// ports that are up, then the lowest ifIndexes.
fn interfaces(
    rows: &BTreeMap<u32, IfRow>,
    rates: &[(Option<f64>, Option<f64>)],
    uplink: Option<&str>,
) -> Vec<DeviceInterface> {
    let mut out: Vec<DeviceInterface> = rows
        .iter()
        .zip(rates)
        .map(|((&index, r), &(in_bps, out_bps))| {
            let reading = r.reading(index);
            DeviceInterface {
                index,
                name: reading.name,
                alias: clip(r.alias.clone().unwrap_or_default()),
                oper_up: r.oper == Some(1),
                speed_bps: reading.speed_bps,
                in_octets: reading.in_octets.map_or(0, |c| c.value),
                out_octets: reading.out_octets.map_or(0, |c| c.value),
                in_bps,
                out_bps,
                uplink: uplink.is_some_and(|u| r.is_uplink(index, u)),
            }
        })
        .collect();
    if out.len() > MAX_INTERFACES {
        out.sort_by_key(|i| (!i.uplink, !i.oper_up, i.index));
        out.truncate(MAX_INTERFACES);
        out.sort_by_key(|i| i.index);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Val {
        Val::Bytes(v.as_bytes().to_vec())
    }

    #[test]
    fn system_group_reads_numeric_oid_and_uptime() {
        let d = system_group(&[
            s("Linux sw1 6.1"),
            Val::Oid(vec![1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]),
            Val::Ticks(123_456),
            s("sw1"),
            Val::Missing,
        ]);
        assert_eq!(d.sys_descr, "Linux sw1 6.1");
        assert_eq!(d.sys_object_id, "1.3.6.1.4.1.8072.3.2.10");
        assert_eq!(d.uptime_seconds, 1_234.56);
        assert_eq!(d.sys_name, "sw1");
        assert_eq!(d.sys_location, "");
    }

    #[test]
    fn long_strings_are_clipped_at_a_character_boundary() {
        let long = "ệ".repeat(100); // 3 bytes each
        let d = system_group(&[
            s(&long),
            Val::Missing,
            Val::Missing,
            Val::Missing,
            Val::Missing,
        ]);
        assert_eq!(d.sys_descr.len(), 255);
        assert!(long.starts_with(&d.sys_descr));
    }

    #[test]
    fn ups_values_map_and_absent_mib_is_none() {
        assert_eq!(
            ups_status(&[Val::Missing, Val::Missing, Val::Missing, Val::Missing]),
            None
        );
        let u = ups_status(&[Val::Int(5), Val::Int(3), Val::Int(12), Val::Int(40)]).unwrap();
        assert_eq!(
            u,
            UpsStatus {
                on_battery: true,
                battery_status: 3,
                charge_percent: Some(40.0),
                runtime_seconds: Some(720.0),
            }
        );
        // Normal (3) output source, out-of-range values dropped.
        let u = ups_status(&[Val::Int(3), Val::Int(9), Val::Int(-1), Val::Int(101)]).unwrap();
        assert_eq!(
            u,
            UpsStatus {
                on_battery: false,
                battery_status: 1,
                charge_percent: None,
                runtime_seconds: None,
            }
        );
    }

    #[test]
    fn supplies_ratio_only_for_known_levels() {
        let idx = |i: u64| vec![1, i];
        let cols = vec![
            vec![
                (idx(1), s("Black Toner")),
                (idx(2), s("Drum")),
                (idx(3), s("Waste")),
            ],
            vec![
                (idx(1), Val::Int(8000)),
                (idx(2), Val::Int(-2)),
                (idx(3), Val::Int(100)),
            ],
            vec![
                (idx(1), Val::Int(2000)),
                (idx(2), Val::Int(50)),
                (idx(3), Val::Int(-3)),
            ],
        ];
        let p = printer_supplies(cols);
        assert_eq!(
            p,
            vec![
                PrinterSupply {
                    description: "Black Toner".into(),
                    level_ratio: Some(0.25)
                },
                PrinterSupply {
                    description: "Drum".into(),
                    level_ratio: None
                },
                PrinterSupply {
                    description: "Waste".into(),
                    level_ratio: None
                },
            ]
        );
    }

    #[test]
    fn speed_prefers_high_speed_but_keeps_exact_if_speed() {
        assert_eq!(
            speed_bps(Some(u64::from(u32::MAX)), Some(10_000)),
            10_000_000_000
        );
        assert_eq!(speed_bps(Some(1_544_000), Some(2)), 1_544_000);
        assert_eq!(speed_bps(Some(100_000_000), Some(100)), 100_000_000);
        // ifSpeed contradicting ifHighSpeed: trust the 64-bit era object.
        assert_eq!(speed_bps(Some(10_000_000), Some(1_000)), 1_000_000_000);
        assert_eq!(speed_bps(Some(64_000), Some(0)), 64_000);
        assert_eq!(speed_bps(Some(10_000_000), None), 10_000_000);
        assert_eq!(speed_bps(None, None), 0);
    }

    fn if_cols(rows: &[(u64, &str, &str, i64, Option<u64>)]) -> Vec<Vec<(OidVec, Val)>> {
        // (ifIndex, ifName, ifAlias, ifOperStatus, ifHCInOctets)
        let mut cols = vec![Vec::new(); 10];
        for &(i, name, alias, oper, hc) in rows {
            cols[0].push((vec![i], s(&format!("descr {name}"))));
            cols[1].push((vec![i], Val::Gauge(100_000_000)));
            cols[2].push((vec![i], Val::Int(oper)));
            cols[3].push((vec![i], Val::Counter32(7)));
            cols[4].push((vec![i], Val::Counter32(8)));
            cols[5].push((vec![i], s(name)));
            if let Some(hc) = hc {
                cols[6].push((vec![i], Val::Counter64(hc)));
                cols[7].push((vec![i], Val::Counter64(hc + 1)));
            }
            cols[8].push((vec![i], Val::Gauge(100)));
            cols[9].push((vec![i], s(alias)));
        }
        cols
    }

    #[test]
    fn interfaces_prefer_64_bit_counters_and_mark_the_uplink() {
        let rows = interface_rows(if_cols(&[
            (1, "Gi0/1", "to office", 1, Some(5_000_000_000)),
            (2, "Gi0/2", "", 2, None),
            (3, "Gi0/48", "UPLINK-VNPT", 1, Some(9)),
        ]));
        let rates = vec![(None, None), (Some(1.0), Some(2.0)), (None, None)];
        let by_alias = interfaces(&rows, &rates, Some("UPLINK-VNPT"));
        assert_eq!(
            by_alias[0],
            DeviceInterface {
                index: 1,
                name: "Gi0/1".into(),
                alias: "to office".into(),
                oper_up: true,
                speed_bps: 100_000_000,
                in_octets: 5_000_000_000,
                out_octets: 5_000_000_001,
                in_bps: None,
                out_bps: None,
                uplink: false,
            }
        );
        // No 64-bit counters: the 32-bit ones.
        assert_eq!((by_alias[1].in_octets, by_alias[1].out_octets), (7, 8));
        assert_eq!(
            (by_alias[1].in_bps, by_alias[1].out_bps),
            (Some(1.0), Some(2.0))
        );
        assert!(!by_alias[1].oper_up);
        assert_eq!(
            by_alias.iter().map(|i| i.uplink).collect::<Vec<_>>(),
            [false, false, true]
        );
        // By ifName or ifDescr too.
        assert!(interfaces(&rows, &rates, Some("Gi0/48"))[2].uplink);
        assert!(interfaces(&rows, &rates, Some("descr Gi0/2"))[1].uplink);
        assert!(interfaces(&rows, &rates, None).iter().all(|i| !i.uplink));
    }

    #[test]
    fn name_falls_back_to_descr_then_index() {
        let mut cols = vec![Vec::new(); 10];
        cols[0].push((vec![4], s("eth0")));
        cols[5].push((vec![4], s("")));
        cols[2].push((vec![9], Val::Int(1)));
        // A row with a two-part index is no IF-MIB row.
        cols[2].push((vec![9, 1], Val::Int(1)));
        let rows = interface_rows(cols);
        let i = interfaces(&rows, &[(None, None), (None, None)], None);
        assert_eq!(
            i.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["eth0", "if9"]
        );
    }

    #[test]
    fn too_many_interfaces_keep_uplink_then_up_ports() {
        // 200 ports; the even ones are up; the uplink is port 199 (down).
        let rows: Vec<(u64, String, i64)> = (1..=200)
            .map(|i| (i, format!("p{i}"), if i % 2 == 0 { 1 } else { 2 }))
            .collect();
        let spec: Vec<(u64, &str, &str, i64, Option<u64>)> = rows
            .iter()
            .map(|(i, n, o)| (*i, n.as_str(), "", *o, Some(0)))
            .collect();
        let rows = interface_rows(if_cols(&spec));
        let rates = vec![(None, None); 200];
        let out = interfaces(&rows, &rates, Some("p199"));
        assert_eq!(out.len(), MAX_INTERFACES);
        assert!(out.windows(2).all(|w| w[0].index < w[1].index));
        assert!(out.iter().any(|i| i.index == 199 && i.uplink));
        // 100 up ports, then the 27 lowest down ones.
        assert_eq!(out.iter().filter(|i| i.oper_up).count(), 100);
        let down: Vec<u32> = out
            .iter()
            .filter(|i| !i.oper_up && !i.uplink)
            .map(|i| i.index)
            .collect();
        assert_eq!(down, (0..27).map(|k| 2 * k + 1).collect::<Vec<_>>());
    }

    #[test]
    fn poll_future_is_send() {
        // The runner may spawn polls on a multi-threaded runtime.
        fn send<T: Send>(_: &T) {}
        let mut p = Poller::new();
        let t = Target::new(
            "127.0.0.1",
            super::super::Credentials::V2c {
                community: "public".into(),
            },
        );
        let f = p.poll(&t, None);
        send(&f);
        let g = system(&t);
        send(&g);
    }
}
