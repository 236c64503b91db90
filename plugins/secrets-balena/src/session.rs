//! Session tokens: where they are stored, which one acts for a lease, and
//! how they are kept alive.
//!
//! balena mints and deletes a user's API keys only for a *session* of that
//! user (an API key cannot manage API keys), so each role stores a session
//! token (a JWT), with optionally the user's username and password.
//!
//! **Which session revokes a lease.** A lease keeps the key's numeric id,
//! the role's name and the balena user id of the session that minted it,
//! never a token (tokens change: they are refreshed and replaced). Revoke
//! (and WAL rollback) uses the role's current session when it belongs to
//! that user. When the role is deleted, or rewritten with another user's
//! token, its session is *retired*: moved to `revoke-tokens/<role>/<user id>`
//! (seal-wrapped like the roles) instead of being dropped, kept until every
//! key minted with it has expired at balena, and refreshed like the roles'.
//! So revoking works after the role is gone, and never deletes with the
//! wrong user's session (where balena's 404 would look like success).
//!
//! **Fresh logins.** open-balena-api mints keys only for a session whose
//! password login is under 20 minutes old; otherwise it answers 401 "Fresh
//! authentication token required". A role with `username` and `password`
//! then logs in again (`POST /login_`); with only a `password` it refreshes
//! with the password (which also resets the login time). The new token is
//! stored and the call retried once.
//!
//! **Refresh.** Sessions last 7 days. The periodic function refreshes every
//! stored session that ends within [`REFRESH_WINDOW`] (with the password
//! when one is stored, so the new token is also freshly authenticated), and
//! logs in again when a refresh cannot extend it. Failures are logged
//! (entry and status only) and retried an hour later.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vault_plugin_sdk::storage::{Storage, StorageExt};
use vault_plugin_sdk::{Error, Request, Result};

use crate::State;
use crate::client::{ApiError, Balena};
use crate::config::Config;
use crate::jwt::Claims;

/// Where roles are stored.
pub const ROLE_PREFIX: &str = "role/";

/// Where retired sessions are stored: `revoke-tokens/<role>/<user id>`.
pub const RETIRED_PREFIX: &str = "revoke-tokens/";

/// Sessions ending sooner than this are refreshed by the periodic function.
pub const REFRESH_WINDOW: Duration = Duration::from_secs(2 * 24 * 3600);

/// How long the periodic function waits before trying a failed refresh again.
const REFRESH_RETRY: Duration = Duration::from_secs(3600);

/// How a balena user is reached: stored in a role, or retired.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The session token (JWT).
    pub session_token: String,
    /// balena's id of the token's user (from whoami when it was stored).
    pub user_id: u64,
    /// The user's name, to log in again; empty when not given.
    #[serde(default)]
    pub username: String,
    /// The user's password, to log in again or refresh with a fresh login
    /// time; empty when not given.
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("has_password", &!self.password.is_empty())
            .finish_non_exhaustive()
    }
}

impl Login {
    /// Whether the plugin can get a freshly authenticated session by itself.
    pub fn can_reauthenticate(&self) -> bool {
        !self.password.is_empty()
    }

    fn can_log_in(&self) -> bool {
        !self.username.is_empty() && !self.password.is_empty()
    }
}

/// A session kept for revocation after its role went away.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Retired {
    #[serde(flatten)]
    login: Login,
    /// Seconds since 1970 after which every key minted with it has expired.
    keep_until: u64,
}

/// A stored session, ready to act, and where it is stored.
#[derive(Debug)]
pub struct Session {
    /// The user and token.
    pub login: Login,
    /// The role it belongs (or belonged) to.
    pub role: String,
    key: String,
}

impl Session {
    /// The session of role `role` as stored in `login`.
    pub fn of_role(role: &str, login: Login) -> Session {
        Session {
            login,
            role: role.to_owned(),
            key: format!("{ROLE_PREFIX}{role}"),
        }
    }

