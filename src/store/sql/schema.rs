//! The schema, described once for every engine, and its versioned migrations. The few words
//! the engines spell differently are placeholders filled in from the engine's [`Dialect`]; each engine
//! keeps only where it records the version (SQLite `PRAGMA user_version`, PostgreSQL the
//! `cogsync_schema` row).
//!
//! Each entry upgrades the schema by one version; never change what a shipped entry creates,
//! append a new one.

use super::interface::Dialect;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value {bytes} NOT NULL
);
CREATE TABLE identity_pools (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    allow_unauthenticated   BOOLEAN NOT NULL,
    developer_provider_name TEXT,
    extra_json              TEXT NOT NULL,
    created_ms              BIGINT NOT NULL
);
CREATE TABLE identities (
    id               TEXT PRIMARY KEY,
    pool_id          TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    created_ms       BIGINT NOT NULL,
    last_modified_ms BIGINT NOT NULL
);
CREATE INDEX identities_by_pool ON identities(pool_id, id);
CREATE TABLE datasets (
    identity_id           TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    live                  BOOLEAN NOT NULL,
    sync_count            BIGINT NOT NULL,
    creation_ms           BIGINT NOT NULL,
    last_modified_ms      BIGINT NOT NULL,
    last_modified_by      TEXT NOT NULL,
    data_storage          BIGINT NOT NULL,
    num_records           BIGINT NOT NULL,
    deleted_at_sync_count BIGINT,
    PRIMARY KEY (identity_id, name)
){without_rowid};
CREATE TABLE records (
    identity_id             TEXT NOT NULL,
    dataset_name            TEXT NOT NULL,
    key                     TEXT NOT NULL,
    value                   TEXT,
    sync_count              BIGINT NOT NULL,
    last_modified_ms        BIGINT NOT NULL,
    last_modified_by        TEXT NOT NULL,
    device_last_modified_ms BIGINT,
    PRIMARY KEY (identity_id, dataset_name, key),
    FOREIGN KEY (identity_id, dataset_name)
        REFERENCES datasets(identity_id, name) ON DELETE CASCADE
){without_rowid};
CREATE INDEX records_by_count ON records(identity_id, dataset_name, sync_count, key);
"#,
    r#"
CREATE TABLE logins (
    pool_id     TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, provider, subject)
){without_rowid};
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
    id              {serial},
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
    r#"
ALTER TABLE pool_settings ADD COLUMN limits TEXT;
"#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations a database at version `current` still needs, as (version it reaches,
/// statements in the engine's words); refuses a database written by a newer binary.
pub fn pending(current: i64, words: &Dialect) -> Result<Vec<(i64, String)>, String> {
    if current > SCHEMA_VERSION {
        return Err(format!(
            "database schema version {current} is newer than this cogsync understands \
             ({SCHEMA_VERSION}); upgrade cogsync"
        ));
    }
    Ok(MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
        .map(|(index, sql)| {
            let sql = sql
                .replace("{bytes}", words.bytes)
                .replace("{serial}", words.serial)
                .replace("{without_rowid}", words.without_rowid);
            (index as i64 + 1, sql)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::sql::{POSTGRES, SQLITE};

    #[test]
    fn every_placeholder_is_filled_and_versions_count_up() {
        for dialect in [&SQLITE, &POSTGRES] {
            let all = pending(0, dialect).unwrap();
            assert_eq!(all.len() as i64, SCHEMA_VERSION);
            for (n, (version, sql)) in all.iter().enumerate() {
                assert_eq!(*version, n as i64 + 1);
                assert!(!sql.contains('{'), "unfilled placeholder in {version}");
            }
            assert!(pending(SCHEMA_VERSION, dialect).unwrap().is_empty());
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let err = pending(SCHEMA_VERSION + 1, &SQLITE).unwrap_err();
        assert!(err.contains("newer than this cogsync understands"), "{err}");
    }
}
