//! `config`: where the upstream is. One per mount.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::upstream::Upstream;

const KEY: &str = "config";

/// The mount's stored configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the upstream.
    pub upstream_url: String,
    /// How long one upstream call may take, in seconds.
    pub request_timeout: u64,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        req.storage().get_json(KEY).await?.ok_or_else(|| {
            Error::bad_request("the mount is not configured: write upstream_url to config first")
        })
    }

    /// A client of the configured upstream.
    pub fn upstream(&self) -> Result<Upstream> {
        Upstream::new(
            &self.upstream_url,
            Duration::from_secs(self.request_timeout),
        )
    }
}

/// Arguments of a `config` write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// Base URL of the upstream key service, e.g. http://127.0.0.1:8080.
    upstream_url: Option<String>,
    /// How long one upstream call may take (e.g. "10s").
    request_timeout: Option<Duration>,
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get(KEY).await?.is_some())
}

/// Writes the configuration (create or update).
pub async fn write(_: Arc<State>, req: Request, args: ConfigArgs) -> Result<Response> {
    let old: Option<Config> = req.storage().get_json(KEY).await?;
    let upstream_url = args
        .upstream_url
        .or_else(|| old.as_ref().map(|c| c.upstream_url.clone()))
        .ok_or_else(|| Error::bad_request("upstream_url is required"))?;
    let request_timeout = args
        .request_timeout
        .map(|d| d.as_secs())
        .or(old.map(|c| c.request_timeout))
        .unwrap_or(10);
    if request_timeout == 0 {
        return Err(Error::bad_request("request_timeout must be at least 1s"));
    }
    let config = Config {
        upstream_url,
        request_timeout,
    };
    config.upstream()?;
    req.storage().put_json(KEY, &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let config: Option<Config> = req.storage().get_json(KEY).await?;
    match config {
        Some(config) => Response::json(&config),
        None => Err(Error::not_found("no configuration")),
    }
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}
