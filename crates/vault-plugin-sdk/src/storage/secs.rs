//! Durations stored as whole seconds, for `#[serde(with = "...")]`.
//!
//! serde's own form of a `Duration` is `{"secs": .., "nanos": ..}`; stored
//! configs and roles (and read responses built from them) want plain
//! seconds, as Vault shows TTLs. Use
//! `#[serde(with = "vault_plugin_sdk::storage::secs")]` on a `Duration` and
//! `#[serde(with = "vault_plugin_sdk::storage::secs::option")]` on an
//! `Option<Duration>`.
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Role {
//!     #[serde(with = "vault_plugin_sdk::storage::secs")]
//!     ttl: Duration,
//! }
//!
//! let text = serde_json::to_string(&Role { ttl: Duration::from_secs(90) }).unwrap();
//! assert_eq!(text, r#"{"ttl":90}"#);
//! let role: Role = serde_json::from_str(&text).unwrap();
//! assert_eq!(role.ttl, Duration::from_secs(90));
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `value` as whole seconds.
pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_secs())
}

/// Reads whole seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

/// The same for `Option<Duration>` (`null` when absent).
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `value` as whole seconds, or `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&d.as_secs()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads whole seconds or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(deserializer).map(|s| s.map(Duration::from_secs))
    }
}
