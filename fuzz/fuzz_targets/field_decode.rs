//! Feeds arbitrary input to `FieldType::normalize`, the decoder every request
//! field goes through: it must never panic, and a value it produced must
//! decode to itself again (canonical values are stable, so a default or a
//! stored value survives a second pass).
//!
//! Input layout: the first byte picks the field type (its low bits) and how
//! to read the rest (its high bit: set means the rest is one JSON string,
//! clear means the rest is JSON text, skipped when it does not parse).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vault_plugin_sdk::framework::fields::FieldType;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = FieldType::ALL[usize::from(selector & 0x7f) % FieldType::ALL.len()];
    let value = if selector & 0x80 != 0 {
        Value::String(String::from_utf8_lossy(rest).into_owned())
    } else {
        match serde_json::from_slice::<Value>(rest) {
            Ok(value) => value,
            Err(_) => return,
        }
    };
    if let Ok(canonical) = kind.normalize(&value) {
        let again = kind.normalize(&canonical);
        assert_eq!(
            again.as_ref(),
            Ok(&canonical),
            "{kind}: normalizing {value} gave {canonical}, which does not normalize to itself"
        );
    }
});
