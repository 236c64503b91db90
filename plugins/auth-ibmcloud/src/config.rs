//! `config`: the account logins must belong to, and the API key the plugin
//! asks IAM with.
//!
//! The key's identity (typically a service ID of the account) needs Viewer
//! on the IAM Identity Service, the Access Groups Service and the User
//! Management Service, and Operator on the IAM Identity Service for
//! rotate-root. The key is stored seal-wrapped where the host can, is never
//! shown (a read says `<redacted>`) and never logged. `api_key` and
//! `account_id` are required when the config is created; a later write keeps
//! what it does not send. Each request reads the config, so a change takes
//! effect at once (the cached admin token and keys follow it, see
//! [`crate::link`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;

/// The storage key of the config.
pub const KEY: &str = "config";
/// The public IAM endpoint.
pub const DEFAULT_IAM_ENDPOINT: &str = "https://iam.cloud.ibm.com";
/// The public user management endpoint.
pub const DEFAULT_USER_MANAGEMENT_ENDPOINT: &str = "https://user-management.cloud.ibm.com";
/// What a read shows instead of the API key.
pub const REDACTED: &str = "<redacted>";

/// The stored config.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The API key the plugin calls IAM with.
    pub api_key: String,
    /// The account every login must belong to.
    pub account_id: String,
    /// Base URL of IAM (public, private, or a proxy).
    pub iam_endpoint: String,
    /// Base URL of user management.
    pub user_management_endpoint: String,
    /// The `iss` tokens must carry; empty: the issuer IAM's discovery
    /// document names.
    #[serde(default)]
    pub bound_issuer: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("account_id", &self.account_id)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("user_management_endpoint", &self.user_management_endpoint)
            .field("bound_issuer", &self.bound_issuer)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The stored config, if any.
    pub async fn load(req: &Request) -> Result<Option<Config>> {
        Ok(req.storage().get_json(KEY).await?)
    }

    /// The stored config, or the error a login or rotation gets on a mount
    /// nobody configured.
    pub async fn require(req: &Request) -> Result<Config> {
        Self::load(req).await?.ok_or_else(|| {
            Error::internal(
                "the IBM Cloud auth method is not configured yet: write its config \
                 (api_key, account_id) first",
            )
        })
    }

    /// Stores the config.
    pub async fn save(&self, req: &Request) -> Result<()> {
        Ok(req.storage().put_json(KEY, self).await?)
    }
}

/// Arguments of a config write; what is not sent is kept.
#[derive(Fields)]
pub struct ConfigArgs {
    /// An API key of the identity the plugin asks IAM with (required when
    /// the config is created; never shown).
    #[field(sensitive)]
    api_key: Option<String>,
    /// The IBM Cloud account logins must belong to (required when the
    /// config is created).
    account_id: Option<String>,
    /// Base URL of IAM, e.g. https://private.iam.cloud.ibm.com (default
    /// https://iam.cloud.ibm.com).
    iam_endpoint: Option<String>,
    /// Base URL of user management (default
    /// https://user-management.cloud.ibm.com).
    user_management_endpoint: Option<String>,
    /// The issuer (`iss`) tokens must carry; empty (the default) uses the
    /// issuer IAM's discovery document names.
    bound_issuer: Option<String>,
}

/// Whether a config is stored.
pub async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get(KEY).await?.is_some())
}

/// Creates or updates the config. Everything is checked before anything is
/// stored.
pub async fn write(_: Arc<State>, req: Request, args: ConfigArgs) -> Result<Response> {
    let old = Config::load(&req).await?;
    let required = |sent: Option<String>, old: Option<&String>, name: &str| match sent
        .or_else(|| old.cloned())
        .map(|v| v.trim().to_owned())
    {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Error::bad_request(format!(
            "the required field {name} is missing"
        ))),
    };
    let config = Config {
        api_key: required(args.api_key, old.as_ref().map(|c| &c.api_key), "api_key")?,
        account_id: checked_id(
            required(
                args.account_id,
                old.as_ref().map(|c| &c.account_id),
                "account_id",
            )?,
            "account_id",
        )?,
        iam_endpoint: endpoint(
            args.iam_endpoint,
            old.as_ref().map(|c| &c.iam_endpoint),
            DEFAULT_IAM_ENDPOINT,
            "iam_endpoint",
        )?,
        user_management_endpoint: endpoint(
            args.user_management_endpoint,
            old.as_ref().map(|c| &c.user_management_endpoint),
            DEFAULT_USER_MANAGEMENT_ENDPOINT,
            "user_management_endpoint",
        )?,
        bound_issuer: args
            .bound_issuer
            .or_else(|| old.as_ref().map(|c| c.bound_issuer.clone()))
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    config.save(&req).await?;
    Ok(Response::empty())
}

/// Shows the config, with the API key as `<redacted>`.
pub async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let Some(config) = Config::load(&req).await? else {
        return Err(Error::not_found("the auth method is not configured"));
    };
    let mut data = Map::new();
    data.insert("api_key".into(), json!(REDACTED));
    data.insert("account_id".into(), json!(config.account_id));
    data.insert("iam_endpoint".into(), json!(config.iam_endpoint));
    data.insert(
        "user_management_endpoint".into(),
        json!(config.user_management_endpoint),
    );
    data.insert("bound_issuer".into(), json!(config.bound_issuer));
    Ok(Response::with_data(data))
}

/// Deletes the config; logins fail until a new one is written.
pub async fn delete(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().delete(KEY).await?;
    Ok(Response::empty())
}

/// An endpoint: sent, kept, or the default; an absolute http(s) URL without
/// query, fragment or credentials, stored without a trailing `/`.
fn endpoint(
    sent: Option<String>,
    old: Option<&String>,
    default: &str,
    name: &str,
) -> Result<String> {
    let value = sent
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| old.cloned())
        .unwrap_or_else(|| default.to_owned());
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
