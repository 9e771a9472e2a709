//! Quotas raised and lowered, as AWS lets an account do: the server's (`--max-…`, here set in
//! the configuration the flags make), a pool's own through the console's Quotas form, and the
//! growth rule (a dataset above a limit can shrink, not grow). Through the official SDK.

use aws_sdk_cognitosync::Client;

use crate::common::*;

backend_tests!(
    configured raised;
    raised_server_quotas_hold_a_2000_record_dataset_read_back_in_pages,
    a_pools_own_quotas_apply_to_that_pool_only,
    a_dataset_above_lowered_quotas_can_shrink_but_not_grow
);

/// The server's records quota raised to 4,096 (`--max-records-per-dataset 4096`), with the
/// console on to set pools' own.
fn raised(c: &mut cogsync::config::ServerConfig) {
    c.sync.limits.records_per_dataset = 4096;
    c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
}

/// Writes `n` new records `key{from…}` = "v", in UpdateRecords calls of 1,000 patches.
async fn write_new(c: &Client, pool: &str, id: &str, ds: &str, from: usize, n: usize) {
    let keys: Vec<usize> = (from..from + n).collect();
    for batch in keys.chunks(1000) {
        let patches = batch
            .iter()
            .map(|i| replace(&format!("key{i:05}"), "v", 0))
            .collect();
        push(c, pool, id, ds, patches).await.unwrap();
    }
}

fn refused(r: Result<Vec<aws_sdk_cognitosync::types::Record>, (String, String)>) -> String {
    let (code, message) = r.unwrap_err();
    assert_eq!(code, "LimitExceededException", "{message}");
    message
}

async fn num_records(c: &Client, pool: &str, id: &str, ds: &str) -> i64 {
    let d = describe(c, pool, id, ds).await.unwrap();
    d.dataset().unwrap().num_records().unwrap()
}

async fn raised_server_quotas_hold_a_2000_record_dataset_read_back_in_pages(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    write_new(&c, &pool, &id, "big", 0, 2000).await;
    // Pages of at most 1,024 records: two of them, every record once.
    let first = c
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("big")
        .max_results(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(first.records().len(), 1024);
    assert!(first.next_token().is_some());
    let (records, _) = pull(&c, &pool, &id, "big", 0).await;
    let mut keys: Vec<&str> = records.iter().filter_map(|r| r.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 2000);
    assert_eq!(num_records(&c, &pool, &id, "big").await, 2000);
    // Up to the raised quota, and no further.
    write_new(&c, &pool, &id, "big", 2000, 2096).await;
    let msg = refused(push(&c, &pool, &id, "big", vec![replace("one-more", "v", 0)]).await);
    assert!(msg.contains("4096 records"), "{msg}");
    assert_eq!(num_records(&c, &pool, &id, "big").await, 4096);
}

async fn a_pools_own_quotas_apply_to_that_pool_only(s: TestServer) {
    let (a, in_a) = s.pool_and_identity().await;
    let (b, in_b) = s.pool_and_identity().await;
    let c = s.sync();
    assert_eq!(set_quotas(&s, &a, ["2", "1500", ""]).await, "Quotas saved.");
    let admin = s.admin.clone().unwrap();
    let (http, session) = console_session(&s).await;
    let page = http
        .get(format!("{admin}/console/pools/{a}"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"1500\""), "the pool's own shown");
    assert!(
        page.contains("placeholder=\"4096 (server)\""),
        "the server's shown"
    );

    // Records: 1,500 in pool a, the server's 4,096 in pool b.
    write_new(&c, &a, &in_a, "ds", 0, 1500).await;
    let msg = refused(push(&c, &a, &in_a, "ds", vec![replace("more", "v", 0)]).await);
    assert!(msg.contains("1500 records"), "{msg}");
    write_new(&c, &b, &in_b, "ds", 0, 1501).await;
    // Datasets: 2 an identity in pool a, the server's 20 in pool b.
    write_new(&c, &a, &in_a, "second", 0, 1).await;
    let msg = refused(push(&c, &a, &in_a, "third", vec![replace("k", "v", 0)]).await);
    assert!(msg.contains("2 datasets"), "{msg}");
    for ds in ["second", "third"] {
        write_new(&c, &b, &in_b, ds, 0, 1).await;
    }

    // What is not a quota changes nothing.
    for bad in [["0", "", ""], ["", "lots", ""], ["", "", "-1"]] {
        let said = set_quotas(&s, &a, bad).await;
        assert!(said.starts_with("Not saved"), "{bad:?}: {said}");
    }
    refused(push(&c, &a, &in_a, "third", vec![replace("k", "v", 0)]).await);

    // Blank again: the server's quotas.
    assert_eq!(set_quotas(&s, &a, ["", "", ""]).await, "Quotas saved.");
    assert_eq!(set_quotas(&s, &a, ["", "", ""]).await, "Nothing changed.");
    write_new(&c, &a, &in_a, "ds", 1500, 1).await;
    write_new(&c, &a, &in_a, "third", 0, 1).await;
}

async fn a_dataset_above_lowered_quotas_can_shrink_but_not_grow(s: TestServer) {
    let (pool, id) = s.pool_and_identity().await;
    let c = s.sync();
    // 1,200 records of 9 bytes ("key00000" + "v"): 10,800 bytes.
    write_new(&c, &pool, &id, "ds", 0, 1200).await;
    assert_eq!(
        set_quotas(&s, &pool, ["1", "1000", "5000"]).await,
        "Quotas saved."
    );
    let msg = refused(push(&c, &pool, &id, "ds", vec![replace("more", "v", 0)]).await);
    assert!(msg.contains("1000 records"), "{msg}");
    let msg = refused(push(&c, &pool, &id, "other", vec![replace("k", "v", 0)]).await);
    assert!(msg.contains("1 datasets"), "{msg}");
    // The first batch's records are at SyncCount 1, the second's at 2.
    let shrink = vec![remove("key00000", 1), remove("key00001", 1)];
    push(&c, &pool, &id, "ds", shrink).await.unwrap();
    assert_eq!(num_records(&c, &pool, &id, "ds").await, 1198);
    // Rewritten at the same size: neither grows.
    push(&c, &pool, &id, "ds", vec![replace("key00002", "w", 1)])
        .await
        .unwrap();
    let msg = refused(push(&c, &pool, &id, "ds", vec![replace("key00003", "ww", 1)]).await);
    assert!(msg.contains("5000 bytes"), "{msg}");
    // A record back where one went is still growth above the quota.
    let msg = refused(push(&c, &pool, &id, "ds", vec![replace("key00000", "v", 3)]).await);
    assert!(msg.contains("1000 records"), "{msg}");
    let d = describe(&c, &pool, &id, "ds").await.unwrap();
    let d = d.dataset().unwrap();
    assert_eq!(
        (d.num_records(), d.data_storage()),
        (Some(1198), Some(10_782))
    );
}
