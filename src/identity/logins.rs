//! Logins and the identities they prove: GetId with Logins, the authentication of the unsigned
//! per-identity calls (GetCredentialsForIdentity, GetOpenIdToken) and UnlinkIdentity. The
//! developer-provider operations are in [`super::developer`].
//!
//! A login is a (provider, subject) pair linked to at most one identity of a pool. When one
//! request presents logins owned by several identities, they become one: the others are merged
//! into the surviving identity. The rules are in [`super::login_rules`]; each operation is one
//! store login transaction (see [`Store::login_transaction`](crate::store::Store)).

use super::id_tokens::{self, Refusal};
use super::login_rules::{self, Verified};
use super::ports::ProviderError;
use super::providers::{self, Check, IdTokenCheck};
use super::{
    pool_not_found, validate, IdentityError, IdentityRecord, IdentityResult, IdentityService,
    PoolRecord, COGNITO_PROVIDER,
};
use crate::store::{LoginDecider, LoginPlan, LoginQuery, MergeCopier};
use crate::timeutil::now_ms;

/// Lifetime of a GetOpenIdToken token (the AWS value: ten minutes).
const OPENID_TTL_S: i64 = 600;
/// Default TokenDuration of GetOpenIdTokenForDeveloperIdentity (the AWS value: fifteen minutes).
pub(super) const DEVELOPER_TOKEN_TTL_S: i64 = 900;

/// An unsigned per-identity call, authenticated: the identity's pool, its login providers,
/// and the logins the call presented (all verified; none for a guest).
#[derive(Debug, Clone)]
pub struct Authorized {
    pub pool: PoolRecord,
    pub providers: Vec<String>,
    pub verified: Vec<Verified>,
}

/// An identity id with an OpenID token for it.
#[derive(Debug, Clone)]
pub struct OpenIdToken {
    pub identity_id: String,
    pub token: String,
}

fn not_authorized(message: impl Into<String>) -> IdentityError {
    IdentityError::NotAuthorized(message.into())
}

/// A refusal of a login's token, in Cognito's words: "Invalid login token. …", except that
/// a token of another app (or provider) is told only that.
fn invalid_login(reason: impl Into<String>) -> IdentityError {
    let reason = reason.into();
    if reason == id_tokens::OTHER_APP {
        IdentityError::NotAuthorized(reason)
    } else {
        IdentityError::NotAuthorized(format!("Invalid login token. {reason}"))
    }
}

/// A provider's failure to check a login, as the device is told.
fn provider_failed(e: ProviderError) -> IdentityError {
    match e {
        ProviderError::Unreachable(u) => IdentityError::ExternalService(u.0),
        ProviderError::NoSecret(m) => IdentityError::ExternalService(m),
        ProviderError::Refused(m) => invalid_login(m),
    }
}

pub(super) fn check_logins(logins: &[(String, String)]) -> IdentityResult<()> {
    if logins.len() > 10 {
        return Err(IdentityError::InvalidParameter(
            "1 validation error detected: Value at 'logins' failed to satisfy constraint: Member must have length less than or equal to 10".into(),
        ));
    }
    for (provider, token) in logins {
        validate::length(provider, "logins.key", 1, 128)?;
        validate::length(token, "logins.value", 1, 50_000)?;
    }
    Ok(())
}

