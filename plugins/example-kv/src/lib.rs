//! The SDK's living example: a secrets engine that shows every part of the
//! framework, and the vehicle of the benchmark.
//!
//! Paths:
//! * `kv/<name>` (read, create/update, patch, delete) and `kv/` (list): a JSON
//!   object per name; a `ttl` field makes the entry expire, and the
//!   periodic tidy removes expired entries;
//! * `config`: where the upstream key service is (a root path: it needs a
//!   root token or `sudo`);
//! * `role/<name>` and `role/`: typed fields (`ttl`, `max_ttl`,
//!   `key_prefix`, `description`) with update semantics;
//! * `creds/<role>`: a dynamic secret: a key created upstream under a WAL
//!   entry, leased, renewable, deleted upstream on revoke;
//! * `ping` (unauthenticated), `info`: the plugin and the host's system view; `info` also
//!   counts how often the mount was initialized (once per plugin start).
//!
//! Mount option `wal_rollback_min_age` (e.g. `-options=wal_rollback_min_age=5s`)
//! shortens how long a WAL entry waits before rollback (default 10 minutes).

mod config;
mod creds;
mod info;
mod kv;
mod roles;
pub mod upstream;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::upstream::{Retry, UpstreamCache};
use vault_plugin_sdk::{Backend, Error, Path, Result, SetupContext, SpecialPaths};

use config::CONFIG;
use roles::ROLES;

/// What the handlers of one mount share.
#[derive(Debug)]
pub struct State {
    /// Keys issued by this process, to make names unique.
    issued: AtomicU64,
    /// The upstream client of the current config, rebuilt when it changes.
    upstream: UpstreamCache,
}

impl Default for State {
    fn default() -> Self {
        Self {
            issued: AtomicU64::new(0),
            upstream: UpstreamCache::new("the key service")
                .user_agent(vault_plugin_sdk::user_agent!())
                // Lookups and deletions only: a key creation is never repeated.
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
            "A key/value store, roles, and dynamic keys from an upstream service: \
             the example plugin of vault-plugin-sdk.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .path(
            Path::new("kv/{name}")
                .synopsis("Read, write or delete one entry.")
                .description(
                    "Writing stores every given field as the entry; reading returns them. \
                     A ttl field (\"30s\", \"1h\") makes the entry expire.",
                )
                .takes_arbitrary_input()
                .read(kv::read)
                .write(kv::write, kv::exists)
                .patch(kv::patch)
                .delete(kv::delete),
        )
        .path(
            Path::new("kv/?")
                .synopsis("List the entries.")
                .list(kv::list),
        )
        .path(
            CONFIG
                .path()
                .synopsis("Configure the upstream key service."),
        )
        .path(
            ROLES
                .path()
                .synopsis("Manage the roles keys are issued for.")
                .description("A role sets the lease TTLs and the name prefix of its keys."),
        )
        .path(ROLES.list_path().synopsis("List the roles."))
        .path(
            Path::new("creds/{name}")
                .synopsis("Issue a key for a role.")
                .description(
                    "Each read creates a new key upstream, leased: revoking the lease \
                     deletes the key.",
                )
                .read(creds::issue),
        )
        .path(
            Path::new("ping")
                .synopsis("Answer without touching storage.")
                .read(info::ping),
        )
        .path(
            Path::new("info")
                .synopsis("Show what the host says about this mount.")
                .read(info::info),
        )
        .special_paths(SpecialPaths {
            // Changing where keys come from needs a root token or `sudo`.
            root: vec!["config".into()],
            // A health check: answers without a token.
            unauthenticated: vec!["ping".into()],
            seal_wrap_storage: vec!["config".into()],
            ..SpecialPaths::default()
        })
        .secret(creds::secret())
        .wal_rollback(creds::roll_back)
        .periodic(kv::tidy)
        .initialize(info::initialize)
        .invalidate(|state: Arc<State>, key: String| async move {
            if key == CONFIG.key() {
                state.upstream.clear();
            }
        })
        .build()
}

#[cfg(test)]
mod tests;
