//! A pool's own dataset quotas, on the pool's page: the form (a blank field is the server's
//! quota) and its POST, through the sync service's compare-and-set of the pool's settings.
//! No Cognito API sets these (AWS raises them on request), so the console is where they are
//! set.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::seg;
use super::session::{Current, Flash};
use super::{done, with_csrf, Console, Posted};
use crate::store::PoolLimits;
use crate::sync::pool_config::PoolQuotas;

/// The Quotas section of the pool page, posting to `{base}/quotas`.
pub fn section(me: &Current, base: &str, q: &PoolQuotas) -> Markup {
    let field = |name: &str, label: &str, own: Option<i64>, server: i64| {
        html! {
            label {
                (label)
                input name=(name) inputmode="numeric" value=(own.map(|v| v.to_string()).unwrap_or_default())
                    placeholder={ (server) " (server)" };
            }
        }
    };
    html! {
        section {
            h2 { "Quotas" }
            form method="post" action={(base) "/quotas"} class="stack" {
                input type="hidden" name="csrf" value=(me.csrf);
                (field("datasets_per_identity", "Datasets per identity", q.pool.datasets_per_identity, q.server.datasets_per_identity))
                (field("records_per_dataset", "Records per dataset", q.pool.records_per_dataset, q.server.records_per_dataset))
                (field("bytes_per_dataset", "Bytes per dataset (keys and values)", q.pool.bytes_per_dataset, q.server.bytes_per_dataset))
                p class="hint" {
                    "Blank: the server's quota (--max-datasets-per-identity, --max-records-per-dataset, "
                    "--max-dataset-bytes). A write that would grow a dataset past a quota is refused; "
                    "a dataset already above one can still shrink."
                }
                button type="submit" { "Save quotas" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct QuotasForm {
    csrf: String,
    #[serde(default)]
    datasets_per_identity: String,
    #[serde(default)]
    records_per_dataset: String,
    #[serde(default)]
    bytes_per_dataset: String,
}
with_csrf!(QuotasForm);

/// A field as a quota: blank is None (the server's); anything else a whole number.
fn quota(text: &str, what: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{what}: '{text}' is not a whole number"))
}

fn limits_of(form: &QuotasForm) -> Result<PoolLimits, String> {
    Ok(PoolLimits {
        datasets_per_identity: quota(&form.datasets_per_identity, "Datasets per identity")?,
        records_per_dataset: quota(&form.records_per_dataset, "Records per dataset")?,
        bytes_per_dataset: quota(&form.bytes_per_dataset, "Bytes per dataset")?,
    })
}

pub async fn save(
    State(console): State<Arc<Console>>,
    Path(pool_id): Path<String>,
    Posted(me, form): Posted<QuotasForm>,
) -> Response {
    let sync = &console.app.sync;
    let back = format!("/console/pools/{}", seg(&pool_id));
    let limits = match limits_of(&form) {
        Ok(l) => l,
        Err(why) => {
            return done(
                &console,
                &me,
                Flash::Refused(format!("Not saved: {why}")),
                &back,
            )
        }
    };
    let flash = match sync.get_quotas(&pool_id).await {
        Ok(q) if q.pool == limits => Flash::Done("Nothing changed.".into()),
        Ok(_) => match sync.set_quotas(&pool_id, limits).await {
            Ok(()) => Flash::Done("Quotas saved.".into()),
            Err(e) => Flash::Refused(format!("Not saved: {e}")),
        },
        Err(e) => Flash::Refused(format!("Not saved: {e}")),
    };
    done(&console, &me, flash, &back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_are_the_servers_quotas_and_others_whole_numbers() {
        let form = |d: &str, r: &str, b: &str| QuotasForm {
            csrf: String::new(),
            datasets_per_identity: d.into(),
            records_per_dataset: r.into(),
            bytes_per_dataset: b.into(),
        };
        assert_eq!(
            limits_of(&form(" ", "4096", "")).unwrap(),
            PoolLimits {
                records_per_dataset: Some(4096),
                ..PoolLimits::default()
            }
        );
        let err = limits_of(&form("", "", "1e6")).unwrap_err();
        assert!(
            err.contains("Bytes per dataset") && err.contains("1e6"),
            "{err}"
        );
    }
}
