//! The dataset operations: ListDatasets, DescribeDataset and DeleteDataset.

use super::rules::{self, streams};
use super::{
    Caller, DatasetRef, DatasetsPage, Missing, SyncError, SyncResult, SyncService, MAX_PAGE,
};
use crate::store::DatasetRow;
use crate::timeutil::now_ms;
use crate::upstream::Intent;
use crate::validate;

impl SyncService {
    /// The stream the pool publishes to, if Cognito Streams is enabled for it.
    pub(super) async fn stream_of(&self, pool_id: &str) -> SyncResult<Option<String>> {
        Ok(streams::stream_of(
            &self.store.get_pool_settings(pool_id).await?,
        ))
    }

    pub(super) fn page_size(max_results: Option<i64>, cap: i64) -> SyncResult<usize> {
        match max_results {
            None => Ok(usize::MAX),
            Some(n) => {
                validate::range(n, "maxResults", 1, i64::MAX)?;
                Ok(n.min(cap) as usize)
            }
        }
    }

    pub async fn list_datasets(
        &self,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        next_token: Option<&str>,
        max_results: Option<i64>,
    ) -> SyncResult<DatasetsPage> {
        if let Some(f) = self.forward(pool_id, Intent::Read).await? {
            return self
                .forward_list_datasets(f, caller, pool_id, identity_id, next_token, max_results)
                .await;
        }
        self.resolve_for(caller, pool_id, identity_id, Missing::InvalidParameter)
            .await?;
        let limit = Self::page_size(max_results, MAX_PAGE)?;
        // A page token the upstream issued before the pool was detached starts over.
        let next_token = next_token.filter(|t| self.tokens.open("datasets-up", t).is_none());
        let after = match next_token {
            None => None,
            Some(t) => match self.tokens.open("datasets", t).as_deref() {
                Some([p, i, name]) if p == pool_id && i == identity_id => Some(name.clone()),
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let mut datasets = self
            .store
            .list_datasets(identity_id, after.as_deref(), limit.saturating_add(1))
            .await?;
        let next_token = if datasets.len() > limit {
            datasets.truncate(limit);
            datasets.last().map(|d| {
                self.tokens
                    .seal("datasets", &[pool_id, identity_id, &d.name])
            })
        } else {
            None
        };
        Ok(DatasetsPage {
            datasets,
            next_token,
        })
    }

    pub async fn describe_dataset(
        &self,
        caller: &Caller,
        r: &DatasetRef,
    ) -> SyncResult<DatasetRow> {
        if let Some(f) = self.forward(&r.pool_id, Intent::Read).await? {
            return self.forward_describe_dataset(f, caller, r).await;
        }
        self.resolve_dataset_for(caller, r, Missing::NotFound)
            .await?;
        match self
            .store
            .get_dataset(&r.identity_id, &r.dataset_name)
            .await?
        {
            Some(d) if d.live => Ok(d),
            _ => Err(dataset_not_found(r)),
        }
    }

    pub async fn delete_dataset(&self, caller: &Caller, r: &DatasetRef) -> SyncResult<DatasetRow> {
        if let Some(f) = self.forward(&r.pool_id, Intent::Write).await? {
            return self.forward_delete_dataset(f, caller, r).await;
        }
        self.resolve_dataset_for(caller, r, Missing::NotFound)
            .await?;
        let stream = self.stream_of(&r.pool_id).await?;
        let publishes = stream.is_some();
        let pool_id = r.pool_id.clone();
        let now = now_ms();
        let decide: crate::store::DeleteDecider =
            Box::new(move |before: &DatasetRow| crate::store::DeletePlan {
                dataset: rules::deleted(before),
                outbox: stream
                    .as_ref()
                    .map(|s| streams::delete_events(&pool_id, s, before, now))
                    .unwrap_or_default(),
                at_ms: now,
            });
        let deleted = self
            .store
            .delete_dataset(&r.identity_id, &r.dataset_name, decide)
            .await?
            .ok_or_else(|| dataset_not_found(r))?;
        if publishes {
            self.outbox_signal.notify_one();
        }
        Ok(deleted)
    }
}

pub(super) fn dataset_not_found(r: &DatasetRef) -> SyncError {
    SyncError::NotFound(format!("Dataset not found: {}", r.dataset_name))
}
