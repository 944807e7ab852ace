//! The one-line enrollment link: everything an agent needs to enroll, in
//! one URL an IT person can paste or scan.
//!
//! ```text
//! https://collector.example:8443/#token=swt_<64 hex>&ca=sha256:<64 hex>
//! \____________________________/  \_______________/ \_________________/
//!  the collector (base URL)        enrollment token  SHA-256 of the DER
//!                                                     of the collector's CA
//! ```
//!
//! The token and fingerprint sit in the fragment (after `#`), which HTTP
//! clients never send, so neither ends up in a proxy's or server's request
//! log. `ca` is optional: without it the agent trusts its bundled public
//! roots (a collector with a certificate from a public CA). With it the
//! agent takes the certificate chain the collector presents, keeps the one
//! certificate whose SHA-256 matches, and pins it as its CA, the way
//! `kubeadm join --discovery-token-ca-cert-hash` does; see
//! `schoolwatch_agent::ship::discover`.
//!
//! The collector writes links with [`EnrollLink`]'s `Display`
//! (`schoolwatch-collector enroll-line`), the agent reads them with
//! [`EnrollLink::parse`] (`schoolwatch-agent enroll URL`), so both ends
//! share one format.
//!
//! ```
//! use schoolwatch_protocol::EnrollLink;
//!
//! let link = EnrollLink {
//!     collector: "https://collector.example:8443".into(),
//!     token: "swt_0123".into(),
//!     ca_sha256: Some([0xab; 32]),
//! };
//! let text = link.to_string();
//! assert!(text.starts_with("https://collector.example:8443/#token=swt_0123&ca=sha256:abab"));
//! assert_eq!(EnrollLink::parse(&text).unwrap(), link);
//! ```

use std::fmt;
use thiserror::Error;

/// An enrollment link, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollLink {
    /// The collector's base URL, without a trailing `/` or fragment, e.g.
    /// `https://collector.example:8443`.
    pub collector: String,
    /// The school's enrollment token.
    pub token: String,
    /// SHA-256 of the DER encoding of the certificate to pin as the
    /// collector's CA; `None` to trust the bundled public roots.
    pub ca_sha256: Option<[u8; 32]>,
}

/// Why a link was refused; each says what a good link looks like.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    /// Not `http(s)://host...`.
    #[error("the enrollment link must start with https:// (the collector's address), got {0:?}")]
    Scheme(String),
    /// No `#token=...&ca=...` part.
    #[error(
        "the enrollment link has no `#token=...` part; copy the whole line `schoolwatch-collector enroll-line` printed (quote it: it contains `#` and `&`)"
    )]
    NoFragment,
    /// The fragment lacks a token.
    #[error("the enrollment link has no `token=`; copy the whole line `enroll-line` printed")]
    NoToken,
    /// A fragment key this agent does not know.
    #[error(
        "the enrollment link has an unknown key `{0}`; it may come from a newer collector: upgrade this agent"
    )]
    UnknownKey(String),
    /// A key given twice.
    #[error("the enrollment link gives `{0}` twice")]
    Repeated(String),
    /// A value with characters a token or URL never has.
    #[error("the enrollment link's `{0}` has characters it cannot contain; copy the line again")]
    BadValue(String),
    /// `ca=` is not `sha256:` and 64 hex digits.
    #[error(
        "the enrollment link's `ca` must be `sha256:` followed by 64 hex digits (the SHA-256 of the collector's CA certificate), got {0:?}"
    )]
    BadFingerprint(String),
    /// A fingerprint on a plain-HTTP link means nothing.
    #[error(
        "the enrollment link pins a CA (`ca=`) but uses http://; a CA only makes sense with https://"
    )]
    FingerprintWithoutTls,
}

