//! How many exchanges with PostgreSQL one request costs, counted by the engine (a pipelined
//! batch of statements is one; a statement prepared for the first time on a connection is one
//! more). The requests are driven through the sync service, the layer that reads and writes
//! the store for them (the HTTP and auth layers read nothing for these two operations), and
//! one at a time, so that one pooled connection serves them all and nothing else counts.

use std::sync::Arc;

use cogsync::config::ServerConfig;
use cogsync::identity::PoolSpec;
use cogsync::integrations::{sns::SnsPush, trigger_invoker::Triggers};
use cogsync::store::postgres::PostgresStore;
use cogsync::store::Store;
use cogsync::sync::{Caller, DatasetRef, ListRecordsInput, Patch, PatchOp, UpdateRecordsInput};

use crate::common::dev_credentials;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_records_takes_two_round_trips_and_update_records_four() {
    let Some(db) =
        cogsync::testing::TestDatabase::create("list_records_takes_two_round_trips").await
    else {
        return;
    };
    let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        dev_credentials(),
    );
    let app = cogsync::server::build_app(
        &config,
        store.clone() as Arc<dyn Store>,
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(SnsPush::new(&config.aws)),
        Arc::new(Triggers::new(&config.aws)),
        &cogsync::server::upstream::Upstream::none(),
    )
    .await
    .unwrap();
    // A pool and an identity made as CreateIdentityPool and GetId make them.
    let pool = app
        .identity
        .create_pool(PoolSpec {
            name: "p".into(),
            allow_unauthenticated: true,
            developer_provider_name: None,
            details: None,
        })
        .await
        .unwrap()
        .id;
    let identity = app.identity.get_id(&pool, &[]).await.unwrap().id;
    let (pool, identity) = (pool.as_str(), identity.as_str());
    let caller = Caller::Identity {
        pool_id: pool.into(),
        identity_id: identity.into(),
        upstream: None,
    };
    let dataset = DatasetRef {
        pool_id: pool.into(),
        identity_id: identity.into(),
        dataset_name: "settings".into(),
    };
    let mut count = 0;
    // One device cycle: pull, then push a patch for each of three keys. The first cycle
    // prepares the statements on the connection; the second is what every later one costs.
    for round in 0..2 {
        let before = store.round_trips();
        let pulled = app
            .sync
            .list_records(&caller, &dataset, ListRecordsInput::default())
            .await
            .unwrap();
        let list = store.round_trips() - before;
        let patches = ["a", "b", "c"]
            .map(|key| Patch {
                op: PatchOp::Replace,
                key: key.into(),
                value: Some(format!("v{round}")),
                sync_count: count,
                device_last_modified_ms: None,
            })
            .to_vec();
        let before = store.round_trips();
        let written = app
            .sync
            .update_records(
                &caller,
                &dataset,
                UpdateRecordsInput {
                    device_id: None,
                    sync_session_token: Some(pulled.sync_session_token),
                    patches,
                },
            )
            .await
            .unwrap();
        let update = store.round_trips() - before;
        assert_eq!(written.len(), 3);
        count = written[0].sync_count;
        if round == 1 {
            assert_eq!(
                pulled.records.len(),
                3,
                "the first round's records are read back"
            );
            assert!(list <= 2, "ListRecords took {list} round trips");
            assert!(update <= 4, "UpdateRecords took {update} round trips");
        }
    }
}
