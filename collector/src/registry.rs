//! The school registry: which schools exist, where, at what level, on what
//! link, and how many lab PCs each should have.
//!
//! The registry is a CSV file kept by the department (`config/schools.csv`
//! ships a sample for the province). This module owns its row type
//! [`School`], the [`Level`] and [`LinkKind`] vocabularies, and
//! [`parse_csv`], which validates the whole file and reports every problem at
//! once. It does no file I/O: callers read the file and pass the text.
//!
//! ```text
//! id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps
//! gl-0001,"Sample Primary School 1, Pleiku",Pleiku,primary,20,fibre,100
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The registry's columns, in the order the sample file writes them. A
/// registry must have each exactly once (in any order) and no others.
pub const COLUMNS: [&str; 7] = [
    "id",
    "name",
    "district",
    "level",
    "expected_lab_pcs",
    "link_kind",
    "contracted_mbps",
];

/// Columns a registry may have; a registry without them means 0.
pub const OPTIONAL_COLUMNS: [&str; 1] = ["expected_devices"];

/// Longest accepted school id, in bytes; ids end up in URLs and labels.
pub const MAX_ID_BYTES: usize = 64;

/// Longest accepted school or district name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// One school (or office) as the department registers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct School {
    /// Stable id, `[A-Za-z0-9._-]{1,64}`; agents enrol against it.
    pub id: String,
    /// Display name, for people.
    pub name: String,
    /// District the school is in (for DoET-run schools too), the unit of the
    /// district roll-up.
    pub district: String,
    /// Level of education.
    pub level: Level,
    /// Lab PCs the school should have (0 when it has no computer lab); the
    /// denominator of lab coverage.
    pub expected_lab_pcs: u32,
    /// The Internet link the school is contracted on.
    pub link_kind: LinkKind,
    /// Contracted download bandwidth, Mbit/s.
    pub contracted_mbps: f64,
    /// Network devices the school should have on record (switches,
    /// routers, printers, UPS units, projectors, ...): optional column
    /// `expected_devices`, 0 when absent. With `expected_lab_pcs`, the
    /// denominator of the equipment-with-a-digital-record share.
    #[serde(default)]
    pub expected_devices: u32,
}

/// Level of education of a registered school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Primary school (grades 1-5).
    Primary,
    /// Lower-secondary school (grades 6-9).
    LowerSecondary,
    /// Upper-secondary school (grades 10-12), DoET-run.
    UpperSecondary,
    /// Continuing-education centre.
    Continuing,
    /// An education office (department or district), not a school.
    Office,
}

/// The kind of Internet link a school is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// Fibre to the premises: the plan's target.
    Fibre,
    /// Other fixed broadband (ADSL, cable).
    Broadband,
    /// Mobile 4G.
    #[serde(rename = "4g")]
    FourG,
    /// Satellite.
    Satellite,
    /// No Internet link.
    None,
}

/// A text value that names no variant of [`Level`] or [`LinkKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what}; allowed: {allowed}")]
pub struct UnknownValue {
    /// The text given.
    pub value: String,
    /// What was expected, e.g. `level`.
    pub what: &'static str,
    /// The accepted spellings, comma-separated.
    pub allowed: &'static str,
}

/// Every problem found in a registry file, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", Problems(.problems))]
pub struct RegistryError {
    /// One entry per problem; never empty.
    pub problems: Vec<Problem>,
}

/// One problem in a registry file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file (the header is line 1); for a record that
    /// spans lines (a quoted newline), the line it starts on.
    pub line: u64,
    /// The column, when the problem is in one field.
    pub column: Option<&'static str>,
    /// What is wrong, and what is allowed where that helps.
    pub message: String,
}

