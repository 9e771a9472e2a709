//! Cognito Streams to NATS JetStream, with Kinesis unreachable, against a real nats-server
//! (`nats_support`): a pool configured with a Kinesis stream name that the operator routes
//! to NATS gets every record published and acknowledged, read back in order per dataset with
//! its event id as `Nats-Msg-Id`; a redelivery of one event is stored once; BulkPublish goes
//! the same way; a subject no JetStream stream takes turns streaming off; the server stopped
//! and started again mid-test loses nothing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cogsync::sync::ports::{StreamRecord, StreamSink};

use crate::common::*;
use crate::nats_support::*;
use crate::routes_support::*;

const WAIT: Duration = Duration::from_secs(60);

fn counts_by_dataset(stored: &[Stored]) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for m in stored {
        out.entry(m.body["dataSetName"].as_str().unwrap().to_owned())
            .or_default()
            .push(m.body["syncCount"].as_i64().unwrap());
    }
    out
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_published_in_order_and_a_missing_stream_turns_streaming_off() {
    let Some((url, _private)) = nats_for(
        "streams_nats::records_are_published_in_order_and_a_missing_stream_turns_streaming_off",
    )
    .await
    else {
        return;
    };
    let (stream, missing) = (
        format!("changes-{}", unique()),
        format!("nowhere-{}", unique()),
    );
    let jetstream = format!("COGSYNC_{}", unique());
    create_stream(&url, &jetstream, &format!("cogsync.{stream}")).await;
    let mut flags = RouteFlags::new();
    flags.nats.push(format!("{stream}=url={url}"));
    flags.nats.push(format!("{missing}=url={url}"));
    let routes = flags.routes();
    let route = routes.streams[&stream].clone();
    let s = TestServer::start_custom(|c| {
        c.aws = nowhere();
        c.routes = routes;
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    streams(&s, &pool, &stream).await;
    let c = s.sync();
    for n in 0..4 {
        for ds in ["inbox", "settings"] {
            push(&c, &pool, &id, ds, vec![replace("k", &format!("v{n}"), n)])
                .await
                .unwrap();
        }
    }
    let stored = read_at_least(&url, &jetstream, 8, WAIT).await;
    assert_eq!(stored.len(), 8);
    let by_ds = counts_by_dataset(&stored);
    assert_eq!(by_ds["inbox"], [1, 2, 3, 4]);
    assert_eq!(by_ds["settings"], [1, 2, 3, 4]);
    let ids: HashSet<&str> = stored.iter().map(|m| m.msg_id.as_str()).collect();
    assert_eq!(ids.len(), 8, "one Nats-Msg-Id per event");
    assert!(stored[0].msg_id.starts_with("cogsync-"));
    let first = &stored[0];
    assert_eq!(first.body["identityPoolId"], pool.as_str());
    assert_eq!(first.body["kinesisSyncRecords"][0]["key"], "k");
    assert_eq!(
        first.partition_key,
        format!("{id}/{}", first.body["dataSetName"].as_str().unwrap())
    );

    // BulkPublish: one record per live dataset, the same way.
    c.bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(read_at_least(&url, &jetstream, 10, WAIT).await.len(), 10);

    // The same event delivered twice (a node died before recording its delivery) is stored
    // once: the sink as the dispatcher uses it.
    let sink = cogsync::integrations::nats::NatsSink::new(match &route {
        cogsync::integrations::routes::StreamRoute::Nats(n) => n,
        other => panic!("{other:?}"),
    });
    let record = StreamRecord {
        stream: &stream,
        partition_key: "p/ds",
        data: br#"{"dataSetName":"again","syncCount":1}"#,
        event_id: 9_000_000_001,
    };
    sink.put_record(record).await.unwrap();
    sink.put_record(record).await.unwrap();
    let stored = read_at_least(&url, &jetstream, 11, WAIT).await;
    assert_eq!(stored.len(), 11, "the redelivery was a duplicate");

    // No JetStream stream takes the subject: Cognito Streams turns off, as for a deleted
    // Kinesis stream, once JetStream confirms it.
    let (other, oid) = s.pool_and_identity().await;
    streams(&s, &other, &missing).await;
    push(&c, &other, &oid, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let mut status = None;
    for _ in 0..400 {
        status = streaming_status(&s, &other).await;
        if status.as_deref() == Some("DISABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.as_deref(), Some("DISABLED"));
    assert_eq!(
        streaming_status(&s, &pool).await.as_deref(),
        Some("ENABLED")
    );
    delete_stream(&url, &jetstream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restarted_mid_stream_loses_nothing() {
    let Some(mut nats) =
        NatsServer::start("streams_nats::a_nats_server_restarted_mid_stream_loses_nothing").await
    else {
        return;
    };
    let url = nats.url.clone();
    create_stream(&url, "COGSYNC", "cogsync.>").await;
    let mut flags = RouteFlags::new();
    flags.nats.push(format!("changes=url={url}"));
    let routes = flags.routes();
    let s = TestServer::start_custom(|c| {
        c.aws = nowhere();
        c.routes = routes;
    })
    .await;
    let (pool, id) = s.pool_and_identity().await;
    streams(&s, &pool, "changes").await;
    let c = s.sync();
    for n in 0..3 {
        push(
            &c,
            &pool,
            &id,
            "ds",
            vec![replace("k", &format!("v{n}"), n)],
        )
        .await
        .unwrap();
    }
    assert_eq!(read_at_least(&url, "COGSYNC", 3, WAIT).await.len(), 3);

    // NATS goes away: syncs still succeed, their records wait in the outbox.
    nats.stop().await;
    for n in 3..6 {
        push(
            &c,
            &pool,
            &id,
            "ds",
            vec![replace("k", &format!("v{n}"), n)],
        )
        .await
        .unwrap();
    }
    assert_eq!(outbox_rows(&s), 3, "three records wait");
    nats.restart().await;
    let stored = read_at_least(&url, "COGSYNC", 6, WAIT).await;
    until("the outbox drained", WAIT, || outbox_rows(&s) == 0).await;
    let stored_after = read_at_least(&url, "COGSYNC", 6, WAIT).await;
    assert_eq!(stored_after.len(), 6, "nothing stored twice");
    assert_eq!(counts_by_dataset(&stored)["ds"], [1, 2, 3, 4, 5, 6]);
    let ids: HashSet<&str> = stored.iter().map(|m| m.msg_id.as_str()).collect();
    assert_eq!(ids.len(), 6);
}
