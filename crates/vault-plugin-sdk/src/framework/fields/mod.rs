//! Typed request fields: the schema a path declares and the loose decoding
//! the Go SDK applies (the CLI sends everything as strings).
//!
//! A plugin declares its arguments as a struct with `#[derive(Fields)]`; the
//! derive produces the schema (for help, OpenAPI and validation) and the
//! decoder. Handlers then take the struct as an argument.
//!
//! ```
//! use std::time::Duration;
//! use vault_plugin_sdk::Fields;
//! use vault_plugin_sdk::framework::fields::{FieldData, Fields as _};
//!
//! #[derive(Fields)]
//! struct RoleArgs {
//!     /// How long credentials live.
//!     #[field(default = "1h")]
//!     ttl: Duration,
//!     /// Policies to attach.
//!     #[field(allowed = ["read", "write"])]
//!     policies: Vec<String>,
//!     #[field(required, sensitive, alias = "apiKey")]
//!     token: String,
//! }
//!
//! // What `bao write path/role ttl=90m policies=read,write apiKey=t` sends.
//! let raw = serde_json::json!({"ttl": "90m", "policies": "read,write", "apiKey": "t"});
//! let schema = RoleArgs::schema();
//! let raw = raw.as_object().cloned().unwrap_or_default();
//! let args = RoleArgs::from_data(&FieldData::new(&raw, &schema))?;
//! assert_eq!(args.ttl, Duration::from_secs(5400));
//! assert_eq!(args.policies, ["read", "write"]);
//! assert_eq!(args.token, "t");
//! # Ok::<(), vault_plugin_sdk::framework::fields::FieldError>(())
//! ```
//!
//! Decoding follows the Go SDK's loose rules (see [`FieldType::normalize`]),
//! and the Rust types a field can decode into are listed with
//! [`FieldValue`].

mod decode;
mod name;
mod schema;
#[cfg(test)]
mod tests;
mod update;
mod value;

pub use name::Name;
pub use schema::{FieldSchema, FieldType};
pub use update::Update;
pub use value::{Headers, Redacted, SignedDuration};

use serde_json::{Map, Value};

/// Decoding a request's fields failed: the user sees HTTP 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Field validation failed: {0}")]
pub struct FieldError(pub String);

impl From<FieldError> for crate::Error {
    fn from(err: FieldError) -> Self {
        crate::Error::BadRequest(err.to_string())
    }
}

/// A Rust type a field can decode into.
pub trait FieldValue: Sized {
    /// The field type used when the declaration does not name one.
    const KIND: FieldType;

    /// Builds the value from the canonical JSON that [`FieldType::normalize`]
    /// produced for `kind`.
    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String>;

    /// The value of a field that is absent and has no default: `None` for
    /// `Option`, otherwise the type's zero value, as in the Go SDK.
    fn absent() -> Option<Self>;
}

/// Derives [`Fields`](trait@Fields) for a struct with named fields; see
/// the [module documentation](self).
pub use vault_plugin_sdk_macros::Fields;

/// A struct of request arguments: its schema and its decoder.
/// Implement it with `#[derive(Fields)]`.
pub trait Fields: Sized + Send + 'static {
    /// The fields, in declaration order.
    fn schema() -> Vec<FieldSchema>;

    /// Decodes the arguments from a request's data: fields not sent take
    /// their default; a missing required field is an error.
    fn from_data(data: &FieldData<'_>) -> Result<Self, FieldError>;

    /// Changes only the fields the request sent (a partial update of a
    /// stored value); the others keep their value.
    fn update_from(&mut self, data: &FieldData<'_>) -> Result<(), FieldError>;

    /// Takes out of `data`, this value as stored (its JSON), what a read
    /// must not show beyond the `secret` fields, which the router removes
    /// from every read anyway. Nothing by default; the derive passes it on
    /// to flattened blocks, and `#[fields(redact = ...)]` sets it (e.g. a
    /// read of `UpstreamSettings` says whether a CA is set, not its PEM).
    fn redact(&self, data: &mut JsonMap) {
        let _ = data;
    }
}

/// A JSON object: a request's data, a response's data, a stored value.
pub type JsonMap = Map<String, Value>;

/// Two argument structs side by side, e.g. `(Name, Update<Role>)`: a
/// handler takes the path's name and a partial update at once.
impl<A: Fields, B: Fields> Fields for (A, B) {
    fn schema() -> Vec<FieldSchema> {
        let mut fields = A::schema();
        fields.extend(B::schema());
        fields
    }

    fn from_data(data: &FieldData<'_>) -> Result<Self, FieldError> {
        Ok((A::from_data(data)?, B::from_data(data)?))
    }

    fn update_from(&mut self, data: &FieldData<'_>) -> Result<(), FieldError> {
        self.0.update_from(data)?;
        self.1.update_from(data)
    }

    fn redact(&self, data: &mut JsonMap) {
        self.0.redact(data);
        self.1.redact(data);
    }
}

/// A request's raw data seen through a schema.
#[derive(Debug, Clone, Copy)]
pub struct FieldData<'a> {
    raw: &'a Map<String, Value>,
    schema: &'a [FieldSchema],
}