/// Parses and validates a registry CSV.
///
/// Fields are trimmed of surrounding whitespace; blank lines are skipped. All
/// problems are collected before returning, so one run shows the IT person
/// everything to fix.
pub fn parse_csv(text: &str) -> Result<Vec<School>, RegistryError> {
    let mut problems = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());

    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(RegistryError {
                problems: vec![Problem {
                    line: 1,
                    column: None,
                    message: format!("unreadable header: {e}"),
                }],
            });
        }
    };
    let (index, devices_column) = match column_index(&headers) {
        Ok(index) => index,
        Err(problems) => return Err(RegistryError { problems }),
    };

    let mut schools = Vec::new();
    let mut first_line_of_id: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = lines.line_of(e.position());
                problems.push(Problem {
                    line,
                    column: None,
                    message: format!("unreadable record: {e}"),
                });
                // A reader over a byte slice cannot fail with I/O; anything
                // else is per record, so carry on with the next one.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = lines.line_of(record.position());
        if record.len() != headers.len() {
            problems.push(Problem {
                line,
                column: None,
                message: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let field = |column: usize| &record[index[column]];
        let before = problems.len();
        let mut bad = |column: &'static str, message: String| {
            problems.push(Problem {
                line,
                column: Some(column),
                message,
            });
        };

        let id = field(0);
        if let Err(m) = check_id(id) {
            bad("id", m);
        }
        let name = field(1);
        if let Err(m) = check_name(name) {
            bad("name", m);
        }
        let district = field(2);
        if let Err(m) = check_name(district) {
            bad("district", m);
        }
        let level = field(3)
            .parse::<Level>()
            .map_err(|e| bad("level", e.to_string()))
            .ok();
        let expected_lab_pcs = field(4)
            .parse::<u32>()
            .map_err(|_| {
                bad(
                    "expected_lab_pcs",
                    format!(
                        "`{}` is not a count of PCs; allowed: a whole number, 0 or more",
                        field(4)
                    ),
                );
            })
            .ok();
        let expected_devices = match devices_column.map(|c| &record[c]) {
            None | Some("") => Some(0),
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| {
                    bad(
                        "expected_devices",
                        format!(
                            "`{v}` is not a count of devices; allowed: a whole number, 0 or more, or empty"
                        ),
                    );
                })
                .ok(),
        };
        let link_kind = field(5)
            .parse::<LinkKind>()
            .map_err(|e| bad("link_kind", e.to_string()))
            .ok();
        let contracted_mbps = match field(6).parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => {
                bad(
                    "contracted_mbps",
                    format!(
                        "`{}` is not a bandwidth in Mbit/s; allowed: a finite number, 0 or more",
                        field(6)
                    ),
                );
                None
            }
        };

        if !id.is_empty() {
            if let Some(first) = first_line_of_id.get(id) {
                problems.push(Problem {
                    line,
                    column: Some("id"),
                    message: format!("duplicate id `{id}`, already on line {first}"),
                });
            } else {
                first_line_of_id.insert(id.to_owned(), line);
            }
        }

        if problems.len() == before
            && let (
                Some(level),
                Some(expected_lab_pcs),
                Some(link_kind),
                Some(contracted_mbps),
                Some(expected_devices),
            ) = (
                level,
                expected_lab_pcs,
                link_kind,
                contracted_mbps,
                expected_devices,
            )
        {
            schools.push(School {
                id: id.to_owned(),
                name: name.to_owned(),
                district: district.to_owned(),
                level,
                expected_lab_pcs,
                link_kind,
                contracted_mbps,
                expected_devices,
            });
        }
    }

    if problems.is_empty() {
        Ok(schools)
    } else {
        Err(RegistryError { problems })
    }
}

/// Maps each of [`COLUMNS`] to its position in the header (and the
/// optional `expected_devices`, when present), or says which columns are
/// missing, unknown or repeated.
fn column_index(headers: &csv::StringRecord) -> Result<([usize; 7], Option<usize>), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut index = [usize::MAX; 7];
    let mut devices = None;
    let allowed = COLUMNS
        .iter()
        .chain(&OPTIONAL_COLUMNS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    for (pos, name) in headers.iter().enumerate() {
        if name == OPTIONAL_COLUMNS[0] {
            if devices.replace(pos).is_some() {
                problems.push(Problem {
                    line: 1,
                    column: Some(OPTIONAL_COLUMNS[0]),
                    message: "appears twice in the header".to_owned(),
                });
            }
            continue;
        }
        match COLUMNS.iter().position(|c| *c == name) {
            Some(i) if index[i] != usize::MAX => problems.push(Problem {
                line: 1,
                column: Some(COLUMNS[i]),
                message: "appears twice in the header".to_owned(),
            }),
            Some(i) => index[i] = pos,
            None => problems.push(Problem {
                line: 1,
                column: None,
                message: format!("unknown column `{name}` in the header; allowed: {allowed}"),
            }),
        }
    }
    for (i, column) in COLUMNS.iter().enumerate() {
        if index[i] == usize::MAX {
            problems.push(Problem {
                line: 1,
                column: Some(column),
                message: format!("missing from the header; required: {}", COLUMNS.join(", ")),
            });
        }
    }
    if problems.is_empty() {
        Ok((index, devices))
    } else {
        Err(problems)
    }
}

