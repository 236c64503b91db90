//! `config`: where the upstream is. One per mount.
//!
//! The stored struct is also the write's arguments: a write sends what
//! changes ([`Update`]), a create applies the defaults.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::prelude::*;

use crate::State;
use crate::upstream::Upstream;

/// Where the configuration is stored.
const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as stored and as written.
#[derive(Debug, Clone, Fields, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the upstream key service, e.g. http://127.0.0.1:8080.
    #[field(required)]
    pub upstream_url: String,
    /// How long one upstream call may take (e.g. "10s").
    #[field(default = "10s")]
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub request_timeout: Duration,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::bad_request("the mount is not configured: write upstream_url to config first")
        })
    }

    /// A client of the configured upstream.
    pub fn upstream(&self) -> Result<Upstream> {
        Upstream::new(&self.upstream_url, self.request_timeout)
    }
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    CONFIG.exists(req.storage()).await
}

/// Writes the configuration (create or update).
pub async fn write(_: Arc<State>, req: Request, update: Update<Config>) -> Result<Response> {
    let config = update.apply(CONFIG.load(req.storage()).await?)?;
    if config.request_timeout.is_zero() {
        return Err(Error::bad_request("request_timeout must be at least 1s"));
    }
    config.upstream()?;
    CONFIG.save(req.storage(), &config).await?;
    Ok(Response::empty())
}

/// Shows the configuration.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    Response::stored(CONFIG.load(req.storage()).await?.as_ref())
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    CONFIG.delete(req.storage()).await?;
    Ok(Response::empty())
}
