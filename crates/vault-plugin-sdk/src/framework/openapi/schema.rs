//! Field schemas as OpenAPI (JSON Schema) objects.
//!
//! The mapping from the SDK's field types to OpenAPI types is the one the
//! host's own plugins use, so generated clients see our fields the way they
//! see built-in ones: durations are integers in seconds, lists are arrays
//! with typed items, maps are objects.

use serde_json::{Map, Value};

use crate::framework::display::DisplayAttrs;
use crate::framework::fields::{FieldSchema, FieldType};

/// The OpenAPI shape of one field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OasType {
    /// `type`: string, integer, number, boolean, object or array.
    pub base: &'static str,
    /// `items.type`, for arrays.
    pub items: Option<&'static str>,
    /// `format`, when the base type alone says too little.
    pub format: Option<&'static str>,
    /// `pattern`, for values with a fixed shape.
    pub pattern: Option<&'static str>,
}

/// What a name field accepts: word characters, with `-` and `.` inside.
/// (Written with the `-` last so every regex dialect reads it the same.)
const NAME_PATTERN: &str = r"\w([\w.-]*\w)?";

/// The OpenAPI type of a field type.
pub(crate) fn oas_type(kind: FieldType) -> OasType {
    let (base, items, format, pattern) = match kind {
        FieldType::String | FieldType::Header => ("string", None, None, None),
        FieldType::NameString => ("string", None, None, Some(NAME_PATTERN)),
        FieldType::LowerCaseString => ("string", None, Some("lowercase"), None),
        FieldType::Int => ("integer", None, None, None),
        FieldType::Int64 => ("integer", None, Some("int64"), None),
        FieldType::DurationSecond | FieldType::SignedDurationSecond => {
            ("integer", None, Some("seconds"), None)
        }
        FieldType::Bool => ("boolean", None, None, None),
        FieldType::Map => ("object", None, Some("map"), None),
        FieldType::KvPairs => ("object", None, Some("kvpairs"), None),
        FieldType::Slice => ("array", Some("object"), None, None),
        FieldType::StringSlice | FieldType::CommaStringSlice => {
            ("array", Some("string"), None, None)
        }
        FieldType::CommaIntSlice => ("array", Some("integer"), None, None),
        FieldType::Time => ("string", None, Some("date-time"), None),
        FieldType::Float => ("number", None, Some("float"), None),
    };
    OasType {
        base,
        items,
        format,
        pattern,
    }
}

/// The type name `path-help` shows for a field.
pub(crate) fn help_type_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "string",
        FieldType::LowerCaseString => "lowercase string",
        FieldType::NameString => "name string",
        FieldType::Int => "int",
        FieldType::Int64 => "int64",
        FieldType::Bool => "bool",
        FieldType::Map => "map",
        FieldType::KvPairs => "key/value pairs",
        FieldType::DurationSecond => "duration (seconds)",
        FieldType::SignedDurationSecond => "signed duration (seconds)",
        FieldType::Slice => "list",
        FieldType::StringSlice => "list of strings",
        FieldType::CommaStringSlice => "comma-separated strings",
        FieldType::CommaIntSlice => "comma-separated ints",
        FieldType::Header => "header",
        FieldType::Float => "float",
        FieldType::Time => "time",
    }
}

/// Whitespace runs become one space, ends trimmed: descriptions are one
/// paragraph in OpenAPI.
pub(crate) fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The schema of one field. `with_docs` adds the description and the
/// deprecation mark (parameters carry those beside the schema instead).
pub(crate) fn field_schema(field: &FieldSchema, with_docs: bool) -> Map<String, Value> {
    let oas = oas_type(field.kind);
    let mut schema = Map::new();
    schema.insert("type".into(), oas.base.into());
    if with_docs && !field.description.trim().is_empty() {
        schema.insert("description".into(), clean(&field.description).into());
    }
    if let Some(items) = oas.items {
        let mut item = Map::new();
        item.insert("type".into(), items.into());
        schema.insert("items".into(), Value::Object(item));
    }
    if let Some(format) = oas.format {
        schema.insert("format".into(), format.into());
    }
    if let Some(pattern) = oas.pattern {
        schema.insert("pattern".into(), pattern.into());
    }
    if !field.allowed_values.is_empty() {
        schema.insert("enum".into(), Value::Array(field.allowed_values.clone()));
    }
    // A default is shown in its canonical form ("1h" as 3600), so it is a
    // valid value of the declared type; one that does not decode is left out.
    let default = field.default.as_ref().map(|d| field.kind.normalize(d));
    if let Some(Ok(canonical)) = default.filter(|d| !matches!(d, Ok(Value::Null))) {
        schema.insert("default".into(), canonical);
    }
    if with_docs && field.deprecated {
        schema.insert("deprecated".into(), true.into());
    }
    if let Some(display) = display_attrs(&field.display) {
        schema.insert("x-vault-displayAttrs".into(), display);
    }
    schema
}

