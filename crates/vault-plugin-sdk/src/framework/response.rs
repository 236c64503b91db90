//! What a handler returns on success.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::Auth;
use super::secret::SecretData;

/// A successful answer. An empty response (no data, no warnings) reaches the
/// user as HTTP 204 for writes and 404 for reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The body's `data` object.
    pub data: Option<Map<String, Value>>,
    /// Warnings shown to the user beside the data.
    pub warnings: Vec<String>,
    /// Response headers.
    pub headers: HashMap<String, Vec<String>>,
    /// A secret with a lease (see [`Response::secret`]).
    pub secret: Option<SecretData>,
    /// A login result (see [`Response::auth`]).
    pub auth: Option<Auth>,
    /// A URL the host should redirect the client to.
    pub redirect: Option<String>,
}

impl Response {
    /// No body at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A response whose data is `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A response whose data is `value` serialised; `value` must serialise
    /// to a JSON object.
    pub fn json(value: &impl Serialize) -> crate::Result<Self> {
        match serde_json::to_value(value)? {
            Value::Object(map) => Ok(Self::with_data(map)),
            other => Err(crate::Error::internal(format!(
                "response data must be a JSON object, not {}",
                kind(&other)
            ))),
        }
    }

    /// A read's answer for a stored value: its JSON (see [`Response::json`]),
    /// or for `None` no data at all, which the host answers with 404 like
    /// any missing entry. The path's write-only fields are removed by the
    /// router.
    pub fn stored(value: Option<&impl Serialize>) -> crate::Result<Self> {
        value.map_or_else(|| Ok(Self::empty()), Self::json)
    }

    /// A list response, as `bao list` expects: `{"keys": [...]}`.
    pub fn list(keys: Vec<String>) -> Self {
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        Self::with_data(data)
    }

    /// Adds a warning.
    pub fn warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
            && self.warnings.is_empty()
            && self.headers.is_empty()
            && self.secret.is_none()
            && self.auth.is_none()
            && self.redirect.is_none()
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_accepts_objects_only() {
        let ok = Response::json(&json!({"a": 1})).unwrap();
        assert_eq!(ok.data.unwrap()["a"], 1);
        let err = Response::json(&json!([1])).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
    }

    #[test]
    fn list_and_emptiness() {
        assert!(Response::empty().is_empty());
        assert!(!Response::empty().warning("w").is_empty());
        let list = Response::list(vec!["a".into(), "b/".into()]);
        assert_eq!(
            Value::Object(list.data.unwrap()),
            json!({"keys": ["a", "b/"]})
        );
    }
}
