//! Who may read the status page: `[status]` users in `collector.toml`, each
//! with an argon2 password hash (PHC string) and optionally one district,
//! and the sessions of those who logged in.
//!
//! # Why a login form and a session cookie, not HTTP Basic
//! - A password is checked once per login, not on every request: argon2 is
//!   deliberately slow (about 20 MiB and tens of ms per check), so Basic
//!   would make every page view (and every CSV) pay it, and would let
//!   anyone make the collector burn CPU by sending guesses with any request.
//!   Checks here run one at a time, and a failed login waits a second.
//! - Staff can log out, and a session ends by itself (`session_ttl_secs`,
//!   8 h by default): a browser does not keep sending the password for as
//!   long as it is open.
//! - The cookie is `HttpOnly; Secure; SameSite=Strict` with the `__Host-`
//!   prefix: no script can read it, it never travels in clear, another site
//!   cannot make a browser send it, and no sibling host can set it. Its
//!   value is 256 random bits; only its SHA-256 is kept, in memory (a
//!   restart logs everyone out).
//! - Logging in and out are POSTs that must come from the page itself
//!   (`Origin` and `Sec-Fetch-Site` are checked when the browser sends them).

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The session cookie's name.
pub const COOKIE: &str = "__Host-schoolwatch_status";

/// Most sessions kept at once; the one closest to expiry goes first.
const MAX_SESSIONS: usize = 10_000;

/// How long a failed login waits before it answers.
const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// Longest user name or password accepted at the login form, bytes.
const MAX_FIELD_BYTES: usize = 1024;

/// Bounds on a configured hash's cost, so that one login cannot take the
/// collector's memory (256 MiB) or minutes of CPU.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ITERATIONS: u32 = 16;
const MAX_LANES: u32 = 8;

// === config ===

/// `[status]` as written in `collector.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatus {
    #[serde(default = "default_session_ttl_secs")]
    session_ttl_secs: u64,
    #[serde(default)]
    users: Vec<RawUser>,
}

impl Default for RawStatus {
    fn default() -> Self {
        Self {
            session_ttl_secs: default_session_ttl_secs(),
            users: Vec::new(),
        }
    }
}

/// A working day.
const fn default_session_ttl_secs() -> u64 {
    8 * 3600
}

/// `[[status.users]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password_hash: String,
    district: Option<String>,
}

/// Who may log in, validated. No users: the status page is off (404).
#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// Staff accounts.
    pub users: Vec<StatusUser>,
    /// How long a login lasts.
    pub session_ttl: Duration,
}

impl Default for StatusConfig {
    /// Off.
    fn default() -> Self {
        Self {
            users: Vec::new(),
            session_ttl: Duration::from_secs(default_session_ttl_secs()),
        }
    }
}

/// One staff account.
#[derive(Clone)]
pub struct StatusUser {
    /// Login name.
    pub name: String,
    /// argon2 PHC string (`$argon2id$v=19$m=...`).
    pub password_hash: String,
    /// When set, the account sees only this district.
    pub district: Option<String>,
}

impl std::fmt::Debug for StatusUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusUser")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("district", &self.district)
            .finish()
    }
}

impl StatusConfig {
    /// Validates `[status]`; every problem names its key.
    pub fn from_raw(raw: RawStatus) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if !(300..=7 * 86_400).contains(&raw.session_ttl_secs) {
            problems.push(format!(
                "key `status.session_ttl_secs`: {} is out of range; use 300 to 604800 seconds (default 28800, a working day)",
                raw.session_ttl_secs
            ));
        }
        let mut users: Vec<StatusUser> = Vec::new();
        for (i, u) in raw.users.into_iter().enumerate() {
            let key = format!("status.users[{i}]");
            if u.name.is_empty()
                || u.name.len() > 64
                || u.name.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                problems.push(format!(
                    "key `{key}.name`: {:?} is not a user name; use 1 to 64 characters without spaces",
                    u.name
                ));
            }
            if users.iter().any(|o| o.name == u.name) {
                problems.push(format!(
                    "key `{key}.name`: {:?} is listed twice; names must be unique",
                    u.name
                ));
            }
            if let Err(e) = check_hash(&u.password_hash) {
                problems.push(format!(
                    "key `{key}.password_hash`: {e}; make one with `schoolwatch-collector status hash-password`"
                ));
            }
            if u.district.as_deref().is_some_and(|d| d.trim().is_empty()) {
                problems.push(format!(
                    "key `{key}.district`: empty; name a district as in the registry, or leave the key out for the whole province"
                ));
            }
            users.push(StatusUser {
                name: u.name,
                password_hash: u.password_hash,
                district: u.district,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            users,
            session_ttl: Duration::from_secs(raw.session_ttl_secs),
        })
    }

    /// Whether the status page is served.
    pub fn is_on(&self) -> bool {
        !self.users.is_empty()
    }
}

