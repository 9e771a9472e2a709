//! The logins real apps use, through the official SDK against providers faked on loopback
//! (`fake_idp`): Google (discovery, keys rotating, the provider down and back), Apple,
//! Facebook (`debug_token`), Login with Amazon, a Cognito user pool; Twitter and SAML refused
//! with a reason; a pool that does not list a provider refuses its tokens; and the flags as
//! an operator gives them to a real process.

use aws_sdk_cognitoidentity as cid;
use cogsync::integrations::logins::ProviderSettings;
use cogsync::testing::idp::{now_s, SigningKey};
use serde_json::json;

use crate::common::*;
use crate::fake_idp::FakeIdp;
use crate::process;

const GOOGLE: &str = "accounts.google.com";
const GOOGLE_CLIENT: &str = "1234-web.apps.googleusercontent.com";
const ANDROID_CLIENT: &str = "1234-android.apps.googleusercontent.com";

/// A server reaching each `(provider, fake)` at the fake, with `facebook` secrets.
async fn server(fakes: &[(&str, &FakeIdp)], facebook: &[(&str, &str)]) -> TestServer {
    let settings = ProviderSettings {
        urls: fakes
            .iter()
            .map(|(name, f)| (name.to_string(), f.url().to_owned()))
            .collect(),
        facebook_app_secrets: facebook
            .iter()
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .collect(),
    };
    TestServer::start_custom(|c| c.providers = settings).await
}

/// A pool listing `providers` in SupportedLoginProviders, without guests.
async fn pool_with(s: &TestServer, providers: &[(&str, &str)]) -> String {
    let map: std::collections::HashMap<String, String> = providers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.identity()
        .create_identity_pool()
        .identity_pool_name("social")
        .allow_unauthenticated_identities(false)
        .set_supported_login_providers(Some(map))
        .send()
        .await
        .unwrap()
        .identity_pool_id
}

