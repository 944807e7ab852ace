//! PostgreSQL for the second pass of the suite: a fresh database per test
//! collector on the throwaway cluster `scripts/with-postgres.sh` starts.
//!
//! The pass is on when [`ENV`] holds the server's URL
//! (`postgresql://schoolwatch@127.0.0.1:PORT/postgres`, a role that may
//! create databases). [`TestCollector`](crate::TestCollector) then gives
//! each collector (or each group of collectors sharing a store) its own
//! database, so tests running in parallel never see each other's rows,
//! and drops it when the last of them is dropped.
//!
//! The `postgres` client is synchronous and runs a small tokio runtime of
//! its own, which panics inside another runtime; every call here runs on a
//! short-lived thread of its own so callers need not care where they are.

use anyhow::Context as _;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that turns the PostgreSQL pass on: the URL of a server
/// and a role with CREATEDB.
pub const ENV: &str = "SCHOOLWATCH_TEST_POSTGRES";

/// The directory of the same server's Unix socket, for collectors inside
/// a network namespace (a socket is a file: reachable from any of them).
pub const SOCKET_ENV: &str = "SCHOOLWATCH_TEST_POSTGRES_SOCKET";

/// The server URL when the PostgreSQL pass runs, `None` on SQLite.
pub fn server() -> Option<String> {
    std::env::var(ENV).ok().filter(|s| !s.trim().is_empty())
}

/// A fresh database on the test server, dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL a collector's `[store] url` takes.
    pub url: String,
    /// The database's name.
    pub name: String,
    /// The server URL it was made from (to drop it from another database).
    server: String,
}

impl TestDatabase {
    /// Creates a uniquely named database when [`ENV`] is set; `None` when
    /// the suite runs on SQLite. Fails the test if the server refuses.
    pub fn create() -> Option<Self> {
        let server = server()?;
        let name = unique_name();
        let sql = format!("CREATE DATABASE {name}");
        with_client(&server, move |c| Ok(c.batch_execute(&sql)?)).unwrap_or_else(|e| {
            panic!(
                "cannot create test database {name} on {server} ({ENV}; \
                 scripts/with-postgres.sh starts a server and sets it): {e:#}"
            )
        });
        let url = database_url(&server, &name);
        Some(Self { url, name, server })
    }

    /// The same database by the server's Unix socket (from [`SOCKET_ENV`]),
    /// for a collector in a network namespace, whose 127.0.0.1 is its own.
    pub fn socket_url(&self) -> Option<String> {
        let dir = std::env::var(SOCKET_ENV).ok().filter(|s| !s.is_empty())?;
        Some(socket_url(&self.url, &dir))
    }

    /// Keeps the database after the test (no drop) and returns its URL.
    pub fn keep(self) -> String {
        let kept = std::mem::ManuallyDrop::new(self);
        kept.url.clone()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE: a collector still connected (a test that failed before
        // stopping it) is disconnected instead of keeping the database.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = with_client(&self.server, move |c| Ok(c.batch_execute(&sql)?)) {
            eprintln!("could not drop test database {}: {e:#}", self.name);
        }
    }
}

/// A fresh database's URL when [`ENV`] is set (kept until the cluster is
/// thrown away); prefer [`TestDatabase::create`], which drops it.
pub fn test_database() -> Option<String> {
    TestDatabase::create().map(TestDatabase::keep)
}

/// Connects to `url` and runs `f` with the client, on a thread of its own
/// (outside any tokio runtime).
pub fn with_client<T: Send>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut client = postgres::Client::connect(url, postgres::NoTls)
                .with_context(|| format!("connecting to {url}"))?;
            f(&mut client)
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the PostgreSQL client thread panicked")))
    })
}

/// `server` with its database part replaced by `name`.
fn database_url(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server)
        .unwrap_or_else(|e| panic!("{ENV}={server} is not a postgresql:// URL: {e}"));
    url.set_path(&format!("/{name}"));
    url.into()
}

/// `url` with its host replaced by the socket directory `dir`, which
/// libpq and the `postgres` crate take percent-encoded in the host part
/// (the socket file is `dir/.s.PGSQL.<port>`).
fn socket_url(url: &str, dir: &str) -> String {
    let url = url::Url::parse(url).expect("a URL made by database_url");
    let mut host = String::new();
    for b in dir.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            host.push(char::from(b));
        } else {
            host.push_str(&format!("%{b:02X}"));
        }
    }
    let user = url.username();
    let port = url.port().unwrap_or(5432);
    format!("postgresql://{user}@{host}:{port}{}", url.path())
}

/// `sw_test_<pid>_<n>_<random>`: unique across the test binaries sharing a
/// server (a pid may come back; the random part does not).
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).expect("the OS random source");
    format!(
        "sw_test_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        u32::from_le_bytes(random)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_replaces_the_path_only() {
        assert_eq!(
            database_url("postgresql://schoolwatch@127.0.0.1:5433/postgres", "sw_x"),
            "postgresql://schoolwatch@127.0.0.1:5433/sw_x"
        );
        assert_eq!(
            database_url(
                "postgresql://u:p@127.0.0.1:5433/postgres?sslmode=disable",
                "d"
            ),
            "postgresql://u:p@127.0.0.1:5433/d?sslmode=disable"
        );
    }

    #[test]
    fn the_socket_url_names_the_directory_and_keeps_the_rest() {
        assert_eq!(
            socket_url(
                "postgresql://schoolwatch@127.0.0.1:5433/sw_x",
                "/tmp/schoolwatch-pg.Ab_9/sock"
            ),
            "postgresql://schoolwatch@%2Ftmp%2Fschoolwatch-pg.Ab_9%2Fsock:5433/sw_x"
        );
    }

    #[test]
    fn names_are_plain_identifiers_and_differ() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.len() <= 63, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{n}"
            );
        }
    }

    /// On the PostgreSQL pass: a database is made, usable, and gone after
    /// drop.
    #[test]
    fn a_test_database_is_created_and_dropped() {
        let Some(server) = server() else {
            eprintln!("skipped: {ENV} is not set (the SQLite pass)");
            return;
        };
        let db = TestDatabase::create().unwrap();
        let name = db.name.clone();
        let current = with_client(&db.url, |c| {
            Ok(c.query_one("SELECT current_database()", &[])?
                .get::<_, String>(0))
        })
        .unwrap();
        assert_eq!(current, name);
        // The same database through the Unix socket.
        let by_socket = db
            .socket_url()
            .expect("scripts/with-postgres.sh sets the socket");
        let current = with_client(&by_socket, |c| {
            Ok(c.query_one("SELECT current_database()", &[])?
                .get::<_, String>(0))
        })
        .unwrap();
        assert_eq!(current, name);
        drop(db);
        let left = with_client(&server, move |c| {
            Ok(c.query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )?
            .get::<_, i64>(0))
        })
        .unwrap();
        assert_eq!(left, 0);
    }
}
