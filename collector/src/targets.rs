//! The plan's targets: what counts as "on target" for a school's link, a
//! machine's configuration, digital records and availability.
//!
//! Read from `config/targets.toml` (strict: unknown keys are refused; every
//! key optional, defaulting to the province's plan in MISSION.md), validated,
//! and turned into [`Targets`] in base units (bytes, Mbit/s, shares 0..=1).
//! Parsing takes the text; reading the file is the caller's job.

use serde::{Deserialize, Serialize};

use crate::calendar::{self, Calendar};
use crate::registry::LinkKind;

/// Bytes in a GiB, the unit of `min_memory_gib` and `min_disk_gib`.
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Validated targets, in base units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Targets {
    /// The Internet link every school should have.
    pub link: LinkTarget,
    /// The minimum configuration of a machine used for teaching and
    /// management.
    pub machine: MachineTarget,
    /// Digital records of facilities and equipment.
    pub equipment: EquipmentTarget,
    /// How much of school hours a school should be online.
    pub availability: AvailabilityTarget,
    /// The security baseline.
    pub security: SecurityTarget,
    /// School hours: outages outside them do not count.
    pub calendar: Calendar,
}

/// The Internet link every school should have (`[link]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTarget {
    /// The kind of link the plan asks for; fibre by default.
    pub required_kind: LinkKind,
    /// Measured download, Mbit/s, needed for online teaching.
    pub min_download_mbps: f64,
}

/// The minimum machine configuration (`[machine]`); a machine meets it when
/// it meets every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineTarget {
    /// Physical memory as the OS reports it, bytes.
    pub min_memory_bytes: u64,
    /// Logical cores (hardware threads).
    pub min_logical_cores: u32,
    /// Disk size, bytes.
    pub min_disk_bytes: u64,
}

/// Shares of facilities and equipment to be managed with digital records
/// (`[equipment]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquipmentTarget {
    /// Share (0..=1) by 2025.
    pub digital_record_share_2025: f64,
    /// Share (0..=1) by 2030; not below the 2025 share.
    pub digital_record_share_2030: f64,
}

/// The security baseline every machine should meet (`[security]`): check
/// ids (as `schoolwatch-agent check` names them) that must pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityTarget {
    /// Checks that must pass for a machine to meet the baseline.
    pub baseline: Vec<String>,
}

/// How much of school hours a school should be online (`[availability]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilityTarget {
    /// Share (0..=1) of school hours online.
    pub min_share: f64,
}

// === impl Targets ===

impl Targets {
    /// Parses and validates `targets.toml` text.
    ///
    /// A syntax error, an unknown key or a value of the wrong type stops at
    /// the first one; range problems are all reported, one per line. Every
    /// message names its key, e.g. ``key `machine.min_memory_gib`: ...``.
    pub fn from_toml_str(text: &str) -> Result<Targets, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| format!("TOML syntax: {e}"))?;
        let raw: RawTargets = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().message().to_owned();
            if path == "." {
                message
            } else {
                format!("key `{path}`: {message}")
            }
        })?;
        let (targets, problems) = build(&raw);
        if problems.is_empty() {
            Ok(targets)
        } else {
            Err(problems.join("\n"))
        }
    }
}

impl Default for Targets {
    /// The province's plan, equal to the shipped `config/targets.toml`.
    fn default() -> Self {
        let (targets, problems) = build(&RawTargets::default());
        debug_assert!(problems.is_empty(), "defaults are invalid: {problems:?}");
        targets
    }
}

impl LinkTarget {
    /// Whether a school on `kind` meets the link target. Kinds must match,
    /// except that fibre also meets a `broadband` target (fibre is fixed
    /// broadband).
    pub fn is_met_by(&self, kind: LinkKind) -> bool {
        kind == self.required_kind
            || (self.required_kind == LinkKind::Broadband && kind == LinkKind::Fibre)
    }
}

