//! Body members several Cognito Identity operations share: `Logins`, string lists, paging.

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::json;

/// The `Logins` map as (provider, token) pairs.
pub fn logins(body: &json::Object) -> Result<Vec<(String, String)>, ApiError> {
    let Some(map) = json::opt_object(body, "Logins")? else {
        return Ok(Vec::new());
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(t) => Ok((k.clone(), t.clone())),
            _ => Err(ApiError::invalid(format!(
                "Logins value for '{k}' must be a string"
            ))),
        })
        .collect()
}

pub fn string_list(body: &json::Object, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(list) = json::opt_array(body, name)? else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::invalid(format!(
                "Members of '{name}' must be strings"
            ))),
        })
        .collect()
}

/// The required `MaxResults` of a listing.
pub fn max_results(body: &json::Object) -> Result<i64, ApiError> {
    json::opt_i64(body, "MaxResults")?.ok_or_else(|| crate::validate::missing("maxResults").into())
}

/// `v` with `NextToken` added when there is a next page.
pub fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        v["NextToken"] = json!(t);
    }
    v
}
