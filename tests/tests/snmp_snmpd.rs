//! The SNMP poller against a real net-snmp `snmpd` that the test
//! configures (a v2c community, a v3 authPriv user): every value
//! `schoolwatch-agent snmp --json` reports equals what `snmpget` and
//! `snmpwalk` read from the same agent; counters and uptime lie between
//! readings taken before and after the poll. Wrong credentials give the
//! clear messages and a failing exit.

use schoolwatch_protocol::{DeviceInterface, SnmpData};
use schoolwatch_tests::snmp::{NetSnmpTools, Snmpd, Value, free_udp_port, oid};
use schoolwatch_tests::{agent_args, bin};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

const COMMUNITY: &str = "sw-test-ro";
const USER: &str = "swmonitor";
const AUTH_PASSWORD: &str = "auth-pass-1";
const PRIV_PASSWORD: &str = "priv-pass-1";

/// snmpd answers the community (from loopback only) and the v3 user, who
/// must use authPriv.
fn start_snmpd() -> Snmpd {
    let conf = format!(
        "rocommunity {COMMUNITY} 127.0.0.1\n\
         createUser {USER} SHA {AUTH_PASSWORD} AES {PRIV_PASSWORD}\n\
         rouser {USER} priv\n\
         sysName schoolwatch-snmpd-test\n\
         sysLocation Phòng máy 2, tầng 3\n"
    );
    Snmpd::start(&conf, &v2c_flags())
}

fn v2c_flags() -> Vec<&'static str> {
    vec!["-v2c", "-c", COMMUNITY]
}

fn v3_flags() -> Vec<&'static str> {
    vec![
        "-v3",
        "-l",
        "authPriv",
        "-u",
        USER,
        "-a",
        "SHA",
        "-A",
        AUTH_PASSWORD,
        "-x",
        "AES",
        "-X",
        PRIV_PASSWORD,
    ]
}

/// `schoolwatch-agent snmp --target 127.0.0.1:PORT ARGS...` (no config
/// file), run to completion.
fn agent_snmp(port: u16, args: &[&str]) -> Output {
    let target = format!("127.0.0.1:{port}");
    let mut all = vec!["--log-level", "warn", "snmp", "--target", &target];
    all.extend_from_slice(args);
    Command::new(bin("schoolwatch-agent"))
        .args(agent_args(&all))
        .output()
        .expect("run schoolwatch-agent")
}

/// The agent's `--json` poll, parsed as the protocol's type.
fn poll(snmpd: &Snmpd, args: &[&str]) -> SnmpData {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = agent_snmp(snmpd.port, &all);
    assert!(
        out.status.success(),
        "schoolwatch-agent snmp failed: {}\nsnmpd log: {}",
        String::from_utf8_lossy(&out.stderr),
        snmpd.log()
    );
    serde_json::from_slice(&out.stdout).expect("the agent prints SnmpData as JSON")
}

/// What the net-snmp tools read: the system group and the IF-MIB,
/// ENTITY-MIB, UPS-MIB and Printer-MIB subtrees.
struct Truth {
    system: BTreeMap<Vec<u64>, Value>,
    tables: BTreeMap<Vec<u64>, Value>,
}

const SYS: [&str; 5] = [
    ".1.3.6.1.2.1.1.1.0",
    ".1.3.6.1.2.1.1.2.0",
    ".1.3.6.1.2.1.1.3.0",
    ".1.3.6.1.2.1.1.5.0",
    ".1.3.6.1.2.1.1.6.0",
];

fn read_truth(tools: &NetSnmpTools) -> Truth {
    let mut tables = BTreeMap::new();
    for root in [
        ".1.3.6.1.2.1.2.2.1",
        ".1.3.6.1.2.1.31.1.1.1",
        ".1.3.6.1.2.1.47.1.1.1.1",
        ".1.3.6.1.2.1.33",
        ".1.3.6.1.2.1.43.11.1.1",
    ] {
        tables.extend(tools.walk(root));
    }
    Truth {
        system: tools.get(&SYS),
        tables,
    }
}

