//! Loose decoding of request values into each field type's canonical JSON.
//!
//! Vault's CLI sends every argument as text (`ttl=1h`, `enabled=true`,
//! `policies=a,b`), while API clients send real JSON types. The Go SDK
//! accepts both, following `mapstructure.WeakDecode` and `parseutil`; this
//! module accepts the same inputs, so a plugin moved from Go to Rust keeps
//! its interface. Each type has one function here that turns any accepted
//! input into one canonical JSON form (see [`FieldType::normalize`]);
//! normalizing a canonical value again returns it unchanged.
//!
//! Error texts say what was expected and never repeat the input, because
//! the input may be a secret.
//!
//! Where this module is deliberately looser or tidier than Go, the function
//! says so; the differences are all inputs that Go refuses or turns into
//! surprising values.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::schema::FieldType;

const TEXT: &str = "expected text, not a list or an object";
const NAME: &str =
    "expected a name: letters, digits and underscores, with dashes or dots allowed inside";
const INT: &str = "expected a whole number";
const INT_RANGE: &str = "expected a whole number from -9223372036854775808 to 9223372036854775807";
const BOOL: &str = "expected true or false";
const FLOAT: &str = "expected a finite number";
const DURATION: &str = "expected a duration like \"90s\", \"1h30m\" or \"7d\", or whole seconds";
const DURATION_RANGE: &str = "expected a duration of at most 292 years";
const DURATION_NEGATIVE: &str = "expected a duration that is not negative";
const TIME: &str =
    "expected a time in RFC 3339 form like \"2024-05-01T12:00:00Z\", or whole seconds since 1970";
const TIME_RANGE: &str = "expected a time between the years 0 and 9999";
const MAP: &str = "expected an object";
const STRING_LIST: &str = "expected text or a list of texts";
const INT_LIST: &str = "expected whole numbers, as a list or separated by commas";
const KV_PAIRS: &str = "expected an object of texts, or \"key=value\" texts";
const HEADER: &str = "expected headers: an object of texts or lists of texts, its JSON text \
                      (optionally base64), or \"Name:value\" texts";

impl FieldType {
    /// Decodes `value` as loosely as the Go SDK into this type's canonical
    /// JSON form:
    ///
    /// | type | canonical form |
    /// |---|---|
    /// | `String`, `LowerCaseString`, `NameString` | a string (lowercased / checked) |
    /// | `Int`, `Int64` | an integer |
    /// | `Bool` | a boolean |
    /// | `Float` | a number |
    /// | `DurationSecond`, `SignedDurationSecond` | an integer of seconds |
    /// | `Time` | an RFC 3339 string in UTC |
    /// | `Map` | an object |
    /// | `Slice` | an array |
    /// | `StringSlice`, `CommaStringSlice` | an array of strings |
    /// | `CommaIntSlice` | an array of integers |
    /// | `KvPairs` | an object of strings |
    /// | `Header` | an object of arrays of strings |
    ///
    /// `null` decodes to the type's zero value. The error says what was
    /// expected and never contains the input.
    pub fn normalize(self, value: &Value) -> Result<Value, String> {
        match self {
            FieldType::String => string(value).map(Value::String),
            FieldType::LowerCaseString => lower_case_string(value).map(Value::String),
            FieldType::NameString => name_string(value).map(Value::String),
            FieldType::Int | FieldType::Int64 => int(value).map(Value::from),
            FieldType::Bool => boolean(value).map(Value::Bool),
            FieldType::Float => float(value).map(Value::from),
            FieldType::DurationSecond => duration_seconds(value, false).map(Value::from),
            FieldType::SignedDurationSecond => duration_seconds(value, true).map(Value::from),
            FieldType::Time => time(value).map(|t| Value::String(t.to_rfc3339())),
            FieldType::Map => map(value).map(Value::Object),
            FieldType::Slice => slice(value).map(Value::Array),
            FieldType::StringSlice => string_slice(value).map(strings_value),
            FieldType::CommaStringSlice => comma_string_slice(value).map(strings_value),
            FieldType::CommaIntSlice => comma_int_slice(value)
                .map(|v| Value::Array(v.into_iter().map(Value::from).collect())),
            FieldType::KvPairs => kv_pairs(value).map(Value::Object),
            FieldType::Header => header(value).map(Value::Object),
        }
    }
}

