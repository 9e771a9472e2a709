//! The record operations: ListRecords (a page, and a SyncSessionToken) and UpdateRecords (the
//! token checked, the sync trigger run, the patches applied atomically as
//! [`rules::plan_update`](super::rules::plan_update) decides, with the outbox events of the
//! pool's stream and subscribers).

use std::collections::HashMap;

use super::rules::{self, push_events, streams, trigger};
use super::{
    Caller, DatasetRef, ListRecordsInput, ListRecordsOutput, Missing, Patch, SyncError, SyncResult,
    SyncService, UpdateRecordsInput, MAX_PAGE, SYNC_SESSION_TTL_MS,
};
use crate::store::{RecordRow, StoreError};
use crate::timeutil::now_ms;
use crate::upstream::Intent;
use crate::validate;

impl SyncService {
    pub async fn list_records(
        &self,
        caller: &Caller,
        r: &DatasetRef,
        input: ListRecordsInput,
    ) -> SyncResult<ListRecordsOutput> {
        if let Some(f) = self.forward(&r.pool_id, Intent::Read).await? {
            return self.forward_list_records(f, caller, r, input).await;
        }
        self.resolve_dataset_for(caller, r, Missing::InvalidParameter)
            .await?;
        let after = input.last_sync_count.unwrap_or(0);
        validate::range(after, "lastSyncCount", 0, i64::MAX)?;
        let limit = Self::page_size(input.max_results, MAX_PAGE)?;
        let after_text = after.to_string();
        // A page token the upstream issued before the pool was detached starts over.
        let next_token = input
            .next_token
            .as_deref()
            .filter(|t| self.tokens.open("records-up", t).is_none());
        let cursor = match next_token {
            None => None,
            Some(t) => match self.tokens.open("records", t).as_deref() {
                Some([p, i, d, a, count, key])
                    if p == &r.pool_id
                        && i == &r.identity_id
                        && d == &r.dataset_name
                        && a == &after_text =>
                {
                    let count = count
                        .parse::<i64>()
                        .map_err(|_| SyncError::InvalidParameter("Invalid NextToken".into()))?;
                    Some((count, key.clone()))
                }
                _ => return Err(SyncError::InvalidParameter("Invalid NextToken".into())),
            },
        };
        let page = self
            .store
            .list_records(
                &r.identity_id,
                &r.dataset_name,
                after,
                cursor.as_ref(),
                limit,
            )
            .await?;
        let live = page.dataset.as_ref().filter(|d| d.live);
        if let Some(d) = live {
            if after > d.sync_count {
                return Err(SyncError::InvalidParameter(format!(
                    "No such SyncCount: {after} exists for this Dataset"
                )));
            }
        }
        let deleted_after = after > 0
            && page
                .dataset
                .as_ref()
                .and_then(|d| d.deleted_at_sync_count)
                .is_some_and(|deleted_at| deleted_at >= after);
        let next_token = if page.more {
            page.records.last().map(|last| {
                self.tokens.seal(
                    "records",
                    &[
                        &r.pool_id,
                        &r.identity_id,
                        &r.dataset_name,
                        &after_text,
                        &last.sync_count.to_string(),
                        &last.key,
                    ],
                )
            })
        } else {
            None
        };
        Ok(ListRecordsOutput {
            records: page.records,
            next_token,
            dataset_sync_count: page.dataset.as_ref().map_or(0, |d| d.sync_count),
            last_modified_by: live.map(|d| d.last_modified_by.clone()),
            dataset_exists: live.is_some(),
            deleted_after_requested_sync_count: deleted_after,
            sync_session_token: self.issue_session_token(r),
            merged_dataset_names: page.merged,
        })
    }

    fn issue_session_token(&self, r: &DatasetRef) -> String {
        let expires = (now_ms() + SYNC_SESSION_TTL_MS).to_string();
        let session = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.seal(
            "sync-session",
            &[
                &r.pool_id,
                &r.identity_id,
                &r.dataset_name,
                &session,
                &expires,
            ],
        )
    }

    fn check_session_token(&self, r: &DatasetRef, token: Option<&str>) -> SyncResult<()> {
        let token = token.ok_or_else(|| validate::missing("syncSessionToken"))?;
        // A token issued while the pool was attached carries the upstream's too: as good.
        let valid = match self.tokens.open("sync-session", token).as_deref() {
            Some([p, i, d, _session, expires] | [p, i, d, _session, expires, _]) => {
                p == &r.pool_id
                    && i == &r.identity_id
                    && d == &r.dataset_name
                    && expires.parse::<i64>().is_ok_and(|e| e > now_ms())
            }
            _ => false,
        };
        if valid {
            Ok(())
        } else {
            Err(SyncError::InvalidParameter(
                "SyncSessionToken not valid for these inputs".into(),
            ))
        }
    }

