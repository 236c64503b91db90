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

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;

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
    let role = ROLES
        .load(req.storage(), &role_name)
        .await?
        .ok_or_else(|| Error::bad_request(format!("no role {role_name:?}")))?;
    let api = Config::load(&req).await?.api(&state)?;
    let name = format!("{}-{role_name}-{}", role.name_prefix, random_hex()?);

    let wal_id = put_wal(req.storage(), &PendingToken { name: name.clone() }).await?;
    let token = match api.create(&name, &role.scopes).await {
        Ok(token) => token,
        Err(e) => {
            // A refusal (4xx) created nothing. After any other failure the
            // token may exist; the entry stays and the rollback deletes it.
            if e.is_refusal() {
                delete_wal(req.storage(), &wal_id).await?;
            }
            return Err(e.into());
        }
    };
    let lease = IssuedToken {
        name: name.clone(),
        ttl: role.ttl,
        max_ttl: role.max_ttl,
    };
    let resp = Response::secret(&json!({ "name": name, "token": token }), &lease)?
        .ttl(role.ttl)
        .max_ttl(role.max_ttl);
    // The lease owns the token now: the host revokes it when the lease ends.
    delete_wal(req.storage(), &wal_id).await?;
    tracing::info!(role = %role_name, token = %name, "issued a token");
    Ok(resp)
}

/// Extends the lease within the TTLs the token was issued with.
async fn renew(_: Arc<State>, req: Request, token: IssuedToken) -> Result<Response> {
    req.renew_secret(token.ttl, token.max_ttl).await
}

/// Deletes the token upstream (the host calls this when the lease ends).
async fn revoke(state: Arc<State>, req: Request, token: IssuedToken) -> Result<Response> {
    Config::load(&req)
        .await?
        .api(&state)?
        .delete(&token.name)
        .await?;
    tracing::info!(token = %token.name, "revoked a token");
    Ok(Response::empty())
}

/// Deletes the token an interrupted issue may have left upstream.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingToken) -> Result<()> {
    Config::load(&req)
        .await?
        .api(&state)?
        .delete(&pending.name)
        .await?;
    tracing::info!(token = %pending.name, "rolled back a token without a lease");
    Ok(())
}

/// 16 random hex digits, to make token names unique.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal("no randomness available for a token name"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
