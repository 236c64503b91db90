//! `config`: which balena API the mount talks to. One per mount.
//!
//! Unlike the Go plugin this replaces, the URL is really used, so a
//! self-hosted openBalena works (with `ca_cert` when its certificate comes
//! from a private CA). The config holds no secret: the session tokens live
//! in the roles. It is still seal-wrapped, as the roles are.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::client::{Balena, normalize_url, parse_ca_cert};
use crate::{HttpSettings, State};

const KEY: &str = "config";

/// How long one balena call may take when the config does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The mount's stored configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the balena API, without a trailing slash.
    pub url: String,
    /// How long one balena call may take, in seconds.
    pub request_timeout: u64,
    /// PEM certificates trusted beside the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
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
        let timeout = Duration::from_secs(self.request_timeout);
        let http = state.http_client(HttpSettings {
            timeout,
            ca_cert: self.ca_cert.clone(),
            https: self.url.starts_with("https:"),
        })?;
        Ok(Balena::new(http, &self.url, timeout))
    }
}

/// Arguments of a `config` write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// Base URL of the balena API: https://api.balena-cloud.com, or a
    /// self-hosted openBalena as http(s)://host[:port][/prefix]. Required
    /// when the config is created.
    url: Option<String>,
    /// How long one call to balena may take (e.g. "10s"); default 30s.
    request_timeout: Option<Duration>,
    /// PEM certificate(s) of a private CA to trust beside the system's
    /// roots (self-hosted openBalena); an empty value removes it.
    ca_cert: Option<String>,
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get(KEY).await?.is_some())
}

/// Writes the configuration (create or update).
pub async fn write(state: Arc<State>, req: Request, args: ConfigArgs) -> Result<Response> {
    let old: Option<Config> = req.storage().get_json(KEY).await?;
    let url = match args.url {
        Some(url) => normalize_url(&url).map_err(Error::bad_request)?,
        None => old.as_ref().map(|c| c.url.clone()).ok_or_else(|| {
            Error::bad_request("url is required, e.g. url=https://api.balena-cloud.com")
        })?,
    };
    let request_timeout = match args.request_timeout {
        Some(d) if d.is_zero() => {
            return Err(Error::bad_request("request_timeout must be at least 1s"));
        }
        Some(d) => d.as_secs(),
        None => old
            .as_ref()
            .map_or(DEFAULT_TIMEOUT.as_secs(), |c| c.request_timeout),
    };
    let ca_cert = match args.ca_cert {
        Some(pem) if pem.trim().is_empty() => None,
        Some(pem) => {
            parse_ca_cert(&pem).map_err(Error::bad_request)?;
            Some(pem)
        }
        None => old.and_then(|c| c.ca_cert),
    };
    let config = Config {
        url,
        request_timeout,
        ca_cert,
    };
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
            "request_timeout": config.request_timeout,
            "has_ca_cert": config.ca_cert.is_some(),
        })),
        None => Err(Error::not_found("no configuration")),
    }
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}
