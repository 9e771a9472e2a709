//! Push sync straight to APNs, against a fake APNs speaking HTTP/2 over TLS with a throwaway
//! CA (`fake_apns`), with SNS unreachable: a pool configured with an SNS APNS_SANDBOX
//! application that the operator routes to a signing key pushes its devices with an ES256
//! provider token, reused, as background pushes at priority 5 for the app's topic, carrying the
//! SNS path's body; a token APNs answers 410 for disables its device.

use std::time::Duration;

use aws_sdk_cognitosync::types::Platform;

use crate::common::*;
use crate::fake_apns::{FakeApns, KEY_ID, TEAM_ID, TOPIC};
use crate::routes_support::*;

const WAIT: Duration = Duration::from_secs(15);
const IPHONE: &str = "5a1f0c3e9b7d4e2a8c6f1b3d5e7a9c0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c";
const IPAD: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const WATCH: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_devices_are_pushed_over_http2_without_sns() {
    let apns = FakeApns::start().await;
    let mut flags = RouteFlags::new();
    let key = flags.secret("AuthKey.p8", &apns.key_pem);
    flags.apns.push(format!(
        "{APNS_APP}=key={key};key-id={KEY_ID};team-id={TEAM_ID};topic={TOPIC}"
    ));
    flags.ca_file = Some(flags.secret("ca.pem", &apns.ca_pem).into());
    let routes = flags.routes();
    let url = apns.url().to_owned();
    let s = TestServer::start_custom(|c| {
        c.aws = nowhere();
        c.routes = routes;
        c.providers
            .urls
            .insert("api.sandbox.push.apple.com".into(), url);
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    push_sync(&s, &pool, &[APNS_APP]).await;
    let c = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    push(&c, &pool, &id, "notes", vec![replace("n", "1", 0)])
        .await
        .unwrap();
    let iphone = device(&c, &pool, &id, Platform::ApnsSandbox, IPHONE, "notes").await;
    let ipad = device(&c, &pool, &id, Platform::ApnsSandbox, IPAD, "notes").await;
    device(&c, &pool, &id, Platform::ApnsSandbox, WATCH, "notes").await;
    assert_eq!(
        stored_device(&s, &iphone),
        (format!("direct:{APNS_APP}"), false)
    );

    for n in 2..=4 {
        write_from(&c, &pool, &id, "notes", &iphone, "n", &n.to_string()).await;
    }
    until("three pushes to the iPad", WAIT, || {
        apns.pushed_to(IPAD).len() == 3
    })
    .await;
    assert!(apns.refused().is_empty(), "{:?}", apns.refused());
    let counts: Vec<i64> = apns
        .pushed_to(IPAD)
        .iter()
        .map(|p| p.body["data"]["syncCount"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [2, 3, 4], "in order, the count a number as on SNS");
    let body = &apns.pushed_to(IPAD)[0].body;
    assert_eq!(body["aps"]["content-available"], 1);
    assert_eq!(body["data"]["source"], "cognito-sync");
    assert_eq!(body["data"]["identityPoolId"], pool.as_str());
    assert_eq!(body["data"]["identityId"], id.as_str());
    assert_eq!(body["data"]["datasetName"], "notes");
    assert!(
        apns.pushed_to(IPHONE).is_empty(),
        "the writer is not pushed"
    );
    until("the watch's pushes", WAIT, || {
        apns.pushed_to(WATCH).len() == 3
    })
    .await;
    assert_eq!(apns.distinct_jwts(), 1, "one provider token, reused");

    // 410 Unregistered: the iPad is disabled and gets nothing more.
    apns.unregister(IPAD);
    write_from(&c, &pool, &id, "notes", &iphone, "n", "5").await;
    until("the iPad disabled", WAIT, || stored_device(&s, &ipad).1).await;
    write_from(&c, &pool, &id, "notes", &iphone, "n", "6").await;
    until("the watch's pushes", WAIT, || {
        apns.pushed_to(WATCH).len() == 5 && outbox_rows(&s) == 0
    })
    .await;
    assert_eq!(
        apns.attempts(IPAD),
        4,
        "three delivered, one 410, then none"
    );
    assert!(apns.refused().is_empty(), "{:?}", apns.refused());
}
