//! The hosts' labels and descriptive state, looked up in the store for
//! the writer thread and cached.
//!
//! The lookup runs inside the ingest transaction (before it commits), on
//! its own read-only connection, so it sees the last committed state
//! and never waits for `/metrics` (which holds the store's reader for
//! seconds on a large fleet). What the report being ingested changes
//! (host name, role, inventory, checks) is taken from the report itself
//! ([`Host::update_from`]), for the rest of the ingest group too; the
//! entry is read again from the store after `REFRESH` (ten minutes), or in the next
//! group when a report changed it, so it follows re-imports of
//! the registry (a school's district) and the store's own ordering rules
//! for late results.
//!
//! With PostgreSQL the connection is to the shared database: what another
//! collector changed is read like the rest.

use super::samples::{Host, InventoryFigures};
use crate::store::db::{Conn, Exec, PgConn, args};
use crate::store::{DiskState, StoreError};
use schoolwatch_protocol::{CheckStatus, Report, Role};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a cached host is used before it is read again.
const REFRESH: Duration = Duration::from_secs(600);

/// Hosts by agent id. Owned by the writer thread (behind an uncontended
/// mutex in [`super::RemoteWrite`]).
pub struct HostBook {
    db: PathBuf,
    postgres_url: Option<String>,
    conn: Option<Conn>,
    cache: HashMap<String, (Host, Freshness)>,
    /// Counts ingest groups ([`HostBook::begin_group`]).
    group: u64,
}

/// How far a cached host can be trusted.
#[derive(Debug, Clone, Copy)]
enum Freshness {
    /// Read from the store then.
    ReadAt(Instant),
    /// Changed by a report of this group: right for the rest of the group
    /// (the store cannot show the change before it commits), read again
    /// in the next.
    ChangedIn(u64),
}

impl HostBook {
    /// A book over the store's database: the SQLite file in `data_dir`,
    /// or the PostgreSQL database at `postgres_url`.
    pub fn new(data_dir: &std::path::Path, postgres_url: Option<&str>) -> Self {
        Self {
            db: data_dir.join(crate::store::DB_FILE),
            postgres_url: postgres_url.map(str::to_owned),
            conn: None,
            cache: HashMap::new(),
            group: 0,
        }
    }

    /// A new ingest group begins: what the last one changed is committed
    /// (or rolled back) by now, so such hosts are read again.
    pub fn begin_group(&mut self) {
        self.group += 1;
    }

    /// The host `agent_id` as of before `report`, then updated with what
    /// `report` says; `None` if the store does not know it.
    pub fn host_for(
        &mut self,
        agent_id: &str,
        report: &Report,
    ) -> Result<Option<Host>, StoreError> {
        let fresh = self.cache.get(agent_id).is_some_and(|(_, f)| match f {
            Freshness::ReadAt(t) => t.elapsed() < REFRESH,
            Freshness::ChangedIn(g) => *g == self.group,
        });
        if !fresh {
            match self.read(agent_id)? {
                Some(h) => {
                    self.cache
                        .insert(agent_id.to_owned(), (h, Freshness::ReadAt(Instant::now())));
                }
                None => {
                    self.cache.remove(agent_id);
                    return Ok(None);
                }
            }
        }
        let Some((host, at)) = self.cache.get_mut(agent_id) else {
            return Ok(None);
        };
        let before = host.clone();
        if report.inventory.is_some() || report.security.is_some() {
            host.update_from(report);
            // The store may order late results differently: read it
            // again in the next group.
            *at = Freshness::ChangedIn(self.group);
        }
        Ok(Some(before))
    }

    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.is_none() {
            let c = match &self.postgres_url {
                Some(url) => Conn::Postgres(PgConn::connect(url)?),
                None => {
                    let c = rusqlite::Connection::open_with_flags(
                        &self.db,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(Duration::from_secs(10))?;
                    Conn::Sqlite(c)
                }
            };
            self.conn = Some(c);
        }
        // Just set when it was None.
        Ok(self.conn.as_mut().expect("opened above"))
    }

    /// Reads one host as `/metrics` would show it.
    fn read(&mut self, agent_id: &str) -> Result<Option<Host>, StoreError> {
        let conn = self.conn()?;
        let Some(r) = conn.query_opt(
            "SELECT a.school_id, s.district, a.hostname, a.role, a.os, a.cpu_model,
                    a.logical_cores, a.memory_total_bytes, a.disk_total_bytes,
                    a.boot_time_seconds, a.inventory_json IS NOT NULL, a.disks_json
             FROM agents a JOIN schools s ON s.id = a.school_id
             WHERE a.id = ?1",
            args![agent_id],
        )?
        else {
            return Ok(None);
        };
        let has_inventory: bool = r.get(10)?;
        let disks: Option<String> = r.get(11)?;
        let mut host = Host {
            agent_id: agent_id.to_owned(),
            school_id: r.get(0)?,
            district: r.get(1)?,
            hostname: r.get(2)?,
            role: parse_role(&r.get::<String>(3)?),
            inventory: if has_inventory {
                Some(InventoryFigures {
                    os: r.get(4)?,
                    cpu_model: r.get(5)?,
                    logical_cores: r.get(6)?,
                    memory_total_bytes: r.get(7)?,
                    disk_total_bytes: r.get(8)?,
                    boot_time_seconds: r.get(9)?,
                    disks: disks
                        .as_deref()
                        .and_then(|j| serde_json::from_str::<Vec<DiskState>>(j).ok())
                        .unwrap_or_default(),
                })
            } else {
                None
            },
            checks: Vec::new(),
        };
        host.checks = conn
            .query(
                "SELECT check_id, status FROM host_checks WHERE agent_id = ?1 ORDER BY check_id",
                args![agent_id],
            )?
            .iter()
            .filter_map(|r| {
                let status = parse_status(&r.get::<String>(1).ok()?)?;
                Some((r.get::<String>(0).ok()?, status))
            })
            .collect();
        Ok(Some(host))
    }
}

fn parse_role(s: &str) -> Role {
    [Role::Server, Role::Lab, Role::Office]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or_default()
}

fn parse_status(s: &str) -> Option<CheckStatus> {
    [CheckStatus::Pass, CheckStatus::Fail, CheckStatus::Unknown]
        .into_iter()
        .find(|c| crate::store::status_name(*c) == s)
}
