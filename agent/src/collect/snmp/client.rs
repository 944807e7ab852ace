//! The SNMP client: who to ask ([`Target`], [`Credentials`]), and a
//! `Session` that sends GET, GETNEXT and GETBULK requests with a timeout
//! and retries, walks table columns, and turns every failure into an
//! [`SnmpError`] a school's IT person can act on.
//!
//! Built on `snmp2`'s tokio session. That session has no timeout of its own
//! and does not skip stale replies (a late answer to a timed-out request
//! makes the next one fail with a request-id mismatch), so after a timeout
//! or a mismatch the socket is dropped and the next try opens a fresh one:
//! the late answer then lands on a closed port instead of confusing us.

use snmp2::{AsyncSession, Oid, Value, v3};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// The SNMP port devices listen on.
pub const DEFAULT_PORT: u16 = 161;
/// How long to wait for one answer by default: a LAN device answers in
/// milliseconds, a busy switch's CPU in well under a second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Retries after the first try by default (three tries in all).
pub const DEFAULT_RETRIES: u32 = 2;

/// Varbinds asked for in one GETBULK (spread over the columns walked
/// together): about 4 KB of answer, three IP fragments at most.
const BULK_VARBINDS: u32 = 60;

/// An OID as its numeric sub-identifiers.
pub(crate) type OidVec = Vec<u64>;

/// Ends a walked column at the first row it accepts: (column, value).
pub(crate) type StopAt = dyn Fn(usize, &Val) -> bool + Sync;

// === credentials ===

/// SNMPv3 authentication (HMAC) protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    /// HMAC-MD5-96: old devices only.
    Md5,
    /// HMAC-SHA-96 (`SHA`): the common one.
    Sha1,
    /// HMAC-SHA-224.
    Sha224,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

impl AuthProtocol {
    /// The names accepted in the config and on the command line.
    pub const NAMES: &'static str = "md5, sha, sha224, sha256, sha384 or sha512";

    /// Parses a config or command-line name (case-insensitive; `sha1`,
    /// `sha-256` and the like are accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Self::Md5,
            "sha" | "sha1" => Self::Sha1,
            "sha224" => Self::Sha224,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            _ => return None,
        })
    }

    fn to_snmp2(self) -> v3::AuthProtocol {
        match self {
            Self::Md5 => v3::AuthProtocol::Md5,
            Self::Sha1 => v3::AuthProtocol::Sha1,
            Self::Sha224 => v3::AuthProtocol::Sha224,
            Self::Sha256 => v3::AuthProtocol::Sha256,
            Self::Sha384 => v3::AuthProtocol::Sha384,
            Self::Sha512 => v3::AuthProtocol::Sha512,
        }
    }
}

/// SNMPv3 privacy (encryption) protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    /// CBC-DES: old devices only.
    Des,
    /// CFB-AES-128 (`AES`): the common one.
    Aes128,
    /// AES-192 with the key extended as net-snmp and most vendors do
    /// (Blumenthal draft).
    Aes192,
    /// AES-256, key extended as net-snmp does (Blumenthal draft).
    Aes256,
    /// AES-192 with Cisco's key extension (Reeder draft, `AES192C`).
    Aes192Cisco,
    /// AES-256 with Cisco's key extension (Reeder draft, `AES256C`).
    Aes256Cisco,
}

impl PrivProtocol {
    /// The names accepted in the config and on the command line.
    pub const NAMES: &'static str = "aes, aes192, aes256, aes192c, aes256c or des";

    /// Parses a config or command-line name (case-insensitive; `aes128`,
    /// `aes-256` and the like are accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
            "des" => Self::Des,
            "aes" | "aes128" => Self::Aes128,
            "aes192" => Self::Aes192,
            "aes256" => Self::Aes256,
            "aes192c" => Self::Aes192Cisco,
            "aes256c" => Self::Aes256Cisco,
            _ => return None,
        })
    }

    fn to_snmp2(self) -> (v3::Cipher, Option<v3::KeyExtension>) {
        match self {
            Self::Des => (v3::Cipher::Des, None),
            Self::Aes128 => (v3::Cipher::Aes128, None),
            Self::Aes192 => (v3::Cipher::Aes192, Some(v3::KeyExtension::Blumenthal)),
            Self::Aes256 => (v3::Cipher::Aes256, Some(v3::KeyExtension::Blumenthal)),
            Self::Aes192Cisco => (v3::Cipher::Aes192, Some(v3::KeyExtension::Reeder)),
            Self::Aes256Cisco => (v3::Cipher::Aes256, Some(v3::KeyExtension::Reeder)),
        }
    }
}

