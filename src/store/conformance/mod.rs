//! The store conformance suite: behaviour every [`Store`] backend must show, whatever engine
//! is behind it. Each backend's tests call [`run_all`] on a fresh, empty store.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

/// Writes the secret `name` inside `tx` without committing: the first half of a write that
/// an engine test then breaks off (a panic, a caller hanging up).
pub async fn write_half<X: crate::store::sql::Tx>(tx: &mut X, name: &str) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO secrets (name, value) VALUES ($1, $2)",
        &[
            crate::store::sql::Param::Text(name),
            crate::store::sql::Param::Bytes(b"half-written"),
        ],
    )
    .await
    .map(|_| ())
}

mod upstream;

pub async fn run_all(store: Arc<dyn Store>) {
    secrets_are_first_writer_wins(&*store).await;
    pools_and_identities_round_trip_and_page(&*store).await;
    updates_apply_the_plan_atomically(&*store).await;
    a_refused_update_writes_nothing(&*store).await;
    records_list_in_count_order_with_cursors(&*store).await;
    pages_cut_and_follow_one_order_of_keys(&*store).await;
    delete_keeps_the_counter_and_marks_the_deletion(&*store).await;
    concurrent_updates_on_one_dataset_are_serialised(store.clone()).await;
    deleting_a_pool_removes_everything_under_it(&*store).await;
    logins_link_once_and_follow_merges(&*store).await;
    login_transactions_read_decide_and_apply(&*store).await;
    pool_settings_are_what_the_decider_makes_of_the_stored_ones(&*store).await;
    totals_sum_the_datasets_of_an_identity_and_a_pool(&*store).await;
    outbox_events_commit_with_writes_and_leave_in_order(&*store).await;
    bulk_publish_jobs_follow_their_state_machine(&*store).await;
    a_disabled_device_is_enabled_again_by_putting_it(&*store).await;
    a_gone_stream_target_changes_settings_and_drops_its_events_at_once(&*store).await;
    reads_see_deletes_merges_and_new_settings_at_once(&*store).await;
    identities_and_pools_are_copied_whole_and_imported_as_decided(&*store).await;
    upstream::cases(&*store).await;
}

fn streams(name: &str, status: Option<&str>) -> CognitoStreams {
    CognitoStreams {
        stream_name: Some(name.into()),
        role_arn: None,
        streaming_status: status.map(Into::into),
    }
}

fn trigger(function: &str) -> std::collections::BTreeMap<String, String> {
    [("SyncTrigger".to_owned(), function.to_owned())].into()
}

