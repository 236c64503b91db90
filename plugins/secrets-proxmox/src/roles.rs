//! `role/<name>`: whose tokens are minted, how they are leased, and what a
//! privilege-separated token may do.
//!
//! The SDK generates the handlers ([`Record`]): writes have update
//! semantics (what a write does not send is kept); a create needs `user`
//! and `realm`. With `acls` the tokens are always privilege-separated;
//! without, `privsep` decides (default off: the token acts with all of its
//! user's rights, as the original plugin's did).
//! Deleting a role leaves its tokens to their leases: a lease carries all
//! that revoking it needs.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::prelude::*;

use crate::State;
use crate::acl::Acls;
use crate::config::{check_id, check_name};

/// Where roles are stored.
pub const ROLES: Collection<Role> = Collection::new("role/");

/// A stored role, as written.
#[derive(Debug, Clone, PartialEq, Eq, Fields, Serialize, Deserialize)]
pub struct Role {
    /// The Proxmox user whose tokens are minted, without the realm (e.g. alice).
    #[field(required)]
    pub user: String,
    /// The user's realm (e.g. pve or pam).
    #[field(required)]
    pub realm: String,
    /// Lease TTL of minted tokens (e.g. "5m"); 0 means the mount's default.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub ttl: Duration,
    /// Max lease TTL of minted tokens (e.g. "1h"), also when Proxmox
    /// expires each token by itself; 0 means the mount's max.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub max_ttl: Duration,
    /// Comment of every token in Proxmox.
    #[field(default = "Managed by Vault")]
    pub comment: String,
    /// Whether tokens are privilege-separated (restricted to their own ACL
    /// entries); always true when acls are set.
    pub privsep: bool,
    /// ACL entries of every token: a JSON list of {"path", "roles",
    /// "propagate"}, or one line "<path>:<role>[+<role>...][:propagate=false],..."
    /// e.g. "/vms/100:PVEVMUser,/storage:PVEDatastoreUser:propagate=false".
    pub acls: Acls,
}

impl Role {
    /// `user@realm`, Proxmox's user id.
    pub fn userid(&self) -> String {
        format!("{}@{}", self.user, self.realm)
    }

    /// The longest a token of this role may live: its max TTL within the
    /// mount's max (the host caps leases the same way).
    pub async fn effective_max_ttl(&self, req: &Request) -> Result<Duration> {
        let mount_max = req.system_view().max_lease_ttl().await?;
        Ok(match self.max_ttl {
            Duration::ZERO => mount_max,
            max => max.min(mount_max),
        })
    }
}

impl Record<State> for Role {
    /// Refuses a role that cannot mint tokens; acls make it privilege-separated.
    async fn check(&mut self, _: &State, _: &Request) -> Result<()> {
        check_name("user", &self.user)?;
        check_id("realm", &self.realm)?;
        if !self.max_ttl.is_zero() && self.ttl > self.max_ttl {
            return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
        }
        if !self.acls.0.is_empty() {
            self.privsep = true;
        }
        Ok(())
    }
}