impl EnrollLink {
    /// Parses a link (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.trim();
        let (base, fragment) = text.split_once('#').ok_or(LinkError::NoFragment)?;
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| LinkError::Scheme(shorten(base)))?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() || !base.chars().all(url_char) {
            return Err(LinkError::Scheme(shorten(base)));
        }
        let mut token = None;
        let mut ca = None;
        for pair in fragment.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "token" => &mut token,
                "ca" => &mut ca,
                other => return Err(LinkError::UnknownKey(shorten(other))),
            };
            if slot.is_some() {
                return Err(LinkError::Repeated(key.to_owned()));
            }
            if value.is_empty() || !value.chars().all(value_char) {
                return Err(LinkError::BadValue(key.to_owned()));
            }
            *slot = Some(value);
        }
        let token = token.ok_or(LinkError::NoToken)?.to_owned();
        let ca_sha256 = ca.map(parse_fingerprint).transpose()?;
        if ca_sha256.is_some() && base.starts_with("http://") {
            return Err(LinkError::FingerprintWithoutTls);
        }
        Ok(Self {
            collector: base.trim_end_matches('/').to_owned(),
            token,
            ca_sha256,
        })
    }
}

impl fmt::Display for EnrollLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/#token={}",
            self.collector.trim_end_matches('/'),
            self.token
        )?;
        if let Some(fp) = &self.ca_sha256 {
            f.write_str("&ca=sha256:")?;
            for b in fp {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// `sha256:` + 64 hex digits (either case) to bytes.
fn parse_fingerprint(value: &str) -> Result<[u8; 32], LinkError> {
    let bad = || LinkError::BadFingerprint(shorten(value));
    let hex = value.strip_prefix("sha256:").ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// Characters of the base URL: RFC 3986 unreserved, sub-delims without
/// `'` (the line is single-quoted in a shell), `:` `/` `@` `[` `]` `%`.
fn url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&()*+,;=:/@[]%".contains(c)
}

/// Characters of a fragment value: tokens are `swt_` + hex, fingerprints
/// `sha256:` + hex.
fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:".contains(c)
}

/// At most 80 characters of untrusted text, for error messages.
fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    #[test]
    fn round_trips_with_and_without_ca() {
        let text = format!("https://c.example:8443/#token=swt_ab12&ca={FP}");
        let link = EnrollLink::parse(&text).unwrap();
        assert_eq!(link.collector, "https://c.example:8443");
        assert_eq!(link.token, "swt_ab12");
        assert_eq!(link.ca_sha256.unwrap()[31], 0xff);
        assert_eq!(
            link.to_string(),
            text.replace("AABBCCDDEEFF", "aabbccddeeff")
        );
        let plain = EnrollLink::parse("  http://127.0.0.1:8088#token=swt_1\n").unwrap();
        assert_eq!(plain.collector, "http://127.0.0.1:8088");
        assert_eq!(plain.ca_sha256, None);
        assert_eq!(plain.to_string(), "http://127.0.0.1:8088/#token=swt_1");
        let prefix = EnrollLink::parse("https://h/schoolwatch/#token=t").unwrap();
        assert_eq!(prefix.collector, "https://h/schoolwatch");
    }

    #[test]
    fn refuses_what_is_not_a_link() {
        use LinkError::*;
        let cases: &[(&str, LinkError)] = &[
            ("https://c.example:8443", NoFragment),
            ("ftp://c#token=t", Scheme("ftp://c".into())),
            ("https://#token=t", Scheme("https://".into())),
            ("https://c'x#token=t", Scheme("https://c'x".into())),
            (
                "https://c#token=t&ca=sha256:00",
                BadFingerprint("sha256:00".into()),
            ),
            ("https://c#token=t&role=lab", UnknownKey("role".into())),
            ("https://c#token=t&token=u", Repeated("token".into())),
            ("https://c#token=t;rm", BadValue("token".into())),
            ("https://c#ca=sha256:x", NoToken),
            ("https://c#", NoToken),
            (&format!("http://c#token=t&ca={FP}"), FingerprintWithoutTls),
        ];
        for (text, want) in cases {
            assert_eq!(EnrollLink::parse(text).as_ref(), Err(want), "{text}");
        }
        let md5 = format!("https://c#token=t&ca=md5:{}", "0".repeat(64));
        assert!(matches!(EnrollLink::parse(&md5), Err(BadFingerprint(_))));
        let e = EnrollLink::parse("https://c").unwrap_err().to_string();
        assert!(e.contains("quote it"), "{e}");
    }
}
