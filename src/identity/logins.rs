//! Logins, authenticated identities and merges: GetId with Logins, the authentication of the
//! unsigned per-identity calls (GetCredentialsForIdentity, GetOpenIdToken, UnlinkIdentity), the
//! developer-provider operations and DeleteIdentities.
//!
//! A login is a (provider, subject) pair linked to at most one identity of a pool. When one
//! request presents logins owned by several identities, they become one: the others are merged
//! into the surviving identity (see [`Store::merge_identity`](crate::store::Store)).

use super::{
    pool_not_found, validate, IdentityError, IdentityRecord, IdentityResult, IdentityService,
    PoolRecord, COGNITO_PROVIDER,
};
use crate::store::StoreError;
use crate::timeutil::now_ms;

/// Lifetime of a GetOpenIdToken token (the AWS value: ten minutes).
const OPENID_TTL_S: i64 = 600;
/// Default TokenDuration of GetOpenIdTokenForDeveloperIdentity (the AWS value: fifteen minutes).
const DEVELOPER_TOKEN_TTL_S: i64 = 900;

/// A login whose token checked out.
enum Verified {
    /// A cogsync-issued OpenID token: proves one identity directly.
    Cognito { identity_id: String },
    /// A provider's user, linkable to one identity.
    Linked { provider: String, subject: String },
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

    /// For each verified login, the identity that owns it (None: not linked yet).
    async fn owners(
        &self,
        pool: &PoolRecord,
        verified: &[Verified],
    ) -> IdentityResult<Vec<Option<String>>> {
        let mut owners = Vec::with_capacity(verified.len());
        for v in verified {
            owners.push(match v {
                Verified::Cognito { identity_id } => {
                    match self.store.get_identity(identity_id).await? {
                        Some(i) if i.pool_id == pool.id => Some(i.id),
                        _ => {
                            return Err(not_authorized(
                                "Invalid login token. Its identity no longer exists.",
                            ))
                        }
                    }
                }
                Verified::Linked { provider, subject } => {
                    self.store.find_login(&pool.id, provider, subject).await?
                }
            });
        }
        Ok(owners)
    }

    /// Makes `target` own every verified login: merges the other owners into it and links the
    /// logins not linked yet.
    async fn consolidate(
        &self,
        pool: &PoolRecord,
        target: &str,
        verified: &[Verified],
        owners: &[Option<String>],
    ) -> IdentityResult<()> {
        let mut merged: Vec<&str> = Vec::new();
        for owner in owners.iter().flatten() {
            if owner != target && !merged.contains(&owner.as_str()) {
                self.store.merge_identity(owner, target, now_ms()).await?;
                merged.push(owner);
            }
        }
        for v in verified {
            if let Verified::Linked { provider, subject } = v {
                match self
                    .store
                    .add_login(&pool.id, provider, subject, target)
                    .await
                {
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    async fn create_identity(&self, pool_id: &str) -> IdentityResult<IdentityRecord> {
        let now = now_ms();
        let identity = IdentityRecord {
            id: self.new_id(),
            pool_id: pool_id.to_owned(),
            created_ms: now,
            last_modified_ms: now,
        };
        self.store.create_identity(&identity).await?;
        Ok(identity)
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
            return self.create_identity(&pool.id).await;
        }
        let verified = self.verify_all(&pool, logins)?;
        let owners = self.owners(&pool, &verified).await?;
        // The survivor: the identity a cogsync token proves, else the oldest owner, else new.
        let proven = verified.iter().zip(&owners).find_map(|(v, o)| match v {
            Verified::Cognito { .. } => o.clone(),
            Verified::Linked { .. } => None,
        });
        let target = match proven {
            Some(id) => id,
            None => {
                let mut oldest: Option<IdentityRecord> = None;
                for id in owners.iter().flatten() {
                    if let Some(i) = self.store.get_identity(id).await? {
                        if oldest
                            .as_ref()
                            .is_none_or(|o| (i.created_ms, &i.id) < (o.created_ms, &o.id))
                        {
                            oldest = Some(i);
                        }
                    }
                }
                match oldest {
                    Some(i) => i.id,
                    None => self.create_identity(&pool.id).await?.id,
                }
            }
        };
        self.consolidate(&pool, &target, &verified, &owners).await?;
        self.describe_identity(&target).await
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
        let identity = self.describe_identity(identity_id).await?;
        let pool = self
            .store
            .get_pool(&identity.pool_id)
            .await?
            .ok_or_else(|| pool_not_found(&identity.pool_id))?;
        if logins.is_empty() {
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
            return Ok((pool, Vec::new()));
        }
        let verified = self.verify_all(&pool, logins)?;
        let owners = self.owners(&pool, &verified).await?;
        for (v, owner) in verified.iter().zip(&owners) {
            let proves_this = owner.as_deref() == Some(identity_id);
            let linkable = link_new && matches!(v, Verified::Linked { .. });
            if !proves_this && !linkable {
                return Err(not_authorized(
                    "Invalid login token. It does not belong to this identity.",
                ));
            }
        }
        if link_new {
            self.consolidate(&pool, identity_id, &verified, &owners)
                .await?;
        }
        let providers = self.login_providers(identity_id).await?;
        Ok((pool, providers))
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
        let verified = self.verify_all(&pool, &others)?;
        let owners = self.owners(&pool, &verified).await?;

        let linked = self.store.find_login(&pool.id, &dev, &user).await?;
        let target = match (identity_id, linked) {
            (Some(wanted), Some(owner)) if wanted != owner => {
                return Err(IdentityError::DeveloperUserAlreadyRegistered(
                    "The provided developer user identifier is already registered with Cognito under a different identity ID."
                        .into(),
                ))
            }
            (Some(wanted), _) => {
                validate::aws_id(wanted, "identityId")?;
                match self.store.get_identity(wanted).await? {
                    Some(i) if i.pool_id == pool.id => i.id,
                    _ => return Err(IdentityError::NotFound(format!("Identity '{wanted}' not found."))),
                }
            }
            (None, Some(owner)) => owner,
            (None, None) => self.create_identity(&pool.id).await?.id,
        };
        match self.store.add_login(&pool.id, &dev, &user, &target).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.consolidate(&pool, &target, &verified, &owners).await?;
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
        let source = self
            .store
            .find_login(&pool.id, provider, source_user)
            .await?
            .ok_or_else(|| {
                IdentityError::NotFound(format!("Developer user '{source_user}' not found."))
            })?;
        let dest = self
            .store
            .find_login(&pool.id, provider, destination_user)
            .await?
            .ok_or_else(|| {
                IdentityError::NotFound(format!("Developer user '{destination_user}' not found."))
            })?;
        if source != dest {
            self.store.merge_identity(&source, &dest, now_ms()).await?;
        }
        Ok(dest)
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
        if self
            .store
            .remove_login(&pool.id, provider, user, identity_id)
            .await?
        {
            Ok(())
        } else {
            Err(IdentityError::NotFound(format!(
                "Developer user '{user}' is not linked to identity '{identity_id}'."
            )))
        }
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
        let (pool, _) = self.authorize_identity(identity_id, logins, false).await?;
        for (provider, subject) in self.store.logins_of(identity_id).await? {
            if to_remove.contains(&provider) {
                self.store
                    .remove_login(&pool.id, &provider, &subject, identity_id)
                    .await?;
            }
        }
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
