//! The conformance cases of upstream mode's store operations: attachments changed only as
//! their deciders say, heartbeats and acknowledgements, dirty marks kept when marked again,
//! and a mirror that writes its plan or nothing.

use std::collections::BTreeMap;

use super::{pool, record, setup};
use crate::store::*;
use crate::upstream::rules;

pub async fn cases(store: &dyn Store) {
    attachments_change_by_compare_and_set(store).await;
    heartbeats_record_acknowledgements_and_answer_every_pool(store).await;
    dirty_marks_survive_a_read_that_predates_them(store).await;
    a_mirror_writes_its_plan_or_nothing(store).await;
}

async fn attachments_change_by_compare_and_set(store: &dyn Store) {
    let p = "us-east-1:up-cas";
    store.create_pool(&pool(p)).await.unwrap();
    let attach = |upstream: &'static str| -> AttachDecider {
        Box::new(move |s| rules::attach(s, p, upstream, 10))
    };
    let first = store
        .update_upstream(p, attach("endpoint:a"))
        .await
        .unwrap();
    assert_eq!(first.map(|r| r.version), Some(1));
    assert_eq!(
        store
            .update_upstream(p, attach("endpoint:b"))
            .await
            .unwrap(),
        None
    );
    let drain = |v| -> AttachDecider {
        Box::new(move |s| rules::transition(s, v, AttachState::Attached, AttachState::Draining, 20))
    };
    assert_eq!(
        store.update_upstream(p, drain(7)).await.unwrap(),
        None,
        "a stale version"
    );
    let drained = store.update_upstream(p, drain(1)).await.unwrap().unwrap();
    assert_eq!((drained.state, drained.version), (AttachState::Draining, 2));
    let rows = store.upstream_pools().await.unwrap();
    let row = rows.iter().find(|r| r.pool_id == p).unwrap();
    assert_eq!(row, &drained);
    assert_eq!(row.upstream, "endpoint:a");
    // The lease and the pass recorded on the row, read back whole.
    let leased = store
        .update_upstream(
            p,
            Box::new(|s| {
                s.map(|s| UpstreamPool {
                    copy_lease: Some(("node-1".into(), 99)),
                    copy_done_ms: Some(42),
                    report: Some("done".into()),
                    ..s.clone()
                })
            }),
        )
        .await
        .unwrap()
        .unwrap();
    let rows = store.upstream_pools().await.unwrap();
    assert_eq!(rows.iter().find(|r| r.pool_id == p), Some(&leased));
}

async fn heartbeats_record_acknowledgements_and_answer_every_pool(store: &dyn Store) {
    let p = "us-east-1:up-beat";
    store.create_pool(&pool(p)).await.unwrap();
    store
        .update_upstream(p, Box::new(move |s| rules::attach(s, p, "region:x", 1)))
        .await
        .unwrap();
    let acks = BTreeMap::from([(p.to_string(), 3)]);
    let now = crate::timeutil::now_ms();
    let pools = store
        .upstream_heartbeat("node-a", now, &acks)
        .await
        .unwrap();
    assert!(pools.iter().any(|r| r.pool_id == p));
    store
        .upstream_heartbeat("node-b", now, &BTreeMap::new())
        .await
        .unwrap();
    // A node's later beat replaces its acknowledgements.
    let later = BTreeMap::from([(p.to_string(), 4)]);
    store
        .upstream_heartbeat("node-a", now + 1, &later)
        .await
        .unwrap();
    let nodes = store.upstream_nodes().await.unwrap();
    let a = nodes.iter().find(|n| n.node_id == "node-a").unwrap();
    assert_eq!((a.seen_ms, a.acks.get(p)), (now + 1, Some(&4)));
    let b = nodes.iter().find(|n| n.node_id == "node-b").unwrap();
    assert!(b.acks.is_empty());
    // A node unseen for a day is forgotten at the next beat.
    store
        .upstream_heartbeat("node-old", now - 2 * 86_400_000, &BTreeMap::new())
        .await
        .unwrap();
    store
        .upstream_heartbeat("node-a", now + 2, &later)
        .await
        .unwrap();
    let nodes = store.upstream_nodes().await.unwrap();
    assert!(nodes.iter().all(|n| n.node_id != "node-old"));
}

async fn dirty_marks_survive_a_read_that_predates_them(store: &dyn Store) {
    let p = "us-east-1:up-dirty";
    store.create_pool(&pool(p)).await.unwrap();
    store.mark_dirty(p, "i-1", 10).await.unwrap();
    store.mark_dirty(p, "i-2", 20).await.unwrap();
    store.mark_dirty(p, "i-1", 30).await.unwrap();
    let marks = store.dirty(p, 10).await.unwrap();
    assert_eq!(
        marks,
        vec![("i-2".to_string(), 20), ("i-1".to_string(), 30)]
    );
    // Read at 25: i-1 was marked again since, so it stays.
    store.clear_dirty(p, "i-1", 25).await.unwrap();
    store.clear_dirty(p, "i-2", 25).await.unwrap();
    assert_eq!(
        store.dirty(p, 10).await.unwrap(),
        vec![("i-1".to_string(), 30)]
    );
    assert_eq!(store.dirty(p, 0).await.unwrap(), vec![]);
}

async fn a_mirror_writes_its_plan_or_nothing(store: &dyn Store) {
    let (p, i) = ("us-east-1:up-mirror", "us-east-1:up-mirror-i");
    setup(store, p, i).await;
    let plan = |count: i64| -> MirrorDecider {
        Box::new(move |snap: &UpdateSnapshot| {
            let held = snap.dataset.as_ref().map_or(0, |d| d.sync_count);
            (held < count).then(|| UpdatePlan {
                dataset: DatasetRow {
                    identity_id: i.into(),
                    name: "d".into(),
                    live: true,
                    sync_count: count,
                    creation_ms: 1,
                    last_modified_ms: 2,
                    last_modified_by: "upstream".into(),
                    data_storage: 2,
                    num_records: 1,
                    deleted_at_sync_count: None,
                    merged_into: None,
                },
                records: vec![RecordRow {
                    sync_count: count,
                    ..record("k", Some("v"), count)
                }],
                outbox: Vec::new(),
            })
        })
    };
    let backlog = store.outbox_backlog().await.unwrap();
    let written = store
        .mirror_records(i, "d", vec!["k".into()], plan(5))
        .await
        .unwrap();
    assert_eq!(written.map(|p| p.dataset.sync_count), Some(5));
    let again = store
        .mirror_records(i, "d", vec!["k".into()], plan(5))
        .await
        .unwrap();
    assert!(again.is_none(), "a mirror declined, yet wrote");
    let page = store.list_records(i, "d", 0, None, 10).await.unwrap();
    assert_eq!(page.dataset.map(|d| d.sync_count), Some(5));
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        backlog,
        "a mirror wrote outbox events"
    );
}