/// Converts raw values to base units, returning every range problem found.
/// The returned [`Targets`] is only meaningful when the list is empty.
fn build(raw: &RawTargets) -> (Targets, Vec<String>) {
    let mut problems = Vec::new();
    let mut non_negative = |key: &str, v: f64| {
        if !(v.is_finite() && v >= 0.0) {
            problems.push(format!(
                "key `{key}`: {v} is not allowed; allowed: a finite number, 0 or more"
            ));
        }
    };
    non_negative("link.min_download_mbps", raw.link.min_download_mbps);
    non_negative("machine.min_memory_gib", raw.machine.min_memory_gib);
    non_negative("machine.min_disk_gib", raw.machine.min_disk_gib);
    let mut share = |key: &str, v: f64| {
        if !(0.0..=1.0).contains(&v) {
            problems.push(format!("key `{key}`: {v} is not a share; allowed: 0 to 1"));
        }
    };
    share(
        "equipment.digital_record_share_2025",
        raw.equipment.digital_record_share_2025,
    );
    share(
        "equipment.digital_record_share_2030",
        raw.equipment.digital_record_share_2030,
    );
    share("availability.min_share", raw.availability.min_share);
    for (i, id) in raw.security.baseline.iter().enumerate() {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.push(format!(
                "key `security.baseline[{i}]`: {id:?} is not a check id; allowed: names like \"firewall_active\" as `schoolwatch-agent check` prints them"
            ));
        }
    }
    if raw.machine.min_logical_cores < 1 {
        problems.push(
            "key `machine.min_logical_cores`: 0 is not allowed; allowed: 1 or more".to_owned(),
        );
    }
    if raw.equipment.digital_record_share_2030 < raw.equipment.digital_record_share_2025 {
        problems.push(format!(
            "key `equipment.digital_record_share_2030`: {} is below the 2025 share {}; allowed: at least the 2025 share",
            raw.equipment.digital_record_share_2030, raw.equipment.digital_record_share_2025
        ));
    }

    let calendar = build_calendar(&raw.calendar, &mut problems);
    let targets = Targets {
        link: LinkTarget {
            required_kind: raw.link.required_kind,
            min_download_mbps: raw.link.min_download_mbps,
        },
        machine: MachineTarget {
            // `as` saturates; the value was checked finite and ≥ 0 above.
            min_memory_bytes: (raw.machine.min_memory_gib * GIB).round() as u64,
            min_logical_cores: raw.machine.min_logical_cores,
            min_disk_bytes: (raw.machine.min_disk_gib * GIB).round() as u64,
        },
        equipment: EquipmentTarget {
            digital_record_share_2025: raw.equipment.digital_record_share_2025,
            digital_record_share_2030: raw.equipment.digital_record_share_2030,
        },
        availability: AvailabilityTarget {
            min_share: raw.availability.min_share,
        },
        security: SecurityTarget {
            baseline: raw.security.baseline.clone(),
        },
        calendar,
    };
    (targets, problems)
}

/// Checks `[calendar]` and converts it, pushing a message per problem.
fn build_calendar(raw: &RawCalendar, problems: &mut Vec<String>) -> Calendar {
    let mut cal = Calendar::default();
    let offset = raw.utc_offset_hours * 60.0;
    if raw.utc_offset_hours.is_finite() && (-12.0 * 60.0..=14.0 * 60.0).contains(&offset) {
        cal.utc_offset_minutes = offset.round() as i32;
    } else {
        problems.push(format!(
            "key `calendar.utc_offset_hours`: {} is not a time zone offset; allowed: -12 to 14 (7 for Vietnam)",
            raw.utc_offset_hours
        ));
    }
    if let Some(days) = &raw.school_days {
        cal.school_days = [false; 7];
        for (i, name) in days.iter().enumerate() {
            match calendar::parse_weekday(name) {
                Some(d) => cal.school_days[d.number_days_from_monday() as usize] = true,
                None => problems.push(format!(
                    "key `calendar.school_days[{i}]`: {name:?} is not a day; allowed: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\""
                )),
            }
        }
    }
    let mut clock = |key: &str, text: &str| match calendar::parse_clock(text) {
        Some(m) => m,
        None => {
            problems.push(format!(
                "key `calendar.{key}`: {text:?} is not a time of day; allowed: \"HH:MM\" from \"00:00\" to \"24:00\""
            ));
            0
        }
    };
    cal.day_start_minute = clock("day_start", &raw.day_start);
    cal.day_end_minute = clock("day_end", &raw.day_end);
    if cal.day_end_minute <= cal.day_start_minute && problems.is_empty() {
        problems.push(format!(
            "key `calendar.day_end`: {:?} is not after day_start {:?}; allowed: a later time the same day",
            raw.day_end, raw.day_start
        ));
    }
    for (i, text) in raw.holidays.iter().enumerate() {
        match calendar::parse_holiday(text) {
            Some(range) => cal.holidays.push(range),
            None => problems.push(format!(
                "key `calendar.holidays[{i}]`: {text:?} is not a date; allowed: \"YYYY-MM-DD\" or a range \"YYYY-MM-DD..YYYY-MM-DD\""
            )),
        }
    }
    cal
}