/// How to prove who we are to a device. Debug output hides communities and
/// passwords (they end up in logs).
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SNMPv1 with a community string.
    V1 {
        /// The read community.
        community: String,
    },
    /// SNMPv2c with a community string.
    V2c {
        /// The read community.
        community: String,
    },
    /// SNMPv3 (USM): noAuthNoPriv without `auth`, authNoPriv with `auth`
    /// alone, authPriv with both.
    V3 {
        /// The USM user name.
        user: String,
        /// Authentication protocol and password.
        auth: Option<(AuthProtocol, String)>,
        /// Privacy protocol and password; needs `auth`.
        privacy: Option<(PrivProtocol, String)>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V1 { .. } => f.write_str("V1 { community: <hidden> }"),
            Self::V2c { .. } => f.write_str("V2c { community: <hidden> }"),
            Self::V3 {
                user,
                auth,
                privacy,
            } => f
                .debug_struct("V3")
                .field("user", user)
                .field("auth", &auth.as_ref().map(|(p, _)| p))
                .field("privacy", &privacy.as_ref().map(|(p, _)| p))
                .finish(),
        }
    }
}

impl Credentials {
    /// `1`, `2c` or `3`, as the config spells it.
    pub fn version(&self) -> &'static str {
        match self {
            Self::V1 { .. } => "1",
            Self::V2c { .. } => "2c",
            Self::V3 { .. } => "3",
        }
    }
}

/// One device to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Address or name, without brackets for IPv6.
    pub host: String,
    /// UDP port, normally [`DEFAULT_PORT`].
    pub port: u16,
    /// Version and community or v3 user.
    pub credentials: Credentials,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// Tries after the first when no answer comes.
    pub retries: u32,
}

impl Target {
    /// A target on port 161 with the default timeout and retries.
    pub fn new(host: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            host: host.into(),
            port: DEFAULT_PORT,
            credentials,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }

    /// `host:port` (`[v6]:port`), for messages and as the device's key.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address
/// into host and port (161 when absent).
pub fn split_address(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let bad = || {
        format!(
            "{s:?} is not an address; write a host or IP, optionally with a port, e.g. \"10.0.0.2\" or \"10.0.0.2:1161\""
        )
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if s.matches(':').count() > 1 {
        (s, None) // a bare IPv6 address
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(bad()),
        },
    };
    Ok((host.to_owned(), port))
}

// === errors ===

/// Why a device could not be polled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnmpError {
    /// Nothing answered: SNMP off, wrong community (devices stay silent),
    /// a firewall, or the device is down.
    #[error(
        "no SNMP answer from {addr} after {tries} tries; check the device's SNMP is on and the community/user"
    )]
    Timeout {
        /// `host:port`.
        addr: String,
        /// Requests sent.
        tries: u32,
    },
    /// The host said no SNMP agent listens there (ICMP port unreachable).
    #[error(
        "{addr} refused SNMP after {tries} tries (nothing listens on that UDP port); check the device's SNMP is on and the port"
    )]
    Refused {
        /// `host:port`.
        addr: String,
        /// Requests sent.
        tries: u32,
    },
    /// The device does not know the v3 user, or the auth password or
    /// protocol is wrong (usmStatsUnknownUserNames, usmStatsWrongDigests).
    #[error(
        "SNMPv3 authentication failed for user {user} at {addr}: check the user name, the auth password and protocol"
    )]
    Auth {
        /// The v3 user.
        user: String,
        /// `host:port`.
        addr: String,
    },
    /// Authenticated, but the encryption does not match: an answer we
    /// cannot decrypt, or (net-snmp's way) no answer to encrypted requests
    /// after the engine discovery was answered.
    #[error(
        "SNMPv3 decryption failed for user {user} at {addr}: check the privacy password and protocol"
    )]
    Privacy {
        /// The v3 user.
        user: String,
        /// `host:port`.
        addr: String,
    },
    /// The credentials cannot work as given.
    #[error("cannot poll {addr}: {reason}")]
    Credentials {
        /// `host:port`.
        addr: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The name does not resolve.
    #[error("cannot resolve {host}: {reason}; check the device's name or use its IP address")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The device answered with an SNMP error status.
    #[error(
        "{addr} answered SNMP error {name} ({status}) for {oid}{hint}",
        hint = if *status == 6 || *status == 16 {
            "; the device does not let this community/user read it (check its view and access settings, and for SNMPv3 the security level the user needs)"
        } else {
            ""
        }
    )]
    Agent {
        /// `host:port`.
        addr: String,
        /// The error-status number.
        status: u32,
        /// Its name in RFC 3416.
        name: &'static str,
        /// The first OID of the request.
        oid: String,
    },
    /// The answer could not be decoded or makes no sense.
    #[error("{addr} sent an SNMP answer that cannot be used: {reason}")]
    Protocol {
        /// `host:port`.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// A local socket error.
    #[error("network error talking to {addr}: {reason}")]
    Io {
        /// `host:port`.
        addr: String,
        /// The system's error.
        reason: String,
    },
}

