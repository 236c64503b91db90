//! Table tests of the decoding rules (CLI text forms, JSON forms, bad input)
//! and of `FieldData` and `#[derive(Fields)]` as a handler sees them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::{FieldData, FieldError, FieldSchema, FieldType, Fields, Headers, SignedDuration};
use crate::framework::display::DisplayAttrs;

use FieldType as T;

/// Each row: a type, an input, and the canonical value it must decode to.
fn accepted() -> Vec<(FieldType, Value, Value)> {
    vec![
        // String: Go's weak conversion to text.
        (T::String, json!("x y"), json!("x y")),
        (T::String, json!(5), json!("5")),
        (T::String, json!(-1.5), json!("-1.5")),
        (T::String, json!(true), json!("1")),
        (T::String, json!(false), json!("0")),
        (T::String, json!(null), json!("")),
        (T::LowerCaseString, json!("AbC-ÄÖ"), json!("abc-äö")),
        (T::LowerCaseString, json!(12), json!("12")),
        (T::NameString, json!("my-role.v2"), json!("my-role.v2")),
        (T::NameString, json!("a"), json!("a")),
        (T::NameString, json!("_x_"), json!("_x_")),
        (T::NameString, json!(42), json!("42")),
        // Int: text as Go's ParseInt with base 0.
        (T::Int, json!("30"), json!(30)),
        (T::Int, json!(30), json!(30)),
        (T::Int, json!(30.0), json!(30)),
        (T::Int, json!("-4"), json!(-4)),
        (T::Int, json!("+4"), json!(4)),
        (T::Int, json!("0x1f"), json!(31)),
        (T::Int, json!("0X1F"), json!(31)),
        (T::Int, json!("0o17"), json!(15)),
        (T::Int, json!("017"), json!(15)),
        (T::Int, json!("0b101"), json!(5)),
        (T::Int, json!("1_000"), json!(1000)),
        (T::Int, json!("0"), json!(0)),
        (T::Int, json!(""), json!(0)),
        (T::Int, json!(true), json!(1)),
        (T::Int, json!(false), json!(0)),
        (T::Int, json!(null), json!(0)),
        (T::Int64, json!("-9223372036854775808"), json!(i64::MIN)),
        (
            T::Int64,
            json!(9_223_372_036_854_775_807_i64),
            json!(i64::MAX),
        ),
        // Bool: strconv.ParseBool's words, empty text, numbers.
        (T::Bool, json!("true"), json!(true)),
        (T::Bool, json!("TRUE"), json!(true)),
        (T::Bool, json!("True"), json!(true)),
        (T::Bool, json!("t"), json!(true)),
        (T::Bool, json!("1"), json!(true)),
        (T::Bool, json!("false"), json!(false)),
        (T::Bool, json!("F"), json!(false)),
        (T::Bool, json!("0"), json!(false)),
        (T::Bool, json!(""), json!(false)),
        (T::Bool, json!(1), json!(true)),
        (T::Bool, json!(2), json!(true)),
        (T::Bool, json!(0), json!(false)),
        (T::Bool, json!(0.5), json!(true)),
        (T::Bool, json!(null), json!(false)),
        // Float.
        (T::Float, json!("1.5"), json!(1.5)),
        (T::Float, json!("-1e3"), json!(-1000.0)),
        (T::Float, json!(2), json!(2.0)),
        (T::Float, json!(""), json!(0.0)),
        (T::Float, json!(true), json!(1.0)),
        // DurationSecond: seconds, Go durations, days.
        (T::DurationSecond, json!(30), json!(30)),
        (T::DurationSecond, json!(30.0), json!(30)),
        (T::DurationSecond, json!("30"), json!(30)),
        (T::DurationSecond, json!("30s"), json!(30)),
        (T::DurationSecond, json!("+30s"), json!(30)),
        (T::DurationSecond, json!("90m"), json!(5400)),
        (T::DurationSecond, json!("1h30m"), json!(5400)),
        (T::DurationSecond, json!("1.5h"), json!(5400)),
        (T::DurationSecond, json!(".5m"), json!(30)),
        (T::DurationSecond, json!("7d"), json!(604_800)),
        (T::DurationSecond, json!("1500ms"), json!(1)),
        (T::DurationSecond, json!("250ms"), json!(0)),
        (T::DurationSecond, json!("2000000us"), json!(2)),
        (T::DurationSecond, json!("3000000µs"), json!(3)),
        (T::DurationSecond, json!("1h0m0.999s"), json!(3600)),
        (T::DurationSecond, json!("0"), json!(0)),
        (T::DurationSecond, json!(""), json!(0)),
        (T::DurationSecond, json!(null), json!(0)),
        (
            T::DurationSecond,
            json!("2562047h"),
            json!(9_223_369_200_i64),
        ),
        (T::SignedDurationSecond, json!("-1h"), json!(-3600)),
        (T::SignedDurationSecond, json!(-5), json!(-5)),
        (T::SignedDurationSecond, json!("-5"), json!(-5)),
        (T::SignedDurationSecond, json!("-7d"), json!(-604_800)),
        (T::SignedDurationSecond, json!("-1.5s"), json!(-1)),
        (T::SignedDurationSecond, json!("-0"), json!(0)),
        // Time: RFC 3339 or epoch seconds, always shown in UTC.
        (
            T::Time,
            json!("2024-05-01T12:00:00Z"),
            json!("2024-05-01T12:00:00Z"),
        ),
        (
            T::Time,
            json!("2024-05-01T14:30:00+02:30"),
            json!("2024-05-01T12:00:00Z"),
        ),
        (
            T::Time,
            json!("2024-04-30T23:00:00-13:00"),
            json!("2024-05-01T12:00:00Z"),
        ),
        (
            T::Time,
            json!("2024-05-01T12:00:00.500Z"),
            json!("2024-05-01T12:00:00.5Z"),
        ),
        (
            T::Time,
            json!("2024-05-01T12:00:00.1234567891Z"),
            json!("2024-05-01T12:00:00.123456789Z"),
        ),
        (
            T::Time,
            json!("2024-02-29T00:00:00Z"),
            json!("2024-02-29T00:00:00Z"),
        ),
        (
            T::Time,
            json!("0000-01-01T00:00:00Z"),
            json!("0000-01-01T00:00:00Z"),
        ),
        (
            T::Time,
            json!("9999-12-31T23:59:59Z"),
            json!("9999-12-31T23:59:59Z"),
        ),
        (T::Time, json!(1_714_564_800), json!("2024-05-01T12:00:00Z")),
        (T::Time, json!("1714564800"), json!("2024-05-01T12:00:00Z")),
        (T::Time, json!(0), json!("1970-01-01T00:00:00Z")),
        (T::Time, json!(-1), json!("1969-12-31T23:59:59Z")),
        (T::Time, json!(null), json!("0001-01-01T00:00:00Z")),
        // Map: an object, or objects merged.
        (
            T::Map,
            json!({"a": 1, "b": [true]}),
            json!({"a": 1, "b": [true]}),
        ),
        (
            T::Map,
            json!([{"a": 1}, {"b": 2, "a": 3}]),
            json!({"a": 3, "b": 2}),
        ),
        (T::Map, json!([]), json!({})),
        (T::Map, json!(null), json!({})),
        // Slice: any value lifted into a list.
        (T::Slice, json!([1, "a", null]), json!([1, "a", null])),
        (T::Slice, json!("a,b"), json!(["a,b"])),
        (T::Slice, json!(""), json!([""])),
        (T::Slice, json!(5), json!([5])),
        (T::Slice, json!({}), json!([])),
        (T::Slice, json!({"a": 1}), json!([{"a": 1}])),
        // StringSlice: not split at commas; items trimmed.
        (T::StringSlice, json!("a,b"), json!(["a,b"])),
        (T::StringSlice, json!("  a "), json!(["a"])),
        (T::StringSlice, json!(""), json!([])),
        (
            T::StringSlice,
            json!(["a", " b", 1, true, ""]),
            json!(["a", "b", "1", "1", ""]),
        ),
        (T::StringSlice, json!(5), json!(["5"])),
        (T::StringSlice, json!({}), json!([])),
        // CommaStringSlice: split at commas, trimmed, empties dropped.
        (
            T::CommaStringSlice,
            json!("a, b,,c,"),
            json!(["a", "b", "c"]),
        ),
        (T::CommaStringSlice, json!("a"), json!(["a"])),
        (
            T::CommaStringSlice,
            json!(["a,b", " c", ""]),
            json!(["a,b", "c"]),
        ),
        (T::CommaStringSlice, json!(""), json!([])),
        (T::CommaStringSlice, json!(" , "), json!([])),
        (T::CommaStringSlice, json!(5), json!(["5"])),
        (T::CommaStringSlice, json!(true), json!(["1"])),
        (T::CommaStringSlice, json!(null), json!([])),
        // CommaIntSlice.
        (T::CommaIntSlice, json!("1,2, 3,"), json!([1, 2, 3])),
        (T::CommaIntSlice, json!("0x10,010"), json!([16, 8])),
        (
            T::CommaIntSlice,
            json!([1, "2", true, 4.0]),
            json!([1, 2, 1, 4]),
        ),
        (T::CommaIntSlice, json!(5), json!([5])),
        (T::CommaIntSlice, json!(""), json!([])),
        (T::CommaIntSlice, json!({}), json!([])),
        // KvPairs: an object of texts, or "k=v" texts.
        (
            T::KvPairs,
            json!({"a": "1", "b": 2, "c": true}),
            json!({"a": "1", "b": "2", "c": "1"}),
        ),
        (
            T::KvPairs,
            json!(["a=1", "b=x=y", "c="]),
            json!({"a": "1", "b": "x=y", "c": ""}),
        ),
        (T::KvPairs, json!("a=1"), json!({"a": "1"})),
        (
            T::KvPairs,
            json!([{"a": "1"}, {"b": "2"}]),
            json!({"a": "1", "b": "2"}),
        ),
        (T::KvPairs, json!([]), json!({})),
        (T::KvPairs, json!(""), json!({})),
        // Header: objects, JSON text, base64 JSON text, "Name:value" texts.
        (
            T::Header,
            json!({"content-type": "json", "X-Count": ["1", 2]}),
            json!({"Content-Type": ["json"], "X-Count": ["1", "2"]}),
        ),
        (
            T::Header,
            json!({"accept": ["a"], "Accept": "b"}),
            json!({"Accept": ["b", "a"]}),
        ),
        (
            T::Header,
            json!(r#"{"accept":"json"}"#),
            json!({"Accept": ["json"]}),
        ),
        (
            T::Header,
            json!("eyJhY2NlcHQiOiJqc29uIn0="),
            json!({"Accept": ["json"]}),
        ),
        (
            T::Header,
            json!(["Accept:json", "accept: xml"]),
            json!({"Accept": ["json", "xml"]}),
        ),
        (
            T::Header,
            json!("x-api-key: k:v"),
            json!({"X-Api-Key": ["k:v"]}),
        ),
        (
            T::Header,
            json!({"bad name": "x"}),
            json!({"bad name": ["x"]}),
        ),
        (T::Header, json!([]), json!({})),
    ]
}

/// Each row: a type, an input, and the error text it must give.
fn refused() -> Vec<(FieldType, Value, &'static str)> {
    let name =
        "expected a name: letters, digits and underscores, with dashes or dots allowed inside";
    let int = "expected a whole number";
    let int_range = "expected a whole number from -9223372036854775808 to 9223372036854775807";
    let duration = "expected a duration like \"90s\", \"1h30m\" or \"7d\", or whole seconds";
    let duration_range = "expected a duration of at most 292 years";
    let negative = "expected a duration that is not negative";
    let time = "expected a time in RFC 3339 form like \"2024-05-01T12:00:00Z\", or whole seconds since 1970";
    let time_range = "expected a time between the years 0 and 9999";
    let strings = "expected text or a list of texts";
    let ints = "expected whole numbers, as a list or separated by commas";
    let kv = "expected an object of texts, or \"key=value\" texts";
    let header = "expected headers: an object of texts or lists of texts, its JSON text (optionally base64), or \"Name:value\" texts";
    vec![
        (
            T::String,
            json!(["a"]),
            "expected text, not a list or an object",
        ),
        (
            T::String,
            json!({"a": 1}),
            "expected text, not a list or an object",
        ),
        (T::NameString, json!("-a"), name),
        (T::NameString, json!("a-"), name),
        (T::NameString, json!("a/b"), name),
        (T::NameString, json!("a b"), name),
        (T::NameString, json!(""), name),
        (T::NameString, json!("é"), name),
        (T::Int, json!("30.5"), int),
        (T::Int, json!(30.5), int),
        (T::Int, json!("1h"), int),
        (T::Int, json!(" 1"), int),
        (T::Int, json!("_1"), int),
        (T::Int, json!("1_"), int),
        (T::Int, json!("1__0"), int),
        (T::Int, json!("0x"), int),
        (T::Int, json!("08"), int),
        (T::Int, json!("-"), int),
        (T::Int, json!([1]), int),
        (T::Int, json!("9223372036854775808"), int_range),
        (T::Int, json!(18_446_744_073_709_551_615_u64), int_range),
        (T::Int, json!(1e19), int_range),
        (T::Bool, json!("yes"), "expected true or false"),
        (T::Bool, json!("tRuE"), "expected true or false"),
        (T::Bool, json!("2"), "expected true or false"),
        (T::Bool, json!([]), "expected true or false"),
        (T::Float, json!("abc"), "expected a finite number"),
        (T::Float, json!("inf"), "expected a finite number"),
        (T::Float, json!("NaN"), "expected a finite number"),
        (T::Float, json!("1e400"), "expected a finite number"),
        (T::Float, json!({}), "expected a finite number"),
        (T::DurationSecond, json!("1h 30m"), duration),
        (T::DurationSecond, json!("1x"), duration),
        (T::DurationSecond, json!("h"), duration),
        (T::DurationSecond, json!("."), duration),
        (T::DurationSecond, json!(".s"), duration),
        (T::DurationSecond, json!("1.5d"), duration),
        (T::DurationSecond, json!("1D"), duration),
        (T::DurationSecond, json!("-"), duration),
        (T::DurationSecond, json!(30.5), duration),
        (T::DurationSecond, json!(true), duration),
        (T::DurationSecond, json!(["1h"]), duration),
        (T::DurationSecond, json!("-5"), negative),
        (T::DurationSecond, json!(-5), negative),
        (T::DurationSecond, json!("-1h"), negative),
        (T::DurationSecond, json!("9223372037"), duration_range),
        (T::DurationSecond, json!(9_223_372_037_i64), duration_range),
        (T::DurationSecond, json!("2562048h"), duration_range),
        (T::DurationSecond, json!("106752d"), duration_range),
        (
            T::DurationSecond,
            json!("99999999999999999999s"),
            duration_range,
        ),
        (T::SignedDurationSecond, json!("-2562048h"), duration_range),
        (T::Time, json!("2024-02-30T00:00:00Z"), time),
        (T::Time, json!("2023-02-29T00:00:00Z"), time),
        (T::Time, json!("2024-05-01 12:00:00Z"), time),
        (T::Time, json!("2024-05-01T24:00:00Z"), time),
        (T::Time, json!("2024-05-01T12:00:60Z"), time),
        (T::Time, json!("2024-05-01T12:00:00"), time),
        (T::Time, json!("2024-05-01T12:00:00.Z"), time),
        (T::Time, json!("2024-05-01T12:00:00+0200"), time),
        (T::Time, json!("yesterday"), time),
        (T::Time, json!(1.5), time),
        (T::Time, json!(true), time),
        (T::Time, json!(253_402_300_800_i64), time_range),
        (T::Time, json!("-62167219201"), time_range),
        (T::Map, json!("a=1"), "expected an object"),
        (T::Map, json!([1]), "expected an object"),
        (T::StringSlice, json!([[1]]), strings),
        (T::StringSlice, json!({"a": 1}), strings),
        (T::CommaStringSlice, json!([{}]), strings),
        (T::CommaIntSlice, json!("1,x"), ints),
        (T::CommaIntSlice, json!([1.5]), ints),
        (T::CommaIntSlice, json!({"a": 1}), ints),
        (T::KvPairs, json!("=x"), kv),
        (T::KvPairs, json!("novalue"), kv),
        (T::KvPairs, json!(["a=1", {"b": "2"}]), kv),
        (T::KvPairs, json!({"a": {}}), kv),
        (T::KvPairs, json!(5), kv),
        (T::Header, json!({"a": true}), header),
        (T::Header, json!({"a": [{}]}), header),
        (T::Header, json!(5), header),
        (T::Header, json!("nocolon"), header),
        (T::Header, json!(":x"), header),
        (T::Header, json!("[1]"), header),
        (T::Header, json!([1]), header),
    ]
}

#[test]
fn every_type_accepts_the_cli_and_json_forms() {
    for (kind, input, expected) in accepted() {
        assert_eq!(kind.normalize(&input), Ok(expected), "{kind} from {input}");
    }
}

#[test]
fn bad_input_is_refused_with_what_was_expected() {
    for (kind, input, expected) in refused() {
        assert_eq!(
            kind.normalize(&input),
            Err(expected.to_owned()),
            "{kind} from {input}"
        );
    }
}

#[test]
fn every_type_appears_in_the_tables() {
    for kind in FieldType::ALL {
        assert!(
            accepted().iter().any(|(k, ..)| *k == kind),
            "{kind} has no accepted row"
        );
        let refuses_nothing = matches!(
            kind,
            T::LowerCaseString | T::Slice | T::Int64 | T::SignedDurationSecond
        );
        assert!(
            refuses_nothing || refused().iter().any(|(k, ..)| *k == kind),
            "{kind} has no refused row"
        );
    }
}

#[test]
fn canonical_values_decode_to_themselves() {
    for (kind, input, canonical) in accepted() {
        assert_eq!(
            kind.normalize(&canonical),
            Ok(canonical.clone()),
            "{kind} from {input}"
        );
    }
}

#[test]
fn error_texts_never_contain_the_input() {
    let secret = "hunter2-SECRET";
    let inputs = [
        json!(secret),
        json!([secret]),
        json!([[secret]]),
        json!({ secret: secret }),
        json!({ "k": [{ "x": secret }] }),
        json!(format!("{secret}=")),
        json!(format!("{secret}:")),
        json!(format!("1{secret}")),
        json!(format!("0x{secret}")),
    ];
    for kind in FieldType::ALL {
        for input in &inputs {
            if let Err(message) = kind.normalize(input) {
                assert!(!message.contains("hunter2"), "{kind}: {message}");
            }
        }
    }
}

#[test]
fn type_names_round_trip() {
    for kind in FieldType::ALL {
        assert_eq!(FieldType::from_name(kind.as_str()), Some(kind));
    }
    assert_eq!(
        FieldType::from_name("comma_string_slice"),
        Some(T::CommaStringSlice)
    );
    assert_eq!(FieldType::from_name("CommaStringSlice"), None);
}

fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[test]
fn a_sent_value_beats_the_default_and_an_absent_one_uses_it() {
    let schema = [FieldSchema::new("ttl", T::DurationSecond).default_value("1h")];
    let sent = data(json!({"ttl": "30m"}));
    let fields = FieldData::new(&sent, &schema);
    assert_eq!(fields.get::<Duration>("ttl"), Ok(Duration::from_secs(1800)));
    for absent in [json!({}), json!({"ttl": null})] {
        let raw = data(absent);
        let fields = FieldData::new(&raw, &schema);
        assert_eq!(fields.get::<Duration>("ttl"), Ok(Duration::from_secs(3600)));
    }
}

#[test]
fn an_absent_field_without_default_is_the_zero_value() {
    let schema = [
        FieldSchema::new("s", T::String),
        FieldSchema::new("n", T::Int),
        FieldSchema::new("b", T::Bool),
        FieldSchema::new("d", T::DurationSecond),
        FieldSchema::new("l", T::CommaStringSlice),
        FieldSchema::new("t", T::Time),
    ];
    let raw = Map::new();
    let fields = FieldData::new(&raw, &schema);
    assert_eq!(fields.get::<String>("s"), Ok(String::new()));
    assert_eq!(fields.get::<i64>("n"), Ok(0));
    assert_eq!(fields.get::<bool>("b"), Ok(false));
    assert_eq!(fields.get::<Duration>("d"), Ok(Duration::ZERO));
    assert_eq!(fields.get::<Vec<String>>("l"), Ok(vec![]));
    assert_eq!(fields.get::<SystemTime>("t"), Ok(SystemTime::UNIX_EPOCH));
    assert_eq!(fields.get::<Option<String>>("s"), Ok(None));
    assert_eq!(fields.get::<Option<SystemTime>>("t"), Ok(None));
}

#[test]
fn a_missing_required_field_is_a_400_naming_it() {
    let schema = [FieldSchema::new("name", T::String).required()];
    let raw = data(json!({"other": 1}));
    let err = FieldData::new(&raw, &schema)
        .get::<String>("name")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Field validation failed: missing required field "name""#
    );
    let err = crate::Error::from(err);
    assert!(matches!(err, crate::Error::BadRequest(_)), "{err:?}");
    // Option does not make a required field optional.
    let err = FieldData::new(&raw, &schema)
        .get::<Option<String>>("name")
        .unwrap_err();
    assert_eq!(err.0, r#"missing required field "name""#);
}

#[test]
fn a_bad_value_names_the_field_but_not_the_value() {
    let schema = [FieldSchema::new("ttl", T::DurationSecond).sensitive()];
    let raw = data(json!({"ttl": "s3cr3t"}));
    let err = FieldData::new(&raw, &schema)
        .get::<Duration>("ttl")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Field validation failed: field \"ttl\": expected a duration like \"90s\", \"1h30m\" or \"7d\", or whole seconds"
    );
}

