//! `creds/<role>`: a balena API key with a lease.
//!
//! Each read mints a key for the role's balena user
//! (`POST /api-key/user/full`) under a unique name,
//! `<key_name_prefix>-<role>-<unix ms>-<random hex>`, that balena itself
//! deletes at the lease's effective max TTL (`expiryDate`), so no key can
//! outlive its lease even if revocation never happens. The key's numeric id
//! is then looked up by that name, and the read returns:
//!
//! | field | value |
//! |---|---|
//! | `token` | the API key (use as `Authorization: Bearer <token>`) |
//! | `token_id` | balena's numeric id of the key, as a decimal string |
//! | `key_name` | the key's name at balena |
//! | `key_desc` | the key's description |
//!
//! with a lease of the role's `ttl` and `max_ttl` (secret type
//! `balena_api_key`). Renewing extends the lease within the max TTL, never
//! past the key's expiry at balena. Revoking deletes the key *by id*
//! (`DELETE /v7/api_key(<id>)`); a key that is already gone counts as
//! deleted. The lease keeps no secret: only the id, the name, the role, the
//! balena user id and the key's expiry (see [`crate::session`] for which
//! session token a revoke uses).
//!
//! A WAL entry, written before minting and deleted once the key's id is in
//! the lease, covers a crash or a failure in between: its rollback looks the
//! key up by name and deletes it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::random;

use crate::State;
use crate::client::{ApiError, Deleted, format_time};
use crate::config::Config;
use crate::roles::ROLES;
use crate::session::{Session, api_error, secs};

/// What the lease keeps to renew and revoke the key: no secret.
#[derive(Debug, Serialize, Deserialize)]
pub struct MintedKey {
    /// balena's id of the key.
    key_id: u64,
    /// The key's name at balena.
    key_name: String,
    /// The role it was minted for.
    role: String,
    /// balena's id of the user it belongs to.
    user_id: u64,
    /// The role's ttl and max_ttl at issue (seconds), for renewals after
    /// the role is deleted.
    ttl: u64,
    max_ttl: u64,
    /// When balena deletes the key by itself (seconds since 1970).
    expires_at: u64,
}

impl SecretType for MintedKey {
    const NAME: &'static str = "balena_api_key";
}

/// What a rollback needs: the name of a key that may exist at balena, and
/// whose session can delete it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingKey {
    key_name: String,
    role: String,
    user_id: u64,
    /// When balena deletes the key by itself (seconds since 1970).
    expires_at: u64,
}

impl WalKind for PendingKey {
    const KIND: &'static str = "balena_api_key";
}

/// The secret type with its renew and revoke.
pub fn secret() -> Secret<State, MintedKey> {
    Secret::new(revoke).renew(renew)
}

/// Mints a key for the role in the path.
pub async fn issue(state: Arc<State>, req: Request, Name(role_name): Name) -> Result<Response> {
    let role = ROLES.require(req.storage(), &role_name).await?;
    let balena = Config::load(&req).await?.balena(&state)?;
    let now = SystemTime::now();
    let expires_at = now + role.effective_max_ttl(&req).await?;
    let millis = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let key_name = format!(
        "{}-{role_name}-{millis}-{}",
        role.key_name_prefix,
        random::hex(4)?
    );
    let pending = PendingKey {
        key_name: key_name.clone(),
        role: role_name.clone(),
        user_id: role.login.user_id,
        expires_at: secs(expires_at),
    };
    let wal = WalGuard::begin(req.storage(), &pending).await?;

    let mut session = Session::of_role(&role_name, role.login.clone());
    let description = role.key_description.as_str();
    let first = balena
        .create_key(session.token(), &key_name, description, expires_at)
        .await;
    let minted = match session.renewed_for(&first, &balena, req.storage()).await {
        // Refused for an old login: again with a fresh one.
        Ok(true) => {
            balena
                .create_key(session.token(), &key_name, description, expires_at)
                .await
        }
        Ok(false) => first,
        Err(err) => {
            // balena refused the mint and no fresh login could be had.
            wal.done().await?;
            return Err(err);
        }
    };
    // A refusal created nothing; otherwise the rollback finds out.
    let key = wal
        .attempt(std::future::ready(minted))
        .await
        .map_err(|err| api_error(&role_name, "minting an API key", err))?;
    // From here on the key exists: on failure the WAL entry stays, and the
    // rollback deletes the key.
    let found = balena
        .find_keys(session.token(), &key_name)
        .await
        .map_err(|e| api_error(&role_name, "looking up the new API key", e))?;
    let Some(key_id) = found.first().map(|k| k.id) else {
        return Err(Error::upstream(format!(
            "balena minted API key {key_name:?} for role {role_name:?} but does not list it; \
             it will be deleted"
        )));
    };
    let resp = Response::secret(
        &json!({
            "token": key,
            "token_id": key_id.to_string(),
            "key_name": key_name,
            "key_desc": role.key_description,
        }),
        &MintedKey {
            key_id,
            key_name: key_name.clone(),
            role: role_name.clone(),
            user_id: role.login.user_id,
            ttl: role.ttl.as_secs(),
            max_ttl: role.max_ttl.as_secs(),
            expires_at: pending.expires_at,
        },
    )?
    .ttl(role.ttl)
    .max_ttl(role.max_ttl);
    // The key is in the lease now: the host revokes it when the lease ends.
    wal.done().await?;
    tracing::info!(role = %role_name, key_id, key_name = %key_name, "minted a balena API key");
    Ok(resp)
}

