//! The race between a write and the end of its pool's stream, made to happen on purpose: a
//! device's UpdateRecords is held after it read the pool's settings (streaming ENABLED) and
//! before its transaction, by a sync trigger that does not answer until the test says so.
//! Meanwhile streaming ends (the developer switches it off, or the stream is found deleted);
//! then the write commits with a stream event. No record may reach the stream after that, on
//! either engine, and with the settings changed through another node.
//!
//! The same hold shows a write racing DeleteIdentities: the identity goes while the write
//! waits, and the device gets the modelled answer with nothing written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;

use super::dispatcher::Dispatcher;
use crate::store::CognitoStreams;
use crate::store::{IdentityRecord, PoolRecord, Store};
use crate::sync::ports::{
    DeliveryError, PushError, PushService, StreamError, StreamRecord, StreamSink, TriggerError,
    TriggerInvoker,
};
use crate::sync::{
    Caller, DatasetRef, ListRecordsInput, Patch, PatchOp, SyncService, SyncSettings,
    UpdateRecordsInput,
};
use crate::tokens::TokenSigner;

const POOL: &str = "us-east-1:00000000-0000-0000-0000-00000000000a";
const IDENTITY: &str = "us-east-1:00000000-0000-0000-0000-00000000000b";
const STREAM: &str = "stream";

/// A sync trigger that answers "no change" (the event itself), holding the write first while
/// armed: it tells `held` and waits for `release`.
#[derive(Default)]
struct HoldingTrigger {
    armed: AtomicBool,
    held: Notify,
    release: Notify,
}

#[async_trait]
impl TriggerInvoker for HoldingTrigger {
    async fn invoke(&self, _: &str, event: &Value) -> Result<Value, TriggerError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.held.notify_one();
            self.release.notified().await;
        }
        Ok(event.clone())
    }
}

/// A Kinesis whose one stream exists unless `deleted`; keeps the datasets of the records put.
#[derive(Default)]
struct Kinesis {
    deleted: AtomicBool,
    put: Mutex<Vec<String>>,
}

impl Kinesis {
    fn datasets_put(&self) -> Vec<String> {
        self.put.lock().unwrap().clone()
    }
}

#[async_trait]
impl StreamSink for Kinesis {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        if self.deleted.load(Ordering::SeqCst) {
            return Err(StreamError::NotFound(format!(
                "Stream {} not found",
                record.stream
            )));
        }
        let record: Value = serde_json::from_slice(record.data).unwrap();
        let dataset = record["dataSetName"].as_str().unwrap().to_owned();
        self.put.lock().unwrap().push(dataset);
        Ok(())
    }
}

struct NoPush;

#[async_trait]
impl PushService for NoPush {
    async fn create_endpoint(&self, _: &str, _: &str, _: &str) -> Result<String, DeliveryError> {
        Err(DeliveryError("no push here".into()))
    }
    async fn publish(&self, _: &str, _: &str) -> Result<(), PushError> {
        Err(PushError::Retry("no push here".into()))
    }
}

/// One node over `store`: its sync service (its writes held by its trigger while armed) and
/// its dispatcher (delivering to its Kinesis).
struct Node {
    sync: SyncService,
    dispatcher: Arc<Dispatcher>,
    trigger: Arc<HoldingTrigger>,
    kinesis: Arc<Kinesis>,
}

fn node(store: Arc<dyn Store>) -> Node {
    let signal = Arc::new(Notify::new());
    let trigger = Arc::new(HoldingTrigger::default());
    let kinesis = Arc::new(Kinesis::default());
    let sync = SyncService::new(
        store.clone(),
        TokenSigner::new(vec![7; 32]),
        SyncSettings::default(),
        signal.clone(),
        Arc::new(NoPush),
        trigger.clone(),
    );
    let dispatcher = Arc::new(Dispatcher::new(
        store,
        kinesis.clone(),
        Arc::new(NoPush),
        signal,
    ));
    Node {
        sync,
        dispatcher,
        trigger,
        kinesis,
    }
}

