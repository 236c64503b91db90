//! A secrets engine for Proxmox VE: each read of `creds/<role>` mints an API
//! token of the role's Proxmox user, leased; revoking the lease (or its end)
//! deletes the token, and Proxmox expires it by itself at the lease's max TTL.
//!
//! Why it exists: Packer, Terraform, CI runners and Ansible talk to Proxmox
//! with API tokens, and a long-lived root token in every pipeline is the
//! usual result. This engine hands out short-lived tokens instead, and with
//! a role's `acls` they are privilege-separated: a token can do only what
//! its own ACL entries allow (within its user's rights).
//!
//! Paths:
//! * `config`: the Proxmox API URL, the API token the plugin acts with
//!   (checked when written), and how Proxmox is reached (TLS, proxy,
//!   headers, timeout);
//! * `config/rotate-root`: a new secret for that token (Proxmox VE 9.1+);
//! * `role/<name>`, `role/`: whose tokens are minted, their lease TTLs,
//!   comment, privilege separation and ACL entries;
//! * `creds/<role>`: a new API token, leased.
//!
//! Mount option `wal_rollback_min_age` (e.g. `-options=wal_rollback_min_age=30s`)
//! sets how old the WAL entry of an unfinished mint must be before its token
//! is deleted (default 10 minutes).

mod acl;
mod config;
mod creds;
mod pve;
mod roles;
mod rotate;

use std::sync::Arc;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::upstream::{Retry, UpstreamCache};
use vault_plugin_sdk::{Backend, Error, Path, Result, SetupContext, SpecialPaths};

/// What the handlers of one mount share: the HTTP client of the current
/// config (storage stays the source of truth, read on every request).
#[derive(Debug)]
pub struct State {
    upstream: UpstreamCache,
}

impl Default for State {
    fn default() -> Self {
        State {
            upstream: UpstreamCache::new("Proxmox")
                .user_agent(vault_plugin_sdk::user_agent!())
                // Lookups, deletions and ACL entries only: a token creation
                // or a secret regeneration is never repeated.
                .retry(Retry::default()),
        }
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
            "Dynamically generates Proxmox VE API tokens: each read of creds/<role> mints a \
             token of the role's user, optionally privilege-separated with its own ACL \
             entries; revoking the lease deletes the token.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .special_paths(SpecialPaths {
            seal_wrap_storage: vec!["config".into(), "role/*".into()],
            ..SpecialPaths::default()
        })
        .path(
            config::CONFIG
                .path()
                .synopsis("Configure the Proxmox API and the token the plugin acts with.")
                .description(
                    "The plugin calls proxmox_url with the API token user@realm!token_id, \
                     checked with Proxmox (GET /version) when written. That token needs \
                     User.Modify on the users whose tokens roles mint (e.g. on \
                     /access/groups), and Permissions.Modify (or the roles it hands out) on \
                     the paths of the roles' acls. Reads never return token_secret.",
                ),
        )
        .path(
            Path::new("config/rotate-root")
                .synopsis("Regenerate the config token's secret, so only Vault knows it.")
                .description(
                    "Asks Proxmox for a new secret of the config token (regenerate=1, \
                     Proxmox VE 9.1 and later) and stores it; the old secret stops working. \
                     Older Proxmox versions refuse, and nothing changes.",
                )
                .update(rotate::rotate_root),
        )
        .path(
            roles::ROLES
                .path()
                .synopsis("Manage the roles tokens are minted for.")
                .description(acl::ROLE_DESCRIPTION),
        )
        .path(roles::ROLES.list_path().synopsis("List the roles."))
        .path(
            Path::new("creds/{name}")
                .synopsis("Mint a Proxmox API token for a role.")
                .description(
                    "Each read creates a new API token of the role's user, leased with the \
                     role's ttl and max_ttl; Proxmox expires the token at the lease's max TTL. \
                     With acls the token is privilege-separated and gets exactly those ACL \
                     entries. Revoking the lease deletes the token.",
                )
                .read(creds::issue),
        )
        .secret(creds::secret())
        .wal_rollback(creds::roll_back)
        .invalidate(|state: Arc<State>, key: String| async move {
            if key == config::CONFIG.key() {
                state.upstream.clear();
            }
        })
        .build()
}

#[cfg(test)]
mod tests;
