//! Identities and their logins ([`IdentityStore`]): the identity rows, the logins linked to
//! them, and the login transaction that creates, links, unlinks and merges as the login
//! rules decide.

use std::sync::Arc;

use super::{parts, Statement};
use async_trait::async_trait;

use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::SqlStore;
use crate::store::*;

use crate::store::sql::interface::{args, Batch, Lock, Op, Tx};
use crate::store::sql::rows::{self, identity_cols};
use crate::store::{
    DatasetCopy, LoginDecider, LoginPlan, LoginQuery, LoginSnapshot, MergeCopier, StoreError,
    StoreResult,
};

/// Reads the snapshot and decides. Run as a read, it answers a plan that writes nothing
/// without taking the pool's lock; run as a write, it takes the lock and applies the plan.
pub struct Login {
    pub pool_id: String,
    pub query: LoginQuery,
    pub now_ms: i64,
    pub decide: Arc<LoginDecider>,
    pub merge: MergeCopier,
    /// Apply the plan (under the pool's login lock), or only decide it.
    pub write: bool,
}

impl Op for Login {
    type Output = LoginPlan;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<LoginPlan> {
        let pool = self.pool_id.as_str();
        if self.write {
            // Login writes of one pool take turns, across nodes.
            tx.lock(Lock::Pool, pool).await?;
        }
        let snapshot = snapshot(tx, pool, &self.query).await?;
        let plan = (self.decide)(&snapshot).map_err(StoreError::Rejected)?;
        if self.write {
            apply(tx, pool, &plan, self.now_ms, &self.merge).await?;
        }
        Ok(plan)
    }
}

/// Reads what the login rules decide on.
async fn snapshot<X: Tx>(
    tx: &mut X,
    pool_id: &str,
    query: &LoginQuery,
) -> StoreResult<LoginSnapshot> {
    let mut snapshot = LoginSnapshot::default();
    let mut wanted: Vec<String> = query.identities.clone();
    for (provider, subject) in &query.logins {
        let owner = rows::opt(
            tx.query(parts::LOGIN_OWNER, &args![pool_id, provider, subject])
                .await?,
            rows::text,
        )?;
        if let Some(owner) = owner {
            wanted.push(owner.clone());
            snapshot
                .owners
                .insert((provider.clone(), subject.clone()), owner);
        }
    }
    for id in wanted {
        if snapshot.identities.contains_key(&id) {
            continue;
        }
        let Some(identity) = rows::opt(
            tx.query(parts::IDENTITY, &args![&id]).await?,
            rows::identity,
        )?
        else {
            continue;
        };
        let logins = rows::all(tx.query(parts::LOGINS_OF, &args![&id]).await?, rows::login)?;
        snapshot.logins.insert(id.clone(), logins);
        snapshot.identities.insert(id, identity);
    }
    Ok(snapshot)
}

/// Applies a login plan: create, merges, unlinks, links.
async fn apply<X: Tx>(
    tx: &mut X,
    pool_id: &str,
    plan: &LoginPlan,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    if let Some(i) = &plan.create {
        tx.execute(
            parts::INSERT_IDENTITY,
            &args![&i.id, &i.pool_id, i.created_ms, i.last_modified_ms],
        )
        .await?;
    }
    for (source, dest) in &plan.merges {
        merge_in(tx, source, dest, now_ms, merge).await?;
    }
    for ((provider, subject), identity) in &plan.unlink {
        tx.execute(
            "DELETE FROM logins WHERE pool_id = $1 AND provider = $2 AND subject = $3 AND identity_id = $4",
            &args![pool_id, provider, subject, identity],
        )
        .await?;
    }
    for ((provider, subject), identity) in &plan.link {
        tx.execute(
            "INSERT INTO logins (pool_id, provider, subject, identity_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &args![pool_id, provider, subject, identity],
        )
        .await?;
    }
    Ok(())
}

