//! `config/rotate-root`: makes pachd's root token one that only Vault knows.
//!
//! Only when the admin token is the root token (`WhoAmI` says `pach:root`):
//! `RotateRootToken` replaces every token of `pach:root`, so rotating with
//! any other admin token would take root away from whoever holds it.
//!
//! The steps: the plugin makes a new token (32 random hex digits, pachd's
//! form) and stores it in the config as pending *before* pachd is asked;
//! pachd replaces the root token; the new token becomes the admin token.
//! When pachd's answer is lost (a timeout, a cut connection), the outcome is
//! unknown, so the plugin asks pachd whom the new token belongs to: if it
//! is root, it is adopted; if pachd does not know it, the rotation did not
//! happen. If pachd cannot tell either, the pending token stays, and the
//! next `config/rotate-root` first finishes that check. No token is ever
//! returned.

use std::sync::Arc;

use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::framework::wal::Refusal;
use vault_plugin_sdk::{Error, Request, Response, Result};

use crate::config::Config;
use crate::pachd::{Pachd, PachdError};
use crate::{State, token};

/// The subject of pachd's root user.
const ROOT_SUBJECT: &str = "pach:root";

/// What a check of a new root token found.
enum Taken {
    /// pachd's root token is the new one.
    Yes,
    /// pachd does not know the new token: no rotation happened.
    No,
}

/// Rotates the root token.
pub async fn rotate_root(state: Arc<State>, req: Request) -> Result<Response> {
    let mut config = Config::load(&req).await?;
    let pachd = config.pachd(&state)?;
    if let Some(pending) = config.pending_root_token.clone() {
        let taken = taken(&pachd, pending.expose()).await.map_err(|e| {
            Error::upstream(format!("checking an interrupted root token rotation: {e}"))
        })?;
        if let Taken::Yes = taken {
            adopt(&mut config, pending);
            config.store(&req).await?;
            tracing::info!("finished an interrupted root token rotation");
            return Ok(Response::empty().warning(
                "an earlier rotation had reached pachd without being stored; it is finished now",
            ));
        }
        config.pending_root_token = None;
    }
    let who = pachd
        .who_am_i(config.admin_token())
        .await
        .map_err(|e| Error::upstream(format!("checking the admin token: {e}")))?;
    if who.subject != ROOT_SUBJECT {
        return Err(Error::bad_request(format!(
            "the admin token belongs to {}, not {ROOT_SUBJECT}: only a mount that holds pachd's \
             root token can rotate it (RotateRootToken replaces {ROOT_SUBJECT}'s token)",
            who.subject
        )));
    }
    let new_token = token::random()?;
    config.pending_root_token = Some(new_token.clone());
    config.store(&req).await?;

    let rotated = match pachd
        .rotate_root_token(config.admin_token(), new_token.expose())
        .await
    {
        Ok(()) => Ok(()),
        Err(err) if err.is_refusal() => Err(err),
        // No answer, or an unclear one: ask pachd about the new token.
        Err(err) => match taken(&pachd, new_token.expose()).await {
            Ok(Taken::Yes) => Ok(()),
            Ok(Taken::No) => Err(err),
            Err(_) => {
                return Err(Error::upstream(format!(
                    "rotating the root token: {err}; whether pachd took the new token is \
                     unknown: run config/rotate-root again once pachd answers (it checks the \
                     new token first)"
                )));
            }
        },
    };
    match rotated {
        Ok(()) => {
            adopt(&mut config, new_token);
            config.store(&req).await?;
            tracing::info!("rotated pachd's root token");
            Ok(Response::empty())
        }
        Err(err) => {
            config.pending_root_token = None;
            config.store(&req).await?;
            Err(Error::upstream(format!("rotating the root token: {err}")))
        }
    }
}

/// Whether `token` is pachd's root token now.
async fn taken(pachd: &Pachd, token: &str) -> Result<Taken, PachdError> {
    match pachd.who_am_i(token).await {
        Ok(who) if who.subject == ROOT_SUBJECT => Ok(Taken::Yes),
        Ok(_) | Err(PachdError::Unauthenticated) => Ok(Taken::No),
        Err(err) => Err(err),
    }
}

/// Makes `token` the admin token.
fn adopt(config: &mut Config, token: Redacted<String>) {
    config.admin_token = token;
    config.pending_root_token = None;
    config.admin_subject = ROOT_SUBJECT.to_owned();
    config.admin_token_expires_at = None;
}
