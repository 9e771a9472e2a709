//! Identity pools: the list with usage, and one pool's settings — its Cognito Identity
//! members and its Cognito Sync configuration (push sync, Cognito Streams, the sync
//! trigger) — readable, and editable as the API allows; its quotas' form is
//! [`super::quotas`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::layout::{bytes, crumb, date, page, respond, seg};
use super::session::Flash;
use super::{done, refused, with_csrf, Console, Posted, Signed};
use crate::identity::PoolSpec;
use crate::store::{CognitoStreams, PushSync};
use crate::sync::pool_config::PoolConfiguration;
use crate::sync::rules::settings::SYNC_TRIGGER;

#[derive(Deserialize)]
pub struct Paging {
    next: Option<String>,
}

pub async fn list(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Query(paging): Query<Paging>,
) -> Response {
    let app = &console.app;
    let (pools, next) = match app.identity.list_pools(60, paging.next.as_deref()).await {
        Ok(found) => found,
        Err(e) => return refused(&me, e),
    };
    let mut rows = Vec::with_capacity(pools.len());
    for pool in pools {
        let usage = match app.sync.pool_usage(&pool.id).await {
            Ok(u) => u,
            Err(e) => return refused(&me, e),
        };
        let identities = match app.identity.count_identities(&pool.id).await {
            Ok(n) => n,
            Err(e) => return refused(&me, e),
        };
        rows.push((pool, identities, usage));
    }
    let body = html! {
        @if rows.is_empty() {
            p { "No identity pools yet. Create one with CreateIdentityPool (for example "
                code { "aws cognito-identity create-identity-pool" } ")." }
        } @else {
            table {
                thead { tr {
                    th { "Name" } th { "Id" } th class="num" { "Identities" } th class="num" { "Datasets" }
                    th class="num" { "Storage" } th class="num" { "Sync sessions" } th { "Last modified" }
                } }
                tbody {
                    @for (pool, identities, usage) in &rows {
                        tr {
                            td { a href={"/console/pools/" (seg(&pool.id))} { (pool.name) } }
                            td { code { (pool.id) } }
                            td class="num" { a href={"/console/pools/" (seg(&pool.id)) "/identities"} { (identities) } }
                            td class="num" { (usage.dataset_count) }
                            td class="num" { (bytes(usage.data_storage)) }
                            td class="num" { (usage.sync_sessions) }
                            td { (usage.last_modified_ms.map(date).unwrap_or_else(|| "—".into())) }
                        }
                    }
                }
            }
            @if let Some(next) = &next {
                p { a href={"/console/pools?next=" (seg(next))} { "Next page →" } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            &me,
            "Identity pools",
            &[crumb("Overview", "/console/")],
            body,
        ),
    )
}

pub async fn show(
    Signed(me): Signed,
    State(console): State<Arc<Console>>,
    Path(pool_id): Path<String>,
) -> Response {
    let app = &console.app;
    let pool = match app.identity.describe_pool(&pool_id).await {
        Ok(p) => p,
        Err(e) => return refused(&me, e),
    };
    let (usage, config, events, quotas) = match tokio::try_join!(
        app.sync.pool_usage(&pool_id),
        app.sync.get_configuration(&pool_id),
        app.sync.get_events(&pool_id),
        app.sync.get_quotas(&pool_id),
    ) {
        Ok(found) => found,
        Err(e) => return refused(&me, e),
    };
    let identities = match app.identity.count_identities(&pool_id).await {
        Ok(n) => n,
        Err(e) => return refused(&me, e),
    };
    let extra = match serde_json::to_value(&pool.details) {
        Ok(serde_json::Value::Object(members)) => members,
        _ => serde_json::Map::new(),
    };
    let (push, streams) = as_form(config);
    let arns = push.application_arns.unwrap_or_default().join("\n");
    let enabled = streams.streaming_status.as_deref() == Some(ENABLED);
    let base = format!("/console/pools/{}", seg(&pool_id));
    let body = html! {
        p class="lede" {
            code { (pool.id) } " · created " (date(pool.created_ms)) " · "
            a href={(base) "/identities"} { (identities) " identities →" }
        }
        dl class="figures" {
            div { dt { "Identities" } dd { (identities) } }
            div { dt { "Datasets" } dd { (usage.dataset_count) } }
            div { dt { "Storage" } dd { (bytes(usage.data_storage)) } }
            div { dt { "Sync sessions" } dd { (usage.sync_sessions) } }
        }
        div class="columns" {
            section {
                h2 { "Identity pool" }
                form method="post" action={(base) "/identity-pool"} class="stack" {
                    input type="hidden" name="csrf" value=(me.csrf);
                    label { "Name" input name="name" value=(pool.name) required; }
                    label class="check" {
                        input type="checkbox" name="allow_unauthenticated" value="true" checked[pool.allow_unauthenticated];
                        "Allow unauthenticated identities"
                    }
                    label {
                        "Developer provider name"
                        @if let Some(dev) = &pool.developer_provider_name {
                            input name="developer_provider_name" value=(dev) readonly;
                            small { "Set once; Cognito Identity does not allow changing it." }
                        } @else {
                            input name="developer_provider_name" placeholder="login.example.app";
                        }
                    }
                    button type="submit" { "Save identity pool" }
                }
                @if !extra.is_empty() {
                    h3 { "Other members" }
                    dl class="plain" {
                        @for (name, value) in &extra {
                            dt { (name) }
                            dd { code { (value.to_string()) } }
                        }
                    }
                    p class="hint" { "Change these with UpdateIdentityPool; the console keeps them as they are." }
                }
            }
            section {
                h2 { "Cognito Sync" }
                form method="post" action={(base) "/sync"} class="stack" {
                    input type="hidden" name="csrf" value=(me.csrf);
                    fieldset {
                        legend { "Push sync" }
                        label { "Platform application ARNs (one per line)"
                            textarea name="application_arns" rows="2" { (arns) } }
                        label { "Role ARN" input name="push_role_arn" value=(push.role_arn.unwrap_or_default()); }
                    }
                    fieldset {
                        legend { "Cognito Streams" }
                        label { "Kinesis stream name" input name="stream_name" value=(streams.stream_name.unwrap_or_default()); }
                        label { "Role ARN" input name="stream_role_arn" value=(streams.role_arn.unwrap_or_default()); }
                        label class="check" {
                            input type="checkbox" name="streaming_enabled" value="true" checked[enabled];
                            "Streaming enabled"
                        }
                    }
                    fieldset {
                        legend { "Events" }
                        label { "SyncTrigger Lambda ARN (empty: none)"
                            input name="sync_trigger" value=(events.get(SYNC_TRIGGER).cloned().unwrap_or_default()); }
                    }
                    button type="submit" { "Save Cognito Sync settings" }
                }
            }
            (super::quotas::section(&me, &base, &quotas))
        }
    };
    respond(
        StatusCode::OK,
        page(
            &me,
            &pool.name,
            &[
                crumb("Overview", "/console/"),
                crumb("Identity pools", "/console/pools"),
            ],
            body,
        ),
    )
}

#[derive(Deserialize)]
pub struct IdentityPoolForm {
    csrf: String,
    name: String,
    #[serde(default)]
    allow_unauthenticated: Option<String>,
    #[serde(default)]
    developer_provider_name: String,
}

pub async fn save_identity_pool(
    State(console): State<Arc<Console>>,
    Path(pool_id): Path<String>,
    Posted(me, form): Posted<IdentityPoolForm>,
) -> Response {
    let identity = &console.app.identity;
    let developer = form.developer_provider_name.trim();
    let spec = PoolSpec {
        name: form.name.trim().to_owned(),
        allow_unauthenticated: form.allow_unauthenticated.is_some(),
        developer_provider_name: (!developer.is_empty()).then(|| developer.to_owned()),
        // The other members are left as stored when the change is made (not as read here):
        // a concurrent UpdateIdentityPool's are not overwritten.
        details: None,
    };
    let back = format!("/console/pools/{}", seg(&pool_id));
    let flash = match identity.update_pool(&pool_id, spec).await {
        Ok(_) => Flash::Done("Identity pool saved.".into()),
        Err(e) => Flash::Refused(format!("Not saved: {e}")),
    };
    done(&console, &me, flash, &back)
}

#[derive(Deserialize)]
pub struct SyncForm {
    csrf: String,
    #[serde(default)]
    application_arns: String,
    #[serde(default)]
    push_role_arn: String,
    #[serde(default)]
    stream_name: String,
    #[serde(default)]
    stream_role_arn: String,
    #[serde(default)]
    streaming_enabled: Option<String>,
    #[serde(default)]
    sync_trigger: String,
}

const ENABLED: &str = "ENABLED";

fn streaming(enabled: bool) -> String {
    if enabled { ENABLED } else { "DISABLED" }.to_owned()
}

/// A pool's Sync configuration as the form shows it: a part never set as empty fields, the
/// streaming status as ENABLED or DISABLED. A submitted form is compared with this, field by
/// field, to know what it changed.
fn as_form(config: PoolConfiguration) -> (PushSync, CognitoStreams) {
    let push = config.push_sync.unwrap_or_default();
    let streams = config.cognito_streams.unwrap_or_default();
    let enabled = streams.streaming_status.as_deref() == Some(ENABLED);
    (
        PushSync {
            application_arns: Some(push.application_arns.unwrap_or_default()),
            role_arn: push.role_arn,
        },
        CognitoStreams {
            streaming_status: Some(streaming(enabled)),
            ..streams
        },
    )
}

fn filled(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

pub async fn save_sync(
    State(console): State<Arc<Console>>,
    Path(pool_id): Path<String>,
    Posted(me, form): Posted<SyncForm>,
) -> Response {
    let sync = &console.app.sync;
    let back = format!("/console/pools/{}", seg(&pool_id));
    let (config, events) =
        match tokio::try_join!(sync.get_configuration(&pool_id), sync.get_events(&pool_id)) {
            Ok(found) => found,
            Err(e) => return refused(&me, e),
        };
    let push = PushSync {
        application_arns: Some(form.application_arns.lines().filter_map(filled).collect()),
        role_arn: filled(&form.push_role_arn),
    };
    let streams = CognitoStreams {
        stream_name: filled(&form.stream_name),
        role_arn: filled(&form.stream_role_arn),
        streaming_status: Some(streaming(form.streaming_enabled.is_some())),
    };
    // Only what the form changed is sent, as a careful API caller would.
    let (shown_push, shown_streams) = as_form(config);
    let push_changed = push != shown_push;
    let streams_changed = streams != shown_streams;
    let trigger = form.sync_trigger.trim().to_owned();
    let trigger_changed = events.get(SYNC_TRIGGER).cloned().unwrap_or_default() != trigger;
    if push_changed || streams_changed {
        if let Err(e) = sync
            .set_configuration(
                &pool_id,
                push_changed.then_some(push),
                streams_changed.then_some(streams),
            )
            .await
        {
            return done(
                &console,
                &me,
                Flash::Refused(format!("Not saved: {e}")),
                &back,
            );
        }
    }
    if trigger_changed {
        let change = BTreeMap::from([(SYNC_TRIGGER.to_owned(), trigger)]);
        if let Err(e) = sync.set_events(&pool_id, change).await {
            return done(
                &console,
                &me,
                Flash::Refused(format!("Not saved: {e}")),
                &back,
            );
        }
    }
    let flash = if push_changed || streams_changed || trigger_changed {
        Flash::Done("Cognito Sync settings saved.".into())
    } else {
        Flash::Done("Nothing changed.".into())
    };
    done(&console, &me, flash, &back)
}

with_csrf!(IdentityPoolForm, SyncForm);
