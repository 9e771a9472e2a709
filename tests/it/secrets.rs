//! Secrets stay secret: neither the developer secret nor vended credentials nor login
//! tokens appear in the server's log, even at debug level and on failed requests; the data
//! directory and the files holding secrets are private to the server's user.

use std::os::unix::fs::PermissionsExt;

use axum::http::Method;

use crate::common::*;
use crate::process::{sigterm, spawn_logging};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut p = spawn_logging(
        &data,
        Some((ACCESS_KEY, SECRET_KEY)),
        &[],
        &[("RUST_LOG", "debug")],
        Some(&log),
    );
    let endpoint = p.endpoint.clone();
    let (pool, id) = pool_and_identity_at(&endpoint).await;
    let ids = identity_client(&endpoint, ACCESS_KEY, SECRET_KEY);
    let creds = ids
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    let creds = creds.credentials().unwrap();
    let (temp_key, temp_secret, token) = (
        creds.access_key_id().unwrap().to_owned(),
        creds.secret_key().unwrap().to_owned(),
        creds.session_token().unwrap().to_owned(),
    );
    let path = format!("{}/records", dataset_path(&pool, &id, "ds"));
    // A good request with the temporary credentials, and failing ones of every kind.
    let good = Sign {
        key: &temp_key,
        secret: &temp_secret,
        token: Some(&token),
        ..Sign::default()
    };
    assert_eq!(
        raw(&endpoint, Method::GET, &path, &[], b"", Some(good))
            .await
            .status,
        200
    );
    let wrong_secret = Sign {
        secret: "not-the-secret",
        ..Sign::default()
    };
    let r = raw(&endpoint, Method::GET, &path, &[], b"", Some(wrong_secret)).await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    let tampered_token = format!("{token}x");
    let bad_token = Sign {
        key: &temp_key,
        secret: &temp_secret,
        token: Some(&tampered_token),
        ..Sign::default()
    };
    let r = raw(&endpoint, Method::GET, &path, &[], b"", Some(bad_token)).await;
    assert_eq!(r.status, 403);
    let other_secret = Sign {
        key: &temp_key,
        secret: SECRET_KEY,
        token: Some(&token),
        ..Sign::default()
    };
    let r = raw(&endpoint, Method::GET, &path, &[], b"", Some(other_secret)).await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    let login_token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWxvZ2luLXRva2Vu.c2lnbmF0dXJl";
    let e = ids
        .get_id()
        .identity_pool_id(&pool)
        .logins("accounts.google.com", login_token)
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().is_some(), "{e:?}");
    assert_eq!(sigterm(&mut p).code(), Some(0));

    let text = std::fs::read_to_string(&log).unwrap();
    // The log did record the failures (so the test looks at a real log)...
    assert!(text.contains("InvalidSignatureException"), "{text}");
    assert!(text.contains("request refused"), "{text}");
    // ...and holds none of the secrets.
    for (what, secret) in [
        ("developer secret", SECRET_KEY),
        ("temporary secret", temp_secret.as_str()),
        ("session token", token.as_str()),
        ("login token", login_token),
    ] {
        assert!(!text.contains(secret), "the log holds the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_its_secrets_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut p = spawn_logging(&data, None, &[], &[("RUST_LOG", "debug")], Some(&log));
    let generated = p
        .stdout
        .iter()
        .find_map(|l| l.trim().strip_prefix("AWS_SECRET_ACCESS_KEY="))
        .expect("generated credentials are shown once on stdout")
        .to_owned();
    assert_eq!(sigterm(&mut p).code(), Some(0));
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&generated));
}
