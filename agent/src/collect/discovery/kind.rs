//! What kind of equipment a device is, guessed from what it said over SNMP
//! (sysObjectID, sysDescr) and, failing that, from its MAC's vendor.
//!
//! A pure function over tables, in this order, first match wins:
//! 1. sysObjectID subtrees that settle it (UPS-MIB, HP JetDirect, HP
//!    ProCurve, Microsoft Windows);
//! 2. words in sysDescr, kinds in the order UPS, printer, projector,
//!    access point, switch, router, PC (a MikroTik "RouterOS CRS326" is a
//!    switch, a UniFi AP's "Linux" does not make it a PC);
//! 3. the sysObjectID's enterprise number, for makers of one kind of
//!    equipment (Brother, APC, TP-Link, MikroTik, ...);
//! 4. the MAC vendor, for the same kind of makers and the PC makers;
//! 5. unknown.
//!
//! Makers of many kinds (Cisco, HP, Ubiquiti, Epson, Netgear by OUI) are
//! left to the description: a wrong kind misleads more than "unknown".

use schoolwatch_protocol::{DeviceKind, SnmpData};

/// The kind of a device that answered `snmp` (if it did) and whose MAC is
/// registered to `vendor` (if known).
pub fn guess(snmp: Option<&SnmpData>, vendor: Option<&str>) -> DeviceKind {
    snmp.and_then(from_snmp)
        .or_else(|| vendor.and_then(from_vendor))
        .unwrap_or(DeviceKind::Unknown)
}

/// sysObjectID subtrees that name the kind on their own.
const OID_SUBTREES: &[(&str, DeviceKind)] = &[
    // upsMIB itself, the sysObjectID of many generic UPS network cards.
    ("1.3.6.1.2.1.33", DeviceKind::Ups),
    // hpnp (HP JetDirect print servers and printers).
    ("1.3.6.1.4.1.11.2.3.9", DeviceKind::Printer),
    // HP ProCurve / Aruba switches.
    ("1.3.6.1.4.1.11.2.3.7.11", DeviceKind::Switch),
    // Microsoft's SNMP service on Windows.
    ("1.3.6.1.4.1.311.1.1.3", DeviceKind::Pc),
];

/// Whole words (between non-alphanumerics) and phrases of sysDescr, lower
/// case, per kind, in priority order.
struct DescrRule {
    kind: DeviceKind,
    words: &'static [&'static str],
    phrases: &'static [&'static str],
}

const DESCR_RULES: &[DescrRule] = &[
    DescrRule {
        kind: DeviceKind::Ups,
        words: &["ups", "apc", "powerware", "eaton", "cyberpower", "riello"],
        phrases: &[
            "smart-ups",
            "back-ups",
            "symmetra",
            "tripp lite",
            "uninterruptible",
        ],
    },
    DescrRule {
        kind: DeviceKind::Printer,
        words: &[
            "printer",
            "laserjet",
            "officejet",
            "deskjet",
            "designjet",
            "jetdirect",
            "pagewide",
            "imagerunner",
            "imageclass",
            "workcentre",
            "versalink",
            "altalink",
            "docuprint",
            "bizhub",
            "ecosys",
            "taskalfa",
            "aficio",
            "lexmark",
            "kyocera",
            "xerox",
            "zebra",
        ],
        phrases: &[
            "brother nc-",
            "brother mfc",
            "brother hl-",
            "brother dcp",
            "multi-environment",
        ],
    },
    DescrRule {
        kind: DeviceKind::Projector,
        words: &[
            "projector",
            "pjlink",
            "optoma",
            "benq",
            "vivitek",
            "infocus",
        ],
        phrases: &[
            "smart board",
            "interactive display",
            "epson eb-",
            "nec np-",
            "sony vpl-",
        ],
    },
    DescrRule {
        kind: DeviceKind::AccessPoint,
        words: &["uap", "aironet", "ruckus"],
        phrases: &[
            "access point",
            "accesspoint",
            "unifi ap",
            "uap-",
            "u6-",
            "u7-",
            "air-ap",
            "air-cap",
            "wireless ap",
            "omada eap",
            "eap225",
            "eap245",
            "eap610",
            "eap650",
        ],
    },
    DescrRule {
        kind: DeviceKind::Switch,
        words: &[
            "switch",
            "catalyst",
            "procurve",
            "comware",
            "jetstream",
            "prosafe",
            "powerconnect",
            "edgeswitch",
            "nexus",
        ],
        phrases: &[
            "c2960",
            "c3560",
            "c3650",
            "c3750",
            "c3850",
            "c9200",
            "c9300",
            "cbs2",
            "cbs3",
            "sg300",
            "sg350",
            "sg550",
            "t1500g",
            "t1600g",
            "t2500g",
            "t2600g",
            "tl-sg",
            "tl-sl",
            "gs108t",
            "gs110t",
            "gs724t",
            "gs728t",
            "gs748t",
            "gs752t",
            "m4300",
            "dgs-",
            "des-",
            "usw-",
            "crs1",
            "crs3",
            "crs5",
            "css3",
            "routeros crs",
            "routeros css",
            "aruba jl",
            "s5700",
            "s5720",
            "s1720",
        ],
    },
    DescrRule {
        kind: DeviceKind::Router,
        words: &[
            "router",
            "routeros",
            "pfsense",
            "opnsense",
            "fortigate",
            "fortios",
            "edgeos",
            "edgerouter",
            "draytek",
            "vigor",
            "mikrotik",
            "isr",
        ],
        phrases: &["juniper srx", "srx300", "udm-pro", "unifi dream", "usg-"],
    },
    DescrRule {
        kind: DeviceKind::Pc,
        words: &["windows", "darwin", "macos"],
        phrases: &[],
    },
];