pub(crate) fn pool(id: &str) -> PoolRecord {
    PoolRecord {
        id: id.into(),
        name: format!("name of {id}"),
        allow_unauthenticated: true,
        developer_provider_name: None,
        details: crate::store::PoolDetails {
            other: serde_json::from_str(r#"{"AllowClassicFlow":true}"#).unwrap(),
            ..Default::default()
        },
        created_ms: 1,
    }
}

pub(crate) fn identity(id: &str, pool_id: &str) -> IdentityRecord {
    IdentityRecord {
        id: id.into(),
        pool_id: pool_id.into(),
        created_ms: 2,
        last_modified_ms: 2,
    }
}

pub(crate) fn record(key: &str, value: Option<&str>, sync_count: i64) -> RecordRow {
    RecordRow {
        key: key.into(),
        value: value.map(Into::into),
        sync_count,
        last_modified_ms: 10,
        last_modified_by: "tester".into(),
        device_last_modified_ms: Some(9),
    }
}

/// A decider that bumps the counter and writes `records` (their counts set to the new one).
pub(crate) fn bump(identity_id: &str, name: &str, records: Vec<RecordRow>) -> UpdateDecider {
    let (identity_id, name) = (identity_id.to_owned(), name.to_owned());
    Box::new(move |snap: &UpdateSnapshot| {
        let count = snap.dataset.as_ref().map_or(0, |d| d.sync_count) + 1;
        Ok(UpdatePlan {
            dataset: DatasetRow {
                identity_id: identity_id.clone(),
                name: name.clone(),
                live: true,
                sync_count: count,
                creation_ms: 5,
                last_modified_ms: 6,
                last_modified_by: "tester".into(),
                data_storage: 0,
                num_records: records.len() as i64,
                deleted_at_sync_count: snap.dataset.as_ref().and_then(|d| d.deleted_at_sync_count),
                merged_into: snap.dataset.as_ref().and_then(|d| d.merged_into.clone()),
            },
            records: records
                .iter()
                .map(|r| RecordRow {
                    sync_count: count,
                    ..r.clone()
                })
                .collect(),
            outbox: Vec::new(),
        })
    })
}

pub(crate) async fn setup(store: &dyn Store, pool_id: &str, identity_id: &str) {
    store.create_pool(&pool(pool_id)).await.unwrap();
    store
        .create_identity(&identity(identity_id, pool_id))
        .await
        .unwrap();
}

async fn secrets_are_first_writer_wins(store: &dyn Store) {
    let a = store.secret("k", b"first".to_vec()).await.unwrap();
    let b = store.secret("k", b"second".to_vec()).await.unwrap();
    assert_eq!(a, b"first");
    assert_eq!(b, b"first");
}

async fn pools_and_identities_round_trip_and_page(store: &dyn Store) {
    for id in ["r:01", "r:02", "r:03"] {
        store.create_pool(&pool(id)).await.unwrap();
    }
    assert!(matches!(
        store.create_pool(&pool("r:01")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get_pool("r:02").await.unwrap(), Some(pool("r:02")));
    assert_eq!(store.get_pool("r:09").await.unwrap(), None);
    let first = store.list_pools(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["r:01", "r:02"]
    );
    let rest = store.list_pools(Some("r:02"), 2).await.unwrap();
    assert_eq!(
        rest.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["r:03"]
    );

    let mut changed = pool("r:02");
    changed.name = "renamed".into();
    changed.developer_provider_name = Some("login.dev".into());
    let to = changed.clone();
    let updated = store
        .update_pool("r:02", Box::new(move |_| Ok(to.clone())))
        .await
        .unwrap();
    assert_eq!(updated.as_ref(), Some(&changed));
    assert_eq!(store.get_pool("r:02").await.unwrap(), Some(changed));
    let absent = store
        .update_pool("r:99", Box::new(|p| Ok(p.clone())))
        .await
        .unwrap();
    assert!(absent.is_none());
    let refused = store
        .update_pool(
            "r:02",
            Box::new(|_| Err(Rejection::InvalidParameter("no".into()))),
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rejected(Rejection::InvalidParameter(_)))
    ));

    for id in ["r:a1", "r:a2"] {
        store.create_identity(&identity(id, "r:01")).await.unwrap();
    }
    store
        .create_identity(&identity("r:b1", "r:02"))
        .await
        .unwrap();
    assert_eq!(
        store.get_identity("r:a2").await.unwrap(),
        Some(identity("r:a2", "r:01"))
    );
    assert_eq!(store.count_identities("r:01").await.unwrap(), 2);
    assert_eq!(store.count_identities("r:03").await.unwrap(), 0);
    let ids = store.list_identities("r:01", None, 10).await.unwrap();
    assert_eq!(
        ids.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["r:a1", "r:a2"]
    );
    let ids = store
        .list_identities("r:01", Some("r:a1"), 10)
        .await
        .unwrap();
    assert_eq!(
        ids.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["r:a2"]
    );
}

async fn updates_apply_the_plan_atomically(store: &dyn Store) {
    setup(store, "u:01", "u:i1").await;
    let plan = store
        .update_records(
            "u:i1",
            "ds",
            vec!["a".into()],
            bump("u:i1", "ds", vec![record("a", Some("1"), 0)]),
        )
        .await
        .unwrap();
    assert_eq!(plan.dataset.sync_count, 1);
    let seen: Arc<std::sync::Mutex<Option<UpdateSnapshot>>> = Arc::default();
    let seen2 = seen.clone();
    let inner = bump("u:i1", "ds", vec![record("b", None, 0)]);
    store
        .update_records(
            "u:i1",
            "ds",
            vec!["a".into(), "b".into()],
            Box::new(move |s| {
                *seen2.lock().unwrap() = Some(s.clone());
                inner(s)
            }),
        )
        .await
        .unwrap();
    let snap = seen.lock().unwrap().clone().unwrap();
    assert_eq!(snap.dataset.as_ref().map(|d| d.sync_count), Some(1));
    assert_eq!(
        snap.existing.get("a").map(|r| r.value.clone()),
        Some(Some("1".into()))
    );
    assert!(!snap.existing.contains_key("b"));
    assert_eq!(snap.live_datasets, 1);

    let d = store.get_dataset("u:i1", "ds").await.unwrap().unwrap();
    assert_eq!((d.sync_count, d.live, d.num_records), (2, true, 1));
    let page = store
        .list_records("u:i1", "ds", 0, None, usize::MAX)
        .await
        .unwrap();
    let got: HashMap<_, _> = page
        .records
        .iter()
        .map(|r| (r.key.clone(), (r.value.clone(), r.sync_count)))
        .collect();
    assert_eq!(got["a"], (Some("1".into()), 1));
    assert_eq!(got["b"], (None, 2), "tombstones are stored without a value");
    assert_eq!(page.records[0].device_last_modified_ms, Some(9));
}

async fn a_refused_update_writes_nothing(store: &dyn Store) {
    setup(store, "f:01", "f:i1").await;
    store
        .update_records(
            "f:i1",
            "ds",
            vec!["a".into()],
            bump("f:i1", "ds", vec![record("a", Some("1"), 0)]),
        )
        .await
        .unwrap();
    let refused = store
        .update_records(
            "f:i1",
            "ds",
            vec!["a".into()],
            Box::new(|_| {
                Err(Rejection::Conflict {
                    key: "a".into(),
                    stored: 1,
                    sent: 0,
                })
            }),
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rejected(Rejection::Conflict { .. }))
    ));
    let d = store.get_dataset("f:i1", "ds").await.unwrap().unwrap();
    assert_eq!(d.sync_count, 1);
    let refused_new = store
        .update_records(
            "f:i1",
            "other",
            vec![],
            Box::new(|_| Err(Rejection::LimitExceeded("x".into()))),
        )
        .await;
    assert!(refused_new.is_err());
    assert_eq!(store.get_dataset("f:i1", "other").await.unwrap(), None);
}