    /// The session to revoke keys that role `role` minted for balena user
    /// `user_id`: the role's own when it is still that user's, else the one
    /// retired for that user; `None` when neither is stored.
    pub async fn for_keys_of(
        storage: &dyn Storage,
        role: &str,
        user_id: u64,
    ) -> Result<Option<Session>> {
        let current = format!("{ROLE_PREFIX}{role}");
        let retired = format!("{RETIRED_PREFIX}{role}/{user_id}");
        for key in [current, retired] {
            if let Some(login) = storage.get_json::<Login>(&key).await?
                && login.user_id == user_id
            {
                return Ok(Some(Session {
                    login,
                    role: role.to_owned(),
                    key,
                }));
            }
        }
        Ok(None)
    }

    /// The session token to call balena with.
    pub fn token(&self) -> &str {
        &self.login.session_token
    }

    /// After a call answered `result`: when balena demanded a fresh login
    /// and this session can get one, logs in again, stores the new token
    /// and says `true`, so the caller repeats the call once. An error means
    /// no fresh login could be had.
    pub async fn renewed_for<T>(
        &mut self,
        result: &Result<T, ApiError>,
        balena: &Balena,
        storage: &dyn Storage,
    ) -> Result<bool> {
        match result {
            Err(ApiError::FreshAuthRequired) if self.login.can_reauthenticate() => {
                self.reauthenticate(balena, storage).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Gets a freshly authenticated token (login, else a refresh with the
    /// password) and stores it.
    async fn reauthenticate(&mut self, balena: &Balena, storage: &dyn Storage) -> Result<()> {
        let token = if self.login.can_log_in() {
            balena
                .login(&self.login.username, &self.login.password)
                .await
                .map_err(|e| login_error(&self.role, &self.login.username, e))?
        } else {
            balena
                .refresh_token(&self.login.session_token, Some(&self.login.password))
                .await
                .map_err(|e| api_error(&self.role, "refreshing the session with the password", e))?
        };
        tracing::info!(role = %self.role, "logged in to balena afresh and stored the new session token");
        self.replace_token(storage, token).await
    }

    /// Stores `token` in place of the current one, unless the stored entry
    /// changed meanwhile (an operator's new token wins over a refresh).
    async fn replace_token(&mut self, storage: &dyn Storage, token: String) -> Result<()> {
        replace_token(storage, &self.key, &self.login.session_token, &token).await?;
        self.login.session_token = token;
        Ok(())
    }
}

/// Replaces the session token of the entry at `key` if it still is `old`.
async fn replace_token(storage: &dyn Storage, key: &str, old: &str, new: &str) -> Result<bool> {
    let Some(mut entry) = storage.get_json::<Map<String, Value>>(key).await? else {
        return Ok(false);
    };
    if entry.get("session_token").and_then(Value::as_str) != Some(old) {
        return Ok(false);
    }
    entry.insert("session_token".into(), Value::String(new.to_owned()));
    storage.put_json(key, &entry).await?;
    Ok(true)
}

/// Keeps `login` of role `role` for revoking its keys until `keep_until`
/// (seconds since 1970), or longer if it is already kept longer.
pub async fn retire(
    storage: &dyn Storage,
    role: &str,
    login: &Login,
    keep_until: u64,
) -> Result<()> {
    let key = format!("{RETIRED_PREFIX}{role}/{}", login.user_id);
    let earlier: Option<Retired> = storage.get_json(&key).await?;
    let keep_until = earlier.map_or(keep_until, |e| e.keep_until.max(keep_until));
    storage
        .put_json(
            &key,
            &Retired {
                login: login.clone(),
                keep_until,
            },
        )
        .await?;
    Ok(())
}

/// The user-facing error for a failed balena call made for role `role`.
/// 401s are the operator's to fix (400, saying how); the rest are 502s
/// with balena's status.
pub fn api_error(role: &str, doing: &str, err: ApiError) -> Error {
    match err {
        ApiError::Unauthorized => Error::bad_request(format!(
            "{doing} failed: the session token of role {role:?} is invalid or expired \
             (balena answered 401); write a new session_token to role/{role}, or set the \
             role's username and password"
        )),
        ApiError::FreshAuthRequired => Error::bad_request(format!(
            "{doing} failed: balena demands a recent login (it answered 401 \"Fresh \
             authentication token required\"); write role/{role} a session token from a login \
             less than 20 minutes old, or set the role's username and password so the plugin \
             can log in afresh by itself"
        )),
        ApiError::Failed(err) => err.context(format!("{doing} for role {role:?} failed")),
    }
}

fn login_error(role: &str, username: &str, err: ApiError) -> Error {
    match err {
        ApiError::Unauthorized => Error::bad_request(format!(
            "logging in to balena as {username:?} for role {role:?} failed (balena answered \
             401): check the role's username and password"
        )),
        other => api_error(role, "logging in to balena", other),
    }
}

/// The periodic function: refreshes stored sessions that end soon, and
/// forgets retired sessions no key needs any more. One entry's failure is
/// logged and does not stop the others. The host ticks standby nodes too:
/// their storage is read-only, so a refreshed session could not be stored,
/// and only the active node refreshes.
pub async fn refresh_sessions(state: Arc<State>, req: Request) -> Result<()> {
    if !req.system_view().storage_writable().await? {
        tracing::debug!("storage is read-only here; the active node refreshes sessions");
        return Ok(());
    }
    let storage = req.storage();
    let Some(config) = storage.get_json::<Config>("config").await? else {
        return Ok(());
    };
    let balena = config.balena(&state)?;
    let mut keys = Vec::new();
    for name in storage.list(ROLE_PREFIX).await? {
        if !name.ends_with('/') {
            keys.push(format!("{ROLE_PREFIX}{name}"));
        }
    }
    for role in storage.list(RETIRED_PREFIX).await? {
        let dir = format!("{RETIRED_PREFIX}{role}");
        for user in storage.list(&dir).await? {
            keys.push(format!("{dir}{user}"));
        }
    }
    let now = SystemTime::now();
    for key in keys {
        if let Err(err) = refresh_one(&state, &balena, storage, &key, now).await {
            tracing::warn!(entry = %key, error = %err, "refreshing a balena session token failed");
        }
    }
    Ok(())
}

async fn refresh_one(
    state: &State,
    balena: &Balena,
    storage: &dyn Storage,
    key: &str,
    now: SystemTime,
) -> Result<()> {
    if key.starts_with(RETIRED_PREFIX) {
        let Some(retired) = storage.get_json::<Retired>(key).await? else {
            return Ok(());
        };
        if retired.keep_until < secs(now) {
            storage.delete(key).await?;
            tracing::info!(entry = %key, "forgot a retired session: every key minted with it has expired");
            return Ok(());
        }
    }
    let Some(login) = storage.get_json::<Login>(key).await? else {
        return Ok(());
    };
    let claims = Claims::of(&login.session_token);
    let Some(left) = claims.expires_in(now) else {
        return Ok(());
    };
    if left > REFRESH_WINDOW || !state.refresh_due(key, now, REFRESH_RETRY) {
        return Ok(());
    }
    let password = Some(login.password.as_str()).filter(|p| !p.is_empty());
    let refreshed = if left.is_zero() {
        Err(ApiError::Unauthorized)
    } else {
        balena.refresh_token(&login.session_token, password).await
    };
    let extended = |token: &str| Claims::of(token).expires_at > claims.expires_at;
    let token = match refreshed {
        Ok(token) if extended(&token) || !login.can_log_in() => token,
        Ok(_) | Err(ApiError::Unauthorized) if login.can_log_in() => balena
            .login(&login.username, &login.password)
            .await
            .map_err(|e| Error::upstream(format!("logging in again: {e}")))?,
        Ok(token) => token,
        Err(e) => return Err(Error::upstream(format!("refreshing: {e}"))),
    };
    if !extended(&token) {
        tracing::warn!(
            entry = %key,
            "balena refreshed the session token without extending it; \
             store username and password so the plugin can log in again"
        );
    }
    if replace_token(storage, key, &login.session_token, &token).await? {
        tracing::info!(entry = %key, "refreshed a balena session token");
    }
    Ok(())
}

/// Seconds since 1970.
pub fn secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
