//! Cognito Sync routing: HTTP method plus percent-decoded path segments, matched against the
//! path patterns of [`OPERATIONS`], give the operation and its path labels. `X-Amz-Target`
//! (sent by old Android SDKs) plays no part.

use percent_encoding::percent_decode_str;

use super::table::{SyncOperation, OPERATIONS};
use crate::api::error::{ApiError, ErrorCode};

/// A routed request: the operation's row and its decoded path labels (empty when the
/// operation's path has no such label).
#[derive(Debug, Clone)]
pub struct Route {
    pub op: &'static SyncOperation,
    pub pool_id: String,
    pub identity_id: String,
    pub dataset_name: String,
    pub device_id: String,
}

impl Route {
    /// Where the value of the path label `{name}` goes; None for a name no model path uses.
    fn label(&mut self, name: &str) -> Option<&mut String> {
        match name {
            "IdentityPoolId" => Some(&mut self.pool_id),
            "IdentityId" => Some(&mut self.identity_id),
            "DatasetName" => Some(&mut self.dataset_name),
            "DeviceId" => Some(&mut self.device_id),
            _ => None,
        }
    }
}

fn decode(segment: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::invalid("The request path is not valid percent-encoded UTF-8"))
}

/// Routes `method` + raw (still percent-encoded) `path`. Every segment is decoded first, so a
/// path that is not percent-encoded UTF-8 is an InvalidParameterException whatever it names.
pub fn route(method: &str, raw_path: &str) -> Result<Route, ApiError> {
    let unknown = || {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("No Cognito Sync operation matches {method} {raw_path}"),
        )
    };
    let segments: Vec<String> = raw_path
        .strip_prefix('/')
        .ok_or_else(unknown)?
        .split('/')
        .map(decode)
        .collect::<Result<_, _>>()?;
    OPERATIONS
        .iter()
        .filter(|op| op.method == method)
        .find_map(|op| bind(op, &segments))
        .ok_or_else(unknown)
}

/// The route when `segments` match `op`'s path pattern: literal segments equal, one segment
/// per label.
fn bind(op: &'static SyncOperation, segments: &[String]) -> Option<Route> {
    let pattern = op.path.strip_prefix('/')?;
    if pattern.split('/').count() != segments.len() {
        return None;
    }
    let mut route = Route {
        op,
        pool_id: String::new(),
        identity_id: String::new(),
        dataset_name: String::new(),
        device_id: String::new(),
    };
    for (part, segment) in pattern.split('/').zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => *route.label(name)? = segment.clone(),
            None if part == segment => {}
            None => return None,
        }
    }
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/identitypools/us-east-1%3Aaa-11";

    /// `op`'s path pattern with each label filled in by a percent-encoded sample value.
    fn sample_path(op: &SyncOperation) -> String {
        op.path
            .replace("{IdentityPoolId}", "us-east-1%3Aaa-11")
            .replace("{IdentityId}", "us-east-1%3Abb")
            .replace("{DatasetName}", "my.ds%3Ax")
            .replace("{DeviceId}", "dev%2D1")
    }

    #[test]
    fn every_row_routes_its_own_path_with_decoded_labels() {
        for op in &OPERATIONS {
            let path = sample_path(op);
            let r = route(op.method, &path).unwrap_or_else(|e| panic!("{path}: {}", e.message));
            assert_eq!(r.op.name, op.name, "{} {path}", op.method);
            let expect = |label: &str, value: &'static str| {
                if op.path.contains(label) {
                    value
                } else {
                    ""
                }
            };
            assert_eq!(r.pool_id, expect("{IdentityPoolId}", "us-east-1:aa-11"));
            assert_eq!(r.identity_id, expect("{IdentityId}", "us-east-1:bb"));
            assert_eq!(r.dataset_name, expect("{DatasetName}", "my.ds:x"));
            assert_eq!(r.device_id, expect("{DeviceId}", "dev-1"));
        }
    }

    #[test]
    fn literal_segments_match_after_decoding_and_raw_colons_are_labels() {
        let r = route("GET", &format!("{P}/%65vents")).unwrap();
        assert_eq!(r.op.name, "GetCognitoEvents");
        let r = route(
            "GET",
            "/identitypools/us-east-1:aa/identities/i:b/datasets/d.s",
        )
        .unwrap();
        assert_eq!(r.op.name, "DescribeDataset");
        assert_eq!(r.identity_id, "i:b");
    }

    #[test]
    fn unknown_paths_and_methods_are_the_modelled_unknown_operation() {
        for (m, p) in [
            ("PUT", P.to_string()),
            ("get", P.to_string()),
            ("GET", "/".into()),
            ("GET", "".into()),
            ("GET", format!("{P}/nope")),
            ("GET", format!("{P}/events/")),
            ("GET", "identitypools".into()),
            ("POST", format!("{P}/identities/i/datasets/d/records")),
        ] {
            let e = route(m, &p).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnknownOperation, "{m} {p}");
            assert_eq!(
                e.message,
                format!("No Cognito Sync operation matches {m} {p}")
            );
            assert_eq!(e.status().as_u16(), 404);
        }
    }

    #[test]
    fn a_path_that_is_not_utf8_is_invalid_whatever_it_names() {
        for p in ["/identitypools/%FF", "/nope/%FF"] {
            let e = route("GET", p).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidParameter, "{p}");
        }
    }
}
