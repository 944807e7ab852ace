//! The collector's embedded store: SQLite in the data directory.
//!
//! # Design
//! One database file, `schoolwatch.db`, in WAL mode with
//! `synchronous = FULL`: a transaction that returned has reached the disk,
//! so an acknowledgement sent after [`Store::ingest`] survives a power cut.
//! Every ingest batch is one transaction: all its reports land, or none.
//!
//! Secrets are never stored: enrollment tokens and agent credentials are
//! kept as SHA-256 hashes (they are 256-bit random values, so a fast hash
//! is enough; there is nothing to brute-force).
//!
//! Tables (schema version in `PRAGMA user_version`, migrations in
//! `schema.rs`):
//! - `schools`: the registry, re-imported in place; `revoked_ms` set when a
//!   school is withdrawn (its agents are refused at once).
//! - `tokens`: enrollment tokens per school, with expiry.
//! - `agents`: one row per host. Identity, credential hash, machine
//!   fingerprint, and the host's current state (latest inventory columns,
//!   latest sample, counters) so `/metrics` reads one table.
//! - `reports`: one row per accepted report, keyed by (agent, sequence) for
//!   de-duplication, with the original sampling time for history.
//!
//! The API is synchronous (rusqlite); async callers use `spawn_blocking`.

pub mod db;
mod devices;
mod schema;
#[cfg(test)]
pub(crate) mod testdb;

pub use devices::{DeviceRow, device_key};

use crate::registry::{LinkKind, School};
use db::{Conn, Exec, args};
use schoolwatch_protocol::{AgentHealth, CheckStatus, Report, Role, Sample, Security, Severity};
use serde::de::{DeserializeOwned, IntoDeserializer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use thiserror::Error;

/// The PostgreSQL advisory lock the leader holds ("schwatch" in ASCII).
const LEADER_LOCK: i64 = 0x7363_6877_6174_6368;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "schoolwatch.db";

/// A store operation that failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or could not be reached).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// The database was written by a newer collector.
    #[error(
        "the database schema is version {found}, newer than this collector's {supported}; run the newer collector"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The writer thread is gone (the collector is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A stored row could not be decoded.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Why an enrollment was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnrollError {
    /// Unknown, expired, or for a revoked school.
    #[error("the enrollment token is unknown or expired; ask the department for a new one")]
    BadToken,
}

/// Who an authenticated request comes from; derived from the credential,
/// never from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The host's agent id.
    pub agent_id: String,
    /// The school the agent enrolled into.
    pub school_id: String,
}

/// The result of an enrollment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The host's agent id.
    pub agent_id: String,
    /// The new secret credential (returned once; only its hash is kept).
    pub credential: String,
    /// The school.
    pub school_id: String,
    /// True when the machine was already enrolled in this school and keeps
    /// its host (the old credential stops working).
    pub reenrolled: bool,
    /// The highest sequence stored (or pruned) for the host.
    pub last_sequence: u64,
}

/// What one ingest batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Reports stored for the first time.
    pub accepted: u32,
    /// Reports already stored (replays); acknowledged again, not counted.
    pub duplicates: u32,
    /// Positions in the batch of the reports stored for the first time
    /// (what remote_write sends on).
    pub fresh: Vec<usize>,
}

/// One enrolled agent, for `agents list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentRow {
    /// Agent id.
    pub agent_id: String,
    /// School.
    pub school_id: String,
    /// Host name as last reported (a label).
    pub hostname: String,
    /// Enrollment time, ms.
    pub enrolled_ms: i64,
    /// Last report received, ms.
    pub last_seen_ms: Option<i64>,
    /// Accepted reports.
    pub reports_total: i64,
    /// Revocation time, ms.
    pub revoked_ms: Option<i64>,
}

