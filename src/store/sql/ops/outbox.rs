//! The outbox and bulk publish: claiming due events, completing and dropping them, and the
//! bulk-publish job whose events they may be.

use super::parts;
use crate::store::sql::interface::{args, Lock, Op, Tx};
use crate::store::sql::rows::{self, dataset_cols, record_cols};
use crate::store::{
    DatasetEvents, NewOutboxEvent, OutboxEvent, PoolSettings, Rejection, SettingsDecider,
    StoreError, StoreResult, TargetGone,
};

/// Claims due events for a node: the oldest pending event of each stream key, unclaimed.
pub struct Claim {
    pub node: String,
    pub now_ms: i64,
    pub lease_ms: i64,
    pub limit: usize,
}

macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = CAST($2 AS BIGINT) + CAST($3 AS BIGINT)
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.next_attempt_ms <= $2 AND (o.claimed_until IS NULL OR o.claimed_until < $2)
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.stream_key = o.stream_key AND p.id < o.id)
                 ORDER BY o.id LIMIT $4 ",
            $lock,
            ") RETURNING id, pool_id, stream_key, target, payload, job, attempts"
        )
    };
}

impl Op for Claim {
    type Output = Vec<OutboxEvent>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Vec<OutboxEvent>> {
        // Nodes claiming at once pass over each other's rows instead of waiting for them.
        let sql = if X::DIALECT.row_locks {
            claim!("FOR UPDATE SKIP LOCKED")
        } else {
            claim!("")
        };
        let params = args![self.node.as_str(), self.now_ms, self.lease_ms, self.limit];
        let mut events = rows::all(tx.query(sql, &params).await?, |r| {
            let mut c = r.cols();
            Ok(OutboxEvent {
                id: c.int()?,
                event: NewOutboxEvent {
                    pool_id: c.text()?,
                    stream_key: c.text()?,
                    target: c.text()?,
                    payload: c.text()?,
                    job: c.opt_text()?,
                },
                attempts: c.int()?,
            })
        })?;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }
}

/// Removes a delivered event; completes its bulk-publish job when it was the job's last.
pub struct Complete {
    pub id: i64,
    pub now_ms: i64,
}

impl Op for Complete {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        let gone = tx
            .query(
                "DELETE FROM outbox WHERE id = $1 RETURNING job",
                &args![self.id],
            )
            .await?;
        if let Some(Some(job)) = rows::opt(gone, |r| r.cols().opt_text())? {
            tx.execute(
                "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = $2, last_success_ms = $2
                 WHERE pool_id = $1 AND status = 'IN_PROGRESS'
                   AND NOT EXISTS (SELECT 1 FROM outbox WHERE job = $1)",
                &args![job.as_str(), self.now_ms],
            )
            .await?;
        }
        Ok(())
    }
}

/// A pool's delivery target is gone for good: its settings as the decider says, its events
/// for the target dropped, and its bulk publish failed if any of them were the job's.
pub struct TargetGoneOp {
    pub pool_id: String,
    pub target: String,
    pub now_ms: i64,
    pub message: String,
    pub decide: SettingsDecider,
}

impl Op for TargetGoneOp {
    type Output = TargetGone;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<TargetGone> {
        let pool = self.pool_id.as_str();
        let mut gone = TargetGone::default();
        // The pool's lock orders this against SetIdentityPoolConfiguration and against other
        // nodes finding the same target gone.
        tx.lock(Lock::Pool, pool).await?;
        let current = parts::settings(tx, pool).await?;
        if let Some(next) = (self.decide)(&current) {
            let next = PoolSettings {
                version: current.version + 1,
                ..next
            };
            if !parts::put_settings(tx, pool, &next).await? {
                return Err(StoreError::Busy(
                    "pool settings changed concurrently".into(),
                ));
            }
            gone.settings_changed = true;
        }
        let dropped = tx
            .query(
                "DELETE FROM outbox WHERE pool_id = $1 AND target = $2 RETURNING job",
                &args![pool, self.target.as_str()],
            )
            .await?;
        gone.dropped = dropped.len() as u64;
        let jobs = rows::all(dropped, |r| r.cols().opt_text())?;
        if jobs.iter().any(Option::is_some) {
            gone.job_failed = tx
                .execute(
                    "UPDATE bulk_publish SET status = 'FAILED', complete_ms = $2, failure_message = $3
                     WHERE pool_id = $1 AND status = 'IN_PROGRESS'",
                    &args![pool, self.now_ms, self.message.as_str()],
                )
                .await?
                > 0;
            gone.dropped += tx
                .execute("DELETE FROM outbox WHERE job = $1", &args![pool])
                .await?;
        }
        Ok(gone)
    }
}

