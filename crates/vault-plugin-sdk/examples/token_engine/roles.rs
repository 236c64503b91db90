//! `role/<name>` and `role/`: how tokens for one use are made.
//!
//! Like the config, a role is one struct: the write's arguments, the stored
//! value and the read. A write changes only what it sends ([`Update`]), so
//! `bao write tokens/role/ci ttl=10m` keeps the scopes. Deleting a role
//! leaves its tokens alone: each lease carries what renew and revoke need.

use std::sync::Arc;
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

/// Whether the role exists (create or update?).
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    ROLES.exists(req.storage(), &name).await
}

/// Creates a role, or changes the fields a write sends.
pub async fn write(
    _: Arc<State>,
    req: Request,
    (Name(name), update): (Name, Update<Role>),
) -> Result<Response> {
    let role = update.apply(ROLES.load(req.storage(), &name).await?)?;
    if role.scopes.is_empty() {
        return Err(Error::bad_request("scopes must name at least one scope"));
    }
    if !role.max_ttl.is_zero() && role.ttl > role.max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if role.name_prefix.is_empty() || !role.name_prefix.chars().all(allowed) {
        return Err(Error::bad_request(
            "name_prefix must be letters, digits and dashes",
        ));
    }
    ROLES.save(req.storage(), &name, &role).await?;
    Ok(Response::empty())
}

/// Shows a role; 404 when there is none.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    Response::stored(ROLES.load(req.storage(), &name).await?.as_ref())
}

/// Deletes a role; tokens already issued live on until their leases end.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    ROLES.delete(req.storage(), &name).await?;
    Ok(Response::empty())
}

/// Lists the roles.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(ROLES.list(req.storage()).await?))
}
