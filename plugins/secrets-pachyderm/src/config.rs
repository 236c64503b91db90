//! `config`: which pachd the mount talks to, with which admin token, and
//! how tokens are leased. One per mount.
//!
//! A write that sends `admin_token`, `pachd_address`, `ca_cert` or
//! `request_timeout` checks the result with pachd (`WhoAmI`) before
//! anything is stored: a dead token is refused with a 400, an unreachable
//! pachd with a 502. Writes have update semantics: what a write does not
//! send is kept.
//!
//! The read and delete are the SDK's ([`Record`]); the write is the
//! plugin's, for the check with pachd and the warnings. A read shows
//! everything but the admin token (a write-only field) and a root token
//! being rotated to: the address, the TTLs, the timeout, the CA, and whom
//! the admin token belongs to (`admin_subject`, e.g. `pach:root`) with how
//! long it still lives. Before the first write a read finds nothing (404).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::framework::fields::JsonMap;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::upstream::parse_ca_cert;

use crate::State;
use crate::pachd::{Pachd, PachdAddress, PachdError, Settings};

/// Where the configuration is stored.
pub const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as written and as stored. What a write does
/// not send is kept; a create applies the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Fields, Serialize, Deserialize)]
#[fields(redact = Self::hide_bookkeeping)]
pub struct Config {
    /// A pachd token of a clusterAdmin, e.g. the root token (a robotUser's
    /// also works, but an interrupted mint may then leave a token until its
    /// expiry). Checked with pachd (WhoAmI) when written; never returned.
    #[field(secret, required)]
    pub admin_token: Redacted<String>,
    /// pachd's gRPC address as pachctl takes it: host:port,
    /// grpc://host:port or grpcs://host:port (TLS); the port defaults to
    /// 30650.
    #[field(required)]
    pub pachd_address: String,
    /// Default lease of minted tokens (e.g. "45s", "1h"); 0 means the
    /// mount's default. Capped by max_ttl and the mount's max.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub ttl: Duration,
    /// Max lease of minted tokens (e.g. "24h"); 0 means the mount's max.
    /// pachd expires each token at this age, so a token outlives no lease.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub max_ttl: Duration,
    /// How long one call to pachd may take (e.g. "5s").
    #[field(default = "10s")]
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub request_timeout: Duration,
    /// PEM certificate(s) of a private CA to trust beside the system's roots
    /// for grpcs://; an empty value removes it.
    #[serde(default)]
    pub ca_cert: String,
    /// Whom the admin token belonged to when it was checked.
    #[field(skip)]
    #[serde(default)]
    pub admin_subject: String,
    /// When the admin token expires (seconds since 1970), if it does.
    #[field(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_expires_at: Option<u64>,
    /// A root token being rotated to, stored before pachd is asked (see
    /// [`crate::rotate`]).
    #[field(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_root_token: Option<Redacted<String>>,
}

impl Record<State> for Config {
    /// A read shows how long the admin token still lives (null: no expiry).
    fn show(&self, data: &mut JsonMap) {
        let left = expires_in(self.admin_token_expires_at).map(|d| d.as_secs());
        data.insert("admin_token_expires_in".into(), left.into());
    }
}

impl Config {
    /// The configuration, if the mount has one.
    pub async fn get(req: &Request) -> Result<Option<Config>> {
        CONFIG.load(req.storage()).await
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
        CONFIG.save(req.storage(), self).await
    }

    /// The admin token.
    pub fn admin_token(&self) -> &str {
        self.admin_token.expose()
    }

    /// What a read never shows besides the admin token: a root token being
    /// rotated to, and the admin token's expiry as stored (a read shows
    /// how long it still lives instead).
    fn hide_bookkeeping(&self, data: &mut JsonMap) {
        data.remove("pending_root_token");
        data.remove("admin_token_expires_at");
    }

    /// How to reach pachd.
    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            address: PachdAddress::parse(&self.pachd_address).map_err(Error::internal)?,
            ca_cert: Some(self.ca_cert.clone()).filter(|pem| !pem.is_empty()),
            timeout: self.request_timeout,
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
            Duration::ZERO => mount_max,
            max => max.min(mount_max),
        };
        let ttl = match asked.filter(|t| !t.is_zero()) {
            Some(asked) => asked,
            None if self.ttl.is_zero() => view.default_lease_ttl().await?,
            None => self.ttl,
        };
        Ok((ttl.min(max), max))
    }
}

/// Writes the configuration (create or update), checking a new admin token
/// or a new way to reach pachd with pachd first.
pub async fn write(state: Arc<State>, req: Request, update: Update<Config>) -> Result<Response> {
    let old = Config::get(&req).await?;
    let check = old.is_none()
        || ["admin_token", "pachd_address", "ca_cert", "request_timeout"]
            .iter()
            .any(|field| update.sent(field));
    let mut config = update.apply(old)?;
    if update.sent("admin_token") {
        let token = config.admin_token().trim().to_owned();
        if token.is_empty() {
            return Err(Error::bad_request("admin_token must not be empty"));
        }
        config.admin_token = Redacted::new(token);
        // A token written by hand ends an interrupted rotation.
        config.pending_root_token = None;
    }
    PachdAddress::parse(&config.pachd_address).map_err(Error::bad_request)?;
    config.pachd_address = config.pachd_address.trim().to_owned();
    if !config.max_ttl.is_zero() && config.ttl > config.max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    if config.request_timeout < Duration::from_secs(1) {
        return Err(Error::bad_request("request_timeout must be at least 1s"));
    }
    if config.ca_cert.trim().is_empty() {
        config.ca_cert.clear();
    } else {
        parse_ca_cert(&config.ca_cert).map_err(Error::bad_request)?;
    }
    if check {
        let who = config
            .pachd(&state)?
            .who_am_i(config.admin_token())
            .await
            .map_err(|e| check_error(&e))?;
        config.admin_subject = who.subject;
        config.admin_token_expires_at = who.expires_at.map(unix_secs);
    }
    config.store(&req).await?;

    let mut resp = Response::empty();
    let mount_max = req.system_view().max_lease_ttl().await?;
    for (name, ttl) in [("ttl", config.ttl), ("max_ttl", config.max_ttl)] {
        if ttl > mount_max {
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
