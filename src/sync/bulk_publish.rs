//! BulkPublish and GetBulkPublishDetails: publish every live dataset of a pool to its stream,
//! as one job whose events are written to the outbox in one transaction and delivered like any
//! other; the job succeeds when its last event is delivered.

use super::rules::{bulk as bulk_rules, streams};
use super::{SyncError, SyncResult, SyncService};
use crate::store::{BulkJob, DatasetRow, RecordRow};

impl SyncService {
    /// Starts a bulk publish. Streams must be configured and ENABLED (InvalidParameterException
    /// otherwise); one job at a time (DuplicateRequestException); one success per interval
    /// (AlreadyStreamedException).
    pub async fn bulk_publish(&self, pool_id: &str) -> SyncResult<()> {
        self.require_pool(pool_id).await?;
        self.refuse_if_attached(pool_id, "BulkPublish")?;
        let Some(stream) = self.stream_of(pool_id).await? else {
            return Err(SyncError::InvalidParameter(
                "Bulk publish needs Cognito Streams configured with StreamingStatus ENABLED for this identity pool"
                    .into(),
            ));
        };
        let pool = pool_id.to_owned();
        let events = Box::new(move |d: &DatasetRow, records: &[RecordRow]| {
            streams::bulk_events(&pool, &stream, d, records)
        });
        match self
            .store
            .start_bulk_publish(
                pool_id,
                self.clock.now_ms(),
                bulk_rules::decider(self.clock.now_ms(), self.bulk_publish_interval_ms),
                events,
            )
            .await
        {
            Ok(()) => {
                self.outbox_signal.notify_one();
                Ok(())
            }
            // BulkInProgress → DuplicateRequest, BulkTooSoon → AlreadyStreamed (SyncError::from).
            Err(e) => Err(e.into()),
        }
    }

    /// GetBulkPublishDetails.
    pub async fn bulk_publish_details(&self, pool_id: &str) -> SyncResult<BulkJob> {
        self.require_pool(pool_id).await?;
        Ok(bulk_rules::reported(
            self.store.bulk_publish(pool_id).await?,
        ))
    }
}
