//! Test data: the operations of the service models, as the table tests check them.
//! Taken from botocore 1.44.8's `cognito-sync/2014-06-30/service-2.json` (the project's
//! reference model); regenerate with, for example,
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
