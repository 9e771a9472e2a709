//! The login rules, as pure functions: given what the store read inside its login transaction
//! (who owns each login, the identities involved and their logins), decide which identity
//! answers, which identities merge into it, and which logins are linked or unlinked. The
//! store applies the plan in the same transaction, so concurrent first logins of one user
//! cannot create two identities.
//!
//! The survivor of a merge is the identity a cogsync-issued token proves, else the oldest
//! owner (by creation time, then id), else a new identity.

use crate::store::{
    DatasetCopy, DatasetRow, IdentityRecord, LoginKey, LoginPlan, LoginQuery, LoginSnapshot,
    RecordRow, Rejection,
};

/// A login whose token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A cogsync-issued OpenID token: proves one identity directly, while that identity still
    /// has the logins the token was issued for (`logins`, as [`login_digest`]s), or, for a
    /// token issued without logins, while it has none.
    Cognito {
        identity_id: String,
        logins: Vec<String>,
        /// When the token expires (epoch seconds): a token minted from it expires no later.
        expires_s: i64,
    },
    /// A provider's user, linkable to one identity.
    Linked { provider: String, subject: String },
}

/// How a cogsync OpenID token names a login it was issued for: a digest, so that the token
/// (which a device may hand to third parties) does not disclose developer user identifiers.
pub fn login_digest(key: &LoginKey) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key.0.as_bytes());
    h.update([0]);
    h.update(key.1.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The logins a token minted on the strength of `verified` (and `also`, such as the
/// developer user a developer token is for) is issued for: every provider login presented,
/// and the logins of every cogsync token presented, so a token can lend no more than it has.
pub fn token_logins(verified: &[Verified], also: Option<&LoginKey>) -> Vec<String> {
    let mut logins: Vec<String> = also.map(login_digest).into_iter().collect();
    for v in verified {
        match v {
            Verified::Cognito { logins: theirs, .. } => logins.extend(theirs.iter().cloned()),
            Verified::Linked { provider, subject } => {
                logins.push(login_digest(&(provider.clone(), subject.clone())))
            }
        }
    }
    logins.sort();
    logins.dedup();
    logins
}

/// When a token minted at `now_s` on the strength of `verified` expires, given the lifetime
/// `ttl_s` it would have on its own: never after a cogsync token it was minted from.
pub fn token_expiry(verified: &[Verified], ttl_s: i64, now_s: i64) -> i64 {
    verified
        .iter()
        .filter_map(|v| match v {
            Verified::Cognito { expires_s, .. } => Some(*expires_s),
            Verified::Linked { .. } => None,
        })
        .fold(now_s + ttl_s, i64::min)
}

/// Whether `identity_id`, with the logins the snapshot read for it, still qualifies for a
/// cogsync token issued for `logins`: it still has each of them, or (a token issued without
/// logins) it has none. Whether its pool still allows guests is checked where the token is
/// verified, against the pool.
fn still_qualifies(snapshot: &LoginSnapshot, identity_id: &str, logins: &[String]) -> bool {
    let current = snapshot
        .logins
        .get(identity_id)
        .map_or(&[][..], Vec::as_slice);
    if logins.is_empty() {
        return current.is_empty();
    }
    let held: Vec<String> = current.iter().map(login_digest).collect();
    logins.iter().all(|l| held.contains(l))
}

impl Verified {
    fn key(&self) -> Option<LoginKey> {
        match self {
            Verified::Cognito { .. } => None,
            Verified::Linked { provider, subject } => Some((provider.clone(), subject.clone())),
        }
    }
}

/// What the store reads for `verified` logins, plus the `extra` identities and logins.
pub fn query_for(
    verified: &[Verified],
    extra_identities: &[&str],
    extra_logins: &[LoginKey],
) -> LoginQuery {
    let mut query = LoginQuery {
        logins: extra_logins.to_vec(),
        identities: extra_identities.iter().map(|s| s.to_string()).collect(),
    };
    for v in verified {
        match v {
            Verified::Cognito { identity_id, .. } => query.identities.push(identity_id.clone()),
            Verified::Linked { provider, subject } => {
                query.logins.push((provider.clone(), subject.clone()))
            }
        }
    }
    query
}

/// The identity `id`, if it exists in the pool.
fn in_pool<'a>(snapshot: &'a LoginSnapshot, pool_id: &str, id: &str) -> Option<&'a IdentityRecord> {
    snapshot.identities.get(id).filter(|i| i.pool_id == pool_id)
}

