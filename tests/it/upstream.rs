//! Upstream mode, end to end: an upstream that is a real `cogsync` process standing in for
//! AWS (its own data, its own developer keys), a proxy the test can cut between it and the
//! front, and a front `cogsync` in upstream mode with the pool attached. Old app versions talk
//! to the upstream directly, new ones to the front, through the official SDK.

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;

use crate::common::*;
use crate::kinesis_support::Proxy;
use crate::process::{self, Proc};

pub const UP_KEY: &str = "AKIAUPSTREAMDEVELOPR";
pub const UP_SECRET: &str = "upstream-developer-secret-0123456789";
pub const DEV: &str = "login.myapp";

/// The upstream, the proxy, the front, and the pool attached.
pub struct Rig {
    pub upstream: Proc,
    pub proxy: Proxy,
    pub front: Proc,
    pub pool: String,
    _front_dir: tempfile::TempDir,
    _up_dir: tempfile::TempDir,
}

impl Rig {
    /// The front's data directory.
    pub fn front_dir_path(&self) -> String {
        self._front_dir.path().display().to_string()
    }
}

/// The environment a front needs to reach the upstream as its developer, and nothing of this
/// machine's own AWS configuration.
pub fn upstream_env(home: &std::path::Path) -> Vec<(String, String)> {
    let nowhere = home.join("no-aws-config").display().to_string();
    vec![
        ("AWS_ACCESS_KEY_ID".into(), UP_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), UP_SECRET.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_CONFIG_FILE".into(), nowhere.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), nowhere),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// A front in upstream mode over `dir` (and `database`), attached to `pool` at `upstream`.
pub fn front(
    dir: &std::path::Path,
    upstream: &str,
    pool: &str,
    database: Option<&str>,
    extra: &[&str],
) -> Proc {
    let mut args = vec!["--upstream-endpoint", upstream, "--upstream-pool", pool];
    if let Some(url) = database {
        args.extend(["--database-url", url]);
    }
    args.extend(extra);
    let env = upstream_env(dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let log = std::env::var("COGSYNC_TEST_FRONT_LOG").ok();
    process::spawn_logging(
        dir,
        Some((ACCESS_KEY, SECRET_KEY)),
        &args,
        &env,
        log.as_deref().map(std::path::Path::new),
    )
}

pub async fn rig(database: Option<&str>) -> Rig {
    let up_dir = tempfile::tempdir().unwrap();
    let upstream = process::spawn(up_dir.path(), Some((UP_KEY, UP_SECRET)), &[]);
    let pool = up_admin(&upstream)
        .create_identity_pool()
        .identity_pool_name("app")
        .allow_unauthenticated_identities(true)
        .developer_provider_name(DEV)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let proxy = Proxy::start(&upstream.endpoint).await;
    let front_dir = tempfile::tempdir().unwrap();
    let front = front(front_dir.path(), &proxy.url, &pool, database, &[]);
    Rig {
        upstream,
        proxy,
        front,
        pool,
        _front_dir: front_dir,
        _up_dir: up_dir,
    }
}

/// The upstream's developer (the app's backend on AWS).
pub fn up_admin(upstream: &Proc) -> cid::Client {
    identity_client(&upstream.endpoint, UP_KEY, UP_SECRET)
}

/// The front's developer.
pub fn front_admin(front: &Proc) -> cid::Client {
    identity_client(&front.endpoint, ACCESS_KEY, SECRET_KEY)
}

/// A developer-authenticated user's identity and OpenID token, from `admin`'s deployment.
pub async fn dev_login(admin: &cid::Client, pool: &str, user: &str) -> (String, String) {
    let out = admin
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(DEV, user)
        .send()
        .await
        .unwrap();
    (out.identity_id.unwrap(), out.token.unwrap())
}

/// A device's sync client at `endpoint`, signed in with a Cognito OpenID token.
pub async fn device(endpoint: &str, identity: &str, token: &str) -> cs::Client {
    let ids = identity_client(endpoint, "unused", "unused");
    let creds = vended_credentials(&ids, identity, &[("cognito-identity.amazonaws.com", token)])
        .await
        .unwrap();
    sync_as(endpoint, creds)
}

/// A guest's sync client at `endpoint`.
pub async fn guest_device(endpoint: &str, identity: &str) -> cs::Client {
    let ids = identity_client(endpoint, "unused", "unused");
    let creds: Credentials = vended_credentials(&ids, identity, &[]).await.unwrap();
    sync_as(endpoint, creds)
}

/// `key`'s value and SyncCount in a dataset, as `c` lists it whole.
async fn value_of(c: &cs::Client, pool: &str, id: &str, key: &str) -> Option<(String, i64)> {
    let (records, _) = pull(c, pool, id, "notes", 0).await;
    records.iter().find(|r| r.key() == Some(key)).map(|r| {
        (
            r.value().unwrap_or_default().to_owned(),
            r.sync_count().unwrap_or(0),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_app_versions_of_one_user_see_one_history() {
    let r = rig(None).await;
    let (pool, front) = (r.pool.clone(), &r.front);
    // The app's backend signs Alice in on AWS (old version) and through cogsync (new one):
    // one identity.
    let (alice, old_token) = dev_login(&up_admin(&r.upstream), &pool, "alice").await;
    let (same, new_token) = dev_login(&front_admin(front), &pool, "alice").await;
    assert_eq!(same, alice, "the front created another identity");
    let old = device(&r.upstream.endpoint, &alice, &old_token).await;
    let new = device(&front.endpoint, &alice, &new_token).await;
    // A token the upstream issued works at the front too (forwarded, the upstream's own).
    device(&front.endpoint, &alice, &old_token).await;

    for round in 0..3 {
        let from_old = format!("old-{round}");
        push(
            &old,
            &pool,
            &alice,
            "notes",
            vec![replace(&from_old, "1", 0)],
        )
        .await
        .unwrap();
        let seen = value_of(&new, &pool, &alice, &from_old).await;
        assert_eq!(
            seen.map(|s| s.0).as_deref(),
            Some("1"),
            "round {round}: the new device missed the old one's write"
        );
        let from_new = format!("new-{round}");
        let written = push(
            &new,
            &pool,
            &alice,
            "notes",
            vec![replace(&from_new, "2", 0)],
        )
        .await
        .unwrap();
        let count = written[0].sync_count().unwrap();
        assert_eq!(
            value_of(&old, &pool, &alice, &from_new).await,
            Some(("2".to_string(), count)),
            "round {round}: the old device missed the new one's write, or saw another count"
        );
    }
    // Each side's ListRecords agrees on the dataset's count.
    let (_, at_old) = pull(&old, &pool, &alice, "notes", 0).await;
    let (_, at_new) = pull(&new, &pool, &alice, "notes", 0).await;
    assert_eq!(at_old.dataset_sync_count(), at_new.dataset_sync_count());

    // A conflict made across the two: the front answers the upstream's 409.
    let (_, listed) = pull(&new, &pool, &alice, "notes", 0).await;
    let stale_token = listed.sync_session_token().unwrap().to_owned();
    let (_, count) = value_of(&new, &pool, &alice, "old-0").await.unwrap();
    push(
        &old,
        &pool,
        &alice,
        "notes",
        vec![replace("old-0", "changed on AWS", count)],
    )
    .await
    .unwrap();
    let conflict = new
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&alice)
        .dataset_name("notes")
        .sync_session_token(stale_token)
        .record_patches(replace("old-0", "changed here", count))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&conflict).0, "ResourceConflictException");
    assert_eq!(
        value_of(&new, &pool, &alice, "old-0")
            .await
            .map(|v| v.0)
            .as_deref(),
        Some("changed on AWS"),
        "the refused write changed something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_made_upstream_and_a_down_upstream_is_an_error_never_a_local_answer() {
    let r = rig(None).await;
    let (pool, front) = (r.pool.clone(), &r.front);
    // A guest made through cogsync is the upstream's: an old device finds it.
    let guest = front_admin(front)
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    up_admin(&r.upstream)
        .describe_identity()
        .identity_id(&guest)
        .send()
        .await
        .expect("the guest is not the upstream's");
    let new = guest_device(&front.endpoint, &guest).await;
    push(
        &new,
        &pool,
        &guest,
        "notes",
        vec![replace("k", "from cogsync", 0)],
    )
    .await
    .unwrap();
    let old = guest_device(&r.upstream.endpoint, &guest).await;
    assert_eq!(
        value_of(&old, &pool, &guest, "k")
            .await
            .map(|v| v.0)
            .as_deref(),
        Some("from cogsync")
    );

    // The upstream unreachable: modelled, retryable errors; nothing answered from the copy.
    let token = session_token(&new, &pool, &guest, "notes").await;
    r.proxy.set_up(false).await;
    let read = new
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&guest)
        .dataset_name("notes")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&read).0, "InternalErrorException");
    let write = new
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&guest)
        .dataset_name("notes")
        .sync_session_token(token)
        .record_patches(replace("k2", "v", 0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&write).0, "InternalErrorException");
    let e = front_admin(front)
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await;
    assert_eq!(code_of(&e.unwrap_err()).0, "InternalErrorException");
    // Back: everything works again, and the failed write was never made.
    r.proxy.set_up(true).await;
    assert_eq!(value_of(&new, &pool, &guest, "k2").await, None);
    push(&new, &pool, &guest, "notes", vec![replace("k2", "v", 0)])
        .await
        .unwrap();
    assert!(value_of(&old, &pool, &guest, "k2").await.is_some());

    // Only the developer may detach a pool through the admin listener.
    let admin = r.front.admin().unwrap();
    let path = format!("/upstream/detach?pool={}", enc(&pool));
    let post = axum::http::Method::POST;
    let unsigned = raw(&admin, post.clone(), &path, &[], b"", None).await;
    assert_eq!(unsigned.status, 403);
    let wrong = Sign {
        secret: "not-the-secret",
        service: "cogsync-admin",
        ..Sign::default()
    };
    let forged = raw(&admin, post, &path, &[], b"", Some(wrong)).await;
    assert_eq!(forged.status, 403);
    push(
        &new,
        &pool,
        &guest,
        "notes",
        vec![replace("still", "forwarded", 0)],
    )
    .await
    .unwrap();
    assert!(
        value_of(&old, &pool, &guest, "still").await.is_some(),
        "a refused detach changed the pool's attachment"
    );
}
