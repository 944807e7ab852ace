//! Versioned schema migrations, applied in order on open.
//!
//! `PRAGMA user_version` holds the version reached. Each migration runs in
//! its own transaction with the version bump, so a crash mid-migration
//! leaves the previous version intact.

use super::StoreError;
use rusqlite::Connection;

/// Migrations in order; index + 1 is the version each one reaches.
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
];

/// Brings the database up to the newest schema.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
