use super::*;
use proptest::prelude::*;
use schoolwatch_protocol::{DeviceKind, SnmpData};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

fn printer() -> SnmpData {
    SnmpData {
        sys_descr: "Brother NC-8300w, Firmware Ver.1.05".to_owned(),
        sys_object_id: "1.3.6.1.4.1.2435.2.3.9.1".to_owned(),
        sys_name: "printer-1".to_owned(),
        ..SnmpData::default()
    }
}

#[test]
fn responders_become_devices_with_mac_vendor_kind_and_snmp() {
    let responders: BTreeSet<Ipv4Addr> = ["10.0.0.20", "10.0.0.10", "10.0.0.30", "10.0.0.40"]
        .into_iter()
        .map(ip)
        .collect();
    let neighbours: neighbour::Table = [
        (ip("10.0.0.10"), mac("3c:2a:f4:00:00:10")),
        (ip("10.0.0.20"), mac("00:c0:b7:00:00:20")),
        (ip("10.0.0.30"), mac("02:00:00:00:00:30")),
    ]
    .into_iter()
    .collect();
    let answers: HashMap<Ipv4Addr, Answer> = [
        (ip("10.0.0.10"), Answer::Data(Box::new(printer()))),
        (ip("10.0.0.20"), Answer::Silent),
        (
            ip("10.0.0.30"),
            Answer::Failed("reply for another request".to_owned()),
        ),
    ]
    .into_iter()
    .collect();
    let vendor = |m: Mac| match m.0[..3] {
        [0x3c, 0x2a, 0xf4] => Some("Brother Industries, LTD.".to_owned()),
        [0x00, 0xc0, 0xb7] => Some("AMERICAN POWER CONVERSION CORP".to_owned()),
        _ => None,
    };
    let d = assemble(&responders, &neighbours, &answers, vendor);
    let addrs: Vec<&str> = d.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(addrs, ["10.0.0.10", "10.0.0.20", "10.0.0.30", "10.0.0.40"]);
    assert_eq!(d[0].mac.as_deref(), Some("3c:2a:f4:00:00:10"));
    assert_eq!(d[0].vendor.as_deref(), Some("Brother Industries, LTD."));
    assert_eq!(d[0].kind, DeviceKind::Printer);
    assert_eq!(d[0].snmp.as_ref().unwrap().sys_name, "printer-1");
    assert_eq!(d[1].kind, DeviceKind::Ups);
    assert_eq!((d[1].snmp.is_none(), d[1].error.is_none()), (true, true));
    assert_eq!(d[2].vendor, None);
    assert_eq!(d[2].error.as_deref(), Some("reply for another request"));
    assert_eq!(d[3].mac, None);
    assert!(d.iter().all(|d| d.icmp_up && !d.configured));
}

#[test]
fn one_device_per_mac_preferring_the_snmp_answer() {
    let responders: BTreeSet<Ipv4Addr> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        .into_iter()
        .map(ip)
        .collect();
    let same = mac("4c:5e:0c:00:00:01");
    let neighbours: neighbour::Table = responders.iter().map(|a| (*a, same)).collect();
    let answers: HashMap<Ipv4Addr, Answer> = [(ip("10.0.0.2"), Answer::Data(Box::new(printer())))]
        .into_iter()
        .collect();
    let d = assemble(&responders, &neighbours, &answers, |_| None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].address, "10.0.0.2");
    // Without SNMP anywhere, the lowest address stays.
    let d = assemble(&responders, &neighbours, &HashMap::new(), |_| None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].address, "10.0.0.1");
}

#[test]
fn long_strings_are_cut_on_a_character_boundary() {
    let s = clamp("ấ".repeat(100), 256);
    assert!(s.len() <= 256);
    assert_eq!(s.chars().count(), 256 / "ấ".len());
    assert_eq!(clamp("short".to_owned(), 256), "short");
}

#[test]
fn table_shows_each_device() {
    let devices = Devices {
        subnets: vec!["10.0.0.0/24".to_owned()],
        devices: vec![Device {
            address: "10.0.0.10".to_owned(),
            mac: Some("3c:2a:f4:00:00:10".to_owned()),
            vendor: Some("Brother Industries, LTD.".to_owned()),
            kind: DeviceKind::Printer,
            configured: false,
            icmp_up: true,
            snmp: Some(printer()),
            error: None,
        }],
    };
    let t = table(&devices);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("address"), "{t}");
    for cell in [
        "10.0.0.10",
        "3c:2a:f4:00:00:10",
        "Brother Industries, LTD.",
        "printer",
        "up",
        "printer-1: Brother NC-8300w",
    ] {
        assert!(lines[1].contains(cell), "{cell}: {t}");
    }
}

