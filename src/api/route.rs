//! Cognito Sync routing: HTTP method plus percent-decoded path segments → operation and path
//! labels. `X-Amz-Target` (sent by old Android SDKs) plays no part.

use percent_encoding::percent_decode_str;

use super::error::{ApiError, ErrorCode};

/// The 17 Cognito Sync operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOp {
    BulkPublish,
    DeleteDataset,
    DescribeDataset,
    DescribeIdentityPoolUsage,
    DescribeIdentityUsage,
    GetBulkPublishDetails,
    GetCognitoEvents,
    GetIdentityPoolConfiguration,
    ListDatasets,
    ListIdentityPoolUsage,
    ListRecords,
    RegisterDevice,
    SetCognitoEvents,
    SetIdentityPoolConfiguration,
    SubscribeToDataset,
    UnsubscribeFromDataset,
    UpdateRecords,
}

impl SyncOp {
    pub fn name(self) -> &'static str {
        match self {
            SyncOp::BulkPublish => "BulkPublish",
            SyncOp::DeleteDataset => "DeleteDataset",
            SyncOp::DescribeDataset => "DescribeDataset",
            SyncOp::DescribeIdentityPoolUsage => "DescribeIdentityPoolUsage",
            SyncOp::DescribeIdentityUsage => "DescribeIdentityUsage",
            SyncOp::GetBulkPublishDetails => "GetBulkPublishDetails",
            SyncOp::GetCognitoEvents => "GetCognitoEvents",
            SyncOp::GetIdentityPoolConfiguration => "GetIdentityPoolConfiguration",
            SyncOp::ListDatasets => "ListDatasets",
            SyncOp::ListIdentityPoolUsage => "ListIdentityPoolUsage",
            SyncOp::ListRecords => "ListRecords",
            SyncOp::RegisterDevice => "RegisterDevice",
            SyncOp::SetCognitoEvents => "SetCognitoEvents",
            SyncOp::SetIdentityPoolConfiguration => "SetIdentityPoolConfiguration",
            SyncOp::SubscribeToDataset => "SubscribeToDataset",
            SyncOp::UnsubscribeFromDataset => "UnsubscribeFromDataset",
            SyncOp::UpdateRecords => "UpdateRecords",
        }
    }
}

/// A routed request: the operation and its decoded path labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: SyncOp,
    pub pool_id: String,
    pub identity_id: String,
    pub dataset_name: String,
    pub device_id: String,
}

fn decode(segment: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::invalid("The request path is not valid percent-encoded UTF-8"))
}

