//! `schoolwatch-agent snmp`: poll one device once and print what it
//! answered, as tables or as the report's JSON.

use super::config::{CredentialKeys, SnmpConfig, credentials};
use super::{Poller, Target, client::split_address};
use crate::table::{Table, bits_per_second, bytes};
use schoolwatch_protocol::SnmpData;
use std::io::Write;
use std::time::Duration;

/// The `snmp` subcommand's flags. Credentials not given fall back to the
/// config's `[snmp]` defaults, like a `[[snmp.device]]` entry.
#[derive(Debug, clap::Args)]
pub struct SnmpArgs {
    /// The device: host or IP, optionally with a port (`10.0.0.2:1161`).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub target: String,
    /// Community for SNMPv1/v2c; default `[snmp] community` from the config.
    #[arg(long)]
    pub community: Option<String>,
    /// SNMP version; default 3 with --v3-user, else `[snmp] version`.
    #[arg(long, value_name = "1|2c|3")]
    pub version: Option<String>,
    /// SNMPv3 user name.
    #[arg(long = "v3-user", value_name = "USER")]
    pub v3_user: Option<String>,
    /// SNMPv3 authentication: md5, sha, sha224, sha256, sha384 or sha512.
    #[arg(long, value_name = "PROTOCOL")]
    pub auth_protocol: Option<String>,
    /// SNMPv3 authentication password.
    #[arg(long, value_name = "PASSWORD")]
    pub auth_password: Option<String>,
    /// SNMPv3 privacy: aes, aes192, aes256, aes192c, aes256c or des.
    #[arg(long, value_name = "PROTOCOL")]
    pub privacy_protocol: Option<String>,
    /// SNMPv3 privacy password.
    #[arg(long, value_name = "PASSWORD")]
    pub privacy_password: Option<String>,
    /// Mark the port with this ifName, ifDescr or ifAlias as the uplink.
    #[arg(long, value_name = "NAME")]
    pub uplink: Option<String>,
    /// Print the SNMP data as JSON (a device's `snmp` object in a report).
    #[arg(long)]
    pub json: bool,
    /// Poll twice, this many seconds apart, to show interface rates.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub interval_for_rates: Option<Duration>,
    /// How long to wait for each answer, e.g. `500ms`; default
    /// `[snmp] timeout_ms`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Tries after the first; default `[snmp] retries`.
    #[arg(long)]
    pub retries: Option<u32>,
}

/// `5`, `0.5` or `5s`: a positive number of seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Duration::from_secs_f64(v),
        Ok(_) => return Err("use a number of seconds above 0, at most 86400".into()),
        Err(_) => humantime::parse_duration(s).map_err(|e| e.to_string())?,
    };
    if d.is_zero() {
        return Err("use a number of seconds above 0".into());
    }
    Ok(d)
}

/// The flag a credential key comes from, for messages.
fn flag(key: &str) -> String {
    match key {
        "user" => "--v3-user".to_owned(),
        k => format!("--{}", k.replace('_', "-")),
    }
}

impl SnmpArgs {
    /// The target these flags describe over the config's defaults.
    pub fn target(&self, config: &SnmpConfig) -> anyhow::Result<Target> {
        let (host, port) =
            split_address(&self.target).map_err(|e| anyhow::anyhow!("--target: {e}"))?;
        let creds = credentials(
            &CredentialKeys {
                version: self.version.clone(),
                community: self.community.clone(),
                user: self.v3_user.clone(),
                auth_protocol: self.auth_protocol.clone(),
                auth_password: self.auth_password.clone(),
                privacy_protocol: self.privacy_protocol.clone(),
                privacy_password: self.privacy_password.clone(),
            },
            &config.credentials,
            &flag,
        )
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
        if self.timeout.is_some_and(|t| t.is_zero()) {
            anyhow::bail!("--timeout must be longer than zero");
        }
        Ok(Target {
            host,
            port,
            credentials: creds,
            timeout: self.timeout.unwrap_or(config.timeout),
            retries: self.retries.unwrap_or(config.retries),
        })
    }
}

/// Polls the device once (twice with `--interval-for-rates`) and prints
/// the result.
pub async fn run(config: &SnmpConfig, args: &SnmpArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let target = args.target(config)?;
    let mut poller = Poller::new();
    let mut data = poller.poll(&target, args.uplink.as_deref()).await?;
    if let Some(wait) = args.interval_for_rates {
        tokio::time::sleep(wait).await;
        data = poller.poll(&target, args.uplink.as_deref()).await?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &data)?;
        writeln!(out)?;
    } else {
        out.write_all(snmp_table(&target.address(), &data).as_bytes())?;
    }
    Ok(())
}

