//! `role/<name>` and `role/`: who may log in through a role, and the tokens
//! they get.
//!
//! A role binds subjects (a token's `sub`: `ServiceId-…`, `Profile-…`, a
//! user's IBMid or e-mail) and access groups (`AccessGroupId-…`); a login
//! passes when its subject is bound or its identity is in one of the groups.
//! At least one binding is required. The standard `token_*` fields shape
//! the tokens. Names are case-insensitive (stored in lower case). A write
//! keeps what it does not send. Deleting a role stops the renewal of the
//! tokens its logins created.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use vault_plugin_sdk::framework::fields::Name;
use vault_plugin_sdk::framework::{TokenFields, TokenParams};
use vault_plugin_sdk::storage::Collection;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::config::checked_id;

/// Where roles are stored, by lower-case name.
pub const ROLES: Collection<Role> = Collection::new("role/");

/// A stored role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Subjects (`sub`) that may log in.
    #[serde(default)]
    pub bound_subjects: Vec<String>,
    /// Access groups whose members may log in.
    #[serde(default)]
    pub bound_access_group_ids: Vec<String>,
    /// How the role's tokens are made.
    #[serde(default)]
    pub token: TokenParams,
}

impl Role {
    /// The role called `name` (any case), if it exists.
    pub async fn load(req: &Request, name: &str) -> Result<Option<Role>> {
        ROLES.load(req.storage(), &name.to_lowercase()).await
    }
}

/// Arguments of a role write; what is not sent is kept.
#[derive(Fields)]
pub struct RoleArgs {
    /// Name of the role (case-insensitive).
    #[field(path)]
    name: String,
    /// Comma-separated list or JSON array of subjects (a token's `sub`:
    /// service IDs, trusted profiles, users) that may log in.
    bound_subjects: Option<Vec<String>>,
    /// Comma-separated list or JSON array of access group ids
    /// (AccessGroupId-…) whose members may log in.
    bound_access_group_ids: Option<Vec<String>>,
    /// The standard token settings.
    #[field(flatten)]
    token: TokenFields,
}

/// Whether the role exists.
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    ROLES.exists(req.storage(), &name.to_lowercase()).await
}

/// Creates or updates a role. Everything is checked before anything is
/// stored: a refused write leaves the role as it was.
pub async fn write(_: Arc<State>, req: Request, args: RoleArgs) -> Result<Response> {
    if args.name.trim().is_empty() {
        return Err(Error::bad_request("missing role name"));
    }
    let old = Role::load(&req, &args.name).await?;
    let mut token = old.as_ref().map(|r| r.token.clone()).unwrap_or_default();
    token.update(&args.token)?;
    let bound_subjects = match args.bound_subjects {
        Some(subjects) => without_repeats(subjects),
        None => old
            .as_ref()
            .map(|r| r.bound_subjects.clone())
            .unwrap_or_default(),
    };
    let bound_access_group_ids = match args.bound_access_group_ids {
        Some(groups) => without_repeats(groups)
            .into_iter()
            .map(|g| checked_id(g, "bound_access_group_ids entry"))
            .collect::<Result<_>>()?,
        None => old
            .as_ref()
            .map(|r| r.bound_access_group_ids.clone())
            .unwrap_or_default(),
    };
    if bound_subjects.is_empty() && bound_access_group_ids.is_empty() {
        return Err(Error::bad_request(
            "must have at least one bound constraint when creating/updating a role \
             (bound_subjects or bound_access_group_ids)",
        ));
    }
    let max_lease = req.system_view().max_lease_ttl().await?;
    if !token.token_period.is_zero() && token.token_period > max_lease {
        return Err(Error::bad_request(format!(
            "token period of {}s is greater than the backend's maximum lease TTL of {}s",
            token.token_period.as_secs(),
            max_lease.as_secs()
        )));
    }
    let role = Role {
        bound_subjects,
        bound_access_group_ids,
        token,
    };
    ROLES
        .save(req.storage(), &args.name.to_lowercase(), &role)
        .await?;
    let mut response = Response::empty();
    if !role.token.token_max_ttl.is_zero() && role.token.token_max_ttl > max_lease {
        response = response.warning(
            "max_ttl is greater than the system or backend mount's maximum TTL value; \
             issued tokens' max TTL value will be truncated",
        );
    }
    Ok(response)
}

/// Shows a role: its bindings and token settings.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let Some(role) = Role::load(&req, &name).await? else {
        return Err(Error::not_found(format!("no role {name:?}")));
    };
    let mut data = Map::new();
    data.insert("bound_subjects".into(), json!(role.bound_subjects));
    data.insert(
        "bound_access_group_ids".into(),
        json!(role.bound_access_group_ids),
    );
    role.token.write_to(&mut data);
    Ok(Response::with_data(data))
}

/// Deletes a role; its tokens can no longer be renewed.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    ROLES.delete(req.storage(), &name.to_lowercase()).await?;
    Ok(Response::empty())
}

/// The values in their order, each once.
fn without_repeats(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}