impl Truth {
    fn sys(&self, i: usize) -> &Value {
        &self.system[&oid(SYS[i])]
    }

    /// Column `column` (dotted) at `index`.
    fn cell(&self, column: &str, index: u32) -> Option<&Value> {
        let mut o = oid(column);
        o.push(index.into());
        self.tables.get(&o)
    }

    /// ifIndex → ifName, else ifDescr (the agent's name rule).
    fn interfaces(&self) -> BTreeMap<u32, String> {
        let descr = oid("1.3.6.1.2.1.2.2.1.2");
        self.tables
            .iter()
            .filter(|(o, _)| o.len() == descr.len() + 1 && o.starts_with(&descr))
            .map(|(o, v)| {
                let index = u32::try_from(o[descr.len()]).unwrap();
                let name = self
                    .cell("1.3.6.1.2.1.31.1.1.1.1", index)
                    .map(Value::text)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| v.text());
                (index, name)
            })
            .collect()
    }

    fn number(&self, column: &str, index: u32) -> Option<i128> {
        self.cell(column, index).map(Value::number)
    }

    /// ifHighSpeed × 10⁶ when given and non-zero, else ifSpeed.
    fn speed(&self, index: u32) -> u64 {
        match self.number("1.3.6.1.2.1.31.1.1.1.15", index) {
            Some(h) if h > 0 => (h * 1_000_000) as u64,
            _ => self.number("1.3.6.1.2.1.2.2.1.5", index).unwrap_or(0) as u64,
        }
    }

    /// (ifHCInOctets, ifHCOutOctets), or the 32-bit pair when `hc` is off
    /// (SNMPv1 carries no Counter64).
    fn octets(&self, index: u32, hc: bool) -> (i128, i128) {
        let (i, o) = if hc {
            ("1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10")
        } else {
            ("1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.16")
        };
        (
            self.number(i, index).expect("in octets"),
            self.number(o, index).expect("out octets"),
        )
    }

    /// (model, serial) of the first chassis (entPhysicalClass 3).
    fn chassis(&self) -> (Option<String>, Option<String>) {
        let class = oid("1.3.6.1.2.1.47.1.1.1.1.5");
        let Some((o, _)) = self
            .tables
            .iter()
            .find(|(o, v)| o.starts_with(&class) && **v == Value::Number(3))
        else {
            return (None, None);
        };
        let index = &o[class.len()..];
        let text = |col: u64| {
            let mut c = oid("1.3.6.1.2.1.47.1.1.1.1");
            c.push(col);
            c.extend_from_slice(index);
            self.tables
                .get(&c)
                .map(|v| v.text().trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        (text(13), text(11))
    }

    fn has_subtree(&self, root: &str) -> bool {
        let r = oid(root);
        self.tables.keys().any(|o| o.starts_with(&r))
    }
}

/// `lo <= v <= hi`, or for a 32-bit counter that wrapped between the
/// readings, `v` past `lo` or up to `hi`.
fn between(lo: i128, v: u64, hi: i128) -> bool {
    let v = i128::from(v);
    if lo <= hi {
        lo <= v && v <= hi
    } else {
        v >= lo || v <= hi
    }
}

/// Every polled value against the readings before and after.
fn assert_matches(before: &Truth, d: &SnmpData, after: &Truth, hc: bool) {
    // Static objects: equal to both readings.
    for t in [before, after] {
        assert_eq!(d.sys_descr, t.sys(0).text());
        assert_eq!(Value::Oid(d.sys_object_id.clone()), *t.sys(1));
        assert_eq!(d.sys_name, t.sys(3).text());
        assert_eq!(d.sys_location, t.sys(4).text());
    }
    assert_eq!(d.sys_name, "schoolwatch-snmpd-test");
    assert_eq!(d.sys_location, "Phòng máy 2, tầng 3");
    let ticks = (d.uptime_seconds * 100.0).round() as i128;
    assert!(
        before.sys(2).number() <= ticks && ticks <= after.sys(2).number(),
        "uptime {ticks} not between {:?} and {:?}",
        before.sys(2),
        after.sys(2)
    );

    let (b, a) = (before.interfaces(), after.interfaces());
    let polled: BTreeMap<u32, &DeviceInterface> =
        d.interfaces.iter().map(|i| (i.index, i)).collect();
    assert_eq!(polled.len(), d.interfaces.len(), "an ifIndex twice");
    // Interfaces that other tests may add or remove meanwhile are only
    // required when they existed, with the same name, all along.
    let stable: BTreeSet<u32> = b
        .iter()
        .filter(|(i, n)| a.get(i) == Some(n))
        .map(|(i, _)| *i)
        .collect();
    assert!(stable.iter().any(|&i| b[&i] == "lo"), "no lo in {b:?}");
    for &i in &stable {
        let p = polled
            .get(&i)
            .unwrap_or_else(|| panic!("ifIndex {i} ({}) missing from the poll", b[&i]));
        assert_eq!(p.name, b[&i], "ifIndex {i}");
        let alias = before
            .cell("1.3.6.1.2.1.31.1.1.1.18", i)
            .map(Value::text)
            .unwrap_or_default();
        assert_eq!(p.alias, alias, "ifIndex {i}");
        let oper = |t: &Truth| t.number("1.3.6.1.2.1.2.2.1.8", i);
        if oper(before) == oper(after) {
            assert_eq!(
                p.oper_up,
                oper(before) == Some(1),
                "ifIndex {i} oper status"
            );
        }
        if before.speed(i) == after.speed(i) {
            assert_eq!(p.speed_bps, before.speed(i), "ifIndex {i} speed");
        }
        let (in0, out0) = before.octets(i, hc);
        let (in1, out1) = after.octets(i, hc);
        assert!(
            between(in0, p.in_octets, in1),
            "ifIndex {i} in {in0} <= {} <= {in1}",
            p.in_octets
        );
        assert!(
            between(out0, p.out_octets, out1),
            "ifIndex {i} out {out0} <= {} <= {out1}",
            p.out_octets
        );
        // First poll: no rates yet.
        assert_eq!((p.in_bps, p.out_bps), (None, None));
    }
    for i in polled.keys() {
        assert!(
            b.contains_key(i) || a.contains_key(i),
            "ifIndex {i} is in neither walk"
        );
    }

    assert_eq!((d.model.clone(), d.serial.clone()), before.chassis());
    assert_eq!(d.ups.is_some(), before.has_subtree("1.3.6.1.2.1.33"));
    assert_eq!(
        !d.supplies.is_empty(),
        before.has_subtree("1.3.6.1.2.1.43.11.1.1")
    );
}

#[test]
fn v2c_poll_equals_snmpget_and_snmpwalk() {
    let snmpd = start_snmpd();
    let tools = NetSnmpTools::new(snmpd.port, &v2c_flags());
    let before = read_truth(&tools);
    let d = poll(&snmpd, &["--community", COMMUNITY, "--uplink", "lo"]);
    let after = read_truth(&tools);
    assert_matches(&before, &d, &after, true);
    // The uplink is the interface named lo, and only that one.
    let marked: Vec<&str> = d
        .interfaces
        .iter()
        .filter(|i| i.uplink)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(marked, ["lo"]);
}

#[test]
fn v3_auth_priv_poll_equals_snmpget_and_snmpwalk() {
    let snmpd = start_snmpd();
    let tools = NetSnmpTools::new(snmpd.port, &v3_flags());
    let before = read_truth(&tools);
    let d = poll(
        &snmpd,
        &[
            "--v3-user",
            USER,
            "--auth-protocol",
            "sha",
            "--auth-password",
            AUTH_PASSWORD,
            "--privacy-protocol",
            "aes",
            "--privacy-password",
            PRIV_PASSWORD,
        ],
    );
    let after = read_truth(&tools);
    assert_matches(&before, &d, &after, true);
    assert!(d.interfaces.iter().all(|i| !i.uplink));
}

#[test]
fn v1_poll_uses_32_bit_counters() {
    let snmpd = start_snmpd();
    let tools = NetSnmpTools::new(snmpd.port, &["-v1", "-c", COMMUNITY]);
    let before = read_truth(&tools);
    let d = poll(&snmpd, &["--version", "1", "--community", COMMUNITY]);
    let after = read_truth(&tools);
    assert_matches(&before, &d, &after, false);
}

#[test]
fn second_poll_gives_rates() {
    let snmpd = start_snmpd();
    let d = poll(
        &snmpd,
        &["--community", COMMUNITY, "--interval-for-rates", "1"],
    );
    let lo = d.interfaces.iter().find(|i| i.name == "lo").expect("lo");
    // Polled twice a second apart on a device that did not restart: every
    // interface that stayed has a rate (0 when snmpd's counter cache had
    // not refreshed yet).
    assert!(lo.in_bps.is_some_and(|r| r >= 0.0), "{lo:?}");
    assert!(lo.out_bps.is_some_and(|r| r >= 0.0), "{lo:?}");
}

/// Runs the agent expecting failure; returns its stderr.
fn fails(port: u16, args: &[&str]) -> String {
    let out = agent_snmp(port, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn wrong_credentials_give_clear_errors() {
    let snmpd = start_snmpd();
    let port = snmpd.port;
    let at = format!("127.0.0.1:{port}");
    let v3 = |user: &str, auth: &str, privacy: &str| {
        fails(
            port,
            &[
                "--v3-user",
                user,
                "--auth-protocol",
                "sha",
                "--auth-password",
                auth,
                "--privacy-protocol",
                "aes",
                "--privacy-password",
                privacy,
                "--timeout",
                "500ms",
                "--retries",
                "1",
            ],
        )
    };
    let e = v3(USER, "wrong-auth-1", PRIV_PASSWORD);
    assert!(
        e.contains(&format!(
            "error: SNMPv3 authentication failed for user {USER} at {at}: check the user name, the auth password and protocol"
        )),
        "{e}"
    );
    let e = v3("nosuchuser", AUTH_PASSWORD, PRIV_PASSWORD);
    assert!(
        e.contains("SNMPv3 authentication failed for user nosuchuser"),
        "{e}"
    );
    // snmpd drops requests it cannot decrypt; the engine discovery before
    // them was answered, so the privacy settings are to blame.
    let e = v3(USER, AUTH_PASSWORD, "wrong-priv-1");
    assert!(
        e.contains(&format!(
            "error: SNMPv3 decryption failed for user {USER} at {at}: check the privacy password and protocol"
        )),
        "{e}"
    );
    // The user may only read with authPriv.
    let e = fails(
        port,
        &[
            "--v3-user",
            USER,
            "--auth-protocol",
            "sha",
            "--auth-password",
            AUTH_PASSWORD,
        ],
    );
    assert!(
        e.contains("authorizationError (16)") && e.contains("security level"),
        "{e}"
    );
    // A wrong community gets no answer at all.
    let e = fails(
        port,
        &[
            "--community",
            "wrong",
            "--timeout",
            "300ms",
            "--retries",
            "1",
        ],
    );
    assert!(
        e.contains(&format!(
            "error: no SNMP answer from {at} after 2 tries; check the device's SNMP is on and the community/user"
        )),
        "{e}"
    );
    // Nothing listening: loopback answers with ICMP port unreachable.
    let closed = free_udp_port();
    let e = fails(
        closed,
        &[
            "--community",
            COMMUNITY,
            "--timeout",
            "300ms",
            "--retries",
            "1",
        ],
    );
    assert!(
        e.contains(&format!("127.0.0.1:{closed} refused SNMP after 2 tries")),
        "{e}"
    );
    // Flags that cannot work are refused before anything is sent.
    let e = fails(
        port,
        &[
            "--v3-user",
            USER,
            "--privacy-protocol",
            "aes",
            "--privacy-password",
            PRIV_PASSWORD,
        ],
    );
    assert!(
        e.contains("--privacy-protocol: SNMPv3 privacy needs authentication too"),
        "{e}"
    );
    assert!(snmpd.pid() > 0);
}
