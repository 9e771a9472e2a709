//! Cognito Streams to a webhook, with Kinesis unreachable: a pool configured with a Kinesis
//! stream name that the operator routes to a webhook gets every record POSTed, signed
//! (Standard Webhooks, checked by the receiver `fake_webhook`), in order per dataset, with an
//! id that stays the same across retries; an outage delays records and loses none; a redirect
//! is not followed; BulkPublish goes the same way; a 410 turns the pool's streaming off, as a
//! deleted Kinesis stream does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::*;
use crate::fake_webhook::{FakeWebhook, Mode, Post};
use crate::routes_support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A server streaming `stream` to `hook`.
async fn server(hook: &FakeWebhook, stream: &str) -> (TestServer, RouteFlags) {
    let mut flags = RouteFlags::new();
    let secret = flags.secret("whsec", &hook.secret);
    flags
        .webhooks
        .push(format!("{stream}=url={};secret={secret}", hook.url));
    let routes = flags.routes();
    let s = TestServer::start_custom(|c| {
        c.aws = nowhere();
        c.routes = routes;
    })
    .await;
    (s, flags)
}

/// The distinct records accepted, by webhook-id, checking a redelivery carries the same body.
fn distinct(posts: &[Post]) -> BTreeMap<String, Post> {
    let mut by_id: BTreeMap<String, Post> = BTreeMap::new();
    for p in posts {
        if let Some(first) = by_id.get(&p.id) {
            assert_eq!(first.body, p.body, "one id, one record");
        } else {
            by_id.insert(p.id.clone(), p.clone());
        }
    }
    by_id
}

/// Each dataset's syncCounts in the order accepted (first acceptance of each id).
fn counts_by_dataset(posts: &[Post]) -> HashMap<String, Vec<i64>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for p in posts.iter().filter(|p| seen.insert(p.id.clone())) {
        let ds = p.body["dataSetName"].as_str().unwrap().to_owned();
        out.entry(ds)
            .or_default()
            .push(p.body["syncCount"].as_i64().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_posted_signed_in_order_through_an_outage_and_a_redirect() {
    let hook = FakeWebhook::start().await;
    let stream = "cognito-changes";
    let (s, _flags) = server(&hook, stream).await;
    let (pool, id) = s.pool_and_identity().await;
    streams(&s, &pool, stream).await;
    let c = s.sync();

    for n in 0..4 {
        for ds in ["profile", "scores"] {
            push(&c, &pool, &id, ds, vec![replace("k", &format!("v{n}"), n)])
                .await
                .unwrap();
        }
    }
    until("eight records", WAIT, || {
        distinct(&hook.accepted()).len() == 8
    })
    .await;
    assert!(hook.bad().is_empty(), "{:?}", hook.bad());
    let by_ds = counts_by_dataset(&hook.accepted());
    assert_eq!(by_ds["profile"], [1, 2, 3, 4]);
    assert_eq!(by_ds["scores"], [1, 2, 3, 4]);
    let first = &hook.accepted()[0];
    assert_eq!(first.body["identityPoolId"], pool.as_str());
    assert_eq!(first.body["identityId"], id.as_str());
    assert_eq!(first.body["operation"], "replace");
    assert_eq!(first.body["payloadType"], "Inline");
    assert_eq!(first.body["kinesisSyncRecords"][0]["key"], "k");
    assert_eq!(
        first.partition_key,
        format!("{id}/{}", first.body["dataSetName"].as_str().unwrap())
    );
    assert_eq!(first.stream, stream);

    // An outage: the syncs succeed, the records wait, the same ids are tried again.
    hook.set(Mode::Fail(503));
    for n in 4..7 {
        push(
            &c,
            &pool,
            &id,
            "profile",
            vec![replace("k", &format!("v{n}"), n)],
        )
        .await
        .unwrap();
    }
    until("three failed attempts", WAIT, || {
        hook.posts().iter().filter(|p| p.status == 503).count() >= 3
    })
    .await;
    let failed_ids: Vec<String> = hook
        .posts()
        .iter()
        .filter(|p| p.status == 503)
        .map(|p| p.id.clone())
        .collect();
    assert!(
        failed_ids.iter().all(|i| *i == failed_ids[0]),
        "one dataset's records wait behind its first, tried again under its id: {failed_ids:?}"
    );
    // A redirect is not followed, and is not a delivery.
    hook.set(Mode::Redirect);
    until("a redirected attempt", WAIT, || {
        hook.posts().iter().any(|p| p.status == 307)
    })
    .await;
    hook.set(Mode::Accept);
    until("every record after the outage", WAIT, || {
        distinct(&hook.accepted()).len() == 11 && outbox_rows(&s) == 0
    })
    .await;
    assert_eq!(hook.redirected(), 0, "no redirect followed");
    let records = distinct(&hook.accepted());
    assert!(
        records.contains_key(&failed_ids[0]),
        "delivered under the id it failed with"
    );
    assert_eq!(
        counts_by_dataset(&hook.accepted())["profile"],
        [1, 2, 3, 4, 5, 6, 7],
        "nothing lost, nothing out of order"
    );
    assert!(hook.bad().is_empty(), "{:?}", hook.bad());

    // BulkPublish goes to the same webhook: one record per live dataset.
    c.bulk_publish()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    until("the bulk publish", WAIT, || {
        distinct(&hook.accepted()).len() == 13
    })
    .await;
    let details = c
        .get_bulk_publish_details()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let status = details.bulk_publish_status().map(|s| s.as_str().to_owned());
    assert_eq!(status.as_deref(), Some("SUCCEEDED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_410_turns_streaming_off() {
    let hook = FakeWebhook::start().await;
    let (s, _flags) = server(&hook, "retired").await;
    let (pool, id) = s.pool_and_identity().await;
    streams(&s, &pool, "retired").await;
    hook.set(Mode::Gone);
    let c = s.sync();
    push(&c, &pool, &id, "ds", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    push(&c, &pool, &id, "other", vec![replace("k", "v", 0)])
        .await
        .unwrap();
    let mut status = None;
    for _ in 0..200 {
        status = streaming_status(&s, &pool).await;
        if status.as_deref() == Some("DISABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.as_deref(), Some("DISABLED"));
    until("the pool's stream events dropped", WAIT, || {
        outbox_rows(&s) == 0
    })
    .await;
    let seen = hook.posts().len();
    push(&c, &pool, &id, "ds", vec![replace("k", "w", 1)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.posts().len(), seen, "nothing streams any more");
    assert_eq!(outbox_rows(&s), 0, "and nothing waits");
}
