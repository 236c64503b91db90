//! `users/<name>` and `users/`: the people who may log in, each with a
//! password, group aliases, metadata and the settings of their tokens.
//!
//! Names are case-insensitive (stored in lower case), as in Vault's userpass.
//! A write keeps what it does not send, so changing a user's policies does
//! not need their password again; creating a user does. Reads never show the
//! password or its hash.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use vault_plugin_sdk::framework::fields::Name;
use vault_plugin_sdk::framework::{TokenFields, TokenParams};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result, blocking};

use crate::State;
use crate::password::PasswordHash;

const PREFIX: &str = "user/";

/// The metadata key every login sets itself.
pub const USERNAME_KEY: &str = "username";

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The hash of the user's password.
    pub password_hash: PasswordHash,
    /// Names of the identity group aliases the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Facts about the user, copied onto their tokens.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// How the user's tokens are made.
    #[serde(default)]
    pub token: TokenParams,
}

impl User {
    /// The user called `name` (any case), if they exist.
    pub async fn load(req: &Request, name: &str) -> Result<Option<User>> {
        req.storage().get_json(&key(name)).await
    }
}

/// The storage key of a user.
fn key(name: &str) -> String {
    format!("{PREFIX}{}", name.to_lowercase())
}

/// Arguments of a user write; what is not sent is kept.
#[derive(Fields)]
pub struct UserArgs {
    /// Name of the user (case-insensitive).
    #[field(path)]
    name: String,
    /// The user's password; required when the user is created.
    #[field(secret)]
    password: Option<String>,
    /// Comma-separated list or JSON array of the identity group aliases the
    /// user belongs to.
    groups: Option<Vec<String>>,
    /// Facts about the user put on their tokens: "key=value" pairs (repeat
    /// the flag) or a JSON object.
    metadata: Option<HashMap<String, String>>,
    /// The standard token settings.
    #[field(flatten)]
    token: TokenFields,
}

/// Arguments of a password change.
#[derive(Fields)]
pub struct PasswordArgs {
    /// Name of the user (case-insensitive).
    #[field(path)]
    name: String,
    /// The new password.
    #[field(required, secret)]
    password: String,
}

/// Whether the user exists.
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    Ok(req.storage().get(&key(&name)).await?.is_some())
}

/// Creates or updates a user. Everything is checked before anything is
/// stored: a refused write leaves the user as it was.
pub async fn write(_: Arc<State>, req: Request, args: UserArgs) -> Result<Response> {
    let old = User::load(&req, &args.name).await?;
    let mut token = old.as_ref().map(|u| u.token.clone()).unwrap_or_default();
    token.update(&args.token)?;
    let groups = match args.groups {
        Some(groups) => without_repeats(groups),
        None => old.as_ref().map(|u| u.groups.clone()).unwrap_or_default(),
    };
    let metadata = match args.metadata {
        Some(metadata) => checked_metadata(metadata)?,
        None => old.as_ref().map(|u| u.metadata.clone()).unwrap_or_default(),
    };
    let password_hash = match (args.password, old) {
        (Some(password), _) => hash(checked_password(&password)?).await?,
        (None, Some(old)) => old.password_hash,
        (None, None) => {
            return Err(Error::bad_request(
                "a password is required when creating a user",
            ));
        }
    };
    let user = User {
        password_hash,
        groups,
        metadata,
        token,
    };
    req.storage().put_json(&key(&args.name), &user).await?;
    Ok(Response::empty())
}

/// Changes the password of an existing user, keeping everything else.
pub async fn write_password(_: Arc<State>, req: Request, args: PasswordArgs) -> Result<Response> {
    let Some(mut user) = User::load(&req, &args.name).await? else {
        return Err(Error::bad_request(format!("no user {:?}", args.name)));
    };
    user.password_hash = hash(checked_password(&args.password)?).await?;
    req.storage().put_json(&key(&args.name), &user).await?;
    Ok(Response::empty())
}

/// Shows a user: groups, metadata and token settings, never the password.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let Some(user) = User::load(&req, &name).await? else {
        return Err(Error::not_found(format!("no user {name:?}")));
    };
    let mut data = Map::new();
    data.insert("groups".into(), json!(user.groups));
    data.insert("metadata".into(), json!(user.metadata));
    user.token.write_to(&mut data);
    Ok(Response::with_data(data))
}

/// Deletes a user; their tokens can no longer be renewed.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    req.storage().delete(&key(&name)).await?;
    Ok(Response::empty())
}

/// Lists the users.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(req.storage().list(PREFIX).await?))
}

fn checked_password(password: &str) -> Result<&str> {
    if password.is_empty() {
        return Err(Error::bad_request("the password cannot be empty"));
    }
    Ok(password)
}

/// The names in their order, each once (the decoder already trimmed them
/// and dropped empty ones).
fn without_repeats(groups: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(groups.len());
    for group in groups {
        if !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

/// Refuses the key every login sets itself.
fn checked_metadata(metadata: HashMap<String, String>) -> Result<BTreeMap<String, String>> {
    if metadata.contains_key(USERNAME_KEY) {
        return Err(Error::bad_request(format!(
            "metadata key {USERNAME_KEY:?} is reserved: logins set it to the user's name"
        )));
    }
    Ok(metadata.into_iter().collect())
}

#[cfg(test)]
pub(crate) fn storage_key(name: &str) -> String {
    key(name)
}

/// Hashes `password` off the runtime thread (it is slow on purpose).
async fn hash(password: &str) -> Result<PasswordHash> {
    let password = password.to_owned();
    blocking::run(move || PasswordHash::new(&password)).await?
}
