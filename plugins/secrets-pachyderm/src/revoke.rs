//! `revoke`: revokes any pachd token given to it, with the admin token.
//!
//! The original plugin's manual route, kept for tokens minted elsewhere or
//! before leases revoked them. Leased tokens need no call here: revoking the
//! lease revokes the token. The admin token itself is refused (revoking it
//! would cut the mount off from pachd).

use std::sync::Arc;

use serde_json::json;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::config::Config;
use crate::pachd::{PachdError, Revoked};

/// Arguments of `revoke`.
#[derive(Fields)]
pub struct RevokeArgs {
    /// The pachd token to revoke.
    #[field(required, sensitive)]
    user_token: String,
}

/// Revokes `user_token`; answers whether pachd still knew it.
pub async fn revoke(state: Arc<State>, req: Request, args: RevokeArgs) -> Result<Response> {
    let token = args.user_token.trim();
    if token.is_empty() {
        return Err(Error::bad_request("user_token must not be empty"));
    }
    let config = Config::load(&req).await?;
    if token == config.admin_token() {
        return Err(Error::bad_request(
            "user_token is the mount's admin token; revoking it would leave the mount unable to \
             reach pachd (write a new admin_token to config first)",
        ));
    }
    let revoked = config
        .pachd(&state)?
        .revoke_token(config.admin_token(), token)
        .await
        .map_err(|e| match e {
            PachdError::UnsendableToken => Error::bad_request(format!("user_token: {e}")),
            e => Error::upstream(format!("revoking the token: {e}")),
        })?;
    tracing::info!(
        found = revoked == Revoked::Now,
        "revoked a pachd token by request"
    );
    Response::json(&json!({ "revoked": revoked == Revoked::Now }))
}
