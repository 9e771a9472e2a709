//! Cognito Sync for pools attached to an upstream (see [`crate::upstream`]): each operation
//! that reads or writes a device's data asks the upstream, signed as the identity when its
//! credentials carry its upstream ones, and answers what the upstream answered — its records,
//! its SyncCounts, its conflicts — so that old app versions on the upstream and new ones here
//! see one history. What passes is mirrored into the store ([`rules::mirror`]); what cannot
//! be mirrored exactly marks the identity for a whole read by the background copy and the
//! detach. The tokens the upstream issues travel inside cogsync's own, so that they still
//! mean something here once the pool is detached.

use std::sync::Arc;

use super::ports::{UpstreamListing, UpstreamSync};
use super::rules::mirror::{plan_mirror, Skip, UpstreamChange};
use super::rules::{self};
use super::{
    Caller, DatasetRef, DatasetsPage, ListRecordsInput, ListRecordsOutput, SyncError, SyncResult,
    SyncService, UpdateRecordsInput, SYNC_SESSION_TTL_MS,
};
use crate::store::{DatasetRow, DeletePlan, RecordRow, Usage};
use crate::timeutil::now_ms;
use crate::upstream::{Failure, InFlight, Intent, RouteError, Signer, UpstreamError};

/// A call going to the upstream: the port, and (for a write) the guard that keeps a drain
/// from completing before the answer is mirrored.
pub(super) struct Forward {
    upstream: Arc<dyn UpstreamSync>,
    _in_flight: Option<InFlight>,
}

impl From<Failure> for SyncError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Relayed { code, message } => SyncError::Relayed { code, message },
            Failure::OutcomeUnknown(detail) => SyncError::OutcomeUnknown(detail),
            Failure::NothingChanged(detail) => SyncError::Internal(detail),
            Failure::Busy(detail) => SyncError::Busy(detail),
        }
    }
}

impl From<RouteError> for SyncError {
    fn from(e: RouteError) -> Self {
        Failure::from(e).into()
    }
}

/// An upstream failure as the device is told (see [`Failure::of`]).
fn failed(e: UpstreamError, intent: Intent) -> SyncError {
    Failure::of(e, intent).into()
}

fn signer(caller: &Caller) -> Signer {
    match caller {
        Caller::Identity {
            upstream: Some(c), ..
        } => Signer::Identity(c.clone()),
        _ => Signer::Developer,
    }
}

impl SyncService {
    /// Where a call for `pool_id` goes: None, here; Some, to the upstream.
    pub(super) async fn forward(
        &self,
        pool_id: &str,
        intent: Intent,
    ) -> SyncResult<Option<Forward>> {
        let routed = self
            .attachments
            .route_to(pool_id, intent, &self.upstream)
            .await?;
        Ok(routed.map(|(upstream, guard)| Forward {
            upstream,
            _in_flight: guard,
        }))
    }

    /// Refuses what an attached pool cannot do here (its configuration is the upstream's).
    pub(super) fn refuse_if_attached(&self, pool_id: &str, what: &str) -> SyncResult<()> {
        if self.attachments.attached(pool_id) {
            return Err(SyncError::InvalidParameter(
                crate::upstream::attached_refusal(what, pool_id),
            ));
        }
        Ok(())
    }

    /// Marks an identity whose mirror may lag; a store that cannot take the mark now is told
    /// again by the background copy's next pass (which reads everything changed since).
    async fn mark_dirty(&self, r: &DatasetRef, why: &str) {
        tracing::debug!(pool = %r.pool_id, identity = %r.identity_id, dataset = %r.dataset_name, why, "mirror skipped");
        if let Err(e) = self
            .store
            .mark_dirty(&r.pool_id, &r.identity_id, now_ms())
            .await
        {
            tracing::warn!(pool = %r.pool_id, identity = %r.identity_id, error = %e, "cannot mark the identity for a whole read");
        }
    }

    /// Writes what the upstream said of a dataset, or marks the identity.
    async fn mirror(&self, r: &DatasetRef, change: UpstreamChange) {
        let keys = change.records.iter().map(|c| c.key.clone()).collect();
        let skipped = Arc::new(std::sync::Mutex::new(None));
        let seen = skipped.clone();
        let (identity, name) = (r.identity_id.clone(), r.dataset_name.clone());
        let written = self
            .store
            .mirror_records(
                &r.identity_id,
                &r.dataset_name,
                keys,
                Box::new(move |snapshot| {
                    match plan_mirror(snapshot, &change, &identity, &name, now_ms()) {
                        Ok(plan) => Some(plan),
                        Err(skip) => {
                            *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(skip);
                            None
                        }
                    }
                }),
            )
            .await;
        let skip = *skipped.lock().unwrap_or_else(|p| p.into_inner());
        match (written, skip) {
            (Ok(_), None | Some(Skip::Held)) => {}
            (Ok(_), Some(skip)) => self.mark_dirty(r, &format!("{skip:?}")).await,
            (Err(e), _) => self.mark_dirty(r, &e.to_string()).await,
        }
    }

