//! The outbox dispatcher: after commit, delivers outbox events to their targets, oldest first
//! and one at a time per stream key (so a dataset's records keep their order), with retries
//! and exponential backoff. Claims are leases in the database, so with several nodes each event
//! is in the hands of one node at a time, and a node that dies mid-delivery only delays it.
//! Delivery is at least once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::{PushError, PushService, StreamSink};
use crate::store::{OutboxEvent, Store};
use crate::sync::push::SNS_TARGET;
use crate::sync::streams::KINESIS_TARGET;
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
    store: Arc<dyn Store>,
    streams: Arc<dyn StreamSink>,
    push: Arc<dyn PushService>,
    node: String,
    signal: Arc<Notify>,
}

/// Delay before the next attempt after `attempts` failures.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 20) as u32;
    FIRST_BACKOFF_MS
        .saturating_mul(1i64 << exp)
        .min(MAX_BACKOFF_MS)
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
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
        }
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
    async fn round(self: Arc<Self>) -> usize {
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
        // One task per target (a stream, a device endpoint): targets in parallel, each
        // target's events one after another.
        let mut by_target: std::collections::BTreeMap<String, Vec<OutboxEvent>> =
            Default::default();
        for event in events {
            by_target
                .entry(event.event.target.clone())
                .or_default()
                .push(event);
        }
        let mut tasks = JoinSet::new();
        for (_, group) in by_target {
            let me = self.clone();
            tasks.spawn(async move {
                for event in group {
                    me.handle(event).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        n
    }

    async fn handle(&self, e: OutboxEvent) {
        let outcome = self.deliver(&e).await;
        let now = now_ms();
        let result = match outcome {
            Ok(()) => self.store.complete_outbox(e.id, now).await,
            Err(error) => {
                let attempts = e.attempts + 1;
                tracing::warn!(target = %e.event.target, key = %e.event.stream_key, attempts, %error, "delivery failed; will retry");
                match &e.event.job {
                    Some(pool) if attempts >= JOB_ATTEMPTS => {
                        let message = format!(
                            "Delivery to {} failed {attempts} times: {error}",
                            e.event.target
                        );
                        self.store.fail_bulk_publish(pool, now, &message).await
                    }
                    _ => {
                        self.store
                            .retry_outbox(e.id, now + backoff_ms(e.attempts), &error)
                            .await
                    }
                }
            }
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, id = e.id, "cannot record an outbox delivery outcome; the lease will expire");
        }
    }

    async fn deliver(&self, e: &OutboxEvent) -> Result<(), String> {
        if let Some(endpoint) = e.event.target.strip_prefix(SNS_TARGET) {
            return self.deliver_push(e, endpoint).await;
        }
        let Some(stream) = e.event.target.strip_prefix(KINESIS_TARGET) else {
            return Err(format!("no delivery channel for target {}", e.event.target));
        };
        let envelope: Value =
            serde_json::from_str(&e.event.payload).map_err(|err| format!("bad payload: {err}"))?;
        let key = envelope["partitionKey"]
            .as_str()
            .unwrap_or(&e.event.stream_key)
            .to_owned();
        let data = serde_json::to_vec(&envelope["data"]).map_err(|err| err.to_string())?;
        self.streams
            .put_record(stream, &key, data)
            .await
            .map_err(|err| err.0)
    }

    /// A push to a disabled or deleted endpoint counts as done: the device is marked disabled
    /// and gets no more pushes, and nobody's sync fails for it.
    async fn deliver_push(&self, e: &OutboxEvent, endpoint: &str) -> Result<(), String> {
        let envelope: Value =
            serde_json::from_str(&e.event.payload).map_err(|err| format!("bad payload: {err}"))?;
        let message = envelope["message"]
            .as_str()
            .ok_or("push payload without a message")?;
        match self.push.publish(endpoint, message).await {
            Ok(()) => Ok(()),
            Err(PushError::Gone(reason)) => {
                tracing::info!(endpoint, %reason, "push endpoint unusable; device disabled");
                if let Some(device) = envelope["deviceId"].as_str() {
                    self.store
                        .disable_device(device)
                        .await
                        .map_err(|err| err.to_string())?;
                }
                Ok(())
            }
            Err(PushError::Retry(reason)) => Err(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff_ms(0), 250);
        assert_eq!(backoff_ms(1), 500);
        assert_eq!(backoff_ms(3), 2000);
        assert_eq!(backoff_ms(30), 60_000);
    }
}