async fn records_list_in_count_order_with_cursors(store: &dyn Store) {
    setup(store, "l:01", "l:i1").await;
    for keys in [vec!["c", "a"], vec!["b"], vec!["d", "e"]] {
        let recs = keys.iter().map(|k| record(k, Some("v"), 0)).collect();
        store
            .update_records(
                "l:i1",
                "ds",
                keys.iter().map(|k| k.to_string()).collect(),
                bump("l:i1", "ds", recs),
            )
            .await
            .unwrap();
    }
    let order = |p: &RecordsPage| {
        p.records
            .iter()
            .map(|r| (r.sync_count, r.key.clone()))
            .collect::<Vec<_>>()
    };
    let all = store
        .list_records("l:i1", "ds", 0, None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        order(&all),
        [
            (1, "a".into()),
            (1, "c".into()),
            (2, "b".into()),
            (3, "d".into()),
            (3, "e".into())
        ]
    );
    assert!(!all.more);
    let after1 = store
        .list_records("l:i1", "ds", 1, None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(after1.records.len(), 3);
    let p1 = store.list_records("l:i1", "ds", 0, None, 2).await.unwrap();
    assert!(p1.more);
    assert_eq!(order(&p1), [(1, "a".into()), (1, "c".into())]);
    let cursor = (1, "c".to_string());
    let p2 = store
        .list_records("l:i1", "ds", 0, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(order(&p2), [(2, "b".into()), (3, "d".into())]);
    let cursor = (3, "d".to_string());
    let p3 = store
        .list_records("l:i1", "ds", 0, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(order(&p3), [(3, "e".into())]);
    assert!(!p3.more);
    let none = store
        .list_records("l:i1", "missing", 0, None, 10)
        .await
        .unwrap();
    assert!(none.dataset.is_none() && none.records.is_empty());
}

/// Paging one record at a time through keys that collations order differently (case,
/// punctuation, digits, accents) returns each key once, in the full listing's order: the
/// page's cut, its order and the next page's cursor all use one order of keys (bytes),
/// whatever the database's collation.
pub async fn pages_cut_and_follow_one_order_of_keys(store: &dyn Store) {
    setup(store, "col:01", "col:i1").await;
    let keys = [
        "a", "B", "b", "A", "_x", "10", "9", "\u{e9}", "e", "Z", "a b", "ab",
    ];
    let recs = keys.iter().map(|k| record(k, Some("v"), 0)).collect();
    let names = keys.iter().map(|k| k.to_string()).collect();
    store
        .update_records("col:i1", "ds", names, bump("col:i1", "ds", recs))
        .await
        .unwrap();
    let all = store
        .list_records("col:i1", "ds", 0, None, usize::MAX)
        .await
        .unwrap();
    let in_order: Vec<String> = all.records.iter().map(|r| r.key.clone()).collect();
    let mut seen = Vec::new();
    let mut cursor: Option<(i64, String)> = None;
    loop {
        let page = store
            .list_records("col:i1", "ds", 0, cursor.as_ref(), 1)
            .await
            .unwrap();
        let Some(last) = page.records.last() else {
            break;
        };
        seen.push(last.key.clone());
        cursor = Some((last.sync_count, last.key.clone()));
        assert!(seen.len() <= keys.len(), "paging does not end: {seen:?}");
        if !page.more {
            break;
        }
    }
    assert_eq!(
        seen, in_order,
        "pages of one follow the full listing's order"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(sorted, expected, "every key exactly once");
}

async fn delete_keeps_the_counter_and_marks_the_deletion(store: &dyn Store) {
    setup(store, "d:01", "d:i1").await;
    for _ in 0..3 {
        store
            .update_records(
                "d:i1",
                "ds",
                vec!["a".into()],
                bump("d:i1", "ds", vec![record("a", Some("v"), 0)]),
            )
            .await
            .unwrap();
    }
    let before = store
        .delete_dataset("d:i1", "ds", tombstone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (before.sync_count, before.live, before.num_records),
        (3, true, 1)
    );
    assert_eq!(
        store
            .delete_dataset("d:i1", "ds", tombstone())
            .await
            .unwrap(),
        None,
        "a second delete finds nothing"
    );
    let after = store.get_dataset("d:i1", "ds").await.unwrap().unwrap();
    assert_eq!(
        (after.live, after.sync_count, after.deleted_at_sync_count),
        (false, 3, Some(3))
    );
    assert!(store
        .list_datasets("d:i1", None, 10)
        .await
        .unwrap()
        .is_empty());
    let page = store.list_records("d:i1", "ds", 0, None, 10).await.unwrap();
    assert!(page.records.is_empty(), "records go with the dataset");
    let plan = store
        .update_records(
            "d:i1",
            "ds",
            vec!["a".into()],
            bump("d:i1", "ds", vec![record("a", Some("v"), 0)]),
        )
        .await
        .unwrap();
    assert_eq!(
        plan.dataset.sync_count, 4,
        "the counter continues after re-creation"
    );
    assert_eq!(
        store.list_datasets("d:i1", None, 10).await.unwrap().len(),
        1
    );
}

async fn concurrent_updates_on_one_dataset_are_serialised(store: Arc<dyn Store>) {
    setup(&*store, "c:01", "c:i1").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("k{i}");
                store
                    .update_records(
                        "c:i1",
                        "ds",
                        vec![key.clone()],
                        bump("c:i1", "ds", vec![record(&key, Some("v"), 0)]),
                    )
                    .await
                    .map(|p| p.dataset.sync_count)
            })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap().unwrap());
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<_>>(),
        "every writer saw its predecessor's count"
    );
}

async fn deleting_a_pool_removes_everything_under_it(store: &dyn Store) {
    setup(store, "x:01", "x:i1").await;
    store
        .update_records(
            "x:i1",
            "ds",
            vec!["a".into()],
            bump("x:i1", "ds", vec![record("a", Some("v"), 0)]),
        )
        .await
        .unwrap();
    assert!(store.delete_pool("x:01").await.unwrap());
    assert!(!store.delete_pool("x:01").await.unwrap());
    assert_eq!(store.get_identity("x:i1").await.unwrap(), None);
    assert_eq!(store.get_dataset("x:i1", "ds").await.unwrap(), None);
    // The same ids can be used again from scratch.
    setup(store, "x:01", "x:i1").await;
    assert!(store
        .list_records("x:i1", "ds", 0, None, 10)
        .await
        .unwrap()
        .records
        .is_empty());
}

/// The product's delete rule (kept in `sync::rules`), with no outbox events.
fn tombstone() -> DeleteDecider {
    Box::new(|d: &DatasetRow| DeletePlan {
        dataset: crate::sync::rules::deleted(d),
        outbox: Vec::new(),
        at_ms: 1,
    })
}

fn login(provider: &str, subject: &str) -> LoginKey {
    (provider.into(), subject.into())
}

/// Applies `plan` in a login transaction of pool `pool` at time `now`.
async fn apply(store: &dyn Store, pool: &str, now: i64, plan: LoginPlan) -> LoginPlan {
    store
        .login_transaction(
            pool,
            LoginQuery::default(),
            now,
            Box::new(move |_| Ok(plan.clone())),
            test_copier(),
        )
        .await
        .unwrap()
}

/// A merge rule for the tests (the product's is in `identity::login_rules`): the store must
/// write exactly what it says. `<name>` becomes `copy-of-<name>` at SyncCount 5, created now,
/// with its records (tombstones too) at count 5.
fn test_copier() -> MergeCopier {
    Arc::new(|_source, dest, live, now| {
        live.into_iter()
            .map(|c| DatasetCopy {
                dataset: DatasetRow {
                    identity_id: dest.into(),
                    name: format!("copy-of-{}", c.dataset.name),
                    sync_count: 5,
                    creation_ms: now,
                    merged_into: Some(c.dataset.name.clone()),
                    ..c.dataset
                },
                records: c
                    .records
                    .into_iter()
                    .map(|r| RecordRow { sync_count: 5, ..r })
                    .collect(),
            })
            .collect()
    })
}

/// Links `who` to `identity` and returns the plan as applied.
fn link(who: LoginKey, identity: &str) -> LoginPlan {
    LoginPlan {
        link: vec![(who, identity.into())],
        ..LoginPlan::read_only(identity)
    }
}