impl<'a> FieldData<'a> {
    /// Views `raw` (body merged with path captures) through `schema`.
    pub fn new(raw: &'a Map<String, Value>, schema: &'a [FieldSchema]) -> Self {
        Self { raw, schema }
    }

    /// The raw request data.
    pub fn raw(&self) -> &'a Map<String, Value> {
        self.raw
    }

    /// The schema.
    pub fn schema(&self) -> &'a [FieldSchema] {
        self.schema
    }

    /// Whether the request sent any of `names` with a value other than `null`.
    pub fn sent(&self, names: &[&str]) -> bool {
        names
            .iter()
            .any(|name| self.raw.get(*name).is_some_and(|v| !v.is_null()))
    }

    /// Checks every sent field of the schema: its value decodes as the
    /// field's type and is allowed. What was not sent is not checked.
    pub fn check_sent(&self) -> Result<(), FieldError> {
        for schema in self.schema {
            if let Some(sent) = self.raw.get(&schema.name).filter(|v| !v.is_null()) {
                let canonical = schema
                    .kind
                    .normalize(sent)
                    .map_err(|e| FieldError(format!("field {:?}: {e}", schema.name)))?;
                check_allowed(schema, &canonical)?;
            }
        }
        Ok(())
    }

    /// Decodes field `name` as `T`: the sent value, else the default, else
    /// [`FieldValue::absent`]; a required field that is missing is an error.
    /// A value sent as `null` counts as not sent.
    pub fn get<T: FieldValue>(&self, name: &str) -> Result<T, FieldError> {
        self.get_first(&[name])
    }

    /// Decodes the first of `names` that the request sent, for a field with
    /// older names (aliases): `names[0]` is the current name, whose default
    /// and `required` apply when none was sent. Every name must be in the
    /// schema.
    pub fn get_first<T: FieldValue>(&self, names: &[&str]) -> Result<T, FieldError> {
        let Some(&primary) = names.first() else {
            return Err(FieldError("no field name given".to_owned()));
        };
        for &name in names {
            let schema = self.field(name)?;
            if let Some(sent) = self.raw.get(name).filter(|v| !v.is_null()) {
                return decode(schema, sent);
            }
        }
        let schema = self.field(primary)?;
        match &schema.default {
            Some(default) => decode(schema, default),
            None if schema.required => Err(missing(primary)),
            None => T::absent().ok_or_else(|| missing(primary)),
        }
    }

    fn field(&self, name: &str) -> Result<&'a FieldSchema, FieldError> {
        self.schema
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FieldError(format!("field {name:?} is not in the schema")))
    }
}

fn missing(name: &str) -> FieldError {
    FieldError(format!("missing required field {name:?}"))
}

/// Normalizes `value` for `schema`, checks the allowed values, and builds `T`.
fn decode<T: FieldValue>(schema: &FieldSchema, value: &Value) -> Result<T, FieldError> {
    let name = &schema.name;
    let canonical = schema
        .kind
        .normalize(value)
        .map_err(|e| FieldError(format!("field {name:?}: {e}")))?;
    check_allowed(schema, &canonical)?;
    T::from_canonical(schema.kind, canonical)
        .map_err(|e| FieldError(format!("field {name:?}: {e}")))
}

/// Compares decoded values with the decoded allowed values, item by item
/// for lists. The error lists what is allowed, never what was sent.
fn check_allowed(schema: &FieldSchema, canonical: &Value) -> Result<(), FieldError> {
    if schema.allowed_values.is_empty() {
        return Ok(());
    }
    let allowed: Vec<Value> = schema
        .allowed_values
        .iter()
        .filter_map(|v| schema.kind.normalize(v).ok())
        .flat_map(|v| match v {
            Value::Array(items) => items,
            other => vec![other],
        })
        .collect();
    let (fits, what) = match canonical {
        Value::Array(items) => (items.iter().all(|i| allowed.contains(i)), "items from"),
        other => (allowed.contains(other), "one of"),
    };
    if fits {
        return Ok(());
    }
    let list: Vec<String> = schema.allowed_values.iter().map(Value::to_string).collect();
    Err(FieldError(format!(
        "field {:?}: expected {what} {}",
        schema.name,
        list.join(", ")
    )))
}
