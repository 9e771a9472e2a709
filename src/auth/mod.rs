//! Authentication: SigV4 verification and the principal a request acts as.

pub mod credentials;
pub mod sigv4;

pub use credentials::DeveloperCredentials;
pub use sigv4::{AuthError, RequestView};

use time::OffsetDateTime;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The server's developer (account) credentials: may administer pools and act for any
    /// identity.
    Developer { access_key_id: String },
    /// Temporary credentials vended by Cognito Identity, bound to one identity of one pool.
    /// (Issued by a later version; the type exists so access rules can be written against it.)
    Identity {
        access_key_id: String,
        pool_id: String,
        identity_id: String,
    },
}

/// Verifies signatures against the credentials the server knows.
pub struct Authenticator {
    developer: DeveloperCredentials,
}

impl Authenticator {
    pub fn new(developer: DeveloperCredentials) -> Self {
        Authenticator { developer }
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
        let dev = &self.developer;
        let verified = sigv4::verify(req, service, now, |key, _token| {
            (key == dev.access_key_id).then(|| dev.secret_access_key.clone())
        })?;
        Ok(Principal::Developer {
            access_key_id: verified.access_key_id,
        })
    }
}
