//! Versioned schema migrations, applied in order on open, one list per
//! engine with the same version numbers.
//!
//! SQLite: `PRAGMA user_version` holds the version reached. PostgreSQL:
//! the table `schoolwatch_schema`. Each migration runs in its own
//! transaction with the version bump, so a crash mid-migration leaves the
//! previous version intact; on PostgreSQL several collectors starting at
//! once take an advisory lock so only one migrates.
//!
//! PostgreSQL arrived at version 9: its first migration creates the
//! schema SQLite reached by then, and the versions after it go in both
//! lists.

use super::StoreError;
use super::db::{Conn, Exec, args};

/// SQLite migrations in order; index + 1 is the version each one reaches.
const MIGRATIONS: &[&str] = &[
    // 1: registry, tokens, agents with current state, reports.
    "CREATE TABLE schools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        level TEXT NOT NULL,
        expected_lab_pcs INTEGER NOT NULL,
        link_kind TEXT NOT NULL,
        contracted_mbps REAL NOT NULL,
        revoked_ms INTEGER
    );
    CREATE TABLE tokens (
        hash BLOB PRIMARY KEY,
        school_id TEXT NOT NULL REFERENCES schools(id),
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        school_id TEXT NOT NULL REFERENCES schools(id),
        credential_hash BLOB NOT NULL UNIQUE,
        fingerprint TEXT NOT NULL,
        hostname TEXT NOT NULL,
        enrolled_ms INTEGER NOT NULL,
        revoked_ms INTEGER,
        role TEXT NOT NULL DEFAULT 'lab',
        os TEXT NOT NULL DEFAULT '',
        cpu_model TEXT NOT NULL DEFAULT '',
        logical_cores INTEGER NOT NULL DEFAULT 0,
        memory_total_bytes INTEGER NOT NULL DEFAULT 0,
        disk_total_bytes INTEGER NOT NULL DEFAULT 0,
        boot_time_seconds INTEGER NOT NULL DEFAULT 0,
        inventory_json TEXT,
        last_sample_json TEXT,
        last_sampled_ms INTEGER,
        last_seen_ms INTEGER,
        reports_total INTEGER NOT NULL DEFAULT 0,
        last_sequence INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX agents_school_fingerprint ON agents(school_id, fingerprint);
    CREATE TABLE reports (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        sequence INTEGER NOT NULL,
        school_id TEXT NOT NULL,
        sampled_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (agent_id, sequence)
    ) WITHOUT ROWID;
    CREATE INDEX reports_school_time ON reports(school_id, sampled_at_ms);",
    // 2: per-disk size and free space, for DiskAlmostFull.
    "ALTER TABLE agents ADD COLUMN disks_json TEXT",
    // 3: the agent's own health (queue, drops) from its newest report.
    "ALTER TABLE agents ADD COLUMN health_json TEXT;
     ALTER TABLE agents ADD COLUMN health_sequence INTEGER NOT NULL DEFAULT 0",
    // 4: security checks per host (newest report wins) and regressions
    //    (a check that passed and now fails) as events with their time.
    "ALTER TABLE agents ADD COLUMN security_sequence INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE host_checks (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        check_id TEXT NOT NULL,
        status TEXT NOT NULL,
        severity TEXT NOT NULL,
        evidence TEXT NOT NULL,
        PRIMARY KEY (agent_id, check_id)
     ) WITHOUT ROWID;
     CREATE TABLE check_events (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        school_id TEXT NOT NULL,
        check_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        at_ms INTEGER NOT NULL
     );
     CREATE INDEX check_events_time ON check_events(at_ms)",
    // 5: the newest ICMP probe results per host.
    "ALTER TABLE agents ADD COLUMN probes_json TEXT;
     ALTER TABLE agents ADD COLUMN probes_sequence INTEGER NOT NULL DEFAULT 0",
    // 6: the newest throughput test per host.
    "ALTER TABLE agents ADD COLUMN throughput_json TEXT;
     ALTER TABLE agents ADD COLUMN throughput_at_ms INTEGER NOT NULL DEFAULT 0",
    // 7: outages. Each report keeps whether its gateway probe answered
    //    (NULL: no gateway probe), so back-filled reports can tell a WAN
    //    outage from a LAN one; outages are recorded when a school's first
    //    report after a silence arrives (the school's last report time is
    //    kept on the school, so that costs one row, not one per host). Silences before this version are
    //    not reconstructed.
    "ALTER TABLE reports ADD COLUMN gateway_up INTEGER;
     ALTER TABLE agents ADD COLUMN first_seen_ms INTEGER;
     ALTER TABLE schools ADD COLUMN last_seen_ms INTEGER;
     UPDATE schools SET last_seen_ms =
        (SELECT MAX(last_seen_ms) FROM agents a WHERE a.school_id = schools.id);
     UPDATE agents SET first_seen_ms =
        (SELECT MIN(received_ms) FROM reports r WHERE r.agent_id = agents.id);
     CREATE TABLE outages (
        school_id TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        PRIMARY KEY (school_id, start_ms)
     ) WITHOUT ROWID;
     CREATE INDEX outages_end ON outages(end_ms)",
    // 8: retention. Reports older than the retention are pruned; the
    //    highest pruned sequence per agent is kept, so a replay of a pruned
    //    report is still known as one.
    "ALTER TABLE agents ADD COLUMN pruned_through_seq INTEGER NOT NULL DEFAULT 0",
    // 9: network devices without an agent, per school, keyed by MAC (else
    //    address), as the school servers' agents found and polled them. The
    //    newest devices round per reporting agent tells which known devices
    //    were not seen in it (missing). The registry may say how many
    //    devices a school should have. Hosts' own MACs (from their
    //    inventory) tell a sweep's find that is a machine with an agent.
    "ALTER TABLE schools ADD COLUMN expected_devices INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE agents ADD COLUMN devices_round_ms INTEGER;
     CREATE TABLE devices (
        school_id TEXT NOT NULL,
        key TEXT NOT NULL,
        address TEXT NOT NULL,
        mac TEXT,
        vendor TEXT,
        kind TEXT NOT NULL,
        configured INTEGER NOT NULL,
        icmp_up INTEGER NOT NULL,
        snmp_json TEXT,
        error TEXT,
        reporter TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (school_id, key)
     ) WITHOUT ROWID;
     CREATE INDEX devices_last_seen ON devices(last_seen_ms);
     CREATE TABLE host_macs (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        mac TEXT NOT NULL,
        PRIMARY KEY (agent_id, mac)
     ) WITHOUT ROWID;
     CREATE INDEX host_macs_mac ON host_macs(mac)",
];

