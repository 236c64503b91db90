//! The Rust types a field can decode into, and which field type each one
//! declares when the struct does not name one.
//!
//! Decoding happens in two steps: [`FieldType::normalize`] turns the sent
//! value into the field type's canonical JSON, and [`FieldValue`] turns that
//! JSON into the Rust value. So one Rust type can serve several field types
//! (a `String` reads `String`, `LowerCaseString` and `NameString` fields),
//! and a mismatch between the declared type and the Rust type is reported
//! as an error rather than a panic.
//!
//! | Rust type | declares |
//! |---|---|
//! | `String` | `String` (also reads `LowerCaseString`, `NameString`, `Time`) |
//! | `bool` | `Bool` |
//! | `i32`, `u32` | `Int` (range-checked) |
//! | `i64`, `u64` | `Int64` (`u64` range-checked) |
//! | `f64` | `Float` |
//! | [`Duration`] | `DurationSecond` |
//! | [`SignedDuration`] | `SignedDurationSecond` |
//! | [`SystemTime`] | `Time` |
//! | `Vec<String>` | `CommaStringSlice` (also reads `StringSlice`) |
//! | `Vec<i64>` | `CommaIntSlice` |
//! | `Vec<Value>` | `Slice` |
//! | `Map<String, Value>` | `Map` |
//! | `HashMap<String, String>`, `BTreeMap<String, String>` | `KvPairs` |
//! | [`Headers`] | `Header` |
//! | `Value` | `Map`; takes any type's canonical JSON as it is |
//! | `Option<T>` | what `T` declares; an absent field is `None` |
//! | [`Redacted<T>`] | what `T` declares; `Debug` never shows the value |

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::decode::{Timestamp, canonical_header_name};
use super::{FieldType, FieldValue};

/// The error for a declared field type whose canonical form the Rust type
/// cannot hold (a mistake in the plugin, not in the request).
fn mismatch(kind: FieldType, rust: &str) -> String {
    format!("a {kind} field cannot be read as {rust}")
}

impl FieldValue for String {
    const KIND: FieldType = FieldType::String;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s),
            _ => Err(mismatch(kind, "text")),
        }
    }

    fn absent() -> Option<Self> {
        Some(String::new())
    }
}

impl FieldValue for bool {
    const KIND: FieldType = FieldType::Bool;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| mismatch(kind, "a boolean"))
    }

    fn absent() -> Option<Self> {
        Some(false)
    }
}

/// Reads a canonical integer and checks it against the Rust type's range.
fn whole<T: TryFrom<i64>>(kind: FieldType, value: &Value, min: i64, max: i64) -> Result<T, String> {
    let i = value
        .as_i64()
        .ok_or_else(|| mismatch(kind, "a whole number"))?;
    T::try_from(i).map_err(|_| format!("expected a whole number from {min} to {max}"))
}

impl FieldValue for i64 {
    const KIND: FieldType = FieldType::Int64;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        whole(kind, &value, i64::MIN, i64::MAX)
    }

    fn absent() -> Option<Self> {
        Some(0)
    }
}

impl FieldValue for u64 {
    const KIND: FieldType = FieldType::Int64;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        whole(kind, &value, 0, i64::MAX)
    }

    fn absent() -> Option<Self> {
        Some(0)
    }
}

impl FieldValue for i32 {
    const KIND: FieldType = FieldType::Int;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        whole(kind, &value, i32::MIN.into(), i32::MAX.into())
    }

    fn absent() -> Option<Self> {
        Some(0)
    }
}

impl FieldValue for u32 {
    const KIND: FieldType = FieldType::Int;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        whole(kind, &value, 0, u32::MAX.into())
    }

    fn absent() -> Option<Self> {
        Some(0)
    }
}

impl FieldValue for f64 {
    const KIND: FieldType = FieldType::Float;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        value.as_f64().ok_or_else(|| mismatch(kind, "a number"))
    }

    fn absent() -> Option<Self> {
        Some(0.0)
    }
}

/// A whole number of seconds; absent is zero.
impl FieldValue for Duration {
    const KIND: FieldType = FieldType::DurationSecond;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        let secs = value.as_i64().ok_or_else(|| mismatch(kind, "a duration"))?;
        let secs = u64::try_from(secs).map_err(|_| "expected a duration that is not negative")?;
        Ok(Duration::from_secs(secs))
    }

    fn absent() -> Option<Self> {
        Some(Duration::ZERO)
    }
}

/// A duration in whole seconds that may be negative: what a
/// [`FieldType::SignedDurationSecond`] field decodes into (`"-1h"` is
/// `SignedDuration(-3600)`). [`Duration`] cannot be negative, and a bare
/// `i64` would declare a plain integer field, hence this type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedDuration(pub i64);

impl SignedDuration {
    /// The number of seconds, negative for a duration before now.
    pub fn as_secs(self) -> i64 {
        self.0
    }

    /// Whether the duration is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The length of the duration, ignoring its sign.
    pub fn unsigned_abs(self) -> Duration {
        Duration::from_secs(self.0.unsigned_abs())
    }
}

/// Absent is zero.
impl FieldValue for SignedDuration {
    const KIND: FieldType = FieldType::SignedDurationSecond;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        value
            .as_i64()
            .map(SignedDuration)
            .ok_or_else(|| mismatch(kind, "a duration"))
    }

    fn absent() -> Option<Self> {
        Some(SignedDuration(0))
    }
}