fn refused(r: Result<String, (String, String)>) -> (String, String) {
    r.expect_err("the login was accepted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_users_reach_their_identity_from_any_device_while_google_rotates_its_keys() {
    let (old, new) = (SigningKey::fixture(0, "g-1"), SigningKey::fixture(1, "g-2"));
    let google = FakeIdp::start("https://accounts.google.com", &[&old]).await;
    let s = server(&[(GOOGLE, &google)], &[]).await;
    let clients = format!("{GOOGLE_CLIENT};{ANDROID_CLIENT}");
    let pool = pool_with(&s, &[(GOOGLE, &clients)]).await;
    let token =
        |key: &SigningKey, sub: &str, extra| google.id_token(key, sub, GOOGLE_CLIENT, extra);

    // The web and the Android app (web client in aud, its own in azp) reach one identity.
    let web = get_id_with(&s, &pool, &[(GOOGLE, &token(&old, "alice", json!({})))])
        .await
        .unwrap();
    let android = token(&old, "alice", json!({"azp": ANDROID_CLIENT}));
    let phone = get_id_with(&s, &pool, &[(GOOGLE, &android)]).await.unwrap();
    assert_eq!(web, phone, "two devices of one Google user, two identities");
    // Google's other spelling of its issuer is Google too.
    let bare = token(&old, "alice", json!({"iss": "accounts.google.com"}));
    assert_eq!(
        get_id_with(&s, &pool, &[(GOOGLE, &bare)]).await.unwrap(),
        web
    );
    let creds = credentials_for(&s, &web, &[(GOOGLE, &android)])
        .await
        .unwrap();
    let sync = sync_as(&s.endpoint, creds);
    push(
        &sync,
        &pool,
        &web,
        "profile",
        vec![replace("name", "Alice", 0)],
    )
    .await
    .unwrap();
    // Another user is another identity; a token for another app is refused.
    let bob = get_id_with(&s, &pool, &[(GOOGLE, &token(&old, "bob", json!({})))])
        .await
        .unwrap();
    assert_ne!(bob, web);
    let elsewhere = google.id_token(
        &old,
        "alice",
        "other-app.apps.googleusercontent.com",
        json!({}),
    );
    let (code, message) = refused(get_id_with(&s, &pool, &[(GOOGLE, &elsewhere)]).await);
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(
        message,
        "Token is not from a supported provider of this identity pool."
    );
    // Five logins, one fetch of the discovery document and of the keys.
    assert_eq!(google.fetches(), (1, 1));

    // Google rotates: the old key is gone, the new one signs. No restart, no file.
    google.publish(&[&new]);
    let rotated = token(&new, "alice", json!({}));
    assert_eq!(
        get_id_with(&s, &pool, &[(GOOGLE, &rotated)]).await.unwrap(),
        web
    );
    assert_eq!(
        google.fetches(),
        (2, 2),
        "the unknown key made the keys fetched again"
    );
    // A token of the retired key no longer verifies, and made-up key ids do not make the
    // provider asked again and again.
    let (_, message) =
        refused(get_id_with(&s, &pool, &[(GOOGLE, &token(&old, "alice", json!({})))]).await);
    assert_eq!(
        message,
        "Invalid login token. Couldn't verify signed token."
    );
    for n in 0..20 {
        let forged = SigningKey::fixture(0, &format!("made-up-{n}"));
        let (code, _) =
            refused(get_id_with(&s, &pool, &[(GOOGLE, &token(&forged, "alice", json!({})))]).await);
        assert_eq!(code, "NotAuthorizedException");
    }
    assert_eq!(
        google.fetches(),
        (2, 2),
        "made-up key ids hammered the provider"
    );
    // Expired, and not a JWT at all: refused in Cognito's words.
    let expired = token(&new, "alice", json!({"exp": now_s() - 600}));
    let (_, message) = refused(get_id_with(&s, &pool, &[(GOOGLE, &expired)]).await);
    assert!(
        message.starts_with("Invalid login token. Token expired: "),
        "{message}"
    );
    let (_, message) = refused(get_id_with(&s, &pool, &[(GOOGLE, "ya29.an-access-token")]).await);
    assert_eq!(
        message,
        "Invalid login token. Not a valid OpenId Connect identity token."
    );
    // The data written with the first key's token is there with the rotated one.
    let creds = credentials_for(&s, &web, &[(GOOGLE, &rotated)])
        .await
        .unwrap();
    let (records, _) = pull(&sync_as(&s.endpoint, creds), &pool, &web, "profile", 0).await;
    assert_eq!(records[0].value(), Some("Alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_cannot_be_reached_is_an_external_service_failure_until_it_answers() {
    let key = SigningKey::fixture(0, "g-1");
    let google = FakeIdp::start("https://accounts.google.com", &[&key]).await;
    google.set_down(true);
    let s = server(&[(GOOGLE, &google)], &[]).await;
    let pool = pool_with(&s, &[(GOOGLE, GOOGLE_CLIENT)]).await;
    let token = google.id_token(&key, "carol", GOOGLE_CLIENT, json!({}));
    let (code, message) = refused(get_id_with(&s, &pool, &[(GOOGLE, &token)]).await);
    assert_eq!(code, "ExternalServiceException", "{message}");
    assert!(message.contains(GOOGLE), "{message}");
    // Back up: the next attempts succeed (a failed provider is asked again within a second).
    google.set_down(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let carol = loop {
        match get_id_with(&s, &pool, &[(GOOGLE, &token)]).await {
            Ok(id) => break id,
            Err((code, _)) if code == "ExternalServiceException" => {
                assert!(std::time::Instant::now() < deadline, "never recovered");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    // Down again: the keys in hand are fresh, so logins go on.
    google.set_down(true);
    assert_eq!(
        get_id_with(&s, &pool, &[(GOOGLE, &token)]).await.unwrap(),
        carol
    );
    credentials_for(&s, &carol, &[(GOOGLE, &token)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_id_tokens_count_for_the_pools_bundle_id_only() {
    const APPLE: &str = "appleid.apple.com";
    let key = SigningKey::fixture(1, "apple-1");
    let apple = FakeIdp::start("https://appleid.apple.com", &[&key]).await;
    let s = server(&[(APPLE, &apple)], &[]).await;
    let pool = pool_with(&s, &[(APPLE, "com.example.notes")]).await;
    let sub = "001968.a6ca34e9c1e742458a26cf8005854be9.0733";
    let token = apple.id_token(&key, sub, "com.example.notes", json!({}));
    let first = get_id_with(&s, &pool, &[(APPLE, &token)]).await.unwrap();
    assert_eq!(
        get_id_with(&s, &pool, &[(APPLE, &token)]).await.unwrap(),
        first
    );
    credentials_for(&s, &first, &[(APPLE, &token)])
        .await
        .unwrap();
    let web = apple.id_token(&key, sub, "com.example.web-service", json!({}));
    let (code, _) = refused(get_id_with(&s, &pool, &[(APPLE, &web)]).await);
    assert_eq!(code, "NotAuthorizedException");
    // A Google token under Apple's key: its issuer is not Apple's.
    let google = FakeIdp::start("https://accounts.google.com", &[&key]).await;
    let wrong = google.id_token(&key, sub, "com.example.notes", json!({}));
    let (_, message) = refused(get_id_with(&s, &pool, &[(APPLE, &wrong)]).await);
    assert_eq!(
        message,
        "Invalid login token. Issuer doesn't match providerName"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_tokens_are_checked_with_debug_token_for_the_pools_app() {
    const FACEBOOK: &str = "graph.facebook.com";
    let graph = FakeIdp::start("https://www.facebook.com", &[]).await;
    graph.facebook_app("1122334455", "app-secret-shh");
    let user = |user_id: &str, app_id: &str| {
        json!({"app_id": app_id, "type": "USER", "application": "Notes", "is_valid": true,
               "expires_at": now_s() + 5000, "data_access_expires_at": now_s() + 90 * 86400,
               "scopes": ["public_profile"], "user_id": user_id})
    };
    graph.facebook_token("EAAB-alice", user("10158000000000001", "1122334455"));
    graph.facebook_token("EAAB-alice-phone", user("10158000000000001", "1122334455"));
    graph.facebook_token("EAAB-other-app", user("10158000000000001", "9999999999"));
    graph.facebook_token(
        "EAAB-expired",
        json!({"app_id": "1122334455", "type": "USER", "is_valid": false, "user_id": "10158000000000001",
               "expires_at": now_s() - 100,
               "error": {"code": 190, "subcode": 463, "message": "Error validating access token: Session has expired"}}),
    );
    let s = server(&[(FACEBOOK, &graph)], &[("1122334455", "app-secret-shh")]).await;
    let pool = pool_with(&s, &[(FACEBOOK, "1122334455")]).await;
    let alice = get_id_with(&s, &pool, &[(FACEBOOK, "EAAB-alice")])
        .await
        .unwrap();
    assert_eq!(
        get_id_with(&s, &pool, &[(FACEBOOK, "EAAB-alice-phone")])
            .await
            .unwrap(),
        alice,
        "the same Facebook user on a second device"
    );
    credentials_for(&s, &alice, &[(FACEBOOK, "EAAB-alice")])
        .await
        .unwrap();
    let (code, message) = refused(get_id_with(&s, &pool, &[(FACEBOOK, "EAAB-other-app")]).await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "NotAuthorizedException",
            "Token is not from a supported provider of this identity pool."
        )
    );
    let (code, message) = refused(get_id_with(&s, &pool, &[(FACEBOOK, "EAAB-expired")]).await);
    assert_eq!(code, "NotAuthorizedException");
    assert!(message.contains("Session has expired"), "{message}");
    let (code, _) = refused(get_id_with(&s, &pool, &[(FACEBOOK, "garbage")]).await);
    assert_eq!(code, "NotAuthorizedException");
    // Graph down: the login may be fine, so the answer says the provider failed.
    graph.set_down(true);
    let (code, _) = refused(get_id_with(&s, &pool, &[(FACEBOOK, "EAAB-alice")]).await);
    assert_eq!(code, "ExternalServiceException");
    graph.set_down(false);

    // A pool of an app cogsync has no secret for, or a wrong secret: the operator's to fix.
    let other = pool_with(&s, &[(FACEBOOK, "9999999999")]).await;
    let calls = graph.facebook_calls();
    let (code, message) = refused(get_id_with(&s, &other, &[(FACEBOOK, "EAAB-other-app")]).await);
    assert_eq!(code, "ExternalServiceException");
    assert!(
        message.contains("no app secret for Facebook app 9999999999"),
        "{message}"
    );
    assert_eq!(
        graph.facebook_calls(),
        calls,
        "Graph was asked without an app token"
    );
    let wrong = server(&[(FACEBOOK, &graph)], &[("1122334455", "not-the-secret")]).await;
    let pool = pool_with(&wrong, &[(FACEBOOK, "1122334455")]).await;
    let (code, message) = refused(get_id_with(&wrong, &pool, &[(FACEBOOK, "EAAB-alice")]).await);
    assert_eq!(code, "ExternalServiceException");
    assert!(
        !message.contains("not-the-secret"),
        "the secret was shown: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_tokens_are_checked_with_tokeninfo_and_the_user_is_the_profiles() {
    const AMAZON: &str = "www.amazon.com";
    const CLIENT: &str = "amzn1.application-oa2-client.9d70c2cd9b2e4d7c";
    let lwa = FakeIdp::start("https://www.amazon.com", &[]).await;
    let user = "amzn1.account.AGHNIFJQMFSBG3G6XCPVB35ORQAA";
    let info = |aud: &str| {
        json!({"aud": aud, "user_id": user, "iss": "https://www.amazon.com", "exp": 3597,
               "app_id": "amzn1.application.d65c2b8e", "iat": now_s()})
    };
    lwa.amazon_token(
        "Atza|alice",
        info(CLIENT),
        json!({"user_id": user, "name": "Alice"}),
    );
    lwa.amazon_token(
        "Atza|elsewhere",
        info("amzn1.application-oa2-client.other"),
        json!({"user_id": user}),
    );
    let s = server(&[(AMAZON, &lwa)], &[]).await;
    let pool = pool_with(&s, &[(AMAZON, CLIENT)]).await;
    let alice = get_id_with(&s, &pool, &[(AMAZON, "Atza|alice")])
        .await
        .unwrap();
    assert_eq!(
        get_id_with(&s, &pool, &[(AMAZON, "Atza|alice")])
            .await
            .unwrap(),
        alice
    );
    credentials_for(&s, &alice, &[(AMAZON, "Atza|alice")])
        .await
        .unwrap();
    let (code, _) = refused(get_id_with(&s, &pool, &[(AMAZON, "Atza|elsewhere")]).await);
    assert_eq!(code, "NotAuthorizedException");
    let (code, message) = refused(get_id_with(&s, &pool, &[(AMAZON, "Atza|expired")]).await);
    assert_eq!(code, "NotAuthorizedException");
    assert!(message.contains("invalid parameter"), "{message}");
    // The application id is accepted as the pool's value too (sources disagree on which).
    let by_app = pool_with(&s, &[(AMAZON, "amzn1.application.d65c2b8e")]).await;
    get_id_with(&s, &by_app, &[(AMAZON, "Atza|alice")])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_pools_id_tokens_count_and_its_access_tokens_do_not() {
    let name = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E";
    let key = SigningKey::fixture(0, "up-1");
    let user_pool = FakeIdp::start(&format!("https://{name}"), &[&key]).await;
    let s = server(&[(name, &user_pool)], &[]).await;
    let provider = |client: &str| {
        cid::types::CognitoIdentityProvider::builder()
            .provider_name(name)
            .client_id(client)
            .server_side_token_check(false)
            .build()
    };
    let pool = s
        .identity()
        .create_identity_pool()
        .identity_pool_name("userpool")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(provider("webclient1"))
        .cognito_identity_providers(provider("mobileclient2"))
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let sub = "6d3f1c3a-93c8-4bd5-a2b3-7b0e9a1f0c11";
    let id_token = |client: &str| {
        user_pool.id_token(
            &key,
            sub,
            client,
            json!({"token_use": "id", "cognito:username": "dana"}),
        )
    };
    let dana = get_id_with(&s, &pool, &[(name, &id_token("webclient1"))])
        .await
        .unwrap();
    assert_eq!(
        get_id_with(&s, &pool, &[(name, &id_token("mobileclient2"))])
            .await
            .unwrap(),
        dana,
        "one user of the user pool through two of its app clients"
    );
    credentials_for(&s, &dana, &[(name, &id_token("mobileclient2"))])
        .await
        .unwrap();
    // An access token has client_id, not aud: refused as Cognito refuses it.
    let access = key.sign(&json!({
        "iss": format!("https://{name}"), "sub": sub, "client_id": "webclient1",
        "token_use": "access", "scope": "aws.cognito.signin.user.admin",
        "exp": now_s() + 3600, "iat": now_s(),
    }));
    let (_, message) = refused(get_id_with(&s, &pool, &[(name, &access)]).await);
    assert_eq!(
        message,
        "Invalid login token. Missing a required claim: aud"
    );
    let (code, _) = refused(get_id_with(&s, &pool, &[(name, &id_token("stranger"))]).await);
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(
        user_pool.fetches().1,
        1,
        "the user pool's keys were fetched once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twitter_saml_and_unlisted_providers_are_refused_with_a_reason() {
    let key = SigningKey::fixture(0, "g-1");
    let google = FakeIdp::start("https://accounts.google.com", &[&key]).await;
    let s = server(&[(GOOGLE, &google)], &[]).await;
    let pool = pool_with(&s, &[("api.twitter.com", "consumerkey;consumersecret")]).await;
    let (code, message) =
        refused(get_id_with(&s, &pool, &[("api.twitter.com", "oauthtoken;oauthsecret")]).await);
    assert_eq!(code, "NotAuthorizedException");
    assert!(message.contains("not supported by cogsync"), "{message}");
    let saml = "arn:aws:iam::123456789012:saml-provider/corp";
    let (_, message) = refused(get_id_with(&s, &pool, &[(saml, "PHNhbWxwOlJlc3BvbnNlPg==")]).await);
    assert!(message.contains("SAML logins"), "{message}");
    // A valid Google token on a pool that does not list Google.
    let token = google.id_token(&key, "erin", GOOGLE_CLIENT, json!({}));
    let (_, message) = refused(get_id_with(&s, &pool, &[(GOOGLE, &token)]).await);
    assert_eq!(
        message,
        "Token is not from a supported provider of this identity pool."
    );
    assert_eq!(
        google.fetches(),
        (0, 0),
        "a provider the pool does not list was asked"
    );
}

/// The operator's flags and secrets, as a real process takes them: `--provider-url` in the
/// config file, the Facebook secret in the environment, never in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_process_takes_provider_urls_and_secrets_and_never_logs_a_secret() {
    let key = SigningKey::fixture(0, "g-1");
    let google = FakeIdp::start("https://accounts.google.com", &[&key]).await;
    let graph = FakeIdp::start("https://www.facebook.com", &[]).await;
    graph.facebook_app("5566", "right-secret");
    graph.facebook_token(
        "EAAB-frank",
        json!({"app_id": "5566", "type": "USER", "is_valid": true, "expires_at": 0, "user_id": "777"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cogsync.toml");
    std::fs::write(
        &config,
        format!(
            "provider-url = [\"accounts.google.com={}\", \"graph.facebook.com={}\"]\n",
            google.url(),
            graph.url()
        ),
    )
    .unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let secrets = "5566=wrong-secret-9f2c,8899=second-secret-4d1a";
    let mut server = process::spawn_logging(
        &data,
        Some((ACCESS_KEY, SECRET_KEY)),
        &["--config", config.to_str().unwrap()],
        &[
            ("COGSYNC_FACEBOOK_APP_SECRETS", secrets),
            ("RUST_LOG", "debug"),
        ],
        Some(&log),
    );
    let ids = identity_client(&server.endpoint, ACCESS_KEY, SECRET_KEY);
    let mut providers = std::collections::HashMap::new();
    providers.insert(GOOGLE.to_string(), GOOGLE_CLIENT.to_string());
    providers.insert("graph.facebook.com".to_string(), "5566".to_string());
    let pool = ids
        .create_identity_pool()
        .identity_pool_name("flags")
        .allow_unauthenticated_identities(false)
        .set_supported_login_providers(Some(providers))
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let token = google.id_token(&key, "frank", GOOGLE_CLIENT, json!({}));
    ids.get_id()
        .identity_pool_id(&pool)
        .logins(GOOGLE, token)
        .send()
        .await
        .unwrap();
    let e = ids
        .get_id()
        .identity_pool_id(&pool)
        .logins("graph.facebook.com", "EAAB-frank")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).0, "ExternalServiceException");
    assert!(process::sigterm(&mut server).success());
    let output = std::fs::read_to_string(&log).unwrap() + &server.stdout.join("\n");
    assert!(
        output.contains("ExternalServiceException"),
        "the failed login was not logged:\n{output}"
    );
    for secret in ["wrong-secret-9f2c", "second-secret-4d1a"] {
        assert!(
            !output.contains(secret),
            "a secret reached the log:\n{output}"
        );
    }
}

/// An `--oidc-providers` entry with an issuer and no keys: the keys come by discovery, and
/// AWS's OIDC rule holds (`azp`, when the token has one, must be a listed client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_provider_given_by_its_issuer_alone_is_found_by_discovery() {
    let host = "login.example.net";
    let arn = format!("arn:aws:iam::123456789012:oidc-provider/{host}");
    let key = SigningKey::fixture(1, "oidc-1");
    let idp = FakeIdp::start(&format!("https://{host}"), &[&key]).await;
    let provider = cogsync::identity::oidc_verify::OidcProvider::discovered(
        arn.clone(),
        format!("https://{host}"),
        vec!["notes-app".into()],
    );
    let urls = [(host.to_string(), idp.url().to_owned())]
        .into_iter()
        .collect();
    let s = TestServer::start_custom(|c| {
        c.oidc_providers = vec![provider];
        c.providers.urls = urls;
    })
    .await;
    let pool = s
        .identity()
        .create_identity_pool()
        .identity_pool_name("oidc")
        .allow_unauthenticated_identities(false)
        .open_id_connect_provider_arns(arn)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let token = idp.id_token(&key, "gina", "notes-app", json!({}));
    let gina = get_id_with(&s, &pool, &[(host, &token)]).await.unwrap();
    credentials_for(&s, &gina, &[(host, &token)]).await.unwrap();
    assert_eq!(idp.fetches(), (1, 1));
    let for_another_party = idp.id_token(&key, "gina", "notes-app", json!({"azp": "someone-else"}));
    let (code, _) = refused(get_id_with(&s, &pool, &[(host, &for_another_party)]).await);
    assert_eq!(code, "NotAuthorizedException");
}