fn streams(status: &str) -> CognitoStreams {
    CognitoStreams {
        stream_name: Some(STREAM.into()),
        role_arn: Some("arn:aws:iam::123456789012:role/cognito-streams".into()),
        streaming_status: Some(status.into()),
    }
}

/// A pool streaming to [`STREAM`], with a sync trigger, and one identity.
async fn pool(store: &dyn Store, n: &Node) {
    let pool = PoolRecord {
        id: POOL.into(),
        name: "p".into(),
        allow_unauthenticated: true,
        developer_provider_name: None,
        details: Default::default(),
        created_ms: 1,
    };
    store.create_pool(&pool).await.unwrap();
    let identity = IdentityRecord {
        id: IDENTITY.into(),
        pool_id: POOL.into(),
        created_ms: 1,
        last_modified_ms: 1,
    };
    store.create_identity(&identity).await.unwrap();
    n.sync
        .set_configuration(POOL, None, Some(streams("ENABLED")))
        .await
        .unwrap();
    let trigger = [("SyncTrigger".to_owned(), "hold".to_owned())].into();
    n.sync.set_events(POOL, trigger).await.unwrap();
}

fn device() -> Caller {
    Caller::Identity {
        pool_id: POOL.into(),
        identity_id: IDENTITY.into(),
        upstream: None,
    }
}

/// A device's UpdateRecords of one new record in `dataset`.
async fn write(sync: &SyncService, dataset: &str) {
    try_write(sync, dataset).await.unwrap();
}

/// A device's UpdateRecords of one new record in `dataset`, with its outcome.
async fn try_write(sync: &SyncService, dataset: &str) -> crate::sync::SyncResult<()> {
    let r = DatasetRef {
        pool_id: POOL.into(),
        identity_id: IDENTITY.into(),
        dataset_name: dataset.into(),
    };
    let token = sync
        .list_records(&device(), &r, ListRecordsInput::default())
        .await
        .unwrap()
        .sync_session_token;
    let patch = Patch {
        op: PatchOp::Replace,
        key: "k".into(),
        value: Some("v".into()),
        sync_count: 0,
        device_last_modified_ms: None,
    };
    let input = UpdateRecordsInput {
        device_id: None,
        sync_session_token: Some(token),
        patches: vec![patch],
    };
    sync.update_records(&device(), &r, input).await.map(|_| ())
}

/// Starts a write of `dataset` through `writer` that is held once it has read the settings;
/// returns once it is held, with the handle to await it by.
async fn held_write(writer: Arc<Node>, dataset: &'static str) -> tokio::task::JoinHandle<()> {
    writer.trigger.armed.store(true, Ordering::SeqCst);
    let held = writer.trigger.held.notified();
    let w = writer.clone();
    let task = tokio::spawn(async move { write(&w.sync, dataset).await });
    held.await;
    task
}

