//! The Cognito Sync operation table: one row per operation of the model, saying everything
//! the API layer knows about it. Routing ([`super::route`]), access checks
//! ([`super::access`]), the name in logs and the handler all come from here. Every operation
//! is signed (the model has no unsigned one).

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::{bulk_publish, datasets, devices, pool_config, records, usage, Body, SyncCall};
use crate::api::error::ApiError;

/// Where identity credentials are refused once their identity is deleted or merged away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Here, before the handler runs (one identity read).
    CheckedHere,
    /// By the service call itself, in the same read that resolves the identity.
    CheckedByService,
}

/// Which credentials an operation accepts (spec §3, from the model's documentation of each).
/// Identity credentials only ever reach their own identity in their own pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Developer credentials only: pool administration.
    Developer,
    /// Cognito Identity credentials only (from GetCredentialsForIdentity).
    Identity(Liveness),
    /// Either kind.
    Either(Liveness),
}

/// What a handler returns: its response body, or why not.
pub type SyncReply<'a> = Pin<Box<dyn Future<Output = Result<Body, ApiError>> + Send + 'a>>;

/// Decodes the request, calls the service, encodes the result's JSON body.
pub type SyncHandler = for<'a> fn(SyncCall<'a>) -> SyncReply<'a>;

/// A handler that answers a [`Value`].
fn json<'a>(reply: impl Future<Output = Result<Value, ApiError>> + Send + 'a) -> SyncReply<'a> {
    Box::pin(async move { reply.await.map(Body::Json) })
}

/// One Cognito Sync operation.
#[derive(Debug)]
pub struct SyncOperation {
    /// The model's operation name, as logged.
    pub name: &'static str,
    /// The model's HTTP method.
    pub method: &'static str,
    /// The model's `requestUri`: `/`-separated literal segments and `{Label}`s, matched
    /// against the percent-decoded path segments.
    pub path: &'static str,
    pub access: Access,
    pub handler: SyncHandler,
}

use Access::{Developer, Either, Identity};
use Liveness::{CheckedByService, CheckedHere};

