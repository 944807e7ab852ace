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

/// A `fmt::Write` that hands what is written to a channel in chunks of
/// about 256 KiB: a response body written on a blocking thread and sent
/// while it is written. Waits when the channel is full (the client reads
/// slowly); fails once the receiver is gone (the client left).
pub struct ChunkWriter {
    buf: String,
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
}

impl ChunkWriter {
    const CHUNK: usize = 256 * 1024;

    /// Writes into `tx`. Call only from a blocking thread.
    pub fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>) -> Self {
        Self {
            buf: String::with_capacity(Self::CHUNK + 4096),
            tx,
        }
    }

    fn flush(&mut self) -> std::fmt::Result {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(Self::CHUNK + 4096));
        self.tx
            .blocking_send(bytes::Bytes::from(chunk))
            .map_err(|_| std::fmt::Error)
    }

    /// Sends what is left.
    pub fn finish(mut self) {
        let _ = self.flush();
    }
}

impl std::fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::ChunkWriter;
    use std::fmt::Write;

    #[test]
    fn chunks_add_up_to_what_was_written_and_a_gone_reader_stops_the_writer() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut w = ChunkWriter::new(tx);
        let line = "schoolwatch_host_up{school=\"gl-0001\"} 1\n";
        let mut want = String::new();
        for _ in 0..20_000 {
            w.write_str(line).unwrap();
            want.push_str(line);
        }
        w.finish();
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Ok(c) = rx.try_recv() {
            assert!(c.len() <= ChunkWriter::CHUNK + line.len());
            got.extend_from_slice(&c);
            chunks += 1;
        }
        assert_eq!(String::from_utf8(got).unwrap(), want);
        assert!(chunks > 1, "{chunks}");

        let (tx, rx) = tokio::sync::mpsc::channel(1);
        drop(rx);
        let mut w = ChunkWriter::new(tx);
        let big = "x".repeat(ChunkWriter::CHUNK);
        assert!(w.write_str(&big).is_err());
    }
}
