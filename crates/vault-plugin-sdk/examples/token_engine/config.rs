//! `config`: where the token API is, how it is reached, and the admin token
//! the engine acts with. One per mount.
//!
//! The struct is declared once and serves three ways: as the write's
//! arguments (help text, OpenAPI, decoding), as the stored value, and, less
//! its secrets, as the read. The SDK generates the handlers ([`Record`]): a
//! write changes only the fields it sends, the first one applies the
//! defaults and insists on `url` and `admin_token`. The SDK's
//! [`UpstreamSettings`] brings `ca_cert`, `insecure_skip_tls_verify`,
//! `timeout`, `proxy_server` and `http_headers`.

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};

use crate::State;
use crate::api::TokenApi;

/// Where the config is stored.
pub const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as written and as stored.
#[derive(Debug, Fields, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the token API: https://host, or https://host:port.
    #[field(required)]
    pub url: String,
    /// The admin token that creates and deletes tokens. Never returned.
    #[field(secret, required)]
    pub admin_token: Redacted<String>,
    /// How the token API is reached (a read shows whether a CA is set, not
    /// its PEM, and no proxy password or header value).
    #[field(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Record<State> for Config {
    /// Refuses a config that cannot work, before storing it.
    async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
        self.url = normalize_base_url("url", &self.url)?;
        if self.admin_token.expose().trim().is_empty() {
            return Err(Error::bad_request("admin_token must not be empty"));
        }
        // Building the client now makes a bad ca_cert or proxy a 400 here,
        // rather than at the first creds read.
        self.api(state).map(drop)
    }
}

impl Config {
    /// Loads the config; a 400 saying what to do when there is none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::bad_request("the mount is not configured: write url and admin_token to config")
        })
    }

    /// The token API, through the mount's cached HTTPS client.
    pub fn api(&self, state: &State) -> Result<TokenApi> {
        let http = state.upstream.client(&self.url, &self.upstream)?;
        Ok(TokenApi::new(http, self.admin_token.expose()))
    }
}
