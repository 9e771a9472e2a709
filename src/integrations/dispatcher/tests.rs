//! The dispatcher against a real store and fake sinks: a deleted stream, an unreachable one,
//! failures counted by target kind, and direct pushes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{backoff_ms, Dispatcher};
use crate::store::sqlite::SqliteStore;
use crate::store::{
    DatasetRow, DeviceRecord, IdentityRecord, NewOutboxEvent, PoolRecord, PoolSettings, Store,
    UpdateDecider, UpdatePlan,
};
use crate::sync::ports::{
    DeliveryError, DirectPush, PushError, PushService, StreamError, StreamRecord, StreamSink,
};
use crate::sync::rules::push_events::DirectPayload;
use crate::sync::OutboxTarget;

#[test]
fn backoff_doubles_up_to_a_minute() {
    assert_eq!(backoff_ms(0), 250);
    assert_eq!(backoff_ms(1), 500);
    assert_eq!(backoff_ms(3), 2000);
    assert_eq!(backoff_ms(30), 60_000);
}

/// A Kinesis that gives every put the same answer.
struct Kinesis {
    deleted: bool,
    puts: AtomicUsize,
}

#[async_trait]
impl StreamSink for Kinesis {
    async fn put_record(&self, record: StreamRecord<'_>) -> Result<(), StreamError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self.deleted {
            Err(StreamError::NotFound(format!(
                "Stream {} not found",
                record.stream
            )))
        } else {
            Err(StreamError::Retry("connection refused".into()))
        }
    }
}

/// An SNS that is down.
struct SnsDown;

#[async_trait]
impl PushService for SnsDown {
    async fn create_endpoint(&self, _: &str, _: &str, _: &str) -> Result<String, DeliveryError> {
        Err(DeliveryError("down".into()))
    }
    async fn publish(&self, _: &str, _: &str) -> Result<(), PushError> {
        Err(PushError::Retry("down".into()))
    }
}

/// The pool's Cognito Streams `StreamingStatus`.
fn streaming_status(settings: &PoolSettings) -> String {
    let streams = settings.cognito_streams.as_ref().unwrap();
    streams.streaming_status.clone().unwrap()
}

/// A pool streaming to `s`, with two stream events and a push event waiting (stored
/// targets written out as databases hold them).
async fn pool_with_waiting_events(store: &dyn Store) {
    let event = |key: &str, target: &str| NewOutboxEvent {
        pool_id: "us-east-1:p".into(),
        stream_key: key.into(),
        target: target.into(),
        payload: r#"{"partitionKey":"k","data":{},"deviceId":"d","message":"{}"}"#.into(),
        job: None,
    };
    pool_with(
        store,
        vec![
            event("us-east-1:i/a", "kinesis:s"),
            event("us-east-1:i/b", "kinesis:s"),
            event("push/d", "sns:arn:endpoint"),
        ],
    )
    .await;
}

/// A pool streaming to `s`, an identity, and `outbox` waiting.
async fn pool_with(store: &dyn Store, outbox: Vec<NewOutboxEvent>) {
    store
        .create_pool(&PoolRecord {
            id: "us-east-1:p".into(),
            name: "p".into(),
            allow_unauthenticated: true,
            developer_provider_name: None,
            details: Default::default(),
            created_ms: 1,
        })
        .await
        .unwrap();
    store
        .create_identity(&IdentityRecord {
            id: "us-east-1:i".into(),
            pool_id: "us-east-1:p".into(),
            created_ms: 1,
            last_modified_ms: 1,
        })
        .await
        .unwrap();
    let settings = PoolSettings {
        version: 1,
        cognito_streams: serde_json::from_str(r#"{"StreamName":"s","StreamingStatus":"ENABLED"}"#)
            .unwrap(),
        ..PoolSettings::default()
    };
    assert!(store
        .update_pool_settings("us-east-1:p", Box::new(move |_| Some(settings.clone())))
        .await
        .unwrap());
    let decide: UpdateDecider = Box::new(move |_| {
        Ok(UpdatePlan {
            dataset: DatasetRow {
                identity_id: "us-east-1:i".into(),
                name: "ds".into(),
                live: true,
                sync_count: 1,
                creation_ms: 1,
                last_modified_ms: 1,
                last_modified_by: "i".into(),
                data_storage: 0,
                num_records: 0,
                deleted_at_sync_count: None,
                merged_into: None,
            },
            records: Vec::new(),
            outbox: outbox.clone(),
        })
    });
    store
        .update_records("us-east-1:i", "ds", vec![], decide)
        .await
        .unwrap();
}

async fn one_round(deleted: bool) -> (Arc<dyn Store>, usize, tempfile::TempDir) {
    let (store, puts, dir, _) = one_round_counted(deleted).await;
    (store, puts, dir)
}

async fn one_round_counted(
    deleted: bool,
) -> (
    Arc<dyn Store>,
    usize,
    tempfile::TempDir,
    Arc<crate::metrics::Metrics>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    pool_with_waiting_events(&*store).await;
    let kinesis = Arc::new(Kinesis {
        deleted,
        puts: AtomicUsize::new(0),
    });
    let metrics = Arc::new(crate::metrics::Metrics::new(&[]));
    let dispatcher = Arc::new(
        Dispatcher::new(
            store.clone(),
            kinesis.clone(),
            Arc::new(SnsDown),
            Arc::new(Notify::new()),
        )
        .with_metrics(metrics.clone()),
    );
    assert_eq!(dispatcher.round().await, 3);
    (store, kinesis.puts.load(Ordering::SeqCst), dir, metrics)
}

#[tokio::test]
async fn failed_deliveries_are_counted_by_target_kind() {
    let (_store, _, _dir, metrics) = one_round_counted(false).await;
    let scrape = metrics.render();
    for (kind, n) in [("kinesis", 2), ("sns", 1)] {
        let series = format!("cogsync_outbox_delivery_failures_total{{target=\"{kind}\"}} {n}");
        assert!(scrape.contains(&series), "{series}\n{scrape}");
    }
}

#[tokio::test]
async fn a_deleted_stream_turns_streaming_off_and_drops_only_its_events() {
    let (store, puts, _dir) = one_round(true).await;
    let settings = store.get_pool_settings("us-east-1:p").await.unwrap();
    assert_eq!(streaming_status(&settings), "DISABLED");
    assert_eq!(settings.version, 2);
    assert_eq!(
        puts, 1,
        "the pool's other event for the stream was not tried"
    );
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        1,
        "the push event stays"
    );
}

