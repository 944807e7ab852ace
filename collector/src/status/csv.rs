//! A status table as CSV, for reports to the department.
//!
//! Raw values, as `coverage --format csv` writes them: ratios 0..1, bytes,
//! bits per second, seconds, RFC 3339 times in UTC, `true`/`false`. A
//! "count of total" column becomes two columns. Headers are in the page's
//! language. The file starts with a UTF-8 byte-order mark so that Excel
//! reads Vietnamese correctly, and a text cell that a spreadsheet would
//! run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`:
//! registry names and host names are untrusted.

use super::table::{Cell, Table};

/// The CSV text of `table`; `total` names the second column of a
/// count-of-total pair ("total" / "tổng").
pub fn render(table: &Table, total: &str) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let mut header = Vec::new();
    for c in &table.columns {
        header.push(c.header.to_owned());
        if c.frac {
            header.push(format!("{} ({total})", c.header));
        }
    }
    w.write_record(&header)?;
    for row in &table.rows {
        let mut record = Vec::with_capacity(header.len());
        for (col, cell) in table.columns.iter().zip(&row.cells) {
            match cell {
                Cell::Frac { num, den } => {
                    record.push(num.to_string());
                    record.push(den.to_string());
                }
                other => {
                    record.push(value(other));
                    if col.frac {
                        record.push(String::new());
                    }
                }
            }
        }
        w.write_record(&record)?;
    }
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The raw value of a cell, as CSV writes it (and HTML's `data-value`).
pub fn value(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => defuse(s),
        Cell::Link { text, .. } => defuse(text),
        Cell::Int(n) | Cell::Bytes(n) => n.to_string(),
        Cell::Frac { num, den } => format!("{num}/{den}"),
        Cell::Share(v) | Cell::Ratio(v) | Cell::Rtt(v) => {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        Cell::Rate(v) => v.to_string(),
        Cell::Time(ms) => ms.map(rfc3339).unwrap_or_default(),
        Cell::Span(ms) => (ms / 1000).to_string(),
        Cell::Badge { csv, .. } => defuse(csv),
    }
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Makes text inert in a spreadsheet (OWASP "CSV injection").
fn defuse(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{Column, Row};
    use super::*;

    #[test]
    fn fractions_split_and_formulas_are_defused() {
        let t = Table {
            id: "t",
            title: "T".into(),
            note: None,
            columns: vec![
                Column::new("name", "Trường"),
                Column::frac("lab", "Máy phòng tin học"),
                Column::new("avail", "Availability"),
                Column::new("since", "Since"),
            ],
            rows: vec![Row {
                key: "a".into(),
                class: None,
                cells: vec![
                    Cell::Text("=HYPERLINK(\"x\")".into()),
                    Cell::Frac { num: 2, den: 20 },
                    Cell::Share(Some(0.875)),
                    Cell::Time(Some(0)),
                ],
            }],
        };
        let bytes = render(&t, "tổng").unwrap();
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "Trường,Máy phòng tin học,Máy phòng tin học (tổng),Availability,Since\n\
             \"'=HYPERLINK(\"\"x\"\")\",2,20,0.875,1970-01-01T00:00:00Z\n"
        );
    }
}