// === raw (file) form ===

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    #[serde(default)]
    link: RawLink,
    #[serde(default)]
    machine: RawMachine,
    #[serde(default)]
    equipment: RawEquipment,
    #[serde(default)]
    availability: RawAvailability,
    #[serde(default)]
    security: RawSecurity,
    #[serde(default)]
    calendar: RawCalendar,
}

/// `[calendar]`: every key optional; the default is every hour of every day.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    utc_offset_hours: f64,
    #[serde(default)]
    school_days: Option<Vec<String>>,
    #[serde(default = "default_day_start")]
    day_start: String,
    #[serde(default = "default_day_end")]
    day_end: String,
    #[serde(default)]
    holidays: Vec<String>,
}

impl Default for RawCalendar {
    fn default() -> Self {
        Self {
            utc_offset_hours: 0.0,
            school_days: None,
            day_start: default_day_start(),
            day_end: default_day_end(),
            holidays: Vec::new(),
        }
    }
}

fn default_day_start() -> String {
    "00:00".to_owned()
}
fn default_day_end() -> String {
    "24:00".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    #[serde(default = "default_baseline")]
    baseline: Vec<String>,
}

impl Default for RawSecurity {
    fn default() -> Self {
        Self {
            baseline: default_baseline(),
        }
    }
}

