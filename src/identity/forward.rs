//! Cognito Identity for pools attached to an upstream (see [`crate::upstream`]): the upstream
//! decides who a caller is. GetId, GetCredentialsForIdentity, GetOpenIdToken and
//! GetOpenIdTokenForDeveloperIdentity go to it with the device's own logins (so every provider
//! it accepts works, and new identities are created there, where old app versions find them);
//! cogsync then records the identity and what the logins say of their subjects
//! ([`super::mirror_rules`]), and vends its own credentials carrying the upstream's. The other
//! writes of an attached pool are the upstream's to make.

use std::sync::Arc;

use super::mirror_rules;
use super::ports::UpstreamIdentity;
use super::{IdentityError, IdentityRecord, IdentityResult, IdentityService, PoolRecord};
use crate::store::LoginQuery;
use crate::timeutil::now_ms;
use crate::upstream::{Failure, InFlight, Intent, RouteError, UpstreamCredentials, UpstreamError};

/// A call going to the upstream, with (for a write) its in-flight guard.
pub(super) struct Forward {
    upstream: Arc<dyn UpstreamIdentity>,
    _in_flight: Option<InFlight>,
}

/// An identity's pool and, when the pool is attached, its credentials at the upstream.
#[derive(Debug, Clone)]
pub struct Credentialed {
    pub pool_id: String,
    pub upstream: Option<UpstreamCredentials>,
}

impl From<Failure> for IdentityError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Relayed { code, message } => IdentityError::Relayed { code, message },
            Failure::OutcomeUnknown(detail) => IdentityError::OutcomeUnknown(detail),
            Failure::NothingChanged(detail) => IdentityError::Internal(detail),
            Failure::Busy(detail) => IdentityError::Busy(detail),
        }
    }
}

impl From<RouteError> for IdentityError {
    fn from(e: RouteError) -> Self {
        Failure::from(e).into()
    }
}

fn failed(e: UpstreamError, intent: Intent) -> IdentityError {
    Failure::of(e, intent).into()
}

impl IdentityService {
    /// The service of a node in upstream mode: pools `attachments` says are attached are
    /// served by `upstream`.
    pub fn with_upstream(
        mut self,
        attachments: Arc<crate::upstream::Attachments>,
        upstream: Option<Arc<dyn UpstreamIdentity>>,
    ) -> Self {
        self.attachments = attachments;
        self.upstream = upstream;
        self
    }

    /// Whether `pool_id` is attached or being detached (not local).
    pub(super) fn attached(&self, pool_id: &str) -> bool {
        self.attachments.attached(pool_id)
    }

    pub(super) async fn forward(
        &self,
        pool_id: &str,
        intent: Intent,
    ) -> IdentityResult<Option<Forward>> {
        let routed = self
            .attachments
            .route_to(pool_id, intent, &self.upstream)
            .await?;
        Ok(routed.map(|(upstream, guard)| Forward {
            upstream,
            _in_flight: guard,
        }))
    }

    /// Refuses a write the upstream alone may make while the pool is attached.
    pub(super) fn refuse_if_attached(&self, pool_id: &str, what: &str) -> IdentityResult<()> {
        if self.attached(pool_id) {
            return Err(IdentityError::InvalidParameter(
                crate::upstream::attached_refusal(what, pool_id),
            ));
        }
        Ok(())
    }

    /// Records `identity_id` and what `logins` say of it, as the upstream answered; a failure
    /// marks it for a whole read instead (the device's answer stands).
    async fn mirror_identity(
        &self,
        pool: &PoolRecord,
        identity_id: &str,
        logins: &[(String, String)],
    ) {
        let facts = mirror_rules::login_facts(pool, identity_id, logins);
        let query = LoginQuery {
            logins: mirror_rules::query_logins(identity_id, &facts),
            identities: vec![identity_id.to_owned()],
        };
        let now = now_ms();
        let new = IdentityRecord {
            id: identity_id.to_owned(),
            pool_id: pool.id.clone(),
            created_ms: now,
            last_modified_ms: now,
        };
        let id = identity_id.to_owned();
        let decide = Box::new(move |s: &crate::store::LoginSnapshot| {
            Ok(mirror_rules::plan_mirror(&id, &facts, s, &new))
        });
        let moved_from: Vec<String> = match self.login_transaction(&pool.id, query, decide).await {
            Ok(plan) => plan
                .unlink
                .into_iter()
                .map(|(_, owner)| owner)
                .filter(|owner| owner != identity_id)
                .collect(),
            Err(e) => {
                tracing::warn!(pool = %pool.id, identity = identity_id, error = %e, "cannot mirror an identity of the upstream");
                vec![identity_id.to_owned()]
            }
        };
        for other in moved_from {
            let _ = self.store.mark_dirty(&pool.id, &other, now).await;
        }
    }