/// RFC 3416 error-status names.
fn status_name(status: u32) -> &'static str {
    const NAMES: [&str; 19] = [
        "noError",
        "tooBig",
        "noSuchName",
        "badValue",
        "readOnly",
        "genErr",
        "noAccess",
        "wrongType",
        "wrongLength",
        "wrongEncoding",
        "wrongValue",
        "noCreation",
        "inconsistentValue",
        "resourceUnavailable",
        "commitFailed",
        "undoFailed",
        "authorizationError",
        "notWritable",
        "inconsistentName",
    ];
    NAMES.get(status as usize).copied().unwrap_or("unknown")
}

/// Dotted numeric form, e.g. `1.3.6.1.2.1.1.1.0`.
pub(crate) fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

// === values ===

/// One answered value, owned (snmp2's borrow the receive buffer).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Bytes(Vec<u8>),
    Oid(OidVec),
    Counter32(u32),
    Gauge(u32),
    Ticks(u32),
    Counter64(u64),
    Ip([u8; 4]),
    /// noSuchObject / noSuchInstance (or v1 noSuchName).
    Missing,
    EndOfMib,
    Other,
}

impl Val {
    /// Any integer-like value as u64 (negative integers are not).
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match *self {
            Val::Int(i) => u64::try_from(i).ok(),
            Val::Counter32(n) | Val::Gauge(n) | Val::Ticks(n) => Some(n.into()),
            Val::Counter64(n) => Some(n),
            _ => None,
        }
    }

    /// Any integer-like value as i64.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Val::Int(i) => Some(i),
            Val::Counter32(n) | Val::Gauge(n) | Val::Ticks(n) => Some(n.into()),
            Val::Counter64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    /// An octet string as text (lossy UTF-8, trailing NULs dropped).
    pub(crate) fn as_text(&self) -> Option<String> {
        match self {
            Val::Bytes(b) => {
                let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                Some(String::from_utf8_lossy(&b[..end]).into_owned())
            }
            _ => None,
        }
    }

    fn from_snmp2(v: Value<'_>) -> Val {
        match v {
            Value::Integer(i) => Val::Int(i),
            Value::OctetString(b) => Val::Bytes(b.to_vec()),
            Value::ObjectIdentifier(o) => o.iter().map_or(Val::Other, |it| Val::Oid(it.collect())),
            Value::Counter32(n) => Val::Counter32(n),
            Value::Unsigned32(n) => Val::Gauge(n),
            Value::Timeticks(n) => Val::Ticks(n),
            Value::Counter64(n) => Val::Counter64(n),
            Value::IpAddress(a) => Val::Ip(a),
            Value::NoSuchObject | Value::NoSuchInstance | Value::Null => Val::Missing,
            Value::EndOfMibView => Val::EndOfMib,
            _ => Val::Other,
        }
    }
}

/// An answer PDU, owned.
#[derive(Debug)]
struct Response {
    error_status: u32,
    error_index: u32,
    varbinds: Vec<(OidVec, Val)>,
}

impl Response {
    fn from_pdu(pdu: snmp2::Pdu<'_>) -> Self {
        Self {
            error_status: pdu.error_status,
            error_index: pdu.error_index,
            varbinds: pdu
                .varbinds
                // An OID with a sub-identifier beyond u64 is nothing we ask
                // for; it ends a walk like any OID outside the column.
                .map(|(oid, v)| {
                    (
                        oid.iter().map(Iterator::collect).unwrap_or_default(),
                        Val::from_snmp2(v),
                    )
                })
                .collect(),
        }
    }
}

/// One request.
enum Op {
    Get(Vec<OidVec>),
    GetNext(OidVec),
    GetBulk(Vec<OidVec>, u32),
}

