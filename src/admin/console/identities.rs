//! A pool's identities: a paged list, a search by identity id or developer user identifier,
//! and one identity's logins, datasets and usage.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::layout::{bytes, crumb, date, page, respond, see_other, seg};
use super::{failed, refused, Console, Signed};
use crate::store::IdentityRecord;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    next: Option<String>,
}

/// The identity of `pool_id` that `q` names: by id, else by developer user identifier.
async fn find(console: &Console, pool_id: &str, q: &str) -> Option<String> {
    let identity = &console.app.identity;
    if let Ok(found) = identity.describe_identity(q).await {
        if found.pool_id == pool_id {
            return Some(found.id);
        }
    }
    identity
        .lookup_developer_identity(pool_id, None, Some(q), None)
        .await
        .ok()
        .map(|(id, _)| id)
}

pub async fn list(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Path(pool_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let identity = &console.app.identity;
    let base = format!("/console/pools/{}", seg(&pool_id));
    let q = query.q.trim();
    if !q.is_empty() {
        if let Some(id) = find(&console, &pool_id, q).await {
            return see_other(&format!("{base}/identities/{}", seg(&id)));
        }
    }
    let pool = match identity.describe_pool(&pool_id).await {
        Ok(p) => p,
        Err(e) => return refused(&me, e),
    };
    let (ids, next) = match identity
        .list_identities(&pool_id, 60, query.next.as_deref())
        .await
    {
        Ok(found) => found,
        Err(e) => return refused(&me, e),
    };
    let body = html! {
        form method="get" class="search" {
            label { "Find by identity id or developer user identifier"
                input name="q" value=(q) placeholder="us-east-1:… or a user id"; }
            button type="submit" { "Find" }
        }
        @if !q.is_empty() {
            p class="flash refused" role="alert" {
                "No identity of this pool has the id or developer user identifier “" (q) "”."
            }
        }
        @if ids.is_empty() {
            p { "This pool has no identities yet." }
        } @else {
            table {
                thead { tr { th { "Identity" } th { "Created" } th { "Last modified" } } }
                tbody {
                    @for i in &ids {
                        tr {
                            td { a href={(base) "/identities/" (seg(&i.id))} { code { (i.id) } } }
                            td { (date(i.created_ms)) }
                            td { (date(i.last_modified_ms)) }
                        }
                    }
                }
            }
            @if let Some(next) = &next {
                p { a href={(base) "/identities?next=" (seg(next))} { "Next page →" } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            &me,
            &format!("Identities of {}", pool.name),
            &[
                crumb("Overview", "/console/"),
                crumb("Identity pools", "/console/pools"),
                crumb(pool.name.clone(), base.clone()),
            ],
            body,
        ),
    )
}

/// The identity, if it is one of `pool_id`'s.
async fn of_pool(console: &Console, pool_id: &str, id: &str) -> Option<IdentityRecord> {
    console
        .app
        .identity
        .describe_identity(id)
        .await
        .ok()
        .filter(|i| i.pool_id == pool_id)
}

pub async fn show(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Path((pool_id, identity_id)): Path<(String, String)>,
) -> Response {
    let app = &console.app;
    let Some(found) = of_pool(&console, &pool_id, &identity_id).await else {
        return failed(
            &me,
            StatusCode::NOT_FOUND,
            &format!("Identity pool {pool_id} has no identity {identity_id} (it may have been deleted or merged into another)."),
        );
    };
    let caller = console.caller();
    let (logins, usage, datasets) = match tokio::try_join!(
        async {
            app.identity
                .logins_of(&identity_id)
                .await
                .map_err(crate::api::error::ApiError::from)
        },
        async {
            app.sync
                .identity_usage(&caller, &pool_id, &identity_id)
                .await
                .map_err(crate::api::error::ApiError::from)
        },
        async {
            app.sync
                .list_datasets(&caller, &pool_id, &identity_id, None, None)
                .await
                .map_err(crate::api::error::ApiError::from)
        },
    ) {
        Ok(found) => found,
        Err(e) => return refused(&me, e),
    };
    let pool_base = format!("/console/pools/{}", seg(&pool_id));
    let base = format!("{pool_base}/identities/{}", seg(&identity_id));
    let body = html! {
        p class="lede" { "Created " (date(found.created_ms)) " · last modified " (date(found.last_modified_ms)) }
        dl class="figures" {
            div { dt { "Datasets" } dd { (usage.dataset_count) } }
            div { dt { "Storage" } dd { (bytes(usage.data_storage)) } }
            div { dt { "Sync sessions" } dd { (usage.sync_sessions) } }
            div { dt { "Last sync" } dd { (usage.last_modified_ms.map(date).unwrap_or_else(|| "—".into())) } }
        }
        h2 { "Logins" }
        @if logins.is_empty() {
            p { "None: an unauthenticated (guest) identity." }
        } @else {
            table {
                thead { tr { th { "Provider" } th { "Subject (developer user identifier for a developer provider)" } } }
                tbody { @for (provider, subject) in &logins { tr { td { (provider) } td { code { (subject) } } } } }
            }
        }
        h2 { "Datasets" }
        @if datasets.datasets.is_empty() {
            p { "No datasets." }
        } @else {
            table {
                thead { tr {
                    th { "Name" } th class="num" { "Records" } th class="num" { "Storage" }
                    th class="num" { "SyncCount" } th { "Last modified" } th { "By" }
                } }
                tbody {
                    @for d in &datasets.datasets {
                        tr class=[(!d.live).then_some("tombstone")] {
                            td {
                                a href={(base) "/datasets/" (seg(&d.name))} { (d.name) }
                                @if !d.live { " " span class="badge" { "deleted" } }
                            }
                            td class="num" { (d.num_records) }
                            td class="num" { (bytes(d.data_storage)) }
                            td class="num" { (d.sync_count) }
                            td { (date(d.last_modified_ms)) }
                            td { code { (d.last_modified_by) } }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            &me,
            &identity_id,
            &[
                crumb("Overview", "/console/"),
                crumb("Identity pools", "/console/pools"),
                crumb(pool_id.clone(), pool_base.clone()),
                crumb("Identities", format!("{pool_base}/identities")),
            ],
            body,
        ),
    )
}
