//! One dataset: its records (tombstones shown as such), a record's value edited or removed
//! through UpdateRecords' rules (the SyncCount the page showed must still be current, else
//! the conflict is shown), and the dataset deleted after a confirmation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{bytes, crumb, date, page, respond, seg, Crumb};
use super::session::{Current, Flash};
use super::{done, refused, with_csrf, Console, Csrf, Posted, Signed};
use crate::store::RecordRow;
use crate::sync::{DatasetRef, ListRecordsInput, Patch, PatchOp, SyncError, UpdateRecordsInput};

fn reference(pool_id: String, identity_id: String, dataset_name: String) -> DatasetRef {
    DatasetRef {
        pool_id,
        identity_id,
        dataset_name,
    }
}

fn base(r: &DatasetRef) -> String {
    format!(
        "/console/pools/{}/identities/{}/datasets/{}",
        seg(&r.pool_id),
        seg(&r.identity_id),
        seg(&r.dataset_name)
    )
}

fn trail(r: &DatasetRef) -> Vec<Crumb> {
    let pool = format!("/console/pools/{}", seg(&r.pool_id));
    vec![
        crumb("Overview", "/console/"),
        crumb("Identity pools", "/console/pools"),
        crumb(r.pool_id.clone(), pool.clone()),
        crumb("Identities", format!("{pool}/identities")),
        crumb(
            r.identity_id.clone(),
            format!("{pool}/identities/{}", seg(&r.identity_id)),
        ),
    ]
}

/// One record's row: its figures and, in the same form, its value to edit or remove.
fn record_row(me: &Current, action: &str, session: &str, r: &RecordRow) -> Markup {
    html! {
        tr class=[r.value.is_none().then_some("tombstone")] {
            td { code { (r.key) } }
            td class="value" {
                form method="post" action=(action) class="inline" {
                    input type="hidden" name="csrf" value=(me.csrf);
                    input type="hidden" name="session" value=(session);
                    input type="hidden" name="key" value=(r.key);
                    input type="hidden" name="sync_count" value=(r.sync_count);
                    @match &r.value {
                        Some(v) => {
                            input name="value" value=(v) aria-label={"Value of " (r.key)};
                            button type="submit" name="action" value="save" { "Save" }
                            button type="submit" name="action" value="remove" class="danger" { "Remove" }
                        }
                        None => {
                            span class="badge" { "removed" }
                            input name="value" placeholder="new value" aria-label={"Value of " (r.key)};
                            button type="submit" name="action" value="save" { "Restore" }
                        }
                    }
                }
            }
            td class="num" { (r.sync_count) }
            td { (date(r.last_modified_ms)) }
            td { code { (r.last_modified_by) } }
            td { (r.device_last_modified_ms.map(date).unwrap_or_else(|| "—".into())) }
        }
    }
}

pub async fn show(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Path((pool_id, identity_id, name)): Path<(String, String, String)>,
) -> Response {
    let r = reference(pool_id, identity_id, name);
    let listed = match console
        .app
        .sync
        .list_records(&console.caller(), &r, ListRecordsInput::default())
        .await
    {
        Ok(l) => l,
        Err(e) => return refused(&me, e),
    };
    let action = base(&r);
    let live = listed.records.iter().filter(|r| r.value.is_some());
    let storage: i64 = live
        .clone()
        .map(|rec| crate::sync::rules::record_bytes(&rec.key, rec.value.as_deref().unwrap_or("")))
        .sum();
    let body = html! {
        @if listed.dataset_exists {
            p class="lede" {
                "SyncCount " strong { (listed.dataset_sync_count) } " · "
                (live.count()) " live records, " (bytes(storage))
                @if let Some(by) = &listed.last_modified_by { " · last modified by " code { (by) } }
            }
        } @else {
            p class="flash refused" { "This dataset does not exist (never written, or deleted). Adding a record creates it." }
        }
        @if !listed.merged_dataset_names.is_empty() {
            p { "Merged into this dataset from other identities: "
                @for m in &listed.merged_dataset_names { code { (m) } " " } }
        }
        table class="records" {
            thead { tr {
                th { "Key" } th { "Value" } th class="num" { "SyncCount" }
                th { "Last modified" } th { "By" } th { "Device modified" }
            } }
            tbody {
                @for rec in &listed.records { (record_row(&me, &action, &listed.sync_session_token, rec)) }
            }
        }
        section class="add" {
            h2 { "Add a record" }
            form method="post" action=(action) class="inline" {
                input type="hidden" name="csrf" value=(me.csrf);
                input type="hidden" name="session" value=(listed.sync_session_token);
                input type="hidden" name="sync_count" value="0";
                input name="key" placeholder="key" required aria-label="New record's key";
                input name="value" placeholder="value" aria-label="New record's value";
                button type="submit" name="action" value="save" { "Add" }
            }
        }
        @if listed.dataset_exists {
            p { a class="button danger" href={(action) "/delete"} { "Delete this dataset…" } }
        }
    };
    respond(
        StatusCode::OK,
        page(
            &me,
            &format!("Dataset {}", r.dataset_name),
            &trail(&r),
            body,
        ),
    )
}

