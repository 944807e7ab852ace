//! Turning untrusted bytes into a [`Report`].

use crate::{LimitError, Limits, Report, SCHEMA_VERSION};
use serde::Deserialize;
use thiserror::Error;

/// Why a report was refused. Each variant maps to one HTTP answer at the
/// collector (413 for size, 422 for version and limits, 400 for the rest).
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The encoded report is larger than [`Limits::max_report_bytes`].
    #[error("report is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed report: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The report declares no version or one this build does not know.
    #[error(
        "report schema version {got} is not supported (this build reads 1 to {max}); upgrade the collector before the agents"
    )]
    UnsupportedVersion {
        /// Version the report declares.
        got: u64,
        /// Newest version this build reads.
        max: u32,
    },
    /// Well-formed, but over a limit or with an impossible value.
    #[error("report refused: {0}")]
    Limit(#[from] LimitError),
}

/// Only the version, read first so that a newer schema is refused by its
/// number rather than by whatever field it added.
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<u64>,
}

/// Decodes one JSON report with the default [`Limits`].
pub fn decode_report(bytes: &[u8]) -> Result<Report, DecodeError> {
    decode_report_with(bytes, &Limits::DEFAULT)
}

/// Decodes one JSON report, enforcing `limits`.
pub fn decode_report_with(bytes: &[u8], limits: &Limits) -> Result<Report, DecodeError> {
    if bytes.len() > limits.max_report_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_report_bytes,
        });
    }
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(DecodeError::Malformed)?;
    match probe.version {
        Some(v) if (1..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
        other => {
            return Err(DecodeError::UnsupportedVersion {
                got: other.unwrap_or(0),
                max: SCHEMA_VERSION,
            });
        }
    }
    let report: Report = serde_json::from_slice(bytes).map_err(DecodeError::Malformed)?;
    limits.check(&report)?;
    Ok(report)
}

/// A batch of reports, as an agent POSTs it to the collector.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Reports, oldest first.
    pub reports: Vec<Report>,
}

/// The batch's shape before each report is decoded on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch<'a> {
    #[serde(borrow)]
    reports: Vec<&'a serde_json::value::RawValue>,
}

/// Decodes a JSON [`Batch`] of at most `max_reports` reports, each checked
/// as [`decode_report_with`] checks one. One bad report refuses the batch:
/// nothing is accepted half-way.
pub fn decode_batch(
    bytes: &[u8],
    limits: &Limits,
    max_reports: usize,
) -> Result<Vec<Report>, DecodeError> {
    let raw: RawBatch<'_> = serde_json::from_slice(bytes).map_err(DecodeError::Malformed)?;
    if raw.reports.len() > max_reports {
        return Err(DecodeError::Limit(LimitError::TooMany {
            field: "reports".to_owned(),
            len: raw.reports.len(),
            max: max_reports,
        }));
    }
    raw.reports
        .iter()
        .map(|r| decode_report_with(r.get().as_bytes(), limits))
        .collect()
}

#[cfg(test)]
mod tests;