#[test]
fn allowed_values_are_compared_after_decoding() {
    let schema = [
        FieldSchema::new("mode", T::LowerCaseString)
            .allowed_values([json!("read"), json!("write")]),
        FieldSchema::new("ttl", T::DurationSecond)
            .allow("1h")
            .allow(7200),
        FieldSchema::new("scopes", T::CommaStringSlice)
            .allow("a")
            .allow("b"),
    ];
    let raw = data(json!({"mode": "WRITE", "ttl": "60m", "scopes": "b,a"}));
    let fields = FieldData::new(&raw, &schema);
    assert_eq!(fields.get::<String>("mode"), Ok("write".to_owned()));
    assert_eq!(fields.get::<Duration>("ttl"), Ok(Duration::from_secs(3600)));
    assert_eq!(
        fields.get::<Vec<String>>("scopes"),
        Ok(vec!["b".to_owned(), "a".to_owned()])
    );

    let raw = data(json!({"mode": "delete", "ttl": 5, "scopes": "a,c"}));
    let fields = FieldData::new(&raw, &schema);
    assert_eq!(
        fields.get::<String>("mode").unwrap_err().0,
        r#"field "mode": expected one of "read", "write""#
    );
    assert_eq!(
        fields.get::<Duration>("ttl").unwrap_err().0,
        r#"field "ttl": expected one of "1h", 7200"#
    );
    assert_eq!(
        fields.get::<Vec<String>>("scopes").unwrap_err().0,
        r#"field "scopes": expected items from "a", "b""#
    );
}