/// Writes held while the developer switches streaming off (through `developer`, which may be
/// another node) commit, and their events reach no stream.
async fn switched_off_while_held(writer: Arc<Node>, developer: &Node, store: &dyn Store) {
    pool(store, &writer).await;
    let task = held_write(writer.clone(), "held").await;
    developer
        .sync
        .set_configuration(POOL, None, Some(streams("DISABLED")))
        .await
        .unwrap();
    writer.trigger.release.notify_one();
    task.await.unwrap();
    writer.dispatcher.clone().round().await;
    assert_eq!(
        writer.kinesis.datasets_put(),
        Vec::<String>::new(),
        "a write that committed after streaming was switched off published to the stream"
    );
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

/// A write held while the stream is found deleted (and then created again under the same
/// name) commits, and its event reaches no stream.
async fn stream_deleted_while_held(writer: Arc<Node>, store: &dyn Store) {
    let kinesis = writer.kinesis.clone();
    pool(store, &writer).await;
    write(&writer.sync, "before").await;
    let task = held_write(writer.clone(), "held").await;
    kinesis.deleted.store(true, Ordering::SeqCst);
    writer.dispatcher.clone().round().await;
    let settings = store.get_pool_settings(POOL).await.unwrap();
    assert!(
        crate::sync::rules::streams::stream_of(&settings).is_none(),
        "the deleted stream turned streaming off"
    );
    kinesis.deleted.store(false, Ordering::SeqCst);
    writer.trigger.release.notify_one();
    task.await.unwrap();
    writer.dispatcher.clone().round().await;
    assert_eq!(
        kinesis.datasets_put(),
        Vec::<String>::new(),
        "a write that committed after its stream was found deleted published to a stream of that name"
    );
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

/// A write held while its identity is deleted is refused as the identity's credentials are
/// refused once it is gone (NotAuthorized: get new ones), and leaves no record or event.
async fn identity_deleted_while_held(writer: Arc<Node>, store: &dyn Store) {
    pool(store, &writer).await;
    writer.trigger.armed.store(true, Ordering::SeqCst);
    let held = writer.trigger.held.notified();
    let w = writer.clone();
    let task = tokio::spawn(async move { try_write(&w.sync, "held").await });
    held.await;
    assert!(store.delete_identity(IDENTITY).await.unwrap());
    writer.trigger.release.notify_one();
    let outcome = task.await.unwrap();
    assert!(
        matches!(outcome, Err(crate::sync::SyncError::NotAuthorized(_))),
        "a write whose identity was deleted while it waited answered {outcome:?}"
    );
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    assert_eq!(store.get_identity(IDENTITY).await.unwrap(), None);
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::store::sqlite::SqliteStore::open(dir.path()).unwrap());
    (store, dir)
}

async fn postgres(test: &str) -> Option<(Arc<dyn Store>, crate::testing::TestDatabase)> {
    let db = crate::testing::TestDatabase::create(test).await?;
    let store = crate::store::postgres::PostgresStore::connect(&db.url)
        .await
        .unwrap();
    Some((Arc::new(store), db))
}

#[tokio::test]
async fn sqlite_a_write_held_while_streaming_is_switched_off_publishes_nothing() {
    let (store, _dir) = sqlite().await;
    let n = Arc::new(node(store.clone()));
    switched_off_while_held(n.clone(), &n, &*store).await;
}

#[tokio::test]
async fn sqlite_a_write_held_while_its_stream_is_found_deleted_publishes_nothing() {
    let (store, _dir) = sqlite().await;
    stream_deleted_while_held(Arc::new(node(store.clone())), &*store).await;
}

#[tokio::test]
async fn postgres_a_write_held_while_another_node_switches_streaming_off_publishes_nothing() {
    let test = "postgres_a_write_held_while_another_node_switches_streaming_off_publishes_nothing";
    let Some((store, db)) = postgres(test).await else {
        return;
    };
    let other: Arc<dyn Store> = Arc::new(
        crate::store::postgres::PostgresStore::connect(&db.url)
            .await
            .unwrap(),
    );
    switched_off_while_held(Arc::new(node(store.clone())), &node(other), &*store).await;
}

#[tokio::test]
async fn postgres_a_write_held_while_its_stream_is_found_deleted_publishes_nothing() {
    let test = "postgres_a_write_held_while_its_stream_is_found_deleted_publishes_nothing";
    let Some((store, _db)) = postgres(test).await else {
        return;
    };
    stream_deleted_while_held(Arc::new(node(store.clone())), &*store).await;
}

#[tokio::test]
async fn sqlite_a_write_held_while_its_identity_is_deleted_is_refused_and_writes_nothing() {
    let (store, _dir) = sqlite().await;
    identity_deleted_while_held(Arc::new(node(store.clone())), &*store).await;
}

#[tokio::test]
async fn postgres_a_write_held_while_its_identity_is_deleted_is_refused_and_writes_nothing() {
    let test = "postgres_a_write_held_while_its_identity_is_deleted_is_refused";
    let Some((store, _db)) = postgres(test).await else {
        return;
    };
    identity_deleted_while_held(Arc::new(node(store.clone())), &*store).await;
}