async fn login_transactions_read_decide_and_apply(store: &dyn Store) {
    setup(store, "n:01", "n:a").await;
    // The rules see the owners and the identities asked for, with their logins.
    let new = identity("n:b", "n:01");
    let created = LoginPlan {
        create: Some(new.clone()),
        ..link(login("prov", "carol"), "n:b")
    };
    apply(store, "n:01", 5, created).await;
    let query = LoginQuery {
        logins: vec![login("prov", "carol"), login("prov", "nobody")],
        identities: vec!["n:a".into(), "n:gone".into()],
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    store
        .login_transaction(
            "n:01",
            query.clone(),
            6,
            Box::new(move |snapshot| {
                *keep.lock().unwrap() = Some(snapshot.clone());
                Ok(LoginPlan::read_only("n:b"))
            }),
            test_copier(),
        )
        .await
        .unwrap();
    let snapshot = seen.lock().unwrap().take().unwrap();
    assert_eq!(snapshot.owners.len(), 1);
    assert_eq!(snapshot.owners[&login("prov", "carol")], "n:b");
    assert_eq!(snapshot.identities["n:b"], new);
    assert!(snapshot.identities.contains_key("n:a"));
    assert!(!snapshot.identities.contains_key("n:gone"));
    assert_eq!(snapshot.logins["n:b"], [login("prov", "carol")]);
    assert!(snapshot.logins["n:a"].is_empty());

    // A refusal writes nothing, even when it comes on the second (locked) look.
    let refused = store
        .login_transaction(
            "n:01",
            query,
            7,
            Box::new(|snapshot| {
                if snapshot.owners.contains_key(&login("prov", "carol")) {
                    Err(Rejection::NotFound("no".into()))
                } else {
                    Ok(LoginPlan::read_only("x"))
                }
            }),
            test_copier(),
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rejected(Rejection::NotFound(_)))
    ));
    // A login linked already stays with its owner.
    apply(store, "n:01", 8, link(login("prov", "carol"), "n:a")).await;
    assert_eq!(
        store
            .find_login("n:01", "prov", "carol")
            .await
            .unwrap()
            .as_deref(),
        Some("n:b")
    );
}

async fn logins_link_once_and_follow_merges(store: &dyn Store) {
    setup(store, "m:01", "m:a").await;
    store
        .create_identity(&identity("m:b", "m:01"))
        .await
        .unwrap();
    apply(store, "m:01", 1, link(login("prov", "alice"), "m:a")).await;
    assert_eq!(
        store
            .find_login("m:01", "prov", "alice")
            .await
            .unwrap()
            .as_deref(),
        Some("m:a")
    );
    assert_eq!(
        store.find_login("m:01", "prov", "nobody").await.unwrap(),
        None
    );
    apply(store, "m:01", 2, link(login("prov", "bob"), "m:b")).await;

    // Identity b: "game" with a live record and a tombstone, and "other".
    let keys = vec!["k1".to_string(), "k2".to_string()];
    let recs = vec![record("k1", Some("v1"), 0), record("k2", None, 0)];
    store
        .update_records("m:b", "game", keys, bump("m:b", "game", recs))
        .await
        .unwrap();
    let again = vec![record("k1", Some("v1b"), 0)];
    store
        .update_records("m:b", "game", vec!["k1".into()], bump("m:b", "game", again))
        .await
        .unwrap();
    store
        .update_records(
            "m:b",
            "other",
            vec!["x".into()],
            bump("m:b", "other", vec![record("x", Some("y"), 0)]),
        )
        .await
        .unwrap();

    let merge = LoginPlan {
        merges: vec![("m:b".into(), "m:a".into())],
        ..LoginPlan::read_only("m:a")
    };
    apply(store, "m:01", 77, merge).await;
    let names: Vec<String> = store
        .list_datasets("m:a", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["copy-of-game", "copy-of-other"]);
    assert_eq!(
        store.get_identity("m:b").await.unwrap(),
        None,
        "the source identity is gone"
    );
    assert_eq!(
        store
            .find_login("m:01", "prov", "bob")
            .await
            .unwrap()
            .as_deref(),
        Some("m:a")
    );
    assert_eq!(
        store.logins_of("m:a").await.unwrap(),
        [
            ("prov".to_string(), "alice".to_string()),
            ("prov".to_string(), "bob".to_string())
        ]
    );
    let d = store
        .get_dataset("m:a", "copy-of-game")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            d.live,
            d.sync_count,
            d.creation_ms,
            d.merged_into.as_deref()
        ),
        (true, 5, 77, Some("game"))
    );
    let page = store
        .list_records("m:a", "copy-of-game", 0, None, usize::MAX)
        .await
        .unwrap();
    let got: Vec<_> = page
        .records
        .iter()
        .map(|r| (r.key.as_str(), r.value.as_deref(), r.sync_count))
        .collect();
    assert_eq!(
        got,
        [("k1", Some("v1b"), 5), ("k2", None, 5)],
        "the store writes what the merge rule gives, as given"
    );

    let base = store
        .list_records("m:a", "game", 0, None, 10)
        .await
        .unwrap();
    assert!(base.dataset.is_none());
    assert_eq!(
        base.merged,
        ["copy-of-game"],
        "the base name reports the merge even before it exists"
    );
    store
        .delete_dataset("m:a", "copy-of-game", tombstone())
        .await
        .unwrap();
    assert!(store
        .list_records("m:a", "game", 0, None, 10)
        .await
        .unwrap()
        .merged
        .is_empty());

    let unlink = |identity: &str| LoginPlan {
        unlink: vec![(login("prov", "alice"), identity.into())],
        ..LoginPlan::read_only(identity)
    };
    apply(store, "m:01", 80, unlink("m:b")).await;
    assert!(
        store
            .find_login("m:01", "prov", "alice")
            .await
            .unwrap()
            .is_some(),
        "not b's to unlink"
    );
    apply(store, "m:01", 81, unlink("m:a")).await;
    assert_eq!(
        store.find_login("m:01", "prov", "alice").await.unwrap(),
        None
    );
    assert!(store.delete_identity("m:a").await.unwrap());
    assert!(!store.delete_identity("m:a").await.unwrap());
    assert_eq!(store.find_login("m:01", "prov", "bob").await.unwrap(), None);
    assert_eq!(
        store.get_dataset("m:a", "copy-of-other").await.unwrap(),
        None
    );
}

/// A settings decider that writes `next` when the stored version is `over`.
fn over(version: i64, next: &PoolSettings) -> SettingsDecider {
    let next = next.clone();
    Box::new(move |stored: &PoolSettings| (stored.version == version).then(|| next.clone()))
}

