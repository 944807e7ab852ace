//! The devices section of a report: the school's network devices, on their
//! own schedule beside sampling.
//!
//! Every `[snmp] interval_secs` the configured devices are polled (the
//! poller keeps their counters between rounds, so interface rates come out
//! of the second round on); every `[discovery] every_minutes` the
//! configured subnets are swept. Each round's picture is the polled
//! devices plus what the newest sweep found, so a device the sweep found
//! stays in every picture until a sweep no longer finds it (the collector
//! calls a device *missing* when the agent's newest picture lacks it).
//! The picture rides the next report.

use super::discovery::{self, DiscoveryConfig};
use super::snmp::{Poller, SnmpConfig, SnmpDevice};
use schoolwatch_protocol::{Device, DeviceKind, Devices, SnmpData};
use std::sync::{Arc, Mutex, PoisonError};

/// The rounds running in the background; dropping it stops them.
pub struct Background {
    latest: Arc<Mutex<Option<Devices>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Starts the rounds, or nothing when no device is configured and no
    /// subnet is to be swept (the default: agents poll nothing unless a
    /// config file asks).
    pub fn start(snmp: &SnmpConfig, discovery: &DiscoveryConfig) -> Self {
        let latest = Arc::new(Mutex::new(None));
        if snmp.devices.is_empty() && !discovery.enabled() {
            return Self { latest, task: None };
        }
        let out = latest.clone();
        let (snmp, discovery) = (snmp.clone(), discovery.clone());
        let task = tokio::spawn(async move {
            let mut poller = Poller::new();
            let mut swept: Option<Devices> = None;
            let mut next_sweep = tokio::time::Instant::now();
            loop {
                if discovery.enabled() && tokio::time::Instant::now() >= next_sweep {
                    next_sweep = tokio::time::Instant::now() + discovery.every;
                    match discovery::discover(&discovery.subnets, &discovery.options()).await {
                        Ok(d) => {
                            tracing::info!(
                                subnets = ?d.subnets,
                                devices = d.devices.len(),
                                "LAN sweep done."
                            );
                            swept = Some(d);
                        }
                        Err(e) => tracing::warn!("LAN sweep could not run: {e}"),
                    }
                }
                let mut polled = Vec::with_capacity(snmp.devices.len());
                for device in &snmp.devices {
                    let result = poller.poll(&device.target, device.uplink.as_deref()).await;
                    if let Err(e) = &result {
                        tracing::warn!(device = %device.target.address(), "SNMP poll failed: {e}");
                    }
                    polled.push((device, result.map_err(|e| e.to_string())));
                }
                let picture = merge(polled, swept.as_ref());
                *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(picture);
                tokio::time::sleep(snmp.interval).await;
            }
        });
        Self {
            latest,
            task: Some(task),
        }
    }

    /// The newest picture, once.
    pub fn take(&self) -> Option<Devices> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// How a configured device is named in reports: its host, with the port
/// when it is not SNMP's own (two agents on one address are two devices).
pub fn configured_address(d: &SnmpDevice) -> String {
    if d.target.port == super::snmp::client::DEFAULT_PORT {
        d.target.host.clone()
    } else {
        d.target.address()
    }
}

/// One picture from this round's polls and the newest sweep. A configured
/// device keeps its configured address as its identity (no MAC: the
/// neighbour table does not always hold it, and a key that flips between
/// MAC and address would look like one device gone and another new); the
/// sweep's entry for the same address is folded into it (vendor, ICMP).
pub fn merge(
    polled: Vec<(&SnmpDevice, Result<SnmpData, String>)>,
    swept: Option<&Devices>,
) -> Devices {
    let mut devices = Vec::with_capacity(polled.len());
    let mut folded = std::collections::HashSet::new();
    for (config, result) in polled {
        let address = configured_address(config);
        let seen = swept.and_then(|s| s.devices.iter().find(|d| d.address == config.target.host));
        if let Some(s) = seen {
            folded.insert(s.address.clone());
        }
        let vendor = seen.and_then(|s| s.vendor.clone());
        let (snmp, error) = match result {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(e)),
        };
        devices.push(Device {
            address,
            mac: None,
            kind: polled_kind(snmp.as_ref(), vendor.as_deref()),
            vendor,
            configured: true,
            icmp_up: seen.is_some_and(|s| s.icmp_up),
            snmp,
            error,
        });
    }
    let max = schoolwatch_protocol::Limits::DEFAULT.max_devices;
    if let Some(s) = swept {
        devices.extend(
            s.devices
                .iter()
                .filter(|d| !folded.contains(&d.address))
                .take(max.saturating_sub(devices.len()))
                .cloned(),
        );
    }
    Devices {
        subnets: swept.map(|s| s.subnets.clone()).unwrap_or_default(),
        devices,
    }
}