fn strings_value(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Go's weak conversion to text: booleans become `"1"`/`"0"`, numbers their
/// decimal text, `null` the empty string; lists and objects are refused.
fn string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(TEXT.to_owned()),
    }
}

/// Lowercases character by character, as Go's `strings.ToLower` does (no
/// context-dependent rules, so lowercasing twice changes nothing).
fn lower_case_string(value: &Value) -> Result<String, String> {
    Ok(string(value)?
        .chars()
        .flat_map(char::to_lowercase)
        .collect())
}

/// Go's name rule: `^\w(([\w-.]+)?\w)?$` with ASCII `\w`.
fn name_string(value: &Value) -> Result<String, String> {
    let text = string(value)?;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let valid = match bytes {
        [] => false,
        [only] => word(*only),
        [first, middle @ .., last] => {
            word(*first) && word(*last) && middle.iter().all(|&b| word(b) || b == b'-' || b == b'.')
        }
    };
    if valid {
        Ok(text)
    } else {
        Err(NAME.to_owned())
    }
}

/// Go's weak conversion to an integer. Text follows Go's `ParseInt` with
/// base 0: `"30"`, `"-4"`, `"0x1f"`, `"0o17"`, `"0b101"`, `"1_000"`, and a
/// leading zero means octal (`"017"` is 15). The empty text is 0, `true` is
/// 1. A JSON number must be whole (`30.0` is accepted, `30.5` refused).
fn int(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => number_to_i64(n).map_err(|e| match e {
            NotI64::Fraction => INT.to_owned(),
            NotI64::Range => INT_RANGE.to_owned(),
        }),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => parse_go_int(s),
        Value::Null => Ok(0),
        Value::Array(_) | Value::Object(_) => Err(INT.to_owned()),
    }
}

/// Why a JSON number is not a 64-bit whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotI64 {
    /// It has a fraction.
    Fraction,
    /// It is whole but out of range.
    Range,
}

/// -2^63, exactly representable as a float.
const TWO_POW_63_NEG: f64 = i64::MIN as f64;

fn number_to_i64(n: &Number) -> Result<i64, NotI64> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(NotI64::Range);
    }
    match n.as_f64() {
        // Whole and inside [-2^63, 2^63), so the cast is exact.
        Some(f) if f.fract() == 0.0 && (TWO_POW_63_NEG..-TWO_POW_63_NEG).contains(&f) => {
            Ok(f as i64)
        }
        Some(f) if f.fract() == 0.0 => Err(NotI64::Range),
        _ => Err(NotI64::Fraction),
    }
}

/// `strconv.ParseInt(text, 0, 64)`: optional sign, optional base prefix,
/// underscores only between digits or right after a prefix.
fn parse_go_int(text: &str) -> Result<i64, String> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits, prefixed) = match lower.as_deref() {
        Some("0x") => (16, &unsigned[2..], true),
        Some("0o") => (8, &unsigned[2..], true),
        Some("0b") => (2, &unsigned[2..], true),
        // A leading zero means octal; the zero counts as a digit before any underscore.
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (8, &unsigned[1..], true),
        _ => (10, unsigned, false),
    };
    let mut magnitude: u64 = 0;
    let mut seen_digit = false;
    // What came just before: a digit (or a prefix, which counts as one) or an underscore.
    let mut after_digit = prefixed;
    let mut after_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if !after_digit {
                return Err(INT.to_owned());
            }
            after_digit = false;
            after_underscore = true;
            continue;
        }
        let digit = c.to_digit(radix).ok_or_else(|| INT.to_owned())?;
        magnitude = magnitude
            .checked_mul(u64::from(radix))
            .and_then(|m| m.checked_add(u64::from(digit)))
            .ok_or_else(|| INT_RANGE.to_owned())?;
        seen_digit = true;
        after_digit = true;
        after_underscore = false;
    }
    // A bare prefix ("0x") has no digits; an underscore must be followed by one.
    if after_underscore || !seen_digit {
        return Err(INT.to_owned());
    }
    if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            return Err(INT_RANGE.to_owned());
        }
        Ok(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).map_err(|_| INT_RANGE.to_owned())
    }
}

