//! `config`: which balena API the mount talks to. One per mount.
//!
//! Unlike the Go plugin this replaces, the URL is really used, so a
//! self-hosted openBalena works (with `ca_cert` when its certificate comes
//! from a private CA). The config holds no secret: the session tokens live
//! in the roles. It is still seal-wrapped, as the roles are.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::client::Balena;

/// The storage key of the config (the `invalidate` hook watches it).
pub const KEY: &str = "config";

/// The mount's stored configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the balena API, without a trailing slash.
    pub url: String,
    /// How balena is reached: `ca_cert`, the timeout (stored as
    /// `request_timeout` before), proxy, extra headers.
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        req.storage().get_json(KEY).await?.ok_or_else(|| {
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

/// Arguments of a `config` write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// Base URL of the balena API: https://api.balena-cloud.com, or a
    /// self-hosted openBalena as http(s)://host[:port][/prefix]. Required
    /// when the config is created.
    url: Option<String>,
    /// `ca_cert` (a private CA of a self-hosted openBalena), `timeout`
    /// (alias `request_timeout`), `proxy_server`, `http_headers`...
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
    let url = match args.url {
        Some(url) => normalize_base_url("url", &url)?,
        None => old.as_ref().map(|c| c.url.clone()).ok_or_else(|| {
            Error::bad_request("url is required, e.g. url=https://api.balena-cloud.com")
        })?,
    };
    let upstream = match old {
        Some(old) => old.upstream.apply_sent(args.upstream, &req.data),
        None => args.upstream,
    };
    let config = Config { url, upstream };
    // Builds the HTTP client now, so a CA problem is reported here.
    config.balena(&state)?;
    req.storage().put_json(KEY, &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration: the URL, the timeout, and whether a CA is set.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let config: Option<Config> = req.storage().get_json(KEY).await?;
    match config {
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
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}