/// Starts a pool's bulk publish: refused while one runs or too soon after a success; writes
/// the events of every live dataset of the pool.
pub struct StartBulk {
    pub pool_id: String,
    pub now_ms: i64,
    pub min_interval_ms: i64,
    pub events: DatasetEvents,
}

impl Op for StartBulk {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        const DATASETS: &str = concat!(
            "SELECT ",
            dataset_cols!(),
            " FROM datasets WHERE live AND identity_id IN (SELECT id FROM identities WHERE pool_id = $1)
             ORDER BY identity_id, name"
        );
        const RECORDS: &str = concat!(
            "SELECT ",
            record_cols!(),
            " FROM records WHERE identity_id = $1 AND dataset_name = $2 AND value IS NOT NULL ORDER BY key"
        );
        let (pool, now) = (self.pool_id.as_str(), self.now_ms);
        // Starts of one pool take turns, across nodes.
        tx.lock(Lock::Pool, pool).await?;
        let state = tx
            .query(
                "SELECT status, last_success_ms FROM bulk_publish WHERE pool_id = $1",
                &args![pool],
            )
            .await?;
        let state = rows::opt(state, |r| {
            let mut c = r.cols();
            Ok((c.text()?, c.opt_int()?))
        })?;
        if let Some((status, last)) = state {
            if status == "IN_PROGRESS" {
                return Err(StoreError::Rejected(Rejection::BulkInProgress));
            }
            if last.is_some_and(|t| now - t < self.min_interval_ms) {
                return Err(StoreError::Rejected(Rejection::BulkTooSoon));
            }
        }
        tx.execute(
            "INSERT INTO bulk_publish (pool_id, status, start_ms) VALUES ($1, 'IN_PROGRESS', $2)
             ON CONFLICT (pool_id) DO UPDATE SET status = 'IN_PROGRESS', start_ms = excluded.start_ms,
                 complete_ms = NULL, failure_message = NULL",
            &args![pool, now],
        )
        .await?;
        let datasets = rows::all(tx.query(DATASETS, &args![pool]).await?, rows::dataset)?;
        let mut written = 0;
        for d in &datasets {
            let found = tx.query(RECORDS, &args![&d.identity_id, &d.name]).await?;
            let records = rows::all(found, rows::record)?;
            let batch = (self.events)(d, &records);
            written += batch.len();
            parts::put_outbox(tx, &batch, now).await?;
        }
        if written == 0 {
            tx.execute(
                "UPDATE bulk_publish SET status = 'SUCCEEDED', complete_ms = $2, last_success_ms = $2
                 WHERE pool_id = $1",
                &args![pool, now],
            )
            .await?;
        }
        Ok(())
    }
}

/// Fails a pool's bulk publish and drops its undelivered events.
pub struct FailBulk {
    pub pool_id: String,
    pub now_ms: i64,
    pub message: String,
}

impl Op for FailBulk {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        let pool = self.pool_id.as_str();
        tx.execute(
            "UPDATE bulk_publish SET status = 'FAILED', complete_ms = $2, failure_message = $3
             WHERE pool_id = $1 AND status = 'IN_PROGRESS'",
            &args![pool, self.now_ms, self.message.as_str()],
        )
        .await?;
        tx.execute("DELETE FROM outbox WHERE job = $1", &args![pool])
            .await?;
        Ok(())
    }
}
