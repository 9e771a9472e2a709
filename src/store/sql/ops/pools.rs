//! Identity pools and their Cognito Sync settings ([`PoolStore`]): the pool rows, and the
//! settings read and changed as the rules decide, serialised per pool.

use super::{parts, Statement};
use async_trait::async_trait;

use crate::store::sql::interface::{args, Lock, Op, Tx, Value};
use crate::store::sql::interface::{Engine, Mode};
use crate::store::sql::rows::{self, pool_cols};
use crate::store::sql::SqlStore;
use crate::store::*;

/// A pool's description replaced as the decider says, under the pool's lock.
pub struct UpdatePool {
    pub id: String,
    pub decide: PoolDecider,
}

impl Op for UpdatePool {
    type Output = Option<PoolRecord>;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<Option<PoolRecord>> {
        const SQL: &str = "UPDATE identity_pools SET name = $2, allow_unauthenticated = $3,
             developer_provider_name = $4, extra_json = $5 WHERE id = $1";
        tx.lock(Lock::Pool, &self.id).await?;
        let Some(stored) = parts::pool(tx, &self.id).await? else {
            return Ok(None);
        };
        let next = (self.decide)(&stored).map_err(StoreError::Rejected)?;
        let details = rows::encoded(&next.details)?;
        let params = args![
            &self.id,
            &next.name,
            next.allow_unauthenticated,
            &next.developer_provider_name,
            &details,
        ];
        tx.execute(SQL, &params).await?;
        Ok(Some(next))
    }
}

pub struct GetSettings {
    pub pool_id: String,
}

impl Op for GetSettings {
    type Output = PoolSettings;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<PoolSettings> {
        parts::settings(tx, &self.pool_id).await
    }
}

/// Stores what the decider makes of the stored settings, serialised per pool.
pub struct UpdateSettings {
    pub pool_id: String,
    pub decide: SettingsDecider,
}

impl Op for UpdateSettings {
    type Output = bool;

    async fn run<X: Tx>(&self, tx: &mut X) -> StoreResult<bool> {
        let pool = self.pool_id.as_str();
        tx.lock(Lock::Pool, pool).await?;
        let current = parts::settings(tx, pool).await?;
        match (self.decide)(&current) {
            Some(next) => {
                parts::put_settings(tx, pool, &next).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl<E: Engine> PoolStore for SqlStore<E> {
    async fn create_pool(&self, p: &PoolRecord) -> StoreResult<()> {
        const SQL: &str = concat!(
            "INSERT INTO identity_pools (",
            pool_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING"
        );
        let params = vec![
            p.id.as_str().into(),
            p.name.as_str().into(),
            p.allow_unauthenticated.into(),
            p.developer_provider_name.as_deref().into(),
            Value::Text(rows::encoded(&p.details)?),
            p.created_ms.into(),
        ];
        self.insert_new("create_pool", SQL, params, &p.id).await
    }

    async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRecord>> {
        let found = self.read("get_pool", parts::POOL, vec![id.into()]).await?;
        rows::opt(found, rows::pool)
    }

    async fn list_pools(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<PoolRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            pool_cols!(),
            " FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let found = self
            .read(
                "list_pools",
                SQL,
                vec![after.unwrap_or("").into(), limit.into()],
            )
            .await?;
        rows::all(found, rows::pool)
    }

    async fn update_pool(&self, id: &str, decide: PoolDecider) -> StoreResult<Option<PoolRecord>> {
        let op = UpdatePool {
            id: id.to_owned(),
            decide,
        };
        self.run("update_pool", Mode::Write, op).await
    }

    async fn delete_pool(&self, id: &str) -> StoreResult<bool> {
        let op = Statement::execute("DELETE FROM identity_pools WHERE id = $1", vec![id.into()]);
        // Its identities and settings go with it.
        let deleted = self
            .write_then("delete_pool", op, |cache, _| cache.drop_all())
            .await?;
        Ok(deleted.changed() > 0)
    }

    async fn get_pool_settings(&self, pool_id: &str) -> StoreResult<PoolSettings> {
        let ticket = self.cache.as_ref().map(|c| (c, c.ticket()));
        if let Some(found) = ticket.and_then(|(c, _)| c.settings(pool_id)) {
            return Ok(found);
        }
        let op = GetSettings {
            pool_id: pool_id.to_owned(),
        };
        let found = self.run("get_pool_settings", Mode::Read, op).await?;
        if let Some((cache, ticket)) = ticket {
            cache.keep_settings(ticket, pool_id, &found);
        }
        Ok(found)
    }

    async fn update_pool_settings(
        &self,
        pool_id: &str,
        decide: SettingsDecider,
    ) -> StoreResult<bool> {
        let op = UpdateSettings {
            pool_id: pool_id.to_owned(),
            decide,
        };
        let pool = pool_id.to_owned();
        self.write_then("update_pool_settings", op, move |cache, _| {
            cache.drop_settings(&pool)
        })
        .await
    }
}
