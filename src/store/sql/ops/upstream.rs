//! Upstream mode ([`UpstreamStore`]): pools' attachment rows, changed only as the rules decide
//! under the pool's lock; nodes' heartbeats; identities whose mirror may lag the upstream.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::Statement;
use crate::store::sql::interface::{args, Engine, Lock, Mode, Op, Tx, Value};
use crate::store::sql::rows::{self, upstream_cols};
use crate::store::sql::SqlStore;
use crate::store::*;

const POOLS: &str = concat!(
    "SELECT ",
    upstream_cols!(),
    " FROM upstream_pools ORDER BY pool_id"
);
const ONE: &str = concat!(
    "SELECT ",
    upstream_cols!(),
    " FROM upstream_pools WHERE pool_id = $1"
);

/// A pool's attachment row as the decider makes it, under the pool's lock.
pub struct UpdateUpstream {
    pub pool_id: String,
    pub decide: AttachDecider,
}

impl Op for UpdateUpstream {
    type Output = Option<UpstreamPool>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Option<UpstreamPool>> {
        const PUT: &str = concat!(
            "INSERT INTO upstream_pools (",
            upstream_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pool_id) DO UPDATE \
             SET state = excluded.state, version = excluded.version, upstream = excluded.upstream, \
             attached_ms = excluded.attached_ms, changed_ms = excluded.changed_ms, \
             copy_done_ms = excluded.copy_done_ms, copy_lease_node = excluded.copy_lease_node, \
             copy_lease_until = excluded.copy_lease_until, report = excluded.report"
        );
        let pool = self.pool_id.as_str();
        tx.lock(Lock::Pool, pool).await?;
        let stored = rows::opt(tx.query(ONE, &args![pool]).await?, rows::upstream_pool)?;
        let Some(next) = (self.decide)(stored.as_ref()) else {
            return Ok(None);
        };
        let (lease_node, lease_until) = match &next.copy_lease {
            Some((node, until)) => (Some(node.as_str()), Some(*until)),
            None => (None, None),
        };
        let params = args![
            pool,
            next.state.as_str(),
            next.version,
            &next.upstream,
            next.attached_ms,
            next.changed_ms,
            next.copy_done_ms,
            lease_node,
            lease_until,
            next.report.as_deref(),
        ];
        tx.execute(PUT, &params).await?;
        Ok(Some(next))
    }
}

/// A node's heartbeat, then every pool's row, in one transaction.
pub struct Heartbeat {
    pub node: String,
    pub now_ms: i64,
    pub acks: String,
}

impl Op for Heartbeat {
    type Output = Vec<UpstreamPool>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Vec<UpstreamPool>> {
        const SEEN: &str = "INSERT INTO upstream_nodes (node_id, seen_ms, acks) VALUES ($1, $2, $3)
             ON CONFLICT (node_id) DO UPDATE SET seen_ms = excluded.seen_ms, acks = excluded.acks";
        const FORGET: &str = "DELETE FROM upstream_nodes WHERE seen_ms < $1";
        let day_ago = self.now_ms - 24 * 3600 * 1000;
        tx.execute(SEEN, &args![&self.node, self.now_ms, &self.acks])
            .await?;
        tx.execute(FORGET, &args![day_ago]).await?;
        rows::all(tx.query(POOLS, &args![]).await?, rows::upstream_pool)
    }
}

#[async_trait]
impl<E: Engine> UpstreamStore for SqlStore<E> {
    async fn upstream_pools(&self) -> StoreResult<Vec<UpstreamPool>> {
        let found = self.read("upstream_pools", POOLS, Vec::new()).await?;
        rows::all(found, rows::upstream_pool)
    }

    async fn update_upstream(
        &self,
        pool_id: &str,
        decide: AttachDecider,
    ) -> StoreResult<Option<UpstreamPool>> {
        let op = UpdateUpstream {
            pool_id: pool_id.to_owned(),
            decide,
        };
        self.run("update_upstream", Mode::Write, op).await
    }

    async fn upstream_heartbeat(
        &self,
        node: &str,
        now_ms: i64,
        acks: &BTreeMap<String, i64>,
    ) -> StoreResult<Vec<UpstreamPool>> {
        let op = Heartbeat {
            node: node.to_owned(),
            now_ms,
            acks: rows::encoded(acks)?,
        };
        self.run("upstream_heartbeat", Mode::Write, op).await
    }

    async fn upstream_nodes(&self) -> StoreResult<Vec<NodeBeat>> {
        const SQL: &str = "SELECT node_id, seen_ms, acks FROM upstream_nodes ORDER BY node_id";
        let found = self.read("upstream_nodes", SQL, Vec::new()).await?;
        rows::all(found, rows::node_beat)
    }

    async fn mark_dirty(&self, pool_id: &str, identity_id: &str, now_ms: i64) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO upstream_dirty (pool_id, identity_id, marked_ms)
             VALUES ($1, $2, $3) ON CONFLICT (pool_id, identity_id)
             DO UPDATE SET marked_ms = excluded.marked_ms";
        let params = vec![pool_id.into(), identity_id.into(), now_ms.into()];
        self.run("mark_dirty", Mode::Write, Statement::execute(SQL, params))
            .await?;
        Ok(())
    }

    async fn dirty(&self, pool_id: &str, limit: usize) -> StoreResult<Vec<(String, i64)>> {
        const SQL: &str = "SELECT identity_id, marked_ms FROM upstream_dirty WHERE pool_id = $1
             ORDER BY marked_ms, identity_id LIMIT $2";
        let found = self
            .read("dirty", SQL, vec![pool_id.into(), Value::from(limit)])
            .await?;
        found
            .into_iter()
            .map(|r| {
                let mut c = r.cols();
                Ok((c.text()?, c.int()?))
            })
            .collect()
    }

    async fn clear_dirty(&self, pool_id: &str, identity_id: &str, read_ms: i64) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM upstream_dirty
             WHERE pool_id = $1 AND identity_id = $2 AND marked_ms <= $3";
        let params = vec![pool_id.into(), identity_id.into(), read_ms.into()];
        self.run("clear_dirty", Mode::Write, Statement::execute(SQL, params))
            .await?;
        Ok(())
    }
}