async fn pool_settings_are_what_the_decider_makes_of_the_stored_ones(store: &dyn Store) {
    store.create_pool(&pool("s:01")).await.unwrap();
    assert_eq!(
        store.get_pool_settings("s:01").await.unwrap(),
        PoolSettings::default()
    );
    let first = PoolSettings {
        version: 7,
        push_sync: Some(PushSync {
            application_arns: Some(vec![]),
            role_arn: None,
        }),
        cognito_streams: None,
        events: Default::default(),
        limits: PoolLimits::default(),
    };
    assert!(store
        .update_pool_settings("s:01", over(0, &first))
        .await
        .unwrap());
    assert!(
        !store
            .update_pool_settings("s:01", over(0, &first))
            .await
            .unwrap(),
        "the decider saw version 7 and declined"
    );
    let second = PoolSettings {
        version: 8,
        cognito_streams: Some(streams("s", None)),
        events: trigger("f"),
        limits: PoolLimits {
            records_per_dataset: Some(4096),
            bytes_per_dataset: Some(4 << 20),
            ..PoolLimits::default()
        },
        ..first.clone()
    };
    assert!(store
        .update_pool_settings("s:01", over(7, &second))
        .await
        .unwrap());
    assert_eq!(store.get_pool_settings("s:01").await.unwrap(), second);
    // Read together with an identity, as UpdateRecords does.
    let someone = identity("s:a", "s:01");
    store.create_identity(&someone).await.unwrap();
    assert_eq!(
        store.identity_and_settings("s:a", "s:01").await.unwrap(),
        (Some(someone), second.clone())
    );
    assert_eq!(
        store.identity_and_settings("s:none", "s:02").await.unwrap(),
        (None, PoolSettings::default())
    );
    // Concurrent deciders each see the settings the one before them stored.
    let bump = || -> SettingsDecider {
        Box::new(|s: &PoolSettings| {
            Some(PoolSettings {
                version: s.version + 1,
                ..s.clone()
            })
        })
    };
    let (a, b, c, d) = tokio::join!(
        store.update_pool_settings("s:01", bump()),
        store.update_pool_settings("s:01", bump()),
        store.update_pool_settings("s:01", bump()),
        store.update_pool_settings("s:01", bump()),
    );
    for written in [a, b, c, d] {
        assert!(written.unwrap());
    }
    let bumped = store.get_pool_settings("s:01").await.unwrap();
    assert_eq!((bumped.version, bumped.limits), (12, second.limits));
    // Quotas set back to none: the server's again.
    let unset = PoolSettings {
        version: 13,
        limits: PoolLimits::default(),
        ..bumped
    };
    assert!(store
        .update_pool_settings("s:01", over(12, &unset))
        .await
        .unwrap());
    assert_eq!(store.get_pool_settings("s:01").await.unwrap(), unset);
    assert!(store.delete_pool("s:01").await.unwrap());
    assert_eq!(
        store.get_pool_settings("s:01").await.unwrap(),
        PoolSettings::default()
    );
}

async fn totals_sum_the_datasets_of_an_identity_and_a_pool(store: &dyn Store) {
    setup(store, "g:01", "g:a").await;
    store
        .create_identity(&identity("g:b", "g:01"))
        .await
        .unwrap();
    assert_eq!(
        store.identity_totals("g:a").await.unwrap(),
        DatasetTotals::default()
    );
    assert_eq!(
        store.pool_totals("g:01").await.unwrap(),
        DatasetTotals::default()
    );
    let write = |id: &'static str, ds: &'static str, storage: i64, modified: i64| {
        let decide: UpdateDecider = Box::new(move |snap: &UpdateSnapshot| {
            Ok(UpdatePlan {
                dataset: DatasetRow {
                    identity_id: id.into(),
                    name: ds.into(),
                    live: true,
                    sync_count: snap.dataset.as_ref().map_or(0, |d| d.sync_count) + 1,
                    creation_ms: 1,
                    last_modified_ms: modified,
                    last_modified_by: "t".into(),
                    data_storage: storage,
                    num_records: 1,
                    deleted_at_sync_count: None,
                    merged_into: None,
                },
                records: vec![],
                outbox: Vec::new(),
            })
        });
        store.update_records(id, ds, vec![], decide)
    };
    write("g:a", "one", 10, 100).await.unwrap();
    write("g:a", "one", 12, 200).await.unwrap();
    write("g:a", "two", 5, 150).await.unwrap();
    write("g:b", "one", 7, 300).await.unwrap();
    let sums = |datasets, data_storage, sync_count, last_modified_ms| Totals {
        datasets,
        data_storage,
        sync_count,
        last_modified_ms,
    };
    assert_eq!(
        store.identity_totals("g:a").await.unwrap(),
        DatasetTotals {
            live: sums(2, 17, 3, Some(200)),
            deleted: Totals::default(),
        }
    );
    assert_eq!(
        store.pool_totals("g:01").await.unwrap(),
        DatasetTotals {
            live: sums(3, 24, 4, Some(300)),
            deleted: Totals::default(),
        }
    );
    store
        .delete_dataset("g:a", "one", tombstone())
        .await
        .unwrap();
    let deleted = store.get_dataset("g:a", "one").await.unwrap().unwrap();
    assert_eq!(
        store.identity_totals("g:a").await.unwrap(),
        DatasetTotals {
            live: sums(1, 5, 1, Some(150)),
            deleted: sums(
                1,
                deleted.data_storage,
                deleted.sync_count,
                Some(deleted.last_modified_ms)
            ),
        }
    );
}

fn event(key: &str, n: u32) -> NewOutboxEvent {
    NewOutboxEvent {
        pool_id: "o:01".into(),
        stream_key: key.into(),
        target: "kinesis:s".into(),
        payload: format!("payload {n}"),
        job: None,
    }
}

