//! The login rules, decided on snapshots without a database.

use super::*;

const POOL: &str = "us-east-1:pool";

fn identity(id: &str, created_ms: i64) -> IdentityRecord {
    IdentityRecord {
        id: id.into(),
        pool_id: POOL.into(),
        created_ms,
        last_modified_ms: created_ms,
    }
}

fn login(provider: &str, subject: &str) -> Verified {
    Verified::Linked {
        provider: provider.into(),
        subject: subject.into(),
    }
}

fn key(provider: &str, subject: &str) -> LoginKey {
    (provider.into(), subject.into())
}

/// A snapshot where each (login, owner, owner's creation time) is linked.
fn snapshot(links: &[(LoginKey, &str, i64)]) -> LoginSnapshot {
    let mut s = LoginSnapshot::default();
    for (k, owner, created) in links {
        s.owners.insert(k.clone(), owner.to_string());
        s.identities
            .insert(owner.to_string(), identity(owner, *created));
        s.logins
            .entry(owner.to_string())
            .or_default()
            .push(k.clone());
    }
    s
}

#[test]
fn a_first_login_creates_one_identity_and_links_it() {
    let new = identity("new", 9);
    let plan = plan_get_id(POOL, &[login("p", "alice")], &snapshot(&[]), &new).unwrap();
    assert_eq!(plan.create, Some(new));
    assert_eq!(plan.identity_id, "new");
    assert_eq!(plan.link, vec![(key("p", "alice"), "new".to_string())]);
    assert!(plan.merges.is_empty());
}

#[test]
fn a_known_login_answers_its_identity_and_writes_nothing() {
    let s = snapshot(&[(key("p", "alice"), "a", 1)]);
    let plan = plan_get_id(POOL, &[login("p", "alice")], &s, &identity("new", 9)).unwrap();
    assert_eq!(plan, LoginPlan::read_only("a"));
    assert!(!plan.writes());
}

#[test]
fn logins_of_two_identities_merge_into_the_oldest() {
    let s = snapshot(&[
        (key("p", "alice"), "young", 5),
        (key("q", "alice"), "old", 1),
    ]);
    let logins = [login("p", "alice"), login("q", "alice"), login("r", "new")];
    let plan = plan_get_id(POOL, &logins, &s, &identity("new", 9)).unwrap();
    assert_eq!(plan.identity_id, "old");
    assert_eq!(plan.create, None);
    assert_eq!(plan.merges, vec![("young".to_string(), "old".to_string())]);
    assert_eq!(plan.link, vec![(key("r", "new"), "old".to_string())]);
}

#[test]
fn an_identity_proven_by_a_cogsync_token_survives_a_merge() {
    let mut s = snapshot(&[(key("p", "alice"), "old", 1)]);
    s.identities.insert("proven".into(), identity("proven", 7));
    let logins = [
        login("p", "alice"),
        Verified::Cognito {
            identity_id: "proven".into(),
            logins: Vec::new(),
            expires_s: 100,
        },
    ];
    let plan = plan_get_id(POOL, &logins, &s, &identity("new", 9)).unwrap();
    assert_eq!(plan.identity_id, "proven");
    assert_eq!(plan.merges, vec![("old".to_string(), "proven".to_string())]);
}

#[test]
fn a_cogsync_token_of_a_vanished_identity_is_refused() {
    let logins = [Verified::Cognito {
        identity_id: "gone".into(),
        logins: Vec::new(),
        expires_s: 100,
    }];
    let refused = plan_get_id(POOL, &logins, &snapshot(&[]), &identity("n", 1));
    assert!(matches!(refused, Err(Rejection::NotAuthorized(_))));
}

