//! `role/<name>`: how keys for one use are made. Typed fields, update
//! semantics (what a write does not send is kept), list with `role/`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;

const PREFIX: &str = "role/";

/// A stored role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Lease TTL of issued keys, in seconds (0: the mount's default).
    pub ttl: u64,
    /// Max lease TTL of issued keys, in seconds (0: the mount's max).
    pub max_ttl: u64,
    /// Start of every key name made for this role.
    pub key_prefix: String,
    /// Free text for operators.
    pub description: String,
}

impl Role {
    /// The role called `name`, if it exists.
    pub async fn load(req: &Request, name: &str) -> Result<Option<Role>> {
        Ok(req.storage().get_json(&format!("{PREFIX}{name}")).await?)
    }
}

/// Arguments of a role write.
#[derive(Fields)]
pub struct RoleArgs {
    /// Name of the role.
    name: String,
    /// Lease TTL of issued keys (e.g. "5m"); 0 means the mount's default.
    ttl: Option<Duration>,
    /// Max lease TTL of issued keys (e.g. "1h"); 0 means the mount's max.
    max_ttl: Option<Duration>,
    /// Start of every key name made for this role (default "vault").
    key_prefix: Option<String>,
    /// Free text for operators.
    description: Option<String>,
}

/// Whether the role exists.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    let name = req.param("name").unwrap_or_default();
    Ok(Role::load(&req, name).await?.is_some())
}

/// Creates or updates a role.
pub async fn write(_: Arc<State>, req: Request, args: RoleArgs) -> Result<Response> {
    let old = Role::load(&req, &args.name).await?;
    let keep = |new: Option<Duration>, old: Option<u64>| {
        new.map(|d| d.as_secs()).or(old).unwrap_or_default()
    };
    let role = Role {
        ttl: keep(args.ttl, old.as_ref().map(|r| r.ttl)),
        max_ttl: keep(args.max_ttl, old.as_ref().map(|r| r.max_ttl)),
        key_prefix: args
            .key_prefix
            .or(old.as_ref().map(|r| r.key_prefix.clone()))
            .unwrap_or_else(|| "vault".to_owned()),
        description: args
            .description
            .or(old.map(|r| r.description))
            .unwrap_or_default(),
    };
    if role.max_ttl != 0 && role.ttl > role.max_ttl {
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
    req.storage()
        .put_json(&format!("{PREFIX}{}", args.name), &role)
        .await?;
    Ok(Response::empty())
}

/// Shows a role.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let name = req.param("name").unwrap_or_default();
    match Role::load(&req, name).await? {
        Some(role) => Response::json(&role),
        None => Err(Error::not_found(format!("no role {name:?}"))),
    }
}

/// Deletes a role; keys already issued keep working until their leases end.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    let name = req.param("name").unwrap_or_default();
    req.storage().delete(&format!("{PREFIX}{name}")).await?;
    Ok(Response::empty())
}

/// Lists the roles.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(req.storage().list(PREFIX).await?))
}
