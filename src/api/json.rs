//! Reading JSON request bodies member by member, so a wrong type becomes a clear
//! InvalidParameterException naming the member (and JSON `null` counts as absent).

use serde_json::{Map, Value};

use super::error::ApiError;

pub type Object = Map<String, Value>;

/// The body as a JSON object; an empty body counts as `{}`.
pub fn object(body: &[u8]) -> Result<Object, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Object::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("The request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(not_json(&e))),
    }
}

/// Where and how a body is not JSON, in words of our own (the parser's name their internals).
fn not_json(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        _ if e.to_string().starts_with("recursion limit exceeded") => "it nests too deeply",
        _ => "it has a syntax error",
    };
    format!(
        "The request body is not valid JSON: {what} (line {}, column {})",
        e.line(),
        e.column()
    )
}

fn present<'a>(obj: &'a Object, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn wrong_type(name: &str, expected: &str) -> ApiError {
    ApiError::invalid(format!("Member '{name}' must be {expected}"))
}

pub fn opt_str(obj: &Object, name: &str) -> Result<Option<String>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

pub fn req_str(obj: &Object, name: &str) -> Result<String, ApiError> {
    opt_str(obj, name)?.ok_or_else(|| crate::validate::missing(name).into())
}

pub fn opt_bool(obj: &Object, name: &str) -> Result<Option<bool>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(name, "a boolean")),
    }
}

pub fn req_bool(obj: &Object, name: &str) -> Result<bool, ApiError> {
    opt_bool(obj, name)?.ok_or_else(|| crate::validate::missing(name).into())
}

/// A whole number that fits in a signed 64-bit integer.
pub fn opt_i64(obj: &Object, name: &str) -> Result<Option<i64>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| wrong_type(name, "a whole number within the 64-bit range")),
        Some(_) => Err(wrong_type(name, "a number")),
    }
}

pub fn opt_object<'a>(obj: &'a Object, name: &str) -> Result<Option<&'a Object>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(wrong_type(name, "an object")),
    }
}

pub fn opt_array<'a>(obj: &'a Object, name: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong_type(name, "a list")),
    }
}

/// A timestamp in epoch seconds: an integer, a fraction, or (as iOS may send) a numeric
/// string; returned as epoch milliseconds.
pub fn opt_timestamp_ms(obj: &Object, name: &str) -> Result<Option<i64>, ApiError> {
    let seconds = match present(obj, name) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if s.is_finite() && (0.0..=1.0e11).contains(&s) => {
            Ok(Some((s * 1000.0).round() as i64))
        }
        _ => Err(wrong_type(name, "a timestamp in epoch seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_ints_floats_and_numeric_strings() {
        let o =
            object(br#"{"a":1704164645,"b":1704164645.678,"c":"1424801824.343","d":"x","e":-1}"#)
                .unwrap();
        assert_eq!(opt_timestamp_ms(&o, "a").unwrap(), Some(1_704_164_645_000));
        assert_eq!(opt_timestamp_ms(&o, "b").unwrap(), Some(1_704_164_645_678));
        assert_eq!(opt_timestamp_ms(&o, "c").unwrap(), Some(1_424_801_824_343));
        assert!(opt_timestamp_ms(&o, "d").is_err());
        assert!(opt_timestamp_ms(&o, "e").is_err());
        assert_eq!(opt_timestamp_ms(&o, "missing").unwrap(), None);
    }

    #[test]
    fn empty_bodies_are_empty_objects_and_other_json_is_refused() {
        assert!(object(b"").unwrap().is_empty());
        assert!(object(b"  ").unwrap().is_empty());
        assert!(object(b"{}").unwrap().is_empty());
        assert!(object(b"[]").is_err());
        assert!(object(b"{").is_err());
        assert!(object(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn wrong_types_and_huge_numbers_are_named() {
        let o = object(br#"{"n":"5","big":99999999999999999999,"f":1.5,"nul":null}"#).unwrap();
        assert!(opt_i64(&o, "n").unwrap_err().message.contains("'n'"));
        assert!(opt_i64(&o, "big").is_err());
        assert!(opt_i64(&o, "f").is_err());
        assert_eq!(opt_i64(&o, "nul").unwrap(), None);
    }
}