#[test]
fn a_cogsync_token_proves_its_identity_only_while_it_keeps_the_logins_it_was_issued_for() {
    let dev = key("dev", "u1");
    let token = |logins: Vec<String>| Verified::Cognito {
        identity_id: "a".into(),
        logins,
        expires_s: 100,
    };
    let issued_for_dev = token(token_logins(&[], Some(&dev)));
    let s = snapshot(&[(dev.clone(), "a", 1), (key("p", "alice"), "a", 1)]);
    assert!(plan_authorize(
        POOL,
        "a",
        std::slice::from_ref(&issued_for_dev),
        false,
        true,
        &s
    )
    .is_ok());
    // The developer user unlinked: the token no longer proves anything.
    let unlinked = snapshot(&[(key("p", "alice"), "a", 1)]);
    let refused = plan_authorize(POOL, "a", &[issued_for_dev], false, true, &unlinked);
    assert!(matches!(refused, Err(Rejection::NotAuthorized(_))));
    // A guest's token stops proving its identity once the identity has a login.
    let guest_token = token(Vec::new());
    let mut guest = LoginSnapshot::default();
    guest.identities.insert("a".into(), identity("a", 1));
    assert!(plan_authorize(
        POOL,
        "a",
        std::slice::from_ref(&guest_token),
        false,
        true,
        &guest
    )
    .is_ok());
    let refused = plan_authorize(POOL, "a", &[guest_token], false, true, &unlinked);
    assert!(matches!(refused, Err(Rejection::NotAuthorized(_))));
}

#[test]
fn a_token_minted_from_tokens_is_issued_for_no_more_than_they_were() {
    let google = key("accounts.google.com", "s1");
    let from_token = Verified::Cognito {
        identity_id: "a".into(),
        logins: vec![login_digest(&google)],
        expires_s: 1_060,
    };
    assert_eq!(
        token_logins(std::slice::from_ref(&from_token), None),
        vec![login_digest(&google)]
    );
    // Ten minutes on its own, but the token it came from has one left.
    assert_eq!(token_expiry(&[from_token], 600, 1_000), 1_060);
    assert_eq!(token_expiry(&[login("p", "alice")], 600, 1_000), 1_600);
    let both = token_logins(&[login("p", "alice")], Some(&google));
    assert_eq!(both.len(), 2);
    assert!(both.contains(&login_digest(&key("p", "alice"))));
    assert_ne!(login_digest(&key("ab", "c")), login_digest(&key("a", "bc")));
}

#[test]
fn authorizing_needs_every_login_to_prove_the_identity_unless_linking() {
    let s = snapshot(&[(key("p", "alice"), "a", 1), (key("p", "bob"), "b", 2)]);
    let ok = plan_authorize(POOL, "a", &[login("p", "alice")], false, true, &s).unwrap();
    assert!(!ok.writes());
    let foreign = plan_authorize(POOL, "a", &[login("p", "bob")], false, true, &s);
    assert!(matches!(foreign, Err(Rejection::NotAuthorized(_))));
    let both = [login("p", "alice"), login("p", "bob"), login("q", "c")];
    let linked = plan_authorize(POOL, "a", &both, true, true, &s).unwrap();
    assert_eq!(linked.merges, vec![("b".to_string(), "a".to_string())]);
    assert_eq!(linked.link, vec![(key("q", "c"), "a".to_string())]);
}

#[test]
fn an_identity_id_with_someone_elses_valid_login_is_not_enough_to_link() {
    let mut s = snapshot(&[(key("p", "alice"), "a", 1), (key("p", "bob"), "b", 2)]);
    // Alice's identity, with a valid token of another user, unlinked or linked elsewhere.
    for logins in [
        vec![login("p", "mallory")],
        vec![login("p", "bob")],
        vec![login("p", "bob"), login("q", "c")],
    ] {
        let taken = plan_authorize(POOL, "a", &logins, true, true, &s);
        assert!(
            matches!(taken, Err(Rejection::NotAuthorized(_))),
            "{logins:?}"
        );
    }
    // A guest (no logins) signs in: its login joins it, where the pool has guests.
    s.identities.insert("g".into(), identity("g", 3));
    let signed_in = plan_authorize(POOL, "g", &[login("p", "carol")], true, true, &s).unwrap();
    assert_eq!(signed_in.link, vec![(key("p", "carol"), "g".to_string())]);
    let no_guests = plan_authorize(POOL, "g", &[login("p", "carol")], true, false, &s);
    assert!(matches!(no_guests, Err(Rejection::NotAuthorized(_))));
}

#[test]
fn unlinking_providers_removes_only_their_logins() {
    let s = snapshot(&[(key("p", "alice"), "a", 1), (key("q", "alice"), "a", 1)]);
    let plan = plan_unlink_providers(POOL, "a", &[login("p", "alice")], &["q".into()], &s).unwrap();
    assert_eq!(plan.unlink, vec![(key("q", "alice"), "a".to_string())]);
}

