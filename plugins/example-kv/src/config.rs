//! `config`: where the upstream is and how it is reached. One per mount.
//!
//! The SDK's [`UpstreamSettings`] block gives the config `ca_cert`,
//! `insecure_skip_tls_verify`, `timeout` (alias `request_timeout`),
//! `proxy_server` and `http_headers`; the URL is the plugin's own field.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::upstream::Upstream;

/// The storage key of the config (the `invalidate` hook watches it).
pub const KEY: &str = "config";

/// The mount's stored configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the upstream.
    pub upstream_url: String,
    /// How the upstream is reached.
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        req.storage().get_json(KEY).await?.ok_or_else(|| {
            Error::bad_request("the mount is not configured: write upstream_url to config first")
        })
    }

    /// A client of the configured upstream, from the mount's cache.
    pub fn upstream(&self, state: &State) -> Result<Upstream> {
        let http = state.upstream.client(&self.upstream_url, &self.upstream)?;
        Ok(Upstream::new(http))
    }
}

/// Arguments of a `config` write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// Base URL of the upstream key service, e.g. http://127.0.0.1:8080.
    upstream_url: Option<String>,
    #[field(flatten)]
    upstream: UpstreamSettings,
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get(KEY).await?.is_some())
}

/// Writes the configuration (create or update).
pub async fn write(state: Arc<State>, req: Request, args: ConfigArgs) -> Result<Response> {
    let old: Option<Config> = req.storage().get_json(KEY).await?;
    let upstream_url = match args.upstream_url {
        Some(url) => normalize_base_url("upstream_url", &url)?,
        None => old
            .as_ref()
            .map(|c| c.upstream_url.clone())
            .ok_or_else(|| Error::bad_request("upstream_url is required"))?,
    };
    let upstream = match old {
        Some(old) => old.upstream.apply_sent(args.upstream, &req.data),
        None => args.upstream,
    };
    let config = Config {
        upstream_url,
        upstream,
    };
    // Builds the client now, so a bad CA or proxy is a 400 here.
    config.upstream(&state)?;
    req.storage().put_json(KEY, &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration, without the CA's PEM, the proxy's password or
/// the extra headers' values.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let config: Option<Config> = req.storage().get_json(KEY).await?;
    match config {
        Some(config) => {
            let mut data = config.upstream.read_data();
            data.insert("upstream_url".into(), json!(config.upstream_url));
            Response::json(&Value::Object(data))
        }
        None => Err(Error::not_found("no configuration")),
    }
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}
