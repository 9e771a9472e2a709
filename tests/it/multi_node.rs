//! Two `cogsync serve` processes on one PostgreSQL database behave as one server: one winner
//! per count across nodes, a final state equal to the ledger of acknowledged writes, and
//! tokens issued by one node accepted by the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::common::*;
use crate::process::{sigterm, spawn, spawn_with_env, Proc};

struct Cluster {
    nodes: Vec<Proc>,
    _dirs: Vec<tempfile::TempDir>,
    _db: cogsync::testing::TestDatabase,
}

async fn cluster(test: &str) -> Option<Cluster> {
    let db = cogsync::testing::TestDatabase::create(test).await?;
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        nodes.push(spawn(
            dir.path(),
            Some((ACCESS_KEY, SECRET_KEY)),
            &["--database-url", &db.url],
        ));
        dirs.push(dir);
    }
    Some(Cluster {
        nodes,
        _dirs: dirs,
        _db: db,
    })
}

impl Cluster {
    fn sync(&self, node: usize) -> aws_sdk_cognitosync::Client {
        sync_client(&self.nodes[node % 2].endpoint, ACCESS_KEY, SECRET_KEY, None)
    }

    async fn pool_and_identity(&self) -> (String, String) {
        let ids = identity_client(&self.nodes[0].endpoint, ACCESS_KEY, SECRET_KEY);
        let pool = ids
            .create_identity_pool()
            .identity_pool_name("cluster")
            .allow_unauthenticated_identities(true)
            .send()
            .await
            .unwrap()
            .identity_pool_id;
        // The identity is created on the other node: both see one store.
        let ids = identity_client(&self.nodes[1].endpoint, ACCESS_KEY, SECRET_KEY);
        let id = ids
            .get_id()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap()
            .identity_id
            .unwrap();
        (pool, id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racers_over_two_nodes_produce_one_winner() {
    let Some(mut c) =
        cluster("multi_node::sixty_four_racers_over_two_nodes_produce_one_winner").await
    else {
        return;
    };
    let (pool, id) = c.pool_and_identity().await;
    let token = session_token(&c.sync(0), &pool, &id, "race").await;

    // A token issued by node 0 is accepted by node 1.
    let written = c
        .sync(1)
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("warmup")
        .sync_session_token(session_token(&c.sync(0), &pool, &id, "warmup").await)
        .record_patches(replace("k", "v", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(written.records()[0].sync_count(), Some(1));

    // Temporary credentials vended by node 0 are accepted by node 1.
    let vended = identity_client(&c.nodes[0].endpoint, ACCESS_KEY, SECRET_KEY)
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    let v = vended.credentials().unwrap();
    let creds = aws_credential_types::Credentials::new(
        v.access_key_id().unwrap(),
        v.secret_key().unwrap(),
        v.session_token().map(str::to_owned),
        None,
        "cognito-identity",
    );
    let device = sync_as(&c.nodes[1].endpoint, creds);
    let (records, _) = pull(&device, &pool, &id, "warmup", 0).await;
    assert_eq!(records.len(), 1);

    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let (client, pool, id, token) = (c.sync(n), pool.clone(), id.clone(), token.clone());
            tokio::spawn(async move {
                client
                    .update_records()
                    .identity_pool_id(pool)
                    .identity_id(id)
                    .dataset_name("race")
                    .sync_session_token(token)
                    .record_patches(replace("shared", &format!("writer {n}"), 0))
                    .send()
                    .await
                    .map_err(|e| code_of(&e).0)
            })
        })
        .collect();
    let (mut wins, mut conflicts) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(code) if code == "ResourceConflictException" => conflicts += 1,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 63));
    for node in 0..2 {
        let (_, out) = pull(&c.sync(node), &pool, &id, "race", 0).await;
        assert_eq!(out.dataset_sync_count(), Some(1), "node {node}");
    }
    for node in &mut c.nodes {
        assert!(sigterm(node).success());
    }
}

/// What the cluster acknowledged: for each key, the value written at the highest count.
type Ledger = Arc<Mutex<HashMap<String, (i64, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mixed_workload_over_two_nodes_ends_equal_to_its_ledger() {
    let Some(mut c) =
        cluster("multi_node::a_mixed_workload_over_two_nodes_ends_equal_to_its_ledger").await
    else {
        return;
    };
    let (pool, id) = c.pool_and_identity().await;
    let ledger: Ledger = Arc::default();
    let acks = Arc::new(Mutex::new(0i64));
    let clients: Vec<_> = (0..8).map(|n| c.sync(n)).collect();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let (pool, id, ledger, acks) = (pool.clone(), id.clone(), ledger.clone(), acks.clone());
            tokio::spawn(async move {
                let mut seed = n as u64 * 7919 + 1;
                for step in 0..25 {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let key = format!("k{}", (seed >> 33) % 6);
                    // Pull to learn the key's current count, then write it.
                    let (records, _) = pull(&client, &pool, &id, "shared", 0).await;
                    let count = records
                        .iter()
                        .find(|r| r.key() == Some(&key))
                        .and_then(|r| r.sync_count())
                        .unwrap_or(0);
                    let value = format!("client {n} step {step}");
                    match push(
                        &client,
                        &pool,
                        &id,
                        "shared",
                        vec![replace(&key, &value, count)],
                    )
                    .await
                    {
                        Ok(written) => {
                            let new_count = written[0].sync_count().unwrap();
                            *acks.lock().unwrap() += 1;
                            let mut l = ledger.lock().unwrap();
                            let entry = l.entry(key).or_insert((0, String::new()));
                            if new_count > entry.0 {
                                *entry = (new_count, value);
                            }
                        }
                        Err((code, _)) => assert_eq!(code, "ResourceConflictException"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let ledger = ledger.lock().unwrap().clone();
    let acks = *acks.lock().unwrap();
    assert!(acks > 0);
    for node in 0..2 {
        let (records, out) = pull(&c.sync(node), &pool, &id, "shared", 0).await;
        assert_eq!(
            out.dataset_sync_count(),
            Some(acks),
            "one count per acknowledged write"
        );
        let state: HashMap<String, (i64, String)> = records
            .iter()
            .map(|r| {
                (
                    r.key().unwrap().to_string(),
                    (r.sync_count().unwrap(), r.value().unwrap().to_string()),
                )
            })
            .collect();
        assert_eq!(state, ledger, "node {node} disagrees with the ledger");
    }
    for node in &mut c.nodes {
        assert!(sigterm(node).success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_developer_credentials_are_shared_through_the_database() {
    let Some(db) = cogsync::testing::TestDatabase::create(
        "multi_node::generated_developer_credentials_are_shared_through_the_database",
    )
    .await
    else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = spawn(dir_a.path(), None, &["--database-url", &db.url]);
    let mut b = spawn(dir_b.path(), None, &["--database-url", &db.url]);
    let find = |lines: &[String], prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
    };
    let key =
        find(&a.stdout, "AWS_ACCESS_KEY_ID=").expect("the first node generates and prints a pair");
    let secret = find(&a.stdout, "AWS_SECRET_ACCESS_KEY=").unwrap();
    assert!(
        find(&b.stdout, "AWS_SECRET_ACCESS_KEY=").is_none(),
        "the second node reuses it: {:?}",
        b.stdout
    );
    let pool = identity_client(&a.endpoint, &key, &secret)
        .create_identity_pool()
        .identity_pool_name("shared")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let described = identity_client(&b.endpoint, &key, &secret)
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(described.identity_pool_name(), "shared");
    assert!(sigterm(&mut a).success());
    assert!(sigterm(&mut b).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_each_stream_event_once() {
    let test = "multi_node::two_nodes_deliver_each_stream_event_once";
    let Some(moto) = moto_url(test) else { return };
    let Some(db) = cogsync::testing::TestDatabase::create(test).await else {
        return;
    };
    let k = crate::kinesis_support::client(&moto);
    let stream = crate::kinesis_support::new_stream(&k).await;
    let env = [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes: Vec<Proc> = dirs
        .iter()
        .map(|d| {
            spawn_with_env(
                d.path(),
                Some((ACCESS_KEY, SECRET_KEY)),
                &["--database-url", &db.url],
                &env,
            )
        })
        .collect();
    let (pool, id) = pool_and_identity_at(&nodes[0].endpoint).await;
    let clients: Vec<_> = nodes
        .iter()
        .map(|n| sync_client(&n.endpoint, ACCESS_KEY, SECRET_KEY, None))
        .collect();
    clients[0]
        .set_identity_pool_configuration()
        .identity_pool_id(&pool)
        .cognito_streams(
            aws_sdk_cognitosync::types::CognitoStreams::builder()
                .stream_name(&stream)
                .role_arn("arn:aws:iam::123456789012:role/streams")
                .streaming_status(aws_sdk_cognitosync::types::StreamingStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for n in 0..40 {
        let ds = format!("ds{}", n % 4);
        let count = *counts.get(&ds).unwrap_or(&0);
        push(
            &clients[n % 2],
            &pool,
            &id,
            &ds,
            vec![replace("k", &format!("v{n}"), count)],
        )
        .await
        .unwrap();
        counts.insert(ds, count + 1);
    }
    let got =
        crate::kinesis_support::read_at_least(&k, &stream, 40, std::time::Duration::from_secs(30))
            .await;
    assert_eq!(got.len(), 40);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let got = crate::kinesis_support::read_all(&k, &stream).await;
    let distinct: std::collections::HashSet<(String, i64)> = got
        .iter()
        .map(|r| {
            (
                r["dataSetName"].as_str().unwrap().to_string(),
                r["syncCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        (got.len(), distinct.len()),
        (40, 40),
        "each event delivered once by one of the nodes"
    );
    for node in &mut nodes {
        assert!(sigterm(node).success());
    }
}
