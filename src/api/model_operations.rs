//! Test data: the operations of the two service models, as the table tests check them.
//! Taken from botocore 1.44.8's `cognito-sync/2014-06-30/service-2.json` and
//! `cognito-identity/2014-06-30/service-2.json` (the project's reference models);
//! regenerate with, for example,
//! `jq -r '.operations[] | [.name, .http.method, .http.requestUri, .authtype] | @tsv'`.

/// Cognito Sync: name, HTTP method, `requestUri`. No operation has `authtype`: all are signed.
#[rustfmt::skip]
pub const SYNC: [(&str, &str, &str); 17] = [
    ("BulkPublish", "POST", "/identitypools/{IdentityPoolId}/bulkpublish"),
    ("DeleteDataset", "DELETE", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"),
    ("DescribeDataset", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"),
    ("DescribeIdentityPoolUsage", "GET", "/identitypools/{IdentityPoolId}"),
    ("DescribeIdentityUsage", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}"),
    ("GetBulkPublishDetails", "POST", "/identitypools/{IdentityPoolId}/getBulkPublishDetails"),
    ("GetCognitoEvents", "GET", "/identitypools/{IdentityPoolId}/events"),
    ("GetIdentityPoolConfiguration", "GET", "/identitypools/{IdentityPoolId}/configuration"),
    ("ListDatasets", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets"),
    ("ListIdentityPoolUsage", "GET", "/identitypools"),
    ("ListRecords", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/records"),
    ("RegisterDevice", "POST", "/identitypools/{IdentityPoolId}/identity/{IdentityId}/device"),
    ("SetCognitoEvents", "POST", "/identitypools/{IdentityPoolId}/events"),
    ("SetIdentityPoolConfiguration", "POST", "/identitypools/{IdentityPoolId}/configuration"),
    ("SubscribeToDataset", "POST", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}"),
    ("UnsubscribeFromDataset", "DELETE", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}"),
    ("UpdateRecords", "POST", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"),
];

/// Cognito Identity's `targetPrefix`.
pub const IDENTITY_TARGET_PREFIX: &str = "AWSCognitoIdentityService";

/// Cognito Identity: name, and whether the model marks it `authtype: none` (unsigned).
pub const IDENTITY: [(&str, bool); 23] = [
    ("CreateIdentityPool", false),
    ("DeleteIdentities", false),
    ("DeleteIdentityPool", false),
    ("DescribeIdentity", false),
    ("DescribeIdentityPool", false),
    ("GetCredentialsForIdentity", true),
    ("GetId", true),
    ("GetIdentityPoolRoles", false),
    ("GetOpenIdToken", true),
    ("GetOpenIdTokenForDeveloperIdentity", false),
    ("GetPrincipalTagAttributeMap", false),
    ("ListIdentities", false),
    ("ListIdentityPools", false),
    ("ListTagsForResource", false),
    ("LookupDeveloperIdentity", false),
    ("MergeDeveloperIdentities", false),
    ("SetIdentityPoolRoles", false),
    ("SetPrincipalTagAttributeMap", false),
    ("TagResource", false),
    ("UnlinkDeveloperIdentity", false),
    ("UnlinkIdentity", true),
    ("UntagResource", false),
    ("UpdateIdentityPool", false),
];
