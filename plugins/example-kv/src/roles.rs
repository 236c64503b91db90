//! `role/<name>`: how keys for one use are made. Typed fields, update
//! semantics (what a write does not send is kept), list with `role/`.

use std::sync::Arc;
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
    let role = update.apply(ROLES.load(req.storage(), &name).await?)?;
    if !role.max_ttl.is_zero() && role.ttl > role.max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    if role.key_prefix.is_empty()
        || !role
            .key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::bad_request(
            "key_prefix must be letters, digits and dashes",
        ));
    }
    ROLES.save(req.storage(), &name, &role).await?;
    Ok(Response::empty())
}

/// Shows a role.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    Response::stored(ROLES.load(req.storage(), &name).await?.as_ref())
}

/// Deletes a role; keys already issued keep working until their leases end.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    ROLES.delete(req.storage(), &name).await?;
    Ok(Response::empty())
}

/// Lists the roles.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(ROLES.list(req.storage()).await?))
}
