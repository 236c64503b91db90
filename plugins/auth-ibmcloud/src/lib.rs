//! An auth method for IBM Cloud: workloads and people log in with an IAM
//! access token or API key and get a Vault/OpenBao token.
//!
//! The identity is IBM Cloud's: a service ID, a user of the account, or a
//! trusted profile. A login is accepted when IAM signed the token (checked
//! against the keys IAM publishes, see [`verify`]), the identity belongs to
//! the configured account, and the role binds its subject or one of its
//! access groups ([`identity`]). Each IAM identity gets one identity entity
//! (the alias is its IAM ID).
//!
//! Paths (the original plugin's API):
//! * `config` (read, create/update, delete): the API key the plugin asks
//!   IAM with, the account, the endpoints ([`config`]);
//! * `config/rotate-root`: a new API key replaces the configured one
//!   ([`rotate`]);
//! * `role/<name>` (read, create/update, delete) and `role/` (list): bound
//!   subjects and access groups, token settings ([`roles`]);
//! * `login` (unauthenticated): `role` and `token` or `api_key` ([`login`]).
//!
//! Mount option `wal_rollback_min_age` (e.g. `-options=wal_rollback_min_age=30s`,
//! 10 minutes by default) sets how old the WAL entry of an unfinished
//! rotate-root must be before its rollback deletes the orphaned key.
//!
//! ```sh
//! bao auth enable -path=ibmcloud auth-ibmcloud
//! bao write auth/ibmcloud/config api_key=$ADMIN_KEY account_id=$ACCOUNT
//! bao write auth/ibmcloud/role/dev-role bound_subjects=ServiceId-... token_policies=dev
//! bao write auth/ibmcloud/login role=dev-role api_key=$APP_KEY
//! ```

pub mod config;
pub mod iam;
pub mod identity;
pub mod keys;
pub mod link;
pub mod login;
pub mod roles;
pub mod rotate;
pub mod verify;

use std::sync::Arc;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::{Backend, BackendType, Error, Path, Result, SetupContext, SpecialPaths};

/// What the handlers of one mount share: the link to IBM Cloud (clients,
/// keys, admin token) for the stored config.
#[derive(Debug, Default)]
pub struct State {
    /// The cached link for the current config.
    pub links: link::Links,
}

/// Builds the backend for one mount, reading the mount's options.
pub async fn factory(_: SetupContext) -> Result<Backend<State>> {
    backend().map_err(Error::internal)
}

/// The routes, built once per mount; an unfinished rotate-root is rolled
/// back once its WAL entry is `wal_rollback_min_age` old.
pub fn backend() -> Result<Backend<State>, BuildError> {
    Backend::builder(State::default())
        .backend_type(BackendType::Credential)
        .help(
            "IBM Cloud identities (service IDs, users, trusted profiles) log in with an \
             IAM access token or API key and receive a token with their role's policies.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .special_paths(SpecialPaths {
            unauthenticated: vec!["login".into()],
            seal_wrap_storage: vec![config::CONFIG.key().into()],
            ..SpecialPaths::default()
        })
        .path(
            Path::new("config/rotate-root")
                .synopsis("Replace the configured API key with a new one.")
                .description(
                    "Creates a new API key for the same identity and account, stores it, \
                     then deletes the old key. Answers with the new key's id, never the key. \
                     When IAM's answer to the creation is lost, the config is unchanged, the \
                     key IAM may have created is deleted within minutes, and a retry is safe.",
                )
                .update(rotate::rotate_root),
        )
        .path(
            config::CONFIG
                .path()
                .synopsis("Configure the account and the API key the plugin asks IAM with.")
                .description(
                    "api_key and account_id are required when the config is created; a \
                     write keeps what it does not send. Reads show the key as <redacted>.",
                )
                // Write and delete are generated; the read shows the key as <redacted>.
                .read(config::read),
        )
        .path(
            Path::new("role/{name}")
                .synopsis("Manage a role: who may log in, and the tokens they get.")
                .description(
                    "A role binds subjects (a token's sub) and access groups; at least \
                     one binding is required. A write keeps what it does not send.",
                )
                .read(roles::read)
                .write(roles::write, roles::exists)
                .delete(roles::delete),
        )
        .path(roles::ROLES.list_path().synopsis("List the roles."))
        .path(
            Path::new("login")
                .synopsis("Log in with an IAM access token or API key.")
                .description(
                    "Give role and either token (an IAM access token) or api_key. A \
                     refused login is a plain permission denied.",
                )
                .update(login::login),
        )
        .auth_renew(login::renew)
        .wal_rollback(rotate::roll_back)
        .invalidate(|state: Arc<State>, key: String| async move {
            if key == config::CONFIG.key() {
                state.links.reset();
            }
        })
        .build()
}

#[cfg(test)]
mod published;
#[cfg(test)]
mod tests;
