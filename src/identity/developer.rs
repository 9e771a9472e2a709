//! The developer-provider operations: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities and UnlinkDeveloperIdentity. Each write is
//! one store login transaction deciding with [`super::login_rules`].

use super::login_rules;
use super::logins::{check_logins, OpenIdToken, DEVELOPER_TOKEN_TTL_S};
use super::{validate, IdentityError, IdentityResult, IdentityService, PoolRecord};
use crate::store::{LoginKey, LoginQuery};
use crate::timeutil::now_ms;

impl IdentityService {
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
        if let Some(f) = self
            .forward(pool_id, crate::upstream::Intent::Write)
            .await?
        {
            return self
                .forward_open_id_token_for_developer(
                    f,
                    &pool,
                    identity_id,
                    logins,
                    token_duration_s,
                )
                .await;
        }
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
        // This operation models no ExternalServiceException: a provider that cannot be asked
        // is a failure of the server's (InternalErrorException, which SDKs retry).
        let others = self.verify_all(&pool, &others).await.map_err(|e| match e {
            IdentityError::ExternalService(m) => IdentityError::Internal(m),
            e => e,
        })?;
        // The token is issued for the developer user and the other logins presented, and
        // outlives no cogsync token among them.
        let now_s = now_ms() / 1000;
        let expires_s = login_rules::token_expiry(&others, ttl, now_s);
        if let Some(wanted) = identity_id {
            validate::aws_id(wanted, "identityId")?;
        }
        let user: LoginKey = (dev, user);
        let token_logins = login_rules::token_logins(&others, Some(&user));
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
        let token = self.openid.issue(
            &pool.id,
            &target,
            &providers,
            &token_logins,
            expires_s - now_s,
            now_s,
        );
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
        self.refuse_if_attached(pool_id, "MergeDeveloperIdentities")?;
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
        self.refuse_if_attached(pool_id, "UnlinkDeveloperIdentity")?;
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
}