/// Turns csv record positions into 1-based file lines.
///
/// The csv crate's own `Position::line` skips blank lines and miscounts CRLF
/// files, and its byte offset points just past the previous record, before
/// any blank lines. So: take the byte offset, step over line breaks to where
/// the record really starts, and count newlines up to there. Records come in
/// file order, so counting resumes from the previous record.
struct LineCounter<'a> {
    text: &'a [u8],
    /// Byte offset counted up to, and the line it is on.
    byte: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    fn line_of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let mut start =
            usize::try_from(position.byte()).map_or(self.text.len(), |b| b.min(self.text.len()));
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start >= self.byte {
            self.line += self.text[self.byte..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.byte = start;
        }
        self.line
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty; allowed: 1 to 64 of A-Z a-z 0-9 . _ -".to_owned());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{} bytes long; allowed: at most {MAX_ID_BYTES} bytes",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("`{id}` contains {c:?}; allowed: A-Z a-z 0-9 . _ -"));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "empty; allowed: 1 to {MAX_NAME_BYTES} bytes of text"
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{} bytes long; allowed: at most {MAX_NAME_BYTES} bytes",
            name.len()
        ));
    }
    Ok(())
}

// === impl RegistryError ===

/// Displays problems one per line.
struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(column) = self.column {
            write!(f, "column `{column}`: ")?;
        }
        f.write_str(&self.message)
    }
}

// === impl Level ===

impl Level {
    /// Every level, in order of schooling.
    pub const ALL: [Level; 5] = [
        Level::Primary,
        Level::LowerSecondary,
        Level::UpperSecondary,
        Level::Continuing,
        Level::Office,
    ];

    const ALLOWED: &'static str = "primary, lower-secondary, upper-secondary, continuing, office";

    /// The spelling used in the registry, JSON and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Primary => "primary",
            Level::LowerSecondary => "lower-secondary",
            Level::UpperSecondary => "upper-secondary",
            Level::Continuing => "continuing",
            Level::Office => "office",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownValue {
                value: s.to_owned(),
                what: "level",
                allowed: Level::ALLOWED,
            })
    }
}

// === impl LinkKind ===

impl LinkKind {
    /// Every link kind.
    pub const ALL: [LinkKind; 5] = [
        LinkKind::Fibre,
        LinkKind::Broadband,
        LinkKind::FourG,
        LinkKind::Satellite,
        LinkKind::None,
    ];

    const ALLOWED: &'static str = "fibre, broadband, 4g, satellite, none";