#[derive(Deserialize)]
pub struct EditForm {
    csrf: String,
    session: String,
    key: String,
    #[serde(default)]
    value: String,
    sync_count: i64,
    action: String,
}

pub async fn edit(
    State(console): State<Arc<Console>>,
    Path((pool_id, identity_id, name)): Path<(String, String, String)>,
    Posted(me, form): Posted<EditForm>,
) -> Response {
    let r = reference(pool_id, identity_id, name);
    let (op, value) = match form.action.as_str() {
        "remove" => (PatchOp::Remove, None),
        _ => (PatchOp::Replace, Some(form.value)),
    };
    let input = UpdateRecordsInput {
        device_id: None,
        sync_session_token: Some(form.session),
        patches: vec![Patch {
            op,
            key: form.key.clone(),
            value,
            sync_count: form.sync_count,
            device_last_modified_ms: None,
        }],
    };
    let outcome = console
        .app
        .sync
        .update_records(&console.caller(), &r, input)
        .await;
    let count = |written: Vec<RecordRow>| written.first().map_or(form.sync_count, |w| w.sync_count);
    let flash = match (outcome, op) {
        (Ok(written), PatchOp::Remove) => Flash::Done(format!(
            "Removed “{}” (its SyncCount is now {}).",
            form.key,
            count(written)
        )),
        (Ok(written), PatchOp::Replace) => Flash::Done(format!(
            "Saved “{}”: its SyncCount is now {}.",
            form.key,
            count(written)
        )),
        (Err(SyncError::Conflict { key, stored, sent }), _) => Flash::Refused(format!(
            "Not saved: “{key}” was changed by someone else since this page was loaded \
             (this page showed SyncCount {sent}, it is now {stored}). The page below shows \
             the current value; edit that instead."
        )),
        (Err(e), _) => Flash::Refused(format!("Not saved: {e}")),
    };
    done(&console, &me, flash, &base(&r))
}

pub async fn confirm_delete(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Path((pool_id, identity_id, name)): Path<(String, String, String)>,
) -> Response {
    let r = reference(pool_id, identity_id, name);
    let described = console
        .app
        .sync
        .describe_dataset(&console.caller(), &r)
        .await;
    let dataset = match described {
        Ok(d) => d,
        Err(e) => return refused(&me, e),
    };
    let action = base(&r);
    let body = html! {
        p class="flash refused" {
            "Delete dataset " strong { (r.dataset_name) } " of identity " code { (r.identity_id) } "? "
            "Its " (dataset.num_records) " records (" (bytes(dataset.data_storage)) ") are removed; "
            "devices that sync it next are told it was deleted. This cannot be undone."
        }
        form method="post" action={(action) "/delete"} class="inline" {
            input type="hidden" name="csrf" value=(me.csrf);
            button type="submit" class="danger" { "Delete the dataset" }
            " "
            a href=(action) { "Cancel" }
        }
    };
    let mut trail = trail(&r);
    trail.push(crumb(r.dataset_name.clone(), action.clone()));
    respond(
        StatusCode::OK,
        page(
            &me,
            &format!("Delete dataset {}", r.dataset_name),
            &trail,
            body,
        ),
    )
}

pub async fn delete(
    State(console): State<Arc<Console>>,
    Path((pool_id, identity_id, name)): Path<(String, String, String)>,
    Posted(me, _): Posted<Csrf>,
) -> Response {
    let r = reference(pool_id, identity_id, name);
    let identity_page = format!(
        "/console/pools/{}/identities/{}",
        seg(&r.pool_id),
        seg(&r.identity_id)
    );
    let flash = match console.app.sync.delete_dataset(&console.caller(), &r).await {
        Ok(_) => Flash::Done(format!("Dataset “{}” deleted.", r.dataset_name)),
        Err(e) => Flash::Refused(format!("Not deleted: {e}")),
    };
    done(&console, &me, flash, &identity_page)
}

with_csrf!(EditForm);
