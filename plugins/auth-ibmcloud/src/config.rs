//! `config`: the account logins must belong to, and the API key the plugin
//! asks IAM with.
//!
//! The key's identity (typically a service ID of the account) needs Viewer
//! on the IAM Identity Service, the Access Groups Service and the User
//! Management Service, and Operator on the IAM Identity Service for
//! rotate-root. The key is stored seal-wrapped where the host can, is never
//! shown (a read says `<redacted>`, as the original plugin's did) and never
//! logged (it is [`Redacted`]). The SDK writes and deletes the config
//! ([`Record`]): `api_key` and `account_id` are required when it is
//! created, a later write keeps what it does not send, and [`Record::check`]
//! checks everything before anything is stored. The read is this module's
//! (the key as `<redacted>`, a 404 error before the first write). Each
//! request reads the config, so a change takes effect at once (the cached
//! admin token and keys follow it, see [`crate::link`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vault_plugin_sdk::framework::Record;
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::storage::Entry;
use vault_plugin_sdk::upstream::UpstreamSettings;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;

/// Where the config is stored.
pub const CONFIG: Entry<Config> = Entry::new("config");
/// What a read shows instead of the API key.
pub const REDACTED: &str = "<redacted>";

/// The config, as written and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Fields, Serialize, Deserialize)]
pub struct Config {
    /// An API key of the identity the plugin asks IAM with (a read shows it
    /// redacted).
    #[field(required, sensitive)]
    pub api_key: Redacted<String>,
    /// The IBM Cloud account logins must belong to.
    #[field(required)]
    pub account_id: String,
    /// Base URL of IAM: the public endpoint by default, or the private one
    /// (private.iam.cloud.ibm.com), or a proxy.
    #[field(default = "https://iam.cloud.ibm.com")]
    pub iam_endpoint: String,
    /// Base URL of user management.
    #[field(default = "https://user-management.cloud.ibm.com")]
    pub user_management_endpoint: String,
    /// The issuer (`iss`) tokens must carry; empty (the default) uses the
    /// issuer IAM's discovery document names.
    #[serde(default)]
    pub bound_issuer: String,
    /// How IBM Cloud is reached (both endpoints): `ca_cert` (a private CA,
    /// e.g. of a proxy), `insecure_skip_tls_verify`, `timeout`,
    /// `proxy_server`, `http_headers`.
    #[field(flatten)]
    #[serde(flatten)]
    pub upstream: UpstreamSettings,
}

impl Config {
    /// The stored config, or the error a login or rotation gets on a mount
    /// nobody configured.
    pub async fn require(req: &Request) -> Result<Config> {
        CONFIG.load(req.storage()).await?.ok_or_else(|| {
            Error::internal(
                "the IBM Cloud auth method is not configured yet: write its config \
                 (api_key, account_id) first",
            )
        })
    }

    /// Stores the config.
    pub async fn save(&self, req: &Request) -> Result<()> {
        CONFIG.save(req.storage(), self).await
    }
}

impl Record<State> for Config {
    /// Checks every field and puts it in its stored form.
    async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
        let key = self.api_key.expose().trim().to_owned();
        if key.is_empty() {
            return Err(Error::bad_request("the required field api_key is missing"));
        }
        self.api_key = Redacted::new(key);
        self.account_id = checked_id(self.account_id.trim().to_owned(), "account_id")?;
        self.iam_endpoint = endpoint(&self.iam_endpoint, "iam_endpoint")?;
        self.user_management_endpoint =
            endpoint(&self.user_management_endpoint, "user_management_endpoint")?;
        self.bound_issuer = self.bound_issuer.trim().to_owned();
        // Builds the HTTP clients now, so a bad ca_cert or proxy is a 400 here.
        state.links.for_config(self.clone()).map(drop)
    }
}

/// Shows the config, with the API key as `<redacted>`.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let Some(config) = CONFIG.load(req.storage()).await? else {
        return Err(Error::not_found("the auth method is not configured"));
    };
    let mut data = serde_json::to_value(&config)?;
    data["api_key"] = json!(REDACTED);
    match data {
        Value::Object(mut data) => {
            // The settings as they are safe to show (whether a CA is set,
            // the proxy without its password, header names only), once
            // any differs from its default.
            let stored = serde_json::to_value(&config.upstream)?;
            for key in stored.as_object().into_iter().flat_map(|o| o.keys()) {
                data.remove(key);
            }
            if config.upstream != UpstreamSettings::default() {
                data.extend(config.upstream.read_data());
            }
            Ok(Response::with_data(data))
        }
        _ => Err(Error::internal("the config is not a JSON object")),
    }
}

/// An endpoint: an absolute http(s) URL without query, fragment or
/// credentials, stored without a trailing `/`.
fn endpoint(value: &str, name: &str) -> Result<String> {
    let value = value.trim();
    let bad = |why: &str| Error::bad_request(format!("{name} {value:?} {why}"));
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// (or http://)"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if host.contains('@') || value.contains(['?', '#', ' ']) {
        return Err(bad(
            "must be a plain URL (no credentials, query or fragment)",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// An id that goes into URL paths: letters, digits, `-` and `_` only.
pub fn checked_id(value: String, name: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value)
    } else {
        Err(Error::bad_request(format!(
            "{name} {value:?} may hold only letters, digits, '-' and '_'"
        )))
    }
}