/// Absent is the Unix epoch (Go's zero time, year 1, is not useful in
/// Rust; use `Option<SystemTime>` to tell an absent time apart).
impl FieldValue for SystemTime {
    const KIND: FieldType = FieldType::Time;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        let stamp = value
            .as_str()
            .and_then(Timestamp::parse_rfc3339)
            .ok_or_else(|| mismatch(kind, "a time"))?;
        let whole = Duration::from_secs(stamp.secs.unsigned_abs());
        let base = if stamp.secs >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(whole)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(whole)
        };
        base.and_then(|t| t.checked_add(Duration::from_nanos(stamp.nanos.into())))
            .ok_or_else(|| "expected a time this system can represent".to_owned())
    }

    fn absent() -> Option<Self> {
        Some(SystemTime::UNIX_EPOCH)
    }
}

/// Reads the items of a canonical list.
fn items(kind: FieldType, value: Value, rust: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(mismatch(kind, rust)),
    }
}

/// Absent is an empty list.
impl FieldValue for Vec<String> {
    const KIND: FieldType = FieldType::CommaStringSlice;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        items(kind, value, "a list of texts")?
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(mismatch(kind, "a list of texts")),
            })
            .collect()
    }

    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

/// Absent is an empty list.
impl FieldValue for Vec<i64> {
    const KIND: FieldType = FieldType::CommaIntSlice;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        items(kind, value, "a list of whole numbers")?
            .iter()
            .map(|item| {
                item.as_i64()
                    .ok_or_else(|| mismatch(kind, "a list of whole numbers"))
            })
            .collect()
    }

    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

/// Absent is an empty list.
impl FieldValue for Vec<Value> {
    const KIND: FieldType = FieldType::Slice;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        items(kind, value, "a list")
    }

    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

/// Absent is an empty object.
impl FieldValue for Map<String, Value> {
    const KIND: FieldType = FieldType::Map;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        match value {
            Value::Object(object) => Ok(object),
            _ => Err(mismatch(kind, "an object")),
        }
    }

    fn absent() -> Option<Self> {
        Some(Map::new())
    }
}

/// Reads a canonical object of texts.
fn text_pairs(kind: FieldType, value: Value) -> Result<Vec<(String, String)>, String> {
    let Value::Object(object) = value else {
        return Err(mismatch(kind, "key/value pairs"));
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            _ => Err(mismatch(kind, "key/value pairs")),
        })
        .collect()
}

/// Absent is an empty map.
impl FieldValue for HashMap<String, String> {
    const KIND: FieldType = FieldType::KvPairs;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        text_pairs(kind, value).map(|pairs| pairs.into_iter().collect())
    }

    fn absent() -> Option<Self> {
        Some(HashMap::new())
    }
}

/// Absent is an empty map.
impl FieldValue for BTreeMap<String, String> {
    const KIND: FieldType = FieldType::KvPairs;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        text_pairs(kind, value).map(|pairs| pairs.into_iter().collect())
    }

    fn absent() -> Option<Self> {
        Some(BTreeMap::new())
    }
}

/// HTTP headers from a [`FieldType::Header`] field: each canonical name
/// (`Content-Type`) with its values in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub HashMap<String, Vec<String>>);

impl Headers {
    /// The first value of header `name`, in any letter case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).first().map(String::as_str)
    }

    /// All values of header `name`, in any letter case.
    pub fn get_all(&self, name: &str) -> &[String] {
        self.0
            .get(&canonical_header_name(name))
            .or_else(|| self.0.get(name))
            .map_or(&[], Vec::as_slice)
    }
}

/// Absent is no headers.
impl FieldValue for Headers {
    const KIND: FieldType = FieldType::Header;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        let Value::Object(object) = value else {
            return Err(mismatch(kind, "headers"));
        };
        object
            .into_iter()
            .map(|(name, values)| {
                let values = Vec::<String>::from_canonical(kind, values)
                    .map_err(|_| mismatch(kind, "headers"))?;
                Ok((name, values))
            })
            .collect::<Result<_, String>>()
            .map(Headers)
    }

    fn absent() -> Option<Self> {
        Some(Headers::default())
    }
}

/// Takes the canonical JSON of whatever type the field declares; declares
/// `Map` when the struct names no `kind`. Absent is `null`.
impl FieldValue for Value {
    const KIND: FieldType = FieldType::Map;

    fn from_canonical(_kind: FieldType, value: Value) -> Result<Self, String> {
        Ok(value)
    }

    fn absent() -> Option<Self> {
        Some(Value::Null)
    }
}

/// Declares what `T` declares; an absent field without a default is `None`,
/// a sent or defaulted one is `Some`.
impl<T: FieldValue> FieldValue for Option<T> {
    const KIND: FieldType = T::KIND;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        T::from_canonical(kind, value).map(Some)
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// A value that never shows in `Debug` output (so never in a log line that
/// formats its struct): for passwords, tokens and keys in args and stored
/// structs. Serialises as the bare value, so storage keeps it; pair it with
/// `#[field(secret)]` to keep it out of read responses too.
///
/// ```
/// use vault_plugin_sdk::framework::fields::Redacted;
///
/// let password = Redacted::new("hunter2".to_owned());
/// assert_eq!(format!("{password:?}"), "[redacted]");
/// assert_eq!(password.expose(), "hunter2");
/// assert_eq!(serde_json::to_string(&password).unwrap(), "\"hunter2\"");
/// ```
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: FieldValue> FieldValue for Redacted<T> {
    const KIND: FieldType = T::KIND;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        T::from_canonical(kind, value).map(Redacted)
    }

    fn absent() -> Option<Self> {
        T::absent().map(Redacted)
    }
}