/// Enterprises (1.3.6.1.4.1.N) whose devices are of one kind.
const ENTERPRISES: &[(u32, DeviceKind)] = &[
    (2435, DeviceKind::Printer),      // Brother
    (1602, DeviceKind::Printer),      // Canon
    (253, DeviceKind::Printer),       // Xerox
    (641, DeviceKind::Printer),       // Lexmark
    (367, DeviceKind::Printer),       // Ricoh
    (1347, DeviceKind::Printer),      // Kyocera
    (18334, DeviceKind::Printer),     // Konica Minolta
    (2001, DeviceKind::Printer),      // OKI
    (10642, DeviceKind::Printer),     // Zebra
    (318, DeviceKind::Ups),           // APC
    (534, DeviceKind::Ups),           // Eaton (Powerware)
    (705, DeviceKind::Ups),           // MGE
    (3808, DeviceKind::Ups),          // CyberPower
    (850, DeviceKind::Ups),           // Tripp Lite
    (5491, DeviceKind::Ups),          // Riello
    (4555, DeviceKind::Ups),          // Socomec
    (11863, DeviceKind::Switch),      // TP-Link
    (171, DeviceKind::Switch),        // D-Link
    (4526, DeviceKind::Switch),       // Netgear
    (25506, DeviceKind::Switch),      // H3C
    (14988, DeviceKind::Router),      // MikroTik
    (12356, DeviceKind::Router),      // Fortinet
    (12325, DeviceKind::Router),      // pfSense
    (25053, DeviceKind::AccessPoint), // Ruckus
];

/// Substrings of IEEE registry names (lower case) of makers of one kind.
const VENDORS: &[(&str, DeviceKind)] = &[
    ("brother industries", DeviceKind::Printer),
    ("canon", DeviceKind::Printer),
    ("xerox", DeviceKind::Printer),
    ("lexmark", DeviceKind::Printer),
    ("ricoh", DeviceKind::Printer),
    ("kyocera", DeviceKind::Printer),
    ("konica minolta", DeviceKind::Printer),
    ("zebra technologies", DeviceKind::Printer),
    ("american power conversion", DeviceKind::Ups),
    ("schneider electric", DeviceKind::Ups),
    ("eaton", DeviceKind::Ups),
    ("cyber power", DeviceKind::Ups),
    ("tripp lite", DeviceKind::Ups),
    ("routerboard", DeviceKind::Router),
    ("mikrotik", DeviceKind::Router),
    ("fortinet", DeviceKind::Router),
    ("draytek", DeviceKind::Router),
    ("ruckus", DeviceKind::AccessPoint),
    ("optoma", DeviceKind::Projector),
    ("benq", DeviceKind::Projector),
    ("nec display", DeviceKind::Projector),
    ("vivitek", DeviceKind::Projector),
    ("dell", DeviceKind::Pc),
    ("lenovo", DeviceKind::Pc),
    ("asustek", DeviceKind::Pc),
    ("micro-star", DeviceKind::Pc),
    ("giga-byte", DeviceKind::Pc),
    ("asrock", DeviceKind::Pc),
    ("intel corporate", DeviceKind::Pc),
];

