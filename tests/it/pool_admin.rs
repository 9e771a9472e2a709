//! Pool administration through the official client: configuration, events, usage figures.

use std::collections::HashMap;

use aws_sdk_cognitosync::types::{CognitoStreams, PushSync, StreamingStatus};
use axum::http::Method;

use crate::common::*;

backend_tests!(
    configuration_round_trips_with_partial_updates,
    configuration_constraints_are_enforced,
    events_round_trip_and_are_removed_with_an_empty_value,
    concurrent_configuration_writes_never_blend,
    usage_figures_equal_an_independent_sum
);

const APP: &str = "arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp";
const ROLE: &str = "arn:aws:iam::123456789012:role/cognito-sync";

fn push_sync(arn: &str, role: &str) -> PushSync {
    PushSync::builder()
        .application_arns(arn)
        .role_arn(role)
        .build()
}

fn streams(name: &str, status: StreamingStatus) -> CognitoStreams {
    CognitoStreams::builder()
        .stream_name(name)
        .role_arn(ROLE)
        .streaming_status(status)
        .build()
}

async fn configuration_round_trips_with_partial_updates(s: TestServer) {
    let pool = s.new_pool(true).await;
    let c = s.sync();
    let fresh = c
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.identity_pool_id(), Some(pool.as_str()));
    assert!(fresh.push_sync().is_none() && fresh.cognito_streams().is_none());

    let set = c
        .set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .push_sync(push_sync(APP, ROLE))
        .cognito_streams(streams("my-stream", StreamingStatus::Enabled))
        .send()
        .await
        .unwrap();
    assert_eq!(set.push_sync(), Some(&push_sync(APP, ROLE)));
    assert_eq!(
        set.cognito_streams(),
        Some(&streams("my-stream", StreamingStatus::Enabled))
    );

    // Only the part given changes; Set returns the whole result.
    let set = c
        .set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .cognito_streams(streams("other-stream", StreamingStatus::Disabled))
        .send()
        .await
        .unwrap();
    assert_eq!(set.push_sync(), Some(&push_sync(APP, ROLE)));
    assert_eq!(
        set.cognito_streams(),
        Some(&streams("other-stream", StreamingStatus::Disabled))
    );
    let unchanged = c
        .set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.push_sync(), Some(&push_sync(APP, ROLE)));
    let got = c
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.cognito_streams(),
        Some(&streams("other-stream", StreamingStatus::Disabled))
    );
    assert_eq!(got.push_sync(), Some(&push_sync(APP, ROLE)));
}

async fn configuration_constraints_are_enforced(s: TestServer) {
    let pool = s.new_pool(true).await;
    let c = s.sync();
    let long = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(2048));
    let bad_push = [
        push_sync("arn:aws:sns:us-east-1:123456789012:topic/GCM/MyApp", ROLE),
        push_sync("arn:aws:sns:us-east-1:123456789012:app/gcm/MyApp", ROLE),
        push_sync(APP, "arn:aws:iam::123456789012:user/x"),
        push_sync(APP, &long),
    ];
    for p in bad_push {
        let err = c
            .set_identity_pool_configuration()
            .identity_pool_id(&pool)
            .push_sync(p.clone())
            .send()
            .await
            .unwrap_err();
        assert!(
            err.into_service_error().is_invalid_parameter_exception(),
            "{p:?}"
        );
    }
    let bad_streams = [
        streams("", StreamingStatus::Enabled),
        streams(&"s".repeat(129), StreamingStatus::Enabled),
        streams("ok", StreamingStatus::from("ON")),
        CognitoStreams::builder()
            .stream_name("ok")
            .role_arn("arn:aws:iam::1:rolex/abcdefghij")
            .build(),
    ];
    for st in bad_streams {
        let err = c
            .set_identity_pool_configuration()
            .identity_pool_id(&pool)
            .cognito_streams(st.clone())
            .send()
            .await
            .unwrap_err();
        assert!(
            err.into_service_error().is_invalid_parameter_exception(),
            "{st:?}"
        );
    }
    // Nothing of the refused calls was stored.
    let got = c
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert!(got.push_sync().is_none() && got.cognito_streams().is_none());

    // Wrong JSON types, unknown pools, identity credentials.
    let path = format!("/identitypools/{}/configuration", enc(&pool));
    let r = raw(
        &s.endpoint,
        Method::POST,
        &path,
        &[],
        br#"{"PushSync":{"ApplicationArns":"not-a-list"}}"#,
        Some(Sign::default()),
    )
    .await;
    assert_aws_error(&r, 400, "InvalidParameterException");
    let ghost = "us-east-1:00000000-0000-0000-0000-000000000000";
    let err = c
        .get_identity_pool_configuration()
        .identity_pool_id(ghost)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .get_cognito_events()
        .identity_pool_id(ghost)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .describe_identity_pool_usage()
        .identity_pool_id(ghost)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let id = s.new_identity(&pool).await;
    let device = sync_as(&s.endpoint, credentials_for(&s, &id, &[]).await.unwrap());
    let err = device
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
    let err = device.list_identity_pool_usage().send().await.unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());
    // An identity may read its own usage.
    device
        .describe_identity_usage()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap();
}