/// For each verified login, the identity that owns it (None: not linked yet).
fn owners(
    pool_id: &str,
    verified: &[Verified],
    snapshot: &LoginSnapshot,
) -> Result<Vec<Option<String>>, Rejection> {
    verified
        .iter()
        .map(|v| match v {
            Verified::Cognito {
                identity_id,
                logins,
                ..
            } => match in_pool(snapshot, pool_id, identity_id) {
                Some(i) if still_qualifies(snapshot, identity_id, logins) => Ok(Some(i.id.clone())),
                Some(_) => Err(Rejection::NotAuthorized(
                    "Invalid login token. The logins it was issued for are no longer linked to its identity."
                        .into(),
                )),
                None => Err(Rejection::NotAuthorized(
                    "Invalid login token. Its identity no longer exists.".into(),
                )),
            },
            Verified::Linked { provider, subject } => Ok(snapshot
                .owners
                .get(&(provider.clone(), subject.clone()))
                .cloned()),
        })
        .collect()
}

/// Makes `target` own every verified login: the other owners merge into it, logins nobody
/// owns are linked to it.
fn consolidate(
    plan: &mut LoginPlan,
    target: &str,
    verified: &[Verified],
    owners: &[Option<String>],
) {
    for owner in owners.iter().flatten() {
        let merge = (owner.clone(), target.to_owned());
        if owner != target && !plan.merges.contains(&merge) {
            plan.merges.push(merge);
        }
    }
    for (v, owner) in verified.iter().zip(owners) {
        if let (Some(key), None) = (v.key(), owner) {
            plan.link.push((key, target.to_owned()));
        }
    }
}

/// GetId with logins: the identity of the logins (merging identities that turn out to be
/// one person, linking new logins), or `new_identity` when none owns any of them.
pub fn plan_get_id(
    pool_id: &str,
    verified: &[Verified],
    snapshot: &LoginSnapshot,
    new_identity: &IdentityRecord,
) -> Result<LoginPlan, Rejection> {
    let owners = owners(pool_id, verified, snapshot)?;
    let proven = verified.iter().zip(&owners).find_map(|(v, o)| match v {
        Verified::Cognito { .. } => o.clone(),
        Verified::Linked { .. } => None,
    });
    let oldest = || {
        owners
            .iter()
            .flatten()
            .filter_map(|id| in_pool(snapshot, pool_id, id))
            .min_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)))
            .map(|i| i.id.clone())
    };
    let mut plan = match proven.or_else(oldest) {
        Some(id) => LoginPlan::read_only(id),
        None => LoginPlan {
            create: Some(new_identity.clone()),
            ..LoginPlan::read_only(new_identity.id.clone())
        },
    };
    let target = plan.identity_id.clone();
    consolidate(&mut plan, &target, verified, &owners);
    Ok(plan)
}

