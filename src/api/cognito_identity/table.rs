//! The Cognito Identity operation table: one row per operation of the model, saying
//! everything the API layer knows about it. Authentication, access checks, the name in logs,
//! the handler, and the answer for operations not served yet all come from here.

use super::{credentials, developer, identities, pools};
use crate::api::json::Object;
use crate::api::{App, Reply};

/// Who may call a Cognito Identity operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityAccess {
    /// Signed with developer credentials; identity credentials are refused.
    Developer,
    /// Unsigned (the model's `authtype: none`): anyone; a signature, if any, is not checked.
    Unsigned,
}

/// Decodes the request body, calls the service, encodes the result's JSON body.
pub type IdentityHandler = for<'a> fn(&'a App, &'a Object) -> Reply<'a>;

/// One Cognito Identity operation.
#[derive(Debug)]
pub struct IdentityOperation {
    /// The model's operation name: the part of `X-Amz-Target` after the prefix, as logged.
    pub name: &'static str,
    pub access: IdentityAccess,
    /// None: in the model but not served by this version (501 NotImplementedException).
    pub handler: Option<IdentityHandler>,
}

use IdentityAccess::{Developer, Unsigned};

/// Every operation of the model, in its order.
pub static OPERATIONS: [IdentityOperation; 23] = [
    IdentityOperation {
        name: "CreateIdentityPool",
        access: Developer,
        handler: Some(|app, body| Box::pin(pools::create_identity_pool(app, body))),
    },
    IdentityOperation {
        name: "DeleteIdentities",
        access: Developer,
        handler: Some(|app, body| Box::pin(identities::delete_identities(app, body))),
    },
    IdentityOperation {
        name: "DeleteIdentityPool",
        access: Developer,
        handler: Some(|app, body| Box::pin(pools::delete_identity_pool(app, body))),
    },
    IdentityOperation {
        name: "DescribeIdentity",
        access: Developer,
        handler: Some(|app, body| Box::pin(identities::describe_identity(app, body))),
    },
    IdentityOperation {
        name: "DescribeIdentityPool",
        access: Developer,
        handler: Some(|app, body| Box::pin(pools::describe_identity_pool(app, body))),
    },
    IdentityOperation {
        name: "GetCredentialsForIdentity",
        access: Unsigned,
        handler: Some(|app, body| Box::pin(credentials::get_credentials_for_identity(app, body))),
    },
    IdentityOperation {
        name: "GetId",
        access: Unsigned,
        handler: Some(|app, body| Box::pin(identities::get_id(app, body))),
    },
    IdentityOperation {
        name: "GetIdentityPoolRoles",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "GetOpenIdToken",
        access: Unsigned,
        handler: Some(|app, body| Box::pin(credentials::get_open_id_token(app, body))),
    },
    IdentityOperation {
        name: "GetOpenIdTokenForDeveloperIdentity",
        access: Developer,
        handler: Some(|app, body| {
            Box::pin(credentials::get_open_id_token_for_developer_identity(
                app, body,
            ))
        }),
    },
    IdentityOperation {
        name: "GetPrincipalTagAttributeMap",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "ListIdentities",
        access: Developer,
        handler: Some(|app, body| Box::pin(identities::list_identities(app, body))),
    },
    IdentityOperation {
        name: "ListIdentityPools",
        access: Developer,
        handler: Some(|app, body| Box::pin(pools::list_identity_pools(app, body))),
    },
    IdentityOperation {
        name: "ListTagsForResource",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "LookupDeveloperIdentity",
        access: Developer,
        handler: Some(|app, body| Box::pin(developer::lookup_developer_identity(app, body))),
    },
    IdentityOperation {
        name: "MergeDeveloperIdentities",
        access: Developer,
        handler: Some(|app, body| Box::pin(developer::merge_developer_identities(app, body))),
    },
    IdentityOperation {
        name: "SetIdentityPoolRoles",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "SetPrincipalTagAttributeMap",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "TagResource",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "UnlinkDeveloperIdentity",
        access: Developer,
        handler: Some(|app, body| Box::pin(developer::unlink_developer_identity(app, body))),
    },
    IdentityOperation {
        name: "UnlinkIdentity",
        access: Unsigned,
        handler: Some(|app, body| Box::pin(identities::unlink_identity(app, body))),
    },
    IdentityOperation {
        name: "UntagResource",
        access: Developer,
        handler: None,
    },
    IdentityOperation {
        name: "UpdateIdentityPool",
        access: Developer,
        handler: Some(|app, body| Box::pin(pools::update_identity_pool(app, body))),
    },
];

/// The row named by `target` (the operation part of `X-Amz-Target`), if any.
pub fn find(target: &str) -> Option<&'static IdentityOperation> {
    OPERATIONS.iter().find(|op| op.name == target)
}

/// Who may call `op`. A target no row has is treated as signed, so only developers learn
/// that an operation does not exist.
pub fn access(op: Option<&IdentityOperation>) -> IdentityAccess {
    op.map_or(IdentityAccess::Developer, |op| op.access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cognito_identity::TARGET_PREFIX;
    use crate::api::model_operations;

    #[test]
    fn every_model_operation_is_one_row_unsigned_exactly_where_the_model_says() {
        assert_eq!(OPERATIONS.len(), model_operations::IDENTITY.len());
        for (name, unsigned) in model_operations::IDENTITY {
            let rows: Vec<_> = OPERATIONS.iter().filter(|op| op.name == name).collect();
            assert_eq!(rows.len(), 1, "{name} must be exactly one row");
            let expected = if unsigned { Unsigned } else { Developer };
            assert_eq!(rows[0].access, expected, "{name}");
        }
        assert_eq!(
            TARGET_PREFIX,
            format!("{}.", model_operations::IDENTITY_TARGET_PREFIX)
        );
    }

    #[test]
    fn the_operations_not_served_yet_are_the_role_and_tag_ones() {
        let unserved: Vec<_> = OPERATIONS
            .iter()
            .filter(|op| op.handler.is_none())
            .map(|op| op.name)
            .collect();
        assert_eq!(
            unserved,
            [
                "GetIdentityPoolRoles",
                "GetPrincipalTagAttributeMap",
                "ListTagsForResource",
                "SetIdentityPoolRoles",
                "SetPrincipalTagAttributeMap",
                "TagResource",
                "UntagResource",
            ]
        );
    }

    #[test]
    fn targets_are_found_by_exact_name_and_unknown_ones_count_as_signed() {
        assert_eq!(find("GetId").map(|op| op.name), Some("GetId"));
        for unknown in [
            "getid",
            "GetId ",
            "",
            "Frobnicate",
            "AWSCognitoIdentityService.GetId",
        ] {
            assert!(find(unknown).is_none(), "{unknown:?}");
            assert_eq!(access(find(unknown)), Developer);
        }
    }
}