/// A host's current state, for `/metrics` and coverage.
#[derive(Debug, Clone)]
pub struct HostState {
    /// Agent id (the host's identity).
    pub agent_id: String,
    /// School.
    pub school_id: String,
    /// Host name (a label for people).
    pub hostname: String,
    /// Role from the latest inventory.
    pub role: Role,
    /// OS name and version.
    pub os: String,
    /// CPU model.
    pub cpu_model: String,
    /// Logical cores.
    pub logical_cores: u32,
    /// RAM, bytes.
    pub memory_total_bytes: u64,
    /// Sum of disk sizes, bytes.
    pub disk_total_bytes: u64,
    /// Each disk from the latest inventory.
    pub disks: Vec<DiskState>,
    /// Boot time, seconds.
    pub boot_time_seconds: u64,
    /// When the last report was received, ms.
    pub last_seen_ms: i64,
    /// Accepted reports.
    pub reports_total: u64,
    /// Highest accepted sequence.
    pub last_sequence: u64,
    /// Whether an inventory has been received.
    pub has_inventory: bool,
    /// The latest sample (by sampling time).
    pub last_sample: Option<Sample>,
    /// The agent's health from its newest report (by sequence).
    pub health: Option<AgentHealth>,
    /// Security checks from the newest report that had them: (id, status).
    pub checks: Vec<(String, CheckStatus)>,
    /// ICMP probe results from the newest report that had them.
    pub probes: Vec<schoolwatch_protocol::ProbeResult>,
    /// The newest throughput test.
    pub throughput: Option<schoolwatch_protocol::Throughput>,
}

/// A security regression: a check that passed on a host and then failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Regression {
    /// The host.
    pub agent_id: String,
    /// Its school.
    pub school_id: String,
    /// Which check.
    pub check_id: String,
    /// How much it matters.
    pub severity: String,
    /// When the failing report was sampled, ms since the epoch.
    pub at_ms: i64,
}

/// The stored name of a check status.
pub fn status_name(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
        CheckStatus::Unknown => "unknown",
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

/// One disk of a host, as last reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskState {
    /// Mount point.
    pub mount: String,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Free space available, bytes.
    pub available_bytes: u64,
}

impl DiskState {
    /// Each disk of an inventory as the store keeps it.
    pub fn of(inv: &schoolwatch_protocol::Inventory) -> Vec<DiskState> {
        inv.disks
            .iter()
            .map(|d| DiskState {
                mount: d.mount_point.clone(),
                size_bytes: d.total_bytes,
                available_bytes: d.available_bytes,
            })
            .collect()
    }
}

/// A recorded outage of a school: no report received from any of its
/// agents for longer than the online window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageRow {
    /// The last report received before it, ms.
    pub start_ms: i64,
    /// The first report received after it, ms.
    pub end_ms: i64,
}

/// The SQLite store.
pub struct Store {
    /// Writes go through one connection, so SQLite never returns BUSY to us.
    writer: Mutex<Conn>,
    /// Reads (scrapes, coverage) use their own connection; WAL lets them run
    /// beside a write.
    reader: Mutex<Conn>,
    /// Credential checks have a connection of their own: they run on every
    /// request, take microseconds, and must not wait behind a long scrape.
    auth: Mutex<Conn>,
    /// PostgreSQL only: where to connect, for the leader's connection.
    url: Option<String>,
    /// PostgreSQL only: the connection holding the leader lock, when this
    /// collector holds it (see [`Store::is_leader`]).
    leader: Mutex<Option<Conn>>,
    /// A school silent for longer than this has had an outage (the
    /// collector's online window), ms.
    outage_gap_ms: std::sync::atomic::AtomicI64,
    /// When this store was opened, ms: the collector's own start.
    opened_ms: i64,
    /// The newest report received before that, ms: about when the
    /// collector last ran. Its own downtime is not the schools' outage.
    last_alive_ms: i64,
}

fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A random secret with a readable prefix (so a leaked one is recognisable
/// in logs and secret scanners).
fn random_secret(prefix: &str) -> String {
    let mut buf = [0u8; 32];
    // The OS random source failing is not recoverable.
    getrandom::fill(&mut buf).expect("the OS random number generator works");
    format!("{prefix}{}", hex::encode(buf))
}

fn random_id() -> String {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).expect("the OS random number generator works");
    hex::encode(buf)
}

/// Parses a lowercase enum name as serde would (`"4g"`, `"lab"`).
fn parse_enum<T: DeserializeOwned>(table: &'static str, s: &str) -> Result<T, StoreError> {
    T::deserialize(s.into_deserializer()).map_err(|e: serde::de::value::Error| {
        StoreError::Corrupt {
            table,
            detail: format!("{s:?}: {e}"),
        }
    })
}

/// Parses a nullable JSON column of agent `agent_id`; damage is
/// `Corrupt`, naming the column and the agent.
fn parse_json<T: DeserializeOwned>(
    json: Option<String>,
    column: &str,
    agent_id: &str,
) -> Result<Option<T>, StoreError> {
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
            table: "agents",
            detail: format!("{column} of {agent_id}: {e}"),
        })
    })
    .transpose()
}

