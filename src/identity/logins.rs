//! Logins, authenticated identities and merges: GetId with Logins, the authentication of the
//! unsigned per-identity calls (GetCredentialsForIdentity, GetOpenIdToken, UnlinkIdentity), the
//! developer-provider operations and DeleteIdentities.
//!
//! A login is a (provider, subject) pair linked to at most one identity of a pool. When one
//! request presents logins owned by several identities, they become one: the others are merged
//! into the surviving identity. The rules are in [`super::login_rules`]; each operation is one
//! store login transaction (see [`Store::login_transaction`](crate::store::Store)).

use super::login_rules::{self, Verified};
use super::{
    pool_not_found, validate, IdentityError, IdentityRecord, IdentityResult, IdentityService,
    PoolRecord, COGNITO_PROVIDER,
};
use crate::store::{LoginDecider, LoginKey, LoginPlan, LoginQuery, MergeCopier};
use crate::timeutil::now_ms;

/// Lifetime of a GetOpenIdToken token (the AWS value: ten minutes).
const OPENID_TTL_S: i64 = 600;
/// Default TokenDuration of GetOpenIdTokenForDeveloperIdentity (the AWS value: fifteen minutes).
const DEVELOPER_TOKEN_TTL_S: i64 = 900;

/// An identity id with an OpenID token for it.
#[derive(Debug, Clone)]
pub struct OpenIdToken {
    pub identity_id: String,
    pub token: String,
}

fn not_authorized(message: impl Into<String>) -> IdentityError {
    IdentityError::NotAuthorized(message.into())
}

