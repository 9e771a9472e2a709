//! The outbox dispatcher: after commit, delivers outbox events to their targets, oldest first
//! and one at a time per stream key (so a dataset's records keep their order), with retries
//! and exponential backoff. Claims are leases in the database, so with several nodes each event
//! is in the hands of one node at a time, and a node that dies mid-delivery only delays it.
//! Delivery is at least once. A stream that no longer exists (Kinesis's "not found", a
//! webhook's 410, a JetStream stream confirmed missing) is not retried: it turns Cognito
//! Streams off for the pool and its pending stream events are dropped. Pushes are in
//! [`push`].
//!
//! A stream event goes out only while its pool still streams to that stream, checked against
//! the pool's settings as stored when the event is taken for delivery (not as they were when
//! the write decided to publish): a write that read the settings before streaming was turned
//! off (by the developer, or by a deleted stream) and committed after leaves an event that is
//! dropped here, on whichever node claims it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::store::{DispatchStore, OutboxEvent, SettingsDecider, StoreResult, TargetGone};
use crate::sync::ports::{PushService, StreamError, StreamRecord, StreamSink};
use crate::sync::rules::{bulk as bulk_rules, streams};
use crate::sync::{turn_off_deleted_stream, OutboxTarget};
use crate::timeutil::now_ms;

/// How long a claim lasts before another node may take the event over.
const LEASE_MS: i64 = 30_000;
/// Events claimed per round.
const BATCH: usize = 64;
const FIRST_BACKOFF_MS: i64 = 250;
const MAX_BACKOFF_MS: i64 = 60_000;
/// Deliveries a bulk-publish event gets before its job is failed (regular events never give up).
const JOB_ATTEMPTS: i64 = 8;
/// Sleep when idle and not woken by a commit.
const IDLE_POLL: Duration = Duration::from_millis(500);
const BACKLOG_LOG_EVERY: Duration = Duration::from_secs(30);

pub struct Dispatcher {
    store: Arc<dyn DispatchStore>,
    streams: Arc<dyn StreamSink>,
    push: Arc<dyn PushService>,
    node: String,
    signal: Arc<Notify>,
    /// Where failed deliveries are counted, if anywhere.
    metrics: Option<Arc<Metrics>>,
}

/// Why a delivery did not happen.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt after the backoff.
    Retry(String),
    /// The stream's sink answered that the event's stream does not exist: it was deleted.
    StreamGone { stream: String, reason: String },
    /// The event's pool no longer streams to its stream (Cognito Streams was switched off,
    /// or pointed at another stream, after the write that made the event read the settings).
    StreamOff { stream: String },
}

/// What became of a handled event.
#[derive(Debug, PartialEq, Eq)]
enum Handled {
    /// Delivered, or recorded for a later attempt.
    Done,
    /// Its stream was deleted, or its pool no longer streams to it: the pool's other events
    /// for that stream left the outbox too.
    StreamGone,
}

/// The stream each pool of a round's Kinesis events publishes to now (None: Cognito Streams
/// off), or why that could not be read.
type CurrentStreams = HashMap<String, Result<Option<String>, String>>;

