//! `role/<name>` and `role/`: how tokens for one use are made.
//!
//! Like the config, a role is one struct: the write's arguments, the stored
//! value and the read, with generated handlers ([`Record`]). A write
//! changes only what it sends, so `bao write tokens/role/ci ttl=10m` keeps
//! the scopes. Deleting a role leaves its tokens alone: each lease carries
//! what renew and revoke need.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::prelude::*;

use crate::State;

/// Where roles are stored: `role/<name>`, listed under `role/`.
pub const ROLES: Collection<Role> = Collection::new("role/");

/// A role, as written, stored and read.
#[derive(Debug, Fields, Serialize, Deserialize)]
pub struct Role {
    /// What the issued tokens may do, e.g. "read,write".
    #[field(required)]
    pub scopes: Vec<String>,
    /// Lease TTL of issued tokens, e.g. "5m"; 0 means the mount's default.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub ttl: Duration,
    /// Max lease TTL of issued tokens, e.g. "1h"; 0 means the mount's max.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub max_ttl: Duration,
    /// Start of every token name made for this role.
    #[field(default = "vault")]
    pub name_prefix: String,
}

impl Record<State> for Role {
    /// Refuses a role that cannot issue tokens.
    async fn check(&mut self, _: &State, _: &Request) -> Result<()> {
        if self.scopes.is_empty() {
            return Err(Error::bad_request("scopes must name at least one scope"));
        }
        if !self.max_ttl.is_zero() && self.ttl > self.max_ttl {
            return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if self.name_prefix.is_empty() || !self.name_prefix.chars().all(allowed) {
            return Err(Error::bad_request(
                "name_prefix must be letters, digits and dashes",
            ));
        }
        Ok(())
    }
}