impl Op {
    fn first_oid(&self) -> String {
        match self {
            Op::Get(o) | Op::GetBulk(o, _) => o.first().map(|o| dotted(o)).unwrap_or_default(),
            Op::GetNext(o) => dotted(o),
        }
    }
}

fn to_oid(o: &[u64]) -> Result<Oid<'static>, snmp2::Error> {
    // Only our own constants and OIDs the device returned come here.
    Oid::from(o).map_err(|_| snmp2::Error::ValueOutOfRange)
}

/// Sends `op` once on `s` and copies the answer out of its buffer.
async fn exchange(s: &mut AsyncSession, op: &Op) -> Result<Response, snmp2::Error> {
    match op {
        Op::Get(oids) => {
            let oids = oids
                .iter()
                .map(|o| to_oid(o))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&Oid<'_>> = oids.iter().collect();
            Ok(Response::from_pdu(s.get_many(&refs).await?))
        }
        Op::GetNext(oid) => {
            let oid = to_oid(oid)?;
            Ok(Response::from_pdu(s.getnext(&oid).await?))
        }
        Op::GetBulk(oids, reps) => {
            let oids = oids
                .iter()
                .map(|o| to_oid(o))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&Oid<'_>> = oids.iter().collect();
            Ok(Response::from_pdu(s.getbulk(&refs, 0, *reps).await?))
        }
    }
}

// === session ===

/// What the last failed try looked like, for the final error.
#[derive(Clone, Copy)]
enum Silence {
    Timeout,
    Refused,
}

/// A conversation with one device: its resolved address and, once
/// connected, snmp2's session (for v3, after engine discovery).
pub(crate) struct Session {
    target: Target,
    addr: SocketAddr,
    /// `host:port` for messages.
    display: String,
    /// Dropped after a timeout or a stale answer; the next try reconnects.
    inner: Option<AsyncSession>,
    /// A v3 engine discovery was answered (it needs no keys).
    discovered: bool,
    /// Some request was answered.
    answered: bool,
    /// Requests sent (retries and engine discovery included), for logs
    /// and benchmarks.
    pub(crate) sent: u32,
}

impl Session {
    /// Resolves the target's host; nothing is sent yet.
    pub(crate) async fn open(target: &Target) -> Result<Self, SnmpError> {
        let display = target.address();
        if let Credentials::V3 {
            auth: None,
            privacy: Some(_),
            ..
        } = &target.credentials
        {
            return Err(SnmpError::Credentials {
                addr: display,
                reason:
                    "SNMPv3 privacy needs authentication too; give an auth protocol and password"
                        .into(),
            });
        }
        let resolve = tokio::net::lookup_host((target.host.as_str(), target.port));
        let addr =
            match tokio::time::timeout(target.timeout.max(Duration::from_secs(5)), resolve).await {
                Ok(Ok(mut addrs)) => addrs.next(),
                Ok(Err(e)) => {
                    return Err(SnmpError::Resolve {
                        host: target.host.clone(),
                        reason: e.to_string(),
                    });
                }
                Err(_) => {
                    return Err(SnmpError::Resolve {
                        host: target.host.clone(),
                        reason: "the name server did not answer".into(),
                    });
                }
            };
        let addr = addr.ok_or_else(|| SnmpError::Resolve {
            host: target.host.clone(),
            reason: "no address found".into(),
        })?;
        Ok(Self {
            target: target.clone(),
            addr,
            display,
            inner: None,
            discovered: false,
            answered: false,
            sent: 0,
        })
    }

    /// Whether the session speaks SNMPv1 (no GETBULK, no Counter64).
    fn is_v1(&self) -> bool {
        matches!(self.target.credentials, Credentials::V1 { .. })
    }

    /// A fresh request id start, so two sessions to one device (or a
    /// restarted agent) do not collide.
    fn start_id() -> i32 {
        let mut b = [0u8; 4];
        // A fixed id still works; randomness only avoids collisions.
        let _ = getrandom::fill(&mut b);
        (i32::from_be_bytes(b) & 0x3fff_ffff).max(1)
    }

