//! A store for a unit test: SQLite in a temporary directory, or a fresh
//! PostgreSQL database when the test command's second pass sets
//! `SCHOOLWATCH_TEST_POSTGRES` to a server's URL.

use super::Store;
use super::db::{self, Conn};

/// Where a test's store lives: a temporary directory (SQLite), or with
/// `SCHOOLWATCH_TEST_POSTGRES` set (the test command's second pass) a
/// fresh database on that PostgreSQL server, dropped afterwards.
pub struct TestDb {
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let postgres = std::env::var("SCHOOLWATCH_TEST_POSTGRES")
            .ok()
            .map(|server| {
                let mut buf = [0u8; 6];
                getrandom::fill(&mut buf).unwrap();
                let name = format!("sw_unit_{}", hex::encode(buf));
                let mut admin = db::PgConn::connect(&server).map(Conn::Postgres).unwrap();
                admin.batch(&format!("CREATE DATABASE {name}")).unwrap();
                let (base, _) = server.rsplit_once('/').expect("a URL ending in /DATABASE");
                (server.clone(), format!("{base}/{name}"))
            });
        Self { dir, postgres }
    }

    /// The directory (the SQLite file, or only the other files).
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The PostgreSQL database's URL, when the test runs on one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, url)| url.as_str())
    }

    /// Opens (again) the store of this test.
    pub fn open(&self) -> Store {
        match &self.postgres {
            Some((_, url)) => Store::open_postgres(url).unwrap(),
            None => Store::open(self.dir.path()).unwrap(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, url)) = &self.postgres {
            let name = url.rsplit('/').next().unwrap_or_default();
            if let Ok(mut admin) = db::PgConn::connect(server).map(Conn::Postgres) {
                let _ = admin.batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