impl IdentityService {
    async fn verify_login(
        &self,
        pool: &PoolRecord,
        provider: &str,
        token: &str,
    ) -> IdentityResult<Verified> {
        if provider == COGNITO_PROVIDER {
            let token = self
                .openid
                .verify(token, now_ms() / 1000)
                .map_err(|e| not_authorized(format!("Invalid login token. {e}")))?;
            if token.pool_id != pool.id {
                return Err(not_authorized(
                    "Invalid login token. It was issued for another identity pool.",
                ));
            }
            // A token issued without logins is a guest's: it proves nothing once the pool
            // stops allowing guests. (That its identity still has no login, or still has the
            // logins a token was issued for, is the login rules' to check in the snapshot.)
            if token.logins.is_empty() && !pool.allow_unauthenticated {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            return Ok(Verified::Cognito {
                identity_id: token.identity_id,
                logins: token.logins,
                expires_s: token.expires_s,
            });
        }
        if pool.developer_provider_name.as_deref() == Some(provider) {
            return Err(not_authorized(format!(
                "Invalid login token. Logins of the developer provider {provider} are made by the developer's \
                 backend with GetOpenIdTokenForDeveloperIdentity"
            )));
        }
        let check = providers::check_for(pool, provider, &self.oidc).map_err(invalid_login)?;
        let now_s = now_ms() / 1000;
        let subject = match check {
            Check::IdToken(c) => self.id_token_subject(&c, token, now_s).await?,
            Check::Facebook { app_id } => {
                let t = self
                    .providers
                    .facebook_debug_token(&app_id, token)
                    .await
                    .map_err(provider_failed)?;
                providers::facebook_subject(&t, &app_id, now_s).map_err(invalid_login)?
            }
            Check::Amazon { app_id } => {
                let info = self
                    .providers
                    .amazon_token_info(token)
                    .await
                    .map_err(provider_failed)?;
                providers::amazon_token_fits(&info, &app_id).map_err(invalid_login)?;
                let user = self
                    .providers
                    .amazon_user_id(token)
                    .await
                    .map_err(provider_failed)?;
                providers::amazon_subject(&info, user).map_err(invalid_login)?
            }
        };
        Ok(Verified::Linked {
            provider: provider.to_owned(),
            subject,
        })
    }

    /// The subject of an ID token `c` accepts: looked at first (no key is fetched for a
    /// token that cannot be one), then verified with the provider's keys, fetched again once
    /// when it names a key they lack (the provider may have rotated them).
    async fn id_token_subject(
        &self,
        c: &IdTokenCheck,
        token: &str,
        now_s: i64,
    ) -> IdentityResult<String> {
        let peeked = id_tokens::peek(token, &c.issuers).map_err(invalid_login)?;
        let expect = id_tokens::Expect {
            issuers: &c.issuers,
            audiences: &c.audiences,
            audience: c.audience,
            token_use: c.token_use,
        };
        let keys = self.keys(c, None).await?;
        let verified = match id_tokens::verify(token, &peeked, &keys, &expect, now_s) {
            Err(Refusal::UnknownKey) if peeked.kid.is_some() => {
                let keys = self.keys(c, peeked.kid.as_deref()).await?;
                id_tokens::verify(token, &peeked, &keys, &expect, now_s)
            }
            other => other,
        };
        match verified {
            Ok(subject) => Ok(subject),
            Err(Refusal::UnknownKey) => Err(invalid_login(id_tokens::UNVERIFIABLE)),
            Err(Refusal::Invalid(m)) => Err(invalid_login(m)),
        }
    }

    async fn keys(
        &self,
        c: &IdTokenCheck,
        unknown_kid: Option<&str>,
    ) -> IdentityResult<std::sync::Arc<jsonwebtoken::jwk::JwkSet>> {
        if let super::ports::KeysAt::Fixed(keys) = &c.keys.how {
            return Ok(keys.clone());
        }
        self.providers
            .signing_keys(&c.keys, unknown_kid)
            .await
            .map_err(|u| IdentityError::ExternalService(u.0))
    }

    /// Every login verified, one after another (at most ten); the first refusal fails all.
    pub(super) async fn verify_all(
        &self,
        pool: &PoolRecord,
        logins: &[(String, String)],
    ) -> IdentityResult<Vec<Verified>> {
        check_logins(logins)?;
        let mut verified = Vec::with_capacity(logins.len());
        for (p, t) in logins {
            verified.push(self.verify_login(pool, p, t).await?);
        }
        Ok(verified)
    }

    /// Runs one login transaction: the store reads `query`, `decide` plans, the store applies.
    pub(super) async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        decide: LoginDecider,
    ) -> IdentityResult<LoginPlan> {
        let merge: MergeCopier = std::sync::Arc::new(login_rules::merged_copies);
        Ok(self
            .store
            .login_transaction(pool_id, query, now_ms(), decide, merge)
            .await?)
    }

    /// A new identity's record (created only if a plan says so).
    pub(super) fn new_identity(&self, pool_id: &str) -> IdentityRecord {
        let now = now_ms();
        IdentityRecord {
            id: self.new_id(),
            pool_id: pool_id.to_owned(),
            created_ms: now,
            last_modified_ms: now,
        }
    }