    /// snmp2's session, connecting (and for v3 discovering the engine) when
    /// there is none.
    async fn connect(&mut self) -> Result<&mut AsyncSession, snmp2::Error> {
        if self.inner.is_none() {
            let io = |_| snmp2::Error::Send;
            let s = match &self.target.credentials {
                Credentials::V1 { community } => {
                    AsyncSession::new_v1(self.addr, community.as_bytes(), Self::start_id())
                        .await
                        .map_err(io)?
                }
                Credentials::V2c { community } => {
                    AsyncSession::new_v2c(self.addr, community.as_bytes(), Self::start_id())
                        .await
                        .map_err(io)?
                }
                Credentials::V3 {
                    user,
                    auth,
                    privacy,
                } => {
                    let password = auth.as_ref().map_or(&[][..], |(_, p)| p.as_bytes());
                    let mut sec = v3::Security::new(user.as_bytes(), password);
                    sec = match (auth, privacy) {
                        (None, _) => sec.with_auth(v3::Auth::NoAuthNoPriv),
                        (Some((a, _)), None) => sec
                            .with_auth_protocol(a.to_snmp2())
                            .with_auth(v3::Auth::AuthNoPriv),
                        (Some((a, _)), Some((p, password))) => {
                            let (cipher, extension) = p.to_snmp2();
                            let mut sec = sec.with_auth_protocol(a.to_snmp2()).with_auth(
                                v3::Auth::AuthPriv {
                                    cipher,
                                    privacy_password: password.as_bytes().to_vec(),
                                },
                            );
                            if let Some(e) = extension {
                                sec = sec.with_key_extension_method(e);
                            }
                            sec
                        }
                    };
                    let mut s = AsyncSession::new_v3(self.addr, Self::start_id(), sec)
                        .await
                        .map_err(io)?;
                    self.sent += 1;
                    s.init().await?;
                    self.discovered = true;
                    s
                }
            };
            self.inner = Some(s);
        }
        // Set just above when it was None.
        Ok(self.inner.as_mut().expect("connected above"))
    }

    fn user(&self) -> String {
        match &self.target.credentials {
            Credentials::V3 { user, .. } => user.clone(),
            _ => String::new(),
        }
    }

    /// Sends `op` until an answer comes or the tries run out.
    async fn request(&mut self, op: &Op) -> Result<Response, SnmpError> {
        let tries = self.target.retries.saturating_add(1);
        let mut tried = 0;
        let mut silence = Silence::Timeout;
        // A v3 agent may ask us to resynchronise its clock (notInTimeWindow)
        // once or twice; that costs no try.
        let mut resyncs = 0;
        while tried < tries {
            tried += 1;
            let timeout = self.target.timeout;
            let once = async {
                self.sent += 1;
                let s = self.connect().await?;
                exchange(s, op).await
            };
            let outcome = tokio::time::timeout(timeout, once).await;
            let e = match outcome {
                Ok(Ok(r)) => {
                    self.answered = true;
                    return Ok(r);
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    tracing::debug!(device = %self.display, try_ = tried, "No SNMP answer in time.");
                    self.inner = None;
                    silence = Silence::Timeout;
                    continue;
                }
            };
            tracing::debug!(device = %self.display, error = %e, "SNMP request failed.");
            match e {
                snmp2::Error::AuthUpdated if resyncs < 3 => {
                    resyncs += 1;
                    tried -= 1;
                }
                snmp2::Error::Receive | snmp2::Error::Send => {
                    // ICMP port unreachable surfaces as a receive error on
                    // the connected socket.
                    self.inner = None;
                    silence = Silence::Refused;
                    // Not at once: a host that is just starting its agent
                    // gets a moment.
                    tokio::time::sleep(self.target.timeout.min(Duration::from_millis(200))).await;
                }
                snmp2::Error::RequestIdMismatch | snmp2::Error::CommunityMismatch => {
                    self.inner = None;
                }
                snmp2::Error::AuthFailure(v3::AuthErrorKind::EngineBootsMismatch)
                | snmp2::Error::AuthFailure(v3::AuthErrorKind::EngineTimeMismatch)
                | snmp2::Error::AuthFailure(v3::AuthErrorKind::EngineIdMismatch) => {
                    // The device restarted (or is another device now):
                    // discover its engine again.
                    self.inner = None;
                }
                e => return Err(self.fatal(e)),
            }
        }
        let privacy = matches!(
            self.target.credentials,
            Credentials::V3 {
                privacy: Some(_),
                ..
            }
        );
        Err(match silence {
            // The engine discovery (plain) was answered, yet not one
            // encrypted request: agents drop what they cannot decrypt.
            Silence::Timeout if privacy && self.discovered && !self.answered => {
                SnmpError::Privacy {
                    user: self.user(),
                    addr: self.display.clone(),
                }
            }
            Silence::Timeout => SnmpError::Timeout {
                addr: self.display.clone(),
                tries: tried,
            },
            Silence::Refused => SnmpError::Refused {
                addr: self.display.clone(),
                tries: tried,
            },
        })
    }

