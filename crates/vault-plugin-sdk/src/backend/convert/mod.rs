//! Conversions between wire messages and SDK types, one module per message,
//! each with table tests.

pub(crate) mod auth;
pub(crate) mod error;
pub(crate) mod lease;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod secret;
pub(crate) mod special_paths;

use serde_json::{Map, Value};

use crate::Error;

/// Decodes a JSON-object text from the host (`""` and `null` are empty).
pub(crate) fn json_object(raw: &str, what: &str) -> Result<Map<String, Value>, Error> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::bad_request(format!("{what} must be a JSON object"))),
        Err(err) => Err(Error::bad_request(format!(
            "{what} is not valid JSON: {err}"
        ))),
    }
}
