//! The sync trigger: an in-test Lambda Invoke endpoint and webhook rewrite, add and remove
//! records; failures map to the modelled errors and commit nothing; developer writes bypass
//! it; and the official Lambda client path works against moto too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::common::*;

/// The in-test function host: behaviour chosen by the function (or hook) name.
#[derive(Default)]
struct Host {
    calls: AtomicUsize,
    /// The `FunctionName` of every Invoke, as its request path carried it.
    invoked: std::sync::Mutex<Vec<String>>,
}

fn behave(name: &str, mut event: Value) -> Result<Value, (StatusCode, String)> {
    let records = event["datasetRecords"].as_object_mut().unwrap();
    match name {
        "passthrough" | "sleep" => {}
        "rewrite" => {
            for r in records.values_mut() {
                if let Some(v) = r["newValue"].as_str() {
                    r["newValue"] = json!(v.to_uppercase());
                }
            }
        }
        "add" => {
            records.insert(
                "serverStamp".into(),
                json!({ "newValue": "stamped", "op": "replace" }),
            );
        }
        "remove" => {
            if let Some(r) = records.get_mut("cheat") {
                r["op"] = json!("remove");
                r["newValue"] = Value::Null;
            }
        }
        "oversize" => {
            records.insert(
                "huge".into(),
                json!({ "newValue": "x".repeat(1_048_575), "op": "replace" }),
            );
            records.insert(
                "huge2".into(),
                json!({ "newValue": "y".repeat(10), "op": "replace" }),
            );
        }
        "readonly" => event["identityId"] = json!("us-east-1:00000000-0000-0000-0000-000000000000"),
        "malformed" => return Err((StatusCode::OK, "this is not JSON".into())),
        "throttle" => return Err((StatusCode::TOO_MANY_REQUESTS, "slow down".into())),
        "error" => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "boom: the score is impossible".into(),
            ))
        }
        other => panic!("unknown behaviour {other}"),
    }
    Ok(event)
}