/// A fully polled device says more than a probed one: UPS-MIB answers
/// make it a UPS, Printer-MIB supplies a printer.
fn polled_kind(snmp: Option<&SnmpData>, vendor: Option<&str>) -> DeviceKind {
    match snmp {
        Some(s) if s.ups.is_some() => DeviceKind::Ups,
        Some(s) if !s.supplies.is_empty() => DeviceKind::Printer,
        _ => discovery::kind::guess(snmp, vendor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::snmp::{Credentials, Target};

    fn configured(host: &str, port: u16) -> SnmpDevice {
        let mut target = Target::new(
            host,
            Credentials::V2c {
                community: "c".into(),
            },
        );
        target.port = port;
        SnmpDevice {
            target,
            uplink: None,
        }
    }

    fn found(address: &str, mac: &str, vendor: Option<&str>) -> Device {
        Device {
            address: address.into(),
            mac: Some(mac.into()),
            vendor: vendor.map(str::to_owned),
            kind: DeviceKind::Unknown,
            configured: false,
            icmp_up: true,
            snmp: None,
            error: None,
        }
    }

    #[test]
    fn configured_devices_fold_in_their_sweep_entry_and_keep_their_address() {
        let switch = configured("10.0.0.2", 161);
        let ups = configured("10.0.0.3", 1161);
        let sweep = Devices {
            subnets: vec!["10.0.0.0/24".into()],
            devices: vec![
                found("10.0.0.2", "00:00:0c:00:00:02", Some("Cisco Systems, Inc")),
                found(
                    "10.0.0.9",
                    "3c:2a:f4:00:00:09",
                    Some("Brother Industries, LTD."),
                ),
            ],
        };
        let ups_data = SnmpData {
            ups: Some(schoolwatch_protocol::UpsStatus {
                battery_status: 2,
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = merge(
            vec![
                (&switch, Err("no SNMP answer".into())),
                (&ups, Ok(ups_data)),
            ],
            Some(&sweep),
        );
        assert_eq!(got.subnets, ["10.0.0.0/24"]);
        let summary: Vec<_> = got
            .devices
            .iter()
            .map(|d| {
                (
                    d.address.as_str(),
                    d.mac.as_deref(),
                    d.vendor.as_deref(),
                    d.kind,
                    d.configured,
                    d.icmp_up,
                    d.error.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "10.0.0.2",
                    None,
                    Some("Cisco Systems, Inc"),
                    DeviceKind::Unknown,
                    true,
                    true,
                    Some("no SNMP answer")
                ),
                (
                    "10.0.0.3:1161",
                    None,
                    None,
                    DeviceKind::Ups,
                    true,
                    false,
                    None
                ),
                (
                    "10.0.0.9",
                    Some("3c:2a:f4:00:00:09"),
                    Some("Brother Industries, LTD."),
                    DeviceKind::Unknown,
                    false,
                    true,
                    None
                ),
            ]
        );
        // Without a sweep: only the configured devices, no subnets.
        let alone = merge(vec![(&switch, Err("x".into()))], None);
        assert_eq!((alone.devices.len(), alone.subnets.len()), (1, 0));
    }
}