fn from_snmp(s: &SnmpData) -> Option<DeviceKind> {
    let oid = s.sys_object_id.trim().trim_start_matches('.');
    let in_subtree = |root: &str| {
        oid.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    if let Some((_, kind)) = OID_SUBTREES.iter().find(|(root, _)| in_subtree(root)) {
        return Some(*kind);
    }
    let descr = s.sys_descr.to_lowercase();
    let words: Vec<&str> = descr
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let by_descr = DESCR_RULES.iter().find(|r| {
        r.words.iter().any(|w| words.contains(w)) || r.phrases.iter().any(|p| descr.contains(p))
    });
    if let Some(r) = by_descr {
        return Some(r.kind);
    }
    // net-snmp's default sysDescr on a PC or server: "Linux name 6.1.0 ... x86_64".
    if words.contains(&"linux")
        && ["x86_64", "i686", "amd64"]
            .iter()
            .any(|a| words.contains(a))
    {
        return Some(DeviceKind::Pc);
    }
    let enterprise: u32 = oid
        .strip_prefix("1.3.6.1.4.1.")?
        .split('.')
        .next()?
        .parse()
        .ok()?;
    ENTERPRISES
        .iter()
        .find(|(e, _)| *e == enterprise)
        .map(|(_, kind)| *kind)
}

fn from_vendor(vendor: &str) -> Option<DeviceKind> {
    let v = vendor.to_lowercase();
    VENDORS
        .iter()
        .find(|(name, _)| v.contains(name))
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceKind::*;

    fn snmp(oid: &str, descr: &str) -> SnmpData {
        SnmpData {
            sys_object_id: oid.to_owned(),
            sys_descr: descr.to_owned(),
            ..SnmpData::default()
        }
    }

    /// sysObjectID and sysDescr as real devices of each kind report them.
    #[test]
    fn real_devices() {
        let cases = [
            (
                "1.3.6.1.4.1.11.2.3.9.1",
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD149,EEPROM JSI23900,CIDATE 02/13/2018",
                Printer,
            ),
            (
                "1.3.6.1.4.1.2435.2.3.9.1",
                "Brother NC-8300w, Firmware Ver.1.05  (12.01.15),MID 8C5-F04,FID 2",
                Printer,
            ),
            ("1.3.6.1.4.1.1602.4.7", "Canon iR-ADV C5535 /P", Printer),
            (
                "1.3.6.1.4.1.9.1.1208",
                "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)",
                Switch,
            ),
            (
                "1.3.6.1.4.1.11863.5.1",
                "JetStream 24-Port Gigabit L2 Managed Switch with 4 SFP Slots",
                Switch,
            ),
            (
                "1.3.6.1.4.1.11.2.3.7.11.150",
                "HPE OfficeConnect Switch 1920S 24G 2SFP JL381A",
                Switch,
            ),
            ("1.3.6.1.4.1.14988.1", "RouterOS CRS326-24G-2S+", Switch),
            ("1.3.6.1.4.1.14988.1", "RouterOS RB4011iGS+", Router),
            (
                "1.3.6.1.4.1.318.1.3.27",
                "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.2.1 MN:AP9630 HR:05)",
                Ups,
            ),
            (".1.3.6.1.2.1.33", "Network Management Card", Ups),
            ("1.3.6.1.4.1.534.1", "Eaton 5PX 1500", Ups),
            (
                "1.3.6.1.4.1.10002.1",
                "UAP-AC-Pro-Gen2 4.3.28.11361",
                AccessPoint,
            ),
            (
                "1.3.6.1.4.1.8072.3.2.10",
                "Linux U6-Lite 4.4.153 #1 SMP PREEMPT aarch64",
                AccessPoint,
            ),
            ("1.3.6.1.4.1.1248.4.1", "EPSON Projector EB-X41", Projector),
            (
                "1.3.6.1.4.1.311.1.1.3.1.1",
                "Hardware: Intel64 Family 6 Model 158 Stepping 10 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build 19045 Multiprocessor Free)",
                Pc,
            ),
            (
                "1.3.6.1.4.1.8072.3.2.10",
                "Linux server 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64",
                Pc,
            ),
        ];
        for (oid, descr, kind) in cases {
            assert_eq!(guess(Some(&snmp(oid, descr)), None), kind, "{descr}");
        }
    }

    #[test]
    fn words_are_whole_words() {
        // "backups" and "groups" are not a UPS; "isr" inside a word is no router.
        assert_eq!(
            guess(Some(&snmp("", "Nightly backups of groups")), None),
            Unknown
        );
        assert_eq!(guess(Some(&snmp("", "misreported")), None), Unknown);
        // An embedded Linux on ARM is not taken for a PC.
        assert_eq!(
            guess(
                Some(&snmp("1.3.6.1.4.1.8072.3.2.10", "Linux cam 4.9 armv7l")),
                None
            ),
            Unknown
        );
        // The enterprise must be the whole arc: 3180 is not APC's 318.
        assert_eq!(guess(Some(&snmp("1.3.6.1.4.1.3180.1", "")), None), Unknown);
        assert_eq!(guess(Some(&snmp("1.3.6.1.4.1.318", "")), None), Ups);
    }

    #[test]
    fn vendor_when_snmp_says_nothing() {
        assert_eq!(guess(None, Some("AMERICAN POWER CONVERSION CORP")), Ups);
        assert_eq!(guess(None, Some("Brother Industries, LTD.")), Printer);
        assert_eq!(guess(None, Some("Dell Inc.")), Pc);
        assert_eq!(guess(None, Some("Routerboard.com")), Router);
        // SNMP that names nothing falls back to the vendor.
        assert_eq!(
            guess(
                Some(&snmp("1.3.6.1.4.1.99999.1", "Device")),
                Some("Dell Inc.")
            ),
            Pc
        );
        // SNMP wins over the vendor.
        assert_eq!(
            guess(Some(&snmp("", "EPSON Projector")), Some("Dell Inc.")),
            Projector
        );
        // Makers of many kinds stay unknown.
        assert_eq!(guess(None, Some("Cisco Systems, Inc")), Unknown);
        assert_eq!(guess(None, Some("Ubiquiti Inc")), Unknown);
        assert_eq!(guess(None, None), Unknown);
    }
}