async fn events_round_trip_and_are_removed_with_an_empty_value(s: TestServer) {
    let pool = s.new_pool(true).await;
    let c = s.sync();
    let events = |out: Option<&HashMap<String, String>>| out.cloned().unwrap_or_default();
    let got = c
        .get_cognito_events()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert!(events(got.events()).is_empty());
    // A Lambda ARN, a webhook URL, and what else Lambda's Invoke takes (a function name, a
    // partial ARN, a qualified name): each is stored and returned as given.
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:validate";
    let hook = "https://hooks.example.com/sync";
    for target in [
        lambda,
        hook,
        "validate",
        "123456789012:function:validate",
        "validate:live",
    ] {
        c.set_cognito_events()
            .identity_pool_id(&pool)
            .events("SyncTrigger", target)
            .send()
            .await
            .unwrap();
        let got = c
            .get_cognito_events()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        assert_eq!(
            events(got.events()),
            HashMap::from([("SyncTrigger".to_string(), target.to_string())])
        );
    }
    c.set_cognito_events()
        .identity_pool_id(&pool)
        .events("SyncTrigger", hook)
        .send()
        .await
        .unwrap();

    for (k, v) in [
        ("Unknown", lambda),
        ("SyncTrigger", "not a function"),
        ("SyncTrigger", "arn:aws:sqs:us-east-1:123456789012:queue"),
        ("SyncTrigger", "my/function"),
    ] {
        let err = c
            .set_cognito_events()
            .identity_pool_id(&pool)
            .events(k, v)
            .send()
            .await
            .unwrap_err();
        assert!(
            err.into_service_error().is_invalid_parameter_exception(),
            "{k}={v}"
        );
    }
    let err = c
        .set_cognito_events()
        .identity_pool_id(&pool)
        .events("SyncTrigger", lambda)
        .events("Other", lambda)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_invalid_parameter_exception(),
        "at most one entry"
    );
    assert_eq!(
        events(
            c.get_cognito_events()
                .identity_pool_id(&pool)
                .send()
                .await
                .unwrap()
                .events()
        )["SyncTrigger"],
        hook
    );

    c.set_cognito_events()
        .identity_pool_id(&pool)
        .events("SyncTrigger", "")
        .send()
        .await
        .unwrap();
    assert!(events(
        c.get_cognito_events()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap()
            .events()
    )
    .is_empty());
    // Events and configuration are independent parts of the pool's settings.
    c.set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .push_sync(push_sync(APP, ROLE))
        .send()
        .await
        .unwrap();
    c.set_cognito_events()
        .identity_pool_id(&pool)
        .events("SyncTrigger", lambda)
        .send()
        .await
        .unwrap();
    let got = c
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(got.push_sync(), Some(&push_sync(APP, ROLE)));
}

