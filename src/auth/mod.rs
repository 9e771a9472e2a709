//! Authentication: SigV4 verification and the principal a request acts as, from developer
//! credentials or from temporary credentials vended to a Cognito identity.

pub mod credentials;
pub mod session;
pub mod sigv4;

pub use credentials::DeveloperCredentials;
pub use session::{SessionIdentity, SessionIssuer, TemporaryCredentials};
pub use sigv4::{AuthError, RequestView};

use time::OffsetDateTime;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The server's developer (account) credentials: may administer pools and act for any
    /// identity.
    Developer { access_key_id: String },
    /// Temporary credentials vended by Cognito Identity, bound to one identity of one pool.
    Identity {
        access_key_id: String,
        pool_id: String,
        identity_id: String,
        /// The identity's credentials at the pool's upstream, when vended while attached.
        upstream: Option<crate::upstream::UpstreamCredentials>,
    },
}

/// Verifies signatures against the credentials the server knows.
pub struct Authenticator {
    developer: DeveloperCredentials,
    sessions: SessionIssuer,
}

impl Authenticator {
    pub fn new(developer: DeveloperCredentials, sessions: SessionIssuer) -> Self {
        Authenticator {
            developer,
            sessions,
        }
    }

    /// The developer credentials (for the console's sign-in).
    pub fn developer(&self) -> &DeveloperCredentials {
        &self.developer
    }

    /// Temporary credentials for an identity (what GetCredentialsForIdentity returns), with its
    /// upstream credentials inside when its pool is attached.
    pub fn issue_credentials(
        &self,
        pool_id: &str,
        identity_id: &str,
        upstream: Option<&crate::upstream::UpstreamCredentials>,
    ) -> std::io::Result<TemporaryCredentials> {
        self.sessions
            .issue(pool_id, identity_id, upstream, crate::timeutil::now_ms())
    }

    /// Verifies `req` as signed for `service` (`cognito-sync` or `cognito-identity`).
    pub fn authenticate(
        &self,
        req: &RequestView<'_>,
        service: &str,
    ) -> Result<Principal, AuthError> {
        self.authenticate_at(req, service, OffsetDateTime::now_utc())
    }

    pub fn authenticate_at(
        &self,
        req: &RequestView<'_>,
        service: &str,
        now: OffsetDateTime,
    ) -> Result<Principal, AuthError> {
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut session: Option<SessionIdentity> = None;
        let verified = sigv4::verify(req, service, now, |key, token| {
            if key == self.developer.access_key_id {
                // A session token alongside the developer key (a stale AWS_SESSION_TOKEN in
                // the environment) is ignored: the signature already proves the secret.
                return Ok(self.developer.secret_access_key.clone());
            }
            let token = token.ok_or(AuthError::UnrecognizedClient)?;
            let (secret, who) = self.sessions.verify(key, token, now_ms)?;
            session = Some(who);
            Ok(secret)
        })?;
        Ok(match session {
            None => Principal::Developer {
                access_key_id: verified.access_key_id,
            },
            Some(who) => Principal::Identity {
                access_key_id: verified.access_key_id,
                pool_id: who.pool_id,
                identity_id: who.identity_id,
                upstream: who.upstream,
            },
        })
    }
}
