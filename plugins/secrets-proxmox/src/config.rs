//! `config`: the Proxmox API and the API token the plugin acts with.
//!
//! The token is `<user>@<realm>!<token_id>` with its secret, checked with
//! Proxmox (`GET /version`) whenever the config is written, so a dead token
//! is a 400 and nothing is stored. The SDK generates the handlers
//! ([`Record`]): writes have update semantics; a read never shows
//! `token_secret` (nor the CA's PEM, the proxy's password or the extra
//! headers' values), and before the first write finds nothing.

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::framework::fields::JsonMap;
use vault_plugin_sdk::prelude::*;
use vault_plugin_sdk::upstream::{UpstreamSettings, normalize_base_url};

use crate::State;
use crate::pve::Pve;

/// Where the config is stored (the `invalidate` hook watches it).
pub const CONFIG: Entry<Config> = Entry::new("config");

/// The mount's configuration, as written and as stored.
#[derive(Debug, Fields, Serialize, Deserialize)]
pub struct Config {
    /// The Proxmox user of the config token, e.g. root.
    #[field(required)]
    pub user: String,
    /// The user's realm, e.g. pam or pve.
    #[field(required)]
    pub realm: String,
    /// The config token's id, without user@realm! (e.g. vault).
    #[field(required)]
    pub token_id: String,
    /// The config token's secret (a UUID). Never returned.
    #[field(secret, required)]
    pub token_secret: Redacted<String>,
    /// Base URL of the Proxmox API, e.g. https://pve.example:8006/api2/json.
    #[field(required)]
    pub proxmox_url: String,
    /// How Proxmox is reached: ca_cert, insecure_skip_tls_verify,
    /// http_headers (K,V,K2,V2), proxy_server, timeout (120 or 2m).
    #[field(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// Reads the configuration; a clear 400 when the mount has none yet.
    pub async fn load(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::bad_request(format!(
                "the mount is not configured: write {}config first (user, realm, token_id, \
                 token_secret, proxmox_url)",
                req.mount_point
            ))
        })
    }

    /// The config token's full id, `user@realm!token_id`.
    pub fn token(&self) -> String {
        format!("{}@{}!{}", self.user, self.realm, self.token_id)
    }

    /// A client of the configured API acting with the config token.
    pub fn pve(&self, state: &State) -> Result<Pve> {
        let http = state.upstream.client(&self.proxmox_url, &self.upstream)?;
        Ok(Pve::new(http, self.token(), self.token_secret.expose()))
    }
}

impl Record<State> for Config {
    /// Refuses a config that cannot work, and checks its token with Proxmox
    /// (`GET /version`): a dead token is a 400 and nothing is stored.
    async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
        check_name("user", &self.user)?;
        check_id("realm", &self.realm)?;
        check_id("token_id", &self.token_id)?;
        check_secret(self.token_secret.expose())?;
        self.proxmox_url = normalize_base_url("proxmox_url", &self.proxmox_url)?;
        let pve = self.pve(state)?;
        match pve.version().await {
            Ok(version) => {
                tracing::info!(token = %self.token(), %version, "config token works");
                Ok(())
            }
            Err(e) if e.http_status() == Some(401) => Err(Error::bad_request(format!(
                "Proxmox refused the token {} (401): it is invalid, expired or revoked; nothing \
                 was stored",
                self.token()
            ))),
            Err(e) => Err(pve.error(e, "checking the config token", "Sys.Audit")),
        }
    }

    /// A read adds the token's full id, `user@realm!token_id`.
    fn show(&self, data: &mut JsonMap) {
        data.insert("token_id_full".into(), self.token().into());
    }
}

/// The longest token secret accepted: Proxmox's are UUIDs (36 characters),
/// and it travels in a request header, which servers cap at a few KB.
const MAX_SECRET_LEN: usize = 256;

/// A token secret: what fits in the `Authorization` header Proxmox reads,
/// checked before any call so a bad one is a 400, never an upstream error.
fn check_secret(secret: &str) -> Result<()> {
    if secret.trim().is_empty() {
        return Err(Error::bad_request("token_secret must not be empty"));
    }
    if secret.len() > MAX_SECRET_LEN || secret.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::bad_request(format!(
            "token_secret must be a Proxmox token secret (a UUID): at most {MAX_SECRET_LEN} \
             characters, without spaces or control characters"
        )));
    }
    Ok(())
}

/// A Proxmox user name: no `@`, `!`, `:`, `/`, space or control character.
pub fn check_name(field: &str, value: &str) -> Result<()> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@!:/,=".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "{field} must be a Proxmox user name without the realm (e.g. alice), not {value:?}"
        )))
    }
}

/// A Proxmox realm or token id: a letter, then letters, digits, `.`, `-`, `_`.
pub fn check_id(field: &str, value: &str) -> Result<()> {
    let mut chars = value.chars();
    let ok = (2..=64).contains(&value.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "{field} must start with a letter and hold only letters, digits, \".\", \"-\" and \
             \"_\" (e.g. pve), not {value:?}"
        )))
    }
}
