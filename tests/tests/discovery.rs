//! LAN discovery in a subnet made of network namespaces (issue #6): a
//! bridge in a "lan" namespace joins the agent and seven hosts on
//! 10.77.0.0/24, each with a MAC the test sets. Three run a real `snmpd`
//! dressed as a printer, a switch and a router; three answer only ICMP;
//! one drops echo requests. A host on 10.78.0.0/24, reachable from the
//! agent by a route, must not be touched.
//!
//! `schoolwatch-agent discover --subnet 10.77.0.0/24 --json` runs inside
//! the agent's namespace and is checked against ground truth: the MACs
//! `ip link` shows, the vendors in the IEEE registry file, the system
//! group `snmpget` reads from the same agents, and nftables counters of
//! what left the agent's namespace.

use schoolwatch_protocol::{DeviceKind, Devices};
use schoolwatch_tests::{ChildGuard, Netns, agent_args, bin, require, run, stdout_of};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COMMUNITY: &str = "school-ro";

/// One host on the LAN.
struct Host {
    tag: &'static str,
    addr: &'static str,
    mac: &'static str,
    /// sysObjectID and sysDescr of its snmpd, if it runs one.
    snmp: Option<(&'static str, &'static str)>,
    /// Drops echo requests (net.ipv4.icmp_echo_ignore_all).
    silent: bool,
    kind: DeviceKind,
}

const HOSTS: &[Host] = &[
    Host {
        tag: "prn",
        addr: "10.77.0.10",
        mac: "3c:2a:f4:10:00:10", // Brother Industries
        snmp: Some((
            ".1.3.6.1.4.1.2435.2.3.9.1",
            "Brother NC-8300w, Firmware Ver.1.05  (12.01.15),MID 8C5-F04,FID 2",
        )),
        silent: false,
        kind: DeviceKind::Printer,
    },
    Host {
        tag: "sw",
        addr: "10.77.0.20",
        mac: "00:00:0c:20:00:20", // Cisco
        snmp: Some((
            ".1.3.6.1.4.1.9.1.1208",
            "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)",
        )),
        silent: false,
        kind: DeviceKind::Switch,
    },
    Host {
        tag: "rtr",
        addr: "10.77.0.30",
        mac: "b8:69:f4:30:00:30", // Routerboard.com (MikroTik)
        snmp: Some((".1.3.6.1.4.1.14988.1", "RouterOS RB4011iGS+")),
        silent: false,
        kind: DeviceKind::Router,
    },
    Host {
        tag: "ups",
        addr: "10.77.0.40",
        mac: "00:c0:b7:40:00:40", // APC: a UPS by its vendor alone
        snmp: None,
        silent: false,
        kind: DeviceKind::Ups,
    },
    Host {
        tag: "pc",
        addr: "10.77.0.50",
        mac: "14:fe:b5:50:00:50", // Dell: a PC by its vendor alone
        snmp: None,
        silent: false,
        kind: DeviceKind::Pc,
    },
    Host {
        tag: "loc",
        addr: "10.77.0.60",
        mac: "02:77:00:60:00:60", // locally administered: no vendor
        snmp: None,
        silent: false,
        kind: DeviceKind::Unknown,
    },
    Host {
        tag: "mute",
        addr: "10.77.0.70",
        mac: "14:fe:b5:70:00:70",
        snmp: None,
        silent: true,
        kind: DeviceKind::Unknown,
    },
];

/// The namespaces and snmpd processes; snmpd goes first when dropped
/// (fields drop in order), then every namespace.
struct Lan {
    _snmpd: Vec<ChildGuard>,
    agent: Netns,
    hosts: Vec<Netns>,
    outside: Netns,
    _lan: Netns,
    dir: tempfile::TempDir,
}

fn build_lan() -> Lan {
    require("nft", "nftables");
    require("snmpd", "snmpd");
    require("snmpget", "snmp");
    let dir = tempfile::tempdir().unwrap();
    let lan = Netns::new("dlan");
    lan.ip(&["link", "add", "br0", "type", "bridge"]);
    lan.ip(&["link", "set", "br0", "up"]);
    let agent = Netns::new("dagent");
    plug(&lan, "pa", &agent, "02:77:00:01:00:01", "10.77.0.1/24");
    let mut hosts = Vec::new();
    let mut snmpd = Vec::new();
    for (i, h) in HOSTS.iter().enumerate() {
        let ns = Netns::new(&format!("d{}", h.tag));
        plug(
            &lan,
            &format!("p{i}"),
            &ns,
            h.mac,
            &format!("{}/24", h.addr),
        );
        if h.silent {
            run(ns
                .command("sysctl")
                .args(["-q", "-w", "net.ipv4.icmp_echo_ignore_all=1"]));
        }
        if let Some((oid, descr)) = h.snmp {
            snmpd.push(start_snmpd(&ns, dir.path(), h, oid, descr));
        }
        hosts.push(ns);
    }
    // A host on another subnet, one route away from the agent.
    let outside = Netns::new("dout");
    agent.veth("out0", "10.78.0.1/24", &outside, "eth0", "10.78.0.2/24");
    Lan {
        _snmpd: snmpd,
        agent,
        hosts,
        outside,
        _lan: lan,
        dir,
    }
}

