//! The login transaction: what it reads for the login rules, and how their plan is applied
//! (identity created, identities merged, logins unlinked and linked).

use std::sync::Arc;

use super::parts;
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
            concat!(
                "INSERT INTO identities (",
                identity_cols!(),
                ") VALUES ($1, $2, $3, $4)"
            ),
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
        writes.execute(
            "DELETE FROM records WHERE identity_id = $1 AND dataset_name = $2",
            args![dest, name],
        );
        parts::write_records(&mut writes, X::DIALECT, dest, name, &copy.records);
    }
    writes.run(tx).await?;
    tx.execute(
        "UPDATE logins SET identity_id = $1 WHERE identity_id = $2",
        &args![dest, source],
    )
    .await?;
    tx.execute("DELETE FROM identities WHERE id = $1", &args![source])
        .await?;
    Ok(())
}
