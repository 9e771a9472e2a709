//! Mirroring what a pool's upstream decided about an identity (upstream mode), as pure
//! functions: the logins a call the upstream accepted tells us about (the subjects this server
//! will check by itself once the pool is detached), and the login plan that records them for
//! the identity the upstream answered. The upstream's word is final: a login recorded here for
//! another identity moves (that identity is read again whole later); nothing merges here.

use base64::Engine;

use super::login_rules::{is_unlisted, unlisted_subject};
use super::COGNITO_PROVIDER;
use crate::store::{IdentityRecord, LoginKey, LoginPlan, LoginSnapshot, PoolRecord};

/// The payload of a JWT, not verified: the upstream already accepted the token.
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The identity pool an OpenID token of the upstream was issued for (its `aud`).
pub fn token_pool(token: &str) -> Option<String> {
    match jwt_claims(token)?.get("aud")? {
        serde_json::Value::String(aud) => Some(aud.clone()),
        serde_json::Value::Array(all) => all.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The logins `logins` proves for `identity_id` at the upstream: a developer user as it is;
/// an ID token's subject (`sub`, as this server's own checks record it); for a provider whose
/// token says nothing readable (Facebook, Amazon), the import's placeholder, so that the
/// identity is no guest here. Cognito's own tokens prove no login.
pub fn login_facts(
    pool: &PoolRecord,
    identity_id: &str,
    logins: &[(String, String)],
) -> Vec<LoginKey> {
    let mut facts = Vec::new();
    for (provider, value) in logins {
        if provider == COGNITO_PROVIDER {
            continue;
        }
        if pool.developer_provider_name.as_deref() == Some(provider) {
            facts.push((provider.clone(), value.clone()));
            continue;
        }
        let sub = jwt_claims(value).and_then(|c| c.get("sub")?.as_str().map(str::to_owned));
        match sub {
            Some(sub) if !sub.is_empty() => facts.push((provider.clone(), sub)),
            _ => facts.push((provider.clone(), unlisted_subject(identity_id))),
        }
    }
    facts
}

/// What to read for [`plan_mirror`]: the facts, and the placeholders a real subject replaces.
pub fn query_logins(identity_id: &str, facts: &[LoginKey]) -> Vec<LoginKey> {
    let mut all = facts.to_vec();
    for (provider, _) in facts {
        let placeholder = (provider.clone(), unlisted_subject(identity_id));
        if !all.contains(&placeholder) {
            all.push(placeholder);
        }
    }
    all
}

/// The plan recording `facts` for `identity_id` (created from `new` if it is not stored): each
/// login linked to it, moved from another identity that held it, a placeholder dropped once a
/// real subject of its provider is linked and never added beside one.
pub fn plan_mirror(
    identity_id: &str,
    facts: &[LoginKey],
    snapshot: &LoginSnapshot,
    new: &IdentityRecord,
) -> LoginPlan {
    let mut plan = LoginPlan::read_only(identity_id);
    if !snapshot.identities.contains_key(identity_id) {
        plan.create = Some(IdentityRecord {
            id: identity_id.to_owned(),
            ..new.clone()
        });
    }
    let held = snapshot
        .logins
        .get(identity_id)
        .cloned()
        .unwrap_or_default();
    let real_of = |provider: &str| {
        facts
            .iter()
            .chain(held.iter())
            .any(|(p, s)| p == provider && !is_unlisted(s))
    };
    for fact in facts {
        if is_unlisted(&fact.1) && real_of(&fact.0) {
            continue;
        }
        match snapshot.owners.get(fact) {
            Some(owner) if owner == identity_id => {}
            Some(other) => {
                plan.unlink.push((fact.clone(), other.clone()));
                plan.link.push((fact.clone(), identity_id.to_owned()));
            }
            None => plan.link.push((fact.clone(), identity_id.to_owned())),
        }
    }
    for (provider, subject) in facts {
        if is_unlisted(subject) {
            continue;
        }
        let placeholder = (provider.clone(), unlisted_subject(identity_id));
        if snapshot.owners.get(&placeholder).map(String::as_str) == Some(identity_id) {
            plan.unlink.push((placeholder, identity_id.to_owned()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pool() -> PoolRecord {
        PoolRecord {
            id: "us-east-1:p".into(),
            name: "p".into(),
            allow_unauthenticated: true,
            developer_provider_name: Some("login.myapp".into()),
            details: Default::default(),
            created_ms: 1,
        }
    }

    fn jwt(claims: serde_json::Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b64.encode(br#"{"alg":"RS256"}"#),
            b64.encode(claims.to_string())
        )
    }

    #[test]
    fn what_a_login_tells_of_its_subject() {
        let logins = vec![
            ("login.myapp".to_string(), "user-7".to_string()),
            (
                "accounts.google.com".to_string(),
                jwt(serde_json::json!({"sub": "g-1"})),
            ),
            ("graph.facebook.com".to_string(), "EAAB-opaque".to_string()),
            (
                COGNITO_PROVIDER.to_string(),
                jwt(serde_json::json!({"sub": "x"})),
            ),
        ];
        let facts = login_facts(&pool(), "us-east-1:i", &logins);
        assert_eq!(
            facts,
            vec![
                ("login.myapp".to_string(), "user-7".to_string()),
                ("accounts.google.com".to_string(), "g-1".to_string()),
                (
                    "graph.facebook.com".to_string(),
                    unlisted_subject("us-east-1:i")
                ),
            ]
        );
        let token = jwt(serde_json::json!({"aud": "us-east-1:p", "sub": "us-east-1:i"}));
        assert_eq!(token_pool(&token).as_deref(), Some("us-east-1:p"));
        assert_eq!(token_pool("opaque"), None);
    }

    fn new(id: &str) -> IdentityRecord {
        IdentityRecord {
            id: id.into(),
            pool_id: "us-east-1:p".into(),
            created_ms: 5,
            last_modified_ms: 5,
        }
    }

    #[test]
    fn logins_follow_the_identity_the_upstream_named() {
        let g = ("accounts.google.com".to_string(), "g-1".to_string());
        let placeholder = ("accounts.google.com".to_string(), unlisted_subject("x"));
        let mut snapshot = LoginSnapshot::default();
        // Unknown identity: created, its login linked.
        let plan = plan_mirror("x", std::slice::from_ref(&g), &snapshot, &new("x"));
        assert_eq!(plan.create.map(|c| c.id).as_deref(), Some("x"));
        assert_eq!(plan.link, vec![(g.clone(), "x".to_string())]);
        // Known, holding its placeholder, the login recorded for another: moved, placeholder dropped.
        snapshot.identities = HashMap::from([("x".to_string(), new("x"))]);
        snapshot.owners = HashMap::from([
            (g.clone(), "y".to_string()),
            (placeholder.clone(), "x".to_string()),
        ]);
        snapshot.logins = HashMap::from([("x".to_string(), vec![placeholder.clone()])]);
        let plan = plan_mirror("x", std::slice::from_ref(&g), &snapshot, &new("x"));
        assert!(plan.create.is_none());
        assert!(plan.merges.is_empty());
        assert_eq!(
            plan.unlink,
            vec![
                (g.clone(), "y".to_string()),
                (placeholder.clone(), "x".to_string())
            ]
        );
        assert_eq!(plan.link, vec![(g.clone(), "x".to_string())]);
        // A placeholder never joins a real subject of its provider.
        snapshot.logins = HashMap::from([("x".to_string(), vec![g.clone()])]);
        snapshot.owners = HashMap::from([(g.clone(), "x".to_string())]);
        let plan = plan_mirror("x", &[placeholder], &snapshot, &new("x"));
        assert!(plan.link.is_empty() && plan.unlink.is_empty());
    }
}