/// A veth from the bridge (port `port` in `lan`) to `eth0` in `ns`, with
/// `mac` and `addr`.
fn plug(lan: &Netns, port: &str, ns: &Netns, mac: &str, addr: &str) {
    lan.ip(&[
        "link",
        "add",
        port,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.name(),
    ]);
    lan.ip(&["link", "set", port, "master", "br0", "up"]);
    ns.ip(&["link", "set", "eth0", "address", mac]);
    ns.ip(&["addr", "add", addr, "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
}

fn start_snmpd(ns: &Netns, dir: &Path, h: &Host, oid: &str, descr: &str) -> ChildGuard {
    let conf = dir.join(format!("snmpd-{}.conf", h.tag));
    std::fs::write(
        &conf,
        format!(
            "agentAddress udp:{addr}:161\nrocommunity {COMMUNITY} 10.77.0.0/24\nsysDescr {descr}\nsysObjectID {oid}\nsysName {tag}-1\nsysLocation Room {tag}\nsysContact it@school.example\n",
            addr = h.addr,
            tag = h.tag,
        ),
    )
    .unwrap();
    let state = dir.join(format!("state-{}", h.tag));
    std::fs::create_dir_all(&state).unwrap();
    let mut cmd = ns.command("snmpd");
    cmd.env("SNMP_PERSISTENT_DIR", &state)
        .args(["-f", "-C", "-c"])
        .arg(&conf)
        .arg("-Lf")
        .arg(dir.join(format!("snmpd-{}.log", h.tag)));
    ChildGuard::spawn(&format!("snmpd ({})", h.tag), &mut cmd)
}

/// `snmpget -Oqv` of `oids` at `addr` from the agent's namespace, quotes
/// removed; `None` while the agent does not answer.
fn snmpget(agent: &Netns, addr: &str, oids: &[&str]) -> Option<Vec<String>> {
    let out = agent
        .command("snmpget")
        .args([
            "-v2c", "-c", COMMUNITY, "-On", "-Oqv", "-t", "1", "-r", "0", addr,
        ])
        .args(oids)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| l.trim().trim_matches('"').to_owned())
            .collect(),
    )
}

