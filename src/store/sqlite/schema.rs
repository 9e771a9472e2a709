//! SQLite schema and its versioned migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry upgrades the schema by one version; never edit a shipped entry, append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE identity_pools (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    allow_unauthenticated   INTEGER NOT NULL,
    developer_provider_name TEXT,
    extra_json              TEXT NOT NULL,
    created_ms              INTEGER NOT NULL
);
CREATE TABLE identities (
    id               TEXT PRIMARY KEY,
    pool_id          TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    created_ms       INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL
);
CREATE INDEX identities_by_pool ON identities(pool_id, id);
CREATE TABLE datasets (
    identity_id           TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    live                  INTEGER NOT NULL,
    sync_count            INTEGER NOT NULL,
    creation_ms           INTEGER NOT NULL,
    last_modified_ms      INTEGER NOT NULL,
    last_modified_by      TEXT NOT NULL,
    data_storage          INTEGER NOT NULL,
    num_records           INTEGER NOT NULL,
    deleted_at_sync_count INTEGER,
    PRIMARY KEY (identity_id, name)
) WITHOUT ROWID;
CREATE TABLE records (
    identity_id             TEXT NOT NULL,
    dataset_name            TEXT NOT NULL,
    key                     TEXT NOT NULL,
    value                   TEXT,
    sync_count              INTEGER NOT NULL,
    last_modified_ms        INTEGER NOT NULL,
    last_modified_by        TEXT NOT NULL,
    device_last_modified_ms INTEGER,
    PRIMARY KEY (identity_id, dataset_name, key),
    FOREIGN KEY (identity_id, dataset_name)
        REFERENCES datasets(identity_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX records_by_count ON records(identity_id, dataset_name, sync_count, key);
"#,
    r#"
CREATE TABLE logins (
    pool_id     TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, provider, subject)
) WITHOUT ROWID;
CREATE INDEX logins_by_identity ON logins(identity_id, provider, subject);
ALTER TABLE datasets ADD COLUMN merged_into TEXT;
CREATE INDEX datasets_by_merge ON datasets(identity_id, merged_into);
"#,
    r#"
CREATE TABLE pool_settings (
    pool_id         TEXT PRIMARY KEY REFERENCES identity_pools(id) ON DELETE CASCADE,
    version         BIGINT NOT NULL,
    push_sync       TEXT,
    cognito_streams TEXT,
    events          TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id         TEXT NOT NULL,
    stream_key      TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    job             TEXT,
    created_ms      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_until   BIGINT
);
CREATE INDEX outbox_by_stream ON outbox(stream_key, id);
CREATE INDEX outbox_by_job ON outbox(job);
CREATE TABLE bulk_publish (
    pool_id         TEXT PRIMARY KEY REFERENCES identity_pools(id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    start_ms        BIGINT,
    complete_ms     BIGINT,
    failure_message TEXT,
    last_success_ms BIGINT
);
"#,
    r#"
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    identity_id  TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    platform     TEXT NOT NULL,
    token        TEXT NOT NULL,
    endpoint_arn TEXT NOT NULL,
    disabled     BOOLEAN NOT NULL,
    created_ms   BIGINT NOT NULL,
    UNIQUE (identity_id, platform, token)
);
CREATE TABLE subscriptions (
    identity_id  TEXT NOT NULL,
    dataset_name TEXT NOT NULL,
    device_id    TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    PRIMARY KEY (identity_id, dataset_name, device_id)
);
"#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; refuses a database written by a newer binary.
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if current > SCHEMA_VERSION {
        return Err(format!(
            "database schema version {current} is newer than this cogsync understands \
             ({SCHEMA_VERSION}); upgrade cogsync"
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql).map_err(|e| e.to_string())?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}
