//! The device model against what the agent and the collector make of it:
//! the same seed gives the same devices, counts follow the registry,
//! vendors and kinds come out of the agent's own lookup and guess,
//! counters rise and rates match them, devices go missing after a sweep,
//! UPS units and printers follow their schedules.

use super::*;
use crate::fleet::{Fleet, FleetSpec, HostCount, OutageMix};
use schoolwatch_agent::collect::discovery::neighbour::Mac;
use schoolwatch_agent::collect::discovery::oui::{DEFAULT_DIR, OuiDb};
use schoolwatch_collector::registry::LinkKind;
use std::collections::{BTreeSet, HashMap};

/// 2025-03-03 10:00 in UTC+7: the run covers a school day and its evening.
const FLEET_START_MS: u64 = 1_740_970_800_000;
const HOUR: u64 = 3_600_000;

/// The sample registry, with `expected(i)` devices for school `i`.
fn schools(expected: impl Fn(usize) -> u32) -> Vec<School> {
    let mut s =
        schoolwatch_collector::registry::parse_csv(schoolwatch_collector::demo::SAMPLE_REGISTRY)
            .unwrap();
    for (i, school) in s.iter_mut().enumerate() {
        school.expected_devices = expected(i);
    }
    s
}

/// Every third school without an expectation, the others 3 to 14.
fn expectation(i: usize) -> u32 {
    if i.is_multiple_of(3) {
        0
    } else {
        3 + (i % 12) as u32
    }
}

fn spec(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        hosts: HostCount::PerSchool(5),
        old_share: 0.25,
        posture_fail_share: 0.0,
        outage_share: 0.7,
        outage_mix: OutageMix::parse("wan=1,lan=1,power=1").unwrap(),
        outage_min_ms: HOUR,
        outage_max_ms: 3 * HOUR,
        duration_ms: 12 * HOUR,
        interval_ms: 600_000,
        baseline: Vec::new(),
        devices: true,
    }
}

fn builder(f: &Fleet, devices_every_ms: u64) -> Builder<'_> {
    Builder {
        fleet: f,
        fleet_start_ms: FLEET_START_MS,
        security_every_ms: HOUR,
        baseline: &[],
        collector_host: "collector.example",
        devices_every_ms,
    }
}

/// Every make the model can give a device.
fn all_makes() -> Vec<Make> {
    SWITCHES
        .iter()
        .map(|m| m.make)
        .chain(ROUTERS)
        .chain(UPSES)
        .chain(PRINTERS.iter().map(|(m, _)| *m))
        .chain(PROJECTORS)
        .chain(ACCESS_POINTS)
        .chain(PCS)
        .chain(UNKNOWN)
        .collect()
}

/// The key the collector files a device under: MAC, else address.
fn key(d: &Device) -> &str {
    d.mac.as_deref().unwrap_or(&d.address)
}

/// The key of a simulated device in pictures.
fn sim_key(d: &SimDevice) -> String {
    if d.configured {
        d.address.to_string()
    } else {
        d.mac.clone()
    }
}