async fn concurrent_configuration_writes_never_blend(s: TestServer) {
    let pool = s.new_pool(true).await;
    let mut saw_conflict = false;
    for round in 0..10 {
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let (c, pool) = (s.sync(), pool.clone());
                tokio::spawn(async move {
                    let tag = format!("r{round}w{n}");
                    c.set_identity_pool_configuration()
                        .identity_pool_id(pool)
                        .push_sync(push_sync(APP, &format!("{ROLE}-{tag}")))
                        .cognito_streams(streams(&tag, StreamingStatus::Enabled))
                        .send()
                        .await
                        .map(|_| tag)
                        .map_err(|e| code_of(&e).0)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(tag) => winners.push(tag),
                Err(code) if code == "ConcurrentModificationException" => saw_conflict = true,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(!winners.is_empty());
        let got = s
            .sync()
            .get_identity_pool_configuration()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap();
        let stream_tag = got
            .cognito_streams()
            .unwrap()
            .stream_name()
            .unwrap()
            .to_string();
        let role = got.push_sync().unwrap().role_arn().unwrap().to_string();
        assert_eq!(
            role,
            format!("{ROLE}-{stream_tag}"),
            "both parts come from the same writer"
        );
        assert!(
            winners.contains(&stream_tag),
            "the stored configuration is a successful write"
        );
        if saw_conflict {
            break;
        }
    }
    assert!(
        saw_conflict,
        "concurrent writers on one pool see ConcurrentModificationException"
    );
}

/// The test's model of one dataset: key → (value, SyncCount); a None value is a tombstone.
type Model = HashMap<String, (Option<String>, i64)>;

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn usage_figures_equal_an_independent_sum(s: TestServer) {
    let pool = s.new_pool(true).await;
    let ids = [
        s.new_identity(&pool).await,
        s.new_identity(&pool).await,
        s.new_identity(&pool).await,
    ];
    let c = s.sync();
    // The test's own model: live records (key → (value, count)) per (identity, dataset),
    // tombstone counts, and which datasets are live.
    let mut live: HashMap<(usize, usize), Model> = HashMap::new();
    let mut sessions = 0i64;
    let mut rng = Lcg(20261126);
    for _ in 0..220 {
        let (i, d) = (rng.next(3) as usize, rng.next(4) as usize);
        let ds = format!("ds{d}");
        let action = rng.next(10);
        if action == 9 {
            if live.remove(&(i, d)).is_some() {
                delete(&c, &pool, &ids[i], &ds).await.unwrap();
            }
            continue;
        }
        let records = live.entry((i, d)).or_default();
        let existing: Vec<String> = records
            .iter()
            .filter(|(_, (v, _))| v.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        let patch = if action >= 7 && !existing.is_empty() {
            let key = existing[rng.next(existing.len() as u64) as usize].clone();
            remove(&key, records[&key].1)
        } else {
            let key = format!("k{}", rng.next(8));
            let value = "é".repeat(rng.next(20) as usize);
            replace(&key, &value, records.get(&key).map_or(0, |r| r.1))
        };
        let written = push(&c, &pool, &ids[i], &ds, vec![patch]).await.unwrap();
        sessions += 1;
        for r in written {
            records.insert(
                r.key().unwrap().to_string(),
                (r.value().map(str::to_owned), r.sync_count().unwrap()),
            );
        }
    }
    let bytes = |recs: &Model| -> i64 {
        recs.iter()
            .filter_map(|(k, (v, _))| v.as_ref().map(|v| (k.len() + v.len()) as i64))
            .sum()
    };
    let mut pool_bytes = 0;
    for (i, id) in ids.iter().enumerate() {
        let mine: Vec<_> = live.iter().filter(|((owner, _), _)| *owner == i).collect();
        let expected_bytes: i64 = mine.iter().map(|(_, recs)| bytes(recs)).sum();
        pool_bytes += expected_bytes;
        let u = c
            .describe_identity_usage()
            .identity_pool_id(&pool)
            .identity_id(id)
            .send()
            .await
            .unwrap();
        let u = u.identity_usage().unwrap();
        assert_eq!(
            u.dataset_count(),
            mine.len() as i32,
            "datasets of identity {i}"
        );
        assert_eq!(
            u.data_storage(),
            Some(expected_bytes),
            "bytes of identity {i}"
        );
        assert_eq!(u.identity_pool_id(), Some(pool.as_str()));
        for ((_, d), recs) in mine {
            let got = describe(&c, &pool, id, &format!("ds{d}")).await.unwrap();
            let got = got.dataset().unwrap();
            assert_eq!(got.data_storage(), Some(bytes(recs)));
            assert_eq!(
                got.num_records(),
                Some(recs.values().filter(|(v, _)| v.is_some()).count() as i64)
            );
        }
    }
    let u = c
        .describe_identity_pool_usage()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let u = u.identity_pool_usage().unwrap();
    assert_eq!(u.data_storage(), Some(pool_bytes));
    assert_eq!(
        u.sync_sessions_count(),
        Some(sessions),
        "one sync session per successful UpdateRecords"
    );
    assert!(u.last_modified_date().is_some());

    let listed = c
        .list_identity_pool_usage()
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.max_results(), 60);
    assert_eq!(listed.count() as usize, listed.identity_pool_usages().len());
    let mine = listed
        .identity_pool_usages()
        .iter()
        .find(|p| p.identity_pool_id() == Some(pool.as_str()))
        .unwrap();
    assert_eq!(
        (mine.data_storage(), mine.sync_sessions_count()),
        (Some(pool_bytes), Some(sessions))
    );
}
