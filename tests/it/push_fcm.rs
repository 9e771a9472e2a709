//! Push sync straight to FCM HTTP v1, against a fake FCM and Google token endpoint
//! (`fake_fcm`), with SNS unreachable: a pool configured with an SNS GCM application that the
//! operator routes to a service account registers devices without SNS and pushes them the SNS
//! path's data; one access token serves every push; an unregistered token disables its device
//! until it registers again; FCM's 503s are retried until the push is delivered.

use std::time::Duration;

use aws_sdk_cognitosync::types::Platform;

use crate::common::*;
use crate::fake_fcm::{unavailable, FakeFcm};
use crate::routes_support::*;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcm_devices_are_pushed_through_fcm_without_sns() {
    let fcm = FakeFcm::start().await;
    let mut flags = RouteFlags::new();
    let account = flags.secret("fcm.json", &fcm.service_account_json());
    flags
        .fcm
        .push(format!("{GCM_APP}=service-account={account}"));
    let routes = flags.routes();
    let url = fcm.url().to_owned();
    let s = TestServer::start_custom(|c| {
        c.aws = nowhere();
        c.routes = routes;
        c.providers.urls.insert("fcm.googleapis.com".into(), url);
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    let unrouted = "arn:aws:sns:us-east-1:123456789012:app/APNS/not-routed";
    push_sync(&s, &pool, &[GCM_APP, unrouted]).await;
    let c = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    push(&c, &pool, &id, "game", vec![replace("level", "1", 0)])
        .await
        .unwrap();

    // Registered without SNS (which nothing answers for): the token is the address.
    let phone = device(&c, &pool, &id, Platform::Gcm, "tok-phone", "game").await;
    let tablet = device(&c, &pool, &id, Platform::Gcm, "tok-tablet", "game").await;
    device(&c, &pool, &id, Platform::Gcm, "tok-watch", "game").await;
    assert_eq!(
        stored_device(&s, &phone),
        (format!("direct:{GCM_APP}"), false)
    );
    let again = c
        .register_device()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .platform(Platform::Gcm)
        .token("tok-phone")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.device_id(),
        Some(phone.as_str()),
        "same token, same id"
    );
    // An application nobody routes still goes to SNS, unreachable here.
    let err = c
        .register_device()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .platform(Platform::Apns)
        .token("abcd")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_internal_error_exception(),
        "an unrouted application asks SNS"
    );

    // The tablet writes three times: the phone and the watch get each push, in order, with the
    // SNS path's data; the writer gets none; one access token serves them all.
    for level in 2..=4 {
        write_from(&c, &pool, &id, "game", &tablet, "level", &level.to_string()).await;
    }
    until("three pushes to the phone and the watch", WAIT, || {
        fcm.sent_to("tok-phone").len() == 3 && fcm.sent_to("tok-watch").len() == 3
    })
    .await;
    let counts: Vec<String> = fcm
        .sent_to("tok-phone")
        .iter()
        .map(|p| p.data["syncCount"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(counts, ["2", "3", "4"]);
    let data = &fcm.sent_to("tok-phone")[0].data;
    assert_eq!(data["source"], "cognito-sync");
    assert_eq!(data["identityPoolId"], pool.as_str());
    assert_eq!(data["identityId"], id.as_str());
    assert_eq!(data["datasetName"], "game");
    assert_eq!(data.as_object().unwrap().len(), 5, "{data}");
    assert!(
        fcm.sent_to("tok-tablet").is_empty(),
        "the writer is not pushed"
    );
    assert_eq!(fcm.token_requests(), 1, "one access token for every push");
    assert!(fcm.refused().is_empty(), "{:?}", fcm.refused());

    // FCM says the tablet's token is UNREGISTERED: the device is disabled and gets no more
    // pushes, and nobody's sync fails for it.
    fcm.unregister("tok-tablet");
    write_from(&c, &pool, &id, "game", &phone, "level", "5").await;
    until("the tablet disabled", WAIT, || stored_device(&s, &tablet).1).await;
    write_from(&c, &pool, &id, "game", &phone, "level", "6").await;
    until("the watch's pushes delivered", WAIT, || {
        fcm.sent_to("tok-watch").len() == 5 && outbox_rows(&s) == 0
    })
    .await;
    assert_eq!(
        fcm.attempts("tok-tablet"),
        1,
        "a disabled device is not pushed"
    );
    // Registering again brings it back, under its id.
    fcm.reregister("tok-tablet");
    let back = device(&c, &pool, &id, Platform::Gcm, "tok-tablet", "game").await;
    assert_eq!(back, tablet);
    assert!(!stored_device(&s, &tablet).1);
    write_from(&c, &pool, &id, "game", &phone, "level", "7").await;
    until("a push to the tablet again", WAIT, || {
        fcm.sent_to("tok-tablet").len() == 1
    })
    .await;

    // FCM is unavailable twice for the phone: the push is retried until delivered.
    fcm.script("tok-phone", vec![unavailable(), unavailable()]);
    let attempts = fcm.attempts("tok-phone");
    write_from(&c, &pool, &id, "game", &tablet, "level", "8").await;
    until("the phone's push after two 503s", WAIT, || {
        fcm.sent_to("tok-phone").len() == 4
    })
    .await;
    assert_eq!(fcm.attempts("tok-phone"), attempts + 3);
    assert_eq!(
        fcm.sent_to("tok-phone")[3].data["syncCount"],
        "8",
        "nothing lost, nothing out of order"
    );
    assert_eq!(fcm.token_requests(), 1);
}