async fn outbox_events_commit_with_writes_and_leave_in_order(store: &dyn Store) {
    setup(store, "o:01", "o:a").await;
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    for n in 0..3 {
        let inner = bump("o:a", "ds", vec![record("k", Some("v"), 0)]);
        let key = if n == 2 { "other" } else { "ds-key" };
        let decide: UpdateDecider = Box::new(move |snap: &UpdateSnapshot| {
            let mut plan = inner(snap)?;
            plan.outbox = vec![event(key, n)];
            Ok(plan)
        });
        store
            .update_records("o:a", "ds", vec![], decide)
            .await
            .unwrap();
    }
    // A refused write leaves no event behind.
    let refused: UpdateDecider = Box::new(|_| Err(Rejection::LimitExceeded("no".into())));
    assert!(store
        .update_records("o:a", "ds", vec![], refused)
        .await
        .is_err());
    assert_eq!(store.outbox_backlog().await.unwrap(), 3);

    // Only the head of each stream key is claimable, and a claim excludes other nodes.
    let first = store
        .claim_outbox("node-1", 1_000, 30_000, 10)
        .await
        .unwrap();
    let payloads: Vec<_> = first.iter().map(|e| e.event.payload.as_str()).collect();
    assert_eq!(payloads, ["payload 0", "payload 2"]);
    assert!(store
        .claim_outbox("node-2", 1_000, 30_000, 10)
        .await
        .unwrap()
        .is_empty());
    // A failed delivery is retried later; the stream stays blocked behind it meanwhile.
    store
        .retry_outbox(first[0].id, 5_000, "down")
        .await
        .unwrap();
    store
        .complete_outbox(first[1].id, jobs(1_000))
        .await
        .unwrap();
    assert!(store
        .claim_outbox("node-2", 2_000, 30_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_outbox("node-2", 5_000, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].event.payload.as_str(), again[0].attempts),
        ("payload 0", 1)
    );
    store
        .complete_outbox(again[0].id, jobs(5_000))
        .await
        .unwrap();
    let next = store
        .claim_outbox("node-2", 5_000, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(next[0].event.payload, "payload 1");
    // An expired lease lets another node take the event over.
    let taken = store
        .claim_outbox("node-3", 40_000, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    store
        .complete_outbox(taken[0].id, jobs(40_000))
        .await
        .unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);

    // A delete writes its events in the same transaction.
    let with_events: DeleteDecider = Box::new(|d: &DatasetRow| DeletePlan {
        outbox: vec![NewOutboxEvent {
            payload: format!("deleted at {}", d.sync_count),
            ..event("ds-key", 9)
        }],
        ..tombstone()(d)
    });
    store
        .delete_dataset("o:a", "ds", with_events)
        .await
        .unwrap();
    let later = crate::timeutil::now_ms() + 1_000;
    let gone = store
        .claim_outbox("node-1", later, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(gone[0].event.payload, "deleted at 3");
    store
        .complete_outbox(gone[0].id, jobs(later))
        .await
        .unwrap();
}

/// The conformance suite's own bulk-publish rules, in words of its own (the store must
/// persist what it is told, not know the real words): a request starts a "running" job
/// unless one runs; a running job becomes "drained" or "lost: <why>".
pub(crate) fn jobs(now_ms: i64) -> BulkDecider {
    Box::new(move |current: Option<&BulkJob>, event: BulkEvent<'_>| {
        let running = current.is_some_and(|j| j.status == "running");
        let job = |status: String| BulkJob {
            status,
            complete_ms: Some(now_ms),
            ..current.cloned().unwrap_or_default()
        };
        match event {
            BulkEvent::Requested if running => Err(Rejection::BulkInProgress),
            BulkEvent::Requested => Ok(Some(BulkJob {
                status: "running".into(),
                start_ms: Some(now_ms),
                complete_ms: None,
                ..current.cloned().unwrap_or_default()
            })),
            _ if !running => Ok(None),
            BulkEvent::Drained => Ok(Some(BulkJob {
                last_success_ms: Some(now_ms),
                ..job("drained".into())
            })),
            BulkEvent::DeliveryFailed(why) => Ok(Some(BulkJob {
                failure_message: Some(why.into()),
                ..job(format!("lost: {why}"))
            })),
        }
    })
}

async fn bulk_publish_jobs_follow_their_state_machine(store: &dyn Store) {
    setup(store, "b:01", "b:a").await;
    assert_eq!(store.bulk_publish("b:01").await.unwrap(), None);
    for ds in ["d1", "d2"] {
        store
            .update_records(
                "b:a",
                ds,
                vec![],
                bump("b:a", ds, vec![record("k", Some("v"), 0)]),
            )
            .await
            .unwrap();
    }
    store
        .delete_dataset("b:a", "d2", tombstone())
        .await
        .unwrap();
    let builder = || -> DatasetEvents {
        Box::new(|d: &DatasetRow, records: &[RecordRow]| {
            vec![NewOutboxEvent {
                pool_id: "b:01".into(),
                stream_key: format!("bulk/{}", d.name),
                target: "kinesis:s".into(),
                payload: format!("{} with {}", d.name, records.len()),
                job: Some("b:01".into()),
            }]
        })
    };
    store
        .start_bulk_publish("b:01", 100, jobs(100), builder())
        .await
        .unwrap();
    let job = store.bulk_publish("b:01").await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.start_ms), ("running", Some(100)));
    assert!(matches!(
        store
            .start_bulk_publish("b:01", 101, jobs(101), builder())
            .await,
        Err(StoreError::Rejected(Rejection::BulkInProgress))
    ));
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        1,
        "a refused request writes no events"
    );
    let events = store.claim_outbox("n", 100, 30_000, 10).await.unwrap();
    assert_eq!(events.len(), 1, "only live datasets are published");
    assert_eq!(events[0].event.payload, "d1 with 1");
    store
        .complete_outbox(events[0].id, jobs(150))
        .await
        .unwrap();
    let job = store.bulk_publish("b:01").await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.complete_ms, job.last_success_ms),
        ("drained", Some(150), Some(150))
    );
    store
        .start_bulk_publish("b:01", 1_150, jobs(1_150), builder())
        .await
        .unwrap();
    store
        .fail_bulk_publish("b:01", "stream gone", jobs(1_200))
        .await
        .unwrap();
    let job = store.bulk_publish("b:01").await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.failure_message.as_deref()),
        ("lost: stream gone", Some("stream gone"))
    );
    assert_eq!(
        job.last_success_ms,
        Some(150),
        "a failure does not reset the 24-hour clock"
    );
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        0,
        "a failed job's events are dropped"
    );
    // A job with nothing to publish is drained at once.
    store
        .delete_dataset("b:a", "d1", tombstone())
        .await
        .unwrap();
    store
        .start_bulk_publish("b:01", 1_201, jobs(1_201), builder())
        .await
        .unwrap();
    let job = store.bulk_publish("b:01").await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.start_ms),
        ("drained", Some(1_201))
    );
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

