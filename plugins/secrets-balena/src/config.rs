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

impl Record<State> for Config {
    /// Insists on a URL, normalises it, and builds the HTTP client, so a CA
    /// problem is a 400 when the config is written.
    async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
        if self.url.trim().is_empty() {
            return Err(Error::bad_request(
                "url is required, e.g. url=https://api.balena-cloud.com",
            ));
        }
        self.url = normalize_base_url("url", &self.url)?;
        self.balena(state).map(drop)
    }
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

/// Shows the configuration as the Go plugin this replaces did: the URL, the
/// timeout under its former name, and whether a CA is set; 404 before the
/// first write.
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
