//! The public test helper (`cogsync::test_server`, feature `test-server`), used as another
//! project would: start it, point the official SDK crates at it, create a pool and an
//! identity, sync a record; then stop it and find the port closed.

use aws_sdk_cognitoidentity as cid;
use aws_sdk_cognitosync as cs;
use cogsync::test_server::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_project_starts_cogsync_creates_a_pool_and_syncs_a_record() {
    let server = TestServer::start().await.unwrap();
    let credentials = cs::config::Credentials::new(
        server.access_key_id(),
        server.secret_access_key(),
        None,
        None,
        "cogsync-test-server",
    );
    let region = cs::config::Region::new(server.region().to_owned());
    let identity = cid::Client::from_conf(
        cid::Config::builder()
            .behavior_version_latest()
            .endpoint_url(server.endpoint())
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .http_client(cogsync::integrations::aws::http_client())
            .build(),
    );
    let sync = cs::Client::from_conf(
        cs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(server.endpoint())
            .region(region)
            .credentials_provider(credentials)
            .http_client(cogsync::integrations::aws::http_client())
            .build(),
    );

    let (pool, id) = crate::common::pool_and_identity_via(&identity).await;
    let session = sync
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .send()
        .await
        .unwrap()
        .sync_session_token
        .unwrap();
    let written = sync
        .update_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .sync_session_token(session)
        .record_patches(
            cs::types::RecordPatch::builder()
                .op(cs::types::Operation::Replace)
                .key("theme")
                .value("dark")
                .sync_count(0)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(written.records()[0].sync_count(), Some(1));
    let read = sync
        .list_records()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("settings")
        .send()
        .await
        .unwrap();
    assert_eq!(read.records()[0].value(), Some("dark"));

    let addr = server.endpoint().trim_start_matches("http://").to_owned();
    server.stop().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting after stop"
    );
}