fn lock(m: &Mutex<Conn>) -> std::sync::MutexGuard<'_, Conn> {
    // A panic while holding the lock leaves the connection usable (SQLite
    // rolls back the open transaction), so a poisoned lock is not fatal.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and applies
    /// migrations.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let open = || -> Result<Conn, StoreError> {
            let c = rusqlite::Connection::open(&path)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            // Every statement the store runs stays prepared (ingest alone
            // uses a couple of dozen; the default cache holds 16, and a
            // statement pushed out is parsed again on its next use).
            c.set_prepared_statement_cache_capacity(128);
            Ok(Conn::Sqlite(c))
        };
        let mut writer = open()?;
        if let Conn::Sqlite(c) = &writer {
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
        }
        schema::migrate(&mut writer)?;
        Self::with_connections(writer, open()?, open()?, None)
    }

    /// Opens the PostgreSQL database at `url` (several collectors may
    /// share it) and applies migrations.
    pub fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let connect = || db::PgConn::connect(url).map(Conn::Postgres);
        let mut writer = connect()?;
        schema::migrate(&mut writer)?;
        Self::with_connections(writer, connect()?, connect()?, Some(url.to_owned()))
    }

    /// Opens the store the config names: PostgreSQL when it has a URL,
    /// else the SQLite file in `data_dir`.
    pub fn open_with(data_dir: &Path, postgres_url: Option<&str>) -> Result<Self, StoreError> {
        match postgres_url {
            Some(url) => Self::open_postgres(url),
            None => Self::open(data_dir),
        }
    }

    fn with_connections(
        mut writer: Conn,
        reader: Conn,
        auth: Conn,
        url: Option<String>,
    ) -> Result<Self, StoreError> {
        let last_alive_ms: Option<i64> = writer
            .query_one("SELECT MAX(last_seen_ms) FROM schools", args![])?
            .get(0)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            auth: Mutex::new(auth),
            url,
            leader: Mutex::new(None),
            outage_gap_ms: std::sync::atomic::AtomicI64::new(300_000),
            opened_ms: crate::fleet::now_ms(),
            last_alive_ms: last_alive_ms.unwrap_or(0),
        })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> db::Engine {
        lock(&self.writer).engine()
    }

    /// Whether this collector is the one that exposes the fleet on
    /// `/metrics` and prunes: always with SQLite (one collector); with
    /// PostgreSQL, the collector holding the leader lock (a session-level
    /// advisory lock: when its holder stops or loses its connection, the
    /// next collector to ask takes it).
    pub fn is_leader(&self) -> bool {
        let Some(url) = &self.url else {
            return true;
        };
        let mut held = self
            .leader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Still holding it, as long as the connection answers.
        if let Some(c) = held.as_mut() {
            if c.query_one("SELECT 1", args![]).is_ok() {
                return true;
            }
            *held = None;
        }
        let Ok(mut c) = db::PgConn::connect(url).map(Conn::Postgres) else {
            return false;
        };
        let got = c
            .query_one("SELECT pg_try_advisory_lock(?1)", args![LEADER_LOCK])
            .and_then(|r| r.get::<bool>(0))
            .unwrap_or(false);
        if got {
            tracing::info!("This collector is now the leader: it exposes the fleet and prunes.");
            *held = Some(c);
        }
        got
    }

    /// Sets the online window: a school silent for longer has had an
    /// outage. Defaults to 5 minutes.
    pub fn set_online_window(&self, window: std::time::Duration) {
        let ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.outage_gap_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    // === registry ===

    /// Adds or updates schools by id; returns (added, updated).
    pub fn import_schools(&self, schools: &[School]) -> Result<(usize, usize), StoreError> {
        let mut conn = lock(&self.writer);
        let mut tx = conn.transaction()?;
        let (mut added, mut updated) = (0, 0);
        for s in schools {
            if tx
                .query_opt("SELECT 1 FROM schools WHERE id = ?1", args![s.id])?
                .is_some()
            {
                updated += 1;
            } else {
                added += 1;
            }
            tx.execute(
                "INSERT INTO schools (id, name, district, level, expected_lab_pcs, link_kind,
                   contracted_mbps, expected_devices)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, district = excluded.district,
                   level = excluded.level, expected_lab_pcs = excluded.expected_lab_pcs,
                   link_kind = excluded.link_kind, contracted_mbps = excluded.contracted_mbps,
                   expected_devices = excluded.expected_devices",
                args![
                    s.id,
                    s.name,
                    s.district,
                    s.level.as_str(),
                    s.expected_lab_pcs,
                    s.link_kind.as_str(),
                    s.contracted_mbps,
                    s.expected_devices
                ],
            )?;
        }
        tx.commit()?;
        Ok((added, updated))
    }

    /// All schools in the registry that are not revoked, by id.
    pub fn schools(&self) -> Result<Vec<School>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT id, name, district, level, expected_lab_pcs, link_kind, contracted_mbps,
                    expected_devices
             FROM schools WHERE revoked_ms IS NULL ORDER BY id",
            args![],
        )?;
        rows.iter()
            .map(|r| {
                Ok(School {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    district: r.get(2)?,
                    level: parse_enum("schools", &r.get::<String>(3)?)?,
                    expected_lab_pcs: r.get(4)?,
                    link_kind: parse_enum::<LinkKind>("schools", &r.get::<String>(5)?)?,
                    contracted_mbps: r.get(6)?,
                    expected_devices: r.get(7)?,
                })
            })
            .collect()
    }

    /// Withdraws a school: its tokens and agents are refused from now on.
    pub fn revoke_school(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = lock(&self.writer).execute(
            "UPDATE schools SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            args![id, now_ms],
        )?;
        Ok(n == 1)
    }

    // === enrollment and identity ===

    /// Creates an enrollment token for a school; `None` if the school is
    /// not in the registry. The token is returned once and stored hashed.
    pub fn create_token(
        &self,
        school_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = lock(&self.writer);
        let known = conn
            .query_opt(
                "SELECT 1 FROM schools WHERE id = ?1 AND revoked_ms IS NULL",
                args![school_id],
            )?
            .is_some();
        if !known {
            return Ok(None);
        }
        let token = random_secret("swt_");
        conn.execute(
            "INSERT INTO tokens (hash, school_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            args![sha256(&token), school_id, now_ms, expires_ms],
        )?;
        Ok(Some(token))
    }

    /// Exchanges a token for a credential. A machine already enrolled in the
    /// token's school (same fingerprint) keeps its agent id and gets a new
    /// credential; the old one stops working.
    pub fn enroll(
        &self,
        token: &str,
        fingerprint: &str,
        hostname: &str,
        now_ms: i64,
    ) -> Result<Result<Enrolled, EnrollError>, StoreError> {
        let mut conn = lock(&self.writer);
        let mut tx = conn.transaction()?;
        let school = tx.query_opt(
            "SELECT t.school_id FROM tokens t JOIN schools s ON s.id = t.school_id
             WHERE t.hash = ?1 AND t.expires_ms > ?2 AND s.revoked_ms IS NULL",
            args![sha256(token), now_ms],
        )?;
        let Some(school) = school else {
            return Ok(Err(EnrollError::BadToken));
        };
        let school_id: String = school.get(0)?;
        let credential = random_secret("swc_");
        let existing = tx.query_opt(
            "SELECT id, GREATEST(last_sequence, pruned_through_seq) FROM agents
             WHERE school_id = ?1 AND fingerprint = ?2",
            args![school_id, fingerprint],
        )?;
        let (agent_id, reenrolled, last_sequence) = match existing {
            Some(row) => {
                let id: String = row.get(0)?;
                tx.execute(
                    "UPDATE agents SET credential_hash = ?2, revoked_ms = NULL, enrolled_ms = ?3
                     WHERE id = ?1",
                    args![id, sha256(&credential), now_ms],
                )?;
                (id, true, row.get::<u64>(1)?)
            }
            None => {
                let id = random_id();
                tx.execute(
                    "INSERT INTO agents (id, school_id, credential_hash, fingerprint, hostname, enrolled_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![id, school_id, sha256(&credential), fingerprint, hostname, now_ms],
                )?;
                (id, false, 0)
            }
        };
        tx.commit()?;
        Ok(Ok(Enrolled {
            agent_id,
            credential,
            school_id,
            reenrolled,
            last_sequence,
        }))
    }

    /// The identity behind a credential; `None` when unknown, revoked, or
    /// the school is revoked. Reads the database every time, so revocation
    /// by another process (or another collector) takes effect at once.
    /// It is one indexed lookup, cheap enough to run on an async thread.
    pub fn authenticate(&self, credential: &str) -> Result<Option<Identity>, StoreError> {
        let row = lock(&self.auth).query_opt(
            "SELECT a.id, a.school_id FROM agents a JOIN schools s ON s.id = a.school_id
             WHERE a.credential_hash = ?1 AND a.revoked_ms IS NULL AND s.revoked_ms IS NULL",
            args![sha256(credential)],
        )?;
        row.map(|r| {
            Ok(Identity {
                agent_id: r.get(0)?,
                school_id: r.get(1)?,
            })
        })
        .transpose()
    }

    /// All agents, by school then id.
    pub fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT id, school_id, hostname, enrolled_ms, last_seen_ms, reports_total, revoked_ms
             FROM agents ORDER BY school_id, id",
            args![],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AgentRow {
                    agent_id: r.get(0)?,
                    school_id: r.get(1)?,
                    hostname: r.get(2)?,
                    enrolled_ms: r.get(3)?,
                    last_seen_ms: r.get(4)?,
                    reports_total: r.get(5)?,
                    revoked_ms: r.get(6)?,
                })
            })
            .collect()
    }

    /// Revokes an agent; its credential is refused from now on.
    pub fn revoke_agent(&self, agent_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = lock(&self.writer).execute(
            "UPDATE agents SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            args![agent_id, now_ms],
        )?;
        Ok(n == 1)
    }

    // === ingest ===

    /// Stores a batch of already-validated reports from `who`, in one
    /// transaction. Reports already stored (same agent and sequence) are
    /// counted as duplicates and change nothing.
    pub fn ingest(
        &self,
        who: &Identity,
        reports: &[Report],
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let mut out = self.ingest_group(&[(who, reports)], now_ms)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Stores several agents' batches in one transaction (group commit: one
    /// fsync for all of them). All land or none does; the outcome of each
    /// batch is returned in order.
    pub fn ingest_group(
        &self,
        batches: &[(&Identity, &[Report])],
        now_ms: i64,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        self.ingest_group_then(batches, now_ms, |_| {})
    }

    /// Like [`Store::ingest_group`]; `before_commit` sees the outcomes once
    /// every report is written and before the transaction commits
    /// (remote_write makes its outbound queue durable there: a crash can
    /// then queue samples twice, never lose them).
    pub fn ingest_group_then(
        &self,
        batches: &[(&Identity, &[Report])],
        now_ms: i64,
        before_commit: impl FnOnce(&[IngestOutcome]),
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut conn = lock(&self.writer);
        let mut tx = conn.transaction()?;
        let gap_ms = self
            .outage_gap_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        // Rows are locked in one order (school, then agent) by every
        // collector sharing a PostgreSQL database, so two group commits
        // never wait on each other in a circle.
        let mut order: Vec<usize> = (0..batches.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (batches[a].0, batches[b].0);
            (&x.school_id, &x.agent_id).cmp(&(&y.school_id, &y.agent_id))
        });
        let mut outcomes = vec![IngestOutcome::default(); batches.len()];
        for at in order {
            let (who, reports) = batches[at];
            let out = &mut outcomes[at];
            let mut max_seq = 0i64;
            // Reports this old were stored once and pruned since.
            let pruned: i64 = tx
                .query_opt(
                    "SELECT pruned_through_seq FROM agents WHERE id = ?1",
                    args![who.agent_id],
                )?
                .map(|r| r.get(0))
                .transpose()?
                .unwrap_or(0);
            for (i, r) in reports.iter().enumerate() {
                let sampled_at = i64::try_from(r.sampled_at_ms).unwrap_or(i64::MAX);
                let seq = i64::try_from(r.sequence).unwrap_or(i64::MAX);
                let fresh = seq > pruned
                    && tx.execute(
                        "INSERT INTO reports
                           (agent_id, sequence, school_id, sampled_at_ms, received_ms, gateway_up)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                        args![
                            who.agent_id,
                            seq,
                            who.school_id,
                            sampled_at,
                            now_ms,
                            gateway_answered(&r.probes)
                        ],
                    )? == 1;
                if !fresh {
                    out.duplicates += 1;
                    continue;
                }
                out.accepted += 1;
                out.fresh.push(i);
                max_seq = max_seq.max(seq);
                apply_report(&mut tx, who, r, seq, sampled_at)?;
            }
            if out.accepted > 0 {
                let last: Option<i64> = tx
                    .query_one(
                        "SELECT last_seen_ms FROM schools WHERE id = ?1",
                        args![who.school_id],
                    )?
                    .get(0)?;
                if let Some(start) = last.and_then(|l| self.outage_start(l, now_ms, gap_ms)) {
                    tx.execute(
                        "INSERT INTO outages (school_id, start_ms, end_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                        args![who.school_id, start, now_ms],
                    )?;
                }
                tx.execute(
                    "UPDATE schools SET last_seen_ms = GREATEST(COALESCE(last_seen_ms, ?2), ?2)
                     WHERE id = ?1",
                    args![who.school_id, now_ms],
                )?;
                tx.execute(
                    "UPDATE agents SET reports_total = reports_total + ?2,
                       last_sequence = GREATEST(last_sequence, ?3), last_seen_ms = ?4,
                       first_seen_ms = COALESCE(first_seen_ms, ?4)
                     WHERE id = ?1",
                    args![who.agent_id, out.accepted, max_seq, now_ms],
                )?;
            }
        }
        before_commit(&outcomes);
        tx.commit()?;
        Ok(outcomes)
    }

    /// Security regressions since `since_ms`, newest first, of live agents.
    pub fn regressions(&self, since_ms: i64) -> Result<Vec<Regression>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT e.agent_id, e.school_id, e.check_id, e.severity, e.at_ms
             FROM check_events e JOIN agents a ON a.id = e.agent_id
             WHERE e.at_ms >= ?1 AND a.revoked_ms IS NULL
             ORDER BY e.at_ms DESC",
            args![since_ms],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Regression {
                    agent_id: r.get(0)?,
                    school_id: r.get(1)?,
                    check_id: r.get(2)?,
                    severity: r.get(3)?,
                    at_ms: r.get(4)?,
                })
            })
            .collect()
    }

    /// Regressions ever, per (school, check), for a counter.
    pub fn regression_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT school_id, check_id, COUNT(*) FROM check_events
             GROUP BY school_id, check_id ORDER BY school_id, check_id",
            args![],
        )?;
        rows.iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
    }

    fn checks_by_agent(
        conn: &mut Conn,
    ) -> Result<std::collections::HashMap<String, Vec<(String, CheckStatus)>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<(String, CheckStatus)>> =
            std::collections::HashMap::new();
        conn.for_each(
            "SELECT agent_id, check_id, status FROM host_checks ORDER BY agent_id, check_id",
            args![],
            &mut |r| {
                out.entry(r.get(0)?)
                    .or_default()
                    .push((r.get(1)?, parse_enum("host_checks", &r.get::<String>(2)?)?));
                Ok(())
            },
        )?;
        Ok(out)
    }

    // === fleet state ===

    /// Every host of a non-revoked agent in a non-revoked school.
    pub fn hosts(&self) -> Result<Vec<HostState>, StoreError> {
        let mut conn = lock(&self.reader);
        let mut checks = Self::checks_by_agent(&mut conn)?;
        let mut out = Vec::new();
        conn.for_each(
            "SELECT a.id, a.school_id, a.hostname, a.role, a.os, a.cpu_model, a.logical_cores,
                    a.memory_total_bytes, a.disk_total_bytes, a.boot_time_seconds, a.last_seen_ms,
                    a.reports_total, a.last_sequence, a.inventory_json IS NOT NULL, a.last_sample_json,
                    a.disks_json, a.health_json, a.probes_json, a.throughput_json
             FROM agents a JOIN schools s ON s.id = a.school_id
             WHERE a.revoked_ms IS NULL AND s.revoked_ms IS NULL
             ORDER BY a.school_id, a.id",
            args![],
            &mut |r| {
                let agent_id: String = r.get(0)?;
                let id = agent_id.as_str();
                let h = HostState {
                    school_id: r.get(1)?,
                    hostname: r.get(2)?,
                    role: parse_enum("agents", &r.get::<String>(3)?)?,
                    os: r.get(4)?,
                    cpu_model: r.get(5)?,
                    logical_cores: r.get(6)?,
                    memory_total_bytes: r.get(7)?,
                    disk_total_bytes: r.get(8)?,
                    disks: parse_json(r.get(15)?, "disks_json", id)?.unwrap_or_default(),
                    boot_time_seconds: r.get(9)?,
                    last_seen_ms: r.get::<Option<i64>>(10)?.unwrap_or(0),
                    reports_total: r.get(11)?,
                    last_sequence: r.get(12)?,
                    has_inventory: r.get(13)?,
                    last_sample: parse_json(r.get(14)?, "last_sample_json", id)?,
                    health: parse_json(r.get(16)?, "health_json", id)?,
                    checks: checks.remove(id).unwrap_or_default(),
                    probes: parse_json(r.get(17)?, "probes_json", id)?.unwrap_or_default(),
                    throughput: parse_json(r.get(18)?, "throughput_json", id)?,
                    agent_id,
                };
                out.push(h);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Enrolled, non-revoked agents per school id.
    pub fn agent_counts(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT school_id, COUNT(*) FROM agents WHERE revoked_ms IS NULL GROUP BY school_id",
            args![],
        )?;
        rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
    }

    /// Deletes reports sampled and received before `horizon_ms` (and
    /// outages that ended before it), one school per transaction so ingest
    /// never waits long; remembers per agent the highest sequence pruned.
    /// Returns the reports deleted. Both times count because an old PC with
    /// a dead clock battery samples in 2000: its reports go when they were
    /// received long enough ago, not at once.
    pub fn prune(&self, horizon_ms: i64) -> Result<u64, StoreError> {
        let schools: Vec<String> = lock(&self.reader)
            .query("SELECT id FROM schools", args![])?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        let mut deleted = 0u64;
        for school in schools {
            let mut conn = lock(&self.writer);
            let mut tx = conn.transaction()?;
            tx.execute(
                "UPDATE agents SET pruned_through_seq = GREATEST(pruned_through_seq, p.seq)
                 FROM (SELECT agent_id, MAX(sequence) AS seq FROM reports
                       WHERE school_id = ?1 AND sampled_at_ms < ?2 AND received_ms < ?2
                       GROUP BY agent_id) AS p
                 WHERE agents.id = p.agent_id",
                args![school, horizon_ms],
            )?;
            deleted += tx.execute(
                "DELETE FROM reports WHERE school_id = ?1 AND sampled_at_ms < ?2 AND received_ms < ?2",
                args![school, horizon_ms],
            )?;
            tx.execute(
                "DELETE FROM outages WHERE school_id = ?1 AND end_ms < ?2",
                args![school, horizon_ms],
            )?;
            tx.commit()?;
        }
        // Devices not seen within the retention are gone from the school
        // (scrapped, moved); they come back as new if they reappear.
        self.prune_devices(horizon_ms)?;
        Ok(deleted)
    }

    /// Where a silence from `last_seen_ms` to `now_ms` began as a school
    /// outage, if it was one: longer than `gap_ms`, and not just the
    /// collector's own downtime (a school that reported until the collector
    /// stopped and again soon after it started had no outage).
    fn outage_start(&self, last_seen_ms: i64, now_ms: i64, gap_ms: i64) -> Option<i64> {
        let start = if self.last_alive_ms > 0
            && last_seen_ms < self.opened_ms
            && self.last_alive_ms - last_seen_ms <= gap_ms
        {
            // Silent only while the collector was down: count from its start.
            self.opened_ms
        } else {
            last_seen_ms
        };
        (now_ms - start > gap_ms).then_some(start)
    }

    /// Recorded outages per school that ended at or after `since_ms`,
    /// oldest first.
    pub fn outages(&self, since_ms: i64) -> Result<Vec<(String, OutageRow)>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT school_id, start_ms, end_ms FROM outages WHERE end_ms >= ?1
             ORDER BY school_id, start_ms",
            args![since_ms],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get(0)?,
                    OutageRow {
                        start_ms: r.get(1)?,
                        end_ms: r.get(2)?,
                    },
                ))
            })
            .collect()
    }

    /// When each school's live agents first reported, ms.
    pub fn first_seen(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = lock(&self.reader).query(
            "SELECT school_id, MIN(first_seen_ms) FROM agents
             WHERE revoked_ms IS NULL AND first_seen_ms IS NOT NULL GROUP BY school_id",
            args![],
        )?;
        rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
    }

    /// What a school's reports sampled strictly inside `(from_ms, to_ms)`
    /// say about its gateway: they were made during an outage and arrived
    /// after it.
    pub fn outage_evidence(
        &self,
        school_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<crate::outage::Evidence, StoreError> {
        let r = lock(&self.reader).query_one(
            "SELECT COUNT(*),
                    CAST(COALESCE(SUM(CASE WHEN gateway_up = 1 THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN gateway_up = 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM reports WHERE school_id = ?1 AND sampled_at_ms > ?2 AND sampled_at_ms < ?3",
            args![school_id, from_ms, to_ms],
        )?;
        Ok(crate::outage::Evidence {
            reports: r.get(0)?,
            gateway_up: r.get(1)?,
            gateway_down: r.get(2)?,
        })
    }
}

/// Whether a report's gateway probes got any reply: `Some(true)` if one
/// did, `Some(false)` if requests went out and none came back, `None` when
/// the report probed no gateway.
fn gateway_answered(probes: &[schoolwatch_protocol::ProbeResult]) -> Option<bool> {
    let gateway: Vec<_> = probes
        .iter()
        .filter(|p| p.kind == schoolwatch_protocol::ProbeKind::Gateway && p.sent > 0)
        .collect();
    (!gateway.is_empty()).then(|| gateway.iter().any(|p| p.received > 0))
}

/// A section as stored: JSON text (serialising our own types cannot fail).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Applies one newly stored report's sections to its host's current
/// state. Back-filled reports are older than what is known: each section
/// replaces the stored one only when it is newer.
fn apply_report(
    tx: &mut db::Tx<'_>,
    who: &Identity,
    r: &Report,
    seq: i64,
    sampled_at: i64,
) -> Result<(), StoreError> {
    if let Some(inv) = &r.inventory {
        devices::set_host_macs(tx, who, inv)?;
        let disk_total: u64 = inv.disks.iter().map(|d| d.total_bytes).sum();
        let disks = DiskState::of(inv);
        tx.execute(
            "UPDATE agents SET hostname = ?2, role = ?3, os = ?4, cpu_model = ?5,
               logical_cores = ?6, memory_total_bytes = ?7, disk_total_bytes = ?8,
               boot_time_seconds = ?9, inventory_json = ?10, disks_json = ?11
             WHERE id = ?1",
            args![
                who.agent_id,
                inv.hostname,
                inv.role.as_str(),
                format!("{} {}", inv.os_name, inv.os_version).trim(),
                inv.cpu_model,
                inv.cpu_logical_cores,
                inv.memory_total_bytes,
                disk_total,
                inv.boot_time_seconds,
                json(inv),
                json(&disks)
            ],
        )?;
    }
    if let Some(s) = &r.sample {
        tx.execute(
            "UPDATE agents SET last_sample_json = ?2, last_sampled_ms = ?3
             WHERE id = ?1 AND (last_sampled_ms IS NULL OR last_sampled_ms <= ?3)",
            args![who.agent_id, json(s), sampled_at],
        )?;
    }
    if let Some(h) = &r.health {
        tx.execute(
            "UPDATE agents SET health_json = ?2, health_sequence = ?3
             WHERE id = ?1 AND health_sequence < ?3",
            args![who.agent_id, json(h), seq],
        )?;
    }
    if let Some(t) = &r.throughput {
        tx.execute(
            "UPDATE agents SET throughput_json = ?2, throughput_at_ms = ?3
             WHERE id = ?1 AND throughput_at_ms < ?3",
            args![who.agent_id, json(t), t.measured_at_ms],
        )?;
    }
    if !r.probes.is_empty() {
        tx.execute(
            "UPDATE agents SET probes_json = ?2, probes_sequence = ?3
             WHERE id = ?1 AND probes_sequence < ?3",
            args![who.agent_id, json(&r.probes), seq],
        )?;
    }
    if let Some(sec) = &r.security {
        apply_security(tx, who, seq, sampled_at, sec)?;
    }
    if let Some(d) = &r.devices {
        devices::apply(tx, who, sampled_at, d)?;
    }
    Ok(())
}

/// Replaces a host's check results with a newer report's, recording a
/// regression for every check that passed before and fails now. Older
/// (back-filled) reports do not overwrite newer results.
fn apply_security(
    tx: &mut db::Tx<'_>,
    who: &Identity,
    seq: i64,
    sampled_at: i64,
    sec: &Security,
) -> Result<(), StoreError> {
    let newest: i64 = tx
        .query_one(
            "SELECT security_sequence FROM agents WHERE id = ?1",
            args![who.agent_id],
        )?
        .get(0)?;
    if seq <= newest {
        return Ok(());
    }
    let previous: std::collections::HashMap<String, String> = tx
        .query(
            "SELECT check_id, status FROM host_checks WHERE agent_id = ?1",
            args![who.agent_id],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    tx.execute(
        "DELETE FROM host_checks WHERE agent_id = ?1",
        args![who.agent_id],
    )?;
    for c in &sec.checks {
        let status = status_name(c.status);
        // Check ids are unique in a report (the protocol's limits), so
        // after the delete each insert is new.
        tx.execute(
            "INSERT INTO host_checks (agent_id, check_id, status, severity, evidence)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![
                who.agent_id,
                c.id,
                status,
                severity_name(c.severity),
                c.evidence
            ],
        )?;
        if c.status == CheckStatus::Fail && previous.get(&c.id).is_some_and(|p| p == "pass") {
            tx.execute(
                "INSERT INTO check_events (agent_id, school_id, check_id, severity, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![
                    who.agent_id,
                    who.school_id,
                    c.id,
                    severity_name(c.severity),
                    sampled_at
                ],
            )?;
        }
    }
    tx.execute(
        "UPDATE agents SET security_sequence = ?2 WHERE id = ?1",
        args![who.agent_id, seq],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
