//! Concurrent first logins of one user: every caller gets the same identity, and the pool
//! holds exactly one identity for that user, linked to the login (no user split across two
//! identities). On each backend, and across two nodes sharing one PostgreSQL database.

use aws_sdk_cognitoidentity as cid;
use cogsync::testing::TestDatabase;
use tokio::task::JoinSet;

use crate::common::*;

backend_tests!(
    concurrent_first_developer_logins_make_one_identity,
    concurrent_first_oidc_logins_make_one_identity
);

const RACERS: usize = 16;
const ROUNDS: usize = 3;

/// GetOpenIdTokenForDeveloperIdentity for `user` from every client at once, round robin.
async fn race_developer(clients: &[cid::Client], pool: &str, user: &str) -> Vec<String> {
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let (c, pool, user) = (
            clients[i % clients.len()].clone(),
            pool.to_owned(),
            user.to_owned(),
        );
        racers.spawn(async move {
            c.get_open_id_token_for_developer_identity()
                .identity_pool_id(pool)
                .logins("login.myapp", user)
                .send()
                .await
                .map(|o| o.identity_id.unwrap())
                .map_err(|e| code_of(&e))
        });
    }
    racers
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

async fn identities_of(c: &cid::Client, pool: &str) -> Vec<String> {
    c.list_identities()
        .identity_pool_id(pool)
        .max_results(60)
        .send()
        .await
        .unwrap()
        .identities()
        .iter()
        .map(|i| i.identity_id().unwrap().to_owned())
        .collect()
}

/// Races first developer logins of several users; each must end with one identity.
async fn developer_rounds(clients: &[cid::Client], pool: &str) {
    for round in 0..ROUNDS {
        let user = format!("user-{round}");
        let ids = race_developer(clients, pool, &user).await;
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: {ids:?}");
        let identities = identities_of(&clients[0], pool).await;
        assert_eq!(
            identities.len(),
            round + 1,
            "one identity per user: {identities:?}"
        );
        let looked_up = clients[0]
            .lookup_developer_identity()
            .identity_pool_id(pool)
            .developer_user_identifier(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(looked_up.identity_id(), Some(ids[0].as_str()));
    }
}

async fn concurrent_first_developer_logins_make_one_identity(s: TestServer) {
    let pool = login_pool(&s, false).await;
    developer_rounds(&[s.identity()], &pool).await;
}

async fn concurrent_first_oidc_logins_make_one_identity(s: TestServer) {
    let pool = login_pool(&s, false).await;
    for round in 0..ROUNDS {
        let token = oidc().token(0, &format!("subject-{round}"), OIDC_AUDIENCE, 600);
        let mut racers = JoinSet::new();
        for _ in 0..RACERS {
            let (c, pool, token) = (s.identity(), pool.clone(), token.clone());
            racers.spawn(async move {
                c.get_id()
                    .identity_pool_id(pool)
                    .logins(oidc().name(0), token)
                    .send()
                    .await
                    .map(|o| o.identity_id.unwrap())
                    .map_err(|e| code_of(&e))
            });
        }
        let ids: Vec<String> = racers
            .join_all()
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: {ids:?}");
        assert_eq!(identities_of(&s.identity(), &pool).await.len(), round + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_logins_on_two_nodes_make_one_identity() {
    let Some(db) =
        TestDatabase::create("login_race::concurrent_first_logins_on_two_nodes_make_one_identity")
            .await
    else {
        return;
    };
    let a = TestServer::start_custom(|c| c.database_url = Some(db.url.clone())).await;
    let b = TestServer::start_custom(|c| c.database_url = Some(db.url.clone())).await;
    let pool = login_pool(&a, false).await;
    developer_rounds(&[a.identity(), b.identity()], &pool).await;
}