    /// The SyncSessionToken of a forwarded ListRecords: cogsync's, carrying the upstream's.
    fn wrap_session_token(&self, r: &DatasetRef, upstream_token: &str) -> String {
        let expires = (now_ms() + SYNC_SESSION_TTL_MS).to_string();
        let session = uuid::Uuid::new_v4().simple().to_string();
        let fields = [
            r.pool_id.as_str(),
            &r.identity_id,
            &r.dataset_name,
            &session,
            &expires,
            upstream_token,
        ];
        self.tokens.seal("sync-session", &fields)
    }

    /// The upstream's token inside a session token of `r` (None: issued here, before the pool
    /// was attached); refused like any token not valid for these inputs.
    fn upstream_session_token(
        &self,
        r: &DatasetRef,
        token: Option<&str>,
    ) -> SyncResult<Option<String>> {
        let invalid =
            || SyncError::InvalidParameter("SyncSessionToken not valid for these inputs".into());
        let token = token.ok_or_else(|| crate::validate::missing("syncSessionToken"))?;
        let fields = self
            .tokens
            .open("sync-session", token)
            .ok_or_else(invalid)?;
        let ours = |p: &String, i: &String, d: &String, e: &String| {
            p == &r.pool_id
                && i == &r.identity_id
                && d == &r.dataset_name
                && e.parse::<i64>().is_ok_and(|e| e > now_ms())
        };
        match fields.as_slice() {
            [p, i, d, _, e, upstream] if ours(p, i, d, e) => Ok(Some(upstream.clone())),
            [p, i, d, _, e] if ours(p, i, d, e) => Ok(None),
            _ => Err(invalid()),
        }
    }

    /// ListRecords at the upstream; a whole answer (not one page of several) is mirrored.
    pub(super) async fn forward_list_records(
        &self,
        f: Forward,
        caller: &Caller,
        r: &DatasetRef,
        input: ListRecordsInput,
    ) -> SyncResult<ListRecordsOutput> {
        let after = input.last_sync_count.unwrap_or(0).max(0);
        let after_text = after.to_string();
        // A token of a page the upstream answered; any other (issued here) starts over.
        let next = input.next_token.as_deref().and_then(|t| {
            match self.tokens.open("records-up", t).as_deref() {
                Some([p, i, d, a, up])
                    if p == &r.pool_id
                        && i == &r.identity_id
                        && d == &r.dataset_name
                        && a == &after_text =>
                {
                    Some(up.clone())
                }
                _ => None,
            }
        });
        let listing = UpstreamListing {
            last_sync_count: input.last_sync_count,
            next_token: next.as_deref(),
            max_results: input.max_results,
        };
        let answer = f
            .upstream
            .list_records(&signer(caller), r, listing)
            .await
            .map_err(|e| failed(e, Intent::Read))?;
        let whole = next.is_none() && answer.next_token.is_none();
        if whole {
            let change = UpstreamChange {
                after,
                sync_count: answer.dataset_sync_count,
                exists: answer.dataset_exists,
                deleted_after: answer.deleted_after_requested_sync_count,
                last_modified_by: answer.last_modified_by.clone(),
                records: answer.records.clone(),
            };
            self.mirror(r, change).await;
        } else {
            self.mark_dirty(r, "a listing in pages").await;
        }
        let next_token = answer.next_token.as_deref().map(|up| {
            let fields = [
                r.pool_id.as_str(),
                &r.identity_id,
                &r.dataset_name,
                &after_text,
                up,
            ];
            self.tokens.seal("records-up", &fields)
        });
        Ok(ListRecordsOutput {
            sync_session_token: self.wrap_session_token(r, &answer.sync_session_token),
            records: answer.records,
            next_token,
            dataset_sync_count: answer.dataset_sync_count,
            last_modified_by: answer.last_modified_by,
            dataset_exists: answer.dataset_exists,
            deleted_after_requested_sync_count: answer.deleted_after_requested_sync_count,
            merged_dataset_names: answer.merged_dataset_names,
        })
    }

