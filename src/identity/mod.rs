//! The Cognito Identity subset: identity pools, identities (unauthenticated, developer
//! authenticated, OpenID Connect), logins and merges. Ids are `REGION:uuid` in lowercase,
//! like the real service's.

mod developer;
mod forward;
pub mod id_tokens;
pub mod login_rules;
mod logins;
pub mod mirror_rules;
pub mod oidc_verify;
pub mod openid_issuer;
mod pool_rules;
pub mod ports;
pub mod providers;

pub use forward::Credentialed;
pub use logins::OpenIdToken;
pub use openid_issuer::COGNITO_PROVIDER;

use std::sync::Arc;

use crate::store::{IdentityRecord, PoolDetails, PoolRecord, Rejection, Store, StoreError};
use crate::timeutil::now_ms;
use crate::tokens::TokenSigner;
use crate::validate::{self, Violation};

/// A refusal by the identity service; mapped to wire errors in `api::error`.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    DeveloperUserAlreadyRegistered(String),
    /// An identity provider that checks a login could not be asked (down, or refusing
    /// cogsync's own credentials); the login itself may be fine.
    #[error("{0}")]
    ExternalService(String),
    /// Contention the store could not resolve in time; the client should retry.
    #[error("{0}")]
    Busy(String),
    /// Failed, nothing changed (the detail is for the log).
    #[error("{0}")]
    Internal(String),
    /// A write that may or may not have been applied (the detail is for the log).
    #[error("{0}")]
    OutcomeUnknown(String),
    /// A pool's upstream refused the call: its answer, relayed as it is.
    #[error("{message}")]
    Relayed {
        code: crate::upstream::UpstreamCode,
        message: String,
    },
}

impl From<Violation> for IdentityError {
    fn from(v: Violation) -> Self {
        IdentityError::InvalidParameter(v.0)
    }
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(detail) => IdentityError::Busy(detail),
            StoreError::Rejected(Rejection::NotAuthorized(m)) => IdentityError::NotAuthorized(m),
            StoreError::Rejected(Rejection::NotFound(m)) => IdentityError::NotFound(m),
            StoreError::Rejected(Rejection::DeveloperUserAlreadyRegistered(m)) => {
                IdentityError::DeveloperUserAlreadyRegistered(m)
            }
            StoreError::Rejected(Rejection::InvalidParameter(m)) => {
                IdentityError::InvalidParameter(m)
            }
            // Identity writes make no sync-rule refusals and handle duplicates where they
            // expect them; reaching here is a fault.
            StoreError::Rejected(
                r @ (Rejection::Conflict { .. }
                | Rejection::LimitExceeded(_)
                | Rejection::BulkInProgress
                | Rejection::BulkTooSoon),
            ) => IdentityError::Internal(format!("unexpected refusal from the store: {r:?}")),
            StoreError::AlreadyExists(what) => {
                IdentityError::Internal(format!("unexpected duplicate in the store: {what}"))
            }
            StoreError::Backend(detail) => IdentityError::Internal(detail),
            StoreError::OutcomeUnknown(detail) => IdentityError::OutcomeUnknown(detail),
            StoreError::Corrupt(detail) => IdentityError::Internal(detail),
            StoreError::IdentityGone(id) => {
                IdentityError::NotFound(format!("Identity '{id}' not found."))
            }
        }
    }
}

pub type IdentityResult<T> = Result<T, IdentityError>;

/// An identity pool's description as a request gives it.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub name: String,
    pub allow_unauthenticated: bool,
    pub developer_provider_name: Option<String>,
    /// The other members (login providers, tags, …); None leaves the stored ones as they are.
    pub details: Option<PoolDetails>,
}