/// One line: a device's CR/LF-separated text on one row.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a device answered, for people: the system block, then interfaces,
/// UPS and supplies when it has them.
pub fn snmp_table(address: &str, d: &SnmpData) -> String {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            one_line(s)
        }
    };
    let mut sys = Table::new([address, ""]);
    for (k, v) in [
        ("name", or_dash(&d.sys_name)),
        ("description", or_dash(&d.sys_descr)),
        ("object id", or_dash(&d.sys_object_id)),
        ("location", or_dash(&d.sys_location)),
        (
            "uptime",
            humantime::format_duration(Duration::from_secs(d.uptime_seconds as u64)).to_string(),
        ),
        ("model", or_dash(d.model.as_deref().unwrap_or(""))),
        ("serial", or_dash(d.serial.as_deref().unwrap_or(""))),
    ] {
        sys.row([k.to_owned(), v]);
    }
    let mut text = sys.render();
    if !d.interfaces.is_empty() {
        let mut t = Table::new([
            "index", "name", "alias", "status", "speed", "in", "out", "in rate", "out rate",
            "uplink",
        ]);
        let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), bits_per_second);
        for i in &d.interfaces {
            t.row([
                i.index.to_string(),
                i.name.clone(),
                i.alias.clone(),
                if i.oper_up { "up" } else { "down" }.to_owned(),
                if i.speed_bps == 0 {
                    "-".to_owned()
                } else {
                    bits_per_second(i.speed_bps as f64)
                },
                bytes(i.in_octets),
                bytes(i.out_octets),
                rate(i.in_bps),
                rate(i.out_bps),
                if i.uplink { "yes" } else { "" }.to_owned(),
            ]);
        }
        text.push('\n');
        text.push_str(&t.render());
    }
    if let Some(u) = &d.ups {
        let mut t = Table::new(["ups", ""]);
        let status = match u.battery_status {
            2 => "normal",
            3 => "low",
            4 => "depleted",
            _ => "unknown",
        };
        t.row(["power", if u.on_battery { "ON BATTERY" } else { "mains" }]);
        t.row(["battery", status]);
        t.row([
            "charge".to_owned(),
            u.charge_percent
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.0} %")),
        ]);
        t.row([
            "runtime".to_owned(),
            u.runtime_seconds.map_or_else(
                || "-".to_owned(),
                |s| humantime::format_duration(Duration::from_secs(s as u64)).to_string(),
            ),
        ]);
        text.push('\n');
        text.push_str(&t.render());
    }
    if !d.supplies.is_empty() {
        let mut t = Table::new(["supply", "level"]);
        for s in &d.supplies {
            t.row([
                one_line(&s.description),
                s.level_ratio
                    .map_or_else(|| "-".to_owned(), |r| format!("{:.0} %", r * 100.0)),
            ]);
        }
        text.push('\n');
        text.push_str(&t.render());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use schoolwatch_protocol::{DeviceInterface, PrinterSupply, UpsStatus};

    #[test]
    fn seconds_accepts_numbers_and_durations() {
        assert_eq!(seconds("5").unwrap(), Duration::from_secs(5));
        assert_eq!(seconds("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(seconds("2s").unwrap(), Duration::from_secs(2));
        assert!(seconds("0").is_err());
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn flags_fall_back_to_the_config_and_name_themselves_in_errors() {
        let config = SnmpConfig::default();
        let args = |extra: &[&str]| {
            #[derive(clap::Parser)]
            struct P {
                #[command(flatten)]
                a: SnmpArgs,
            }
            let mut argv = vec!["x", "--target", "10.0.0.2:1161"];
            argv.extend_from_slice(extra);
            <P as clap::Parser>::parse_from(argv).a
        };
        let t = args(&[]).target(&config).unwrap();
        assert_eq!(t.address(), "10.0.0.2:1161");
        assert_eq!(t.credentials, config.credentials);
        let t = args(&[
            "--v3-user",
            "u",
            "--auth-protocol",
            "sha",
            "--auth-password",
            "authpass1",
            "--timeout",
            "300ms",
        ])
        .target(&config)
        .unwrap();
        assert_eq!(t.credentials.version(), "3");
        assert_eq!(t.timeout, Duration::from_millis(300));
        let e = args(&[
            "--v3-user",
            "u",
            "--privacy-protocol",
            "aes",
            "--privacy-password",
            "privpass1",
        ])
        .target(&config)
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--privacy-protocol: SNMPv3 privacy needs authentication"),
            "{e}"
        );
        assert!(e.contains("--auth-protocol and --auth-password"), "{e}");
    }

    #[test]
    fn table_shows_every_section() {
        let d = SnmpData {
            sys_descr: "Cisco IOS\r\nTechnical Support".into(),
            sys_object_id: "1.3.6.1.4.1.9.1.516".into(),
            sys_name: "sw1".into(),
            sys_location: String::new(),
            uptime_seconds: 90.0,
            model: Some("WS-C3750-48PS-S".into()),
            serial: None,
            interfaces: vec![DeviceInterface {
                index: 10101,
                name: "Gi1/0/1".into(),
                alias: "uplink".into(),
                oper_up: true,
                speed_bps: 1_000_000_000,
                in_octets: 2048,
                out_octets: 0,
                in_bps: Some(1_500_000.0),
                out_bps: None,
                uplink: true,
            }],
            ups: Some(UpsStatus {
                on_battery: true,
                battery_status: 3,
                charge_percent: Some(40.0),
                runtime_seconds: Some(720.0),
            }),
            supplies: vec![PrinterSupply {
                description: "Black Toner".into(),
                level_ratio: Some(0.25),
            }],
        };
        let t = snmp_table("10.0.0.2:161", &d);
        assert_eq!(
            t,
            "\
10.0.0.2:161
name          sw1
description   Cisco IOS Technical Support
object id     1.3.6.1.4.1.9.1.516
location      -
uptime        1m 30s
model         WS-C3750-48PS-S
serial        -

index  name     alias   status  speed       in       out  in rate     out rate  uplink
10101  Gi1/0/1  uplink  up      1.0 Gbit/s  2.0 KiB  0 B  1.5 Mbit/s  -         yes

ups
power    ON BATTERY
battery  low
charge   40 %
runtime  12m

supply       level
Black Toner  25 %
"
        );
    }
}