    /// UpdateRecords at the upstream, with its session token; its records mirrored.
    pub(super) async fn forward_update_records(
        &self,
        f: Forward,
        caller: &Caller,
        r: &DatasetRef,
        input: UpdateRecordsInput,
    ) -> SyncResult<Vec<RecordRow>> {
        let signer = signer(caller);
        let token = match self.upstream_session_token(r, input.sync_session_token.as_deref())? {
            Some(t) => t,
            // Issued here before the pool was attached: the upstream's own, fetched now.
            None => {
                let listing = UpstreamListing {
                    max_results: Some(1),
                    ..Default::default()
                };
                f.upstream
                    .list_records(&signer, r, listing)
                    .await
                    .map_err(|e| failed(e, Intent::Read))?
                    .sync_session_token
            }
        };
        let written = f
            .upstream
            .update_records(
                &signer,
                r,
                input.device_id.as_deref(),
                &token,
                &input.patches,
            )
            .await;
        let records = match written {
            Ok(records) => records,
            Err(e @ UpstreamError::Unanswered(_)) => {
                self.mark_dirty(r, "a write without an answer").await;
                return Err(failed(e, Intent::Write));
            }
            Err(e) => return Err(failed(e, Intent::Write)),
        };
        if let Some(count) = records.iter().map(|r| r.sync_count).max() {
            let change = UpstreamChange {
                after: count - 1,
                sync_count: count,
                exists: true,
                deleted_after: false,
                last_modified_by: None,
                records: records.clone(),
            };
            self.mirror(r, change).await;
        }
        Ok(records)
    }

    pub(super) async fn forward_delete_dataset(
        &self,
        f: Forward,
        caller: &Caller,
        r: &DatasetRef,
    ) -> SyncResult<DatasetRow> {
        let deleted = f.upstream.delete_dataset(&signer(caller), r).await;
        let row = match deleted {
            Ok(row) => row,
            Err(e @ UpstreamError::Unanswered(_)) => {
                self.mark_dirty(r, "a delete without an answer").await;
                return Err(failed(e, Intent::Write));
            }
            Err(e) => return Err(failed(e, Intent::Write)),
        };
        // The store's copy goes the same way, without this server's side effects.
        let at_ms = now_ms();
        let mirrored = self
            .store
            .delete_dataset(
                &r.identity_id,
                &r.dataset_name,
                Box::new(move |before: &DatasetRow| DeletePlan {
                    dataset: rules::deleted(before),
                    outbox: Vec::new(),
                    at_ms,
                }),
            )
            .await;
        if let Err(e) = mirrored {
            self.mark_dirty(r, &e.to_string()).await;
        }
        Ok(row)
    }

    pub(super) async fn forward_list_datasets(
        &self,
        f: Forward,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        next_token: Option<&str>,
        max_results: Option<i64>,
    ) -> SyncResult<DatasetsPage> {
        let next = next_token.and_then(|t| match self.tokens.open("datasets-up", t).as_deref() {
            Some([p, i, up]) if p == pool_id && i == identity_id => Some(up.clone()),
            _ => None,
        });
        let (datasets, up_next) = f
            .upstream
            .list_datasets(
                &signer(caller),
                pool_id,
                identity_id,
                next.as_deref(),
                max_results,
            )
            .await
            .map_err(|e| failed(e, Intent::Read))?;
        let next_token = up_next.map(|up| {
            self.tokens
                .seal("datasets-up", &[pool_id, identity_id, &up])
        });
        Ok(DatasetsPage {
            datasets,
            next_token,
        })
    }

    pub(super) async fn forward_describe_dataset(
        &self,
        f: Forward,
        caller: &Caller,
        r: &DatasetRef,
    ) -> SyncResult<DatasetRow> {
        f.upstream
            .describe_dataset(&signer(caller), r)
            .await
            .map_err(|e| failed(e, Intent::Read))
    }

    pub(super) async fn forward_identity_usage(
        &self,
        f: Forward,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
    ) -> SyncResult<Usage> {
        f.upstream
            .identity_usage(&signer(caller), pool_id, identity_id)
            .await
            .map_err(|e| failed(e, Intent::Read))
    }

    pub(super) async fn forward_register_device(
        &self,
        f: Forward,
        caller: &Caller,
        pool_id: &str,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> SyncResult<String> {
        f.upstream
            .register_device(&signer(caller), pool_id, identity_id, platform, token)
            .await
            .map_err(|e| failed(e, Intent::Write))
    }

    pub(super) async fn forward_subscription(
        &self,
        f: Forward,
        caller: &Caller,
        r: &DatasetRef,
        device_id: &str,
        subscribe: bool,
    ) -> SyncResult<()> {
        f.upstream
            .subscription(&signer(caller), r, device_id, subscribe)
            .await
            .map_err(|e| failed(e, Intent::Write))
    }
}
