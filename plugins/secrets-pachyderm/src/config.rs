//! `config`: which pachd the mount talks to, with which admin token, and
//! how tokens are leased. One per mount.
//!
//! A write that sends `admin_token`, `pachd_address`, `ca_cert` or
//! `request_timeout` checks the result with pachd (`WhoAmI`) before
//! anything is stored: a dead token is refused with a 400, an unreachable
//! pachd with a 502. Writes have update semantics: what a write does not
//! send is kept.
//!
//! A read shows everything but the admin token: the address, the TTLs, the
//! timeout, the CA, and whom the admin token belongs to (`admin_subject`,
//! e.g. `pach:root`) with how long it still lives. Before the first write a
//! read finds nothing (404).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::pachd::{Pachd, PachdAddress, PachdError, Settings, parse_ca_cert};

/// The storage key of the config.
const KEY: &str = "config";

/// How long one pachd call may take when the config does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The mount's stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The pachd token every call is made with.
    pub admin_token: String,
    /// pachd's address as the operator wrote it (checked by
    /// [`PachdAddress::parse`]); `login` returns it.
    pub pachd_address: String,
    /// Default lease TTL in seconds (0: the mount's).
    pub ttl: u64,
    /// Max lease TTL in seconds (0: the mount's), also how long pachd
    /// keeps each token.
    pub max_ttl: u64,
    /// How long one pachd call may take, in seconds.
    pub request_timeout: u64,
    /// PEM certificates trusted beside the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    /// Whom the admin token belonged to when it was checked.
    #[serde(default)]
    pub admin_subject: String,
    /// When the admin token expires (seconds since 1970), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_expires_at: Option<u64>,
    /// A root token being rotated to, stored before pachd is asked (see
    /// [`crate::rotate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_root_token: Option<String>,
}

impl Config {
    /// The configuration, if the mount has one.
    pub async fn get(req: &Request) -> Result<Option<Config>> {
        Ok(req.storage().get_json(KEY).await?)
    }

    /// The configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        Config::get(req).await?.ok_or_else(|| {
            Error::bad_request(format!(
                "the mount is not configured: write pachd_address and admin_token to {}config \
                 first",
                req.mount_point
            ))
        })
    }

    /// Stores the configuration.
    pub async fn store(&self, req: &Request) -> Result<()> {
        Ok(req.storage().put_json(KEY, self).await?)
    }

    /// How to reach pachd.
    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            address: PachdAddress::parse(&self.pachd_address).map_err(Error::internal)?,
            ca_cert: self.ca_cert.clone(),
            timeout: Duration::from_secs(self.request_timeout),
        })
    }

    /// The mount's pachd client (shared, rebuilt when the settings change).
    pub fn pachd(&self, state: &State) -> Result<Pachd> {
        state.pachd(self.settings()?)
    }

    /// The lease TTL and max TTL of a token minted now, within the mount's
    /// limits: the max is also the token's lifetime in pachd.
    pub async fn lease_ttls(
        &self,
        req: &Request,
        asked: Option<Duration>,
    ) -> Result<(Duration, Duration)> {
        let view = req.system_view();
        let mount_max = view.max_lease_ttl().await?;
        let max = match self.max_ttl {
            0 => mount_max,
            secs => Duration::from_secs(secs).min(mount_max),
        };
        let ttl = match asked.filter(|t| !t.is_zero()) {
            Some(asked) => asked,
            None if self.ttl == 0 => view.default_lease_ttl().await?,
            None => Duration::from_secs(self.ttl),
        };
        Ok((ttl.min(max), max))
    }
}

/// Arguments of a `config` write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// A pachd token with the robot-token permission (roles clusterAdmin or
    /// robotUser), e.g. the root token. Checked with pachd (WhoAmI) when
    /// written; never returned. Required when the config is created.
    #[field(sensitive)]
    admin_token: Option<String>,
    /// pachd's gRPC address as pachctl takes it: host:port,
    /// grpc://host:port or grpcs://host:port (TLS); the port defaults to
    /// 30650. Required when the config is created.
    pachd_address: Option<String>,
    /// Default lease of minted tokens (e.g. "45s", "1h"); 0 means the
    /// mount's default. Capped by max_ttl and the mount's max.
    ttl: Option<Duration>,
    /// Max lease of minted tokens (e.g. "24h"); 0 means the mount's max.
    /// pachd expires each token at this age, so a token outlives no lease.
    max_ttl: Option<Duration>,
    /// How long one call to pachd may take (e.g. "5s"); default 10s.
    request_timeout: Option<Duration>,
    /// PEM certificate(s) of a private CA to trust beside the system's roots
    /// for grpcs://; an empty value removes it.
    ca_cert: Option<String>,
}

/// Whether the mount has a configuration.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get(KEY).await?.is_some())
}

