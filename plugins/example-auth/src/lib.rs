//! The SDK's example auth method: users with passwords log in for tokens.
//!
//! It exists to show, and to test against a real host, every part of the
//! SDK an auth method needs: an unauthenticated login path, the `Auth` a
//! login returns (policies, TTLs, identity alias and group aliases,
//! metadata), the standard `token_*` fields, alias lookahead, and token
//! renewal. It behaves like Vault's `userpass`, so operators know it.
//!
//! Paths:
//! * `users/<name>` (read, create/update, delete) and `users/` (list): a
//!   user's password (stored hashed, never shown), groups, metadata and
//!   token settings;
//! * `users/<name>/password`: change only the password;
//! * `login` (unauthenticated): `username` and `password` in, a token out.
//!
//! ```sh
//! bao auth enable -path=ex example-auth
//! bao write auth/ex/users/alice password=pw token_policies=dev token_ttl=10m
//! bao write auth/ex/login username=alice password=pw
//! ```

mod login;
mod password;
mod users;

use vault_plugin_sdk::framework::BuildError;
use vault_plugin_sdk::{Backend, BackendType, Error, Path, Result, SetupContext, SpecialPaths};

pub use login::INVALID_CREDENTIALS;

/// What the handlers of one mount share: nothing, everything is in storage.
#[derive(Debug, Default)]
pub struct State;

/// Builds the backend for one mount.
pub async fn factory(_: SetupContext) -> Result<Backend<State>> {
    backend().map_err(Error::internal)
}

/// The routes, built once per mount.
pub fn backend() -> Result<Backend<State>, BuildError> {
    Backend::builder(State)
        .backend_type(BackendType::Credential)
        .help(
            "Users log in with a username and password and receive a token \
             with their policies: the example auth method of vault-plugin-sdk.",
        )
        .version(vault_plugin_sdk::plugin_version!())
        .special_paths(SpecialPaths {
            unauthenticated: vec!["login".into()],
            ..SpecialPaths::default()
        })
        .path(
            Path::new("users/{name}/password")
                .synopsis("Change a user's password.")
                .description("Only the password changes; the user must exist.")
                .update(users::write_password),
        )
        .path(
            Path::new("users/{name}")
                .synopsis("Manage one user.")
                .description(
                    "A user has a password (required on create, stored hashed and never \
                     shown), identity group aliases, metadata copied onto their tokens, \
                     and the token_* settings of the tokens their logins create. A write \
                     keeps what it does not send.",
                )
                .read(users::read)
                .write(users::write, users::exists)
                .delete(users::delete),
        )
        .path(
            Path::new("users/?")
                .synopsis("List the users.")
                .list(users::list),
        )
        .path(
            Path::new("login")
                .synopsis("Log in with a username and password.")
                .description(
                    "Answers with a token carrying the user's policies. A wrong password \
                     and an unknown user get the same error.",
                )
                .update(login::login)
                .alias_lookahead(login::alias_lookahead),
        )
        .auth_renew(login::renew)
        .build()
}

#[cfg(test)]
mod tests;
