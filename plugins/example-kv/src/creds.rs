//! `creds/<role>`: a dynamic secret. Each read creates a key upstream and
//! returns it with a lease; renewing extends the lease, revoking (or the
//! lease ending) deletes the key upstream.
//!
//! The creation is protected by a WAL entry ([`WalGuard`]): written before
//! the upstream call and deleted once the key is in the lease, or at once
//! when the upstream refused the call. If the plugin dies in between, or
//! the call failed otherwise, the periodic rollback finds the key by name
//! and deletes it, so no key outlives Vault's knowledge of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;

use crate::State;
use crate::config::Config;
use crate::roles::ROLES;

/// What the lease keeps to renew and revoke the key, even after the role
/// is deleted.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedKey {
    key_id: String,
    role: String,
    ttl: u64,
    max_ttl: u64,
}

impl SecretType for IssuedKey {
    const NAME: &'static str = "upstream_key";
}

/// What a rollback needs: the name of the key that may exist upstream.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingKey {
    key_name: String,
}

impl WalKind for PendingKey {
    const KIND: &'static str = "upstream_key";
}

/// The secret type with its renew and revoke.
pub fn secret() -> Secret<State, IssuedKey> {
    Secret::new(revoke).renew(renew)
}

/// Issues a key for the role in the path.
pub async fn issue(state: Arc<State>, req: Request, Name(role_name): Name) -> Result<Response> {
    let role = ROLES.require(req.storage(), &role_name).await?;
    let upstream = Config::load(&req).await?.upstream(&state)?;
    let max_ttl = match role.max_ttl {
        Duration::ZERO => req.system_view().max_lease_ttl().await?,
        max => max,
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let serial = state.issued.fetch_add(1, Ordering::Relaxed);
    let key_name = format!(
        "{}-{role_name}-{}-{serial}",
        role.key_prefix,
        now.as_millis()
    );

    let pending = PendingKey {
        key_name: key_name.clone(),
    };
    let pending = WalGuard::begin(req.storage(), &pending).await?;
    let expires = (now + max_ttl).as_secs();
    let key = pending.attempt(upstream.create(&key_name, expires)).await?;
    let resp = Response::secret(
        &json!({ "key_id": key.key.id, "key_name": key.key.name, "secret": key.secret }),
        &IssuedKey {
            key_id: key.key.id.clone(),
            role: role_name,
            ttl: role.ttl.as_secs(),
            max_ttl: role.max_ttl.as_secs(),
        },
    )?
    .ttl(role.ttl)
    .max_ttl(role.max_ttl);
    // The key is now in the lease: the host revokes it when the lease ends.
    pending.done().await?;
    Ok(resp)
}

async fn renew(_: Arc<State>, req: Request, internal: IssuedKey) -> Result<Response> {
    // The role's current limits when it still exists, else those at issue.
    let (ttl, max_ttl) = match ROLES.load(req.storage(), &internal.role).await? {
        Some(role) => (role.ttl, role.max_ttl),
        None => (
            Duration::from_secs(internal.ttl),
            Duration::from_secs(internal.max_ttl),
        ),
    };
    req.renew_secret(ttl, max_ttl).await
}

async fn revoke(state: Arc<State>, req: Request, internal: IssuedKey) -> Result<Response> {
    Config::load(&req)
        .await?
        .upstream(&state)?
        .delete(&internal.key_id)
        .await?;
    Ok(Response::empty())
}

/// Deletes the key a crashed request may have left upstream.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingKey) -> Result<()> {
    let upstream = Config::load(&req).await?.upstream(&state)?;
    for key in upstream.find(&pending.key_name).await? {
        upstream.delete(&key.id).await?;
    }
    Ok(())
}
