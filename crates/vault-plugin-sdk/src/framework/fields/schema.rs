//! The schema of one field, and the field types of the Go SDK.

use serde_json::Value;

use super::super::display::DisplayAttrs;

/// The field types of the Go SDK (`framework.FieldType`), with the same
/// loose decoding rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// Text; numbers and booleans are turned into text.
    String,
    /// A whole number; `"30"` is accepted.
    Int,
    /// A 64-bit whole number.
    Int64,
    /// `true`/`false`, also `"true"`, `"1"`, `"f"`...
    Bool,
    /// A JSON object.
    Map,
    /// A duration in whole seconds: `30`, `"30"`, `"1h"`, `"90s"`.
    DurationSecond,
    /// Like `DurationSecond`, but may be negative.
    SignedDurationSecond,
    /// A list of any values.
    Slice,
    /// A list of strings; one string becomes a one-item list.
    StringSlice,
    /// A list of strings; a string is split at commas.
    CommaStringSlice,
    /// Text, lowercased.
    LowerCaseString,
    /// A name: text that must be a valid name (no slashes, no leading dash...).
    NameString,
    /// Key/value pairs: an object, or a list of `"k=v"` strings.
    KvPairs,
    /// A list of whole numbers; a string is split at commas.
    CommaIntSlice,
    /// HTTP headers: an object of string lists, or a JSON/base64 text of one.
    Header,
    /// A floating-point number.
    Float,
    /// A point in time: RFC 3339 text or seconds since the epoch.
    Time,
}

/// One field of a path: name, type, documentation and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSchema {
    /// The name in the request data (and in the path, for captures).
    pub name: String,
    /// How the value is decoded.
    pub kind: FieldType,
    /// Shown by `path-help` and in OpenAPI.
    pub description: String,
    /// Used when the request does not send the field.
    pub default: Option<Value>,
    /// A request without the field is refused with HTTP 400.
    pub required: bool,
    /// Marked deprecated in OpenAPI.
    pub deprecated: bool,
    /// Sent as a query parameter rather than in the body.
    pub query: bool,
    /// When not empty, only these values are accepted. Both sides are
    /// decoded before comparing (so `"1h"` allows `3600` for a duration); for
    /// a list type every item must be allowed.
    pub allowed_values: Vec<Value>,
    /// UI hints.
    pub display: DisplayAttrs,
    /// Write-only: accepted on writes, removed from every read response of
    /// the path by the router (keys, passwords, tokens).
    pub write_only: bool,
    /// The value is the path capture of the same name; a backend whose
    /// path lacks that capture fails to build.
    pub path: bool,
}

impl FieldSchema {
    /// A field called `name` of type `kind`, with nothing else set.
    pub fn new(name: impl Into<String>, kind: FieldType) -> Self {
        Self {
            name: name.into(),
            kind,
            description: String::new(),
            default: None,
            required: false,
            deprecated: false,
            query: false,
            allowed_values: Vec::new(),
            display: DisplayAttrs::default(),
            write_only: false,
            path: false,
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the default value.
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the field deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Marks the field sensitive (masked by UIs).
    pub fn sensitive(mut self) -> Self {
        self.display.sensitive = true;
        self
    }

    /// Marks the field write-only: masked by UIs and never in a read response.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self.display.sensitive = true;
        self
    }

    /// Limits the field to these values.
    pub fn allowed_values(mut self, values: impl IntoIterator<Item = Value>) -> Self {
        self.allowed_values = values.into_iter().collect();
        self
    }

    /// Adds one value to the allowed values.
    pub fn allow(mut self, value: impl Into<Value>) -> Self {
        self.allowed_values.push(value.into());
        self
    }

    /// Marks the field as sent in the query string rather than the body.
    pub fn query(mut self) -> Self {
        self.query = true;
        self
    }
}

impl FieldType {
    /// Every field type, in the Go SDK's order.
    pub const ALL: [FieldType; 17] = [
        FieldType::String,
        FieldType::Int,
        FieldType::Int64,
        FieldType::Bool,
        FieldType::Map,
        FieldType::DurationSecond,
        FieldType::SignedDurationSecond,
        FieldType::Slice,
        FieldType::StringSlice,
        FieldType::CommaStringSlice,
        FieldType::LowerCaseString,
        FieldType::NameString,
        FieldType::KvPairs,
        FieldType::CommaIntSlice,
        FieldType::Header,
        FieldType::Float,
        FieldType::Time,
    ];

    /// The type's name in snake case, as Go's `ParseFieldType` spells it
    /// (`"comma_string_slice"`); `#[field(kind = "...")]` takes the same names.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Int64 => "int64",
            FieldType::Bool => "bool",
            FieldType::Map => "map",
            FieldType::DurationSecond => "duration_second",
            FieldType::SignedDurationSecond => "signed_duration_second",
            FieldType::Slice => "slice",
            FieldType::StringSlice => "string_slice",
            FieldType::CommaStringSlice => "comma_string_slice",
            FieldType::LowerCaseString => "lower_case_string",
            FieldType::NameString => "name_string",
            FieldType::KvPairs => "kv_pairs",
            FieldType::CommaIntSlice => "comma_int_slice",
            FieldType::Header => "header",
            FieldType::Float => "float",
            FieldType::Time => "time",
        }
    }

    /// The type named `name` (see [`FieldType::as_str`]), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