/// The 17 operations, in the model's order.
pub static OPERATIONS: [SyncOperation; 17] = [
    SyncOperation {
        name: "BulkPublish",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/bulkpublish",
        access: Developer,
        handler: |c| json(bulk_publish::bulk_publish(c)),
    },
    SyncOperation {
        name: "DeleteDataset",
        method: "DELETE",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}",
        access: Either(CheckedByService),
        handler: |c| json(datasets::delete_dataset(c)),
    },
    SyncOperation {
        name: "DescribeDataset",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}",
        access: Either(CheckedByService),
        handler: |c| json(datasets::describe_dataset(c)),
    },
    SyncOperation {
        name: "DescribeIdentityPoolUsage",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}",
        access: Developer,
        handler: |c| json(usage::describe_identity_pool_usage(c)),
    },
    SyncOperation {
        name: "DescribeIdentityUsage",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}",
        access: Either(CheckedHere),
        handler: |c| json(usage::describe_identity_usage(c)),
    },
    SyncOperation {
        name: "GetBulkPublishDetails",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/getBulkPublishDetails",
        access: Developer,
        handler: |c| json(bulk_publish::get_bulk_publish_details(c)),
    },
    SyncOperation {
        name: "GetCognitoEvents",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/events",
        access: Developer,
        handler: |c| json(pool_config::get_cognito_events(c)),
    },
    SyncOperation {
        name: "GetIdentityPoolConfiguration",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/configuration",
        access: Developer,
        handler: |c| json(pool_config::get_identity_pool_configuration(c)),
    },
    SyncOperation {
        name: "ListDatasets",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets",
        access: Either(CheckedByService),
        handler: |c| json(datasets::list_datasets(c)),
    },
    SyncOperation {
        name: "ListIdentityPoolUsage",
        method: "GET",
        path: "/identitypools",
        access: Developer,
        handler: |c| json(usage::list_identity_pool_usage(c)),
    },
    SyncOperation {
        name: "ListRecords",
        method: "GET",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/records",
        access: Either(CheckedByService),
        handler: |c| Box::pin(records::list_records(c)),
    },
    SyncOperation {
        name: "RegisterDevice",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/identity/{IdentityId}/device",
        access: Identity(CheckedHere),
        handler: |c| json(devices::register_device(c)),
    },
    SyncOperation {
        name: "SetCognitoEvents",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/events",
        access: Developer,
        handler: |c| json(pool_config::set_cognito_events(c)),
    },
    SyncOperation {
        name: "SetIdentityPoolConfiguration",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/configuration",
        access: Developer,
        handler: |c| json(pool_config::set_identity_pool_configuration(c)),
    },
    SyncOperation {
        name: "SubscribeToDataset",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}",
        access: Identity(CheckedHere),
        handler: |c| json(devices::subscribe_to_dataset(c)),
    },
    SyncOperation {
        name: "UnsubscribeFromDataset",
        method: "DELETE",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}",
        access: Identity(CheckedHere),
        handler: |c| json(devices::unsubscribe_from_dataset(c)),
    },
    SyncOperation {
        name: "UpdateRecords",
        method: "POST",
        path: "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}",
        access: Either(CheckedByService),
        handler: |c| Box::pin(records::update_records(c)),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model_operations;

    #[test]
    fn every_model_operation_is_one_row_with_the_models_method_and_path() {
        assert_eq!(OPERATIONS.len(), model_operations::SYNC.len());
        for (name, method, path) in model_operations::SYNC {
            let rows: Vec<_> = OPERATIONS.iter().filter(|op| op.name == name).collect();
            assert_eq!(rows.len(), 1, "{name} must be exactly one row");
            assert_eq!((rows[0].method, rows[0].path), (method, path), "{name}");
        }
    }

    /// Two patterns of one method accept the same path when they have as many segments and
    /// every segment pair is equal or has a label.
    fn overlap(a: &SyncOperation, b: &SyncOperation) -> bool {
        let label = |s: &str| s.starts_with('{');
        a.method == b.method
            && a.path.split('/').count() == b.path.split('/').count()
            && a.path
                .split('/')
                .zip(b.path.split('/'))
                .all(|(x, y)| x == y || label(x) || label(y))
    }

    #[test]
    fn no_request_matches_two_rows() {
        for (i, a) in OPERATIONS.iter().enumerate() {
            for b in &OPERATIONS[i + 1..] {
                assert!(!overlap(a, b), "{} and {} overlap", a.name, b.name);
            }
        }
    }

    fn names(pick: impl Fn(Access) -> bool) -> Vec<&'static str> {
        OPERATIONS
            .iter()
            .filter(|op| pick(op.access))
            .map(|op| op.name)
            .collect()
    }

    /// Spec §3, as docs/devices-and-logins.md states it; a change here is a change of access rules.
    #[test]
    fn access_rules_are_the_documented_ones() {
        assert_eq!(
            names(|a| a == Developer),
            [
                "BulkPublish",
                "DescribeIdentityPoolUsage",
                "GetBulkPublishDetails",
                "GetCognitoEvents",
                "GetIdentityPoolConfiguration",
                "ListIdentityPoolUsage",
                "SetCognitoEvents",
                "SetIdentityPoolConfiguration",
            ]
        );
        assert_eq!(
            names(|a| matches!(a, Identity(_))),
            [
                "RegisterDevice",
                "SubscribeToDataset",
                "UnsubscribeFromDataset"
            ]
        );
        // The dataset operations refuse a vanished identity in the read that resolves it.
        assert_eq!(
            names(|a| matches!(a, Identity(CheckedByService) | Either(CheckedByService))),
            [
                "DeleteDataset",
                "DescribeDataset",
                "ListDatasets",
                "ListRecords",
                "UpdateRecords"
            ]
        );
    }
}
