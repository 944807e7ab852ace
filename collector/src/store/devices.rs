//! Network devices per school (switches, routers, printers, UPS units...):
//! what the school servers' agents found on the LAN and polled over SNMP.
//!
//! A device is keyed per school by its MAC (stable across DHCP leases),
//! else by its address (devices behind a router, or polled by name). The
//! newest report wins the device's state; an older, back-filled report
//! only adds devices not known yet and moves their first sighting earlier.
//! Each reporting agent's newest devices round is kept on the agent, so a
//! device it saw before and not in that round is *missing*.

use super::db::{Exec, Tx, args};
use super::{Identity, Store, StoreError, lock, parse_enum};
use schoolwatch_protocol::{Device, DeviceKind, Devices, SnmpData};

/// One known device of a school, as last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    /// The school.
    pub school_id: String,
    /// MAC, else address: the device's identity within its school.
    pub key: String,
    /// Address last seen at.
    pub address: String,
    /// Hardware address, when known.
    pub mac: Option<String>,
    /// Vendor from the OUI, when known.
    pub vendor: Option<String>,
    /// Kind as guessed by the agent.
    pub kind: DeviceKind,
    /// Configured for SNMP polling on the agent (not only discovered).
    pub configured: bool,
    /// Answered ICMP when last seen.
    pub icmp_up: bool,
    /// SNMP answers when last seen.
    pub snmp: Option<SnmpData>,
    /// Why polling failed when last seen, if it did.
    pub error: Option<String>,
    /// The agent that saw it last.
    pub reporter: String,
    /// First seen, ms (sampling time).
    pub first_seen_ms: i64,
    /// Last seen, ms (sampling time).
    pub last_seen_ms: i64,
    /// Not in the newest devices round of the agent that last saw it.
    pub missing: bool,
}

impl DeviceRow {
    /// Up now: seen in the newest round and answering ICMP or SNMP.
    pub fn up(&self) -> bool {
        !self.missing && (self.icmp_up || self.snmp.is_some())
    }
}

/// MAC, else address: how a school's devices are told apart.
pub fn device_key(d: &Device) -> &str {
    d.mac.as_deref().unwrap_or(&d.address)
}

/// Records one report's devices round from `who`, sampled at `sampled_at`.
pub(super) fn apply(
    tx: &mut Tx<'_>,
    who: &Identity,
    sampled_at: i64,
    devices: &Devices,
) -> Result<(), StoreError> {
    // The agent's newest round; a back-filled older round leaves it.
    tx.execute(
        "UPDATE agents SET devices_round_ms = ?2
         WHERE id = ?1 AND (devices_round_ms IS NULL OR devices_round_ms < ?2)",
        args![who.agent_id, sampled_at],
    )?;
    // New devices are inserted; known ones take this state only when it
    // is at least as new as what is stored. A device that did not answer
    // this round keeps the kind and vendor it was known by (a switch does
    // not become "unknown" for the length of an outage).
    const UPSERT: &str =
        "INSERT INTO devices (school_id, key, address, mac, vendor, kind, configured, icmp_up,
           snmp_json, error, reporter, first_seen_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
         ON CONFLICT (school_id, key) DO UPDATE SET
           address = excluded.address, mac = excluded.mac,
           vendor = COALESCE(excluded.vendor, devices.vendor),
           kind = CASE WHEN excluded.kind = 'unknown' THEN devices.kind ELSE excluded.kind END,
           configured = excluded.configured, icmp_up = excluded.icmp_up,
           snmp_json = excluded.snmp_json, error = excluded.error, reporter = excluded.reporter,
           last_seen_ms = excluded.last_seen_ms
         WHERE excluded.last_seen_ms >= devices.last_seen_ms";
    const EARLIER: &str = "UPDATE devices SET first_seen_ms = ?3
         WHERE school_id = ?1 AND key = ?2 AND first_seen_ms > ?3";
    for d in &devices.devices {
        let key = device_key(d);
        tx.execute(
            UPSERT,
            args![
                who.school_id,
                key,
                d.address,
                d.mac,
                d.vendor,
                d.kind.as_str(),
                d.configured,
                d.icmp_up,
                d.snmp.as_ref().map(super::json),
                d.error,
                who.agent_id,
                sampled_at,
            ],
        )?;
        tx.execute(EARLIER, args![who.school_id, key, sampled_at])?;
    }
    Ok(())
}

/// Replaces the MACs of `who`'s interfaces with those of a new inventory.
pub(super) fn set_host_macs(
    tx: &mut Tx<'_>,
    who: &Identity,
    inventory: &schoolwatch_protocol::Inventory,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM host_macs WHERE agent_id = ?1",
        args![who.agent_id],
    )?;
    for mac in inventory.interfaces.iter().filter_map(|i| i.mac.as_deref()) {
        tx.execute(
            "INSERT INTO host_macs (agent_id, mac) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![who.agent_id, mac.to_ascii_lowercase()],
        )?;
    }
    Ok(())
}

impl Store {
    /// Every known device of the non-revoked schools, by school and key.
    /// A sweep's find whose MAC is a live host's own (a lab PC with an
    /// agent) is that host, not a device: counting it twice would inflate
    /// the equipment on record.
    pub fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let mut out = Vec::new();
        lock(&self.reader).for_each(
            "SELECT d.school_id, d.key, d.address, d.mac, d.vendor, d.kind, d.configured,
                    d.icmp_up, d.snmp_json, d.error, d.reporter, d.first_seen_ms,
                    d.last_seen_ms, a.devices_round_ms
             FROM devices d JOIN schools s ON s.id = d.school_id
             LEFT JOIN agents a ON a.id = d.reporter
             WHERE s.revoked_ms IS NULL
               AND NOT EXISTS (SELECT 1 FROM host_macs m JOIN agents h ON h.id = m.agent_id
                               WHERE m.mac = d.mac AND h.school_id = d.school_id
                                 AND h.revoked_ms IS NULL)
             ORDER BY d.school_id, d.key",
            args![],
            &mut |r| {
                let school_id: String = r.get(0)?;
                let key: String = r.get(1)?;
                let snmp = r
                    .get::<Option<String>>(8)?
                    .map(|j| {
                        serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                            table: "devices",
                            detail: format!("snmp_json of {key} in {school_id}: {e}"),
                        })
                    })
                    .transpose()?;
                let last_seen_ms: i64 = r.get(12)?;
                // A revoked reporter's rounds no longer tell anything.
                let round: Option<i64> = r.get(13)?;
                out.push(DeviceRow {
                    address: r.get(2)?,
                    mac: r.get(3)?,
                    vendor: r.get(4)?,
                    kind: parse_enum("devices", &r.get::<String>(5)?)?,
                    configured: r.get(6)?,
                    icmp_up: r.get(7)?,
                    snmp,
                    error: r.get(9)?,
                    reporter: r.get(10)?,
                    first_seen_ms: r.get(11)?,
                    missing: round.is_some_and(|round| last_seen_ms < round),
                    last_seen_ms,
                    school_id,
                    key,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Forgets devices not seen since `horizon_ms`; returns how many.
    pub fn prune_devices(&self, horizon_ms: i64) -> Result<u64, StoreError> {
        lock(&self.writer).execute(
            "DELETE FROM devices WHERE last_seen_ms < ?1",
            args![horizon_ms],
        )
    }
}