/// PostgreSQL migrations: (version reached, SQL). Integers are BIGINT
/// throughout (the store reads every integer as i64).
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[(
    9,
    "CREATE TABLE schools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        level TEXT NOT NULL,
        expected_lab_pcs BIGINT NOT NULL,
        link_kind TEXT NOT NULL,
        contracted_mbps DOUBLE PRECISION NOT NULL,
        revoked_ms BIGINT,
        last_seen_ms BIGINT,
        expected_devices BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE tokens (
        hash BYTEA PRIMARY KEY,
        school_id TEXT NOT NULL REFERENCES schools(id),
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        school_id TEXT NOT NULL REFERENCES schools(id),
        credential_hash BYTEA NOT NULL UNIQUE,
        fingerprint TEXT NOT NULL,
        hostname TEXT NOT NULL,
        enrolled_ms BIGINT NOT NULL,
        revoked_ms BIGINT,
        role TEXT NOT NULL DEFAULT 'lab',
        os TEXT NOT NULL DEFAULT '',
        cpu_model TEXT NOT NULL DEFAULT '',
        logical_cores BIGINT NOT NULL DEFAULT 0,
        memory_total_bytes BIGINT NOT NULL DEFAULT 0,
        disk_total_bytes BIGINT NOT NULL DEFAULT 0,
        boot_time_seconds BIGINT NOT NULL DEFAULT 0,
        inventory_json TEXT,
        last_sample_json TEXT,
        last_sampled_ms BIGINT,
        last_seen_ms BIGINT,
        reports_total BIGINT NOT NULL DEFAULT 0,
        last_sequence BIGINT NOT NULL DEFAULT 0,
        disks_json TEXT,
        health_json TEXT,
        health_sequence BIGINT NOT NULL DEFAULT 0,
        security_sequence BIGINT NOT NULL DEFAULT 0,
        probes_json TEXT,
        probes_sequence BIGINT NOT NULL DEFAULT 0,
        throughput_json TEXT,
        throughput_at_ms BIGINT NOT NULL DEFAULT 0,
        first_seen_ms BIGINT,
        pruned_through_seq BIGINT NOT NULL DEFAULT 0,
        devices_round_ms BIGINT
    );
    CREATE UNIQUE INDEX agents_school_fingerprint ON agents(school_id, fingerprint);
    CREATE TABLE reports (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        sequence BIGINT NOT NULL,
        school_id TEXT NOT NULL,
        sampled_at_ms BIGINT NOT NULL,
        received_ms BIGINT NOT NULL,
        gateway_up BIGINT,
        PRIMARY KEY (agent_id, sequence)
    );
    CREATE INDEX reports_school_time ON reports(school_id, sampled_at_ms);
    CREATE TABLE host_checks (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        check_id TEXT NOT NULL,
        status TEXT NOT NULL,
        severity TEXT NOT NULL,
        evidence TEXT NOT NULL,
        PRIMARY KEY (agent_id, check_id)
    );
    CREATE TABLE check_events (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        school_id TEXT NOT NULL,
        check_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX check_events_time ON check_events(at_ms);
    CREATE TABLE outages (
        school_id TEXT NOT NULL,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        PRIMARY KEY (school_id, start_ms)
    );
    CREATE INDEX outages_end ON outages(end_ms);
    CREATE TABLE devices (
        school_id TEXT NOT NULL,
        key TEXT NOT NULL,
        address TEXT NOT NULL,
        mac TEXT,
        vendor TEXT,
        kind TEXT NOT NULL,
        configured BIGINT NOT NULL,
        icmp_up BIGINT NOT NULL,
        snmp_json TEXT,
        error TEXT,
        reporter TEXT NOT NULL,
        first_seen_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        PRIMARY KEY (school_id, key)
    );
    CREATE INDEX devices_last_seen ON devices(last_seen_ms);
    CREATE TABLE host_macs (
        agent_id TEXT NOT NULL REFERENCES agents(id),
        mac TEXT NOT NULL,
        PRIMARY KEY (agent_id, mac)
    );
    CREATE INDEX host_macs_mac ON host_macs(mac)",
)];

/// The advisory lock collectors take while migrating a shared database.
const MIGRATION_LOCK: i64 = 0x7363_6877_6d69_6772;

/// Brings the database up to the newest schema.
pub fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(c) => migrate_sqlite(c),
        Conn::Postgres(_) => migrate_postgres(conn),
    }
}

fn migrate_sqlite(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))?;
    }
    Ok(())
}

fn migrate_postgres(conn: &mut Conn) -> Result<(), StoreError> {
    let supported = POSTGRES_MIGRATIONS.last().map_or(0, |(v, _)| *v);
    conn.batch("CREATE TABLE IF NOT EXISTS schoolwatch_schema (version BIGINT NOT NULL)")?;
    conn.query_one(
        "SELECT 1 FROM (SELECT pg_advisory_lock(?1)) AS locked",
        args![MIGRATION_LOCK],
    )?;
    let result = (|| {
        let found: i64 = conn
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schoolwatch_schema",
                args![],
            )?
            .get(0)?;
        if found > supported {
            return Err(StoreError::TooNew { found, supported });
        }
        for (version, sql) in POSTGRES_MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            conn.batch(&format!(
                "BEGIN; {sql}; DELETE FROM schoolwatch_schema;
                 INSERT INTO schoolwatch_schema (version) VALUES ({version}); COMMIT;"
            ))?;
        }
        Ok(())
    })();
    conn.query_one("SELECT pg_advisory_unlock(?1)", args![MIGRATION_LOCK])?;
    result
}