/// Go's weak conversion to a boolean: the texts of `strconv.ParseBool`
/// (`1 t T TRUE true True` and `0 f F FALSE false False`), the empty text
/// (false), and numbers (true when not zero).
fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Ok(false),
            _ => Err(BOOL.to_owned()),
        },
        Value::Null => Ok(false),
        Value::Array(_) | Value::Object(_) => Err(BOOL.to_owned()),
    }
}

/// Go's weak conversion to a float: numbers, decimal text (`"1.5"`,
/// `"1e3"`), the empty text (0) and booleans (1 or 0). Infinities and NaN
/// are refused because JSON cannot carry them.
fn float(value: &Value) -> Result<f64, String> {
    let f = match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| FLOAT.to_owned())?,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) if s.is_empty() => 0.0,
        Value::String(s) => s.parse::<f64>().map_err(|_| FLOAT.to_owned())?,
        Value::Null => 0.0,
        Value::Array(_) | Value::Object(_) => return Err(FLOAT.to_owned()),
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err(FLOAT.to_owned())
    }
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// `parseutil.ParseDurationSecond`, in whole seconds (truncated toward zero):
/// numbers are seconds; text is whole seconds (`"30"`), whole days
/// (`"7d"`), or a Go duration (`"1h30m"`, `"1.5h"`, `"250ms"`, `"-2m"`); the
/// empty text is 0. As in Go the total must fit in 292 years. A JSON number
/// must be whole.
fn duration_seconds(value: &Value, signed: bool) -> Result<i64, String> {
    let secs = match value {
        Value::Null => 0,
        Value::Number(n) => {
            let secs = number_to_i64(n).map_err(|e| match e {
                NotI64::Fraction => DURATION.to_owned(),
                NotI64::Range => DURATION_RANGE.to_owned(),
            })?;
            check_duration_range(i128::from(secs) * NANOS_PER_SEC)?;
            secs
        }
        Value::String(s) if s.is_empty() => 0,
        Value::String(s) => parse_duration_text(s)?,
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => return Err(DURATION.to_owned()),
    };
    if !signed && secs < 0 {
        return Err(DURATION_NEGATIVE.to_owned());
    }
    Ok(secs)
}

fn check_duration_range(nanos: i128) -> Result<i64, String> {
    i64::try_from(nanos).map_err(|_| DURATION_RANGE.to_owned())?;
    // Whole seconds, truncated toward zero, as Go's int(d.Seconds()).
    i64::try_from(nanos / NANOS_PER_SEC).map_err(|_| DURATION_RANGE.to_owned())
}

fn parse_duration_text(text: &str) -> Result<i64, String> {
    if let Some(secs) = parse_decimal_i64(text) {
        let secs = secs.map_err(|_| DURATION_RANGE.to_owned())?;
        return check_duration_range(i128::from(secs) * NANOS_PER_SEC);
    }
    if let Some(days) = text.strip_suffix('d') {
        let days = parse_decimal_i64(days)
            .ok_or_else(|| DURATION.to_owned())?
            .map_err(|_| DURATION_RANGE.to_owned())?;
        return check_duration_range(i128::from(days) * 86_400 * NANOS_PER_SEC);
    }
    check_duration_range(parse_go_duration(text)?)
}

/// `strconv.ParseInt(text, 10, 64)`: `None` when `text` is not an optionally
/// signed run of decimal digits, `Some(Err)` when it is but does not fit.
fn parse_decimal_i64(text: &str) -> Option<Result<i64, ()>> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<i64>().map_err(|_| ()))
}

