//! The outbox and bulk publish: claiming due events, completing and dropping them, and the
//! bulk-publish job whose events they may be.

use super::parts;
use async_trait::async_trait;

use crate::store::sql::interface::{args, Batch, Lock, Op, Tx};
use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::rows::{self, dataset_cols, record_cols};
use crate::store::sql::SqlStore;
use crate::store::*;
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
        // The event first, then the job's lock (every transition of a job takes the outbox
        // rows it touches before the job row): when two nodes complete a job's last two
        // events at once, the second to lock sees the first's deletion and finds the job
        // drained. The check locks what it finds where the engine has row locks, so at an
        // isolation level above READ COMMITTED a row deleted since the snapshot is a
        // serialization failure (retried), never a drained job left unseen.
        tx.execute("DELETE FROM outbox WHERE id = $1", &args![self.id])
            .await?;
        tx.lock(Lock::Job, &job).await?;
        let check = if X::DIALECT.row_locks {
            "SELECT 1 FROM outbox WHERE job = $1 LIMIT 1 FOR UPDATE"
        } else {
            "SELECT 1 FROM outbox WHERE job = $1 LIMIT 1"
        };
        let left = tx.query(check, &args![job.as_str()]).await?;
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
            tx.lock(Lock::Job, pool).await?;
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
        // The job's events, then its lock, as every transition of the job takes them
        // (Complete, TargetGoneOp; StartBulk writes the row under the pool's lock): the job
        // is decided by one of them at a time.
        parts::drop_job_events(tx, pool).await?;
        tx.lock(Lock::Job, pool).await?;
        let failed = BulkEvent::DeliveryFailed(&self.message);
        parts::decide_bulk_job(tx, pool, failed, &self.decide).await?;
        Ok(())
    }
}

#[async_trait]
impl<E: Engine> OutboxStore for SqlStore<E> {
    async fn claim_outbox(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let op = Claim {
            node: node.to_owned(),
            now_ms,
            lease_ms,
            limit,
        };
        self.run("claim_outbox", Mode::Write, op).await
    }

    async fn complete_outbox(&self, id: i64, decide: BulkDecider) -> StoreResult<()> {
        self.run("complete_outbox", Mode::Write, Complete { id, decide })
            .await
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2,
                 last_error = $3, claimed_by = NULL, claimed_until = NULL
             WHERE id = $1";
        self.write(
            "retry_outbox",
            SQL,
            vec![id.into(), next_attempt_ms.into(), error.into()],
        )
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        let found = self
            .read("outbox_backlog", "SELECT COUNT(*) FROM outbox", Vec::new())
            .await?;
        Ok(rows::opt(found, rows::int)?.unwrap_or(0))
    }

    async fn stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        message: &str,
        settings: SettingsDecider,
        bulk: BulkDecider,
    ) -> StoreResult<TargetGone> {
        let op = TargetGoneOp {
            pool_id: pool_id.to_owned(),
            target: target.to_owned(),
            message: message.to_owned(),
            settings,
            bulk,
        };
        let pool = pool_id.to_owned();
        self.write_then("stream_target_gone", op, move |cache, _| {
            cache.drop_settings(&pool)
        })
        .await
    }

    async fn start_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        decide: BulkDecider,
        events: DatasetEvents,
    ) -> StoreResult<()> {
        let op = StartBulk {
            pool_id: pool_id.to_owned(),
            now_ms,
            decide,
            events,
        };
        self.run("start_bulk_publish", Mode::Write, op).await
    }

    async fn bulk_publish(&self, pool_id: &str) -> StoreResult<Option<BulkJob>> {
        let found = self
            .read("bulk_publish", parts::BULK_JOB, vec![pool_id.into()])
            .await?;
        rows::opt(found, rows::bulk_job)
    }

    async fn fail_bulk_publish(
        &self,
        pool_id: &str,
        message: &str,
        decide: BulkDecider,
    ) -> StoreResult<()> {
        let op = FailBulk {
            pool_id: pool_id.to_owned(),
            message: message.to_owned(),
            decide,
        };
        self.run("fail_bulk_publish", Mode::Write, op).await
    }
}
