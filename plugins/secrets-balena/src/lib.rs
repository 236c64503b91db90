//! A secrets engine for balena-cloud and self-hosted openBalena: each read
//! of `creds/<role>` mints a balena API key with a lease; revoking the lease
//! (or its end) deletes the key.
//!
//! Why it exists: balena API keys never expire unless told to and are easy
//! to leak; this engine hands out short-lived keys that Vault/OpenBao tracks
//! and deletes, minted with a session token the operator stores once.
//!
//! Paths:
//! * `config`: the API's URL (balena-cloud or an openBalena, optionally
//!   with a private CA), the per-call timeout;
//! * `role/<name>`, `role/`: a balena user's session token (and optionally
//!   its username and password, to log in afresh when the API demands it),
//!   the lease TTLs, how keys are named and described;
//! * `creds/<role>`: a new API key, leased.
//!
//! The periodic function refreshes session tokens that are about to expire
//! (balena sessions last 7 days) and tidies the tokens kept for revocation.
//!
//! Mount option `wal_rollback_min_age` (e.g. `-options=wal_rollback_min_age=30s`)
//! sets how old a WAL entry of an unfinished mint must be before its key is
//! looked up and deleted (default 10 minutes).

mod client;
mod config;
mod creds;
mod jwt;
mod roles;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::upstream::{Retry, UpstreamCache};
use vault_plugin_sdk::{Backend, Error, Path, Result, SetupContext, SpecialPaths};

use config::CONFIG;
use roles::ROLES;

/// What the handlers of one mount share: caches only, never the source of
/// truth (that is storage, read on every request).
#[derive(Debug)]
pub struct State {
    /// The HTTP client for the current config, reused across requests
    /// (building one reads the system's CA bundle).
    upstream: UpstreamCache,
    /// When the periodic function last tried to refresh each stored
    /// session, so a failing refresh is retried hourly, not every minute.
    refresh_attempts: Mutex<HashMap<String, SystemTime>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            upstream: UpstreamCache::new("balena")
                .user_agent(vault_plugin_sdk::user_agent!())
                // Lookups and deletions only: a key creation is never repeated.
                .retry(Retry::default()),
            refresh_attempts: Mutex::default(),
        }
    }
}

impl State {
    /// Whether a refresh of the session stored at `key` was tried within
    /// `within`; records this attempt when it was not.
    fn refresh_due(&self, key: &str, now: SystemTime, within: Duration) -> bool {
        let mut attempts = self
            .refresh_attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let recent = attempts
            .get(key)
            .and_then(|at| now.duration_since(*at).ok())
            .is_some_and(|ago| ago < within);
        if recent {
            return false;
        }
        attempts.insert(key.to_owned(), now);
        true
    }
}

/// Builds the backend for one mount, reading the mount's options.
pub async fn factory(_: SetupContext) -> Result<Backend<State>> {
    backend().map_err(Error::internal)
}

/// The routes, built once per mount.
pub fn backend() -> Result<Backend<State>, BuildError> {
    Backend::builder(State::default())
        .help(
            "Dynamically generates balena API keys: each read of creds/<role> mints a key \
             with a session token stored in the role; revoking the lease deletes the key.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .special_paths(SpecialPaths {
            seal_wrap_storage: vec![
                "config".into(),
                "role/*".into(),
                format!("{}*", session::RETIRED_PREFIX),
            ],
            ..SpecialPaths::default()
        })
        .path(
            CONFIG
                .path()
                .synopsis("Configure which balena API keys are minted at.")
                .description(
                    "url is the API's base URL: https://api.balena-cloud.com, or a \
                     self-hosted openBalena (http(s)://host[:port][/prefix]). ca_cert (PEM) \
                     adds a private CA to the system's. Revoking leases needs the config: \
                     delete it only after every lease is gone.",
                )
                .read(config::read),
        )
        .path(
            Path::new("role/{name}")
                .synopsis("Manage the roles keys are minted for.")
                .description(
                    "A role holds the session token (JWT) of the balena user whose API keys \
                     it mints, checked with balena when written. balenaApiKey is the same \
                     field under its original name. With username and password the plugin \
                     logs in afresh when balena demands a recent login to mint keys. Reads \
                     never return the token or the password.",
                )
                .read(roles::read)
                .write(roles::write, roles::exists)
                .delete(roles::delete),
        )
        .path(ROLES.list_path().synopsis("List the roles."))
        .path(
            Path::new("creds/{name}")
                .synopsis("Mint a balena API key for a role.")
                .description(
                    "Each read creates a new API key for the role's balena user, leased with \
                     the role's ttl and max_ttl; the key also expires at balena at the lease's \
                     max TTL. Revoking the lease deletes the key.",
                )
                .read(creds::issue),
        )
        .secret(creds::secret())
        .wal_rollback(creds::roll_back)
        .periodic(session::refresh_sessions)
        .invalidate(|state: Arc<State>, key: String| async move {
            if key == CONFIG.key() {
                state.upstream.clear();
            }
        })
        .build()
}

#[cfg(test)]
mod tests;
