//! A complete secrets engine on vault-plugin-sdk, small enough to copy when
//! you start a plugin: it issues short-lived tokens of a (fictional) token
//! API over HTTPS, each with a lease whose end deletes the token.
//!
//! | path | operations | what it does |
//! |---|---|---|
//! | `config` | read, write, delete | the API's URL, how to reach it (CA, timeout, proxy...) and the admin token; a read never shows the token |
//! | `role/<name>`, `role/` | read, write, delete; list | the scopes, TTLs and name prefix of the tokens issued for one use; a write changes only what it sends |
//! | `creds/<role>` | read | a new token with a lease: renewable, and deleted upstream when revoked |
//!
//! The layout is a plugin crate's (there, this file would be `lib.rs` and a
//! two-line `main.rs`): one module per path group, `api` for the calls to
//! the token API, `tests` and `fake` for in-process tests against a fake of
//! it.
//!
//! Run its tests with `cargo test -p vault-plugin-sdk --example
//! token_engine --features upstream,test-util` (the workspace's
//! `cargo test` runs them too); `cargo build` with the same arguments makes
//! the plugin binary, registered like any plugin.

mod api;
mod config;
mod creds;
mod roles;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::upstream::UpstreamCache;
use vault_plugin_sdk::{Backend, Error, Path, Result, SetupContext, SpecialPaths};

use config::CONFIG;
use roles::ROLES;

/// What the handlers of one mount share: only the HTTPS client of the
/// configured API (rebuilt when the config's settings change). Everything
/// else is read from storage on each request, since another node may have
/// changed it.
pub struct State {
    upstream: UpstreamCache,
}

/// Serves the engine: the process the host starts.
fn main() -> ExitCode {
    vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), factory)
}

/// Builds the backend of one mount.
async fn factory(_: SetupContext) -> Result<Backend<State>> {
    backend().map_err(Error::internal)
}

/// The paths, the secret type and the hooks of one mount.
fn backend() -> Result<Backend<State>, BuildError> {
    let state = State {
        // Errors name the upstream "token API"; the User-Agent names the plugin.
        upstream: UpstreamCache::new("token API").user_agent(vault_plugin_sdk::user_agent!()),
    };
    Backend::builder(state)
        .help("Issues short-lived tokens of the token API, each deleted when its lease ends.")
        .version(vault_plugin_sdk::plugin_version!())
        // Read, write (only the fields sent), delete and list, generated.
        .path(CONFIG.path().synopsis("Configure the token API."))
        .path(ROLES.path().synopsis("Manage the roles."))
        .path(ROLES.list_path().synopsis("List the roles."))
        .path(
            Path::new("creds/{name}")
                .synopsis("Issue a token for a role, leased: revoking the lease deletes it.")
                .read(creds::issue),
        )
        .special_paths(SpecialPaths {
            // The host seal-wraps the admin token where it can.
            seal_wrap_storage: vec!["config".into()],
            ..SpecialPaths::default()
        })
        .secret(creds::secret())
        // The mount option wal_rollback_min_age (e.g. 5s) shortens its wait.
        .wal_rollback(creds::roll_back)
        .build()
}