/// The server of each school with devices, with its school.
fn servers(f: &Fleet) -> Vec<(usize, &SimSchool)> {
    f.schools
        .iter()
        .filter(|s| s.devices.is_some())
        .map(|s| {
            let h = s
                .hosts
                .clone()
                .find(|&h| f.hosts[h].role == Role::Server)
                .unwrap();
            (h, s)
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_devices() {
    let s = schools(expectation);
    let key = |f: &Fleet| {
        f.schools
            .iter()
            .map(|s| format!("{:?}", s.devices))
            .collect::<Vec<_>>()
    };
    let a = Fleet::build(&s[..40], &spec(7));
    let b = Fleet::build(&s[..40], &spec(7));
    let c = Fleet::build(&s[..40], &spec(8));
    assert_eq!(key(&a), key(&b));
    assert_ne!(key(&a), key(&c));
    // Adding schools leaves the first ones' devices as they were.
    let more = Fleet::build(&s[..60], &spec(7));
    assert_eq!(key(&a), key(&more)[..40]);
    // Devices take nothing from the other choices of a seed.
    let mut without = spec(7);
    without.devices = false;
    let d = Fleet::build(&s[..40], &without);
    assert!(d.schools.iter().all(|s| s.devices.is_none()));
    for (x, y) in a.hosts.iter().zip(&d.hosts) {
        assert_eq!(
            (&x.fingerprint, x.peak_rx_bytes_per_second, x.phase_ms),
            (&y.fingerprint, y.peak_rx_bytes_per_second, y.phase_ms)
        );
    }
    for (x, y) in a.schools.iter().zip(&d.schools) {
        assert_eq!(
            (x.outage, x.gateway, x.link_mbps),
            (y.outage, y.gateway, y.link_mbps)
        );
    }
}

#[test]
fn counts_follow_the_registry_or_the_school_size() {
    let mut s = schools(expectation);
    s[1].expected_devices = 200;
    let f = Fleet::build(&s, &spec(3));
    let (mut expecting, mut short) = (0, 0);
    for school in &f.schools {
        let set = school.devices.as_ref().expect("every school has a server");
        let n = set.devices.len();
        let kinds = |k: DeviceKind| set.devices.iter().filter(|d| d.kind == k).count();
        let expected = school.school.expected_devices as usize;
        assert_eq!(set.expected as usize, expected);
        assert_eq!(kinds(DeviceKind::Switch), 1, "{}", school.school.id);
        if expected > 0 {
            let cap = expected.min(MAX_DEVICES);
            let most_short = ((cap - 2) / 3).max(1);
            assert!(n <= cap && n + most_short >= cap, "{n} of {expected}");
            expecting += 1;
            short += usize::from(n < cap);
        } else {
            assert_eq!(kinds(DeviceKind::Router), 1);
            assert!(kinds(DeviceKind::Ups) <= 1);
            assert!(kinds(DeviceKind::Printer) <= 2);
            assert!(kinds(DeviceKind::Projector) <= 3);
        }
        // Addresses and MACs are distinct, the router is the hosts'
        // gateway, everything is in the swept subnet.
        let addresses: BTreeSet<Ipv4Addr> = set.devices.iter().map(|d| d.address).collect();
        let macs: BTreeSet<&str> = set.devices.iter().map(|d| d.mac.as_str()).collect();
        assert_eq!((addresses.len(), macs.len()), (n, n));
        let [_, net, _, _] = school.gateway.octets();
        assert_eq!(set.subnet, format!("10.{net}.0.0/24"));
        assert!(addresses.iter().all(|a| a.octets()[..3] == [10, net, 0]));
        for d in &set.devices {
            if d.kind == DeviceKind::Router {
                assert_eq!(d.address, school.gateway);
            }
            // The switch and the UPS are polled, some printers too;
            // polled devices never go.
            match d.kind {
                DeviceKind::Switch | DeviceKind::Ups => assert!(d.configured),
                DeviceKind::Printer => {}
                _ => assert!(!d.configured),
            }
            assert!(!d.configured || d.gone_ms.is_none());
        }
        // The polled ones first, then by address, as the agent lists them.
        let order: Vec<(bool, Ipv4Addr)> = set
            .devices
            .iter()
            .map(|d| (!d.configured, d.address))
            .collect();
        assert!(order.is_sorted());
    }
    assert_eq!(
        f.schools[1]
            .devices
            .as_ref()
            .map(|d| d.devices.len() <= MAX_DEVICES),
        Some(true)
    );
    let share = short as f64 / expecting as f64;
    assert!((share - SHORT_SHARE).abs() < 0.1, "{share}");
    // Without a server, nobody reports devices.
    let mut two = spec(3);
    two.hosts = HostCount::PerSchool(2);
    assert!(
        Fleet::build(&s[..20], &two)
            .schools
            .iter()
            .all(|s| s.devices.is_none())
    );
}

#[test]
fn vendors_and_kinds_are_what_the_agent_makes_of_them() {
    let db = OuiDb::load(std::path::Path::new(DEFAULT_DIR))
        .unwrap_or_else(|e| panic!("{e} (the simulator's vendors must be the registry's names)"));
    for m in all_makes() {
        let mac = Mac([m.oui[0], m.oui[1], m.oui[2], 0x12, 0x34, 0x56]);
        if let Some(vendor) = m.vendor {
            assert_eq!(db.vendor(mac), Some(vendor), "{mac}");
        }
        let snmp = m.snmp.map(|(descr, oid)| SnmpData {
            sys_descr: descr.into(),
            sys_object_id: oid.into(),
            ..SnmpData::default()
        });
        assert_eq!(kind::guess(snmp.as_ref(), m.vendor), m.kind, "{m:?}");
    }
    // In a fleet: every device's vendor is its MAC's, a random MAC has
    // none, and a sweep names every kind right.
    let f = Fleet::build(&schools(expectation)[..80], &spec(5));
    let mut kinds = BTreeSet::new();
    for school in &f.schools {
        for d in &school.devices.as_ref().unwrap().devices {
            let mac: Mac = d.mac.parse().unwrap();
            assert_eq!(db.vendor(mac), d.vendor, "{}", d.mac);
            assert_eq!(d.vendor.is_none(), mac.is_locally_administered());
            assert_eq!(d.swept_kind(), d.kind);
            kinds.insert(d.kind);
        }
    }
    assert_eq!(kinds.len(), DeviceKind::ALL.len(), "{kinds:?}");
}

/// One poll of the switch: time, uptime and each port's counters.
struct SwitchPoll {
    at_ms: u64,
    counters: Vec<(u64, u64)>,
}

#[test]
fn counters_rise_and_rates_match_them() {
    let s = schools(expectation);
    let f = Fleet::build(&s[..60], &spec(11));
    for every in [f.interval_ms, 3 * f.interval_ms] {
        let b = builder(&f, every);
        let (mut rates, mut reboots, mut quiet, mut failed, mut firsts) = (0, 0, 0, 0, 0);
        for (h, school) in servers(&f) {
            let peak: f64 = f.hosts[school.hosts.clone()]
                .iter()
                .map(|h| h.peak_rx_bytes_per_second)
                .sum();
            let mut last: Option<SwitchPoll> = None;
            for k in 0..f.ticks(h) {
                if !f.makes(h, k) {
                    continue;
                }
                if f.starts_agent(h, k) {
                    // A new agent: no previous poll.
                    last = None;
                }
                assert_eq!(
                    b.carries_devices(h, k),
                    f.starts_agent(h, k) || (k * f.interval_ms).is_multiple_of(every),
                    "tick {k}"
                );
                if !b.carries_devices(h, k) {
                    continue;
                }
                let at = f.tick_ms(h, k);
                let picture = b.devices(h, k).unwrap();
                let switch = &picture.devices[0];
                assert_eq!(
                    switch.address,
                    school.devices.as_ref().unwrap().devices[0]
                        .address
                        .to_string()
                );
                let Some(snmp) = &switch.snmp else {
                    assert!(switch.error.as_deref().unwrap().contains("no SNMP answer"));
                    failed += 1;
                    continue;
                };
                assert_eq!(switch.kind, DeviceKind::Switch, "{switch:?}");
                let ports = &snmp.interfaces;
                let uplink: Vec<&DeviceInterface> = ports.iter().filter(|p| p.uplink).collect();
                assert_eq!(uplink.len(), 1);
                let poll = SwitchPoll {
                    at_ms: at,
                    counters: ports.iter().map(|p| (p.in_octets, p.out_octets)).collect(),
                };
                if let Some(o) = school.outage.filter(|o| o.kind == OutageKind::Power)
                    && o.end_ms <= at
                {
                    // Rebooted when the power came back.
                    assert!((snmp.uptime_seconds - (at - o.end_ms) as f64 / 1000.0).abs() < 0.011);
                    reboots += u32::from(last.is_none());
                }
                match &last {
                    None => {
                        assert!(
                            ports
                                .iter()
                                .all(|p| p.in_bps.is_none() && p.out_bps.is_none())
                        );
                        firsts += 1;
                    }
                    Some(prev) => {
                        let secs = (at - prev.at_ms) as f64 / 1000.0;
                        for (p, (i0, o0)) in ports.iter().zip(&prev.counters) {
                            assert!(p.in_octets >= *i0 && p.out_octets >= *o0, "{}", p.name);
                            let want_in = (p.in_octets - i0) as f64 * 8.0 / secs;
                            let want_out = (p.out_octets - o0) as f64 * 8.0 / secs;
                            assert_eq!((p.in_bps, p.out_bps), (Some(want_in), Some(want_out)));
                            rates += 1;
                        }
                        let u = uplink[0];
                        let rx = u.in_bps.unwrap();
                        // Under the link's capacity, and the school day at
                        // the hosts' summed peak when no outage touched it.
                        assert!(rx <= school.link_mbps * 1e6, "{rx} on {}", school.link_mbps);
                        let touched = school
                            .outage
                            .is_some_and(|o| o.start_ms < at && o.end_ms > prev.at_ms);
                        let dark = school.outage.is_some_and(|o| {
                            o.kind != OutageKind::Power && o.covers(prev.at_ms) && o.covers(at)
                        });
                        if dark {
                            assert_eq!(rx, 0.0);
                            quiet += 1;
                        } else if !touched {
                            let moved = peak_seconds(FLEET_START_MS, prev.at_ms, at) * peak;
                            let want = moved * 8.0 / secs;
                            assert!(
                                (rx - want).abs() <= 16.0 / secs + 1e-9 * want,
                                "{rx} vs {want}"
                            );
                        }
                    }
                }
                last = Some(poll);
            }
        }
        assert!(rates > 1000 && reboots > 0 && quiet > 0 && failed > 0 && firsts > 0);
    }
}

#[test]
fn pictures_hold_what_the_sweep_found_and_missing_devices_stay_gone() {
    let s = schools(expectation);
    let f = Fleet::build(&s[..60], &spec(13));
    let b = builder(&f, f.interval_ms);
    let (mut gone_seen, mut lan_rounds) = (0, 0);
    for (h, school) in servers(&f) {
        let set = school.devices.as_ref().unwrap();
        let mut absent_since: HashMap<usize, u64> = HashMap::new();
        for k in (0..f.ticks(h)).filter(|&k| f.makes(h, k)) {
            let at = f.tick_ms(h, k);
            let picture = b.devices(h, k).unwrap();
            // The collector's own decoder takes the report.
            let report = b.build(h, k, "agent-1", k + 1, None);
            assert_eq!(report.devices.as_ref(), Some(&picture));
            schoolwatch_protocol::decode_report(&serde_json::to_vec(&report).unwrap()).unwrap();
            // The mask names exactly the picture's devices.
            let mask = b.devices_present(h, k);
            let want: BTreeSet<String> = set
                .devices
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, d)| sim_key(d))
                .collect();
            let got: BTreeSet<String> = picture.devices.iter().map(|d| key(d).to_owned()).collect();
            assert_eq!(got, want, "{} tick {k}", school.school.id);
            let lan_down = school
                .outage
                .is_some_and(|o| o.kind == OutageKind::Lan && o.covers(at));
            for e in &picture.devices {
                let d = set.devices.iter().find(|d| sim_key(d) == key(e)).unwrap();
                if lan_down && d.configured {
                    // Every poll times out.
                    assert!(e.snmp.is_none() && e.error.is_some(), "{e:?}");
                } else if !d.configured || e.vendor.is_some() {
                    // Named as the sweep names it.
                    assert_eq!((e.kind, e.vendor.as_deref()), (d.kind, d.vendor), "{e:?}");
                }
            }
            lan_rounds += u32::from(lan_down);
            for (i, d) in set.devices.iter().enumerate() {
                let here = mask & (1 << i) != 0;
                if let Some(since) = absent_since.get(&i)
                    && d.gone_ms.is_some_and(|g| *since >= g)
                {
                    assert!(!here, "{} came back", d.mac);
                }
                if let Some(g) = d.gone_ms {
                    // The first sweep after it went no longer finds it.
                    if at >= g + *SWEEP_EVERY_MS {
                        assert!(!here, "{} still found", d.mac);
                    }
                    if school.outage.is_none() && at < g {
                        assert!(here, "{} gone early", d.mac);
                    }
                }
                if here {
                    absent_since.remove(&i);
                } else {
                    absent_since.entry(i).or_insert(at);
                }
            }
        }
        gone_seen += absent_since
            .keys()
            .filter(|&&i| set.devices[i].gone_ms.is_some())
            .count();
    }
    assert!(gone_seen > 0 && lan_rounds > 0, "{gone_seen} {lan_rounds}");
}

#[test]
fn ups_units_and_printers_follow_their_schedules() {
    let s = schools(expectation);
    let f = Fleet::build(&s[..80], &spec(17));
    let b = builder(&f, f.interval_ms);
    let (mut on_battery, mut at_end, mut printed) = (0, 0, 0);
    for (h, school) in servers(&f) {
        let set = school.devices.as_ref().unwrap();
        let mut levels: HashMap<(String, String), f64> = HashMap::new();
        let mut charge_on_battery: Option<f64> = None;
        for k in (0..f.ticks(h)).filter(|&k| f.makes(h, k)) {
            let at = f.tick_ms(h, k);
            let picture = b.devices(h, k).unwrap();
            for e in picture.devices.iter().filter(|e| e.snmp.is_some()) {
                let snmp = e.snmp.as_ref().unwrap();
                let d = set.devices.iter().find(|d| sim_key(d) == key(e)).unwrap();
                match &d.detail {
                    Detail::Ups(ups) if d.configured => {
                        let u = snmp.ups.as_ref().unwrap();
                        let stretch = ups.on_battery.clone().unwrap_or(0..0);
                        assert_eq!(u.on_battery, stretch.contains(&at));
                        let charge = u.charge_percent.unwrap();
                        // Never flat: a stretch is at most 80 % of the runtime.
                        assert!((19.0..=100.0).contains(&charge), "{charge}");
                        let runtime = u.runtime_seconds.unwrap();
                        assert!(runtime <= ups.full_runtime_secs && runtime % 60.0 == 0.0);
                        if u.on_battery {
                            assert!(charge_on_battery.is_none_or(|c| charge <= c));
                            charge_on_battery = Some(charge);
                            on_battery += 1;
                            at_end += u32::from(k + 1 == f.ticks(h));
                        } else {
                            assert!(charge == 100.0 || at >= stretch.end, "{charge} at {at}");
                        }
                    }
                    Detail::Printer(_) if d.configured => {
                        assert_eq!(e.kind, DeviceKind::Printer);
                        assert!(!snmp.supplies.is_empty());
                        for p in &snmp.supplies {
                            let level = p.level_ratio.unwrap();
                            assert!((0.0..=1.0).contains(&level));
                            let was =
                                levels.insert((e.address.clone(), p.description.clone()), level);
                            assert!(was.is_none_or(|w| level <= w), "{level} after {was:?}");
                            printed += u32::from(was.is_some_and(|w| level < w));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        on_battery > 0 && at_end > 0 && printed > 0,
        "{on_battery} {at_end} {printed}"
    );
}

#[test]
fn a_school_without_a_link_moves_nothing() {
    let mut s = schools(expectation);
    s[0].link_kind = LinkKind::None;
    let f = Fleet::build(&s[..1], &spec(2));
    let b = builder(&f, f.interval_ms);
    let h = f.schools[0].hosts.start;
    for k in 1..f.ticks(h) {
        let p = b.devices(h, k).unwrap();
        let uplink = p.devices[0]
            .snmp
            .as_ref()
            .unwrap()
            .interfaces
            .iter()
            .find(|i| i.uplink)
            .unwrap();
        assert_eq!((uplink.in_bps, uplink.out_bps), (Some(0.0), Some(0.0)));
    }
}
