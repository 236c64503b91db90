//! `config/rotate-root`: replace the config's API key with a new one that
//! only this plugin knows, without ever being left without a working key,
//! and without leaving a live key at IAM that nobody knows.
//!
//! In order:
//! 1. IAM describes the current key; its account must be the configured one;
//! 2. a WAL entry ([`PendingRootKey`]) names the key about to be created
//!    (`vault-root-<random>`, a name this plugin chose), its identity and
//!    the old key. It is written before anything exists at IAM, so a node
//!    that cannot write storage (a standby) stops here and the host
//!    forwards the request to the active node;
//! 3. IAM creates a key of that name for the same identity and account
//!    (`store_value: false`); the answer must name that identity and
//!    account;
//! 4. the new key is exchanged for a token, proving it works;
//! 5. the config is stored with the new key;
//! 6. the old key is deleted. If that fails, the new key stays (it is the
//!    one that works and is stored) and the answer warns with the old key's
//!    id, for the operator to delete by hand;
//! 7. the WAL entry is deleted.
//!
//! A refusal of the creation (a 4xx) created nothing: the WAL entry goes
//! ([`WalGuard::attempt`]) and the error says so. When the creation's
//! answer is lost (no answer in time, a broken connection, a 5xx) IAM may
//! have created the key all the same: the error says that the config is
//! unchanged and that a retry is safe, and the WAL entry stays. A failure
//! in 3 to 5 deletes the new key again (best effort) and leaves the config
//! as it was.
//!
//! The rollback ([`roll_back`]), run by the host's rollback tick for an entry
//! left behind (the plugin died, or the answer was lost), lists the
//! identity's keys at IAM and deletes the one of the entry's name unless
//! the config holds it; when the config does hold it (the plugin died after
//! step 5), it finishes step 6 instead. The answer is
//! `{"api_key_id": "<new key id>"}`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::framework::wal::{Refusal, WalGuard, WalKind};
use vault_plugin_sdk::{Error, Request, Response, Result, random};

use crate::State;
use crate::config::{CONFIG, Config};
use crate::iam::{Exchange, NewKey, ROOT_KEY_PREFIX};
use crate::link::Link;

/// A rotation under way: the key it creates (by name, chosen before the
/// creation), whose identity it belongs to, and the key it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRootKey {
    /// The new key's name at IAM.
    pub name: String,
    /// The identity the config's key belongs to.
    pub iam_id: String,
    /// That identity's account.
    pub account_id: String,
    /// The id of the key the new one replaces.
    pub old_key_id: String,
}

impl WalKind for PendingRootKey {
    const KIND: &'static str = "ibmcloud_root_key";
}

/// Rotates the config's API key.
pub async fn rotate_root(state: Arc<State>, req: Request) -> Result<Response> {
    let config = Config::require(&req).await?;
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
    let pending = PendingRootKey {
        name: new_key_name()?,
        iam_id: old.iam_id.clone(),
        account_id: old.account_id.clone(),
        old_key_id: old.id.clone(),
    };
    let wal = WalGuard::begin(req.storage(), &pending).await?;
    let created = link
        .iam
        .create_key(&admin, &pending.name, &old.iam_id, &old.account_id);
    let new = match wal.attempt(created).await {
        Ok(new) => new,
        // Nothing was created, and the entry is gone.
        Err(err) if err.is_refusal() => return Err(err.into()),
        Err(err) => {
            tracing::warn!(key_name = %pending.name, error = %err, "the answer to the API key creation was lost");
            return Err(Error::upstream(format!(
                "{err}. IBM Cloud IAM may have created the API key {:?} all the same: the \
                 config still holds the old key, that key (if it exists) is deleted within \
                 minutes, and config/rotate-root can be retried",
                pending.name
            )));
        }
    };
    if let Err(err) = adopt(&req, &link, &config, &old.iam_id, &new).await {
        match link.iam.delete_key(&admin, &new.details.id).await {
            Ok(()) => forget(wal).await,
            Err(cleanup) => {
                tracing::warn!(key_id = %new.details.id, error = %cleanup, "could not delete the unused new API key; the rollback will");
            }
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
    // The operator was told about the old key: the rotation is done.
    forget(wal).await;
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

/// Finishes a rotation the plugin did not see through: deletes the key of
/// the entry's name unless the config holds it, and deletes the old key
/// when it does. Repeating it changes nothing more.
///
/// # Errors
/// When IAM cannot be asked (the entry stays for the next tick).
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingRootKey) -> Result<()> {
    let Some(config) = CONFIG.load(req.storage()).await? else {
        tracing::warn!(key_name = %pending.name, "no config is stored to delete an unfinished root API key with: delete it in IBM Cloud by hand");
        return Ok(());
    };
    let link = state.links.for_config(config.clone())?;
    let admin = link.admin_token().await?;
    let current = link
        .iam
        .key_details(&admin, config.api_key.expose())
        .await?;
    let listed = link
        .iam
        .list_keys(&admin, &pending.account_id, &pending.iam_id)
        .await;
    let keys = match listed {
        Ok(keys) => keys,
        // The config now names another identity or account: its key may
        // not see these keys, and never will.
        Err(err) if err.is_refusal() => {
            tracing::warn!(key_name = %pending.name, error = %err, "cannot list the keys of an unfinished rotation: delete the key of that name in IBM Cloud by hand");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    let mut adopted = false;
    for key in keys.iter().filter(|k| k.name == pending.name) {
        if key.id == current.id {
            adopted = true;
            continue;
        }
        delete_unless_gone(&link, &admin, &key.id).await?;
        tracing::info!(key_id = %key.id, key_name = %pending.name, "deleted the API key of an unfinished rotation");
    }
    if adopted && pending.old_key_id != current.id {
        match link.iam.delete_key(&admin, &pending.old_key_id).await {
            Ok(()) => {
                tracing::info!(key_id = %pending.old_key_id, "deleted the old API key of a rotation");
            }
            Err(err) if err.status() == Some(404) => {}
            Err(err) if err.is_refusal() => {
                tracing::warn!(key_id = %pending.old_key_id, error = %err, "could not delete the old API key of a rotation: delete it in IBM Cloud by hand");
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Deletes key `id`; one that is gone already (404) counts as deleted.
async fn delete_unless_gone(link: &Link, admin: &str, id: &str) -> Result<()> {
    match link.iam.delete_key(admin, id).await {
        Err(err) if err.status() != Some(404) => Err(err.into()),
        _ => Ok(()),
    }
}

/// Deletes the WAL entry of a rotation that needs no rollback; a failure
/// only leaves the rollback a check that finds nothing to do.
async fn forget(wal: WalGuard<'_>) {
    if let Err(err) = wal.done().await {
        tracing::warn!(error = %err, "could not delete the WAL entry of a finished rotation");
    }
}

/// `vault-root-` and 16 random hex digits.
fn new_key_name() -> Result<String> {
    Ok(format!("{ROOT_KEY_PREFIX}{}", random::hex(8)?))
}