/// Display attributes as the host's UI reads them, without the
/// operation-id parts (those are spent on `operationId`); `None` when
/// nothing is left.
pub(crate) fn display_attrs(display: &DisplayAttrs) -> Option<Value> {
    let mut out = Map::new();
    let texts = [
        ("name", &display.name),
        ("description", &display.description),
        ("value", &display.value),
        ("itemType", &display.item_type),
        ("group", &display.group),
        ("action", &display.action),
        ("editType", &display.edit_type),
    ];
    for (key, value) in texts {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            out.insert(key.into(), value.into());
        }
    }
    if display.sensitive {
        out.insert("sensitive".into(), true.into());
    }
    if display.navigation {
        out.insert("navigation".into(), true.into());
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_types_map_to_openapi_types() {
        // (field type, type, items, format)
        let cases: &[(FieldType, &str, Option<&str>, Option<&str>)] = &[
            (FieldType::String, "string", None, None),
            (FieldType::Header, "string", None, None),
            (FieldType::NameString, "string", None, None),
            (
                FieldType::LowerCaseString,
                "string",
                None,
                Some("lowercase"),
            ),
            (FieldType::Int, "integer", None, None),
            (FieldType::Int64, "integer", None, Some("int64")),
            (FieldType::DurationSecond, "integer", None, Some("seconds")),
            (
                FieldType::SignedDurationSecond,
                "integer",
                None,
                Some("seconds"),
            ),
            (FieldType::Bool, "boolean", None, None),
            (FieldType::Map, "object", None, Some("map")),
            (FieldType::KvPairs, "object", None, Some("kvpairs")),
            (FieldType::Slice, "array", Some("object"), None),
            (FieldType::StringSlice, "array", Some("string"), None),
            (FieldType::CommaStringSlice, "array", Some("string"), None),
            (FieldType::CommaIntSlice, "array", Some("integer"), None),
            (FieldType::Time, "string", None, Some("date-time")),
            (FieldType::Float, "number", None, Some("float")),
        ];
        for &(kind, base, items, format) in cases {
            let schema = Value::Object(field_schema(&FieldSchema::new("f", kind), true));
            assert_eq!(schema["type"], base, "{kind:?}");
            assert_eq!(schema["items"]["type"].as_str(), items, "{kind:?}");
            assert_eq!(schema["format"].as_str(), format, "{kind:?}");
            assert!(!help_type_name(kind).is_empty());
        }
    }

    #[test]
    fn name_fields_carry_a_pattern_any_regex_dialect_accepts() {
        let schema = field_schema(&FieldSchema::new("n", FieldType::NameString), true);
        let pattern = schema["pattern"].as_str().unwrap_or_default();
        let re = regex_lite::Regex::new(&format!("^{pattern}$")).unwrap();
        assert!(re.is_match("my-role.v2"));
        assert!(!re.is_match("-bad"));
    }

    #[test]
    fn schema_carries_docs_enum_default_and_display_hints() {
        let mut field = FieldSchema::new("mode", FieldType::String)
            .description("  How to\n   run. ")
            .default_value("fast")
            .allowed_values([json!("fast"), json!("slow")])
            .deprecated()
            .sensitive();
        field.display.operation_verb = Some("ignored".into());
        field.display.group = Some("Advanced".into());
        let schema = Value::Object(field_schema(&field, true));
        assert_eq!(
            schema,
            json!({
                "type": "string",
                "description": "How to run.",
                "enum": ["fast", "slow"],
                "default": "fast",
                "deprecated": true,
                "x-vault-displayAttrs": {"sensitive": true, "group": "Advanced"},
            })
        );
        let bare = Value::Object(field_schema(&field, false));
        assert!(bare.get("description").is_none() && bare.get("deprecated").is_none());
    }

    #[test]
    fn display_attrs_without_anything_but_operation_parts_are_left_out() {
        let display = DisplayAttrs {
            operation_prefix: Some("p".into()),
            operation_verb: Some("v".into()),
            operation_suffix: Some("s".into()),
            ..DisplayAttrs::default()
        };
        assert_eq!(display_attrs(&display), None);
        assert_eq!(display_attrs(&DisplayAttrs::default()), None);
    }
}
