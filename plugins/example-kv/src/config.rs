//! `config`: where the upstream is and how it is reached. One per mount.
//!
//! The stored struct is also the write's arguments and, less its secrets,
//! the read; the SDK generates the handlers ([`Record`]): a write sends
//! what changes, a create applies the defaults. The SDK's
//! [`UpstreamSettings`] block gives it `ca_cert`, `insecure_skip_tls_verify`,
//! `timeout` (alias `request_timeout`), `proxy_server` and `http_headers`;
//! the URL is the plugin's own field.

use serde::{Deserialize, Serialize};
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

impl Record<State> for Config {
    /// Normalises the URL and builds the client, so a bad CA or proxy is a
    /// 400 when the config is written.
    async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
        self.upstream_url = normalize_base_url("upstream_url", &self.upstream_url)?;
        self.upstream(state).map(drop)
    }
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