/// An unsigned call made for `identity_id` with logins: each login must prove this identity,
/// or (when `link_new`) be a provider login, which is linked to it now (merging the identity
/// that owned it). An identity id is not a secret: a login joins an identity only when the
/// same call proves the caller holds it (one of its own logins), or when the identity has no
/// login at all and the pool lets anyone holding an unauthenticated identity's id use it
/// (`unauthenticated_allowed`): that is how a guest becomes a signed-in user.
pub fn plan_authorize(
    pool_id: &str,
    identity_id: &str,
    verified: &[Verified],
    link_new: bool,
    unauthenticated_allowed: bool,
    snapshot: &LoginSnapshot,
) -> Result<LoginPlan, Rejection> {
    let owners = owners(pool_id, verified, snapshot)?;
    let proven = owners.iter().any(|o| o.as_deref() == Some(identity_id));
    let guest = unauthenticated_allowed
        && snapshot.identities.contains_key(identity_id)
        && snapshot
            .logins
            .get(identity_id)
            .is_none_or(|logins| logins.is_empty());
    let link_new = link_new && (proven || guest);
    for (v, owner) in verified.iter().zip(&owners) {
        let proves_this = owner.as_deref() == Some(identity_id);
        let linkable = link_new && matches!(v, Verified::Linked { .. });
        if !proves_this && !linkable {
            return Err(Rejection::NotAuthorized(
                "Invalid login token. It does not belong to this identity.".into(),
            ));
        }
    }
    let mut plan = LoginPlan::read_only(identity_id);
    if link_new {
        consolidate(&mut plan, identity_id, verified, &owners);
    }
    Ok(plan)
}

/// UnlinkIdentity: the logins must prove the identity; its logins of the named providers
/// are unlinked.
pub fn plan_unlink_providers(
    pool_id: &str,
    identity_id: &str,
    verified: &[Verified],
    providers: &[String],
    snapshot: &LoginSnapshot,
) -> Result<LoginPlan, Rejection> {
    let mut plan = plan_authorize(pool_id, identity_id, verified, false, false, snapshot)?;
    for key in snapshot.logins.get(identity_id).into_iter().flatten() {
        if providers.contains(&key.0) {
            plan.unlink.push((key.clone(), identity_id.to_owned()));
        }
    }
    Ok(plan)
}

/// GetOpenIdTokenForDeveloperIdentity: the developer user's identity — the one asked for
/// (which must exist, and own the user if anyone does), else the user's owner, else
/// `new_identity` — linked to the user and to the other verified logins.
pub fn plan_developer_login(
    pool_id: &str,
    user: &LoginKey,
    wanted: Option<&str>,
    others: &[Verified],
    snapshot: &LoginSnapshot,
    new_identity: &IdentityRecord,
) -> Result<LoginPlan, Rejection> {
    let owners = owners(pool_id, others, snapshot)?;
    let linked = snapshot.owners.get(user);
    let mut plan = match (wanted, linked) {
        (Some(wanted), Some(owner)) if wanted != owner => {
            return Err(Rejection::DeveloperUserAlreadyRegistered(
                "The provided developer user identifier is already registered with Cognito under a different identity ID."
                    .into(),
            ))
        }
        (Some(wanted), _) => match in_pool(snapshot, pool_id, wanted) {
            Some(i) => LoginPlan::read_only(i.id.clone()),
            None => return Err(Rejection::NotFound(format!("Identity '{wanted}' not found."))),
        },
        (None, Some(owner)) => LoginPlan::read_only(owner.clone()),
        (None, None) => LoginPlan {
            create: Some(new_identity.clone()),
            ..LoginPlan::read_only(new_identity.id.clone())
        },
    };
    let target = plan.identity_id.clone();
    if linked.is_none() {
        plan.link.push((user.clone(), target.clone()));
    }
    consolidate(&mut plan, &target, others, &owners);
    Ok(plan)
}

fn developer_user_owner<'a>(
    snapshot: &'a LoginSnapshot,
    user: &LoginKey,
) -> Result<&'a str, Rejection> {
    snapshot
        .owners
        .get(user)
        .map(String::as_str)
        .ok_or_else(|| Rejection::NotFound(format!("Developer user '{}' not found.", user.1)))
}

