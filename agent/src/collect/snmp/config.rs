//! The `[snmp]` section of `agent.toml`: defaults, then the devices to poll.
//!
//! ```toml
//! [snmp]
//! version = "2c"          # default for devices without their own: "1" or "2c"
//! community = "public"    # default community
//! timeout_ms = 2000       # per request
//! retries = 2             # tries after the first
//!
//! [[snmp.device]]
//! address = "10.0.0.2"    # host or IP, optionally :port
//! community = "school-ro"
//! uplink = "GigabitEthernet0/48"   # ifName, ifDescr or ifAlias of the uplink port
//!
//! [[snmp.device]]
//! address = "10.0.0.3"
//! version = "3"           # implied by `user`
//! user = "monitor"
//! auth_protocol = "sha"   # md5, sha, sha224, sha256, sha384, sha512
//! auth_password = "..."
//! privacy_protocol = "aes"  # aes, aes192, aes256, aes192c, aes256c, des
//! privacy_password = "..."
//! ```
//!
//! Nothing is polled without a `[[snmp.device]]` entry (LAN discovery
//! probes with the defaults). The same credential rules serve the
//! `snmp` command's flags, with the flag names in the messages.

use super::client::{
    AuthProtocol, Credentials, DEFAULT_RETRIES, DEFAULT_TIMEOUT, PrivProtocol, Target,
    split_address,
};
use serde::Deserialize;
use std::time::Duration;

/// Community used when the config names none: the factory default of
/// most devices (a school should set its own read-only one).
pub const DEFAULT_COMMUNITY: &str = "public";
/// Most configured devices (a report carries at most 512, discovered ones
/// included).
const MAX_DEVICES: usize = 256;
/// RFC 3414 asks for passwords of at least 8 characters; net-snmp and most
/// devices refuse shorter ones.
const MIN_PASSWORD: usize = 8;

/// The validated `[snmp]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SnmpConfig {
    /// Version and community for devices without their own, and for
    /// discovery's probe (SNMPv1 or v2c).
    pub credentials: Credentials,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Tries after the first.
    pub retries: u32,
    /// Time between polls of the configured devices (`interval_secs`).
    pub interval: Duration,
    /// Devices polled every round, in config order.
    pub devices: Vec<SnmpDevice>,
}

/// One `[[snmp.device]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnmpDevice {
    /// Where and how to ask.
    pub target: Target,
    /// ifName, ifDescr or ifAlias of the port that is the school's uplink.
    pub uplink: Option<String>,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        // The raw defaults are the single source of truth for defaults.
        SnmpConfig::try_from(RawSnmp::default()).expect("defaults are valid")
    }
}

impl SnmpConfig {
    /// A target for `host` on port 161 with the default credentials,
    /// timeout and retries: what discovery probes with.
    pub fn target(&self, host: &str) -> Target {
        Target {
            host: host.to_owned(),
            port: super::client::DEFAULT_PORT,
            credentials: self.credentials.clone(),
            timeout: self.timeout,
            retries: self.retries,
        }
    }
}

// === raw file shape ===

/// `version` as written: `"2c"`, or a bare number (`version = 2`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawVersion {
    Text(String),
    Number(i64),
}

impl RawVersion {
    fn text(&self) -> String {
        match self {
            RawVersion::Text(s) => s.clone(),
            RawVersion::Number(n) => n.to_string(),
        }
    }
}

/// `[snmp]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmp {
    version: Option<RawVersion>,
    #[serde(default = "default_community")]
    community: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_interval_secs")]
    interval_secs: u64,
    #[serde(default)]
    device: Vec<RawDevice>,
}

impl Default for RawSnmp {
    fn default() -> Self {
        Self {
            version: None,
            community: default_community(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            interval_secs: default_interval_secs(),
            device: Vec::new(),
        }
    }
}

fn default_community() -> String {
    DEFAULT_COMMUNITY.to_owned()
}
fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}
const fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
/// A minute, like a Prometheus scrape of snmp_exporter: rates over a
/// minute are what a dashboard shows.
const fn default_interval_secs() -> u64 {
    60
}

/// `[[snmp.device]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    address: String,
    version: Option<RawVersion>,
    community: Option<String>,
    user: Option<String>,
    auth_protocol: Option<String>,
    auth_password: Option<String>,
    privacy_protocol: Option<String>,
    privacy_password: Option<String>,
    uplink: Option<String>,
}

