//! The real `cogsync` binary: acknowledged writes survive SIGKILL, SIGTERM shuts down cleanly,
//! and generated developer credentials are printed once and reused.

use crate::common::*;
use crate::process::{sigterm, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)), &[]);
    let (pool, id) = pool_and_identity_at(&p.endpoint).await;
    let c = sync_client(&p.endpoint, ACCESS_KEY, SECRET_KEY, None);
    for n in 0..20 {
        push(
            &c,
            &pool,
            &id,
            "durable",
            vec![replace(&format!("k{n}"), &format!("v{n}"), 0)],
        )
        .await
        .unwrap();
    }
    p.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    p.child.wait().unwrap();

    let mut p = spawn(dir.path(), Some((ACCESS_KEY, SECRET_KEY)), &[]);
    let c = sync_client(&p.endpoint, ACCESS_KEY, SECRET_KEY, None);
    let (recs, out) = pull(&c, &pool, &id, "durable", 0).await;
    assert_eq!(recs.len(), 20);
    assert_eq!(out.dataset_sync_count(), Some(20));
    assert!(recs
        .iter()
        .all(|r| r.value() == Some(&format!("v{}", &r.key().unwrap()[1..])[..])));
    // Tokens signed before the crash still verify: the key lives in the store.
    push(
        &c,
        &pool,
        &id,
        "durable",
        vec![replace("after", "restart", 0)],
    )
    .await
    .unwrap();
    assert!(sigterm(&mut p).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_credentials_are_printed_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), None, &[]);
    let find = |lines: &[String], prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
    };
    let key = find(&p.stdout, "AWS_ACCESS_KEY_ID=").expect("the key is printed on first start");
    let secret =
        find(&p.stdout, "AWS_SECRET_ACCESS_KEY=").expect("the secret is printed on first start");
    let ids = identity_client(&p.endpoint, &key, &secret);
    ids.create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap();
    assert!(sigterm(&mut p).success(), "SIGTERM is a clean shutdown");

    let mut p = spawn(dir.path(), None, &[]);
    assert!(
        find(&p.stdout, "AWS_SECRET_ACCESS_KEY=").is_none(),
        "printed only once: {:?}",
        p.stdout
    );
    let ids = identity_client(&p.endpoint, &key, &secret);
    let pools = ids
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert_eq!(pools.identity_pools().len(), 1);
    assert!(sigterm(&mut p).success());
}
