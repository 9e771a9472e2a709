//! cogsync's own OpenID tokens (`cognito-identity.amazonaws.com` logins) revoke as their
//! issuer means them to: a token proves its identity only while the identity still has the
//! login it was issued for (or, a guest's token, while it has none and its pool still allows
//! guests), and a token never mints a token that outlives it.

use base64::Engine;

use crate::common::*;

const COGNITO: &str = "cognito-identity.amazonaws.com";
const DEV: &str = "login.myapp";

/// A token's `exp` claim.
fn expiry(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["exp"]
        .as_i64()
        .unwrap()
}

/// GetOpenIdToken with `token` as the Cognito login.
async fn renew(s: &TestServer, id: &str, token: &str) -> Result<String, (String, String)> {
    s.identity()
        .get_open_id_token()
        .identity_id(id)
        .logins(COGNITO, token)
        .send()
        .await
        .map(|o| o.token.unwrap())
        .map_err(|e| code_of(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_mints_a_token_that_outlives_it() {
    let s = TestServer::start().await;
    let pool = login_pool(&s, false).await;
    let out = s
        .identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "user-1")
        .token_duration(60)
        .send()
        .await
        .unwrap();
    let (id, first) = (out.identity_id.unwrap(), out.token.unwrap());
    let second = renew(&s, &id, &first).await.unwrap();
    assert!(
        expiry(&second) <= expiry(&first),
        "a one-minute token was renewed into a longer one: {} > {}",
        expiry(&second),
        expiry(&first)
    );
    let third = renew(&s, &id, &second).await.unwrap();
    assert!(expiry(&third) <= expiry(&first));
    // A token of its own kind is still ten minutes long.
    let google_like = oidc().token(0, "alice", OIDC_AUDIENCE, 3600);
    let alice = get_id_with(&s, &pool, &[(oidc().name(0), &google_like)])
        .await
        .unwrap();
    let t = s
        .identity()
        .get_open_id_token()
        .identity_id(&alice)
        .logins(oidc().name(0), &google_like)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 590..=now + 610).contains(&expiry(&t)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_token_stops_working_once_its_user_is_unlinked() {
    let s = TestServer::start().await;
    let pool = login_pool(&s, false).await;
    let out = s
        .identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "user-2")
        .send()
        .await
        .unwrap();
    let (id, token) = (out.identity_id.unwrap(), out.token.unwrap());
    // It works, and so does a token renewed from it.
    let renewed = renew(&s, &id, &token).await.unwrap();
    credentials_for(&s, &id, &[(COGNITO, &renewed)])
        .await
        .unwrap();

    s.identity()
        .unlink_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .developer_provider_name(DEV)
        .developer_user_identifier("user-2")
        .send()
        .await
        .unwrap();
    for t in [&token, &renewed] {
        let (code, message) = credentials_for(&s, &id, &[(COGNITO, t)]).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{message}");
        let (code, _) = renew(&s, &id, t).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException");
    }
    // The identity linked to another developer user: tokens issued for the first stay refused.
    s.identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .logins(DEV, "user-3")
        .send()
        .await
        .unwrap();
    let (code, _) = credentials_for(&s, &id, &[(COGNITO, &token)])
        .await
        .unwrap_err();
    assert_eq!(
        code, "NotAuthorizedException",
        "issued for user-2, not user-3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_token_stops_working_when_the_pool_stops_allowing_guests() {
    let s = TestServer::start().await;
    let pool = s.new_pool(true).await;
    let id = s.new_identity(&pool).await;
    let guest = s
        .identity()
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    credentials_for(&s, &id, &[(COGNITO, &guest)])
        .await
        .unwrap();
    let described = s
        .identity()
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    s.identity()
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name(described.identity_pool_name())
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    let (code, message) = credentials_for(&s, &id, &[(COGNITO, &guest)])
        .await
        .unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(
        message,
        "Unauthenticated access is not supported for this identity pool."
    );
    let (code, _) = renew(&s, &id, &guest).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_token_proves_nothing_once_its_identity_signed_in() {
    let s = TestServer::start().await;
    let pool = login_pool(&s, true).await;
    let id = s.new_identity(&pool).await;
    let guest = s
        .identity()
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let google_like = oidc().token(0, "bob", OIDC_AUDIENCE, 3600);
    credentials_for(&s, &id, &[(oidc().name(0), &google_like)])
        .await
        .unwrap();
    let (code, _) = credentials_for(&s, &id, &[(COGNITO, &guest)])
        .await
        .unwrap_err();
    assert_eq!(
        code, "NotAuthorizedException",
        "the signed-in identity is no guest's any more"
    );
}