// === passwords ===

/// Hashes a password for `[[status.users]] password_hash`: argon2id with
/// the argon2 crate's defaults (19 MiB, 2 passes, OWASP's recommendation)
/// and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("encoding the salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` matches the PHC string `hash` (blocking: run it on
/// a blocking thread).
pub fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks that `hash` is an argon2 PHC string with a bounded cost.
fn check_hash(hash: &str) -> Result<(), String> {
    let h = PasswordHash::new(hash).map_err(|e| {
        format!("not a PHC string ({e}); it looks like `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`")
    })?;
    if argon2::Algorithm::try_from(h.algorithm).is_err() {
        return Err(format!(
            "algorithm `{}` is not argon2id, argon2i or argon2d",
            h.algorithm
        ));
    }
    let param = |name: &str| h.params.get_decimal(name).unwrap_or(0);
    if param("m") > MAX_MEMORY_KIB || param("t") > MAX_ITERATIONS || param("p") > MAX_LANES {
        return Err(format!(
            "cost too high (m={}, t={}, p={}); at most m={MAX_MEMORY_KIB}, t={MAX_ITERATIONS}, p={MAX_LANES}",
            param("m"),
            param("t"),
            param("p")
        ));
    }
    if h.hash.is_none() {
        return Err("the hash part is missing".to_owned());
    }
    Ok(())
}

/// `status hash-password`: reads a password from stdin (one line, or all
/// of it when piped without a newline) and prints its PHC string.
pub fn hash_password_cli(
    mut input: impl std::io::Read,
    mut out: impl std::io::Write,
) -> anyhow::Result<()> {
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("reading the password from stdin: {e}"))?;
    let password = text.lines().next().unwrap_or("");
    anyhow::ensure!(
        password.chars().count() >= 10,
        "the password is shorter than 10 characters; pipe a longer one: `printf '%s\\n' 'a long pass phrase' | schoolwatch-collector status hash-password`"
    );
    anyhow::ensure!(
        password.len() <= MAX_FIELD_BYTES,
        "the password is longer than {MAX_FIELD_BYTES} bytes"
    );
    let hash = hash_password(password).map_err(anyhow::Error::msg)?;
    writeln!(out, "{hash}")?;
    Ok(())
}

// === sessions ===

/// A logged-in staff member, as the pages see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// Login name.
    pub name: String,
    /// The only district they may see; `None` for the whole province.
    pub district: Option<String>,
}

impl Who {
    /// Whether they may see `district`.
    pub fn sees(&self, district: &str) -> bool {
        self.district.as_deref().is_none_or(|d| d == district)
    }
}

struct Session {
    who: Who,
    expires: Instant,
}

/// Accounts and live sessions.
pub struct Auth {
    /// Accounts from the config (at least one: no users, no router).
    users: Vec<StatusUser>,
    /// How long a session lasts.
    ttl: Duration,
    /// Sessions by SHA-256 of the cookie value. A std mutex: held only for
    /// a map operation, never across an await.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    /// One password check at a time: argon2 is built to be expensive.
    verifying: tokio::sync::Semaphore,
}