/// The plan's security measures: a firewall, endpoint protection, updates
/// applied, and no open door (empty passwords, extra root accounts).
fn default_baseline() -> Vec<String> {
    [
        "firewall_active",
        "endpoint_protection_running",
        "security_updates_pending",
        "automatic_updates_enabled",
        "empty_password_accounts",
        "extra_uid0_accounts",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    #[serde(default = "default_required_kind")]
    required_kind: LinkKind,
    #[serde(default = "default_min_download_mbps")]
    min_download_mbps: f64,
}

const fn default_required_kind() -> LinkKind {
    LinkKind::Fibre
}
const fn default_min_download_mbps() -> f64 {
    30.0
}

impl Default for RawLink {
    fn default() -> Self {
        Self {
            required_kind: default_required_kind(),
            min_download_mbps: default_min_download_mbps(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    /// A float so that e.g. 3.5 can allow for memory the OS reserves.
    #[serde(default = "default_min_memory_gib")]
    min_memory_gib: f64,
    #[serde(default = "default_min_logical_cores")]
    min_logical_cores: u32,
    #[serde(default = "default_min_disk_gib")]
    min_disk_gib: f64,
}

const fn default_min_memory_gib() -> f64 {
    4.0
}
const fn default_min_logical_cores() -> u32 {
    2
}
const fn default_min_disk_gib() -> f64 {
    100.0
}

impl Default for RawMachine {
    fn default() -> Self {
        Self {
            min_memory_gib: default_min_memory_gib(),
            min_logical_cores: default_min_logical_cores(),
            min_disk_gib: default_min_disk_gib(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEquipment {
    #[serde(default = "default_digital_record_share_2025")]
    digital_record_share_2025: f64,
    #[serde(default = "default_digital_record_share_2030")]
    digital_record_share_2030: f64,
}

const fn default_digital_record_share_2025() -> f64 {
    0.8
}
const fn default_digital_record_share_2030() -> f64 {
    1.0
}

impl Default for RawEquipment {
    fn default() -> Self {
        Self {
            digital_record_share_2025: default_digital_record_share_2025(),
            digital_record_share_2030: default_digital_record_share_2030(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAvailability {
    #[serde(default = "default_min_share")]
    min_share: f64,
}

const fn default_min_share() -> f64 {
    0.95
}

impl Default for RawAvailability {
    fn default() -> Self {
        Self {
            min_share: default_min_share(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_parses_and_equals_default() {
        let mut shipped = Targets::from_toml_str(include_str!("../../config/targets.toml"))
            .expect("shipped targets.toml");
        // The shipped file sets the province's school hours; without a
        // [calendar] every hour counts.
        assert_eq!(shipped.calendar.utc_offset_minutes, 7 * 60);
        assert_eq!(
            shipped.calendar.school_days,
            [true, true, true, true, true, true, false]
        );
        assert!(!shipped.calendar.holidays.is_empty());
        shipped.calendar = Calendar::default();
        assert_eq!(shipped, Targets::default());
    }

    #[test]
    fn default_is_the_plan() {
        assert_eq!(
            Targets::default(),
            Targets {
                link: LinkTarget {
                    required_kind: LinkKind::Fibre,
                    min_download_mbps: 30.0,
                },
                machine: MachineTarget {
                    min_memory_bytes: 4 * 1024 * 1024 * 1024,
                    min_logical_cores: 2,
                    min_disk_bytes: 100 * 1024 * 1024 * 1024,
                },
                equipment: EquipmentTarget {
                    digital_record_share_2025: 0.8,
                    digital_record_share_2030: 1.0,
                },
                availability: AvailabilityTarget { min_share: 0.95 },
                security: SecurityTarget {
                    baseline: [
                        "firewall_active",
                        "endpoint_protection_running",
                        "security_updates_pending",
                        "automatic_updates_enabled",
                        "empty_password_accounts",
                        "extra_uid0_accounts",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                },
                calendar: Calendar::default(),
            }
        );
    }

    #[test]
    fn calendar_mistakes_name_their_keys() {
        let e = Targets::from_toml_str(
            "[calendar]\nutc_offset_hours = 30\nschool_days = [\"mon\", \"funday\"]\nday_start = \"7am\"\nholidays = [\"2026-13-01\"]\n",
        )
        .unwrap_err();
        for key in [
            "calendar.utc_offset_hours",
            "calendar.school_days[1]",
            "calendar.day_start",
            "calendar.holidays[0]",
        ] {
            assert!(e.contains(&format!("key `{key}`")), "{key} missing in: {e}");
        }
        let e = Targets::from_toml_str("[calendar]\nday_start = \"17:00\"\nday_end = \"07:00\"\n")
            .unwrap_err();
        assert!(e.contains("key `calendar.day_end`"), "{e}");
        let ok = Targets::from_toml_str(
            "[calendar]\nutc_offset_hours = 7\nschool_days = [\"mon\"]\nday_start = \"07:30\"\nday_end = \"11:00\"\n",
        )
        .unwrap();
        assert_eq!(ok.calendar.utc_offset_minutes, 420);
        assert_eq!(
            ok.calendar.school_days,
            [true, false, false, false, false, false, false]
        );
        assert_eq!(
            (ok.calendar.day_start_minute, ok.calendar.day_end_minute),
            (450, 660)
        );
    }

    #[test]
    fn baseline_ids_are_checked() {
        let e = Targets::from_toml_str(
            "[security]\nbaseline = [\"firewall_active\", \"Firewall On\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("key `security.baseline[1]`"), "{e}");
        let t = Targets::from_toml_str("[security]\nbaseline = [\"firewall_active\"]\n").unwrap();
        assert_eq!(t.security.baseline, vec!["firewall_active".to_owned()]);
    }

    #[test]
    fn empty_file_is_default() {
        assert_eq!(Targets::from_toml_str(""), Ok(Targets::default()));
    }

    #[test]
    fn keys_given_override_only_themselves() {
        let t = Targets::from_toml_str(
            "[link]\nrequired_kind = \"broadband\"\nmin_download_mbps = 20\n\
             [machine]\nmin_memory_gib = 3.5\n",
        )
        .expect("valid");
        assert_eq!(t.link.required_kind, LinkKind::Broadband);
        assert_eq!(t.link.min_download_mbps, 20.0);
        assert_eq!(t.machine.min_memory_bytes, 3_758_096_384); // 3.5 × 2^30
        assert_eq!(t.machine.min_logical_cores, 2);
        assert_eq!(t.availability, Targets::default().availability);
    }

    #[test]
    fn unknown_key_names_the_key() {
        let e = Targets::from_toml_str("[machine]\nmin_memory_gb = 4\n").expect_err("unknown key");
        assert!(
            e.starts_with("key `machine.min_memory_gb`: unknown field"),
            "{e}"
        );
        assert!(e.contains("`min_memory_gib`"), "{e}"); // suggests the right key
    }

    #[test]
    fn unknown_section_names_the_section() {
        let e =
            Targets::from_toml_str("[links]\nrequired_kind = \"fibre\"\n").expect_err("unknown");
        assert!(e.starts_with("key `links`: unknown field"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e =
            Targets::from_toml_str("[machine]\nmin_memory_gib = \"four\"\n").expect_err("bad type");
        assert!(e.starts_with("key `machine.min_memory_gib`: "), "{e}");
        let e =
            Targets::from_toml_str("[machine]\nmin_logical_cores = -1\n").expect_err("negative");
        assert!(e.starts_with("key `machine.min_logical_cores`: "), "{e}");
    }

    #[test]
    fn bad_link_kind_names_the_key_and_allowed_values() {
        let e = Targets::from_toml_str("[link]\nrequired_kind = \"adsl\"\n").expect_err("bad kind");
        assert!(e.starts_with("key `link.required_kind`: "), "{e}");
        assert!(e.contains("fibre") && e.contains("4g"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_all_reported_with_their_keys() {
        let e = Targets::from_toml_str(
            "[link]\nmin_download_mbps = -1\n\
             [machine]\nmin_memory_gib = nan\nmin_logical_cores = 0\nmin_disk_gib = inf\n\
             [equipment]\ndigital_record_share_2025 = 1.2\ndigital_record_share_2030 = 0.5\n\
             [availability]\nmin_share = -0.1\n",
        )
        .expect_err("out of range");
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines,
            [
                "key `link.min_download_mbps`: -1 is not allowed; allowed: a finite number, 0 or more",
                "key `machine.min_memory_gib`: NaN is not allowed; allowed: a finite number, 0 or more",
                "key `machine.min_disk_gib`: inf is not allowed; allowed: a finite number, 0 or more",
                "key `equipment.digital_record_share_2025`: 1.2 is not a share; allowed: 0 to 1",
                "key `availability.min_share`: -0.1 is not a share; allowed: 0 to 1",
                "key `machine.min_logical_cores`: 0 is not allowed; allowed: 1 or more",
                "key `equipment.digital_record_share_2030`: 0.5 is below the 2025 share 1.2; allowed: at least the 2025 share",
            ]
        );
    }

    #[test]
    fn syntax_error_is_reported() {
        let e = Targets::from_toml_str("[machine\n").expect_err("syntax");
        assert!(e.starts_with("TOML syntax: "), "{e}");
    }

    #[test]
    fn fibre_meets_a_broadband_target_but_not_the_reverse() {
        let fibre = Targets::default().link;
        assert!(fibre.is_met_by(LinkKind::Fibre));
        assert!(!fibre.is_met_by(LinkKind::Broadband));
        assert!(!fibre.is_met_by(LinkKind::FourG));
        let broadband = LinkTarget {
            required_kind: LinkKind::Broadband,
            min_download_mbps: 30.0,
        };
        assert!(broadband.is_met_by(LinkKind::Fibre));
        assert!(broadband.is_met_by(LinkKind::Broadband));
        assert!(!broadband.is_met_by(LinkKind::Satellite));
    }
}
