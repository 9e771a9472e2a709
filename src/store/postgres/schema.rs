//! PostgreSQL schema and its versioned migrations, tracked in `cogsync_schema`. Portable SQL
//! only (CockroachDB and YugabyteDB accept it too).

use tokio_postgres::Client;

/// Each entry upgrades the schema by one version; never edit a shipped entry, append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
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
);
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
);
CREATE INDEX records_by_count ON records(identity_id, dataset_name, sync_count, key);
"#,
    r#"
CREATE TABLE logins (
    pool_id     TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, provider, subject)
);
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
    id              BIGSERIAL PRIMARY KEY,
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

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction that holds the version row,
/// so nodes starting together migrate once; refuses a database written by a newer binary.
pub async fn migrate(client: &mut Client) -> Result<(), String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS cogsync_schema (id INT PRIMARY KEY, version BIGINT NOT NULL);
             INSERT INTO cogsync_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
        )
        .await
        .map_err(e)?;
    let tx = client.transaction().await.map_err(e)?;
    let current: i64 = tx
        .query_one(
            "SELECT version FROM cogsync_schema WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(e)?
        .try_get(0)
        .map_err(e)?;
    if current > SCHEMA_VERSION {
        return Err(format!(
            "database schema version {current} is newer than this cogsync understands \
             ({SCHEMA_VERSION}); upgrade cogsync"
        ));
    }
    for sql in MIGRATIONS.iter().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(e)?;
    }
    tx.execute(
        "UPDATE cogsync_schema SET version = $1 WHERE id = 1",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)
}