impl Auth {
    /// Accounts from `config`.
    pub fn new(config: &StatusConfig) -> Self {
        Self {
            users: config.users.clone(),
            ttl: config.session_ttl,
            sessions: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(1),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Checks a login; on success returns the new session's cookie value.
    /// An unknown name costs the same check as a wrong password, and every
    /// failure answers after a delay.
    pub async fn login(&self, name: &str, password: &str) -> Option<(String, Who)> {
        let user = self.users.iter().find(|u| u.name == name);
        let sane = name.len() <= MAX_FIELD_BYTES && password.len() <= MAX_FIELD_BYTES;
        let ok = match (sane, self.users.first()) {
            (true, Some(first)) => {
                let hash = user.unwrap_or(first).password_hash.clone();
                let password = password.to_owned();
                let _one_at_a_time = self.verifying.acquire().await.ok()?;
                tokio::task::spawn_blocking(move || verify(&hash, &password))
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        };
        let Some(user) = user.filter(|_| ok) else {
            tokio::time::sleep(FAILED_LOGIN_DELAY).await;
            return None;
        };
        let who = Who {
            name: user.name.clone(),
            district: user.district.clone(),
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).ok()?;
        let value = hex::encode(secret);
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest(&value),
            Session {
                who: who.clone(),
                expires: now + self.ttl,
            },
        );
        Some((value, who))
    }

    /// The staff member whose live session cookie `headers` carry.
    pub fn who(&self, headers: &HeaderMap) -> Option<Who> {
        let value = cookie(headers)?;
        let mut sessions = lock(&self.sessions);
        let key = digest(&value);
        match sessions.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.who.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session `headers` carry, if any.
    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(value) = cookie(headers) {
            lock(&self.sessions).remove(&digest(&value));
        }
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(value: &str, ttl: Duration) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        ttl.as_secs()
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// Whether a state-changing request comes from our own pages: when the
/// browser says where it comes from (`Sec-Fetch-Site`, `Origin`), it must
/// be this origin.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    match text("origin") {
        None => true,
        Some(origin) => {
            let host = text(header::HOST.as_str()).unwrap_or("");
            let origin_host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            origin_host.is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
        }
    }
}

/// The session cookie's value from `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 64)
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Locks the session map; a panic while holding it left a map that is
/// still a valid map, so carry on with it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn raw(toml: &str) -> RawStatus {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(check_hash(&h).is_ok());
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterz"));
        assert!(!verify("not a hash", "x"));
    }

    #[test]
    fn config_problems_name_their_keys() {
        let c = StatusConfig::from_raw(RawStatus::default()).unwrap();
        assert!(!c.is_on());
        let h = hash_password("a long pass phrase").unwrap();
        let e = StatusConfig::from_raw(raw(&format!(
            "session_ttl_secs = 5\n\
             [[users]]\nname = \"so\"\npassword_hash = \"{h}\"\n\
             [[users]]\nname = \"so\"\npassword_hash = \"plain\"\ndistrict = \"\"\n\
             [[users]]\nname = \"big\"\npassword_hash = \"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n"
        )))
        .unwrap_err()
        .join("\n");
        for key in [
            "status.session_ttl_secs",
            "status.users[1].name",
            "status.users[1].password_hash",
            "status.users[1].district",
            "status.users[2].password_hash",
        ] {
            assert!(e.contains(&format!("key `{key}`")), "{key}: {e}");
        }
        assert!(e.contains("status hash-password"), "{e}");
        assert!(!e.contains("users[0]"), "{e}");
    }

    #[test]
    fn district_staff_see_only_their_district() {
        let all = Who {
            name: "so".into(),
            district: None,
        };
        let one = Who {
            name: "pk".into(),
            district: Some("Pleiku".into()),
        };
        assert!(all.sees("Chư Păh") && all.sees("Pleiku"));
        assert!(one.sees("Pleiku") && !one.sees("Chư Păh"));
    }

    #[tokio::test]
    async fn sessions_expire_and_log_out() {
        let h = hash_password("a long pass phrase").unwrap();
        let config = StatusConfig {
            users: vec![StatusUser {
                name: "pk".into(),
                password_hash: h,
                district: Some("Pleiku".into()),
            }],
            session_ttl: Duration::from_secs(300),
        };
        let auth = Auth::new(&config);
        assert!(auth.login("pk", "wrong pass phrase").await.is_none());
        assert!(auth.login("nobody", "a long pass phrase").await.is_none());
        let (value, who) = auth.login("pk", "a long pass phrase").await.unwrap();
        assert_eq!(who.district.as_deref(), Some("Pleiku"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={value}")).unwrap(),
        );
        assert_eq!(auth.who(&headers), Some(who));
        auth.logout(&headers);
        assert_eq!(auth.who(&headers), None);
        let set = set_cookie(&value, auth.ttl());
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=300",
        ] {
            assert!(set.contains(attr), "{set}");
        }
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("collector:8443"));
        assert!(same_origin(&h));
        h.insert("origin", HeaderValue::from_static("https://collector:8443"));
        assert!(same_origin(&h));
        h.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.insert("origin", HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.remove("origin");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