/// The MAC `ip link` shows for `eth0` in `ns`.
fn mac_of(ns: &Netns) -> String {
    let json = stdout_of(ns.command("ip").args(["-j", "link", "show", "eth0"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v[0]["address"].as_str().unwrap().to_owned()
}

/// The organisation the IEEE registry file gives for `mac`'s 24-bit prefix.
fn registry_vendor(mac: &str) -> Option<String> {
    let prefix: String = mac.split(':').take(3).collect::<String>().to_uppercase();
    let path = "/usr/share/ieee-data/oui.csv";
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install it with `apt-get install ieee-data` (scripts/test.sh does)"
    );
    let mut rdr = csv::Reader::from_path(path).unwrap();
    rdr.records()
        .map(Result::unwrap)
        .find(|r| r[1] == prefix)
        .map(|r| r[2].trim().to_owned())
}

/// nftables counters: in the agent's namespace, IPv4 and ARP leaving it for
/// anywhere but 10.77.0.0/24, echo requests into the subnet, packets to
/// its network and broadcast addresses and to the silent host; in the
/// outside host, every IPv4 packet it receives.
fn install_counters(lan: &Lan) {
    let agent_rules = r#"
table ip watch {
    counter outside {}
    counter echo {}
    counter edges {}
    counter mute {}
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr != 10.77.0.0/24 counter name "outside"
        ip daddr { 10.77.0.0, 10.77.0.255 } counter name "edges"
        ip daddr 10.77.0.0/24 icmp type echo-request counter name "echo"
        ip daddr 10.77.0.70 icmp type echo-request counter name "mute"
    }
}
table arp watch {
    counter outside {}
    chain out {
        type filter hook output priority 0; policy accept;
        arp daddr ip != 10.77.0.0/24 counter name "outside"
    }
}
"#;
    let outside_rules = r#"
table ip watch {
    counter seen {}
    chain in {
        type filter hook input priority 0; policy accept;
        counter name "seen"
    }
}
"#;
    for (ns, rules) in [(&lan.agent, agent_rules), (&lan.outside, outside_rules)] {
        let file = lan.dir.path().join(format!("{}.nft", ns.name()));
        std::fs::write(&file, rules).unwrap();
        run(ns.command("nft").arg("-f").arg(&file));
    }
}

fn counter(ns: &Netns, family: &str, name: &str) -> u64 {
    let json = stdout_of(
        ns.command("nft")
            .args(["-j", "list", "counter", family, "watch", name]),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["counter"]["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter {family} {name} in {json}"))
}

#[test]
fn discovers_every_responder_and_touches_nothing_outside() {
    let lan = build_lan();
    // Every snmpd answers before the sweep starts.
    let start = Instant::now();
    for h in HOSTS.iter().filter(|h| h.snmp.is_some()) {
        while snmpget(&lan.agent, h.addr, &["1.3.6.1.2.1.1.2.0"]).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "snmpd at {} does not answer; see {}",
                h.addr,
                lan.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The MACs must come from the sweep, not from the checks above.
    lan.agent.ip(&["neigh", "flush", "all"]);
    install_counters(&lan);

    let agent = bin("schoolwatch-agent");
    let out = lan
        .agent
        .command(agent.to_str().unwrap())
        .args(agent_args(&[
            "discover",
            "--subnet",
            "10.77.0.0/24",
            "--community",
            COMMUNITY,
            "--rate",
            "100",
            "--json",
        ]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "discover failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Devices = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "discover --json printed no devices section ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(found.subnets, ["10.77.0.0/24"]);

    // Exactly the hosts that answer ICMP; not the agent itself, not the
    // silent host (documented: ICMP responders only).
    let expected: Vec<&str> = HOSTS.iter().filter(|h| !h.silent).map(|h| h.addr).collect();
    let listed: Vec<&str> = found.devices.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(listed, expected, "{found:#?}");

    for (h, ns) in HOSTS.iter().zip(&lan.hosts).filter(|(h, _)| !h.silent) {
        let d = found.devices.iter().find(|d| d.address == h.addr).unwrap();
        let mac = mac_of(ns);
        assert_eq!(mac, h.mac, "ip link shows the MAC the test set");
        assert_eq!(d.mac.as_deref(), Some(mac.as_str()), "{}", h.addr);
        let vendor = if h.mac.starts_with("02:") {
            None
        } else {
            let v = registry_vendor(&mac);
            assert!(v.is_some(), "the test's MAC {mac} uses a registered OUI");
            v
        };
        assert_eq!(d.vendor, vendor, "{}", h.addr);
        assert_eq!(d.kind, h.kind, "{}: {d:?}", h.addr);
        assert!(d.icmp_up && !d.configured, "{d:?}");
        assert_eq!(d.error, None, "{d:?}");
        match h.snmp {
            Some(_) => {
                let s = d
                    .snmp
                    .as_ref()
                    .unwrap_or_else(|| panic!("no SNMP for {d:?}"));
                let truth = snmpget(
                    &lan.agent,
                    h.addr,
                    &[
                        "1.3.6.1.2.1.1.1.0",
                        "1.3.6.1.2.1.1.2.0",
                        "1.3.6.1.2.1.1.5.0",
                        "1.3.6.1.2.1.1.6.0",
                    ],
                )
                .expect("snmpd still answers");
                assert_eq!(s.sys_descr, truth[0]);
                assert_eq!(s.sys_object_id, truth[1].trim_start_matches('.'));
                assert_eq!(s.sys_name, truth[2]);
                assert_eq!(s.sys_location, truth[3]);
                assert_eq!(s.sys_name, format!("{}-1", h.tag));
            }
            None => assert_eq!(d.snmp, None, "{d:?}"),
        }
    }

    // Nothing left the agent for another subnet, over IPv4 or ARP, and the
    // outside host received nothing.
    assert_eq!(counter(&lan.agent, "ip", "outside"), 0);
    assert_eq!(counter(&lan.agent, "arp", "outside"), 0);
    assert_eq!(counter(&lan.outside, "ip", "seen"), 0);
    // Neither the network nor the broadcast address was pinged.
    assert_eq!(counter(&lan.agent, "ip", "edges"), 0);
    // One echo request per host address (254, less the agent's own), one
    // retry for each that did not answer the first: the silent host got
    // exactly two; the total is 253 + 247 when the six responders answered
    // at once, up to 6 more if one needed its retry.
    assert_eq!(counter(&lan.agent, "ip", "mute"), 2);
    let echo = counter(&lan.agent, "ip", "echo");
    assert!((500..=506).contains(&echo), "{echo} echo requests");
}

#[test]
fn refuses_a_subnet_too_large_to_sweep() {
    let out = Command::new(bin("schoolwatch-agent"))
        .args(agent_args(&["discover", "--subnet", "10.0.0.0/16"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error exits 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("too many addresses for a school LAN sweep"),
        "{err}"
    );
}
