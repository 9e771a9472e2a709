//! Cognito Sync access rules, applied from the operation's [`Access`] before its handler runs.

use super::route::Route;
use super::table::{Access, Liveness};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::App;
use crate::auth::Principal;
use crate::sync::Caller;

fn refuse(message: String) -> ApiError {
    ApiError::new(ErrorCode::NotAuthorized, message)
}

/// The caller as the sync rules see it, after the access rules of `route`'s operation: it
/// must accept the kind of credentials, and identity credentials reach only their own
/// identity in their own pool, and only while that identity exists (not merged or deleted).
pub async fn caller_for(
    app: &App,
    principal: &Principal,
    route: &Route,
) -> Result<Caller, ApiError> {
    let op = route.op.name;
    let (pool_id, identity_id) = match principal {
        Principal::Developer { .. } => {
            return match route.op.access {
                Access::Identity(_) => Err(refuse(format!(
                    "{op} requires Cognito Identity credentials (from GetCredentialsForIdentity)"
                ))),
                Access::Developer | Access::Either(_) => Ok(Caller::Developer {
                    account_id: app.account_id.clone(),
                }),
            }
        }
        Principal::Identity {
            pool_id,
            identity_id,
            ..
        } => (pool_id, identity_id),
    };
    let liveness = match route.op.access {
        Access::Developer => return Err(refuse(format!("{op} requires developer credentials"))),
        Access::Identity(liveness) | Access::Either(liveness) => liveness,
    };
    if route.pool_id != *pool_id || route.identity_id != *identity_id {
        return Err(refuse(format!(
            "These credentials may only access identity {identity_id} of pool {pool_id}"
        )));
    }
    let vanished = match liveness {
        Liveness::CheckedByService => false,
        Liveness::CheckedHere => !app.identity.identity_active(pool_id, identity_id).await?,
    };
    if vanished {
        return Err(refuse(format!(
            "Identity {identity_id} no longer exists (deleted or merged); get new credentials"
        )));
    }
    Ok(Caller::Identity {
        pool_id: pool_id.clone(),
        identity_id: identity_id.clone(),
    })
}