    /// Applies the patches atomically; returns every record written.
    pub async fn update_records(
        &self,
        caller: &Caller,
        r: &DatasetRef,
        input: UpdateRecordsInput,
    ) -> SyncResult<Vec<RecordRow>> {
        validate::aws_id(&r.pool_id, "identityPoolId")?;
        validate::aws_id(&r.identity_id, "identityId")?;
        validate::dataset_name(&r.dataset_name, "datasetName")?;
        if let Some(f) = self.forward(&r.pool_id, Intent::Write).await? {
            return self.forward_update_records(f, caller, r, input).await;
        }
        if let Some(device) = &input.device_id {
            validate::length(device, "deviceId", 1, 256)?;
        }
        rules::check_patches(&input.patches)?;
        // The identity and the pool's settings in one read (one round trip on PostgreSQL).
        let (found, settings) = self
            .store
            .identity_and_settings(&r.identity_id, &r.pool_id)
            .await?;
        self.resolve_found_for(caller, &r.pool_id, &r.identity_id, Missing::NotFound, found)
            .await?;
        self.check_session_token(r, input.sync_session_token.as_deref())?;
        if input.patches.is_empty() {
            return Ok(Vec::new());
        }
        let stream = streams::stream_of(&settings);
        // The sync trigger runs for identity credentials only (developer writes bypass it).
        let trigger = match caller {
            Caller::Identity { .. } => trigger::target_of(&settings),
            Caller::Developer { .. } => None,
        };
        let (patches, expected_count) = match trigger {
            None => (input.patches, None),
            Some(target) => self.run_trigger(&target, r, input.patches).await?,
        };
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let keys = patches.iter().map(|p| p.key.clone()).collect();
        let (identity_id, name) = (r.identity_id.clone(), r.dataset_name.clone());
        let modified_by = caller.modified_by().to_owned();
        let limits = self.limits.for_pool(&settings.limits);
        let pool_id = r.pool_id.clone();
        let writer = input.device_id.clone();
        let push_port = self.push.clone();
        let plan = self
            .store
            .update_records(
                &r.identity_id,
                &r.dataset_name,
                keys,
                Box::new(move |snapshot| {
                    if let Some(expected) = expected_count {
                        trigger::check_unchanged(snapshot, expected, &patches)?;
                    }
                    let mut plan = rules::plan_update(
                        snapshot,
                        &patches,
                        &identity_id,
                        &name,
                        &modified_by,
                        now_ms(),
                        limits,
                    )?;
                    if let Some(stream) = &stream {
                        plan.outbox =
                            streams::update_events(&pool_id, stream, &plan.dataset, &plan.records);
                    }
                    plan.outbox.extend(push_events::push_events(
                        &pool_id,
                        &identity_id,
                        &name,
                        plan.dataset.sync_count,
                        &snapshot.subscribers,
                        writer.as_deref(),
                        &|app| push_port.direct(app),
                    ));
                    Ok(plan)
                }),
            )
            .await
            // An identity deleted (or merged away) while the write waited is missing, as if
            // it had been when the request came: told to the caller as resolving it would.
            .map_err(|e| Self::as_seen_by(caller, &r.identity_id, e.into()))?;
        if !plan.outbox.is_empty() {
            self.outbox_signal.notify_one();
        }
        Ok(plan.records)
    }

    /// Checks the caller's counts, runs the function on the dataset's current state, and
    /// returns the patches its answer calls for with the dataset count they were decided at.
    pub(super) async fn run_trigger(
        &self,
        target: &str,
        r: &DatasetRef,
        patches: Vec<Patch>,
    ) -> SyncResult<(Vec<Patch>, Option<i64>)> {
        let page = self
            .store
            .list_records(&r.identity_id, &r.dataset_name, 0, None, usize::MAX)
            .await?;
        let expected = page.dataset.as_ref().map_or(0, |d| d.sync_count);
        let stored: HashMap<&str, i64> = page
            .records
            .iter()
            .map(|r| (r.key.as_str(), r.sync_count))
            .collect();
        super::rules::check_counts(|key| stored.get(key).copied().unwrap_or(0), &patches)
            .map_err(|r| SyncError::from(StoreError::Rejected(r)))?;
        let ctx = trigger::EventContext {
            region: &self.region,
            pool_id: &r.pool_id,
            identity_id: &r.identity_id,
            dataset: &r.dataset_name,
        };
        let input = trigger::event(&ctx, &page.records, &patches);
        let output = self
            .triggers
            .invoke(target, &input)
            .await
            .map_err(trigger::trigger_error)?;
        let result = trigger::patches_from_output(&ctx, &output, &page.records, &patches)?;
        Ok((result, Some(expected)))
    }
}