    /// GetId: the identity of the given logins (linking new ones, merging identities that
    /// turn out to be one person), or a new unauthenticated identity when there are none.
    pub async fn get_id(
        &self,
        pool_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<IdentityRecord> {
        let pool = self.describe_pool(pool_id).await?;
        if let Some(f) = self
            .forward(pool_id, crate::upstream::Intent::Write)
            .await?
        {
            return self.forward_get_id(f, &pool, logins).await;
        }
        if logins.is_empty() {
            if !pool.allow_unauthenticated {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            let identity = self.new_identity(&pool.id);
            self.store.create_identity(&identity).await?;
            return Ok(identity);
        }
        let verified = self.verify_all(&pool, logins).await?;
        let query = login_rules::query_for(&verified, &[], &[]);
        let (pool_id, new) = (pool.id.clone(), self.new_identity(&pool.id));
        let plan = self
            .login_transaction(
                &pool.id,
                query,
                Box::new(move |snapshot| {
                    login_rules::plan_get_id(&pool_id, &verified, snapshot, &new)
                }),
            )
            .await?;
        self.describe_identity(&plan.identity_id).await
    }

    /// Authenticates an unsigned call made for one identity. Without logins the identity must
    /// be unauthenticated and the pool must allow that; with logins each must prove this
    /// identity, or (when `link_new`) be linked to it now, merging any identity that owned it.
    /// Returns the pool, the identity's login providers and the logins the call proved.
    pub async fn authorize_identity(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
        link_new: bool,
    ) -> IdentityResult<Authorized> {
        let (pool, verified) = self.identity_and_logins(identity_id, logins).await?;
        // An unauthenticated identity has no logins, hence no providers: nothing more to read.
        let Some(verified) = verified else {
            return Ok(Authorized {
                pool,
                providers: Vec::new(),
                verified: Vec::new(),
            });
        };
        let query = login_rules::query_for(&verified, &[identity_id], &[]);
        let (pool_id, id) = (pool.id.clone(), identity_id.to_owned());
        let guests = pool.allow_unauthenticated;
        let proved = verified.clone();
        self.login_transaction(
            &pool.id,
            query,
            Box::new(move |snapshot| {
                login_rules::plan_authorize(&pool_id, &id, &proved, link_new, guests, snapshot)
            }),
        )
        .await?;
        let providers = self.login_providers(identity_id).await?;
        Ok(Authorized {
            pool,
            providers,
            verified,
        })
    }

    /// The identity's pool, and its verified logins; None when there are no logins, which
    /// is allowed only for an unauthenticated identity of a pool that allows those.
    async fn identity_and_logins(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<(PoolRecord, Option<Vec<Verified>>)> {
        let identity = self.describe_identity(identity_id).await?;
        let pool = self
            .store
            .get_pool(&identity.pool_id)
            .await?
            .ok_or_else(|| pool_not_found(&identity.pool_id))?;
        if !logins.is_empty() {
            let verified = self.verify_all(&pool, logins).await?;
            return Ok((pool, Some(verified)));
        }
        if !self.store.logins_of(identity_id).await?.is_empty() {
            return Err(not_authorized(format!(
                "Access to Identity '{identity_id}' is forbidden."
            )));
        }
        if !pool.allow_unauthenticated {
            return Err(not_authorized(
                "Unauthenticated access is not supported for this identity pool.",
            ));
        }
        Ok((pool, None))
    }

    /// An identity's logins as (provider, subject) pairs: for a developer provider the
    /// subject is the developer user identifier. For the operator's console.
    pub async fn logins_of(&self, identity_id: &str) -> IdentityResult<Vec<(String, String)>> {
        Ok(self.store.logins_of(identity_id).await?)
    }

    /// The distinct providers of an identity's logins.
    pub async fn login_providers(&self, identity_id: &str) -> IdentityResult<Vec<String>> {
        let mut providers: Vec<String> = self
            .store
            .logins_of(identity_id)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        providers.dedup();
        Ok(providers)
    }

    /// GetOpenIdToken: a token issued for the logins the call proved, expiring no later than
    /// a cogsync token among them.
    pub async fn open_id_token(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<OpenIdToken> {
        if let Some(t) = self.forward_open_id_token(identity_id, logins).await? {
            return Ok(t);
        }
        let a = self.authorize_identity(identity_id, logins, true).await?;
        let now_s = now_ms() / 1000;
        let expires_s = login_rules::token_expiry(&a.verified, OPENID_TTL_S, now_s);
        let token = self.openid.issue(
            &a.pool.id,
            identity_id,
            &a.providers,
            &login_rules::token_logins(&a.verified, None),
            expires_s - now_s,
            now_s,
        );
        Ok(OpenIdToken {
            identity_id: identity_id.to_owned(),
            token,
        })
    }

    /// UnlinkIdentity: removes the named providers' logins from an identity the given logins
    /// prove.
    pub async fn unlink_identity(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
        to_remove: &[String],
    ) -> IdentityResult<()> {
        if logins.is_empty() {
            return Err(not_authorized("Logins are required to unlink logins"));
        }
        let (pool, verified) = self.identity_and_logins(identity_id, logins).await?;
        self.refuse_if_attached(&pool.id, "UnlinkIdentity")?;
        let verified = verified.unwrap_or_default();
        let query = login_rules::query_for(&verified, &[identity_id], &[]);
        let (pool_id, id, providers) =
            (pool.id.clone(), identity_id.to_owned(), to_remove.to_vec());
        self.login_transaction(
            &pool.id,
            query,
            Box::new(move |snapshot| {
                login_rules::plan_unlink_providers(&pool_id, &id, &verified, &providers, snapshot)
            }),
        )
        .await?;
        Ok(())
    }
}
