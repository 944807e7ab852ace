//! What a status page is made of: titled tables of typed cells. The same
//! [`Table`] renders as HTML (`html.rs`, localized, with progress bars) and
//! as CSV (`csv.rs`, raw values), so every table on a page has its CSV and
//! the two always agree.

/// One page: a title, the way back up (breadcrumbs) and its tables.
pub struct Page {
    /// The page's heading.
    pub title: String,
    /// Links up the hierarchy, province first: (text, href).
    pub crumbs: Vec<(String, String)>,
    /// Tables in display order; each has a CSV export.
    pub tables: Vec<Table>,
}

/// One table.
pub struct Table {
    /// Stable id: the HTML id and the `table=` of its CSV link.
    pub id: &'static str,
    /// Heading above it.
    pub title: String,
    /// A line below the heading (e.g. how rows are ordered).
    pub note: Option<String>,
    /// Columns, in order.
    pub columns: Vec<Column>,
    /// Rows; each has one cell per column.
    pub rows: Vec<Row>,
}

/// One column.
pub struct Column {
    /// Stable key: `data-col` in HTML (tests and scripts select by it).
    pub key: &'static str,
    /// Header for people, in the page's language (also the CSV header).
    pub header: &'static str,
    /// Holds [`Cell::Frac`] values: two CSV columns (count and total).
    pub frac: bool,
}

impl Column {
    /// A column of single values.
    pub fn new(key: &'static str, header: &'static str) -> Self {
        Self {
            key,
            header,
            frac: false,
        }
    }

    /// A column of "count of total" values.
    pub fn frac(key: &'static str, header: &'static str) -> Self {
        Self {
            key,
            header,
            frac: true,
        }
    }
}

/// One row.
pub struct Row {
    /// Stable key: `data-key` in HTML (a school id, a district name, ...).
    pub key: String,
    /// Emphasis for the whole row.
    pub class: Option<&'static str>,
    /// Cells, one per column.
    pub cells: Vec<Cell>,
}

/// A typed value: HTML shows it for people in the page's language, CSV
/// writes the raw value (ratios 0..1, bytes, seconds, RFC 3339 times),
/// as `coverage --format csv` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing known.
    Empty,
    /// Plain text (untrusted text is escaped when rendered).
    Text(String),
    /// A link to a drill-down page.
    Link {
        /// Link text.
        text: String,
        /// Target, built by the page (always under `/status`).
        href: String,
    },
    /// A count.
    Int(u64),
    /// "num of den" with a progress bar.
    Frac {
        /// What meets the target.
        num: u64,
        /// Out of how many.
        den: u64,
    },
    /// A share 0..=1 of a target, with a progress bar; `None` unknown.
    Share(Option<f64>),
    /// A share 0..=1 without a bar (loss, CPU use); `None` unknown.
    Ratio(Option<f64>),
    /// Bytes.
    Bytes(u64),
    /// A bit rate, bits per second.
    Rate(f64),
    /// A round trip in seconds, shown in ms; `None` unknown.
    Rtt(Option<f64>),
    /// A moment, ms since the epoch, shown in the calendar's local time.
    Time(Option<i64>),
    /// A length of time, ms.
    Span(i64),
    /// A judgement: good (`Some(true)`), bad, or neutral; `csv` is the
    /// machine-readable code written to CSV.
    Badge {
        /// Good, bad or neutral.
        ok: Option<bool>,
        /// For people.
        text: String,
        /// For CSV.
        csv: String,
    },
}

impl Cell {
    /// A neutral badge-free value with a code for CSV and a label for
    /// people.
    pub fn coded(text: impl Into<String>, csv: impl Into<String>) -> Self {
        Cell::Badge {
            ok: None,
            text: text.into(),
            csv: csv.into(),
        }
    }

    /// Text, or [`Cell::Empty`] when empty.
    pub fn text(s: impl Into<String>) -> Self {
        let s = s.into();
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    }
}

/// Percent-encodes one URL path segment (everything but unreserved
/// characters), so a district like `Chư Păh` or any registry id is safe
/// in a link.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("t-a_1.x~"), "t-a_1.x~");
        assert_eq!(encode_segment("Chư Păh"), "Ch%C6%B0%20P%C4%83h");
        assert_eq!(encode_segment("../x?y#z"), "..%2Fx%3Fy%23z");
    }
}
