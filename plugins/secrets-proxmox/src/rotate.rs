//! `config/rotate-root`: a new secret for the config token, known only to
//! Vault.
//!
//! Proxmox VE 9.1 added `regenerate=1` to `PUT /access/users/{userid}/token/{tokenid}`:
//! the token keeps its id and ACL entries and gets a new secret, which the
//! plugin stores. An older Proxmox refuses the unknown parameter, and the
//! stored config is left as it was.

use std::sync::Arc;

use vault_plugin_sdk::prelude::*;

use crate::State;
use crate::config::{CONFIG, Config};

/// Regenerates the config token's secret and stores the new one.
pub async fn rotate_root(state: Arc<State>, req: Request) -> Result<Response> {
    let mut config = Config::load(&req).await?;
    let pve = config.pve(&state)?;
    let secret = match pve.regenerate_own_token().await {
        Ok(secret) => secret,
        Err(e) if e.http_status() == Some(400) && e.excerpt().contains("regenerate") => {
            return Err(Error::bad_request(format!(
                "Proxmox cannot regenerate token {} (it answered 400 to regenerate=1): token \
                 regeneration needs Proxmox VE 9.1 or later; nothing changed",
                config.token()
            )));
        }
        Err(e) => {
            let doing = format!("regenerating the config token {}", config.token());
            return Err(pve.error(e, &doing, "User.Modify on its own user"));
        }
    };
    config.token_secret = Redacted::new(secret);
    CONFIG.save(req.storage(), &config).await?;
    tracing::info!(token = %config.token(), "rotated the config token's secret");
    Ok(Response::empty())
}