#[tokio::test]
async fn an_unreachable_stream_is_retried() {
    let (store, puts, _dir) = one_round(false).await;
    let settings = store.get_pool_settings("us-east-1:p").await.unwrap();
    assert_eq!(streaming_status(&settings), "ENABLED");
    assert_eq!(puts, 2);
    assert_eq!(store.outbox_backlog().await.unwrap(), 3);
}

/// A provider answering by device token: `gone…` unregistered, `bad…` refused for good,
/// anything else unavailable. Every push is counted.
struct Provider {
    sent: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl PushService for Provider {
    async fn create_endpoint(&self, _: &str, _: &str, _: &str) -> Result<String, DeliveryError> {
        Err(DeliveryError("no SNS".into()))
    }
    async fn publish(&self, _: &str, _: &str) -> Result<(), PushError> {
        Err(PushError::Retry("no SNS".into()))
    }
    fn direct(&self, _: &str) -> bool {
        true
    }
    async fn send_direct(&self, push: &DirectPush<'_>) -> Result<(), PushError> {
        self.sent.lock().unwrap().push(push.token.to_owned());
        if push.token.starts_with("gone") {
            Err(PushError::Gone("410".into()))
        } else if push.token.starts_with("bad") {
            Err(PushError::Rejected("413".into()))
        } else {
            Err(PushError::Retry("503".into()))
        }
    }
}

#[tokio::test]
async fn direct_pushes_disable_only_the_address_they_were_for_and_drop_what_is_refused() {
    const APP: &str = "arn:aws:sns:us-east-1:1:app/GCM/A";
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let device = |id: &str, token: &str| DeviceRecord {
        id: id.into(),
        identity_id: "us-east-1:i".into(),
        platform: "GCM".into(),
        token: token.into(),
        endpoint_arn: format!("direct:{APP}"),
        disabled: false,
        created_ms: 1,
    };
    let event = |d: &DeviceRecord, address: &str| NewOutboxEvent {
        pool_id: "us-east-1:p".into(),
        stream_key: format!("push/{}", d.id),
        target: OutboxTarget::DirectPush {
            device_id: d.id.clone(),
        }
        .encode(),
        payload: DirectPayload {
            device_id: d.id.clone(),
            address: address.into(),
            application: APP.into(),
            platform: "GCM".into(),
            token: d.token.clone(),
            body: r#"{"data":{}}"#.into(),
        }
        .encode(),
        job: None,
    };
    let (gone, stale, bad, later) = (
        device("d1", "gone-1"),
        device("d2", "gone-2"),
        device("d3", "bad-3"),
        device("d4", "later-4"),
    );
    let outbox = vec![
        event(&gone, &gone.endpoint_arn),
        // Decided while d2 held another address: it has registered again since.
        event(&stale, "arn:aws:sns:us-east-1:1:endpoint/GCM/A/old"),
        event(&bad, &bad.endpoint_arn),
        event(&later, &later.endpoint_arn),
    ];
    pool_with(&*store, outbox).await;
    for d in [&gone, &stale, &bad, &later] {
        store.put_device(d).await.unwrap();
    }
    let provider = Arc::new(Provider {
        sent: Default::default(),
    });
    let metrics = Arc::new(crate::metrics::Metrics::new(&[]));
    let kinesis = Arc::new(Kinesis {
        deleted: false,
        puts: AtomicUsize::new(0),
    });
    let dispatcher = Arc::new(
        Dispatcher::new(
            store.clone(),
            kinesis,
            provider.clone(),
            Arc::new(Notify::new()),
        )
        .with_metrics(metrics.clone()),
    );
    assert_eq!(dispatcher.round().await, 4);
    assert_eq!(provider.sent.lock().unwrap().len(), 4);
    let disabled = |id: &'static str| {
        let store = store.clone();
        async move { store.get_device(id).await.unwrap().unwrap().disabled }
    };
    assert!(
        disabled("d1").await,
        "an unregistered token disables its device"
    );
    assert!(
        !disabled("d2").await,
        "but not one that has registered again since"
    );
    assert!(!disabled("d3").await && !disabled("d4").await);
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        1,
        "the refused push is dropped, the unavailable one waits"
    );
    let scrape = metrics.render();
    let series = "cogsync_outbox_delivery_failures_total{target=\"direct\"} 2";
    assert!(scrape.contains(series), "{scrape}");
}
