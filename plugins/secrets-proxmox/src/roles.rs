//! `role/<name>`: whose tokens are minted, how they are leased, and what a
//! privilege-separated token may do.
//!
//! Writes have update semantics (what a write does not send is kept); a
//! create needs `user` and `realm`. With `acls` the tokens are always
//! privilege-separated; without, `privsep` decides (default off: the token
//! acts with all of its user's rights, as the original plugin's did).
//! Deleting a role leaves its tokens to their leases: a lease carries all
//! that revoking it needs.

use std::sync::Arc;
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

/// Whether the role exists.
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    ROLES.exists(req.storage(), &name).await
}

/// Creates or updates a role.
pub async fn write(
    _: Arc<State>,
    req: Request,
    (Name(name), update): (Name, Update<Role>),
) -> Result<Response> {
    let mut role = update.apply(ROLES.load(req.storage(), &name).await?)?;
    check_name("user", &role.user)?;
    check_id("realm", &role.realm)?;
    if !role.max_ttl.is_zero() && role.ttl > role.max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    if !role.acls.0.is_empty() {
        role.privsep = true;
    }
    ROLES.save(req.storage(), &name, &role).await?;
    Ok(Response::empty())
}

/// Shows a role.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    Response::stored(ROLES.load(req.storage(), &name).await?.as_ref())
}

/// Deletes a role; its tokens live on until their leases end.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    ROLES.delete(req.storage(), &name).await?;
    Ok(Response::empty())
}

/// Lists the roles.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(ROLES.list(req.storage()).await?))
}
