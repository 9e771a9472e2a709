//! Cognito Streams and bulk publish against a real Kinesis-protocol server (moto): every
//! committed change reaches the stream in the documented shape, in order, through outages and
//! restarts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cognitosync::types::{CognitoStreams, StreamingStatus};
use serde_json::Value;

use crate::common::*;
use crate::kinesis_support::{self as ks, Proxy};

const ROLE: &str = "arn:aws:iam::123456789012:role/cognito-streams";

async fn enable_streams(s: &TestServer, pool: &str, stream: &str, status: StreamingStatus) {
    s.sync()
        .set_identity_pool_configuration()
        .identity_pool_id(pool)
        .cognito_streams(
            CognitoStreams::builder()
                .stream_name(stream)
                .role_arn(ROLE)
                .streaming_status(status)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn outbox_rows(s: &TestServer) -> i64 {
    let db = rusqlite::Connection::open(s.data_dir().join("cogsync.sqlite3")).unwrap();
    db.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_update_and_delete_becomes_one_stream_record() {
    let Some(moto) = moto_url("streams::each_update_and_delete_becomes_one_stream_record") else {
        return;
    };
    let k = ks::client(&moto);
    let stream = ks::new_stream(&k).await;
    let s = TestServer::start_custom(|c| c.aws = aws_at(&moto)).await;
    let (pool, id) = s.pool_and_identity().await;
    enable_streams(&s, &pool, &stream, StreamingStatus::Enabled).await;
    let c = s.sync();

    let when = aws_sdk_cognitosync::primitives::DateTime::from_millis(1_700_000_000_123);
    let p = aws_sdk_cognitosync::types::RecordPatch::builder()
        .op(aws_sdk_cognitosync::types::Operation::Replace)
        .key("score")
        .value("10")
        .sync_count(0)
        .device_last_modified_date(when)
        .build()
        .unwrap();
    let first = push(&c, &pool, &id, "game", vec![p, replace("name", "ann", 0)])
        .await
        .unwrap();
    push(&c, &pool, &id, "game", vec![remove("name", 1)])
        .await
        .unwrap();
    delete(&c, &pool, &id, "game").await.unwrap();

    let got = ks::read_at_least(&k, &stream, 3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    let r = &got[0];
    assert_eq!(r["identityPoolId"], pool.as_str());
    assert_eq!(r["identityId"], id.as_str());
    assert_eq!(r["dataSetName"], "game");
    assert_eq!(r["operation"], "replace");
    assert_eq!(r["syncCount"], 1);
    assert_eq!(r["payloadType"], "Inline");
    let server_ms = (first[0].last_modified_date().unwrap().as_secs_f64() * 1000.0).round() as i64;
    assert_eq!(
        r["lastModifiedDate"], server_ms,
        "dates are epoch milliseconds"
    );
    let recs: HashMap<&str, &Value> = r["kinesisSyncRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["key"].as_str().unwrap(), x))
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs["score"]["value"], "10");
    assert_eq!(recs["score"]["op"], "replace");
    assert_eq!(recs["score"]["syncCount"], 1);
    assert_eq!(
        recs["score"]["deviceLastModifiedDate"],
        1_700_000_000_123i64
    );
    assert_eq!(recs["score"]["lastModifiedDate"], server_ms);

    let r = &got[1];
    assert_eq!(r["syncCount"], 2);
    let recs = r["kinesisSyncRecords"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0]["key"].as_str(),
            recs[0]["op"].as_str(),
            &recs[0]["value"]
        ),
        (Some("name"), Some("remove"), &Value::Null)
    );

    let r = &got[2];
    assert_eq!(
        (r["operation"].as_str(), r["syncCount"].as_i64()),
        (Some("remove"), Some(2))
    );
    assert!(r["kinesisSyncRecords"].as_array().unwrap().is_empty());

    // A pool with streaming DISABLED publishes nothing and leaves nothing behind.
    let (quiet, qid) = s.pool_and_identity().await;
    let quiet_stream = ks::new_stream(&k).await;
    enable_streams(&s, &quiet, &quiet_stream, StreamingStatus::Disabled).await;
    for n in 0..5 {
        push(
            &c,
            &quiet,
            &qid,
            "ds",
            vec![replace(&format!("k{n}"), "v", 0)],
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(ks::read_all(&k, &quiet_stream).await.is_empty());
    assert_eq!(outbox_rows(&s), 0, "nothing accumulates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_stream_records_but_loses_none() {
    let Some(moto) = moto_url("streams::an_outage_delays_stream_records_but_loses_none") else {
        return;
    };
    let k = ks::client(&moto);
    let stream = ks::new_stream(&k).await;
    let proxy = Proxy::start(&moto).await;
    let url = proxy.url.clone();
    let s = TestServer::start_custom(|c| c.aws = aws_at(&url)).await;
    let (pool, id) = s.pool_and_identity().await;
    enable_streams(&s, &pool, &stream, StreamingStatus::Enabled).await;
    let c = s.sync();

    proxy.set_up(false).await;
    let mut expected = HashMap::new();
    for n in 0..12 {
        let ds = format!("ds{}", n % 3);
        let count = *expected.get(&ds).unwrap_or(&0);
        push(
            &c,
            &pool,
            &id,
            &ds,
            vec![replace("k", &format!("v{n}"), count)],
        )
        .await
        .unwrap();
        expected.insert(ds, count + 1);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        ks::read_all(&k, &stream).await.is_empty(),
        "nothing got through while the stream was down"
    );
    assert_eq!(outbox_rows(&s), 12, "every change waits in the outbox");

    proxy.set_up(true).await;
    let got = ks::read_at_least(&k, &stream, 12, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 12, "every event arrives once the stream is back");
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    for r in &got {
        seen.entry(r["dataSetName"].as_str().unwrap().to_string())
            .or_default()
            .push(r["syncCount"].as_i64().unwrap());
    }
    for (ds, counts) in seen {
        assert_eq!(
            counts,
            (1..=4).collect::<Vec<_>>(),
            "dataset {ds} arrives complete and in order"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbox_rows(&s), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_publish_sends_every_dataset_and_follows_its_rules() {
    let Some(moto) = moto_url("streams::bulk_publish_sends_every_dataset_and_follows_its_rules")
    else {
        return;
    };
    let k = ks::client(&moto);
    let stream = ks::new_stream(&k).await;
    let clock = Arc::new(cogsync::timeutil::ShiftedClock::default());
    let clock2 = clock.clone();
    let s = TestServer::start_custom(move |c| {
        c.aws = aws_at(&moto);
        c.sync.clock = clock2;
    })
    .await;
    let pool = s.new_pool(true).await;
    let c = s.sync();
    let details = c
        .get_bulk_publish_details()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(
        details.bulk_publish_status().map(|s| s.as_str()),
        Some("NOT_STARTED")
    );
    let err = c
        .bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_invalid_parameter_exception(),
        "streams are not configured"
    );

    // 500 datasets over 25 identities, written before streaming was enabled.
    let mut expected = HashSet::new();
    for _ in 0..25 {
        let id = s.new_identity(&pool).await;
        for d in 0..20 {
            let ds = format!("ds{d}");
            push(
                &c,
                &pool,
                &id,
                &ds,
                vec![replace("k", &format!("{id}/{ds}"), 0)],
            )
            .await
            .unwrap();
            expected.insert((id.clone(), ds));
        }
    }
    enable_streams(&s, &pool, &stream, StreamingStatus::Enabled).await;
    c.bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let err = c
        .bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_duplicate_request_exception(),
        "one job at a time"
    );

    let mut status = String::new();
    for _ in 0..300 {
        let d = c
            .get_bulk_publish_details()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        status = d.bulk_publish_status().unwrap().as_str().to_string();
        if status != "IN_PROGRESS" {
            assert!(d.bulk_publish_start_time().is_some());
            assert!(d.bulk_publish_complete_time().is_some());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "SUCCEEDED");
    let got = ks::read_at_least(&k, &stream, 500, Duration::from_secs(10)).await;
    let published: HashSet<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r["identityId"].as_str().unwrap().to_string(),
                r["dataSetName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 500, "one record per dataset");
    assert_eq!(published, expected, "every dataset arrives");
    assert!(got
        .iter()
        .all(|r| r["kinesisSyncRecords"][0]["value"].as_str().unwrap()
            == format!(
                "{}/{}",
                r["identityId"].as_str().unwrap(),
                r["dataSetName"].as_str().unwrap()
            )));

    let err = c
        .bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_already_streamed_exception(),
        "one success per 24 hours"
    );
    clock.advance(24 * 60 * 60 * 1000);
    c.bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_publish_interrupted_by_a_restart_completes_afterwards() {
    let Some(moto) =
        moto_url("streams::a_bulk_publish_interrupted_by_a_restart_completes_afterwards")
    else {
        return;
    };
    let k = ks::client(&moto);
    let stream = ks::new_stream(&k).await;
    let proxy = Proxy::start(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let config = |aws: &str| {
        let mut c = cogsync::config::ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().to_path_buf(),
            dev_credentials(),
        );
        c.aws = aws_at(aws);
        c
    };
    let server = cogsync::server::start(config(&proxy.url)).await.unwrap();
    let endpoint = format!("http://{}", server.addr());
    let ids = identity_client(&endpoint, ACCESS_KEY, SECRET_KEY);
    let pool = ids
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let id = ids
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let c = sync_client(&endpoint, ACCESS_KEY, SECRET_KEY, None);
    for d in 0..10 {
        push(
            &c,
            &pool,
            &id,
            &format!("ds{d}"),
            vec![replace("k", "v", 0)],
        )
        .await
        .unwrap();
    }
    c.set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .cognito_streams(
            CognitoStreams::builder()
                .stream_name(&stream)
                .role_arn(ROLE)
                .streaming_status(StreamingStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    proxy.set_up(false).await;
    c.bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = c
        .get_bulk_publish_details()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(d.bulk_publish_status().unwrap().as_str(), "IN_PROGRESS");
    server.shutdown().await.unwrap();

    // A new process on the same data picks the job up where it stopped.
    proxy.set_up(true).await;
    let server = cogsync::server::start(config(&moto)).await.unwrap();
    let c = sync_client(
        &format!("http://{}", server.addr()),
        ACCESS_KEY,
        SECRET_KEY,
        None,
    );
    let mut status = String::new();
    for _ in 0..200 {
        status = c
            .get_bulk_publish_details()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap()
            .bulk_publish_status()
            .unwrap()
            .as_str()
            .to_string();
        if status != "IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(
        ks::read_at_least(&k, &stream, 10, Duration::from_secs(10))
            .await
            .len(),
        10
    );
    server.shutdown().await.unwrap();
}

/// Undelivered stream events of one pool.
fn pending_stream_events(s: &TestServer, pool: &str) -> i64 {
    let db = rusqlite::Connection::open(s.data_dir().join("cogsync.sqlite3")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM outbox WHERE pool_id = ?1 AND target LIKE 'kinesis:%'",
        [pool],
        |r| r.get(0),
    )
    .unwrap()
}

/// The pool's undelivered stream events, once there are none or 20 s have passed.
async fn pending_stream_events_once_drained(s: &TestServer, pool: &str) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pending = pending_stream_events(s, pool);
        if pending == 0 || std::time::Instant::now() >= deadline {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn streams_of(s: &TestServer, pool: &str) -> CognitoStreams {
    s.sync()
        .get_identity_pool_configuration()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap()
        .cognito_streams()
        .cloned()
        .expect("CognitoStreams configured")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_turns_streaming_off_and_its_events_are_dropped() {
    let Some(moto) =
        moto_url("streams::a_deleted_stream_turns_streaming_off_and_its_events_are_dropped")
    else {
        return;
    };
    let k = ks::client(&moto);
    let stream = ks::new_stream(&k).await;
    let s = TestServer::start_custom(|c| c.aws = aws_at(&moto)).await;
    let (pool, id) = s.pool_and_identity().await;
    // Another pool on another stream is not affected.
    let (other, other_id) = s.pool_and_identity().await;
    let other_stream = ks::new_stream(&k).await;
    enable_streams(&s, &pool, &stream, StreamingStatus::Enabled).await;
    enable_streams(&s, &other, &other_stream, StreamingStatus::Enabled).await;
    let c = s.sync();

    push(&c, &pool, &id, "ds0", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    assert_eq!(
        ks::read_at_least(&k, &stream, 1, Duration::from_secs(20))
            .await
            .len(),
        1,
        "delivered while the stream exists"
    );

    k.delete_stream().stream_name(&stream).send().await.unwrap();
    for n in 1..=4 {
        push(
            &c,
            &pool,
            &id,
            &format!("ds{n}"),
            vec![replace("k", "v", 0)],
        )
        .await
        .unwrap();
    }
    let mut status = None;
    for _ in 0..200 {
        status = streams_of(&s, &pool).await.streaming_status().cloned();
        if status == Some(StreamingStatus::Disabled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        Some(StreamingStatus::Disabled),
        "deleting the stream turns Cognito Streams off"
    );
    let config = streams_of(&s, &pool).await;
    assert_eq!(
        (config.stream_name(), config.role_arn()),
        (Some(stream.as_str()), Some(ROLE)),
        "the rest of the configuration is kept"
    );
    // A write that read the settings before the stream was found gone may commit its event
    // after: the dispatcher drops it, as it drops any event of a pool that no longer streams
    // there, so the state to wait for is an outbox with none of the pool's stream events.
    assert_eq!(
        pending_stream_events_once_drained(&s, &pool).await,
        0,
        "the pool's stream events are dropped with it"
    );

    // A stream of the same name, created afterwards, gets nothing: the pool stores no more
    // stream events at all.
    k.create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    push(&c, &pool, &id, "ds5", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    assert_eq!(
        pending_stream_events(&s, &pool),
        0,
        "nothing more is published"
    );
    assert!(ks::read_all(&k, &stream).await.is_empty());

    // The other pool still streams.
    push(&c, &other, &other_id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    assert_eq!(
        ks::read_at_least(&k, &other_stream, 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
    assert_eq!(
        streams_of(&s, &other).await.streaming_status(),
        Some(&StreamingStatus::Enabled)
    );
}
