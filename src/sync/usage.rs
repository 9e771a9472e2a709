//! Usage operations: DescribeIdentityUsage, DescribeIdentityPoolUsage and
//! ListIdentityPoolUsage (figures made by [`rules::usage`](super::rules::usage)).

use super::rules;
use super::{Caller, SyncError, SyncResult, SyncService};
use crate::store::Usage;
use crate::validate;

/// Default and largest page of ListIdentityPoolUsage.
pub const POOL_USAGE_PAGE: i64 = 60;

/// Usage of one pool, for the pool-usage operations.
#[derive(Debug, Clone)]
pub struct PoolUsage {
    pub pool_id: String,
    pub usage: Usage,
}

impl SyncService {
    /// DescribeIdentityUsage.
    pub async fn identity_usage(
        &self,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
    ) -> SyncResult<Usage> {
        if let Some(f) = self.forward(pool_id, crate::upstream::Intent::Read).await? {
            return self
                .forward_identity_usage(f, caller, pool_id, identity_id)
                .await;
        }
        self.resolve(pool_id, identity_id, super::Missing::NotFound)
            .await?;
        Ok(rules::usage(
            &self.store.identity_totals(identity_id).await?,
        ))
    }

    /// DescribeIdentityPoolUsage.
    pub async fn pool_usage(&self, pool_id: &str) -> SyncResult<Usage> {
        self.require_pool(pool_id).await?;
        Ok(rules::usage(&self.store.pool_totals(pool_id).await?))
    }

    /// ListIdentityPoolUsage: pools in id order with their usage, the page size used, and the
    /// token of the next page.
    pub async fn list_pool_usage(
        &self,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> SyncResult<(Vec<PoolUsage>, i64, Option<String>)> {
        let max = max_results.unwrap_or(POOL_USAGE_PAGE);
        validate::range(max, "maxResults", 1, i64::MAX)?;
        let limit = max.min(POOL_USAGE_PAGE) as usize;
        let after = match next_token {
            None => None,
            Some(t) => match self.tokens.open("pool-usage", t).as_deref() {
                Some([last]) => Some(last.clone()),
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let mut pools = self.store.list_pools(after.as_deref(), limit + 1).await?;
        let next = if pools.len() > limit {
            pools.truncate(limit);
            pools
                .last()
                .map(|p| self.tokens.seal("pool-usage", &[&p.id]))
        } else {
            None
        };
        let mut out = Vec::with_capacity(pools.len());
        for p in pools {
            let usage = rules::usage(&self.store.pool_totals(&p.id).await?);
            out.push(PoolUsage {
                pool_id: p.id,
                usage,
            });
        }
        Ok((out, max, next))
    }
}
