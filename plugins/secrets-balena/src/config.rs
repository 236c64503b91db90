//! `config`: which balena API the mount talks to. One per mount.
//!
//! Unlike the Go plugin this replaces, the URL is really used, so a
//! self-hosted openBalena works (with `ca_cert` when its certificate comes
//! from a private CA). The config holds no secret: the session tokens live
//! in the roles. It is still seal-wrapped, as the roles are.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};

use crate::State;
use crate::client::Balena;

/// Where the config is stored (the `invalidate` hook watches it).
pub const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as stored and as written (what a write does
/// not send is kept).
#[derive(Debug, Clone, PartialEq, Fields, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the balena API: https://api.balena-cloud.com, or a
    /// self-hosted openBalena as http(s)://host[:port][/prefix]. Required
    /// when the config is created.
    pub url: String,
    /// How balena is reached: `ca_cert` (a private CA of a self-hosted
    /// openBalena), `timeout` (alias and former name `request_timeout`),
    /// `proxy_server`, `http_headers`...
    #[field(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::bad_request(format!(
                "the mount is not configured: write the balena API's url to {}config first \
                 (e.g. url=https://api.balena-cloud.com)",
                req.mount_point
            ))
        })
    }

    /// A client of the configured API, sharing the mount's HTTP client.
    pub fn balena(&self, state: &State) -> Result<Balena> {
        Ok(Balena::new(
            state.upstream.client(&self.url, &self.upstream)?,
        ))
    }
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    CONFIG.exists(req.storage()).await
}

/// Writes the configuration (create or update).
pub async fn write(state: Arc<State>, req: Request, update: Update<Config>) -> Result<Response> {
    let mut config = update.apply(CONFIG.load(req.storage()).await?)?;
    if config.url.trim().is_empty() {
        return Err(Error::bad_request(
            "url is required, e.g. url=https://api.balena-cloud.com",
        ));
    }
    config.url = normalize_base_url("url", &config.url)?;
    // Builds the HTTP client now, so a CA problem is reported here.
    config.balena(&state)?;
    CONFIG.save(req.storage(), &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration: the URL, the timeout, and whether a CA is set.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    match CONFIG.load(req.storage()).await? {
        Some(config) => Response::json(&json!({
            "url": config.url,
            "request_timeout": config.upstream.timeout.get().as_secs(),
            "has_ca_cert": !config.upstream.ca_cert.is_empty(),
        })),
        None => Err(Error::not_found("no configuration")),
    }
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    CONFIG.delete(req.storage()).await?;
    Ok(Response::empty())
}
