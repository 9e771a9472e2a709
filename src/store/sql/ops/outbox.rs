//! The outbox and bulk publish: claiming due events, completing and dropping them, and the
//! bulk-publish job whose events they may be.

use super::parts;
use crate::store::sql::interface::{args, Batch, Lock, Op, Tx};
use crate::store::sql::rows::{self, dataset_cols, record_cols};
use crate::store::{
    BulkDecider, BulkEvent, DatasetEvents, NewOutboxEvent, OutboxEvent, SettingsDecider,
    StoreResult, TargetGone,
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

/// Removes a delivered event; the job's rules decide on its job when it was the last.
pub struct Complete {
    pub id: i64,
    pub decide: BulkDecider,
}

impl Op for Complete {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        // Most events belong to no bulk publish: one statement.
        let plain = tx
            .execute(
                "DELETE FROM outbox WHERE id = $1 AND job IS NULL",
                &args![self.id],
            )
            .await?;
        if plain > 0 {
            return Ok(());
        }
        let of = tx
            .query("SELECT job FROM outbox WHERE id = $1", &args![self.id])
            .await?;
        let Some(Some(job)) = rows::opt(of, |r| r.cols().opt_text())? else {
            return Ok(());
        };
        // The job's pool, locked before its events are looked at (the order TargetGoneOp
        // takes too): when two nodes complete a job's last two events at once, the second
        // to lock sees the first's deletion and finds the job drained.
        tx.lock(Lock::Pool, &job).await?;
        tx.execute("DELETE FROM outbox WHERE id = $1", &args![self.id])
            .await?;
        let left = tx
            .query(
                "SELECT 1 FROM outbox WHERE job = $1 LIMIT 1",
                &args![job.as_str()],
            )
            .await?;
        if left.is_empty() {
            parts::decide_bulk_job(tx, &job, BulkEvent::Drained, &self.decide).await?;
        }
        Ok(())
    }
}

/// A pool's delivery target is gone for good: its settings as the decider says, its events
/// for the target dropped, and, if any of them were its bulk publish's, the job's other
/// events dropped and the job as its rules say.
pub struct TargetGoneOp {
    pub pool_id: String,
    pub target: String,
    pub message: String,
    pub settings: SettingsDecider,
    pub bulk: BulkDecider,
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
        if let Some(next) = (self.settings)(&current) {
            parts::put_settings(tx, pool, &next).await?;
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
            gone.dropped += parts::drop_job_events(tx, pool).await?;
            let failed = BulkEvent::DeliveryFailed(&self.message);
            gone.job_failed = parts::decide_bulk_job(tx, pool, failed, &self.bulk).await?;
        }
        Ok(gone)
    }
}

/// Requests a pool's bulk publish: the job as its rules say (or their refusal), then the
/// events of every live dataset of the pool.
pub struct StartBulk {
    pub pool_id: String,
    pub now_ms: i64,
    pub decide: BulkDecider,
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
        let pool = self.pool_id.as_str();
        // Requests of one pool take turns, across nodes.
        tx.lock(Lock::Pool, pool).await?;
        if !parts::decide_bulk_job(tx, pool, BulkEvent::Requested, &self.decide).await? {
            return Ok(());
        }
        let datasets = rows::all(tx.query(DATASETS, &args![pool]).await?, rows::dataset)?;
        let mut written = 0;
        for d in &datasets {
            let found = tx.query(RECORDS, &args![&d.identity_id, &d.name]).await?;
            let records = rows::all(found, rows::record)?;
            let events = (self.events)(d, &records);
            written += events.len();
            let mut writes = Batch::default();
            parts::write_outbox(&mut writes, &events, self.now_ms);
            writes.run(tx).await?;
        }
        if written == 0 {
            parts::decide_bulk_job(tx, pool, BulkEvent::Drained, &self.decide).await?;
        }
        Ok(())
    }
}

/// A bulk-publish event cannot be delivered: the job's other events dropped, the job as its
/// rules say.
pub struct FailBulk {
    pub pool_id: String,
    pub message: String,
    pub decide: BulkDecider,
}

impl Op for FailBulk {
    type Output = ();

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<()> {
        let pool = self.pool_id.as_str();
        parts::drop_job_events(tx, pool).await?;
        let failed = BulkEvent::DeliveryFailed(&self.message);
        parts::decide_bulk_job(tx, pool, failed, &self.decide).await?;
        Ok(())
    }
}