    /// The spelling used in the registry, JSON and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkKind::Fibre => "fibre",
            LinkKind::Broadband => "broadband",
            LinkKind::FourG => "4g",
            LinkKind::Satellite => "satellite",
            LinkKind::None => "none",
        }
    }

    /// Fixed broadband (fibre or other wired broadband), the plan's 91.5 %.
    pub const fn is_fixed(self) -> bool {
        matches!(self, LinkKind::Fibre | LinkKind::Broadband)
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LinkKind {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LinkKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownValue {
                value: s.to_owned(),
                what: "link kind",
                allowed: LinkKind::ALLOWED,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const HEADER: &str = "id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps\n";

    fn with_header(rows: &str) -> String {
        format!("{HEADER}{rows}")
    }

    fn problems(text: &str) -> Vec<Problem> {
        parse_csv(text).expect_err("expected problems").problems
    }

    fn lines(text: &str) -> Vec<String> {
        parse_csv(text)
            .expect_err("expected problems")
            .to_string()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The province's districts in MISSION.md order, with the schools each
    /// district office owns in the rollout list (Chư Sê and Ia Grai: none).
    const MISSION_DISTRICT_OWNED: [(&str, u32); 17] = [
        ("Pleiku", 66),
        ("An Khê", 24),
        ("Ayun Pa", 21),
        ("Chư Păh", 39),
        ("Chư Prông", 56),
        ("Chư Pưh", 31),
        ("Chư Sê", 0),
        ("Đak Đoa", 19),
        ("Đak Pơ", 3),
        ("Đức Cơ", 17),
        ("Ia Grai", 0),
        ("Ia Pa", 28),
        ("Kbang", 43),
        ("Kông Chro", 30),
        ("Krông Pa", 19),
        ("Mang Yang", 36),
        ("Phú Thiện", 39),
    ];
    const MISSION_DOET_RUN: u32 = 48;

    #[test]
    fn shipped_registry_matches_mission() {
        let schools =
            parse_csv(include_str!("../../config/schools.csv")).expect("shipped registry");
        assert_eq!(schools.len(), 519);

        // Expected per district: its own schools plus its round-robin share
        // of the 48 DoET-run schools (dealt in MISSION order: the first
        // 48 % 17 = 14 districts get 3, the last 3 get 2).
        let n = MISSION_DISTRICT_OWNED.len() as u32;
        let expected: BTreeMap<&str, u32> = MISSION_DISTRICT_OWNED
            .iter()
            .enumerate()
            .map(|(i, (d, owned))| {
                let extra = u32::from((i as u32) < MISSION_DOET_RUN % n);
                (*d, owned + MISSION_DOET_RUN / n + extra)
            })
            .collect();
        assert_eq!(expected.values().sum::<u32>(), 519);

        let mut actual: BTreeMap<&str, u32> = BTreeMap::new();
        for s in &schools {
            *actual.entry(s.district.as_str()).or_default() += 1;
        }
        assert_eq!(actual.len(), 17);
        assert_eq!(actual, expected);

        let fibre = schools
            .iter()
            .filter(|s| s.link_kind == LinkKind::Fibre)
            .count();
        let four_g = schools
            .iter()
            .filter(|s| s.link_kind == LinkKind::FourG)
            .count();
        assert_eq!((fibre, four_g), (475, 44));
        assert!(
            schools
                .iter()
                .filter(|s| s.link_kind == LinkKind::FourG)
                .all(|s| s.contracted_mbps == 25.0 && s.district != "Pleiku")
        );
        let doet = schools
            .iter()
            .filter(|s| matches!(s.level, Level::UpperSecondary | Level::Continuing))
            .count();
        assert_eq!(doet, 48);
    }

    #[test]
    fn vietnamese_names_round_trip() {
        let text = with_header(
            "gl-1,\"Trường Tiểu học Số 1, Đức Cơ\",Đức Cơ,primary,20,4g,25\n\
             gl-2,Trường THCS Kông Chro,Kông Chro,lower-secondary,0,fibre,100.5\n",
        );
        let schools = parse_csv(&text).expect("valid");
        assert_eq!(
            schools[0],
            School {
                id: "gl-1".into(),
                name: "Trường Tiểu học Số 1, Đức Cơ".into(),
                district: "Đức Cơ".into(),
                level: Level::Primary,
                expected_lab_pcs: 20,
                link_kind: LinkKind::FourG,
                contracted_mbps: 25.0,
                expected_devices: 0,
            }
        );
        assert_eq!(schools[1].district, "Kông Chro");
        assert_eq!(schools[1].contracted_mbps, 100.5);

        // And through JSON, with the enums' text spellings.
        let json = serde_json::to_string(&schools[0]).expect("serialize");
        assert!(json.contains("\"level\":\"primary\"") && json.contains("\"link_kind\":\"4g\""));
        let back: School = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, schools[0]);
    }

    #[test]
    fn enum_spellings_agree_with_serde_and_from_str() {
        for l in Level::ALL {
            assert_eq!(serde_json::to_string(&l).expect("ser"), format!("\"{l}\""));
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
            assert!(Level::ALLOWED.split(", ").any(|a| a == l.as_str()));
        }
        for k in LinkKind::ALL {
            assert_eq!(serde_json::to_string(&k).expect("ser"), format!("\"{k}\""));
            assert_eq!(k.as_str().parse::<LinkKind>(), Ok(k));
            assert!(LinkKind::ALLOWED.split(", ").any(|a| a == k.as_str()));
        }
        assert_eq!(Level::ALLOWED.split(", ").count(), Level::ALL.len());
        assert_eq!(LinkKind::ALLOWED.split(", ").count(), LinkKind::ALL.len());
        assert!(LinkKind::Fibre.is_fixed() && LinkKind::Broadband.is_fixed());
        assert!(!LinkKind::FourG.is_fixed() && !LinkKind::Satellite.is_fixed());
        assert!(!LinkKind::None.is_fixed());
    }

    #[test]
    fn expected_devices_is_optional_and_checked() {
        let text = "id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps,expected_devices\n\
                    a1,A,Pleiku,primary,20,fibre,100,12\n\
                    a2,B,Pleiku,primary,20,fibre,100,\n\
                    a3,C,Pleiku,primary,20,fibre,100,many\n";
        let err = parse_csv(text).expect_err("a3 is wrong");
        assert_eq!(
            err.to_string(),
            "line 4: column `expected_devices`: `many` is not a count of devices; allowed: a whole number, 0 or more, or empty"
        );
        let ok = parse_csv(&text.replace("many", "0")).expect("valid");
        assert_eq!(
            ok.iter().map(|s| s.expected_devices).collect::<Vec<_>>(),
            [12, 0, 0]
        );
        // Without the column, every school expects none.
        let without = parse_csv(&with_header("a1,A,Pleiku,primary,20,fibre,100\n")).expect("valid");
        assert_eq!(without[0].expected_devices, 0);
    }

    #[test]
    fn header_in_another_order_is_accepted() {
        let text = "name,id,district,level,expected_lab_pcs,link_kind,contracted_mbps\n\
                    School A,a1,Pleiku,office,0,none,0\n";
        let schools = parse_csv(text).expect("valid");
        assert_eq!(schools[0].id, "a1");
        assert_eq!(schools[0].name, "School A");
        assert_eq!(schools[0].level, Level::Office);
    }

    #[test]
    fn header_missing_unknown_and_repeated_columns() {
        let text = "id,name,district,level,expected_lab_pcs,link,contracted_mbps,id\n";
        assert_eq!(
            lines(text),
            [
                "line 1: unknown column `link` in the header; allowed: id, name, district, level, expected_lab_pcs, link_kind, contracted_mbps, expected_devices",
                "line 1: column `id`: appears twice in the header",
                "line 1: column `link_kind`: missing from the header; required: id, name, district, level, expected_lab_pcs, link_kind, contracted_mbps",
            ]
        );
    }

    #[test]
    fn empty_text_reports_every_missing_column() {
        let p = problems("");
        assert_eq!(p.len(), 7);
        assert!(p.iter().all(|p| p.line == 1));
    }

    #[test]
    fn id_must_be_non_empty() {
        let text = with_header(",A,Pleiku,primary,0,fibre,30\n");
        assert_eq!(
            lines(&text),
            ["line 2: column `id`: empty; allowed: 1 to 64 of A-Z a-z 0-9 . _ -"]
        );
    }

    #[test]
    fn id_at_most_64_bytes() {
        let ok = "a".repeat(64);
        let long = "a".repeat(65);
        let text = with_header(&format!(
            "{ok},A,Pleiku,primary,0,fibre,30\n{long},B,Pleiku,primary,0,fibre,30\n"
        ));
        assert_eq!(
            lines(&text),
            ["line 3: column `id`: 65 bytes long; allowed: at most 64 bytes"]
        );
    }

    #[test]
    fn id_charset() {
        let text = with_header(
            "a.b_c-D9,A,Pleiku,primary,0,fibre,30\n\
             gl 2,B,Pleiku,primary,0,fibre,30\n\
             gl/3,C,Pleiku,primary,0,fibre,30\n\
             trường,D,Pleiku,primary,0,fibre,30\n",
        );
        assert_eq!(
            lines(&text),
            [
                "line 3: column `id`: `gl 2` contains ' '; allowed: A-Z a-z 0-9 . _ -",
                "line 4: column `id`: `gl/3` contains '/'; allowed: A-Z a-z 0-9 . _ -",
                "line 5: column `id`: `trường` contains 'ư'; allowed: A-Z a-z 0-9 . _ -",
            ]
        );
    }

    #[test]
    fn name_and_district_non_empty_and_bounded() {
        let long = "Đ".repeat(101); // 202 bytes
        let text = with_header(&format!(
            "a,,Pleiku,primary,0,fibre,30\n\
             b,B,,primary,0,fibre,30\n\
             c,{long},Pleiku,primary,0,fibre,30\n\
             d,D,{long},primary,0,fibre,30\n"
        ));
        assert_eq!(
            lines(&text),
            [
                "line 2: column `name`: empty; allowed: 1 to 200 bytes of text",
                "line 3: column `district`: empty; allowed: 1 to 200 bytes of text",
                "line 4: column `name`: 202 bytes long; allowed: at most 200 bytes",
                "line 5: column `district`: 202 bytes long; allowed: at most 200 bytes",
            ]
        );
    }

    #[test]
    fn duplicate_ids_name_both_lines() {
        let text = with_header(
            "gl-1,A,Pleiku,primary,0,fibre,30\n\
             gl-2,B,Pleiku,primary,0,fibre,30\n\
             gl-1,C,Pleiku,primary,0,fibre,30\n",
        );
        assert_eq!(
            lines(&text),
            ["line 4: column `id`: duplicate id `gl-1`, already on line 2"]
        );
    }

    #[test]
    fn contracted_mbps_finite_and_not_negative() {
        let text = with_header(
            "a,A,Pleiku,primary,0,fibre,0\n\
             b,B,Pleiku,primary,0,fibre,-1\n\
             c,C,Pleiku,primary,0,fibre,NaN\n\
             d,D,Pleiku,primary,0,fibre,inf\n\
             e,E,Pleiku,primary,0,fibre,fast\n",
        );
        let p = problems(&text);
        assert_eq!(
            p.iter().map(|p| (p.line, p.column)).collect::<Vec<_>>(),
            [3, 4, 5, 6].map(|l| (l, Some("contracted_mbps")))
        );
        assert_eq!(
            p[0].to_string(),
            "line 3: column `contracted_mbps`: `-1` is not a bandwidth in Mbit/s; allowed: a finite number, 0 or more"
        );
    }

    #[test]
    fn expected_lab_pcs_whole_number() {
        let text = with_header("a,A,Pleiku,primary,-3,fibre,30\nb,B,Pleiku,primary,2.5,fibre,30\n");
        assert_eq!(
            lines(&text),
            [
                "line 2: column `expected_lab_pcs`: `-3` is not a count of PCs; allowed: a whole number, 0 or more",
                "line 3: column `expected_lab_pcs`: `2.5` is not a count of PCs; allowed: a whole number, 0 or more",
            ]
        );
    }

    #[test]
    fn bad_enum_values_list_allowed() {
        let text = with_header("a,A,Pleiku,high-school,0,adsl,30\n");
        assert_eq!(
            lines(&text),
            [
                "line 2: column `level`: `high-school` is not a level; allowed: primary, lower-secondary, upper-secondary, continuing, office",
                "line 2: column `link_kind`: `adsl` is not a link kind; allowed: fibre, broadband, 4g, satellite, none",
            ]
        );
    }

    #[test]
    fn wrong_field_count_is_reported_and_parsing_continues() {
        let text = with_header(
            "a,A,Pleiku,primary,0,fibre\n\
             b,B,Pleiku,primary,0,fibre,30,extra\n\
             c,C,Pleiku,primary,0,satellite,x\n",
        );
        assert_eq!(
            lines(&text),
            [
                "line 2: has 6 fields, the header has 7",
                "line 3: has 8 fields, the header has 7",
                "line 4: column `contracted_mbps`: `x` is not a bandwidth in Mbit/s; allowed: a finite number, 0 or more",
            ]
        );
    }

    #[test]
    fn line_numbers_count_file_lines() {
        // A quoted newline makes record 1 span lines 2-3; blank line 4 is
        // skipped; the bad record starts on line 5.
        let text = with_header(
            "a,\"Two\nlines\",Pleiku,primary,0,fibre,30\n\
             \n\
             b,B,Pleiku,primary,0,fibre,-5\n",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 5);
    }

    #[test]
    fn line_numbers_in_crlf_files_with_blank_lines() {
        let text = "id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps\r\n\
                    \r\n\
                    \r\n\
                    a,A,Pleiku,primary,0,fibre,-1\r\n\
                    b,\"B\r\nB\",Pleiku,primary,0,fibre,30\r\n\
                    c,C,Pleiku,primary,0,fibre,-2\r\n";
        let p = problems(text);
        assert_eq!(p.iter().map(|p| p.line).collect::<Vec<_>>(), [4, 7]);
    }

    #[test]
    fn every_problem_reported_at_once() {
        let text = with_header(
            ",,,nope,x,nope,x\n\
             ok,Fine,Pleiku,primary,0,fibre,30\n",
        );
        let p = problems(&text);
        let columns: Vec<_> = p.iter().filter_map(|p| p.column).collect();
        assert_eq!(
            columns,
            [
                "id",
                "name",
                "district",
                "level",
                "expected_lab_pcs",
                "link_kind",
                "contracted_mbps"
            ]
        );
    }

    #[test]
    fn byte_order_mark_from_spreadsheet_export_is_ignored() {
        let text = format!("\u{feff}{HEADER}a,A,Pleiku,primary,0,fibre,30\n");
        assert_eq!(parse_csv(&text).expect("valid")[0].id, "a");
    }

    #[test]
    fn header_only_is_an_empty_registry() {
        assert_eq!(parse_csv(HEADER), Ok(vec![]));
    }
}