/// Routes `method` + raw (still percent-encoded) `path`.
pub fn route(method: &str, raw_path: &str) -> Result<Route, ApiError> {
    let unknown = || {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("No Cognito Sync operation matches {method} {raw_path}"),
        )
    };
    let raw: Vec<&str> = raw_path
        .strip_prefix('/')
        .ok_or_else(unknown)?
        .split('/')
        .collect();
    let seg: Vec<String> = raw.iter().map(|s| decode(s)).collect::<Result<_, _>>()?;
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let mut r = Route {
        op: SyncOp::ListIdentityPoolUsage,
        pool_id: String::new(),
        identity_id: String::new(),
        dataset_name: String::new(),
        device_id: String::new(),
    };
    let op = match (method, s.as_slice()) {
        ("GET", ["identitypools"]) => SyncOp::ListIdentityPoolUsage,
        (m, ["identitypools", pool, rest @ ..]) => {
            r.pool_id = pool.to_string();
            match (m, rest) {
                ("GET", []) => SyncOp::DescribeIdentityPoolUsage,
                ("POST", ["bulkpublish"]) => SyncOp::BulkPublish,
                ("POST", ["getBulkPublishDetails"]) => SyncOp::GetBulkPublishDetails,
                ("GET", ["events"]) => SyncOp::GetCognitoEvents,
                ("POST", ["events"]) => SyncOp::SetCognitoEvents,
                ("GET", ["configuration"]) => SyncOp::GetIdentityPoolConfiguration,
                ("POST", ["configuration"]) => SyncOp::SetIdentityPoolConfiguration,
                ("POST", ["identity", id, "device"]) => {
                    r.identity_id = id.to_string();
                    SyncOp::RegisterDevice
                }
                (m, ["identities", id, rest @ ..]) => {
                    r.identity_id = id.to_string();
                    match (m, rest) {
                        ("GET", []) => SyncOp::DescribeIdentityUsage,
                        ("GET", ["datasets"]) => SyncOp::ListDatasets,
                        (m, ["datasets", name, rest @ ..]) => {
                            r.dataset_name = name.to_string();
                            match (m, rest) {
                                ("GET", []) => SyncOp::DescribeDataset,
                                ("POST", []) => SyncOp::UpdateRecords,
                                ("DELETE", []) => SyncOp::DeleteDataset,
                                ("GET", ["records"]) => SyncOp::ListRecords,
                                ("POST", ["subscriptions", device]) => {
                                    r.device_id = device.to_string();
                                    SyncOp::SubscribeToDataset
                                }
                                ("DELETE", ["subscriptions", device]) => {
                                    r.device_id = device.to_string();
                                    SyncOp::UnsubscribeFromDataset
                                }
                                _ => return Err(unknown()),
                            }
                        }
                        _ => return Err(unknown()),
                    }
                }
                _ => return Err(unknown()),
            }
        }
        _ => return Err(unknown()),
    };
    r.op = op;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/identitypools/us-east-1%3Aaa-11";

    #[test]
    fn every_operation_routes_by_method_and_path() {
        let cases = [
            (
                "GET",
                "/identitypools".to_string(),
                SyncOp::ListIdentityPoolUsage,
            ),
            ("GET", P.to_string(), SyncOp::DescribeIdentityPoolUsage),
            ("POST", format!("{P}/bulkpublish"), SyncOp::BulkPublish),
            (
                "POST",
                format!("{P}/getBulkPublishDetails"),
                SyncOp::GetBulkPublishDetails,
            ),
            ("GET", format!("{P}/events"), SyncOp::GetCognitoEvents),
            ("POST", format!("{P}/events"), SyncOp::SetCognitoEvents),
            (
                "GET",
                format!("{P}/configuration"),
                SyncOp::GetIdentityPoolConfiguration,
            ),
            (
                "POST",
                format!("{P}/configuration"),
                SyncOp::SetIdentityPoolConfiguration,
            ),
            (
                "POST",
                format!("{P}/identity/us-east-1%3Abb/device"),
                SyncOp::RegisterDevice,
            ),
            (
                "GET",
                format!("{P}/identities/us-east-1%3Abb"),
                SyncOp::DescribeIdentityUsage,
            ),
            (
                "GET",
                format!("{P}/identities/us-east-1%3Abb/datasets"),
                SyncOp::ListDatasets,
            ),
            (
                "GET",
                format!("{P}/identities/i:b/datasets/d.s"),
                SyncOp::DescribeDataset,
            ),
            (
                "POST",
                format!("{P}/identities/i:b/datasets/d.s"),
                SyncOp::UpdateRecords,
            ),
            (
                "DELETE",
                format!("{P}/identities/i:b/datasets/d.s"),
                SyncOp::DeleteDataset,
            ),
            (
                "GET",
                format!("{P}/identities/i:b/datasets/d/records"),
                SyncOp::ListRecords,
            ),
            (
                "POST",
                format!("{P}/identities/i:b/datasets/d/subscriptions/dev"),
                SyncOp::SubscribeToDataset,
            ),
            (
                "DELETE",
                format!("{P}/identities/i:b/datasets/d/subscriptions/dev"),
                SyncOp::UnsubscribeFromDataset,
            ),
        ];
        for (method, path, op) in cases {
            assert_eq!(route(method, &path).unwrap().op, op, "{method} {path}");
        }
    }

    #[test]
    fn labels_are_percent_decoded() {
        let r = route(
            "GET",
            &format!("{P}/identities/us-east-1%3Abb/datasets/my.ds%3Ax/records"),
        )
        .unwrap();
        assert_eq!(r.pool_id, "us-east-1:aa-11");
        assert_eq!(r.identity_id, "us-east-1:bb");
        assert_eq!(r.dataset_name, "my.ds:x");
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        for (m, p) in [
            ("PUT", P.to_string()),
            ("GET", "/".into()),
            ("GET", format!("{P}/nope")),
            ("GET", "identitypools".into()),
        ] {
            assert_eq!(
                route(m, &p).unwrap_err().code,
                ErrorCode::UnknownOperation,
                "{m} {p}"
            );
        }
        assert_eq!(
            route("GET", "/identitypools/%FF").unwrap_err().code,
            ErrorCode::InvalidParameter
        );
    }
}