fn oidc_arns(pool: &PoolRecord) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(&pool.extra_json)
        .ok()
        .and_then(|v| v.get("OpenIdConnectProviderARNs").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn check_logins(logins: &[(String, String)]) -> IdentityResult<()> {
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
    fn verify_login(
        &self,
        pool: &PoolRecord,
        provider: &str,
        token: &str,
    ) -> IdentityResult<Verified> {
        if provider == COGNITO_PROVIDER {
            let (pool_id, identity_id) = self
                .openid
                .verify(token)
                .map_err(|e| not_authorized(format!("Invalid login token. {e}")))?;
            if pool_id != pool.id {
                return Err(not_authorized(
                    "Invalid login token. It was issued for another identity pool.",
                ));
            }
            return Ok(Verified::Cognito { identity_id });
        }
        if pool.developer_provider_name.as_deref() == Some(provider) {
            return Err(not_authorized(format!(
                "Invalid login token. Logins of the developer provider {provider} are made by the developer's \
                 backend with GetOpenIdTokenForDeveloperIdentity"
            )));
        }
        let arns = oidc_arns(pool);
        let Some(oidc) = self
            .oidc
            .iter()
            .find(|p| p.name == provider && arns.contains(&p.arn))
        else {
            return Err(not_authorized(format!(
                "Invalid login token. Provider {provider} is not configured for this identity pool"
            )));
        };
        let subject = oidc
            .verify(token)
            .map_err(|e| not_authorized(format!("Invalid login token. {e}")))?;
        Ok(Verified::Linked {
            provider: provider.to_owned(),
            subject,
        })
    }

    fn verify_all(
        &self,
        pool: &PoolRecord,
        logins: &[(String, String)],
    ) -> IdentityResult<Vec<Verified>> {
        check_logins(logins)?;
        logins
            .iter()
            .map(|(p, t)| self.verify_login(pool, p, t))
            .collect()
    }

    /// Runs one login transaction: the store reads `query`, `decide` plans, the store applies.
    async fn login_transaction(
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
    fn new_identity(&self, pool_id: &str) -> IdentityRecord {
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
        let verified = self.verify_all(&pool, logins)?;
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
    /// Returns the pool and the identity's login providers.
    pub async fn authorize_identity(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
        link_new: bool,
    ) -> IdentityResult<(PoolRecord, Vec<String>)> {
        let (pool, verified) = self.identity_and_logins(identity_id, logins).await?;
        // An unauthenticated identity has no logins, hence no providers: nothing more to read.
        let Some(verified) = verified else {
            return Ok((pool, Vec::new()));
        };
        let query = login_rules::query_for(&verified, &[identity_id], &[]);
        let (pool_id, id) = (pool.id.clone(), identity_id.to_owned());
        self.login_transaction(
            &pool.id,
            query,
            Box::new(move |snapshot| {
                login_rules::plan_authorize(&pool_id, &id, &verified, link_new, snapshot)
            }),
        )
        .await?;
        let providers = self.login_providers(identity_id).await?;
        Ok((pool, providers))
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
            let verified = self.verify_all(&pool, logins)?;
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

    /// GetOpenIdToken.
    pub async fn open_id_token(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
    ) -> IdentityResult<OpenIdToken> {
        let (pool, providers) = self.authorize_identity(identity_id, logins, true).await?;
        let token = self.openid.issue(
            &pool.id,
            identity_id,
            &providers,
            OPENID_TTL_S,
            now_ms() / 1000,
        );
        Ok(OpenIdToken {
            identity_id: identity_id.to_owned(),
            token,
        })
    }

    fn developer_provider(pool: &PoolRecord) -> IdentityResult<&str> {
        pool.developer_provider_name.as_deref().ok_or_else(|| {
            IdentityError::InvalidParameter("The identity pool has no DeveloperProviderName".into())
        })
    }

    fn check_developer_provider(pool: &PoolRecord, provider: &str) -> IdentityResult<()> {
        validate::length(provider, "developerProviderName", 1, 128)?;
        if Self::developer_provider(pool)? != provider {
            return Err(IdentityError::InvalidParameter(format!(
                "Developer provider {provider} is not the identity pool's DeveloperProviderName"
            )));
        }
        Ok(())
    }

    /// GetOpenIdTokenForDeveloperIdentity: the identity of a developer-authenticated user
    /// (created or linked as needed) and an OpenID token for it.
    pub async fn open_id_token_for_developer(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        logins: &[(String, String)],
        token_duration_s: Option<i64>,
    ) -> IdentityResult<OpenIdToken> {
        let pool = self.describe_pool(pool_id).await?;
        let dev = Self::developer_provider(&pool)?.to_owned();
        check_logins(logins)?;
        let ttl = token_duration_s.unwrap_or(DEVELOPER_TOKEN_TTL_S);
        validate::range(ttl, "tokenDuration", 1, 86_400)?;
        let user = logins
            .iter()
            .find(|(p, _)| *p == dev)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| {
                IdentityError::InvalidParameter(format!(
                    "Logins must contain the developer provider {dev}"
                ))
            })?;
        validate::length(&user, "developerUserIdentifier", 1, 1024)?;
        let others: Vec<(String, String)> =
            logins.iter().filter(|(p, _)| *p != dev).cloned().collect();
        let others = self.verify_all(&pool, &others)?;
        if let Some(wanted) = identity_id {
            validate::aws_id(wanted, "identityId")?;
        }
        let user: LoginKey = (dev, user);
        let query = login_rules::query_for(
            &others,
            &identity_id.into_iter().collect::<Vec<_>>(),
            std::slice::from_ref(&user),
        );
        let (pool_id, wanted, new) = (
            pool.id.clone(),
            identity_id.map(str::to_owned),
            self.new_identity(&pool.id),
        );
        let plan = self
            .login_transaction(
                &pool.id,
                query,
                Box::new(move |snapshot| {
                    login_rules::plan_developer_login(
                        &pool_id,
                        &user,
                        wanted.as_deref(),
                        &others,
                        snapshot,
                        &new,
                    )
                }),
            )
            .await?;
        let target = plan.identity_id;
        let providers = self.login_providers(&target).await?;
        let token = self
            .openid
            .issue(&pool.id, &target, &providers, ttl, now_ms() / 1000);
        Ok(OpenIdToken {
            identity_id: target,
            token,
        })
    }

    /// LookupDeveloperIdentity: an identity and its developer user identifiers.
    pub async fn lookup_developer_identity(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        user: Option<&str>,
        max_results: Option<i64>,
    ) -> IdentityResult<(String, Vec<String>)> {
        let pool = self.describe_pool(pool_id).await?;
        if let Some(n) = max_results {
            validate::range(n, "maxResults", 1, 60)?;
        }
        let dev = Self::developer_provider(&pool)?.to_owned();
        let by_user = match user {
            Some(u) => {
                validate::length(u, "developerUserIdentifier", 1, 1024)?;
                Some(
                    self.store
                        .find_login(&pool.id, &dev, u)
                        .await?
                        .ok_or_else(|| {
                            IdentityError::NotFound(format!("Developer user '{u}' not found."))
                        })?,
                )
            }
            None => None,
        };
        let identity = match (identity_id, by_user) {
            (Some(given), Some(found)) if given != found => {
                return Err(IdentityError::Conflict(
                    "The IdentityId and DeveloperUserIdentifier belong to different identities"
                        .into(),
                ))
            }
            (_, Some(found)) => found,
            (Some(given), None) => {
                let i = self.describe_identity(given).await?;
                if i.pool_id != pool.id {
                    return Err(IdentityError::NotFound(format!(
                        "Identity '{given}' not found."
                    )));
                }
                i.id
            }
            (None, None) => {
                return Err(IdentityError::InvalidParameter(
                    "Either IdentityId or DeveloperUserIdentifier must be given".into(),
                ))
            }
        };
        let users = self
            .store
            .logins_of(&identity)
            .await?
            .into_iter()
            .filter(|(p, _)| *p == dev)
            .map(|(_, s)| s)
            .collect();
        Ok((identity, users))
    }

    /// MergeDeveloperIdentities: the source user's identity is merged into the destination's.
    pub async fn merge_developer_identities(
        &self,
        pool_id: &str,
        provider: &str,
        source_user: &str,
        destination_user: &str,
    ) -> IdentityResult<String> {
        let pool = self.describe_pool(pool_id).await?;
        Self::check_developer_provider(&pool, provider)?;
        validate::length(source_user, "sourceUserIdentifier", 1, 1024)?;
        validate::length(destination_user, "destinationUserIdentifier", 1, 1024)?;
        let source: LoginKey = (provider.to_owned(), source_user.to_owned());
        let destination: LoginKey = (provider.to_owned(), destination_user.to_owned());
        let query = LoginQuery {
            logins: vec![source.clone(), destination.clone()],
            identities: Vec::new(),
        };
        let plan = self
            .login_transaction(
                &pool.id,
                query,
                Box::new(move |snapshot| {
                    login_rules::plan_merge_developer_users(&source, &destination, snapshot)
                }),
            )
            .await?;
        Ok(plan.identity_id)
    }

    /// UnlinkDeveloperIdentity.
    pub async fn unlink_developer_identity(
        &self,
        pool_id: &str,
        identity_id: &str,
        provider: &str,
        user: &str,
    ) -> IdentityResult<()> {
        let pool = self.describe_pool(pool_id).await?;
        Self::check_developer_provider(&pool, provider)?;
        validate::aws_id(identity_id, "identityId")?;
        validate::length(user, "developerUserIdentifier", 1, 1024)?;
        let user: LoginKey = (provider.to_owned(), user.to_owned());
        let query = LoginQuery {
            logins: vec![user.clone()],
            identities: Vec::new(),
        };
        let id = identity_id.to_owned();
        self.login_transaction(
            &pool.id,
            query,
            Box::new(move |snapshot| login_rules::plan_unlink_developer_user(&user, &id, snapshot)),
        )
        .await?;
        Ok(())
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
        Ok(self
            .store
            .get_identity(identity_id)
            .await?
            .is_some_and(|i| i.pool_id == pool_id))
    }
}