/// Go's `time.ParseDuration`, in nanoseconds: an optional sign, then one or
/// more `<decimal><unit>` parts with units `ns us µs μs ms s m h`; `"0"`
/// alone needs no unit.
fn parse_go_duration(text: &str) -> Result<i128, String> {
    let err = || DURATION.to_owned();
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    // Anything beyond 2^63 ns is refused later; this bound keeps the sum from overflowing.
    let limit: i128 = 1 << 64;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(len)
            }
            None if whole.is_empty() => return Err(err()),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(err());
        }
        let unit_len = after
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        let (unit, after) = after.split_at(unit_len);
        let unit: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            _ => return Err(err()),
        };
        let mut whole_value: i128 = 0;
        for digit in whole.bytes() {
            whole_value = whole_value * 10 + i128::from(digit - b'0');
            if whole_value > limit {
                return Err(DURATION_RANGE.to_owned());
            }
        }
        // The first 19 fraction digits: later ones change less than a nanosecond.
        let fraction = &fraction[..fraction.len().min(19)];
        let mut fraction_value: i128 = 0;
        for digit in fraction.bytes() {
            fraction_value = fraction_value * 10 + i128::from(digit - b'0');
        }
        let scale = 10i128.pow(u32::try_from(fraction.len()).map_err(|_| err())?);
        total += whole_value * unit + fraction_value * unit / scale;
        if total > limit {
            return Err(DURATION_RANGE.to_owned());
        }
        rest = after;
    }
    if negative {
        if total > 1 << 63 {
            return Err(DURATION_RANGE.to_owned());
        }
        Ok(-total)
    } else {
        if total > i128::from(i64::MAX) {
            return Err(DURATION_RANGE.to_owned());
        }
        Ok(total)
    }
}

/// A point in time: seconds since 1970 (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
}

/// Seconds from 1970 to 0000-01-01T00:00:00Z and to 10000-01-01T00:00:00Z.
const MIN_TIME_SECS: i64 = -62_167_219_200;
const MAX_TIME_SECS: i64 = 253_402_300_800;

impl Timestamp {
    /// Go's zero time, 0001-01-01T00:00:00Z.
    const GO_ZERO: Timestamp = Timestamp {
        secs: -62_135_596_800,
        nanos: 0,
    };

    fn from_secs(secs: i64) -> Result<Self, String> {
        if (MIN_TIME_SECS..MAX_TIME_SECS).contains(&secs) {
            Ok(Timestamp { secs, nanos: 0 })
        } else {
            Err(TIME_RANGE.to_owned())
        }
    }

