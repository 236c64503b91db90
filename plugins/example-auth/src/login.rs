//! `login` and token renewal: a username and password in, a token out.
//!
//! The host reaches `login` without a token (it is an unauthenticated
//! path). A wrong password and an unknown user get the same answer, after
//! the same amount of work, so the endpoint does not reveal who exists.
//! Before a login the host may ask `alias-lookahead` for the identity alias
//! the login would use; that answer needs only the username.
//!
//! Renewing a token looks the user up again: a deleted user's tokens stop
//! renewing, and so do tokens whose policies no longer match the user's, so
//! that taking a policy away takes effect at the next renewal.

use std::sync::Arc;

use serde_json::{Value, json};
use vault_plugin_sdk::framework::{Alias, Auth};
use vault_plugin_sdk::{Error, Fields, Request, Response, Result, blocking};

use crate::State;
use crate::password::PasswordHash;
use crate::users::{USERNAME_KEY, User};

/// The one answer to every failed login.
pub const INVALID_CREDENTIALS: &str = "invalid username or password";

/// Arguments of a login.
#[derive(Fields)]
pub struct LoginArgs {
    /// Name of the user (case-insensitive).
    #[field(required)]
    username: String,
    /// The user's password.
    #[field(required, sensitive)]
    password: String,
}

/// Arguments of an alias lookahead: a login's fields, of which only the
/// username matters.
#[derive(Fields)]
pub struct LookaheadArgs {
    /// Name of the user (case-insensitive).
    #[field(required)]
    username: String,
}

/// Checks the password and answers with the token to create.
pub async fn login(_: Arc<State>, req: Request, args: LoginArgs) -> Result<Response> {
    let username = args.username.to_lowercase();
    let user = User::load(&req, &username).await?;
    // The hash costs tens of milliseconds on purpose: off the runtime
    // thread, so other requests go on meanwhile. An unknown user costs the
    // same time as a wrong password.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = blocking::run(move || match hash {
        Some(hash) => hash.verify(&args.password),
        None => {
            PasswordHash::check_nothing(&args.password);
            Ok(false)
        }
    });
    let user = match (verified.await??, user) {
        (true, Some(user)) => user,
        _ => return Err(Error::bad_request(INVALID_CREDENTIALS)),
    };
    if !user.token.allows(req.remote_addr.as_deref()) {
        return Err(Error::PermissionDenied);
    }

    let mut auth = Auth {
        display_name: username.clone(),
        alias: Some(Alias::new(username.clone())),
        group_aliases: user.groups.iter().map(Alias::new).collect(),
        metadata: user.metadata.clone().into_iter().collect(),
        ..Auth::default()
    };
    auth.metadata
        .insert(USERNAME_KEY.to_owned(), username.clone());
    auth.internal_data
        .insert(USERNAME_KEY.to_owned(), json!(username));
    user.token.apply_to(&mut auth)?;
    Ok(Response::auth(auth))
}

/// The identity alias a login with these fields would use.
pub async fn alias_lookahead(_: Arc<State>, _: Request, args: LookaheadArgs) -> Result<Response> {
    let username = args.username.to_lowercase();
    if username.is_empty() {
        return Err(Error::bad_request("missing username"));
    }
    Ok(Response::auth(Auth {
        alias: Some(Alias::new(username)),
        ..Auth::default()
    }))
}

/// Renews a token of this method, with the user's current TTLs and period.
pub async fn renew(_: Arc<State>, mut req: Request) -> Result<Response> {
    let Some(auth) = req.auth.as_mut() else {
        return Err(Error::bad_request("the request carries no token to renew"));
    };
    let username = auth
        .internal_data
        .get(USERNAME_KEY)
        .and_then(Value::as_str)
        .or_else(|| auth.metadata.get(USERNAME_KEY).map(String::as_str))
        .map(str::to_owned)
        .ok_or_else(|| Error::bad_request("the token does not name its user"))?;
    let token_policies = auth.token_policies.clone();
    let user = User::load(&req, &username).await?.ok_or_else(|| {
        Error::bad_request(format!("user {username:?} no longer exists: not renewing"))
    })?;
    if !user.token.grants_policies(&token_policies) {
        return Err(Error::bad_request("policies have changed, not renewing"));
    }
    if let Some(auth) = req.auth.as_mut() {
        auth.period = user.token.token_period;
    }
    req.renew_auth(user.token.token_ttl, user.token.token_max_ttl)
        .await
}
