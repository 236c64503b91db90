//! `role/<name>`: whose API keys are minted, and how they are leased.
//!
//! A role stores a balena user's session token, checked with balena
//! (`GET /user/v1/whoami`) whenever a new one is written, so a dead token is
//! refused with a 400 before anything is stored. Writes have update
//! semantics: what a write does not send is kept.
//!
//! The token field is `session_token`; `balenaApiKey`, its name in the Go
//! plugin this replaces, is accepted as an alias (shown as deprecated in
//! help), so existing scripts keep working. It is a session token, not an
//! API key: balena lets only sessions mint keys.
//!
//! Reads never return the token or the password: they show the username,
//! whether a password is stored, and when the session ends (from the JWT's
//! `exp`), with a warning when that is less than a day away.
//!
//! Deleting a role retires its session for revoking the keys already
//! issued (see [`crate::session`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vault_plugin_sdk::prelude::*;

use crate::State;
use crate::client::{ApiError, format_time};
use crate::config::Config;
use crate::jwt::Claims;
use crate::session::{Login, ROLE_PREFIX, api_error, retire, secs};

/// The longest session token accepted. balena's are JWTs of about 300
/// characters; a much longer one only makes the API refuse the whoami
/// headers (HTTP 431), which would read as balena failing.
const MAX_TOKEN_LEN: usize = 8192;

/// A role read warns when the session ends sooner than this.
const EXPIRY_WARNING: Duration = Duration::from_secs(24 * 3600);

/// Where roles are stored.
pub const ROLES: Collection<Role> = Collection::new(ROLE_PREFIX);

/// A stored role: its settings are written directly (partial updates);
/// its login is checked with balena first (see [`LoginArgs`]).
#[derive(Debug, Clone, PartialEq, Eq, Fields, Serialize, Deserialize)]
pub struct Role {
    /// The balena user and session keys are minted with.
    #[field(skip)]
    #[serde(flatten)]
    pub login: Login,
    /// Lease TTL of minted keys (e.g. "5m"); 0 means the mount's default.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub ttl: Duration,
    /// Max lease TTL of minted keys (e.g. "1h"), also when balena deletes
    /// each key by itself; 0 means the mount's max.
    #[serde(with = "vault_plugin_sdk::storage::secs")]
    pub max_ttl: Duration,
    /// Start of every key's name (letters, digits, "-" and "_"; default "vault").
    #[field(default = "vault")]
    pub key_name_prefix: String,
    /// Description of every key (default "Vault Managed Balena Token").
    #[field(default = "Vault Managed Balena Token")]
    pub key_description: String,
}

impl Role {
    /// The longest a key of this role may live: its max TTL within the
    /// mount's max (the host caps leases the same way).
    pub async fn effective_max_ttl(&self, req: &Request) -> Result<Duration> {
        let mount_max = req.system_view().max_lease_ttl().await?;
        Ok(match self.max_ttl {
            Duration::ZERO => mount_max,
            max => max.min(mount_max),
        })
    }
}

/// The login fields of a role write: checked with balena before anything
/// is stored, and never returned.
#[derive(Fields)]
pub struct LoginArgs {
    /// Session token (JWT) of the balena user whose API keys this role
    /// mints, e.g. from balena's dashboard (Preferences > Access tokens) or
    /// `balena login`. Checked with balena when written. Required unless the
    /// role already has one, or username and password are given.
    #[field(secret, alias = "balenaApiKey")]
    session_token: Option<String>,
    /// balena username, to log in afresh when balena demands a recent login
    /// to mint keys (with password); empty removes it.
    username: Option<String>,
    /// balena password for username; also used to refresh the session with a
    /// fresh login time. Never returned. Empty removes it.
    #[field(secret)]
    password: Option<String>,
}

/// Whether the role exists.
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    ROLES.exists(req.storage(), &name).await
}