    /// Maps a failure no retry will cure.
    fn fatal(&self, e: snmp2::Error) -> SnmpError {
        use v3::AuthErrorKind as K;
        let addr = self.display.clone();
        let v3 = matches!(self.target.credentials, Credentials::V3 { .. });
        match e {
            snmp2::Error::AuthFailure(
                K::NotAuthenticated | K::SignatureMismatch | K::UsernameMismatch,
            ) => SnmpError::Auth {
                user: self.user(),
                addr,
            },
            // A report instead of a response: with noAuthNoPriv, an unknown
            // user.
            snmp2::Error::AsnWrongType if v3 => SnmpError::Auth {
                user: self.user(),
                addr,
            },
            snmp2::Error::AuthFailure(
                K::ReplyNotEncrypted
                | K::PrivLengthMismatch
                | K::PayloadLengthMismatch
                | K::KeyLengthMismatch,
            )
            | snmp2::Error::Crypto(_) => SnmpError::Privacy {
                user: self.user(),
                addr,
            },
            // An authenticated answer that decrypts to garbage: the privacy
            // key is wrong.
            snmp2::Error::AsnParse | snmp2::Error::AsnEof | snmp2::Error::AsnInvalidLen
                if matches!(
                    &self.target.credentials,
                    Credentials::V3 {
                        privacy: Some(_),
                        ..
                    }
                ) =>
            {
                SnmpError::Privacy {
                    user: self.user(),
                    addr,
                }
            }
            snmp2::Error::AuthFailure(K::KeyExtensionRequired) => SnmpError::Credentials {
                addr,
                reason: "this privacy protocol needs a key extension; use aes192/aes256 or aes192c/aes256c (Cisco)".into(),
            },
            e => SnmpError::Protocol {
                addr,
                reason: e.to_string(),
            },
        }
    }

    fn agent_error(&self, r: &Response, op: &Op) -> SnmpError {
        SnmpError::Agent {
            addr: self.display.clone(),
            status: r.error_status,
            name: status_name(r.error_status),
            oid: op.first_oid(),
        }
    }

    /// GETs `oids`; absent objects are [`Val::Missing`]. One request for
    /// v2c/v3; SNMPv1 fails the whole request on one absent object
    /// (noSuchName), so that object is dropped and the rest asked again.
    pub(crate) async fn get(&mut self, oids: &[&[u64]]) -> Result<Vec<Val>, SnmpError> {
        let mut out = vec![Val::Missing; oids.len()];
        let mut ask: Vec<usize> = (0..oids.len()).collect();
        while !ask.is_empty() {
            let op = Op::Get(ask.iter().map(|&i| oids[i].to_vec()).collect());
            let r = self.request(&op).await?;
            if r.error_status == 2 && self.is_v1() {
                let bad = r.error_index as usize;
                if !(1..=ask.len()).contains(&bad) {
                    return Err(self.agent_error(&r, &op));
                }
                ask.remove(bad - 1);
                continue;
            }
            if r.error_status != 0 {
                return Err(self.agent_error(&r, &op));
            }
            if r.varbinds.len() != ask.len() {
                return Err(SnmpError::Protocol {
                    addr: self.display.clone(),
                    reason: format!("asked for {} values, got {}", ask.len(), r.varbinds.len()),
                });
            }
            for (&i, (_, v)) in ask.iter().zip(r.varbinds) {
                out[i] = match v {
                    Val::EndOfMib => Val::Missing,
                    v => v,
                };
            }
            ask.clear();
        }
        Ok(out)
    }

