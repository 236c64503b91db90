//! `role/<name>`: how keys for one use are made. Typed fields, update
//! semantics (what a write does not send is kept), list with `role/`: the
//! SDK generates the handlers ([`Record`]); the role adds its checks.
//! Deleting a role leaves its keys to their leases.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::prelude::*;

use crate::State;

/// Where roles are stored.
pub const ROLES: Collection<Role> = Collection::new("role/");

/// A role, as stored and as written.
#[derive(Debug, Clone, PartialEq, Fields, Serialize, Deserialize)]
pub struct Role {
    /// Lease TTL of issued keys (e.g. "5m"); 0 means the mount's default.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub ttl: Duration,
    /// Max lease TTL of issued keys (e.g. "1h"); 0 means the mount's max.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub max_ttl: Duration,
    /// Start of every key name made for this role.
    #[field(default = "vault")]
    pub key_prefix: String,
    /// Free text for operators.
    pub description: String,
}

impl Record<State> for Role {
    /// Refuses TTLs the wrong way round and a prefix unfit for key names.
    async fn check(&mut self, _: &State, _: &Request) -> Result<()> {
        if !self.max_ttl.is_zero() && self.ttl > self.max_ttl {
            return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if self.key_prefix.is_empty() || !self.key_prefix.chars().all(allowed) {
            return Err(Error::bad_request(
                "key_prefix must be letters, digits and dashes",
            ));
        }
        Ok(())
    }
}
