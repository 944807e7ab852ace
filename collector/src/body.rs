//! Request bodies: content decoding within a size bound.
//!
//! Pure (no I/O), so the fuzzer drives exactly what the server runs.

use std::io::Read;
use thiserror::Error;

/// Why a body could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BodyError {
    /// The gzip stream is broken.
    #[error("the gzip body is corrupt: {0}")]
    Corrupt(String),
    /// More than the bound once decompressed (a zip bomb, or an agent
    /// sending far too much at once).
    #[error("the body is over {max} bytes once decompressed")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// An encoding other than gzip or none.
    #[error("content encoding {0:?} is not supported; use gzip or none")]
    UnsupportedEncoding(String),
}

/// Decodes `raw` sent with `Content-Encoding: encoding` (case-insensitive;
/// `None` or `identity` for none) into at most `max` bytes.
pub fn decode(encoding: Option<&str>, raw: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("identity") => {
            if raw.len() > max {
                return Err(BodyError::TooLarge { max });
            }
            Ok(raw.to_vec())
        }
        Some("gzip") => gunzip(raw, max),
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_owned())),
    }
}

/// Decompresses at most `max` bytes; reading stops one byte past the bound,
/// so a bomb costs no more than `max` bytes of memory.
fn gunzip(raw: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt(e.to_string()))?;
    if out.len() > max {
        return Err(BodyError::TooLarge { max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn identity_and_gzip_round_trip() {
        assert_eq!(decode(None, b"abc", 3).unwrap(), b"abc");
        assert_eq!(decode(Some("GZIP"), &gz(b"hello"), 5).unwrap(), b"hello");
    }

    #[test]
    fn bounds_hold_both_ways() {
        assert_eq!(
            decode(None, b"abcd", 3),
            Err(BodyError::TooLarge { max: 3 })
        );
        assert_eq!(
            decode(Some("gzip"), &gz(&[0; 1000]), 999),
            Err(BodyError::TooLarge { max: 999 })
        );
        assert_eq!(
            decode(Some("gzip"), &gz(&[0; 1000]), 1000).unwrap().len(),
            1000
        );
    }

    #[test]
    fn corrupt_and_unknown_are_refused() {
        assert!(matches!(
            decode(Some("gzip"), b"not gzip", 100),
            Err(BodyError::Corrupt(_))
        ));
        let mut truncated = gz(b"some text that is long enough");
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            decode(Some("gzip"), &truncated, 100),
            Err(BodyError::Corrupt(_))
        ));
        assert_eq!(
            decode(Some("br"), b"x", 100),
            Err(BodyError::UnsupportedEncoding("br".into()))
        );
    }
}