/// Extends the lease: the role's current TTLs (those at issue when the role
/// is gone), never past the key's expiry at balena.
async fn renew(_: Arc<State>, req: Request, internal: MintedKey) -> Result<Response> {
    let (ttl, role_max) = match ROLES.load(req.storage(), &internal.role).await? {
        Some(role) => (role.ttl, role.max_ttl),
        None => (
            Duration::from_secs(internal.ttl),
            Duration::from_secs(internal.max_ttl),
        ),
    };
    let key_ends = SystemTime::UNIX_EPOCH + Duration::from_secs(internal.expires_at);
    if SystemTime::now() >= key_ends {
        return Err(Error::bad_request(format!(
            "API key {} expired at balena at {}; it cannot be renewed",
            internal.key_id,
            format_time(key_ends, false)
        )));
    }
    // The key's whole life, counted like the lease's max TTL from its issue.
    let issued = req.secret.as_ref().and_then(|s| s.lease.issue_time);
    let lifetime = issued.and_then(|t| key_ends.duration_since(t).ok());
    let max_ttl = match (role_max, lifetime) {
        (max, Some(life)) if max.is_zero() => life,
        (max, Some(life)) => max.min(life),
        (max, None) => max,
    };
    req.renew_secret(ttl, max_ttl).await
}

/// Deletes the key by its id. Already gone is success; so is a key that
/// balena has expired by itself when no working session is left.
async fn revoke(state: Arc<State>, req: Request, internal: MintedKey) -> Result<Response> {
    let expired = secs(SystemTime::now()) >= internal.expires_at;
    let balena = Config::load(&req).await?.balena(&state)?;
    let Some(mut session) =
        Session::for_keys_of(req.storage(), &internal.role, internal.user_id).await?
    else {
        if expired {
            tracing::info!(role = %internal.role, key_id = internal.key_id, "no session left, but the key has expired at balena");
            return Ok(Response::empty());
        }
        return Err(no_session(
            &internal.role,
            internal.user_id,
            internal.key_id,
        ));
    };
    let key_id = internal.key_id;
    let mut deleted = balena.delete_key(session.token(), key_id).await;
    if session
        .renewed_for(&deleted, &balena, req.storage())
        .await?
    {
        deleted = balena.delete_key(session.token(), key_id).await;
    }
    match deleted {
        Ok(Deleted::Now) => {
            tracing::info!(role = %internal.role, key_id, "deleted a balena API key");
        }
        Ok(Deleted::AlreadyGone) => {
            tracing::info!(role = %internal.role, key_id, "the balena API key was already gone");
        }
        Err(ApiError::Unauthorized) if expired => {
            tracing::info!(role = %internal.role, key_id, "the session is dead, but the key has expired at balena");
        }
        Err(err) => {
            return Err(api_error(
                &internal.role,
                &format!("deleting API key {key_id}"),
                err,
            ));
        }
    }
    Ok(Response::empty())
}

/// Deletes the key a failed or interrupted mint may have left at balena.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingKey) -> Result<()> {
    let expired = secs(SystemTime::now()) >= pending.expires_at;
    let config = match Config::load(&req).await {
        Ok(config) => config,
        Err(_) if expired => return Ok(()),
        Err(err) => return Err(err),
    };
    let balena = config.balena(&state)?;
    let Some(mut session) =
        Session::for_keys_of(req.storage(), &pending.role, pending.user_id).await?
    else {
        if expired {
            return Ok(());
        }
        return Err(no_session(&pending.role, pending.user_id, 0));
    };
    let found = balena.find_keys(session.token(), &pending.key_name).await;
    let keys = match found {
        Ok(keys) => keys,
        Err(ApiError::Unauthorized) if expired => return Ok(()),
        Err(err) => {
            return Err(api_error(
                &pending.role,
                "looking up an unfinished API key",
                err,
            ));
        }
    };
    for key in keys {
        let id = key.id;
        let mut deleted = balena.delete_key(session.token(), id).await;
        if session
            .renewed_for(&deleted, &balena, req.storage())
            .await?
        {
            deleted = balena.delete_key(session.token(), id).await;
        }
        deleted.map_err(|e| api_error(&pending.role, &format!("deleting API key {id}"), e))?;
        tracing::info!(role = %pending.role, key_id = id, "deleted the API key of an unfinished mint");
    }
    Ok(())
}

/// The error when no stored session of the key's user is left.
fn no_session(role: &str, user_id: u64, key_id: u64) -> Error {
    let key = if key_id == 0 {
        "the API key".to_owned()
    } else {
        format!("API key {key_id}")
    };
    Error::internal(format!(
        "no session token of balena user {user_id} is stored for role {role:?} (the role was \
         deleted long ago, or rewritten with another user's token) to delete {key} with: write \
         role/{role} again with a session token of that user"
    ))
}
