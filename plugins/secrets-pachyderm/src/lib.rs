//! A secrets engine for Pachyderm 2.x: each `login` mints a pachd robot
//! token with a lease; revoking the lease (or its end) revokes the token in
//! pachd, and pachd expires the token by itself at the lease's max TTL in
//! any case.
//!
//! Why it exists: Pachyderm pipelines and users need pachd tokens, and
//! handing out the root token is the usual shortcut. The Go plugin this
//! replaces spoke Pachyderm 1.x's removed auth API, let anyone who reached
//! Vault mint a token for any user, returned the admin token on a config
//! read, and never revoked what it minted.
//!
//! Paths:
//! * `config`: pachd's address, the admin token (never returned), the lease
//!   TTLs, the call timeout, an optional private CA;
//! * `config/rotate-root`: replaces pachd's root token by one only Vault
//!   knows, when the admin token is the root token;
//! * `login/<robot>`, and the original `login` with `username=robot:<name>`:
//!   a new token of that robot, leased (module `login` has the policy rule);
//! * `revoke`: revokes any token given to it;
//! * `version`, `version/client-only`: the plugin's and pachd's versions.

mod config;
mod login;
mod pachd;
mod revoke;
mod robot;
mod rotate;
mod token;
mod version;

use std::sync::Mutex;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::{Backend, Error, Path, Result, SetupContext, SpecialPaths};

use crate::pachd::{Pachd, Settings};

/// What the handlers of one mount share: the pachd client, a cache only
/// (storage holds the config and is read on every request).
#[derive(Debug, Default)]
pub struct State {
    /// The client for the current config's address, CA and timeout: one
    /// gRPC connection per mount, rebuilt when they change.
    pachd: Mutex<Option<(Settings, Pachd)>>,
}

impl State {
    /// The client for `settings`, built once and then reused.
    fn pachd(&self, settings: Settings) -> Result<Pachd> {
        let mut cached = self.pachd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((have, client)) = cached.as_ref()
            && *have == settings
        {
            return Ok(client.clone());
        }
        let client = Pachd::new(&settings).map_err(Error::bad_request)?;
        *cached = Some((settings, client.clone()));
        Ok(client)
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
            "Mints Pachyderm robot tokens with leases: write login/<robot> for a token of \
             robot:<robot>; revoking the lease revokes the token in pachd.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .special_paths(SpecialPaths {
            seal_wrap_storage: vec!["config".into()],
            ..SpecialPaths::default()
        })
        .path(
            config::CONFIG
                .path()
                .synopsis("Configure the pachd that tokens are minted at.")
                .description(
                    "pachd_address is pachd's gRPC address (host:port, grpc://host:port or \
                     grpcs://host:port; port 30650 by default); admin_token is a pachd token \
                     of a clusterAdmin (a robotUser's also works, but an interrupted mint \
                     may then leave a token until its expiry), checked with pachd when \
                     written and never returned. ttl and max_ttl are the leases' \
                     TTLs; a minted token expires in pachd at the lease's max TTL. Revoking \
                     leases needs the config: delete it only after every lease is gone.",
                )
                // The write checks with pachd and warns; read and delete are generated.
                .create(config::write)
                .update(config::write),
        )
        .path(
            Path::new("config/rotate-root")
                .synopsis("Rotate pachd's root token so only Vault knows it.")
                .description(
                    "When admin_token is pachd's root token (pach:root), replaces it in pachd \
                     by a new random token and stores that one. The old root token stops \
                     working; the new one is never shown.",
                )
                .update(rotate::rotate_root),
        )
        .path(
            Path::new("login/{robot*}")
                .synopsis("Mint a token for a Pachyderm robot user.")
                .description(
                    "Each write mints a new pachd token for robot:<robot>, leased with the \
                     config's ttl (or the ttl given) within its max_ttl; pachd expires the \
                     token at the max TTL. Policies grant robots by path, e.g. \
                     pachyderm/login/ci. Pachyderm 2.x issues tokens only for robot users.",
                )
                .update(login::login_path),
        )
        .path(
            Path::new("login")
                .synopsis("Mint a token for username=robot:<name> (the original form).")
                .description(
                    "The same as login/<name>, with the robot as username=robot:<name>. A \
                     policy restricts it with allowed_parameters on username.",
                )
                .update(login::login_username),
        )
        .path(
            Path::new("revoke")
                .synopsis("Revoke a pachd token.")
                .description(
                    "Revokes user_token in pachd with the admin token, whoever it belongs to. \
                     A token pachd does not know counts as revoked.",
                )
                .update(revoke::revoke),
        )
        .path(
            Path::new("version")
                .synopsis("The plugin's and pachd's versions.")
                .read(version::both),
        )
        .path(
            Path::new("version/client-only")
                .synopsis("The plugin's version, without calling pachd.")
                .read(version::client_only),
        )
        .secret(login::secret())
        .wal_rollback(login::roll_back)
        .build()
}

#[cfg(test)]
mod tests;