/// Creates or updates a role; a new session token is checked with balena.
pub async fn write(
    state: Arc<State>,
    req: Request,
    (Name(name), (update, args)): (Name, (Update<Role>, LoginArgs)),
) -> Result<Response> {
    let old = ROLES.load(req.storage(), &name).await?;
    let mut role = update.apply(old.clone())?;
    if !role.max_ttl.is_zero() && role.ttl > role.max_ttl {
        return Err(Error::bad_request("ttl cannot be greater than max_ttl"));
    }
    let prefix_ok = (1..=64).contains(&role.key_name_prefix.len())
        && role
            .key_name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !prefix_ok {
        return Err(Error::bad_request(
            "key_name_prefix must be 1 to 64 letters, digits, \"-\" or \"_\"",
        ));
    }
    if let Some(username) = args.username {
        role.login.username = username.trim().to_owned();
    }
    if let Some(password) = args.password {
        role.login.password = password;
    }
    let username = role.login.username.clone();
    let password = role.login.password.clone();

    let balena = Config::load(&req).await?.balena(&state)?;
    let sent = args.session_token.map(|t| t.trim().to_owned());
    let (session_token, user_id) = match (sent, &old) {
        (Some(token), _) if token.is_empty() => {
            return Err(Error::bad_request(
                "session_token (balenaApiKey) must not be empty",
            ));
        }
        (Some(token), _) if token.len() > MAX_TOKEN_LEN => {
            return Err(Error::bad_request(format!(
                "session_token (balenaApiKey) is longer than {MAX_TOKEN_LEN} characters: \
                 that is no balena session token; nothing was stored"
            )));
        }
        (Some(token), _) => {
            let user = balena
                .whoami(&token)
                .await
                .map_err(|e| token_error(&name, e))?;
            (token, user.id)
        }
        (None, Some(old)) => (old.login.session_token.clone(), old.login.user_id),
        (None, None) if !username.is_empty() && !password.is_empty() => {
            let token = balena
                .login(&username, &password)
                .await
                .map_err(|e| match e {
                    ApiError::Unauthorized => Error::bad_request(format!(
                        "logging in to balena as {username:?} failed (balena answered 401): \
                     check username and password; nothing was stored"
                    )),
                    other => api_error(&name, "logging in to balena", other),
                })?;
            let user = balena
                .whoami(&token)
                .await
                .map_err(|e| token_error(&name, e))?;
            (token, user.id)
        }
        (None, None) => {
            return Err(Error::bad_request(
                "session_token (or balenaApiKey) is required: the session token of the \
                 balena user whose API keys this role mints (or give username and password)",
            ));
        }
    };
    role.login.session_token = session_token;
    role.login.user_id = user_id;
    // Another user's token: the old user's keys still need the old session.
    if let Some(old) = old.filter(|o| o.login.user_id != user_id) {
        let keep_until = keep_until(&req, &old).await?;
        retire(req.storage(), &name, &old.login, keep_until).await?;
    }
    ROLES.save(req.storage(), &name, &role).await?;
    Ok(Response::empty())
}

/// The 400 for a session token balena does not accept.
fn token_error(role: &str, err: ApiError) -> Error {
    match err {
        ApiError::Unauthorized | ApiError::FreshAuthRequired => Error::bad_request(format!(
            "the session token for role {role:?} is invalid or expired (balena answered 401 \
             to whoami); nothing was stored"
        )),
        other => api_error(role, "checking the session token", other),
    }
}

/// When every key of `role` minted so far has expired at balena (seconds
/// since 1970): a key lives at most the role's or the mount's max TTL.
async fn keep_until(req: &Request, role: &Role) -> Result<u64> {
    let mount_max = req.system_view().max_lease_ttl().await?;
    let longest = mount_max.max(role.max_ttl);
    Ok(secs(SystemTime::now() + longest))
}

/// Shows a role, without its token or password (write-only fields), with
/// when its session ends.
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let Some(role) = ROLES.load(req.storage(), &name).await? else {
        return Err(Error::not_found(format!("no role {name:?}")));
    };
    let claims = Claims::of(&role.login.session_token);
    let now = SystemTime::now();
    let expires_at = claims.expires_at.map(|t| format_time(t, false));
    let mut resp = Response::json(&role)?;
    if let Some(data) = resp.data.as_mut() {
        data.insert(
            "has_password".into(),
            Value::Bool(!role.login.password.is_empty()),
        );
        data.insert(
            "session_token_expires_at".into(),
            expires_at.clone().map_or(Value::Null, Value::String),
        );
    }
    if let (Some(left), Some(at)) = (claims.expires_in(now), expires_at) {
        if left.is_zero() {
            resp = resp.warning(format!(
                "the session token of role {name:?} expired at {at}: write a new session_token \
                 to role/{name}"
            ));
        } else if left < EXPIRY_WARNING {
            resp = resp.warning(format!(
                "the session token of role {name:?} expires at {at}, in less than 24 hours, and \
                 the periodic refresh (tried from 2 days before) has not renewed it yet: check \
                 the plugin's log, or write a new session_token to role/{name}"
            ));
        }
    }
    Ok(resp)
}

/// Deletes a role. Its session is retired, not dropped, so the leases it
/// issued can still be revoked.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    if let Some(role) = ROLES.load(req.storage(), &name).await? {
        let keep_until = keep_until(&req, &role).await?;
        retire(req.storage(), &name, &role.login, keep_until).await?;
        ROLES.delete(req.storage(), &name).await?;
    }
    Ok(Response::empty())
}