/// Delay before the next attempt after `attempts` failures.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 20) as u32;
    FIRST_BACKOFF_MS
        .saturating_mul(1i64 << exp)
        .min(MAX_BACKOFF_MS)
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn DispatchStore>,
        streams: Arc<dyn StreamSink>,
        push: Arc<dyn PushService>,
        signal: Arc<Notify>,
    ) -> Self {
        Dispatcher {
            store,
            streams,
            push,
            node: uuid::Uuid::new_v4().to_string(),
            signal,
            metrics: None,
        }
    }

    /// Counts failed deliveries in `metrics` (`cogsync_outbox_delivery_failures_total`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let mut last_log = Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let handled = me.clone().round().await;
            if last_log.elapsed() >= BACKLOG_LOG_EVERY {
                last_log = Instant::now();
                match me.store.outbox_backlog().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(backlog = n, "outbox events waiting for delivery"),
                    Err(e) => tracing::warn!(error = %e, "cannot read the outbox backlog"),
                }
            }
            if handled == 0 {
                tokio::select! {
                    _ = me.signal.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// One claim-and-deliver round; returns how many events it handled.
    pub(crate) async fn round(self: Arc<Self>) -> usize {
        let events = match self
            .store
            .claim_outbox(&self.node, now_ms(), LEASE_MS, BATCH)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim outbox events");
                return 0;
            }
        };
        let n = events.len();
        let current = Arc::new(self.current_streams(&events).await);
        // One task per target (a stream, a device endpoint): targets in parallel, each
        // target's events one after another.
        let mut by_target: BTreeMap<String, Vec<OutboxEvent>> = BTreeMap::new();
        for event in events {
            by_target
                .entry(event.event.target.clone())
                .or_default()
                .push(event);
        }
        let mut tasks = JoinSet::new();
        for (_, group) in by_target {
            let (me, current) = (self.clone(), current.clone());
            tasks.spawn(async move {
                // Pools whose stream turned out deleted or switched off: their events still
                // in hand here were dropped from the outbox with it.
                let mut gone = HashSet::new();
                for event in group {
                    if gone.contains(&event.event.pool_id) {
                        continue;
                    }
                    let pool = event.event.pool_id.clone();
                    if me.handle(event, &current).await == Handled::StreamGone {
                        gone.insert(pool);
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        n
    }

    /// The stream each pool with a Kinesis event among `events` publishes to, as stored now.
    async fn current_streams(&self, events: &[OutboxEvent]) -> CurrentStreams {
        let mut current = CurrentStreams::new();
        for e in events {
            let pool = &e.event.pool_id;
            if current.contains_key(pool) || !OutboxTarget::is_stream(&e.event.target) {
                continue;
            }
            let stream = match self.store.get_pool_settings(pool).await {
                Ok(settings) => Ok(streams::stream_of(&settings)),
                Err(err) => Err(format!("cannot read the pool's settings: {err}")),
            };
            current.insert(pool.clone(), stream);
        }
        current
    }

    async fn handle(&self, e: OutboxEvent, current: &CurrentStreams) -> Handled {
        let now = now_ms();
        let result = match self.deliver(&e, current).await {
            Ok(()) => {
                self.store
                    .complete_outbox(e.id, bulk_rules::progress(now))
                    .await
            }
            Err(Failure::StreamGone { stream, reason }) => {
                match self.stream_gone(&e, &stream, &reason, now).await {
                    Ok(()) => return Handled::StreamGone,
                    Err(err) => {
                        let error = format!("{reason} (and recording that failed: {err})");
                        self.failed(&e, now, &error).await
                    }
                }
            }
            Err(Failure::StreamOff { stream }) => match self.stream_off(&e, &stream, now).await {
                Ok(()) => return Handled::StreamGone,
                Err(err) => {
                    let error = format!("cannot drop the events of a pool that stopped streaming to {stream}: {err}");
                    self.failed(&e, now, &error).await
                }
            },
            Err(Failure::Retry(error)) => self.failed(&e, now, &error).await,
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, id = e.id, "cannot record an outbox delivery outcome; the lease will expire");
        }
        Handled::Done
    }

    /// Records a failed delivery: retried after the backoff, or the end of its bulk-publish job.
    async fn failed(&self, e: &OutboxEvent, now: i64, error: &str) -> StoreResult<()> {
        let attempts = e.attempts + 1;
        tracing::warn!(target = %e.event.target, key = %e.event.stream_key, attempts, %error, "delivery failed; will retry");
        if let (Some(metrics), Some(target)) =
            (&self.metrics, OutboxTarget::decode(&e.event.target))
        {
            metrics.delivery_failed(target.kind());
        }
        match &e.event.job {
            Some(pool) if attempts >= JOB_ATTEMPTS => {
                let message = format!(
                    "Delivery to {} failed {attempts} times: {error}",
                    e.event.target
                );
                self.store
                    .fail_bulk_publish(pool, &message, bulk_rules::progress(now))
                    .await
            }
            _ => {
                self.store
                    .retry_outbox(e.id, now + backoff_ms(e.attempts), error)
                    .await
            }
        }
    }

    /// The sink says `stream` does not exist. Deleting the stream turns Cognito Streams off
    /// (spec §7.1), so in one store transaction the event's pool gets `StreamingStatus:
    /// DISABLED` (only if it still publishes to that stream) and its pending events for the
    /// stream are dropped; its push events stay.
    async fn stream_gone(
        &self,
        e: &OutboxEvent,
        stream: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        let name = stream.to_owned();
        let decide: SettingsDecider =
            Box::new(move |settings| turn_off_deleted_stream(settings, &name));
        let message = format!("The stream {stream} no longer exists");
        let gone = self.drop_stream_events(e, &message, decide, now).await?;
        let pool = e.event.pool_id.as_str();
        if gone.settings_changed {
            tracing::warn!(pool, stream, dropped = gone.dropped, bulk_publish_failed = gone.job_failed, %reason,
                "stream not found (deleted): Cognito Streams turned off for the pool (StreamingStatus DISABLED) and its pending stream events dropped");
        } else {
            tracing::warn!(pool, stream, dropped = gone.dropped, bulk_publish_failed = gone.job_failed, %reason,
                "stream not found (deleted): the pool's pending events for it dropped; the pool no longer publishes to it, so its configuration is left as it is");
        }
        Ok(())
    }

    /// The event's pool no longer streams to `stream`: in one store transaction (ordered
    /// with settings writes by the pool's lock) its pending events for the stream are
    /// dropped, and its bulk publish, if any of them were the job's, ends failed. Its
    /// settings are left as they are.
    async fn stream_off(&self, e: &OutboxEvent, stream: &str, now: i64) -> StoreResult<()> {
        let keep: SettingsDecider = Box::new(|_| None);
        let message = format!("Cognito Streams no longer publishes this pool to {stream}");
        let gone = self.drop_stream_events(e, &message, keep, now).await?;
        let pool = e.event.pool_id.as_str();
        tracing::info!(
            pool,
            stream,
            dropped = gone.dropped,
            bulk_publish_failed = gone.job_failed,
            "the pool no longer streams to this stream: its undelivered stream events dropped"
        );
        Ok(())
    }

    /// Drops the pending events of `e`'s pool for `e`'s stream, ends its bulk publish failed
    /// with `message` if any were the job's, and applies `decide` to its settings: one
    /// transaction, under the pool's lock.
    async fn drop_stream_events(
        &self,
        e: &OutboxEvent,
        message: &str,
        decide: SettingsDecider,
        now: i64,
    ) -> StoreResult<TargetGone> {
        let progress = bulk_rules::progress(now);
        self.store
            .stream_target_gone(&e.event.pool_id, &e.event.target, message, decide, progress)
            .await
    }

    async fn deliver(&self, e: &OutboxEvent, current: &CurrentStreams) -> Result<(), Failure> {
        match OutboxTarget::decode(&e.event.target) {
            Some(OutboxTarget::Kinesis { stream }) => {
                match current.get(&e.event.pool_id) {
                    Some(Ok(now)) if now.as_deref() == Some(stream.as_str()) => {}
                    Some(Ok(_)) => return Err(Failure::StreamOff { stream }),
                    Some(Err(error)) => return Err(Failure::Retry(error.clone())),
                    None => {
                        return Err(Failure::Retry(
                            "the pool's streaming settings were not read".into(),
                        ))
                    }
                }
                self.deliver_record(e, &stream).await
            }
            Some(OutboxTarget::Sns { endpoint_arn }) => self
                .deliver_push(e, &endpoint_arn)
                .await
                .map_err(Failure::Retry),
            Some(OutboxTarget::DirectPush { .. }) => {
                self.deliver_direct(e).await.map_err(Failure::Retry)
            }
            None => Err(Failure::Retry(format!(
                "no delivery channel for target {}",
                e.event.target
            ))),
        }
    }

    /// Puts the event's record on its stream (Kinesis, or the sink the stream is mapped to).
    async fn deliver_record(&self, e: &OutboxEvent, stream: &str) -> Result<(), Failure> {
        let envelope: Value = serde_json::from_str(&e.event.payload)
            .map_err(|err| Failure::Retry(format!("bad payload: {err}")))?;
        let key = envelope["partitionKey"]
            .as_str()
            .unwrap_or(&e.event.stream_key)
            .to_owned();
        let data =
            serde_json::to_vec(&envelope["data"]).map_err(|err| Failure::Retry(err.to_string()))?;
        let record = StreamRecord {
            stream,
            partition_key: &key,
            data: &data,
            event_id: e.id,
        };
        match self.streams.put_record(record).await {
            Ok(()) => Ok(()),
            Err(StreamError::NotFound(reason)) => Err(Failure::StreamGone {
                stream: stream.to_owned(),
                reason,
            }),
            Err(StreamError::Retry(reason)) => Err(Failure::Retry(reason)),
        }
    }
}

mod push;
#[cfg(test)]
mod tests;
