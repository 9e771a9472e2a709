//! The query string of a Cognito Sync request, decoded (the last occurrence of a name wins).

use percent_encoding::percent_decode_str;

use crate::api::error::ApiError;

pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (dec(k), dec(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A whole-number parameter; anything else is an InvalidParameterException.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "1 validation error detected: Value '{}' at '{name}' failed to satisfy constraint: \
                     Member must be a whole number",
                    v.chars().take(64).collect::<String>()
                ))
            }),
        }
    }
}