pub struct IdentityService {
    store: Arc<dyn Store>,
    tokens: TokenSigner,
    openid: openid_issuer::OpenIdTokens,
    oidc: Vec<oidc_verify::OidcProvider>,
    providers: Arc<dyn ports::LoginProviders>,
    region: String,
    /// Which pools are attached to an upstream (none unless [`Self::with_upstream`]).
    attachments: Arc<crate::upstream::Attachments>,
    /// Where attached pools' identity calls go.
    upstream: Option<Arc<dyn ports::UpstreamIdentity>>,
}

impl IdentityService {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: TokenSigner,
        region: String,
        oidc: Vec<oidc_verify::OidcProvider>,
        providers: Arc<dyn ports::LoginProviders>,
    ) -> Self {
        let openid = openid_issuer::OpenIdTokens::new(&tokens);
        IdentityService {
            store,
            tokens,
            openid,
            oidc,
            providers,
            region,
            attachments: crate::upstream::Attachments::new(false),
            upstream: None,
        }
    }

    fn new_id(&self) -> String {
        format!("{}:{}", self.region, uuid::Uuid::new_v4())
    }

    fn check_spec(spec: &PoolSpec) -> IdentityResult<()> {
        validate::length(&spec.name, "identityPoolName", 1, 128)?;
        validate::chars(&spec.name, "identityPoolName", r"[\w\s+=,.@-]+", |c| {
            c.is_alphanumeric() || c == '_' || c.is_whitespace() || "+=,.@-".contains(c)
        })?;
        if let Some(dev) = &spec.developer_provider_name {
            validate::length(dev, "developerProviderName", 1, 128)?;
            validate::chars(dev, "developerProviderName", r"[\w._-]+", |c| {
                c.is_alphanumeric() || "_.-".contains(c)
            })?;
        }
        Ok(())
    }

    pub async fn create_pool(&self, spec: PoolSpec) -> IdentityResult<PoolRecord> {
        Self::check_spec(&spec)?;
        let pool = PoolRecord {
            id: self.new_id(),
            name: spec.name,
            allow_unauthenticated: spec.allow_unauthenticated,
            developer_provider_name: spec.developer_provider_name,
            details: spec.details.unwrap_or_default(),
            created_ms: now_ms(),
        };
        self.store.create_pool(&pool).await?;
        Ok(pool)
    }

    pub async fn describe_pool(&self, pool_id: &str) -> IdentityResult<PoolRecord> {
        validate::aws_id(pool_id, "identityPoolId")?;
        self.store
            .get_pool(pool_id)
            .await?
            .ok_or_else(|| pool_not_found(pool_id))
    }

    /// UpdateIdentityPool (and the console's edit of a pool's description): what
    /// [`pool_rules::updated`] makes of the pool as stored, in one transaction serialised with
    /// the pool's other writes, so no concurrent change is lost.
    pub async fn update_pool(&self, pool_id: &str, spec: PoolSpec) -> IdentityResult<PoolRecord> {
        Self::check_spec(&spec)?;
        validate::aws_id(pool_id, "identityPoolId")?;
        self.refuse_if_attached(pool_id, "UpdateIdentityPool")?;
        let decide = Box::new(move |stored: &PoolRecord| pool_rules::updated(stored, &spec));
        self.store
            .update_pool(pool_id, decide)
            .await?
            .ok_or_else(|| pool_not_found(pool_id))
    }

    pub async fn delete_pool(&self, pool_id: &str) -> IdentityResult<()> {
        validate::aws_id(pool_id, "identityPoolId")?;
        self.refuse_if_attached(pool_id, "DeleteIdentityPool")?;
        if self.store.delete_pool(pool_id).await? {
            Ok(())
        } else {
            Err(pool_not_found(pool_id))
        }
    }

    pub async fn list_pools(
        &self,
        max_results: i64,
        next_token: Option<&str>,
    ) -> IdentityResult<(Vec<PoolRecord>, Option<String>)> {
        validate::range(max_results, "maxResults", 1, 60)?;
        let after = self.open_cursor("pools", "", next_token)?;
        let limit = max_results as usize;
        let mut pools = self.store.list_pools(after.as_deref(), limit + 1).await?;
        let next = self.next_cursor("pools", "", &mut pools, limit, |p| &p.id);
        Ok((pools, next))
    }

    pub async fn list_identities(
        &self,
        pool_id: &str,
        max_results: i64,
        next_token: Option<&str>,
    ) -> IdentityResult<(Vec<IdentityRecord>, Option<String>)> {
        validate::range(max_results, "maxResults", 1, 60)?;
        self.describe_pool(pool_id).await?;
        let after = self.open_cursor("identities", pool_id, next_token)?;
        let limit = max_results as usize;
        let mut ids = self
            .store
            .list_identities(pool_id, after.as_deref(), limit + 1)
            .await?;
        let next = self.next_cursor("identities", pool_id, &mut ids, limit, |i| &i.id);
        Ok((ids, next))
    }

    /// How many identities a pool has.
    pub async fn count_identities(&self, pool_id: &str) -> IdentityResult<i64> {
        validate::aws_id(pool_id, "identityPoolId")?;
        Ok(self.store.count_identities(pool_id).await?)
    }

    pub async fn describe_identity(&self, identity_id: &str) -> IdentityResult<IdentityRecord> {
        validate::aws_id(identity_id, "identityId")?;
        self.store
            .get_identity(identity_id)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("Identity '{identity_id}' not found.")))
    }

    fn open_cursor(
        &self,
        purpose: &str,
        scope: &str,
        token: Option<&str>,
    ) -> IdentityResult<Option<String>> {
        match token {
            None => Ok(None),
            Some(t) => match self.tokens.open(purpose, t).as_deref() {
                Some([s, last]) if s == scope => Ok(Some(last.clone())),
                _ => Err(IdentityError::InvalidParameter("Invalid NextToken".into())),
            },
        }
    }

    fn next_cursor<T>(
        &self,
        purpose: &str,
        scope: &str,
        items: &mut Vec<T>,
        limit: usize,
        id: impl Fn(&T) -> &String,
    ) -> Option<String> {
        if items.len() <= limit {
            return None;
        }
        items.truncate(limit);
        items
            .last()
            .map(|last| self.tokens.seal(purpose, &[scope, id(last)]))
    }

    /// DeleteIdentities: removes each identity with its logins and data; returns the ids that
    /// could not be processed (none, unless the store fails).
    pub async fn delete_identities(&self, ids: &[String]) -> IdentityResult<Vec<String>> {
        if ids.is_empty() || ids.len() > 60 {
            return Err(IdentityError::InvalidParameter(
                "1 validation error detected: Value at 'identityIdsToDelete' failed to satisfy constraint: \
                 Member must have length between 1 and 60"
                    .into(),
            ));
        }
        for id in ids {
            validate::aws_id(id, "identityIdsToDelete.member")?;
        }
        if self.attachments.any() {
            for id in ids {
                if let Some(i) = self.store.get_identity(id).await? {
                    self.refuse_if_attached(&i.pool_id, "DeleteIdentities")?;
                }
            }
        }
        let mut unprocessed = Vec::new();
        for id in ids {
            if self.store.delete_identity(id).await.is_err() {
                unprocessed.push(id.clone());
            }
        }
        Ok(unprocessed)
    }

    /// Whether an identity still exists in a pool (merged and deleted identities do not).
    pub async fn identity_active(&self, pool_id: &str, identity_id: &str) -> IdentityResult<bool> {
        // An attached pool's identities are the upstream's to know (it answers the call).
        if self.attached(pool_id) {
            return Ok(true);
        }
        Ok(self
            .store
            .get_identity(identity_id)
            .await?
            .is_some_and(|i| i.pool_id == pool_id))
    }
}

fn pool_not_found(pool_id: &str) -> IdentityError {
    IdentityError::NotFound(format!("IdentityPool '{pool_id}' not found."))
}
