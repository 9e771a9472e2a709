//! The identity pool's rules, as a pure function: what an update makes of the stored pool.

use crate::store::{PoolRecord, Rejection};

use super::PoolSpec;

/// `stored` updated by `spec`: the name, the guest flag and the developer provider (which,
/// once set, cannot change), and the other members when the spec gives them (UpdateIdentityPool
/// replaces them all; the console's edit of the description leaves them as stored).
pub fn updated(stored: &PoolRecord, spec: &PoolSpec) -> Result<PoolRecord, Rejection> {
    let developer_provider_name = match (
        &stored.developer_provider_name,
        &spec.developer_provider_name,
    ) {
        (Some(old), Some(new)) if old != new => {
            return Err(Rejection::InvalidParameter(
                "DeveloperProviderName cannot be changed once it is set".into(),
            ))
        }
        (Some(old), _) => Some(old.clone()),
        (None, new) => new.clone(),
    };
    Ok(PoolRecord {
        name: spec.name.clone(),
        allow_unauthenticated: spec.allow_unauthenticated,
        developer_provider_name,
        details: spec
            .details
            .clone()
            .unwrap_or_else(|| stored.details.clone()),
        ..stored.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PoolDetails;

    fn pool() -> PoolRecord {
        PoolRecord {
            id: "p".into(),
            name: "old".into(),
            allow_unauthenticated: false,
            developer_provider_name: Some("login.app".into()),
            details: PoolDetails {
                open_id_connect_provider_arns: Some(vec!["arn:oidc".into()]),
                ..PoolDetails::default()
            },
            created_ms: 7,
        }
    }

    #[test]
    fn the_developer_provider_stays_and_other_members_are_kept_unless_given() {
        let spec = PoolSpec {
            name: "new".into(),
            allow_unauthenticated: true,
            developer_provider_name: None,
            details: None,
        };
        let next = updated(&pool(), &spec).unwrap();
        assert_eq!(next.name, "new");
        assert_eq!(next.developer_provider_name.as_deref(), Some("login.app"));
        assert_eq!(next.details, pool().details, "kept as stored");
        assert_eq!(next.created_ms, 7);
        let replaced = PoolSpec {
            details: Some(PoolDetails::default()),
            ..spec.clone()
        };
        assert_eq!(
            updated(&pool(), &replaced).unwrap().details,
            PoolDetails::default()
        );
        let renamed = PoolSpec {
            developer_provider_name: Some("other".into()),
            ..spec
        };
        assert!(matches!(
            updated(&pool(), &renamed),
            Err(Rejection::InvalidParameter(_))
        ));
    }
}
