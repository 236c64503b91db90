//! `version` and `version/client-only`: what the plugin is and which pachd
//! it talks to, as the original plugin answered (`client-version`,
//! `server-version`).
//!
//! `client-version` is the plugin's version; `client-api` names the pachd
//! release whose API the plugin's `.proto` files match. Only `version` calls
//! pachd (`GetVersion`, which needs no token).

use std::sync::Arc;

use serde_json::json;
use vault_plugin_sdk::{Error, Request, Response, Result};

use crate::State;
use crate::config::Config;

/// The pachd release the plugin's protos match.
const CLIENT_API: &str = "pachd 2.11.6 (auth_v2, versionpb_v2)";

/// The plugin's version and pachd's.
pub async fn both(state: Arc<State>, req: Request) -> Result<Response> {
    let config = Config::load(&req).await?;
    let server = config
        .pachd(&state)?
        .version()
        .await
        .map_err(|e| Error::upstream(format!("asking pachd for its version: {e}")))?;
    Response::json(&json!({
        "client-version": vault_plugin_sdk::plugin_version!(),
        "client-api": CLIENT_API,
        "server-version": server.version,
        "server-git-commit": server.git_commit,
        "server-platform": server.platform,
    }))
}

/// The plugin's version only.
pub async fn client_only(_: Arc<State>, _: Request) -> Result<Response> {
    Response::json(&json!({
        "client-version": vault_plugin_sdk::plugin_version!(),
        "client-api": CLIENT_API,
    }))
}