proptest! {
    /// The sweep's address list lies inside the subnet, skips the network,
    /// broadcast and own addresses, and has no duplicates.
    #[test]
    fn sweep_targets_stay_in_the_subnet(
        net: u32,
        prefix in MIN_PREFIX_LEN..=30u8,
        own in proptest::collection::hash_set(any::<u32>(), 0..8),
        own_inside in proptest::collection::vec(any::<u32>(), 0..4),
    ) {
        let subnet = Subnet::new(Ipv4Addr::from(net), prefix).unwrap();
        let base = u32::from(subnet.network());
        let size = 1u32 << (32 - prefix);
        let mut own: HashSet<Ipv4Addr> = own.into_iter().map(Ipv4Addr::from).collect();
        own.extend(own_inside.iter().map(|o| Ipv4Addr::from(base + o % size)));
        let t = targets(&subnet, &own);
        let unique: HashSet<&Ipv4Addr> = t.iter().collect();
        prop_assert_eq!(unique.len(), t.len());
        for a in &t {
            let a32 = u32::from(*a);
            prop_assert!(a32 > base && a32 < base + size - 1, "{a} outside {subnet}");
            prop_assert!(!own.contains(a));
        }
        let own_hosts = own.iter().filter(|o| {
            let o = u32::from(**o);
            o > base && o < base + size - 1
        }).count();
        prop_assert_eq!(t.len() as u64, u64::from(size - 2) - own_hosts as u64);
    }
}

#[tokio::test]
#[should_panic(expected = "lies outside")]
async fn a_target_outside_the_subnet_is_never_sent_to() {
    // Needs an ICMP socket (the test suite runs as root); the check comes
    // before any packet.
    let sweeper = Sweeper::new().expect("ICMP socket (run the tests as root)");
    let subnet: Subnet = "192.0.2.0/24".parse().unwrap();
    sweeper
        .sweep(&subnet, &[ip("198.51.100.1")], &SweepOptions::default())
        .await;
}

fn build(text: &str, role: Role) -> (DiscoveryConfig, Vec<String>) {
    let raw: RawDiscovery = toml::from_str(text).unwrap();
    let mut problems = Vec::new();
    let c = raw.build(role, &mut problems);
    (c, problems)
}

#[test]
fn config_defaults_sweep_nothing() {
    let (c, p) = build("", Role::Lab);
    assert!(p.is_empty(), "{p:?}");
    assert!(!c.enabled());
    assert_eq!(c.rate_pps, 50);
    assert_eq!(c.snmp_community, "public");
    assert_eq!(c.every, Duration::from_secs(3600));
}

#[test]
fn config_full_section() {
    let (c, p) = build(
        "subnets = [\"10.1.2.0/24\", \"10.1.3.0/25\"]\nrate_pps = 20\nsnmp_community = \"school\"\nevery_minutes = 30\n",
        Role::Server,
    );
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(
        c.subnets.iter().map(Subnet::to_string).collect::<Vec<_>>(),
        ["10.1.2.0/24", "10.1.3.0/25"]
    );
    assert_eq!(c.every, Duration::from_secs(1800));
    let o = c.options();
    assert_eq!(o.sweep.rate_pps, 20);
    assert_eq!(o.snmp.unwrap().community, "school");
}

#[test]
fn config_mistakes_each_name_their_key() {
    let (_, p) = build(
        "subnets = [\"10.0.0.0/16\", \"10.1.2.5/24\", \"lan\", \"10.2.0.0/24\", \"10.2.0.128/25\"]\nrate_pps = 0\nsnmp_community = \"\"\nevery_minutes = 1\n",
        Role::Lab,
    );
    let all = p.join("\n");
    for needle in [
        "`discovery.subnets[0]`: 10.0.0.0/16 has too many addresses for a school LAN sweep",
        "`discovery.subnets[1]`: \"10.1.2.5/24\" is an address, not a subnet; did you mean \"10.1.2.0/24\"?",
        "`discovery.subnets[2]`: \"lan\" is not an IPv4 subnet",
        "`discovery.subnets[4]`: 10.2.0.128/25 overlaps 10.2.0.0/24",
        "only the school server sweeps the LAN; set `agent.role = \"server\"`",
        "`discovery.rate_pps`: 0 is out of range",
        "`discovery.snmp_community`: empty",
        "`discovery.every_minutes`: 1 is out of range",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert_eq!(p.len(), 8, "{all}");
}