async fn a_disabled_device_is_enabled_again_by_putting_it(store: &dyn Store) {
    setup(store, "v:01", "v:a").await;
    let device = DeviceRecord {
        id: "dev-1".into(),
        identity_id: "v:a".into(),
        platform: "GCM".into(),
        token: "tok".into(),
        endpoint_arn: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/1".into(),
        disabled: false,
        created_ms: 7,
    };
    store.put_device(&device).await.unwrap();
    store
        .disable_device("dev-1", &device.endpoint_arn)
        .await
        .unwrap();
    let found = store.find_device("v:a", "GCM", "tok").await.unwrap();
    assert_eq!(found.map(|d| d.disabled), Some(true));
    // Registering again writes the same id, enabled (and with the endpoint SNS gave).
    let revived = DeviceRecord {
        endpoint_arn: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/2".into(),
        ..device.clone()
    };
    store.put_device(&revived).await.unwrap();
    assert_eq!(
        store.get_device("dev-1").await.unwrap(),
        Some(revived.clone())
    );
    // A push still queued for the old endpoint fails: the new endpoint stays enabled.
    store
        .disable_device("dev-1", &device.endpoint_arn)
        .await
        .unwrap();
    assert_eq!(store.get_device("dev-1").await.unwrap(), Some(revived));
    assert!(matches!(
        store
            .put_device(&DeviceRecord {
                id: "dev-2".into(),
                ..device
            })
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
}

fn at(pool: &str, key: &str, target: &str) -> NewOutboxEvent {
    NewOutboxEvent {
        pool_id: pool.into(),
        stream_key: key.into(),
        target: target.into(),
        payload: format!("{pool} {key} {target}"),
        job: None,
    }
}

async fn a_gone_stream_target_changes_settings_and_drops_its_events_at_once(store: &dyn Store) {
    setup(store, "k:01", "k:a").await;
    setup(store, "k:02", "k:b").await;
    let settings = PoolSettings {
        version: 1,
        push_sync: Some(PushSync {
            application_arns: Some(vec![]),
            role_arn: None,
        }),
        cognito_streams: Some(streams("s", Some("ENABLED"))),
        events: Default::default(),
        limits: PoolLimits::default(),
    };
    assert!(store
        .update_pool_settings("k:01", over(0, &settings))
        .await
        .unwrap());
    let events = vec![
        at("k:01", "ds1", "kinesis:s"),
        at("k:01", "ds1", "kinesis:s"),
        at("k:01", "ds2", "kinesis:s"),
        at("k:01", "push/dev", "sns:arn:endpoint"),
        at("k:01", "ds3", "kinesis:other"),
        at("k:02", "ds4", "kinesis:s"),
    ];
    let write: UpdateDecider = {
        let inner = bump("k:a", "ds", vec![record("k", Some("v"), 0)]);
        Box::new(move |snap: &UpdateSnapshot| {
            let mut plan = inner(snap)?;
            plan.outbox = events.clone();
            Ok(plan)
        })
    };
    store
        .update_records("k:a", "ds", vec![], write)
        .await
        .unwrap();
    let disabled = streams("s", Some("DISABLED"));
    let off = disabled.clone();
    let decide: SettingsDecider = Box::new(move |s: &PoolSettings| {
        (s.cognito_streams.as_ref() != Some(&off)).then(|| PoolSettings {
            version: s.version + 1,
            cognito_streams: Some(off.clone()),
            ..s.clone()
        })
    });
    let gone = store
        .stream_target_gone("k:01", "kinesis:s", "stream s deleted", decide, jobs(50))
        .await
        .unwrap();
    assert_eq!(
        gone,
        TargetGone {
            settings_changed: true,
            dropped: 3,
            job_failed: false
        }
    );
    let now = store.get_pool_settings("k:01").await.unwrap();
    assert_eq!(
        (now.version, now.cognito_streams.as_ref(), now.push_sync),
        (2, Some(&disabled), settings.push_sync.clone()),
        "the decided settings, as the next version"
    );
    let left: Vec<String> = store
        .claim_outbox("n", crate::timeutil::now_ms() + 1_000, 30_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.payload)
        .collect();
    assert_eq!(
        left,
        [
            "k:01 push/dev sns:arn:endpoint",
            "k:01 ds3 kinesis:other",
            "k:02 ds4 kinesis:s"
        ],
        "only the pool's events for that target go"
    );

    // A decider that keeps the settings still drops the events; a bulk publish that loses
    // events is failed and loses the rest of them too.
    let builder: DatasetEvents = Box::new(|_: &DatasetRow, _: &[RecordRow]| {
        ["kinesis:s", "kinesis:elsewhere"]
            .map(|target| NewOutboxEvent {
                job: Some("k:02".into()),
                ..at("k:02", "bulk/x", target)
            })
            .to_vec()
    });
    store
        .update_records(
            "k:b",
            "d",
            vec![],
            bump("k:b", "d", vec![record("k", Some("v"), 0)]),
        )
        .await
        .unwrap();
    store
        .start_bulk_publish("k:02", 60, jobs(60), builder)
        .await
        .unwrap();
    let keep: SettingsDecider = Box::new(|_: &PoolSettings| None);
    let gone = store
        .stream_target_gone("k:02", "kinesis:s", "stream s deleted", keep, jobs(70))
        .await
        .unwrap();
    assert_eq!(
        gone,
        TargetGone {
            settings_changed: false,
            dropped: 3,
            job_failed: true
        }
    );
    assert_eq!(
        store.get_pool_settings("k:02").await.unwrap(),
        PoolSettings::default()
    );
    let job = store.bulk_publish("k:02").await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.complete_ms),
        ("lost: stream s deleted", Some(70))
    );
    let rest = store
        .claim_outbox("n2", crate::timeutil::now_ms() + 100_000, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(
        rest.len(),
        2,
        "the first round's events are still there, claimed or not"
    );
}

/// What a store may keep in memory (identities, settings) follows every write that changes
/// it: each read below comes after the same read was answered once before the write.
async fn reads_see_deletes_merges_and_new_settings_at_once(store: &dyn Store) {
    store.create_pool(&pool("w:01")).await.unwrap();
    for id in ["w:a", "w:b", "w:c"] {
        store.create_identity(&identity(id, "w:01")).await.unwrap();
        assert!(store.get_identity(id).await.unwrap().is_some());
    }
    let (_, settings) = store.identity_and_settings("w:a", "w:01").await.unwrap();
    assert_eq!(settings, PoolSettings::default());
    assert!(store.delete_identity("w:a").await.unwrap());
    assert_eq!(store.get_identity("w:a").await.unwrap(), None);
    assert_eq!(
        store.identity_and_settings("w:a", "w:01").await.unwrap().0,
        None
    );

    let merge = LoginPlan {
        merges: vec![("w:b".into(), "w:c".into())],
        ..LoginPlan::read_only("w:c")
    };
    apply(store, "w:01", 5, merge).await;
    assert_eq!(
        store.get_identity("w:b").await.unwrap(),
        None,
        "merged away"
    );
    assert!(store.get_identity("w:c").await.unwrap().is_some());

    let next = PoolSettings {
        version: 1,
        events: trigger("f"),
        ..PoolSettings::default()
    };
    assert!(store
        .update_pool_settings("w:01", over(0, &next))
        .await
        .unwrap());
    assert_eq!(store.get_pool_settings("w:01").await.unwrap(), next);
    assert_eq!(
        store.identity_and_settings("w:c", "w:01").await.unwrap().1,
        next
    );

    assert!(store.delete_pool("w:01").await.unwrap());
    assert_eq!(
        store.get_identity("w:c").await.unwrap(),
        None,
        "its pool is gone"
    );
    assert_eq!(
        store.get_pool_settings("w:01").await.unwrap(),
        PoolSettings::default()
    );
}

/// The conformance suite's own import rule: write unless the stored row is the incoming one.
fn unless_same() -> ImportDecider {
    Box::new(|stored: Option<&DatasetRow>, incoming: &DatasetRecords| {
        if stored == Some(&incoming.row) {
            DatasetVerdict::Unchanged
        } else {
            DatasetVerdict::Write
        }
    })
}

/// Export reads an identity whole (datasets live and deleted, records, logins, devices,
/// subscriptions); import writes it back exactly, as its decider says, in one transaction.
async fn identities_and_pools_are_copied_whole_and_imported_as_decided(store: &dyn Store) {
    setup(store, "t:01", "t:a").await;
    setup(store, "t:02", "t:other").await;
    for ds in ["d", "gone"] {
        let recs = vec![record("k", Some("v"), 0), record("t", None, 0)];
        store
            .update_records("t:a", ds, vec![], bump("t:a", ds, recs))
            .await
            .unwrap();
    }
    store
        .delete_dataset("t:a", "gone", tombstone())
        .await
        .unwrap();
    apply(store, "t:01", 3, link(login("p", "s"), "t:a")).await;
    let device = DeviceRecord {
        id: "t:dev".into(),
        identity_id: "t:a".into(),
        platform: "GCM".into(),
        token: "tok".into(),
        endpoint_arn: "arn:endpoint".into(),
        disabled: false,
        created_ms: 4,
    };
    store.put_device(&device).await.unwrap();
    store.subscribe("t:a", "d", "t:dev").await.unwrap();
    let copy = store.export_identity("t:a").await.unwrap().unwrap();
    assert_eq!(copy.logins, vec![login("p", "s")]);
    assert_eq!(copy.devices, vec![device.clone()]);
    assert_eq!(
        copy.subscriptions,
        vec![("d".to_string(), "t:dev".to_string())]
    );
    let names: Vec<_> = copy
        .datasets
        .iter()
        .map(|d| (d.row.name.as_str(), d.row.live))
        .collect();
    assert_eq!(names, [("d", true), ("gone", false)]);
    assert_eq!(copy.datasets[0].records.len(), 2, "tombstones included");

    // Gone, then imported back: exactly as it was.
    assert!(store.delete_identity("t:a").await.unwrap());
    let done = store
        .import_identity(copy.clone(), unless_same())
        .await
        .unwrap();
    assert!(done.created);
    assert_eq!(
        (
            done.datasets_written,
            done.records_written,
            done.logins_linked.len()
        ),
        (2, 2, 1)
    );
    assert_eq!(store.export_identity("t:a").await.unwrap().unwrap(), copy);
    let again = store
        .import_identity(copy.clone(), unless_same())
        .await
        .unwrap();
    assert_eq!(
        (
            again.created,
            again.datasets_written,
            again.datasets_unchanged
        ),
        (false, 0, 2)
    );

    // A subscription to another identity's device, a login another identity holds, and an
    // identity id that belongs to another pool: none of them written.
    store
        .create_identity(&identity("t:b", "t:01"))
        .await
        .unwrap();
    let mut other = store.export_identity("t:b").await.unwrap().unwrap();
    other.logins = vec![login("p", "s")];
    other.subscriptions = vec![("d".into(), "t:dev".into())];
    let done = store.import_identity(other, unless_same()).await.unwrap();
    assert_eq!(done.logins_taken, vec![login("p", "s")]);
    let stored = store.export_identity("t:b").await.unwrap().unwrap();
    assert!(stored.logins.is_empty() && stored.subscriptions.is_empty());
    let mut foreign = copy.clone();
    foreign.identity.pool_id = "t:02".into();
    foreign.datasets.clear();
    let refused = store.import_identity(foreign, unless_same()).await.unwrap();
    assert_eq!(refused.foreign_pool.as_deref(), Some("t:01"));

    // A pool with settings as its decider makes them, and its bulk-publish job.
    let mut pool_copy = store.export_pool("t:01").await.unwrap().unwrap();
    pool_copy.pool.id = "t:03".into();
    pool_copy.bulk = Some(BulkJob {
        status: "done".into(),
        start_ms: Some(1),
        complete_ms: Some(2),
        failure_message: None,
        last_success_ms: Some(2),
    });
    let next = PoolSettings {
        version: 3,
        events: trigger("f"),
        ..PoolSettings::default()
    };
    let decided = next.clone();
    store
        .import_pool(
            &pool_copy.pool,
            pool_copy.bulk.as_ref(),
            Box::new(move |_| Some(decided.clone())),
        )
        .await
        .unwrap();
    pool_copy.settings = next;
    assert_eq!(store.export_pool("t:03").await.unwrap().unwrap(), pool_copy);
    let secrets = store.secrets().await.unwrap();
    assert!(secrets
        .iter()
        .any(|(name, value)| name == "k" && value == b"first"));
}