#[test]
fn get_first_reads_an_alias_when_the_current_name_is_absent() {
    let schema = [
        FieldSchema::new("session_token", T::String).default_value("none"),
        FieldSchema::new("balenaApiKey", T::String),
    ];
    let get = |value: Value| {
        let raw = data(value);
        FieldData::new(&raw, &schema).get_first::<String>(&["session_token", "balenaApiKey"])
    };
    assert_eq!(get(json!({"balenaApiKey": "old"})), Ok("old".to_owned()));
    assert_eq!(
        get(json!({"session_token": "new", "balenaApiKey": "old"})),
        Ok("new".to_owned())
    );
    assert_eq!(get(json!({})), Ok("none".to_owned()));
    let raw = Map::new();
    let err = FieldData::new(&raw, &schema)
        .get::<String>("nope")
        .unwrap_err();
    assert_eq!(err.0, r#"field "nope" is not in the schema"#);
}

#[test]
fn rust_types_check_their_range() {
    let schema = [FieldSchema::new("n", T::Int)];
    let get = |value: Value| {
        let raw = data(json!({ "n": value }));
        let fields = FieldData::new(&raw, &schema);
        (
            fields.get::<i32>("n"),
            fields.get::<u32>("n"),
            fields.get::<u64>("n"),
        )
    };
    assert_eq!(get(json!("12")), (Ok(12), Ok(12), Ok(12)));
    let (i, u, u64) = get(json!(-1));
    assert_eq!(i, Ok(-1));
    assert_eq!(
        u.unwrap_err().0,
        r#"field "n": expected a whole number from 0 to 4294967295"#
    );
    assert_eq!(
        u64.unwrap_err().0,
        r#"field "n": expected a whole number from 0 to 9223372036854775807"#
    );
    let (i, ..) = get(json!("0x80000000"));
    assert_eq!(
        i.unwrap_err().0,
        r#"field "n": expected a whole number from -2147483648 to 2147483647"#
    );
}

#[test]
fn a_rust_type_that_does_not_fit_the_field_type_is_an_error_not_a_panic() {
    let schema = [FieldSchema::new("name", T::String)];
    let raw = data(json!({"name": "x"}));
    let err = FieldData::new(&raw, &schema)
        .get::<bool>("name")
        .unwrap_err();
    assert_eq!(
        err.0,
        r#"field "name": a string field cannot be read as a boolean"#
    );
}

#[test]
fn every_rust_type_decodes_what_a_user_sends() {
    let schema = [
        FieldSchema::new("f", T::Float),
        FieldSchema::new("offset", T::SignedDurationSecond),
        FieldSchema::new("at", T::Time),
        FieldSchema::new("ports", T::CommaIntSlice),
        FieldSchema::new("any", T::Slice),
        FieldSchema::new("meta", T::Map),
        FieldSchema::new("tags", T::KvPairs),
        FieldSchema::new("headers", T::Header),
        FieldSchema::new("names", T::StringSlice),
        FieldSchema::new("raw", T::Int),
    ];
    let raw = data(json!({
        "f": "2.5",
        "offset": "-90s",
        "at": "1970-01-01T00:01:40.25Z",
        "ports": "80,443",
        "any": "x",
        "meta": {"k": [1]},
        "tags": ["env=prod", "team=ops"],
        "headers": ["content-type:json", "X-Id:1", "x-id:2"],
        "names": "a,b",
        "raw": "7",
    }));
    let fields = FieldData::new(&raw, &schema);
    assert_eq!(fields.get::<f64>("f"), Ok(2.5));
    let offset = fields.get::<SignedDuration>("offset");
    assert_eq!(offset, Ok(SignedDuration(-90)));
    assert!(offset.is_ok_and(|o| o.is_negative() && o.unsigned_abs() == Duration::from_secs(90)));
    assert_eq!(
        fields.get::<SystemTime>("at"),
        Ok(SystemTime::UNIX_EPOCH + Duration::from_millis(100_250))
    );
    assert_eq!(fields.get::<Vec<i64>>("ports"), Ok(vec![80, 443]));
    assert_eq!(fields.get::<Vec<Value>>("any"), Ok(vec![json!("x")]));
    assert_eq!(
        fields.get::<Map<String, Value>>("meta"),
        Ok(data(json!({"k": [1]})))
    );
    let tags = BTreeMap::from([
        ("env".to_owned(), "prod".to_owned()),
        ("team".to_owned(), "ops".to_owned()),
    ]);
    assert_eq!(
        fields.get::<BTreeMap<String, String>>("tags"),
        Ok(tags.clone())
    );
    assert_eq!(
        fields.get::<HashMap<String, String>>("tags"),
        Ok(tags.into_iter().collect())
    );
    let headers = fields.get::<Headers>("headers").unwrap_or_default();
    assert_eq!(headers.get("Content-Type"), Some("json"));
    assert_eq!(headers.get_all("x-id"), ["1", "2"]);
    assert_eq!(headers.get("missing"), None);
    assert_eq!(
        fields.get::<Vec<String>>("names"),
        Ok(vec!["a,b".to_owned()])
    );
    assert_eq!(fields.get::<Value>("raw"), Ok(json!(7)));
    assert_eq!(fields.get::<Option<i64>>("raw"), Ok(Some(7)));
}

#[test]
fn times_before_1970_decode() {
    let schema = [FieldSchema::new("at", T::Time)];
    let raw = data(json!({"at": "1969-12-31T23:59:58.5Z"}));
    let at = FieldData::new(&raw, &schema).get::<SystemTime>("at");
    assert_eq!(at, Ok(SystemTime::UNIX_EPOCH - Duration::from_millis(1500)));
}

/// Arguments of a role, as a plugin would declare them.
#[derive(Debug, PartialEq, Fields)]
struct RoleArgs {
    /// How long credentials live.
    ///
    /// Go duration or seconds.
    #[field(default = "1h")]
    ttl: Duration,
    /// The token to call the API with.
    #[field(required, sensitive, alias = "balenaApiKey")]
    session_token: String,
    #[field(kind = "comma_string_slice", allowed = ["a", "b"])]
    policies: Vec<String>,
    #[field(rename = "displayName")]
    display_name: Option<String>,
    #[field(
        query,
        deprecated,
        display_name = "Key name",
        display_group = "Advanced"
    )]
    key_name_prefix: Option<String>,
    #[field(default = 3)]
    max_retries: Option<u32>,
    #[field(default = -30, kind = "signed_duration_second")]
    skew: SignedDuration,
    #[field(default = true, description = "Whether to rotate.")]
    rotate: bool,
    #[field(skip)]
    cache: Vec<u8>,
}