    /// Walks table columns side by side: for each column, its rows as
    /// (index after the column's OID, value), in OID order, at most
    /// `max_rows` each. GETBULK on v2c/v3, GETNEXT one by one on v1.
    ///
    /// `stop`, when given, ends a column at the first row it accepts (that
    /// row is kept), so a caller looking for one row reads no further.
    pub(crate) async fn walk(
        &mut self,
        columns: &[&[u64]],
        max_rows: usize,
        stop: Option<&StopAt>,
    ) -> Result<Vec<Vec<(OidVec, Val)>>, SnmpError> {
        let mut walks: Vec<ColumnWalk<'_>> = columns
            .iter()
            .enumerate()
            .map(|(c, col)| ColumnWalk::new(c, col))
            .collect();
        if self.is_v1() {
            for w in &mut walks {
                while !w.done {
                    let op = Op::GetNext(w.cursor.clone());
                    let r = self.request(&op).await?;
                    if r.error_status == 2 {
                        break; // noSuchName: the end of the MIB view
                    }
                    if r.error_status != 0 {
                        return Err(self.agent_error(&r, &op));
                    }
                    let Some((oid, v)) = r.varbinds.into_iter().next() else {
                        break;
                    };
                    w.take(oid, v, max_rows, stop);
                }
            }
        } else {
            // Columns walked together; a device that cannot answer even one
            // row of all of them at once gets them in smaller groups.
            let mut groups: Vec<Vec<ColumnWalk<'_>>> = vec![walks];
            walks = Vec::new();
            while let Some(mut group) = groups.pop() {
                match self.bulk_walk(&mut group, max_rows, stop).await? {
                    Ok(()) => walks.extend(group),
                    Err(too_big) if group.len() == 1 => return Err(too_big),
                    Err(_) => {
                        let second = group.split_off(group.len() / 2);
                        groups.push(second.into_iter().map(ColumnWalk::restart).collect());
                        groups.push(group.into_iter().map(ColumnWalk::restart).collect());
                    }
                }
            }
            walks.sort_by_key(|w| w.index);
        }
        Ok(walks.into_iter().map(|w| w.rows).collect())
    }

    /// GETBULK walk of `group` until every column is done. The inner
    /// error is a device that refuses even one row per column (too big).
    async fn bulk_walk(
        &mut self,
        group: &mut [ColumnWalk<'_>],
        max_rows: usize,
        stop: Option<&StopAt>,
    ) -> Result<Result<(), SnmpError>, SnmpError> {
        // Varbinds per answer, shared by the columns still walked; halved
        // when the device says the answer would be too big (tooBig, or
        // genErr from agents that cap the varbinds per answer, as snmpsim
        // and some embedded stacks do).
        let mut budget = BULK_VARBINDS;
        loop {
            let active: Vec<usize> = (0..group.len()).filter(|&k| !group[k].done).collect();
            if active.is_empty() {
                return Ok(Ok(()));
            }
            let reps = (budget / active.len() as u32).max(1);
            let op = Op::GetBulk(
                active.iter().map(|&k| group[k].cursor.clone()).collect(),
                reps,
            );
            let r = self.request(&op).await?;
            if matches!(r.error_status, 1 | 5) {
                if reps > 1 {
                    budget /= 2;
                    continue;
                }
                return Ok(Err(self.agent_error(&r, &op)));
            }
            if r.error_status != 0 {
                return Err(self.agent_error(&r, &op));
            }
            if r.varbinds.is_empty() {
                return Ok(Ok(()));
            }
            let before: Vec<OidVec> = active.iter().map(|&k| group[k].cursor.clone()).collect();
            // Rows come interleaved: one varbind per active column per row.
            for (i, (oid, v)) in r.varbinds.into_iter().enumerate() {
                let w = &mut group[active[i % active.len()]];
                if !w.done {
                    w.take(oid, v, max_rows, stop);
                }
            }
            let moved = active
                .iter()
                .zip(&before)
                .any(|(&k, b)| group[k].done || group[k].cursor != *b);
            if !moved {
                // An answer that moved no column: stop rather than loop.
                return Ok(Ok(()));
            }
        }
    }
}

/// One column being walked.
struct ColumnWalk<'a> {
    /// Position among the columns asked for.
    index: usize,
    /// The column's OID.
    column: &'a [u64],
    /// The last OID read (the column itself at first).
    cursor: OidVec,
    /// Rows read: index after the column's OID, value.
    rows: Vec<(OidVec, Val)>,
    /// Past the column's end, at `max_rows`, or stopped.
    done: bool,
}

impl<'a> ColumnWalk<'a> {
    fn new(index: usize, column: &'a [u64]) -> Self {
        Self {
            index,
            column,
            cursor: column.to_vec(),
            rows: Vec::new(),
            done: false,
        }
    }

    /// From the start again (walked in another group).
    fn restart(self) -> Self {
        Self::new(self.index, self.column)
    }

