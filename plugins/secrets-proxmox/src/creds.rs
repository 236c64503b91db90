//! `creds/<role>`: a Proxmox API token with a lease.
//!
//! Each read creates token `<role>-<random hex>` (the role's name made a
//! valid token id, after a `v` if it does not start with a letter) of the
//! role's user, which Proxmox expires by itself at the lease's effective
//! max TTL (`expire`), so no token outlives its lease even if a revoke is
//! lost. With the role's `acls`, the token is privilege-separated and gets
//! those ACL entries right after creation; if that fails the token is
//! deleted and the read fails. The read returns `token_id`, `token_id_full`
//! (`user@realm!token_id`, what the `PVEAPIToken` header starts with) and
//! `secret`.
//!
//! A WAL entry, written before the token is created (so a standby stops at
//! its read-only storage before anything exists upstream) and deleted once
//! the lease exists, covers a crash in between: its rollback deletes the
//! token. The lease keeps the user id and token id, not the role's
//! settings, so revoking works after the role is deleted or changed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::random;

use crate::State;
use crate::config::Config;
use crate::roles::ROLES;

/// A token that exists (or may exist) in Proxmox: what a lease and a WAL
/// entry keep to delete it. No secret.
#[derive(Debug, Serialize, Deserialize)]
pub struct Token {
    /// `user@realm`.
    userid: String,
    /// The token's id, without `user@realm!`.
    token_id: String,
    /// The role it was minted for.
    role: String,
    /// The role's ttl at issue (seconds), for renewals after the role is gone.
    ttl: u64,
    /// When Proxmox expires the token (seconds since 1970).
    expire: u64,
}

impl SecretType for Token {
    const NAME: &'static str = "proxmox_api_token";
}

/// The WAL entry of a token being minted: the same data as its lease.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingToken(Token);

impl WalKind for PendingToken {
    const KIND: &'static str = "proxmox_api_token";
}

/// The secret type with its renew and revoke.
pub fn secret() -> Secret<State, Token> {
    Secret::new(revoke).renew(renew)
}

/// Mints a token for the role in the path.
pub async fn issue(state: Arc<State>, req: Request, Name(role_name): Name) -> Result<Response> {
    let role = ROLES.require(req.storage(), &role_name).await?;
    let config = Config::load(&req).await?;
    let pve = config.pve(&state)?;
    let now = SystemTime::now();
    let expire = secs(now + role.effective_max_ttl(&req).await?);
    let pending = PendingToken(Token {
        userid: role.userid(),
        token_id: token_id(&role_name)?,
        role: role_name.clone(),
        ttl: role.ttl.as_secs(),
        expire,
    });
    // A refusal created nothing; after any other failure the token may
    // exist, the entry stays and the rollback deletes it.
    let wal = WalGuard::begin(req.storage(), &pending).await?;
    let PendingToken(token) = pending;
    let full_id = format!("{}!{}", token.userid, token.token_id);

    let created = pve.create_token(
        &token.userid,
        &token.token_id,
        &role.comment,
        expire,
        role.privsep,
    );
    let secret = wal.attempt(created).await.map_err(|err| {
        let doing = format!(
            "creating a token of {} for role {role_name:?}",
            token.userid
        );
        pve.error(
            err,
            &doing,
            "User.Modify on the user's group (or /access/groups)",
        )
    })?;
    for acl in &role.acls.0 {
        if let Err(err) = pve.grant(acl, &full_id).await {
            let doing = format!("granting token {full_id} the ACL entry on {}", acl.path);
            let privilege = format!(
                "Permissions.Modify (or the roles {}) on {}",
                acl.roles.join(","),
                acl.path
            );
            let err = pve.error(err, &doing, &privilege);
            // No half-made credential: the token goes, and so does the WAL
            // entry once it is gone (otherwise the rollback retries).
            match pve.delete_token(&token.userid, &token.token_id).await {
                Ok(_) => wal.done().await?,
                Err(e) => {
                    tracing::warn!(token = %full_id, error = %e, "could not delete the token; the WAL rollback will")
                }
            }
            return Err(err);
        }
    }
    let resp = Response::secret(
        &json!({
            "token_id": token.token_id,
            "token_id_full": full_id,
            "secret": secret,
        }),
        &token,
    )?
    .ttl(role.ttl)
    .max_ttl(role.max_ttl);
    wal.done().await?;
    tracing::info!(role = %role_name, token = %full_id, expire, "minted a Proxmox API token");
    Ok(resp)
}

/// Extends the lease with the role's current ttl (the one at issue when the
/// role is gone), never past the token's expiry in Proxmox.
async fn renew(_: Arc<State>, req: Request, token: Token) -> Result<Response> {
    let ttl = match ROLES.load(req.storage(), &token.role).await? {
        Some(role) => role.ttl,
        None => Duration::from_secs(token.ttl),
    };
    let ends = SystemTime::UNIX_EPOCH + Duration::from_secs(token.expire);
    let issued = req.secret.as_ref().and_then(|s| s.lease.issue_time);
    match issued.and_then(|t| ends.duration_since(t).ok()) {
        Some(lifetime) if SystemTime::now() < ends => req.renew_secret(ttl, lifetime).await,
        _ => Err(Error::bad_request(format!(
            "token {}!{} has expired in Proxmox; it cannot be renewed",
            token.userid, token.token_id
        ))),
    }
}

/// Deletes the token; one Proxmox no longer has counts as revoked.
async fn revoke(state: Arc<State>, req: Request, token: Token) -> Result<Response> {
    delete(&state, &req, &token).await?;
    Ok(Response::empty())
}

/// Deletes the token an interrupted mint may have left in Proxmox.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingToken) -> Result<()> {
    delete(&state, &req, &pending.0).await
}

async fn delete(state: &State, req: &Request, token: &Token) -> Result<()> {
    let pve = Config::load(req).await?.pve(state)?;
    let full_id = format!("{}!{}", token.userid, token.token_id);
    match pve.delete_token(&token.userid, &token.token_id).await {
        Ok(true) => tracing::info!(token = %full_id, "deleted a Proxmox API token"),
        Ok(false) => tracing::info!(token = %full_id, "the Proxmox API token was already gone"),
        Err(err) => {
            let doing = format!("deleting token {full_id}");
            return Err(pve.error(
                err,
                &doing,
                "User.Modify on the user's group (or /access/groups)",
            ));
        }
    }
    Ok(())
}

/// A token id unique per lease that starts with a letter and names the
/// role: `<role>-<16 hex digits>`, other characters made `_`.
fn token_id(role: &str) -> Result<String> {
    let random = random::hex(8)?;
    let role: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let start = if role.starts_with(|c: char| c.is_ascii_alphabetic()) {
        ""
    } else {
        "v"
    };
    Ok(format!("{start}{role}-{random}"))
}

/// Seconds since 1970.
fn secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