/// Merges identity `source` into `dest`: the source's live datasets are written to `dest` as
/// the `merge` rule says; its logins move; it is deleted.
async fn merge_in<X: Tx>(
    tx: &mut X,
    source: &str,
    dest: &str,
    now_ms: i64,
    merge: &MergeCopier,
) -> StoreResult<()> {
    // Both identities' write locks, in id order so two merges cannot deadlock.
    let mut ids = [source, dest];
    ids.sort();
    for id in ids {
        parts::lock_identity(tx, id).await?;
    }
    let live = parts::live_datasets(tx, source).await?;
    let mut copies = Vec::with_capacity(live.len());
    for dataset in live {
        let records = parts::records(tx, source, &dataset.name).await?;
        copies.push(DatasetCopy { dataset, records });
    }
    let copies = merge(source, dest, copies, now_ms);
    let mut writes = Batch::default();
    for copy in &copies {
        let name = copy.dataset.name.as_str();
        parts::write_dataset(&mut writes, dest, name, &copy.dataset);
        writes.execute(parts::CLEAR_RECORDS, args![dest, name]);
        parts::write_records(&mut writes, X::DIALECT, dest, name, &copy.records);
    }
    writes.run(tx).await?;
    tx.execute(
        "UPDATE logins SET identity_id = $1 WHERE identity_id = $2",
        &args![dest, source],
    )
    .await?;
    tx.execute(parts::DELETE_IDENTITY, &args![source]).await?;
    Ok(())
}

#[async_trait]
impl<E: Engine> IdentityStore for SqlStore<E> {
    async fn create_identity(&self, i: &IdentityRecord) -> StoreResult<()> {
        let params = vec![
            i.id.as_str().into(),
            i.pool_id.as_str().into(),
            i.created_ms.into(),
            i.last_modified_ms.into(),
        ];
        self.insert_new("create_identity", parts::INSERT_IDENTITY, params, &i.id)
            .await
    }

    async fn get_identity(&self, id: &str) -> StoreResult<Option<IdentityRecord>> {
        let ticket = self.cache.as_ref().map(|c| (c, c.ticket()));
        if let Some(found) = ticket.and_then(|(c, _)| c.identity(id)) {
            return Ok(Some(found));
        }
        let found = self
            .read("get_identity", parts::IDENTITY, vec![id.into()])
            .await?;
        let found = rows::opt(found, rows::identity)?;
        if let (Some((cache, ticket)), Some(identity)) = (ticket, &found) {
            cache.keep_identity(ticket, identity);
        }
        Ok(found)
    }

    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IdentityRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            identity_cols!(),
            " FROM identities WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        self.page(
            "list_identities",
            SQL,
            pool_id,
            after,
            limit,
            rows::identity,
        )
        .await
    }

    async fn count_identities(&self, pool_id: &str) -> StoreResult<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM identities WHERE pool_id = $1";
        let found = self
            .long_read("count_identities", SQL, vec![pool_id.into()])
            .await?;
        Ok(rows::opt(found, rows::int)?.unwrap_or(0))
    }

    async fn find_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<String>> {
        let params = vec![pool_id.into(), provider.into(), subject.into()];
        let found = self.read("find_login", parts::LOGIN_OWNER, params).await?;
        rows::opt(found, rows::text)
    }

    async fn logins_of(&self, identity_id: &str) -> StoreResult<Vec<(String, String)>> {
        let found = self
            .read("logins_of", parts::LOGINS_OF, vec![identity_id.into()])
            .await?;
        rows::all(found, rows::login)
    }

    async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        now_ms: i64,
        decide: LoginDecider,
        merge: MergeCopier,
    ) -> StoreResult<LoginPlan> {
        let mut op = Login {
            pool_id: pool_id.to_owned(),
            query,
            now_ms,
            decide: Arc::new(decide),
            merge,
            write: false,
        };
        // Most logins find what they need already there: decide on an unlocked read first.
        let read = Login {
            pool_id: op.pool_id.clone(),
            query: op.query.clone(),
            now_ms,
            decide: op.decide.clone(),
            merge: op.merge.clone(),
            write: false,
        };
        let plan = self.run("login_transaction", Mode::Read, read).await?;
        if !plan.writes() {
            return Ok(plan);
        }
        op.write = true;
        // The identities merged away are gone.
        self.write_then("login_transaction", op, |cache, plan| {
            let merged = plan.map_or(&[][..], |p| &p.merges[..]);
            cache.drop_identities(merged.iter().map(|(source, _)| source.as_str()));
        })
        .await
    }

    async fn delete_identity(&self, id: &str) -> StoreResult<bool> {
        let op = Statement::execute(parts::DELETE_IDENTITY, vec![id.into()]);
        let gone = id.to_owned();
        let deleted = self
            .write_then("delete_identity", op, move |cache, _| {
                cache.drop_identities([gone.as_str()])
            })
            .await?;
        Ok(deleted.changed() > 0)
    }
}