#[test]
fn a_developer_user_gets_its_identity_or_a_new_one() {
    let user = key("dev", "u1");
    let new = identity("new", 9);
    let plan = plan_developer_login(POOL, &user, None, &[], &snapshot(&[]), &new).unwrap();
    assert_eq!(plan.create, Some(new.clone()));
    assert_eq!(plan.link, vec![(user.clone(), "new".to_string())]);

    let s = snapshot(&[(user.clone(), "a", 1)]);
    let plan = plan_developer_login(POOL, &user, None, &[], &s, &new).unwrap();
    assert!(!plan.writes());
    assert_eq!(plan.identity_id, "a");

    let refused = plan_developer_login(POOL, &user, Some("b"), &[], &s, &new);
    assert!(matches!(
        refused,
        Err(Rejection::DeveloperUserAlreadyRegistered(_))
    ));
    let missing = plan_developer_login(POOL, &key("dev", "u2"), Some("nope"), &[], &s, &new);
    assert!(matches!(missing, Err(Rejection::NotFound(_))));
}

#[test]
fn a_merge_copies_live_datasets_under_new_names_at_count_one_without_tombstones() {
    let record = |key: &str, value: Option<&str>, sync_count| RecordRow {
        key: key.into(),
        value: value.map(str::to_owned),
        sync_count,
        last_modified_ms: 3,
        last_modified_by: "b".into(),
        device_last_modified_ms: Some(4),
    };
    let game = DatasetCopy {
        dataset: DatasetRow {
            identity_id: "b".into(),
            name: "game".into(),
            live: true,
            sync_count: 9,
            creation_ms: 1,
            last_modified_ms: 3,
            last_modified_by: "b".into(),
            data_storage: 12,
            num_records: 1,
            deleted_at_sync_count: Some(2),
            merged_into: None,
        },
        records: vec![record("k1", Some("v"), 7), record("k2", None, 8)],
    };
    let copies = merged_copies("b", "a", vec![game], 77);
    assert_eq!(copies.len(), 1);
    let d = &copies[0].dataset;
    assert_eq!(
        (
            d.identity_id.as_str(),
            d.name.as_str(),
            d.sync_count,
            d.creation_ms
        ),
        ("a", "game.b", 1, 77)
    );
    assert_eq!(d.merged_into.as_deref(), Some("game"));
    assert_eq!(d.deleted_at_sync_count, None);
    assert_eq!(copies[0].records, vec![record("k1", Some("v"), 1)]);
}

#[test]
fn developer_users_merge_and_unlink_by_their_identities() {
    let (u1, u2) = (key("dev", "u1"), key("dev", "u2"));
    let s = snapshot(&[(u1.clone(), "a", 1), (u2.clone(), "b", 2)]);
    let plan = plan_merge_developer_users(&u1, &u2, &s).unwrap();
    assert_eq!(plan.merges, vec![("a".to_string(), "b".to_string())]);
    assert_eq!(plan.identity_id, "b");
    assert!(!plan_merge_developer_users(&u1, &u1, &s).unwrap().writes());
    assert!(matches!(
        plan_merge_developer_users(&key("dev", "x"), &u1, &s),
        Err(Rejection::NotFound(_))
    ));
    assert_eq!(
        plan_unlink_developer_user(&u1, "a", &s).unwrap().unlink,
        vec![(u1.clone(), "a".to_string())]
    );
    assert!(matches!(
        plan_unlink_developer_user(&u1, "b", &s),
        Err(Rejection::NotFound(_))
    ));
}

#[test]
fn a_merged_copys_name_is_read_back_as_it_was_made() {
    let source = "us-east-1:0000-aaaa";
    let name = merged_name("settings.v2", source);
    assert_eq!(name, "settings.v2.us-east-1:0000-aaaa");
    // Dataset names may hold `:` too; only an identity id after the last `.` counts.
    assert_eq!(merged_name_parts("notes.work:draft"), None);
    assert_eq!(merged_name_parts(&name), Some(("settings.v2", source)));
    assert_eq!(merged_name_parts("settings.v2"), None);
    assert_eq!(merged_name_parts("plain"), None);
}
