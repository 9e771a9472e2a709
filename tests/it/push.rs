//! Push sync against moto's SNS: devices register once per token, subscribe to datasets, and
//! get the silent push of spec §8 when another device changes a dataset, even through an SNS
//! outage; a device whose endpoint SNS disabled gets its pushes back by registering again.

use std::time::Duration;

use aws_sdk_cognitosync::types::{Platform, PushSync};
use aws_sdk_sns as sns;
use serde_json::Value;

use crate::common::*;
use crate::kinesis_support::Proxy;

fn sns_client(endpoint: &str) -> sns::Client {
    let conf = sns::Config::builder()
        .behavior_version(sns::config::BehaviorVersion::latest())
        .region(sns::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    sns::Client::from_conf(conf)
}

async fn platform_app(c: &sns::Client, platform: &str) -> String {
    let name = format!("cogsync-{}", uuid::Uuid::new_v4().simple());
    let mut req = c
        .create_platform_application()
        .name(name)
        .platform(platform)
        .attributes("PlatformCredential", "secret");
    if platform.starts_with("APNS") {
        req = req.attributes("PlatformPrincipal", "certificate");
    }
    req.send().await.unwrap().platform_application_arn.unwrap()
}

/// Messages moto recorded for the endpoint that holds `token`, parsed.
async fn messages_for(moto: &str, token: &str) -> Vec<Value> {
    let data: Value = reqwest_json(&format!("{moto}/moto-api/data.json")).await;
    let mut out = Vec::new();
    for ep in data["sns"]["PlatformEndpoint"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if ep["token"] == token {
            for m in ep["messages"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                out.push(serde_json::from_str(m.as_str().unwrap()).unwrap());
            }
        }
    }
    out
}

/// GETs JSON from moto, retrying: its state dump can be large and slow under load.
async fn reqwest_json(url: &str) -> Value {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut last = String::new();
    for _ in 0..50 {
        match client.get(url.parse().unwrap()).await {
            Ok(resp) => match resp.into_body().collect().await {
                Ok(body) => match serde_json::from_slice(&body.to_bytes()) {
                    Ok(v) => return v,
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cannot read {url}: {last}")
}

async fn wait_for(moto: &str, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let got = messages_for(moto, token).await;
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    messages_for(moto, token).await
}

fn inner(message: &Value, platform: &str) -> Value {
    serde_json::from_str(message[platform].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_devices_get_silent_pushes_except_the_writer() {
    let Some(moto) = moto_url("push::subscribed_devices_get_silent_pushes_except_the_writer")
    else {
        return;
    };
    let snsc = sns_client(&moto);
    let (gcm, apns) = (
        platform_app(&snsc, "GCM").await,
        platform_app(&snsc, "APNS").await,
    );
    let proxy = Proxy::start(&moto).await;
    let url = proxy.url.clone();
    let s = TestServer::start_custom(|c| c.aws = aws_at(&url)).await;
    let (pool, id) = s.pool_and_identity().await;
    let dev = s.sync();
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    let (tok_a, tok_b) = (
        format!("gcm-{}", uuid::Uuid::new_v4()),
        format!("apns-{}", uuid::Uuid::new_v4()),
    );

    // Without PushSync configured, registration is refused.
    let err = device
        .register_device()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .platform(Platform::Gcm)
        .token(&tok_a)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_invalid_configuration_exception());
    dev.set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .push_sync(
            PushSync::builder()
                .application_arns(&gcm)
                .application_arns(&apns)
                .role_arn("arn:aws:iam::123456789012:role/push")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (d, p, i) = (&device, pool.as_str(), id.as_str());
    let register =
        move |platform: Platform, token: String| register_device(d, p, i, platform, token);
    let a = register(Platform::Gcm, tok_a.clone())
        .await
        .unwrap()
        .device_id
        .unwrap();
    assert_eq!(
        register(Platform::Gcm, tok_a.clone())
            .await
            .unwrap()
            .device_id
            .unwrap(),
        a,
        "registration is idempotent"
    );
    let b = register(Platform::Apns, tok_b.clone())
        .await
        .unwrap()
        .device_id
        .unwrap();
    assert_ne!(a, b);
    let err = register(Platform::Adm, "adm-token".into())
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_invalid_configuration_exception(),
        "no ADM application in PushSync"
    );

    // Subscriptions need an existing dataset, a known device, and exist to be removed.
    let subscribe = |device_id: &str, ds: &str| {
        device
            .subscribe_to_dataset()
            .identity_pool_id(&pool)
            .identity_id(&id)
            .dataset_name(ds)
            .device_id(device_id)
            .send()
    };
    assert!(subscribe(&a, "game")
        .await
        .unwrap_err()
        .into_service_error()
        .is_resource_not_found_exception());
    push(&device, &pool, &id, "game", vec![replace("level", "1", 0)])
        .await
        .unwrap();
    subscribe(&a, "game").await.unwrap();
    subscribe(&b, "game").await.unwrap();
    subscribe(&b, "game").await.unwrap();
    assert!(subscribe("no-such-device", "game")
        .await
        .unwrap_err()
        .into_service_error()
        .is_resource_not_found_exception());
    let err = device
        .unsubscribe_from_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .device_id(&a)
        .send()
        .await;
    err.unwrap();
    let err = device
        .unsubscribe_from_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .device_id(&a)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "not subscribed any more"
    );
    subscribe(&a, "game").await.unwrap();

    // Device A writes: B is told, A is not.
    let token = session_token(&device, &pool, &id, "game").await;
    device
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .device_id(&a)
        .sync_session_token(token)
        .record_patches(replace("level", "2", 1))
        .send()
        .await
        .unwrap();
    let to_b = wait_for(&moto, &tok_b, 1).await;
    assert_eq!(to_b.len(), 1);
    assert!(to_b[0]["default"].is_string());
    let apns_body = inner(&to_b[0], "APNS");
    assert_eq!(apns_body["aps"]["content-available"], 1);
    let data = &apns_body["data"];
    assert_eq!(data["source"], "cognito-sync");
    assert_eq!(data["identityPoolId"], pool.as_str());
    assert_eq!(data["identityId"], id.as_str());
    assert_eq!(data["datasetName"], "game");
    assert_eq!(data["syncCount"], 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        messages_for(&moto, &tok_a).await.is_empty(),
        "the writer is not notified"
    );

    // A write without a DeviceId notifies both; GCM carries syncCount as a string.
    push(&device, &pool, &id, "game", vec![replace("level", "3", 2)])
        .await
        .unwrap();
    let to_a = wait_for(&moto, &tok_a, 1).await;
    let gcm_body = inner(&to_a[0], "GCM");
    assert_eq!(gcm_body["data"]["syncCount"], "3");
    assert_eq!(gcm_body["data"]["datasetName"], "game");
    assert_eq!(wait_for(&moto, &tok_b, 2).await.len(), 2);

    // SNS down: the update succeeds at once; the push arrives once SNS is back.
    proxy.set_up(false).await;
    push(&device, &pool, &id, "game", vec![replace("level", "4", 3)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        messages_for(&moto, &tok_a).await.len(),
        1,
        "nothing while SNS is down"
    );
    proxy.set_up(true).await;
    let to_a = wait_for(&moto, &tok_a, 2).await;
    assert_eq!(to_a.len(), 2, "delivered after SNS came back");

    // Deleting the dataset drops its subscriptions; developer credentials cannot register.
    delete(&device, &pool, &id, "game").await.unwrap();
    push(&device, &pool, &id, "game", vec![replace("level", "5", 0)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        messages_for(&moto, &tok_a).await.len(),
        2,
        "no push after the subscription went with the dataset"
    );
    let err = dev
        .register_device()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .platform(Platform::Gcm)
        .token("x")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
}

/// The SNS endpoint that holds `token`, from SNS itself.
async fn endpoint_of(c: &sns::Client, app: &str, token: &str) -> String {
    let out = c
        .list_endpoints_by_platform_application()
        .platform_application_arn(app)
        .send()
        .await
        .unwrap();
    out.endpoints()
        .iter()
        .find(|e| {
            e.attributes()
                .and_then(|a| a.get("Token"))
                .map(String::as_str)
                == Some(token)
        })
        .and_then(|e| e.endpoint_arn())
        .expect("an endpoint for the token")
        .to_string()
}

async fn endpoint_attributes(
    c: &sns::Client,
    arn: &str,
) -> std::collections::HashMap<String, String> {
    c.get_endpoint_attributes()
        .endpoint_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .cloned()
        .unwrap_or_default()
}

/// What SNS does to an endpoint whose token went stale: disables it (and here the user data
/// differs too, so the attributes no longer match a plain re-creation).
async fn disable_in_sns(c: &sns::Client, arn: &str) {
    c.set_endpoint_attributes()
        .endpoint_arn(arn)
        .attributes("Enabled", "false")
        .attributes("CustomUserData", "changed by someone else")
        .send()
        .await
        .unwrap();
}

/// Whether cogsync's own record of the device says its endpoint is unusable.
fn device_disabled(s: &TestServer, device_id: &str) -> bool {
    let db = rusqlite::Connection::open(s.data_dir().join("cogsync.sqlite3")).unwrap();
    db.query_row(
        "SELECT disabled FROM devices WHERE id = ?1",
        [device_id],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_endpoint_was_disabled_registers_again_and_gets_pushes() {
    let Some(moto) =
        moto_url("push::a_device_whose_endpoint_was_disabled_registers_again_and_gets_pushes")
    else {
        return;
    };
    let snsc = sns_client(&moto);
    let app = platform_app(&snsc, "GCM").await;
    let proxy = Proxy::start(&moto).await;
    let url = proxy.url.clone();
    let s = TestServer::start_custom(|c| c.aws = aws_at(&url)).await;
    let (pool, id) = s.pool_and_identity().await;
    s.sync()
        .set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .push_sync(
            PushSync::builder()
                .application_arns(&app)
                .role_arn("arn:aws:iam::123456789012:role/push")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    let (d, p, i) = (&device, pool.as_str(), id.as_str());
    let register = move |token: String| async move {
        register_device(d, p, i, Platform::Gcm, token)
            .await
            .map(|o| o.device_id.unwrap())
    };
    let (phone, tablet) = (
        format!("phone-{}", uuid::Uuid::new_v4()),
        format!("tablet-{}", uuid::Uuid::new_v4()),
    );
    let a = register(phone.clone()).await.unwrap();
    let writer = register(tablet.clone()).await.unwrap();
    push(&device, &pool, &id, "game", vec![replace("level", "1", 0)])
        .await
        .unwrap();
    device
        .subscribe_to_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("game")
        .device_id(&a)
        .send()
        .await
        .unwrap();
    let write_from_tablet = |value: &'static str, count: i64| {
        let device = device.clone();
        let (pool, id, writer) = (pool.clone(), id.clone(), writer.clone());
        async move {
            let token = session_token(&device, &pool, &id, "game").await;
            device
                .update_records()
                .identity_pool_id(&pool)
                .identity_id(&id)
                .dataset_name("game")
                .device_id(&writer)
                .sync_session_token(token)
                .record_patches(replace("level", value, count))
                .send()
                .await
                .unwrap();
        }
    };

    // SNS disables the phone's endpoint; the next push finds it so and cogsync marks the
    // device disabled.
    let arn = endpoint_of(&snsc, &app, &phone).await;
    disable_in_sns(&snsc, &arn).await;
    write_from_tablet("2", 1).await;
    let mut marked = false;
    for _ in 0..100 {
        if device_disabled(&s, &a) {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        marked,
        "a push to a disabled endpoint marks the device disabled"
    );
    assert!(messages_for(&moto, &phone).await.is_empty());

    // The app registers its token again: same device, endpoint enabled, pushes resume.
    assert_eq!(
        register(phone.clone()).await.map_err(|e| code_of(&e)),
        Ok(a.clone()),
        "SNS refused to re-create the endpoint; cogsync must take it over"
    );
    let attributes = endpoint_attributes(&snsc, &arn).await;
    assert_eq!(attributes["Enabled"].to_lowercase(), "true");
    assert_eq!(attributes["CustomUserData"], id);
    assert_eq!(attributes["Token"], phone);
    assert!(
        !device_disabled(&s, &a),
        "registering again clears the mark"
    );
    write_from_tablet("3", 2).await;
    let to_phone = wait_for(&moto, &phone, 1).await;
    assert_eq!(to_phone.len(), 1, "pushes resume after registering again");
    let body = inner(&to_phone[0], "GCM");
    assert_eq!(body["data"]["syncCount"], "3");
    assert_eq!(body["data"]["datasetName"], "game");

    // SNS disables it again before cogsync tries a push: registering again still revives it.
    disable_in_sns(&snsc, &arn).await;
    assert_eq!(register(phone.clone()).await.unwrap(), a);
    assert_eq!(
        endpoint_attributes(&snsc, &arn).await["Enabled"].to_lowercase(),
        "true"
    );
    write_from_tablet("4", 3).await;
    assert_eq!(wait_for(&moto, &phone, 2).await.len(), 2);
    assert!(
        messages_for(&moto, &tablet).await.is_empty(),
        "the writer is not notified"
    );

    // SNS unreachable: a registered device keeps its id; a new one cannot be registered.
    proxy.set_up(false).await;
    assert_eq!(register(phone.clone()).await.unwrap(), a);
    let err = register(format!("new-{}", uuid::Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(code_of(&err).0, "InternalErrorException");
}

/// RegisterDevice through the SDK.
async fn register_device(
    device: &aws_sdk_cognitosync::Client,
    pool: &str,
    id: &str,
    platform: Platform,
    token: String,
) -> Result<
    aws_sdk_cognitosync::operation::register_device::RegisterDeviceOutput,
    aws_sdk_cognitosync::error::SdkError<
        aws_sdk_cognitosync::operation::register_device::RegisterDeviceError,
    >,
> {
    device
        .register_device()
        .identity_pool_id(pool)
        .identity_id(id)
        .platform(platform)
        .token(token)
        .send()
        .await
}
