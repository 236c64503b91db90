//! `creds/<role>`: a new token of the role's scopes, with a lease.
//!
//! Issuing writes a WAL entry naming the token *before* creating it, and
//! deletes the entry once the token is in the lease. Storage first has two
//! benefits: on a standby (read-only storage) the request stops before
//! anything exists upstream, and if the plugin dies between the create and
//! the lease, the periodic rollback finds the entry and deletes the token,
//! so no token outlives Vault's knowledge of it.
//!
//! The lease keeps the token's name (not its secret) and the TTLs it was
//! issued with, so renew and revoke work after the role is changed or
//! deleted. Revoking deletes the token upstream.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::random;

use crate::State;
use crate::config::Config;
use crate::roles::ROLES;

/// What the host keeps with each lease and hands back on renew and revoke.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The token's name at the token API.
    name: String,
    /// The role's TTLs when the token was issued.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    ttl: Duration,
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    max_ttl: Duration,
}

impl SecretType for IssuedToken {
    /// Stored with every lease: never change it once leases exist.
    const NAME: &'static str = "token_api_token";
}

/// A WAL entry: a token that may exist upstream without a lease yet.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingToken {
    name: String,
}

impl WalKind for PendingToken {
    /// Stored with every entry: never change it while entries may exist.
    const KIND: &'static str = "token_api_token";
}

/// The secret type: leases of [`IssuedToken`] renew and revoke here.
pub fn secret() -> Secret<State, IssuedToken> {
    Secret::new(revoke).renew(renew)
}

/// Issues a token for the role in the path.
pub async fn issue(state: Arc<State>, req: Request, Name(role_name): Name) -> Result<Response> {
    let role = ROLES.require(req.storage(), &role_name).await?;
    let api = Config::load(&req).await?.api(&state)?;
    let name = format!("{}-{role_name}-{}", role.name_prefix, random::hex(8)?);

    // After a failure other than a refusal the token may exist: the entry
    // stays and the rollback deletes it.
    let pending = WalGuard::begin(req.storage(), &PendingToken { name: name.clone() }).await?;
    let token = pending.attempt(api.create(&name, &role.scopes)).await?;
    let lease = IssuedToken {
        name: name.clone(),
        ttl: role.ttl,
        max_ttl: role.max_ttl,
    };
    let resp = Response::secret(&json!({ "name": name, "token": token }), &lease)?
        .ttl(role.ttl)
        .max_ttl(role.max_ttl);
    // The lease owns the token now: the host revokes it when the lease ends.
    pending.done().await?;
    tracing::info!(role = %role_name, token = %name, "issued a token");
    Ok(resp)
}

/// Extends the lease within the TTLs the token was issued with.
async fn renew(_: Arc<State>, req: Request, token: IssuedToken) -> Result<Response> {
    req.renew_secret(token.ttl, token.max_ttl).await
}

/// Deletes the token upstream (the host calls this when the lease ends).
async fn revoke(state: Arc<State>, req: Request, token: IssuedToken) -> Result<Response> {
    delete(&state, &req, &token.name).await?;
    Ok(Response::empty())
}

/// Deletes the token an interrupted issue may have left upstream.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingToken) -> Result<()> {
    delete(&state, &req, &pending.name).await
}

/// Deletes token `name` at the token API (a token already gone counts).
async fn delete(state: &State, req: &Request, name: &str) -> Result<()> {
    Config::load(req).await?.api(state)?.delete(name).await?;
    tracing::info!(token = %name, "deleted a token");
    Ok(())
}