/// MergeDeveloperIdentities: the source user's identity merges into the destination user's.
pub fn plan_merge_developer_users(
    source: &LoginKey,
    destination: &LoginKey,
    snapshot: &LoginSnapshot,
) -> Result<LoginPlan, Rejection> {
    let from = developer_user_owner(snapshot, source)?;
    let into = developer_user_owner(snapshot, destination)?;
    let mut plan = LoginPlan::read_only(into);
    if from != into {
        plan.merges.push((from.to_owned(), into.to_owned()));
    }
    Ok(plan)
}

/// UnlinkDeveloperIdentity: the user must be linked to that identity.
pub fn plan_unlink_developer_user(
    user: &LoginKey,
    identity_id: &str,
    snapshot: &LoginSnapshot,
) -> Result<LoginPlan, Rejection> {
    if snapshot.owners.get(user).map(String::as_str) != Some(identity_id) {
        return Err(Rejection::NotFound(format!(
            "Developer user '{}' is not linked to identity '{identity_id}'.",
            user.1
        )));
    }
    let mut plan = LoginPlan::read_only(identity_id);
    plan.unlink.push((user.clone(), identity_id.to_owned()));
    Ok(plan)
}

/// The subject stored for a login whose provider the source names but whose subject no API
/// lists (social and OpenID Connect logins): a placeholder no provider issues, unique per
/// identity. The identity then has a login, so it is not a guest that anyone holding its id
/// may sign in to; the import's `--logins-file` links the real subject beside it.
pub fn unlisted_subject(identity_id: &str) -> String {
    format!("{UNLISTED}{identity_id})")
}

const UNLISTED: &str = "(subject not listed by the source; identity ";

/// Whether a login's subject is [`unlisted_subject`]'s placeholder.
pub fn is_unlisted(subject: &str) -> bool {
    subject.starts_with(UNLISTED)
}

/// Once a real login of `provider` is linked to `identity_id` (from a logins file), its
/// placeholder goes: the plan unlinks it if the identity still holds it.
pub fn drop_placeholder(identity_id: &str, provider: &str, snapshot: &LoginSnapshot) -> LoginPlan {
    let placeholder = (provider.to_owned(), unlisted_subject(identity_id));
    let mut plan = LoginPlan::read_only(identity_id);
    if snapshot.owners.get(&placeholder).map(String::as_str) == Some(identity_id) {
        plan.unlink.push((placeholder, identity_id.to_owned()));
    }
    plan
}

/// `<name>.<source>`: what a merge names the copy of `source`'s dataset `name`.
pub fn merged_name(name: &str, source: &str) -> String {
    format!("{name}.{source}")
}

/// The dataset name and source identity a merged copy's name is made of ([`merged_name`]);
/// None for a name that does not end in `.<identity id>`.
pub fn merged_name_parts(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once('.')
        .filter(|(_, source)| crate::validate::aws_id(source, "IdentityId").is_ok())
}

/// What a merge gives the surviving identity `dest`: each live dataset `<name>` of `source`
/// becomes `<name>.<source>` at SyncCount 1, created now, reported by `<name>`'s merge list;
/// its live records come along with their values intact, each at SyncCount 1; tombstones
/// stay behind.
pub fn merged_copies(
    source: &str,
    dest: &str,
    live: Vec<DatasetCopy>,
    now_ms: i64,
) -> Vec<DatasetCopy> {
    live.into_iter()
        .map(|copy| {
            let d = copy.dataset;
            DatasetCopy {
                dataset: DatasetRow {
                    identity_id: dest.to_owned(),
                    name: merged_name(&d.name, source),
                    live: true,
                    sync_count: 1,
                    creation_ms: now_ms,
                    last_modified_ms: now_ms,
                    last_modified_by: d.last_modified_by,
                    data_storage: d.data_storage,
                    num_records: d.num_records,
                    deleted_at_sync_count: None,
                    merged_into: Some(d.name),
                },
                records: copy
                    .records
                    .into_iter()
                    .filter(|r| r.value.is_some())
                    .map(|r| RecordRow { sync_count: 1, ..r })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "login_rules_tests.rs"]
mod tests;
