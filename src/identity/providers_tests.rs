//! Which provider a Logins key names, what its answers mean, and ID tokens checked, without a
//! network.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::identity::id_tokens::{self, Expect, Refusal, NOT_A_TOKEN, UNVERIFIABLE};
use crate::store::{CognitoIdentityProvider, PoolDetails};
use crate::testing::idp::{jwks, now_s, SigningKey};

fn pool(details: PoolDetails) -> PoolRecord {
    PoolRecord {
        id: "us-east-1:00000000-0000-0000-0000-000000000001".into(),
        name: "p".into(),
        allow_unauthenticated: false,
        developer_provider_name: None,
        details,
        created_ms: 1,
    }
}

fn supported(pairs: &[(&str, &str)]) -> PoolRecord {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pool(PoolDetails {
        supported_login_providers: Some(map),
        ..Default::default()
    })
}

fn id_check(c: Result<Check, String>) -> IdTokenCheck {
    match c {
        Ok(Check::IdToken(c)) => c,
        other => panic!("not an ID token check: {other:?}"),
    }
}

#[test]
fn public_providers_are_checked_as_aws_checks_them() {
    let p = supported(&[
        (
            GOOGLE,
            "web.apps.googleusercontent.com;android.apps.googleusercontent.com",
        ),
        (APPLE, "com.example.app"),
        (FACEBOOK, "1234567890"),
        (AMAZON, "amzn1.application-oa2-client.abc"),
        ("api.twitter.com", "key;secret"),
    ]);
    let google = id_check(check_for(&p, GOOGLE, &[]));
    assert_eq!(
        google.issuers,
        ["https://accounts.google.com", "accounts.google.com"]
    );
    assert_eq!(
        google.audiences,
        [
            "web.apps.googleusercontent.com",
            "android.apps.googleusercontent.com"
        ]
    );
    assert_eq!(google.audience, Audience::AudOrAzp);
    assert!(matches!(google.keys.how, KeysAt::Discovery));
    assert_eq!(google.keys.issuer, "https://accounts.google.com");
    let apple = id_check(check_for(&p, APPLE, &[]));
    assert_eq!(apple.audiences, ["com.example.app"]);
    assert!(matches!(
        check_for(&p, FACEBOOK, &[]),
        Ok(Check::Facebook { app_id }) if app_id == "1234567890"
    ));
    assert!(matches!(
        check_for(&p, AMAZON, &[]),
        Ok(Check::Amazon { app_id }) if app_id == "amzn1.application-oa2-client.abc"
    ));
    let twitter = check_for(&p, "api.twitter.com", &[]).unwrap_err();
    assert!(twitter.contains("not supported by cogsync"), "{twitter}");
    // A provider the pool does not list is not the pool's, whatever the server knows.
    let bare = supported(&[(FACEBOOK, "1")]);
    assert_eq!(check_for(&bare, GOOGLE, &[]).unwrap_err(), OTHER_APP);
}

#[test]
fn a_user_pool_is_checked_with_its_well_known_keys_and_every_client_listed() {
    let name = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC";
    let entry = |client: &str| CognitoIdentityProvider {
        provider_name: Some(name.into()),
        client_id: Some(client.into()),
        server_side_token_check: Some(true),
    };
    let p = pool(PoolDetails {
        cognito_identity_providers: Some(vec![entry("web"), entry("mobile")]),
        ..Default::default()
    });
    let c = id_check(check_for(&p, name, &[]));
    assert_eq!(c.issuers, [format!("https://{name}")]);
    assert_eq!(c.audiences, ["web", "mobile"]);
    assert_eq!(c.token_use, Some("id"));
    assert!(matches!(c.keys.how, KeysAt::WellKnownJwks));
    assert_eq!(c.keys.name, name);
    let other = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Other";
    assert_eq!(check_for(&p, other, &[]).unwrap_err(), OTHER_APP);
}

#[test]
fn an_oidc_provider_counts_only_where_the_pool_lists_its_arn() {
    let arn = "arn:aws:iam::123456789012:oidc-provider/id.example.com";
    let oidc = [OidcProvider::discovered(
        arn.into(),
        "https://id.example.com".into(),
        vec!["client".into()],
    )];
    let listed = pool(PoolDetails {
        open_id_connect_provider_arns: Some(vec![arn.into()]),
        ..Default::default()
    });
    let c = id_check(check_for(&listed, "id.example.com", &oidc));
    assert_eq!(c.audience, Audience::AzpElseAud);
    assert!(matches!(c.keys.how, KeysAt::Discovery));
    let unlisted = pool(PoolDetails::default());
    assert_eq!(
        check_for(&unlisted, "id.example.com", &oidc).unwrap_err(),
        OTHER_APP
    );
    let saml = "arn:aws:iam::123456789012:saml-provider/corp";
    assert!(check_for(&unlisted, saml, &oidc)
        .unwrap_err()
        .contains("SAML logins"));
}

#[test]
fn a_facebook_token_counts_only_valid_current_and_of_the_pools_app() {
    let now = 1_700_000_000;
    let good = FacebookToken {
        is_valid: true,
        app_id: Some("42".into()),
        user_id: Some("1001".into()),
        kind: Some("USER".into()),
        expires_at: Some(now + 3600),
        error: None,
    };
    assert_eq!(facebook_subject(&good, "42", now).unwrap(), "1001");
    let never_expires = FacebookToken {
        expires_at: Some(0),
        ..good.clone()
    };
    assert_eq!(facebook_subject(&never_expires, "42", now).unwrap(), "1001");
    assert_eq!(facebook_subject(&good, "43", now).unwrap_err(), OTHER_APP);
    let invalid = FacebookToken {
        is_valid: false,
        error: Some("Session has expired".into()),
        ..good.clone()
    };
    assert!(facebook_subject(&invalid, "42", now)
        .unwrap_err()
        .contains("Session has expired"));
    let expired = FacebookToken {
        expires_at: Some(now - 1),
        ..good.clone()
    };
    assert!(facebook_subject(&expired, "42", now)
        .unwrap_err()
        .starts_with("Token expired"));
    let page = FacebookToken {
        kind: Some("PAGE".into()),
        ..good
    };
    assert!(facebook_subject(&page, "42", now).is_err());
}

