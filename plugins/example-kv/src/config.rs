//! `config`: where the upstream is and how it is reached. One per mount.
//!
//! The stored struct is also the write's arguments: a write sends what
//! changes ([`Update`]), a create applies the defaults. The SDK's
//! [`UpstreamSettings`] block gives it `ca_cert`, `insecure_skip_tls_verify`,
//! `timeout` (alias `request_timeout`), `proxy_server` and `http_headers`;
//! the URL is the plugin's own field.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};

use crate::State;
use crate::upstream::Upstream;

/// Where the configuration is stored (the `invalidate` hook watches it).
pub const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as stored and as written.
#[derive(Debug, Clone, Fields, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the upstream key service, e.g. http://127.0.0.1:8080.
    #[field(required)]
    pub upstream_url: String,
    /// How the upstream is reached.
    #[field(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::bad_request("the mount is not configured: write upstream_url to config first")
        })
    }

    /// A client of the configured upstream, from the mount's cache.
    pub fn upstream(&self, state: &State) -> Result<Upstream> {
        let http = state.upstream.client(&self.upstream_url, &self.upstream)?;
        Ok(Upstream::new(http))
    }
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    CONFIG.exists(req.storage()).await
}

/// Writes the configuration (create or update).
pub async fn write(state: Arc<State>, req: Request, update: Update<Config>) -> Result<Response> {
    let mut config = update.apply(CONFIG.load(req.storage()).await?)?;
    config.upstream_url = normalize_base_url("upstream_url", &config.upstream_url)?;
    // Builds the client now, so a bad CA or proxy is a 400 here.
    config.upstream(&state)?;
    CONFIG.save(req.storage(), &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration, without the CA's PEM, the proxy's password or
/// the extra headers' values.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let Some(config) = CONFIG.load(req.storage()).await? else {
        return Ok(Response::empty());
    };
    let mut data = config.upstream.read_data();
    data.insert("upstream_url".into(), json!(config.upstream_url));
    Response::json(&Value::Object(data))
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    CONFIG.delete(req.storage()).await?;
    Ok(Response::empty())
}