#[test]
fn a_derived_struct_decodes_cli_input() {
    let raw = data(json!({
        "ttl": "90m",
        "balenaApiKey": "tok",
        "policies": "a, b",
        "displayName": "Ops",
        "max_retries": "5",
        "rotate": "false",
        "cache": "ignored",
    }));
    let schema = RoleArgs::schema();
    let args = RoleArgs::from_data(&FieldData::new(&raw, &schema));
    assert_eq!(
        args,
        Ok(RoleArgs {
            ttl: Duration::from_secs(5400),
            session_token: "tok".to_owned(),
            policies: vec!["a".to_owned(), "b".to_owned()],
            display_name: Some("Ops".to_owned()),
            key_name_prefix: None,
            max_retries: Some(5),
            skew: SignedDuration(-30),
            rotate: false,
            cache: Vec::new(),
        })
    );
}

#[test]
fn a_derived_struct_applies_defaults_and_validation() {
    let schema = RoleArgs::schema();
    let raw = data(json!({"session_token": "tok"}));
    let args = RoleArgs::from_data(&FieldData::new(&raw, &schema));
    let args = args
        .as_ref()
        .map(|a| (a.ttl, a.max_retries, a.skew, a.rotate, a.policies.len()));
    assert_eq!(
        args,
        Ok((
            Duration::from_secs(3600),
            Some(3),
            SignedDuration(-30),
            true,
            0
        ))
    );

    let raw = data(json!({"ttl": "1h"}));
    let err = RoleArgs::from_data(&FieldData::new(&raw, &schema)).unwrap_err();
    assert_eq!(
        err,
        FieldError(r#"missing required field "session_token""#.to_owned())
    );
    let raw = data(json!({"session_token": "t", "policies": ["a", "root"]}));
    let err = RoleArgs::from_data(&FieldData::new(&raw, &schema)).unwrap_err();
    assert_eq!(err.0, r#"field "policies": expected items from "a", "b""#);
}

#[test]
fn a_derived_struct_describes_its_fields() {
    let schema = RoleArgs::schema();
    let names: Vec<&str> = schema.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ttl",
            "session_token",
            "balenaApiKey",
            "policies",
            "displayName",
            "key_name_prefix",
            "max_retries",
            "skew",
            "rotate"
        ]
    );
    let field = |name: &str| schema.iter().find(|f| f.name == name).cloned();
    assert_eq!(
        field("ttl"),
        Some(
            FieldSchema::new("ttl", T::DurationSecond)
                .description("How long credentials live. Go duration or seconds.")
                .default_value("1h")
        )
    );
    assert_eq!(
        field("session_token"),
        Some(
            FieldSchema::new("session_token", T::String)
                .description("The token to call the API with.")
                .required()
                .sensitive()
        )
    );
    assert_eq!(
        field("balenaApiKey"),
        Some(
            FieldSchema::new("balenaApiKey", T::String)
                .description("Alias of session_token")
                .deprecated()
                .sensitive()
        )
    );
    assert_eq!(
        field("policies").map(|f| (f.kind, f.allowed_values)),
        Some((T::CommaStringSlice, vec![json!("a"), json!("b")]))
    );
    let prefix = field("key_name_prefix");
    assert_eq!(
        prefix.as_ref().map(|f| (f.query, f.deprecated, &f.display)),
        Some((
            true,
            true,
            &DisplayAttrs {
                name: Some("Key name".to_owned()),
                group: Some("Advanced".to_owned()),
                ..DisplayAttrs::default()
            }
        ))
    );
    assert_eq!(
        field("max_retries").map(|f| (f.kind, f.default)),
        Some((T::Int, Some(json!(3))))
    );
    assert_eq!(
        field("skew").map(|f| (f.kind, f.default)),
        Some((T::SignedDurationSecond, Some(json!(-30))))
    );
    assert_eq!(
        field("rotate").map(|f| (f.description, f.default)),
        Some(("Whether to rotate.".to_owned(), Some(json!(true))))
    );
}
