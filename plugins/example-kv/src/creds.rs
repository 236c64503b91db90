//! `creds/<role>`: a dynamic secret. Each read creates a key upstream and
//! returns it with a lease; renewing extends the lease, revoking (or the
//! lease ending) deletes the key upstream.
//!
//! The creation is protected by a WAL entry: written before the upstream
//! call and deleted once the key is in the lease. If the plugin dies in
//! between, the periodic rollback finds the key by name and deletes it, so
//! no key outlives Vault's knowledge of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::framework::Secret;
use vault_plugin_sdk::framework::wal::{delete_wal, put_wal};
use vault_plugin_sdk::{Error, Request, Response, Result};

use crate::State;
use crate::config::Config;
use crate::roles::Role;

/// The secret type of issued keys.
pub const SECRET_TYPE: &str = "upstream_key";

/// The WAL kind of a key being created.
pub const WAL_KIND: &str = "upstream_key";

/// What the lease keeps to renew and revoke the key, even after the role
/// is deleted.
#[derive(Debug, Serialize, Deserialize)]
struct Internal {
    key_id: String,
    role: String,
    ttl: u64,
    max_ttl: u64,
}

/// What a rollback needs: the name of the key that may exist upstream.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingKey {
    key_name: String,
}

/// The secret type with its renew and revoke.
pub fn secret() -> Secret<State> {
    Secret::new(SECRET_TYPE, revoke).renew(renew)
}

/// Issues a key for the role in the path.
pub async fn issue(state: Arc<State>, req: Request) -> Result<Response> {
    let role_name = req.param("name").unwrap_or_default().to_owned();
    let role = Role::load(&req, &role_name)
        .await?
        .ok_or_else(|| Error::bad_request(format!("no role {role_name:?}")))?;
    let upstream = Config::load(&req).await?.upstream(&state)?;
    let max_ttl = match role.max_ttl {
        0 => req.system_view().max_lease_ttl().await?,
        secs => Duration::from_secs(secs),
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

    let wal_id = put_wal(
        req.storage(),
        WAL_KIND,
        &PendingKey {
            key_name: key_name.clone(),
        },
    )
    .await?;
    let key = upstream
        .create(&key_name, (now + max_ttl).as_secs())
        .await?;
    let resp = Response::secret(
        SECRET_TYPE,
        &json!({ "key_id": key.key.id, "key_name": key.key.name, "secret": key.secret }),
        &Internal {
            key_id: key.key.id.clone(),
            role: role_name,
            ttl: role.ttl,
            max_ttl: role.max_ttl,
        },
    )?
    .ttl(Duration::from_secs(role.ttl))
    .max_ttl(Duration::from_secs(role.max_ttl));
    // The key is now in the lease: the host revokes it when the lease ends.
    delete_wal(req.storage(), &wal_id).await?;
    Ok(resp)
}

async fn renew(_: Arc<State>, req: Request) -> Result<Response> {
    let internal: Internal = req.secret_internal()?;
    // The role's current limits when it still exists, else those at issue.
    let (ttl, max_ttl) = match Role::load(&req, &internal.role).await? {
        Some(role) => (role.ttl, role.max_ttl),
        None => (internal.ttl, internal.max_ttl),
    };
    req.renew_secret(Duration::from_secs(ttl), Duration::from_secs(max_ttl))
        .await
}

async fn revoke(state: Arc<State>, req: Request) -> Result<Response> {
    let internal: Internal = req.secret_internal()?;
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