async fn lambda_invoke(
    State(host): State<Arc<Host>>,
    Path(function): Path<String>,
    body: String,
) -> Response {
    host.calls.fetch_add(1, Ordering::SeqCst);
    host.invoked.lock().unwrap().push(function.clone());
    // The behaviour is the function's name: after `function:` in an ARN, before a qualifier.
    let unqualified = function
        .split_once("function:")
        .map_or(function.as_str(), |(_, f)| f);
    let name = unqualified.split(':').next().unwrap().to_string();
    if name == "sleep" {
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    let event: Value = serde_json::from_str(&body).unwrap();
    match behave(&name, event) {
        Ok(out) => (StatusCode::OK, out.to_string()).into_response(),
        Err((StatusCode::TOO_MANY_REQUESTS, _)) => {
            let mut h = HeaderMap::new();
            h.insert(
                "x-amzn-errortype",
                "TooManyRequestsException".parse().unwrap(),
            );
            (
                StatusCode::TOO_MANY_REQUESTS,
                h,
                r#"{"Type":"User","message":"Rate exceeded"}"#,
            )
                .into_response()
        }
        Err((StatusCode::INTERNAL_SERVER_ERROR, message)) => {
            let mut h = HeaderMap::new();
            h.insert("x-amz-function-error", "Unhandled".parse().unwrap());
            (
                StatusCode::OK,
                h,
                json!({ "errorMessage": message, "errorType": "Error" }).to_string(),
            )
                .into_response()
        }
        Err((status, body)) => (status, body).into_response(),
    }
}

async fn webhook(
    State(host): State<Arc<Host>>,
    Path(name): Path<String>,
    body: String,
) -> Response {
    host.calls.fetch_add(1, Ordering::SeqCst);
    if name == "sleep" {
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    match behave(&name, serde_json::from_str(&body).unwrap()) {
        Ok(out) => (StatusCode::OK, out.to_string()).into_response(),
        Err((status, body)) => (status, body).into_response(),
    }
}

async fn start_host() -> (String, Arc<Host>) {
    let host = Arc::new(Host::default());
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            axum::routing::post(lambda_invoke),
        )
        .route("/hook/{name}", axum::routing::post(webhook))
        .with_state(host.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, host)
}

struct Rig {
    s: TestServer,
    host: Arc<Host>,
    hook_base: String,
    pool: String,
    id: String,
    device: aws_sdk_cognitosync::Client,
}

async fn rig() -> Rig {
    let (url, host) = start_host().await;
    let lambda_url = url.clone();
    let s = TestServer::start_custom(move |c| {
        let mut aws = aws_at("http://127.0.0.1:9");
        aws.lambda_endpoint = Some(lambda_url);
        c.aws = aws;
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    Rig {
        s,
        host,
        hook_base: format!("{url}/hook"),
        pool,
        id,
        device,
    }
}

impl Rig {
    async fn use_trigger(&self, target: &str) {
        self.s
            .sync()
            .set_cognito_events()
            .identity_pool_id(&self.pool)
            .events("SyncTrigger", target)
            .send()
            .await
            .unwrap();
    }

    fn lambda(name: &str) -> String {
        format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
    }

    async fn values(&self, ds: &str) -> std::collections::HashMap<String, Option<String>> {
        let (records, _) = pull(&self.device, &self.pool, &self.id, ds, 0).await;
        records
            .iter()
            .map(|r| (r.key().unwrap().to_string(), r.value().map(str::to_owned)))
            .collect()
    }
}

fn written(records: &[aws_sdk_cognitosync::types::Record]) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = records
        .iter()
        .map(|r| (r.key().unwrap().to_string(), r.value().map(str::to_owned)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_rewrites_adds_and_removes_records() {
    let r = rig().await;
    for target in [
        Rig::lambda("passthrough"),
        format!("{}/passthrough", r.hook_base),
    ] {
        r.use_trigger(&target).await;
        let ds = format!("pass{}", r.host.calls.load(Ordering::SeqCst));
        let out = push(&r.device, &r.pool, &r.id, &ds, vec![replace("k", "v", 0)])
            .await
            .unwrap();
        assert_eq!(written(&out), [("k".into(), Some("v".into()))], "{target}");
    }
    for target in [Rig::lambda("rewrite"), format!("{}/rewrite", r.hook_base)] {
        r.use_trigger(&target).await;
        let ds = format!("rw{}", r.host.calls.load(Ordering::SeqCst));
        let out = push(
            &r.device,
            &r.pool,
            &r.id,
            &ds,
            vec![replace("name", "alice", 0)],
        )
        .await
        .unwrap();
        assert_eq!(
            written(&out),
            [("name".into(), Some("ALICE".into()))],
            "{target}"
        );
        assert_eq!(r.values(&ds).await["name"].as_deref(), Some("ALICE"));
    }

    r.use_trigger(&Rig::lambda("add")).await;
    let out = push(
        &r.device,
        &r.pool,
        &r.id,
        "added",
        vec![replace("k", "v", 0)],
    )
    .await
    .unwrap();
    assert_eq!(
        written(&out),
        [
            ("k".into(), Some("v".into())),
            ("serverStamp".into(), Some("stamped".into()))
        ]
    );
    assert_eq!(
        out.iter().map(|x| x.sync_count()).collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );
    assert_eq!(
        r.values("added").await.len(),
        2,
        "the added record is stored"
    );

    // A record the function removes comes back as a tombstone.
    push(
        &r.s.sync(),
        &r.pool,
        &r.id,
        "game",
        vec![replace("cheat", "999", 0), replace("level", "1", 0)],
    )
    .await
    .unwrap();
    r.use_trigger(&format!("{}/remove", r.hook_base)).await;
    let out = push(
        &r.device,
        &r.pool,
        &r.id,
        "game",
        vec![replace("level", "2", 1)],
    )
    .await
    .unwrap();
    assert_eq!(
        written(&out),
        [("cheat".into(), None), ("level".into(), Some("2".into()))]
    );
    let now = r.values("game").await;
    assert_eq!(
        (now["cheat"].clone(), now["level"].as_deref()),
        (None, Some("2"))
    );

    // Conflicts are found before the function runs.
    let before = r.host.calls.load(Ordering::SeqCst);
    let (code, _) = push(
        &r.device,
        &r.pool,
        &r.id,
        "game",
        vec![replace("level", "3", 1)],
    )
    .await
    .unwrap_err();
    assert_eq!(code, "ResourceConflictException");
    assert_eq!(r.host.calls.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_name_reaches_lambda_invoke_unchanged() {
    let r = rig().await;
    for (n, function) in [
        "rewrite",
        "rewrite:live",
        "123456789012:function:rewrite",
        "arn:aws:lambda:us-east-1:123456789012:function:rewrite:7",
    ]
    .into_iter()
    .enumerate()
    {
        r.use_trigger(function).await;
        let ds = format!("named{n}");
        let out = push(&r.device, &r.pool, &r.id, &ds, vec![replace("k", "v", 0)])
            .await
            .unwrap();
        assert_eq!(
            written(&out),
            [("k".into(), Some("V".into()))],
            "{function}"
        );
        assert_eq!(
            r.host.invoked.lock().unwrap().last().map(String::as_str),
            Some(function),
            "Invoke's FunctionName is the stored target as given"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_failures_map_to_modelled_errors_and_commit_nothing() {
    let r = rig().await;
    push(&r.device, &r.pool, &r.id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let cases = [
        (
            Rig::lambda("malformed"),
            "InvalidLambdaFunctionOutputException",
            400,
            "",
        ),
        (
            Rig::lambda("readonly"),
            "InvalidLambdaFunctionOutputException",
            400,
            "identityId",
        ),
        (
            Rig::lambda("error"),
            "InvalidLambdaFunctionOutputException",
            400,
            "boom",
        ),
        (Rig::lambda("throttle"), "LambdaThrottledException", 429, ""),
        (Rig::lambda("oversize"), "LimitExceededException", 400, ""),
        (
            format!("{}/malformed", r.hook_base),
            "InvalidLambdaFunctionOutputException",
            400,
            "",
        ),
        (
            format!("{}/error", r.hook_base),
            "InvalidLambdaFunctionOutputException",
            400,
            "boom",
        ),
        (
            format!("{}/throttle", r.hook_base),
            "LambdaThrottledException",
            429,
            "",
        ),
        (
            Rig::lambda("sleep"),
            "LambdaSocketTimeoutException",
            504,
            "",
        ),
        (
            format!("{}/sleep", r.hook_base),
            "LambdaSocketTimeoutException",
            504,
            "",
        ),
    ];
    for (target, code, status, needle) in cases {
        r.use_trigger(&target).await;
        let token = session_token(&r.device, &r.pool, &r.id, "ds").await;
        let started = Instant::now();
        let err = r
            .device
            .update_records()
            .identity_pool_id(&r.pool)
            .identity_id(&r.id)
            .dataset_name("ds")
            .sync_session_token(token)
            .record_patches(replace("k", "changed", 1))
            .send()
            .await
            .unwrap_err();
        let (got, message) = code_of(&err);
        assert_eq!(got, code, "{target}: {message}");
        assert_eq!(
            err.raw_response().map(|x| x.status().as_u16()),
            Some(status),
            "{target}"
        );
        assert!(message.contains(needle), "{target}: {message}");
        if target.ends_with("sleep") {
            assert!(
                started.elapsed() < Duration::from_millis(5_900),
                "the 5 second limit holds"
            );
        }
        let (records, out) = pull(&r.device, &r.pool, &r.id, "ds", 0).await;
        assert_eq!(
            out.dataset_sync_count(),
            Some(1),
            "{target}: nothing committed"
        );
        assert_eq!(records[0].value(), Some("v"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_credentials_bypass_the_trigger() {
    let r = rig().await;
    r.use_trigger(&Rig::lambda("rewrite")).await;
    let out = push(
        &r.s.sync(),
        &r.pool,
        &r.id,
        "ds",
        vec![replace("name", "bob", 0)],
    )
    .await
    .unwrap();
    assert_eq!(written(&out), [("name".into(), Some("bob".into()))]);
    assert_eq!(
        r.host.calls.load(Ordering::SeqCst),
        0,
        "the function was not invoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_lambda_client_path_works_against_moto() {
    // A moto of its own: once a function exists, moto's state dump (read by the push tests)
    // fails for the rest of that moto's life.
    let Some(moto) =
        moto_lambda_url("triggers::the_official_lambda_client_path_works_against_moto")
    else {
        return;
    };
    let post = |path: &str, content_type: &str, body: String| {
        let url = format!("{moto}{path}");
        let content_type = content_type.to_string();
        async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<bytes::Bytes>>();
            // moto routes an unsigned query-protocol call by the credential scope's service.
            let req = axum::http::Request::post(url)
                .header("content-type", content_type)
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap();
            client.request(req).await.unwrap().status()
        }
    };
    // moto's Lambda without Docker: invocations echo the event or return queued results.
    assert!(post(
        "/moto-api/config",
        "application/json",
        r#"{"lambda":{"use_docker":false}}"#.into()
    )
    .await
    .is_success());
    let role = format!("cogsync-trigger-{}", uuid::Uuid::new_v4().simple());
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
    );
    assert!(post("/", "application/x-www-form-urlencoded", form)
        .await
        .is_success());
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .endpoint_url(&moto)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    );
    let function = format!("trigger-{}", uuid::Uuid::new_v4().simple());
    let empty_zip = [b"PK\x05\x06".as_slice(), &[0u8; 18]].concat();
    lambda
        .create_function()
        .function_name(&function)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(format!("arn:aws:iam::123456789012:role/{role}"))
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let moto2 = moto.clone();
    let s = TestServer::start_custom(move |c| c.aws = aws_at(&moto2)).await;
    let (pool, id) = s.pool_and_identity().await;
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    s.sync()
        .set_cognito_events()
        .identity_pool_id(&pool)
        .events(
            "SyncTrigger",
            format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        )
        .send()
        .await
        .unwrap();
    // Nothing queued: moto echoes the event, which passes the records through.
    let out = push(&device, &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    assert_eq!(written(&out), [("k".into(), Some("v".into()))]);
    // A queued answer rewrites the value.
    let answer = json!({
        "version": 2, "eventType": "SyncTrigger", "region": "us-east-1",
        "identityPoolId": pool, "identityId": id, "datasetName": "ds",
        "datasetRecords": { "k": { "oldValue": "v", "newValue": "FROM-MOTO", "op": "replace" } },
    });
    let queued = json!({ "results": [answer.to_string()], "region": "us-east-1" }).to_string();
    assert!(post(
        "/moto-api/static/lambda-simple/response",
        "application/json",
        queued
    )
    .await
    .is_success());
    let out = push(&device, &pool, &id, "ds", vec![replace("k", "w", 1)])
        .await
        .unwrap();
    assert_eq!(written(&out), [("k".into(), Some("FROM-MOTO".into()))]);
    // moto's state dump (which the push tests read) fails while a function exists without Docker.
    lambda
        .delete_function()
        .function_name(&function)
        .send()
        .await
        .unwrap();
}