    /// RFC 3339 in UTC with only the fraction digits needed, the form Go
    /// gives a `time.Time` in JSON.
    pub(crate) fn to_rfc3339(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let mut out = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3_600,
            of_day % 3_600 / 60,
            of_day % 60
        );
        if self.nanos != 0 {
            let fraction = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, Go's RFC 3339
    /// layouts (fraction digits past nine are cut off, as in Go).
    pub(crate) fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                part.iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
            )
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut rest = &text[19..];
        let mut nanos: u32 = 0;
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            let digits = &after[..len.min(9)];
            let padded = format!("{digits:0<9}");
            nanos = padded.parse().ok()?;
            rest = &after[len..];
        }
        let offset = match rest.as_bytes() {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let offset = hours * 3_600 + minutes * 60;
                if *sign == b'-' { -offset } else { offset }
            }
            _ => return None,
        };
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
            - offset;
        let mut stamp = Timestamp::from_secs(secs).ok()?;
        stamp.nanos = nanos;
        Some(stamp)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count from 0000-03-01 so the leap day ends each 4/100/400-year cycle.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let m = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * m + 2) / 5 + 1;
    let month = if m < 10 { m + 3 } else { m - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `parseutil.ParseAbsoluteTime`: RFC 3339 text (with or without a
/// fraction), or whole seconds since 1970 as a number or text. `null` is
/// Go's zero time (year 1).
pub(crate) fn time(value: &Value) -> Result<Timestamp, String> {
    match value {
        Value::Null => Ok(Timestamp::GO_ZERO),
        Value::Number(n) => {
            let secs = number_to_i64(n).map_err(|e| match e {
                NotI64::Fraction => TIME.to_owned(),
                NotI64::Range => TIME_RANGE.to_owned(),
            })?;
            Timestamp::from_secs(secs)
        }
        Value::String(s) => {
            if let Some(stamp) = Timestamp::parse_rfc3339(s) {
                return Ok(stamp);
            }
            match parse_decimal_i64(s) {
                Some(Ok(secs)) => Timestamp::from_secs(secs),
                Some(Err(())) => Err(TIME_RANGE.to_owned()),
                None => Err(TIME.to_owned()),
            }
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(TIME.to_owned()),
    }
}

/// Go's weak conversion to a map: an object, or a list of objects merged in
/// order (an empty list is an empty object).
fn map(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(object) => Ok(object.clone()),
        Value::Array(items) => {
            let mut merged = Map::new();
            for item in items {
                match item {
                    Value::Object(object) => {
                        merged.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                    Value::Null => {}
                    _ => return Err(MAP.to_owned()),
                }
            }
            Ok(merged)
        }
        _ => Err(MAP.to_owned()),
    }
}

/// Go's weak conversion to a list: a list, or any other value as a one-item
/// list (an empty object is an empty list).
fn slice(value: &Value) -> Result<Vec<Value>, String> {
    Ok(match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        Value::Object(object) if object.is_empty() => Vec::new(),
        other => vec![other.clone()],
    })
}

/// The items of a list-like value, before each is converted: a list's
/// items, an empty object's none, any other value alone.
fn list_items(value: &Value) -> Result<Vec<&Value>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(object) if object.is_empty() => Ok(Vec::new()),
        Value::Object(_) => Err(STRING_LIST.to_owned()),
        other => Ok(vec![other]),
    }
}

/// Go's `TypeStringSlice`: a list of texts (numbers and booleans converted
/// as for `String`), one text as a one-item list (not split), the empty text
/// as an empty list; every item is trimmed of spaces.
fn string_slice(value: &Value) -> Result<Vec<String>, String> {
    if value.as_str() == Some("") {
        return Ok(Vec::new());
    }
    list_items(value)?
        .into_iter()
        .map(|item| {
            string(item)
                .map(|s| s.trim().to_owned())
                .map_err(|_| STRING_LIST.to_owned())
        })
        .collect()
}

/// `parseutil.ParseCommaStringSlice`: one text is split at commas, a list's
/// items are taken whole; items are trimmed of spaces. Unlike Go, empty
/// items are dropped (`"a,,b,"` is `["a", "b"]`, not `["a", "", "b", ""]`).
fn comma_string_slice(value: &Value) -> Result<Vec<String>, String> {
    let items: Vec<String> = match value {
        Value::String(s) => s.split(',').map(str::to_owned).collect(),
        other => list_items(other)?
            .into_iter()
            .map(|item| string(item).map_err(|_| STRING_LIST.to_owned()))
            .collect::<Result<_, _>>()?,
    };
    Ok(items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Go's `TypeCommaIntSlice`: one text (or number) is split at commas, a
/// list's items are taken whole; each item is converted as for `Int`. Unlike
/// Go, items are trimmed of spaces (`"1, 2"` works) and empty text items are
/// dropped rather than read as 0.
fn comma_int_slice(value: &Value) -> Result<Vec<i64>, String> {
    let convert = |item: &Value| int(item).map_err(|_| INT_LIST.to_owned());
    match value {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_go_int(s).map_err(|_| INT_LIST.to_owned()))
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter(|item| item.as_str().is_none_or(|s| !s.trim().is_empty()))
            .map(|item| match item {
                Value::String(s) => parse_go_int(s.trim()).map_err(|_| INT_LIST.to_owned()),
                other => convert(other),
            })
            .collect(),
        Value::Object(object) if object.is_empty() => Ok(Vec::new()),
        Value::Object(_) => Err(INT_LIST.to_owned()),
        Value::Null => Ok(Vec::new()),
        other => convert(other).map(|i| vec![i]),
    }
}

/// Go's `TypeKVPairs`: an object (or list of objects, merged) whose values
/// are converted to text, or `"key=value"` texts (one, or a list), split at
/// the first `=` with a non-empty key. Unlike Go, the empty text is an empty
/// object rather than an error.
fn kv_pairs(value: &Value) -> Result<Map<String, Value>, String> {
    let as_map =
        |object: &Map<String, Value>, into: &mut Map<String, Value>| -> Result<(), String> {
            for (key, value) in object {
                let text = string(value).map_err(|_| KV_PAIRS.to_owned())?;
                into.insert(key.clone(), Value::String(text));
            }
            Ok(())
        };
    let mut result = Map::new();
    match value {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Object(object) => as_map(object, &mut result)?,
        Value::Array(items) if items.iter().all(|i| i.is_object() || i.is_null()) => {
            for item in items {
                if let Value::Object(object) = item {
                    as_map(object, &mut result)?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let text = string(item).map_err(|_| KV_PAIRS.to_owned())?;
                insert_pair(&text, &mut result)?;
            }
        }
        other => {
            let text = string(other).map_err(|_| KV_PAIRS.to_owned())?;
            insert_pair(&text, &mut result)?;
        }
    }
    Ok(result)
}

fn insert_pair(text: &str, into: &mut Map<String, Value>) -> Result<(), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            into.insert(key.to_owned(), Value::String(value.to_owned()));
            Ok(())
        }
        _ => Err(KV_PAIRS.to_owned()),
    }
}