    /// GetId at the upstream.
    pub(super) async fn forward_get_id(
        &self,
        f: Forward,
        pool: &PoolRecord,
        logins: &[(String, String)],
    ) -> IdentityResult<IdentityRecord> {
        let id = f
            .upstream
            .get_id(&pool.id, logins)
            .await
            .map_err(|e| failed(e, Intent::Write))?;
        self.mirror_identity(pool, &id, logins).await;
        self.describe_identity(&id).await
    }

    /// The pool of an identity: as stored, else, while some pool is attached, the upstream's
    /// answer (the pool its OpenID token is for). None when neither knows it.
    async fn pool_of(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<Option<String>> {
        if let Some(i) = self.store.get_identity(identity_id).await? {
            return Ok(Some(i.pool_id));
        }
        let Some(upstream) = self.upstream.as_ref().filter(|_| self.attachments.any()) else {
            return Ok(None);
        };
        let (_, token) = upstream
            .open_id_token(identity_id, logins)
            .await
            .map_err(|e| failed(e, Intent::Read))?;
        Ok(mirror_rules::token_pool(&token).filter(|p| self.attached(p)))
    }

    /// GetCredentialsForIdentity: the identity's pool, authorized here or, when attached, by
    /// the upstream (whose credentials come back to ride in cogsync's).
    pub async fn credentials(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<Credentialed> {
        crate::validate::aws_id(identity_id, "identityId")?;
        if let Some(pool_id) = self.pool_of(identity_id, logins).await? {
            let intent = if logins.is_empty() {
                Intent::Read
            } else {
                Intent::Write
            };
            if let Some(f) = self.forward(&pool_id, intent).await? {
                let creds = f
                    .upstream
                    .credentials_for_identity(identity_id, logins)
                    .await
                    .map_err(|e| failed(e, intent))?;
                let pool = self.describe_pool(&pool_id).await?;
                self.mirror_identity(&pool, identity_id, logins).await;
                return Ok(Credentialed {
                    pool_id,
                    upstream: Some(creds),
                });
            }
        }
        let a = self.authorize_identity(identity_id, logins, true).await?;
        Ok(Credentialed {
            pool_id: a.pool.id,
            upstream: None,
        })
    }

    /// GetOpenIdToken at the upstream, if the identity's pool is attached: its token as it is.
    pub(super) async fn forward_open_id_token(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<Option<super::OpenIdToken>> {
        let Some(pool_id) = self.pool_of(identity_id, logins).await? else {
            return Ok(None);
        };
        let Some(f) = self.forward(&pool_id, Intent::Write).await? else {
            return Ok(None);
        };
        let (id, token) = f
            .upstream
            .open_id_token(identity_id, logins)
            .await
            .map_err(|e| failed(e, Intent::Write))?;
        let pool = self.describe_pool(&pool_id).await?;
        self.mirror_identity(&pool, &id, logins).await;
        Ok(Some(super::OpenIdToken {
            identity_id: id,
            token,
        }))
    }

    /// GetOpenIdTokenForDeveloperIdentity at the upstream: its identity and token.
    pub(super) async fn forward_open_id_token_for_developer(
        &self,
        f: Forward,
        pool: &PoolRecord,
        identity_id: Option<&str>,
        logins: &[(String, String)],
        token_duration_s: Option<i64>,
    ) -> IdentityResult<super::OpenIdToken> {
        let (id, token) = f
            .upstream
            .open_id_token_for_developer(&pool.id, identity_id, logins, token_duration_s)
            .await
            .map_err(|e| failed(e, Intent::Write))?;
        self.mirror_identity(pool, &id, logins).await;
        Ok(super::OpenIdToken {
            identity_id: id,
            token,
        })
    }
}