/// Writes the configuration (create or update), checking a new admin token
/// or address with pachd first.
pub async fn write(state: Arc<State>, req: Request, args: ConfigArgs) -> Result<Response> {
    let old = Config::get(&req).await?;
    let new_token = args.admin_token.is_some();
    let check = new_token
        || args.pachd_address.is_some()
        || args.ca_cert.is_some()
        || args.request_timeout.is_some()
        || old.is_none();
    let admin_token = match args.admin_token.map(|t| t.trim().to_owned()) {
        Some(token) if token.is_empty() => {
            return Err(Error::bad_request("admin_token must not be empty"));
        }
        Some(token) => token,
        None => old
            .as_ref()
            .map(|c| c.admin_token.clone())
            .ok_or_else(|| Error::bad_request("admin_token is required"))?,
    };
    let pachd_address = match args.pachd_address {
        Some(address) => {
            PachdAddress::parse(&address).map_err(Error::bad_request)?;
            address.trim().to_owned()
        }
        None => old
            .as_ref()
            .map(|c| c.pachd_address.clone())
            .ok_or_else(|| {
                Error::bad_request("pachd_address is required, e.g. pachd_address=127.0.0.1:30650")
            })?,
    };
    let secs = |new: Option<Duration>, old: Option<u64>| {
        new.map(|d| d.as_secs()).or(old).unwrap_or_default()
    };
    let ttl = secs(args.ttl, old.as_ref().map(|c| c.ttl));
    let max_ttl = secs(args.max_ttl, old.as_ref().map(|c| c.max_ttl));
    if max_ttl != 0 && ttl > max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    let request_timeout = match args.request_timeout {
        Some(d) if d < Duration::from_secs(1) => {
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
        None => old.as_ref().and_then(|c| c.ca_cert.clone()),
    };
    let mut config = Config {
        admin_token,
        pachd_address,
        ttl,
        max_ttl,
        request_timeout,
        ca_cert,
        admin_subject: old
            .as_ref()
            .map(|c| c.admin_subject.clone())
            .unwrap_or_default(),
        admin_token_expires_at: old.as_ref().and_then(|c| c.admin_token_expires_at),
        // A token written by hand ends an interrupted rotation.
        pending_root_token: old
            .and_then(|c| c.pending_root_token)
            .filter(|_| !new_token),
    };
    if check {
        let who = config
            .pachd(&state)?
            .who_am_i(&config.admin_token)
            .await
            .map_err(|e| check_error(&e))?;
        config.admin_subject = who.subject;
        config.admin_token_expires_at = who.expires_at.map(unix_secs);
    }
    config.store(&req).await?;

    let mut resp = Response::empty();
    let mount_max = req.system_view().max_lease_ttl().await?;
    for (name, secs) in [("ttl", ttl), ("max_ttl", max_ttl)] {
        if Duration::from_secs(secs) > mount_max {
            resp = resp.warning(format!(
                "{name} is above the mount's max lease TTL ({}s): leases are capped to it",
                mount_max.as_secs()
            ));
        }
    }
    if let Some(left) = expires_in(config.admin_token_expires_at) {
        resp = resp.warning(format!(
            "the admin token of {} expires in {}s: after that no token can be minted or \
             revoked until a new admin_token is written",
            config.admin_subject,
            left.as_secs()
        ));
    }
    Ok(resp)
}

/// The error of a failed admin-token check: a 400 when pachd refused the
/// token or the setup, a 502 when pachd did not answer.
fn check_error(err: &PachdError) -> Error {
    let text = format!("{err}; nothing was stored");
    match err {
        PachdError::Unreachable { .. } | PachdError::Timeout { .. } | PachdError::Status { .. } => {
            Error::upstream(text)
        }
        _ => Error::bad_request(text),
    }
}

/// Shows the configuration, without the admin token.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let Some(config) = Config::get(&req).await? else {
        return Err(Error::not_found("no configuration"));
    };
    let expires_in = expires_in(config.admin_token_expires_at);
    Response::json(&json!({
        "pachd_address": config.pachd_address,
        "ttl": config.ttl,
        "max_ttl": config.max_ttl,
        "request_timeout": config.request_timeout,
        "ca_cert": config.ca_cert.unwrap_or_default(),
        "admin_subject": config.admin_subject,
        "admin_token_expires_in": expires_in.map_or(Value::Null, |d| json!(d.as_secs())),
    }))
}

/// Removes the configuration.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}

/// Seconds since 1970.
pub fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long until `at` (seconds since 1970): `None` for no expiry, zero
/// once it has passed.
fn expires_in(at: Option<u64>) -> Option<Duration> {
    at.map(|at| Duration::from_secs(at.saturating_sub(unix_secs(SystemTime::now()))))
}