    /// Takes one returned varbind; marks the column done at its end.
    fn take(&mut self, oid: OidVec, v: Val, max_rows: usize, stop: Option<&StopAt>) {
        let inside = oid.len() > self.column.len() && oid.starts_with(self.column);
        // Agents must answer in increasing order; one that does not would
        // loop forever.
        if !inside || v == Val::EndOfMib || oid <= self.cursor {
            self.done = true;
            return;
        }
        let hit = stop.is_some_and(|f| f(self.index, &v));
        self.rows.push((oid[self.column.len()..].to_vec(), v));
        self.cursor = oid;
        self.done = hit || self.rows.len() >= max_rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("10.0.0.2").unwrap(), ("10.0.0.2".into(), 161));
        assert_eq!(
            split_address("switch-1.school:1161").unwrap(),
            ("switch-1.school".into(), 1161)
        );
        assert_eq!(
            split_address("[fe80::1]:162").unwrap(),
            ("fe80::1".into(), 162)
        );
        assert_eq!(split_address("fe80::1").unwrap(), ("fe80::1".into(), 161));
        assert_eq!(split_address("[fe80::1]").unwrap(), ("fe80::1".into(), 161));
        for bad in [
            "",
            ":161",
            "10.0.0.2:0",
            "10.0.0.2:x",
            "10.0.0.2:70000",
            "[::1",
            "a b",
        ] {
            let e = split_address(bad).unwrap_err();
            assert!(e.contains("10.0.0.2:1161"), "{bad}: {e}");
        }
    }

    #[test]
    fn target_address_brackets_ipv6() {
        let c = Credentials::V2c {
            community: "public".into(),
        };
        assert_eq!(Target::new("10.0.0.2", c.clone()).address(), "10.0.0.2:161");
        assert_eq!(Target::new("::1", c).address(), "[::1]:161");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::V3 {
            user: "monitor".into(),
            auth: Some((AuthProtocol::Sha256, "s3cret-auth".into())),
            privacy: Some((PrivProtocol::Aes128, "s3cret-priv".into())),
        };
        let d = format!("{c:?}");
        assert!(
            d.contains("monitor") && d.contains("Sha256") && d.contains("Aes128"),
            "{d}"
        );
        assert!(!d.contains("s3cret"), "{d}");
        let d = format!(
            "{:?}",
            Credentials::V2c {
                community: "s3cret".into()
            }
        );
        assert!(!d.contains("s3cret"), "{d}");
    }

    #[test]
    fn protocol_names_parse() {
        assert_eq!(AuthProtocol::parse("SHA"), Some(AuthProtocol::Sha1));
        assert_eq!(AuthProtocol::parse("sha-256"), Some(AuthProtocol::Sha256));
        assert_eq!(AuthProtocol::parse("md5"), Some(AuthProtocol::Md5));
        assert_eq!(AuthProtocol::parse("sha3"), None);
        assert_eq!(PrivProtocol::parse("AES"), Some(PrivProtocol::Aes128));
        assert_eq!(PrivProtocol::parse("aes-256"), Some(PrivProtocol::Aes256));
        assert_eq!(
            PrivProtocol::parse("AES256C"),
            Some(PrivProtocol::Aes256Cisco)
        );
        assert_eq!(PrivProtocol::parse("3des"), None);
    }

    #[test]
    fn error_messages_say_what_to_check() {
        let e = SnmpError::Timeout {
            addr: "10.0.0.2:161".into(),
            tries: 3,
        };
        assert_eq!(
            e.to_string(),
            "no SNMP answer from 10.0.0.2:161 after 3 tries; check the device's SNMP is on and the community/user"
        );
        let e = SnmpError::Auth {
            user: "monitor".into(),
            addr: "10.0.0.2:161".into(),
        };
        assert_eq!(
            e.to_string(),
            "SNMPv3 authentication failed for user monitor at 10.0.0.2:161: check the user name, the auth password and protocol"
        );
        let e = SnmpError::Agent {
            addr: "10.0.0.2:161".into(),
            status: 16,
            name: status_name(16),
            oid: "1.3.6.1.2.1.1.1.0".into(),
        };
        assert!(e.to_string().contains("authorizationError (16)"), "{e}");
        assert!(e.to_string().contains("view and access"), "{e}");
    }

    #[test]
    fn text_drops_trailing_nuls_only() {
        assert_eq!(
            Val::Bytes(b"HP LaserJet\0\0".to_vec()).as_text().unwrap(),
            "HP LaserJet"
        );
        assert_eq!(Val::Bytes(b" a\r\n".to_vec()).as_text().unwrap(), " a\r\n");
        assert_eq!(Val::Int(3).as_text(), None);
    }
}
