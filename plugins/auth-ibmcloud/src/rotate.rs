//! `config/rotate-root`: replace the config's API key with a new one that
//! only this plugin knows, without ever being left without a working key.
//!
//! In order:
//! 1. the config is written back unchanged, so a node that cannot write
//!    storage (a standby) stops here, before anything exists at IAM, and
//!    the host forwards the request to the active node;
//! 2. IAM describes the current key; its account must be the configured one;
//! 3. IAM creates a key for the same identity and account
//!    (`vault-generated-root-credential`, `store_value: false`); the answer
//!    must name that identity and account;
//! 4. the new key is exchanged for a token, proving it works;
//! 5. the config is stored with the new key;
//! 6. the old key is deleted. If that fails, the new key stays (it is the
//!    one that works and is stored) and the answer warns with the old key's
//!    id, for the operator to delete by hand.
//!
//! A failure in 3 to 5 deletes the new key again (best effort) and leaves
//! the config as it was. The answer is `{"api_key_id": "<new key id>"}`.

use std::sync::Arc;

use serde_json::json;
use vault_plugin_sdk::{Error, Request, Response, Result};

use crate::State;
use crate::config::Config;
use crate::iam::{Exchange, NewKey};
use crate::link::Link;

/// Rotates the config's API key.
pub async fn rotate_root(state: Arc<State>, req: Request) -> Result<Response> {
    let config = Config::require(&req).await?;
    config.save(&req).await?;
    let link = state.links.for_config(config.clone())?;
    let admin = link.admin_token().await?;
    let old = link
        .iam
        .key_details(&admin, config.api_key.expose())
        .await?;
    if old.account_id != config.account_id {
        return Err(Error::bad_request(format!(
            "the configured api_key belongs to account {:?}, not to the configured account {:?}: \
             not rotating",
            old.account_id, config.account_id
        )));
    }
    let new = link
        .iam
        .create_key(&admin, &old.iam_id, &old.account_id)
        .await?;
    if let Err(err) = adopt(&req, &link, &config, &old.iam_id, &new).await {
        if let Err(cleanup) = link.iam.delete_key(&admin, &new.details.id).await {
            tracing::warn!(key_id = %new.details.id, error = %cleanup, "could not delete the unused new API key");
        }
        return Err(err);
    }
    state.links.reset();
    tracing::info!(old_key_id = %old.id, new_key_id = %new.details.id, "rotated the root API key");

    let mut response = Response::json(&json!({ "api_key_id": new.details.id }))?;
    let new_link = state.links.get(&req).await?;
    let deleted = match new_link.admin_token().await {
        Ok(token) => new_link
            .iam
            .delete_key(&token, &old.id)
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    if let Err(err) = deleted {
        tracing::warn!(old_key_id = %old.id, error = %err, "could not delete the old API key");
        response = response.warning(format!(
            "the new API key {} is stored and in use, but deleting the old API key {} failed \
             ({err}): delete it in IBM Cloud by hand",
            new.details.id, old.id
        ));
    }
    Ok(response)
}

/// Checks the new key and stores it in the config.
async fn adopt(
    req: &Request,
    link: &Link,
    config: &Config,
    iam_id: &str,
    new: &NewKey,
) -> Result<()> {
    if new.details.iam_id != iam_id || new.details.account_id != config.account_id {
        return Err(Error::upstream(format!(
            "IBM Cloud IAM created API key {} for another identity or account: not using it",
            new.details.id
        )));
    }
    match link.iam.exchange(new.apikey.expose()).await? {
        Exchange::Granted(_) => {}
        Exchange::Refused(code) => {
            return Err(Error::upstream(format!(
                "IBM Cloud IAM refused the new API key {} ({code}): not using it",
                new.details.id
            )));
        }
    }
    let rotated = Config {
        api_key: new.apikey.clone(),
        ..config.clone()
    };
    rotated.save(req).await
}