#[test]
fn an_amazon_token_counts_for_the_pools_client_or_application() {
    let info = AmazonTokenInfo {
        aud: Some("amzn1.application-oa2-client.c".into()),
        app_id: Some("amzn1.application.a".into()),
        user_id: Some("amzn1.account.U".into()),
        expires_in: Some(3000),
    };
    assert!(amazon_token_fits(&info, "amzn1.application-oa2-client.c").is_ok());
    assert!(amazon_token_fits(&info, "amzn1.application.a").is_ok());
    assert_eq!(
        amazon_token_fits(&info, "someone.else").unwrap_err(),
        OTHER_APP
    );
    let spent = AmazonTokenInfo {
        expires_in: Some(0),
        ..info.clone()
    };
    assert!(amazon_token_fits(&spent, "amzn1.application.a").is_err());
    assert_eq!(
        amazon_subject(&info, "amzn1.account.U".into()).unwrap(),
        "amzn1.account.U"
    );
    assert!(amazon_subject(&info, "amzn1.account.V".into()).is_err());
}

fn issuers() -> Vec<String> {
    vec!["https://idp.test".into()]
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut all = json!({
        "iss": "https://idp.test", "sub": "user-1", "aud": "app",
        "iat": now_s(), "exp": now_s() + 600,
    });
    for (k, v) in extra.as_object().unwrap() {
        all[k] = v.clone();
    }
    all
}

fn check(
    token: &str,
    keys: &jsonwebtoken::jwk::JwkSet,
    expect: &Expect,
) -> Result<String, Refusal> {
    let peeked = id_tokens::peek(token, expect.issuers).map_err(Refusal::Invalid)?;
    id_tokens::verify(token, &peeked, keys, expect, now_s())
}

#[test]
fn id_tokens_are_verified_in_cognitos_words() {
    let (a, b) = (SigningKey::fixture(0, "a"), SigningKey::fixture(1, "b"));
    let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks(&[&a])).unwrap();
    let (iss, auds) = (issuers(), vec!["app".to_string()]);
    let expect = Expect {
        issuers: &iss,
        audiences: &auds,
        audience: Audience::Aud,
        token_use: None,
    };
    assert_eq!(
        check(&a.sign(&claims(json!({}))), &keys, &expect),
        Ok("user-1".into())
    );
    // Signed by a key the set lacks: perhaps rotated, so the caller may fetch again.
    assert_eq!(
        check(&b.sign(&claims(json!({}))), &keys, &expect),
        Err(Refusal::UnknownKey)
    );
    let said = |token: &str| match check(token, &keys, &expect) {
        Err(Refusal::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(said("not a jwt"), NOT_A_TOKEN);
    assert_eq!(
        said(&a.sign(&claims(json!({"iss": "https://elsewhere"})))),
        "Issuer doesn't match providerName"
    );
    assert_eq!(said(&a.sign(&claims(json!({"aud": "other"})))), OTHER_APP);
    let no_aud = claims(json!({}));
    let mut no_aud = no_aud.as_object().unwrap().clone();
    no_aud.remove("aud");
    assert_eq!(
        said(&a.sign(&serde_json::Value::Object(no_aud))),
        "Missing a required claim: aud"
    );
    let expired = said(&a.sign(&claims(json!({"exp": now_s() - 60}))));
    assert!(expired.starts_with("Token expired: "), "{expired}");
    // A forged signature: another key's signature under this key's id.
    let forged = SigningKey::fixture(1, "a").sign(&claims(json!({})));
    assert_eq!(said(&forged), UNVERIFIABLE);
    // An HMAC token is never accepted, whatever its key id.
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert_eq!(said(&hmac), UNVERIFIABLE);
}

#[test]
fn audience_rules_follow_the_provider() {
    let a = SigningKey::fixture(0, "a");
    let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks(&[&a])).unwrap();
    let (iss, auds) = (issuers(), vec!["android".to_string()]);
    let expect = |audience, token_use| Expect {
        issuers: &iss,
        audiences: &auds,
        audience,
        token_use,
    };
    // Google's Android tokens: the web client in aud, the app's own client in azp.
    let android = a.sign(&claims(json!({"aud": "web", "azp": "android"})));
    assert!(check(&android, &keys, &expect(Audience::AudOrAzp, None)).is_ok());
    assert!(check(&android, &keys, &expect(Audience::AzpElseAud, None)).is_ok());
    assert!(check(&android, &keys, &expect(Audience::Aud, None)).is_err());
    // AWS's OIDC rule: azp, when present, is what must be listed.
    let other_party = a.sign(&claims(json!({"aud": "android", "azp": "someone"})));
    assert!(check(&other_party, &keys, &expect(Audience::AzpElseAud, None)).is_err());
    // A user pool's access token is not an ID token.
    let access = a.sign(&claims(json!({"aud": "android", "token_use": "access"})));
    assert!(check(&access, &keys, &expect(Audience::Aud, Some("id"))).is_err());
    let id = a.sign(&claims(json!({"aud": "android", "token_use": "id"})));
    assert!(check(&id, &keys, &expect(Audience::Aud, Some("id"))).is_ok());
}