/// The credential keys of one device, from the file or from flags.
#[derive(Debug, Clone, Default)]
pub struct CredentialKeys {
    /// `"1"`, `"2c"` or `"3"`; absent: v3 when `user` is set, else the
    /// default version.
    pub version: Option<String>,
    /// v1/v2c community; absent: the default community.
    pub community: Option<String>,
    /// v3 user.
    pub user: Option<String>,
    /// v3 authentication protocol name.
    pub auth_protocol: Option<String>,
    /// v3 authentication password.
    pub auth_password: Option<String>,
    /// v3 privacy protocol name.
    pub privacy_protocol: Option<String>,
    /// v3 privacy password.
    pub privacy_password: Option<String>,
}

/// Which version a `version` value means.
fn parse_version(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "v1" => Some("1"),
        "2" | "2c" | "v2c" => Some("2c"),
        "3" | "v3" => Some("3"),
        _ => None,
    }
}

/// Builds the credentials `keys` describe over `defaults` (the default
/// version and community). `name` turns a key (`user`) into what the
/// person wrote (`` `snmp.device[1].user` `` or `--v3-user`); every
/// problem is collected, each starting with the name it is about.
pub fn credentials(
    keys: &CredentialKeys,
    defaults: &Credentials,
    name: &dyn Fn(&str) -> String,
) -> Result<Credentials, Vec<String>> {
    let mut problems = Vec::new();
    let version = match &keys.version {
        Some(v) => match parse_version(v) {
            Some(v) => v,
            None => {
                problems.push(format!(
                    "{}: {v:?} is not an SNMP version; use \"1\", \"2c\" or \"3\"",
                    name("version")
                ));
                return Err(problems);
            }
        },
        None if keys.user.is_some() => "3",
        None => defaults.version(),
    };
    let v3_keys = [
        ("user", &keys.user),
        ("auth_protocol", &keys.auth_protocol),
        ("auth_password", &keys.auth_password),
        ("privacy_protocol", &keys.privacy_protocol),
        ("privacy_password", &keys.privacy_password),
    ];
    if version != "3" {
        for (k, v) in v3_keys {
            if v.is_some() {
                problems.push(format!(
                    "{}: only SNMPv3 has users and passwords, and this device is version \"{version}\"; set {} to \"3\" or remove {}",
                    name(k),
                    name("version"),
                    name(k)
                ));
            }
        }
        let community = match (&keys.community, defaults) {
            (Some(c), _) => c.clone(),
            (None, Credentials::V1 { community } | Credentials::V2c { community }) => {
                community.clone()
            }
            (None, Credentials::V3 { .. }) => DEFAULT_COMMUNITY.to_owned(),
        };
        if community.is_empty() {
            problems.push(format!(
                "{}: the community is empty; write the device's read-only community",
                name("community")
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        return Ok(if version == "1" {
            Credentials::V1 { community }
        } else {
            Credentials::V2c { community }
        });
    }
    if keys.community.is_some() {
        problems.push(format!(
            "{}: SNMPv3 uses a user, not a community; remove {} or set {} to \"2c\"",
            name("community"),
            name("community"),
            name("version")
        ));
    }
    let user = keys.user.clone().unwrap_or_default();
    if user.is_empty() {
        problems.push(format!(
            "{}: SNMPv3 needs the device's user name; set {}",
            name("user"),
            name("user")
        ));
    }
    let auth = pair(
        name,
        ("auth_protocol", &keys.auth_protocol),
        ("auth_password", &keys.auth_password),
        |p| AuthProtocol::parse(p).ok_or(AuthProtocol::NAMES),
        "sha",
        &mut problems,
    );
    let privacy = pair(
        name,
        ("privacy_protocol", &keys.privacy_protocol),
        ("privacy_password", &keys.privacy_password),
        |p| PrivProtocol::parse(p).ok_or(PrivProtocol::NAMES),
        "aes",
        &mut problems,
    );
    if (keys.privacy_protocol.is_some() || keys.privacy_password.is_some())
        && keys.auth_protocol.is_none()
        && keys.auth_password.is_none()
    {
        problems.push(format!(
            "{}: SNMPv3 privacy needs authentication too; set {} and {}, or remove the privacy settings",
            name("privacy_protocol"),
            name("auth_protocol"),
            name("auth_password")
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Credentials::V3 {
        user,
        auth,
        privacy,
    })
}

/// A protocol and its password: both or neither, a known protocol, a long
/// enough password.
fn pair<P>(
    name: &dyn Fn(&str) -> String,
    (pk, protocol): (&str, &Option<String>),
    (wk, password): (&str, &Option<String>),
    parse: impl Fn(&str) -> Result<P, &'static str>,
    example: &str,
    problems: &mut Vec<String>,
) -> Option<(P, String)> {
    let parsed = protocol.as_deref().and_then(|p| match parse(p) {
        Ok(p) => Some(p),
        Err(names) => {
            problems.push(format!("{}: {p:?} is not known; use {names}", name(pk)));
            None
        }
    });
    match (protocol, password) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push(format!(
                "{}: {} is set but there is no password; set {} too",
                name(wk),
                name(pk),
                name(wk)
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(format!(
                "{}: a password without a protocol; set {} too (e.g. \"{example}\", as configured on the device)",
                name(pk),
                name(pk)
            ));
            None
        }
        (Some(_), Some(w)) => {
            if w.chars().count() < MIN_PASSWORD {
                problems.push(format!(
                    "{}: SNMPv3 passwords have at least {MIN_PASSWORD} characters; this one has {}",
                    name(wk),
                    w.chars().count()
                ));
            }
            parsed.map(|p| (p, w.clone()))
        }
    }
}

impl TryFrom<RawSnmp> for SnmpConfig {
    /// Every problem found, each naming its key.
    type Error = Vec<String>;

    fn try_from(raw: RawSnmp) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let key = |k: &str| format!("key `snmp.{k}`");
        let mut version = raw
            .version
            .as_ref()
            .map_or_else(|| "2c".to_owned(), RawVersion::text);
        if parse_version(&version) == Some("3") {
            problems.push(format!(
                "{}: the default version serves devices without their own settings and discovery; use \"1\" or \"2c\" here, and version = \"3\" with a user in each [[snmp.device]] that needs it",
                key("version")
            ));
            // Go on as v2c, to check the community too.
            version = "2c".to_owned();
        }
        let defaults = credentials(
            &CredentialKeys {
                version: Some(version),
                community: Some(raw.community),
                ..CredentialKeys::default()
            },
            &Credentials::V2c {
                community: DEFAULT_COMMUNITY.to_owned(),
            },
            &|k| format!("`snmp.{k}`"),
        )
        .unwrap_or_else(|p| {
            problems.extend(p.into_iter().map(|p| format!("key {p}")));
            Credentials::V2c {
                community: DEFAULT_COMMUNITY.to_owned(),
            }
        });
        if !(100..=60_000).contains(&raw.timeout_ms) {
            problems.push(format!(
                "{}: {} is out of range; use 100 to 60000 milliseconds (default 2000)",
                key("timeout_ms"),
                raw.timeout_ms
            ));
        }
        if raw.retries > 10 {
            problems.push(format!(
                "{}: {} is too many; use 0 to 10 (default 2): each retry waits timeout_ms again",
                key("retries"),
                raw.retries
            ));
        }
        if !(1..=3600).contains(&raw.interval_secs) {
            problems.push(format!(
                "{}: {} is out of range; use 1 to 3600 seconds (default 60)",
                key("interval_secs"),
                raw.interval_secs
            ));
        }
        if raw.device.len() > MAX_DEVICES {
            problems.push(format!(
                "key `snmp.device`: {} devices; at most {MAX_DEVICES} are polled (a report carries 512 devices, discovered ones included)",
                raw.device.len()
            ));
        }
        let timeout = Duration::from_millis(raw.timeout_ms);
        let mut devices: Vec<SnmpDevice> = Vec::new();
        for (i, d) in raw.device.into_iter().enumerate() {
            let at = |k: &str| format!("key `snmp.device[{i}].{k}`");
            let address = split_address(&d.address).map_err(|e| format!("{}: {e}", at("address")));
            let creds = credentials(
                &CredentialKeys {
                    version: d.version.as_ref().map(RawVersion::text),
                    community: d.community,
                    user: d.user,
                    auth_protocol: d.auth_protocol,
                    auth_password: d.auth_password,
                    privacy_protocol: d.privacy_protocol,
                    privacy_password: d.privacy_password,
                },
                &defaults,
                &|k| format!("`snmp.device[{i}].{k}`"),
            )
            .map_err(|p| {
                p.into_iter()
                    .map(|p| format!("key {p}"))
                    .collect::<Vec<_>>()
            });
            if d.uplink.as_deref().is_some_and(|u| u.trim().is_empty()) {
                problems.push(format!(
                    "{}: empty; write the uplink port's name as the device shows it (ifName, ifDescr or ifAlias), e.g. \"GigabitEthernet0/48\", or remove the key",
                    at("uplink")
                ));
            }
            match (address, creds) {
                (Ok((host, port)), Ok(credentials)) => {
                    let target = Target {
                        host,
                        port,
                        credentials,
                        timeout,
                        retries: raw.retries,
                    };
                    if let Some(j) = devices
                        .iter()
                        .position(|o| o.target.address() == target.address())
                    {
                        problems.push(format!(
                            "{}: {} is already [[snmp.device]] number {j} (counting from 0); list each device once",
                            at("address"),
                            target.address()
                        ));
                    }
                    devices.push(SnmpDevice {
                        target,
                        uplink: d.uplink,
                    });
                }
                (address, creds) => {
                    problems.extend(address.err());
                    problems.extend(creds.err().into_iter().flatten());
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(SnmpConfig {
            credentials: defaults,
            timeout,
            retries: raw.retries,
            interval: Duration::from_secs(raw.interval_secs),
            devices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `[snmp]` text as the agent's config loader would.
    fn parse(text: &str) -> Result<SnmpConfig, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            snmp: RawSnmp,
        }
        let f: File = crate::config::parse_toml(text)?;
        SnmpConfig::try_from(f.snmp).map_err(|p| p.join("; "))
    }

    #[test]
    fn default_is_no_devices_v2c_public() {
        let c = parse("").unwrap();
        assert_eq!(c, SnmpConfig::default());
        assert!(c.devices.is_empty());
        assert_eq!(
            c.credentials,
            Credentials::V2c {
                community: "public".into()
            }
        );
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.retries, 2);
        let t = c.target("10.0.0.9");
        assert_eq!(
            (t.address(), t.timeout, t.retries),
            ("10.0.0.9:161".into(), c.timeout, 2)
        );
    }

    #[test]
    fn devices_parse_with_defaults_and_their_own_settings() {
        let c = parse(
            r#"
[snmp]
version = "1"
community = "school-ro"
timeout_ms = 500
retries = 1

[[snmp.device]]
address = "10.0.0.2"
uplink = "Gi0/48"

[[snmp.device]]
address = "switch-2.school:1161"
version = 2
community = "other"

[[snmp.device]]
address = "10.0.0.3"
user = "monitor"
auth_protocol = "SHA-256"
auth_password = "authpass1"
privacy_protocol = "aes"
privacy_password = "privpass1"

[[snmp.device]]
address = "[fe80::2]:162"
version = "3"
user = "ups"
auth_protocol = "md5"
auth_password = "authpass2"
"#,
        )
        .unwrap();
        assert_eq!(
            c.credentials,
            Credentials::V1 {
                community: "school-ro".into()
            }
        );
        let d = &c.devices;
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0],
            SnmpDevice {
                target: Target {
                    host: "10.0.0.2".into(),
                    port: 161,
                    credentials: Credentials::V1 {
                        community: "school-ro".into()
                    },
                    timeout: Duration::from_millis(500),
                    retries: 1,
                },
                uplink: Some("Gi0/48".into()),
            }
        );
        assert_eq!(
            (d[1].target.host.as_str(), d[1].target.port),
            ("switch-2.school", 1161)
        );
        assert_eq!(
            d[1].target.credentials,
            Credentials::V2c {
                community: "other".into()
            }
        );
        assert_eq!(
            d[2].target.credentials,
            Credentials::V3 {
                user: "monitor".into(),
                auth: Some((AuthProtocol::Sha256, "authpass1".into())),
                privacy: Some((PrivProtocol::Aes128, "privpass1".into())),
            }
        );
        assert_eq!(d[3].target.address(), "[fe80::2]:162");
        assert_eq!(
            d[3].target.credentials,
            Credentials::V3 {
                user: "ups".into(),
                auth: Some((AuthProtocol::Md5, "authpass2".into())),
                privacy: None,
            }
        );
    }

    fn device(keys: &str) -> String {
        parse(&format!(
            "[[snmp.device]]\naddress = \"10.0.0.2\"\n{keys}\n"
        ))
        .unwrap_err()
    }

    fn has(e: &str, parts: &[&str]) {
        assert!(!e.contains('\n'), "{e}");
        for p in parts {
            assert!(e.contains(p), "{p:?} not in: {e}");
        }
    }

    #[test]
    fn v3_without_user_names_the_key() {
        let e = device("version = \"3\"");
        has(&e, &["key `snmp.device[0].user`", "user name"]);
    }

    #[test]
    fn privacy_without_auth_is_refused() {
        let e =
            device("user = \"u\"\nprivacy_protocol = \"aes\"\nprivacy_password = \"privpass1\"");
        has(
            &e,
            &[
                "key `snmp.device[0].privacy_protocol`",
                "needs authentication",
                "snmp.device[0].auth_protocol",
            ],
        );
    }

    #[test]
    fn unknown_protocols_list_the_known_ones() {
        let e = device(
            "user = \"u\"\nauth_protocol = \"sha3\"\nauth_password = \"authpass1\"\nprivacy_protocol = \"3des\"\nprivacy_password = \"privpass1\"",
        );
        has(
            &e,
            &[
                "key `snmp.device[0].auth_protocol`: \"sha3\" is not known",
                AuthProtocol::NAMES,
                "key `snmp.device[0].privacy_protocol`: \"3des\" is not known",
                PrivProtocol::NAMES,
            ],
        );
    }

    #[test]
    fn half_pairs_and_short_passwords_are_refused() {
        let e = device("user = \"u\"\nauth_protocol = \"sha\"");
        has(&e, &["key `snmp.device[0].auth_password`", "no password"]);
        let e = device("user = \"u\"\nauth_password = \"authpass1\"");
        has(&e, &["key `snmp.device[0].auth_protocol`", "\"sha\""]);
        let e = device("user = \"u\"\nauth_protocol = \"sha\"\nauth_password = \"short\"");
        has(
            &e,
            &["key `snmp.device[0].auth_password`", "at least 8", "has 5"],
        );
    }

    #[test]
    fn v3_keys_on_a_v2c_device_and_community_on_v3_are_refused() {
        let e = device("version = \"2c\"\nuser = \"u\"\nauth_password = \"authpass1\"");
        has(
            &e,
            &[
                "key `snmp.device[0].user`: only SNMPv3",
                "key `snmp.device[0].auth_password`: only SNMPv3",
                "version \"2c\"",
            ],
        );
        let e = device("user = \"u\"\ncommunity = \"public\"");
        has(&e, &["key `snmp.device[0].community`", "not a community"]);
    }

    #[test]
    fn bad_version_address_uplink_and_duplicates() {
        let e = device("version = \"2b\"");
        has(
            &e,
            &["key `snmp.device[0].version`", "\"1\", \"2c\" or \"3\""],
        );
        let e = parse("[[snmp.device]]\naddress = \"10.0.0.2:x\"\n").unwrap_err();
        has(&e, &["key `snmp.device[0].address`", "10.0.0.2:1161"]);
        let e = device("uplink = \" \"");
        has(&e, &["key `snmp.device[0].uplink`", "GigabitEthernet0/48"]);
        let e = parse(
            "[[snmp.device]]\naddress = \"10.0.0.2\"\n[[snmp.device]]\naddress = \"10.0.0.2:161\"\n",
        )
        .unwrap_err();
        has(
            &e,
            &[
                "key `snmp.device[1].address`",
                "already [[snmp.device]] number 0",
            ],
        );
    }

    #[test]
    fn section_level_mistakes_are_all_reported() {
        let e = parse("[snmp]\nversion = \"3\"\ncommunity = \"\"\ntimeout_ms = 5\nretries = 50\n")
            .unwrap_err();
        has(
            &e,
            &[
                "key `snmp.version`",
                "key `snmp.community`",
                "key `snmp.timeout_ms`",
                "key `snmp.retries`",
            ],
        );
        let e = parse("[snmp]\ncomunity = \"x\"\n").unwrap_err();
        has(&e, &["comunity", "community"]);
        let e = device("pasword = \"x\"");
        has(&e, &["pasword"]);
    }

    #[test]
    fn flag_names_can_replace_keys() {
        let flag = |k: &str| match k {
            "user" => "--v3-user".to_owned(),
            k => format!("--{}", k.replace('_', "-")),
        };
        let e = credentials(
            &CredentialKeys {
                version: Some("3".into()),
                ..CredentialKeys::default()
            },
            &Credentials::V2c {
                community: "public".into(),
            },
            &flag,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ["--v3-user: SNMPv3 needs the device's user name; set --v3-user"]
        );
    }
}
