//! A pool brought over from AWS runs with no AWS account: `cogsync import` copies a pool whose
//! PushSync names SNS platform applications and whose Cognito Streams names a Kinesis stream;
//! the server it is imported into routes those names to FCM, APNs and a webhook (all faked
//! here; SNS and Kinesis unreachable). The pool's configuration stays exactly as it came,
//! and every side effect arrives: a device registered through SNS before the move (its SNS
//! endpoint stored) is pushed through FCM without registering again, a device registering now
//! through APNs, and the change stream through the webhook.

use std::process::Command;
use std::time::Duration;

use aws_sdk_cognitosync::types::Platform;

use crate::common::*;
use crate::fake_apns::{FakeApns, KEY_ID, TEAM_ID, TOPIC};
use crate::fake_fcm::FakeFcm;
use crate::fake_webhook::FakeWebhook;
use crate::routes_support::*;

const WAIT: Duration = Duration::from_secs(20);
const IPHONE: &str = "5a1f0c3e9b7d4e2a8c6f1b3d5e7a9c0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c";
const LEGACY_ENDPOINT: &str =
    "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/cogsync-android/0b9c4d2e-7f1a-3b5c-9d8e-2a4b6c8d0e1f";

/// `cogsync import` from `source` into the data directory `dir`.
async fn import(source: &TestServer, dir: &std::path::Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cogsync"));
    cmd.args([
        "import",
        "--source-endpoint",
        &source.endpoint,
        "--data-dir",
    ])
    .arg(dir)
    .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    .env("AWS_REGION", "us-east-1")
    .env("AWS_CONFIG_FILE", "/nonexistent/cogsync-test")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/cogsync-test")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env_remove("AWS_PROFILE")
    .env_remove("COGSYNC_DATABASE_URL")
    .env_remove("COGSYNC_DATA_DIR");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A device the old deployment registered through SNS, subscribed to `dataset`, as its store
/// holds it.
fn sns_registered_device(dir: &std::path::Path, identity: &str, dataset: &str) {
    let db = rusqlite::Connection::open(dir.join("cogsync.sqlite3")).unwrap();
    db.execute(
        "INSERT INTO devices (id, identity_id, platform, token, endpoint_arn, disabled, created_ms)
         VALUES ('legacy-phone', ?1, 'GCM', 'tok-legacy', ?2, FALSE, 1)",
        rusqlite::params![identity, LEGACY_ENDPOINT],
    )
    .unwrap();
    db.execute(
        "INSERT INTO subscriptions (identity_id, dataset_name, device_id) VALUES (?1, ?2, 'legacy-phone')",
        rusqlite::params![identity, dataset],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_pool_delivers_every_side_effect_without_aws() {
    // On "AWS": the pool as it was configured there.
    let aws = TestServer::start().await;
    let (pool, id) = aws.pool_and_identity().await;
    push_sync(&aws, &pool, &[GCM_APP, APNS_APP]).await;
    streams(&aws, &pool, "prod-cognito-changes").await;
    push(
        &aws.sync(),
        &pool,
        &id,
        "game",
        vec![replace("level", "1", 0)],
    )
    .await
    .unwrap();
    let before = aws
        .sync()
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    import(&aws, dir.path()).await;
    sns_registered_device(dir.path(), &id, "game");

    let (fcm, apns, hook) = (
        FakeFcm::start().await,
        FakeApns::start().await,
        FakeWebhook::start().await,
    );
    let mut flags = RouteFlags::new();
    let account = flags.secret("fcm.json", &fcm.service_account_json());
    let key = flags.secret("AuthKey.p8", &apns.key_pem);
    let secret = flags.secret("whsec", &hook.secret);
    flags.ca_file = Some(flags.secret("ca.pem", &apns.ca_pem).into());
    flags
        .fcm
        .push(format!("{GCM_APP}=service-account={account}"));
    flags.apns.push(format!(
        "{APNS_APP}=key={key};key-id={KEY_ID};team-id={TEAM_ID};topic={TOPIC}"
    ));
    flags.webhooks.push(format!(
        "prod-cognito-changes=url={};secret={secret}",
        hook.url
    ));
    let routes = flags.routes();
    let (fcm_url, apns_url) = (fcm.url().to_owned(), apns.url().to_owned());
    let s = TestServer::start_in(dir, None, |c| {
        c.aws = nowhere();
        c.routes = routes;
        c.providers
            .urls
            .insert("fcm.googleapis.com".into(), fcm_url);
        c.providers
            .urls
            .insert("api.sandbox.push.apple.com".into(), apns_url);
    })
    .await;

    // The pool is as it was on AWS.
    let after = s
        .sync()
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(after.push_sync(), before.push_sync());
    assert_eq!(after.cognito_streams(), before.cognito_streams());

    // An iPhone registers now (through APNs, no SNS) and writes: the phone registered
    // through SNS before the move is pushed through FCM, and the change is streamed.
    let c = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    let iphone = device(&c, &pool, &id, Platform::ApnsSandbox, IPHONE, "game").await;
    write_from(&c, &pool, &id, "game", &iphone, "level", "2").await;
    until("the legacy phone's push through FCM", WAIT, || {
        fcm.sent_to("tok-legacy").len() == 1
    })
    .await;
    assert_eq!(fcm.sent_to("tok-legacy")[0].data["syncCount"], "2");
    until("the change on the webhook", WAIT, || {
        hook.accepted()
            .iter()
            .any(|p| p.body["syncCount"] == 2 && p.body["dataSetName"] == "game")
    })
    .await;
    assert!(hook.bad().is_empty(), "{:?}", hook.bad());

    // A write from the legacy phone pushes the iPhone through APNs.
    write_from(&c, &pool, &id, "game", "legacy-phone", "level", "3").await;
    until("the iPhone's push through APNs", WAIT, || {
        apns.pushed_to(IPHONE).len() == 1
    })
    .await;
    assert_eq!(apns.pushed_to(IPHONE)[0].body["data"]["syncCount"], 3);
    assert!(apns.refused().is_empty(), "{:?}", apns.refused());
    until("nothing left to deliver", WAIT, || outbox_rows(&s) == 0).await;
    assert_eq!(
        stored_device(&s, "legacy-phone"),
        (LEGACY_ENDPOINT.to_owned(), false),
        "the device needed no new registration"
    );
}