/// Go's `TypeHeader`: an object whose values are texts, numbers or lists of
/// them (a list of objects is merged); a text holding such an object as JSON,
/// or as base64 of that JSON; or `"Name:value"` texts in a list. Names are
/// put in canonical form (`content-type` becomes `Content-Type`) and values
/// of the same name are collected. Unlike Go, a single `"Name:value"` text is
/// accepted, and spaces around the name and value are trimmed.
fn header(value: &Value) -> Result<Map<String, Value>, String> {
    let mut result = Map::new();
    match value {
        Value::Null => {}
        Value::Object(object) => header_from_object(object, &mut result)?,
        Value::Array(items) if items.iter().all(|i| i.is_object() || i.is_null()) => {
            let mut merged = Map::new();
            for item in items {
                if let Value::Object(object) = item {
                    merged.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            header_from_object(&merged, &mut result)?;
        }
        Value::Array(items) => {
            for item in items {
                let text = item.as_str().ok_or_else(|| HEADER.to_owned())?;
                header_pair(text, &mut result)?;
            }
        }
        Value::String(text) => {
            let json = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                .or_else(|| serde_json::from_str::<Value>(text).ok());
            match json {
                Some(Value::Object(object)) => header_from_object(&object, &mut result)?,
                Some(_) => return Err(HEADER.to_owned()),
                None => header_pair(text, &mut result)?,
            }
        }
        Value::Bool(_) | Value::Number(_) => return Err(HEADER.to_owned()),
    }
    Ok(result)
}

fn header_from_object(
    object: &Map<String, Value>,
    into: &mut Map<String, Value>,
) -> Result<(), String> {
    let text = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(HEADER.to_owned()),
    };
    for (name, values) in object {
        match values {
            Value::Array(items) => {
                for item in items {
                    add_header(name, text(item)?, into);
                }
            }
            single => add_header(name, text(single)?, into),
        }
    }
    Ok(())
}

fn header_pair(text: &str, into: &mut Map<String, Value>) -> Result<(), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            add_header(name.trim(), value.trim().to_owned(), into);
            Ok(())
        }
        _ => Err(HEADER.to_owned()),
    }
}

fn add_header(name: &str, value: String, into: &mut Map<String, Value>) {
    let entry = into
        .entry(canonical_header_name(name))
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(values) = entry {
        values.push(Value::String(value));
    }
}

/// Go's `CanonicalMIMEHeaderKey`: the first letter and every letter after a
/// dash uppercase, the rest lowercase; a name with a character that may not
/// appear in a header name is left as it is.
pub(crate) fn canonical_header_name(name: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(token) {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}
