//! Partial updates: a write's fields applied onto the stored value.
//!
//! Vault's convention for `config` and `role/<name>` writes is update
//! semantics: a field the request does not send keeps its stored value, and
//! only a create applies defaults and insists on required fields. Declaring
//! the stored struct once with `#[derive(Fields)]` and taking [`Update<T>`]
//! as the handler's arguments gives exactly that, with no
//! `args.x.or(old.x).unwrap_or(default)` per field.

use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{FieldData, FieldError, FieldSchema, Fields};

/// A write's sent fields, checked against `T`'s schema, waiting to be
/// applied: onto the stored value ([`Update::apply`]) or, when there is
/// none, as a new value with defaults ([`Update::create`]).
///
/// As handler arguments it decodes like `T` except that nothing is required
/// and nothing defaults: only the sent fields are checked (a bad value is a
/// 400 before the handler runs).
///
/// ```
/// use std::time::Duration;
/// use vault_plugin_sdk::framework::fields::{FieldData, Fields, Update};
///
/// #[derive(Fields)]
/// struct Role {
///     #[field(required)]
///     user: String,
///     #[field(default = "1h")]
///     ttl: Duration,
/// }
///
/// let decode = |body: serde_json::Value| {
///     let raw = body.as_object().cloned().unwrap_or_default();
///     Update::<Role>::from_data(&FieldData::new(&raw, &Update::<Role>::schema()))
/// };
/// // A create applies the defaults and insists on required fields.
/// let role = decode(serde_json::json!({"user": "alice"}))?.apply(None)?;
/// assert_eq!((role.user.as_str(), role.ttl), ("alice", Duration::from_secs(3600)));
/// assert!(decode(serde_json::json!({"ttl": "5m"}))?.apply(None).is_err());
/// // An update changes only what was sent.
/// let role = decode(serde_json::json!({"ttl": "5m"}))?.apply(Some(role))?;
/// assert_eq!((role.user.as_str(), role.ttl), ("alice", Duration::from_secs(300)));
/// # Ok::<(), vault_plugin_sdk::Error>(())
/// ```
pub struct Update<T> {
    raw: Map<String, Value>,
    schema: Arc<[FieldSchema]>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Fields> Update<T> {
    /// The stored value with the sent fields applied, or, when nothing is
    /// stored yet, a new value (defaults applied, required fields enforced).
    pub fn apply(&self, stored: Option<T>) -> Result<T, FieldError> {
        match stored {
            Some(value) => self.update(value),
            None => self.create(),
        }
    }

    /// A new value from the sent fields and the defaults.
    pub fn create(&self) -> Result<T, FieldError> {
        T::from_data(&self.data())
    }

    /// `value` with the sent fields changed.
    pub fn update(&self, mut value: T) -> Result<T, FieldError> {
        value.update_from(&self.data())?;
        Ok(value)
    }

    /// Whether the request sent field `name`.
    pub fn sent(&self, name: &str) -> bool {
        self.data().sent(&[name])
    }

    fn data(&self) -> FieldData<'_> {
        FieldData::new(&self.raw, &self.schema)
    }
}

impl<T: Fields> Fields for Update<T> {
    fn schema() -> Vec<FieldSchema> {
        T::schema()
    }

    fn from_data(data: &FieldData<'_>) -> Result<Self, FieldError> {
        data.check_sent()?;
        Ok(Self {
            raw: data.raw().clone(),
            schema: data.schema().into(),
            _value: PhantomData,
        })
    }

    fn update_from(&mut self, data: &FieldData<'_>) -> Result<(), FieldError> {
        data.check_sent()?;
        self.raw.extend(data.raw().clone());
        Ok(())
    }
}
