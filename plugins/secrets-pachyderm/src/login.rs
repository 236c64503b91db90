//! `login/<robot>` and `login`: a new pachd token of a robot user, leased.
//!
//! **Who may mint for which robot is a Vault policy.** Neither path is
//! unauthenticated (the original `login` was, so anyone who reached Vault
//! could mint a token for any user). The robot is in the path, so a policy
//! grants robots one by one or by glob:
//!
//! ```hcl
//! path "pachyderm/login/ci"      { capabilities = ["update"] }
//! path "pachyderm/login/build-*" { capabilities = ["update"] }
//! ```
//!
//! The original form, `login username=robot:ci`, is kept; Vault checks a
//! policy before the plugin sees the request, so that form is restricted
//! with `allowed_parameters` on the same robots:
//!
//! ```hcl
//! path "pachyderm/login" {
//!   capabilities = ["update"]
//!   allowed_parameters = { "username" = ["robot:ci"], "ttl" = [] }
//! }
//! ```
//!
//! Each robot has one spelling per form ([`crate::robot`]), so no other
//! spelling slips past such a rule.
//!
//! **The token.** The plugin makes it (32 random hex digits, pachd's
//! form) and registers it with `RestoreAuthToken` under the admin token:
//! pachd stores its SHA-256 as a token of `robot:<robot>` expiring at the
//! lease's max TTL plus [`TOKEN_MARGIN`] (the time between registering and
//! the host starting the lease), so a token whose revocation is lost still
//! dies. `RestoreAuthToken` needs CLUSTER_AUTH_RESTORE_TOKEN, which only
//! `clusterAdmin` grants; with an admin token that pachd refuses it
//! (a `robotUser`), the plugin falls back to `GetRobotToken`, where pachd
//! chooses the token (see **WAL** for what that costs). The answer holds the
//! original plugin's two values, `user_token` and `pachd_address`, plus
//! `robot` (the subject) and `token_ttl` (its lifetime in pachd, in
//! seconds), as a secret of type `pachyderm_tokens` with a lease of the
//! config's `ttl` (or the `ttl` asked for) within its `max_ttl`. A secrets
//! mount cannot hand out a Vault token, so this is a leased secret rather
//! than the original's login.
//!
//! **Renew** extends the lease within the max TTL it had at issue (or the
//! config's, if shorter now): pachd 2.x cannot extend a token, so a lease
//! never outlives its token. **Revoke** calls `RevokeAuthToken` with the
//! current config's admin token; a token pachd no longer knows counts as
//! revoked, an unreachable pachd is an error so the host retries, and a
//! token past its expiry is done whatever pachd says.
//!
//! **WAL.** An entry holding the robot, the expiry and the token is written
//! before pachd is called (so a request on a standby with read-only storage
//! stops before pachd is called, and is forwarded) and deleted once the
//! token is in the lease. If the process dies in between, the rollback
//! revokes the token with `RevokeAuthToken` (pachd finds it by its hash; a
//! token pachd never registered counts as gone): no token is left that no
//! lease revokes. The entry lives in the mount's storage, encrypted by the
//! host's barrier like the lease that holds the same token. In the
//! `GetRobotToken` fallback pachd chooses the token, and cannot find it by
//! its robot, so the rollback of such an entry can only log it; that token
//! expires by itself at the time logged.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::prelude::*;

use crate::config::{Config, unix_secs};
use crate::pachd::{Pachd, PachdError, Revoked};
use crate::{State, robot, token};

/// How much longer than its lease's max TTL a token lives in pachd.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// What the lease keeps to renew and revoke the token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lease {
    /// The token: revoking needs it (the original plugin's key).
    user_token: Redacted<String>,
    /// The robot's name, for messages and logs.
    #[serde(default)]
    robot: String,
    /// When pachd expires the token, in seconds since 1970 (0: unknown, as
    /// in a lease of the original plugin, which kept only the token).
    #[serde(default)]
    expires_at: u64,
    /// The lease's TTL and max TTL at issue, in seconds, for renewals
    /// without a config.
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    max_ttl: u64,
}

impl SecretType for Lease {
    /// The original plugin's name: never change it once leases exist.
    const NAME: &'static str = "pachyderm_tokens";
}

impl Lease {
    fn expired(&self) -> bool {
        self.expires_at != 0 && unix_secs(SystemTime::now()) >= self.expires_at
    }
}

/// What the rollback of an unfinished mint needs.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingMint {
    /// The robot's name.
    pub robot: String,
    /// When pachd expires the token, if it was minted (seconds since 1970).
    pub expires_at: u64,
    /// The token the plugin made, for the rollback to revoke; `None` when
    /// pachd chose it (`GetRobotToken`), and in entries of versions before
    /// the plugin made its tokens.
    #[serde(default)]
    pub token: Option<Redacted<String>>,
}

impl PendingMint {
    fn expired(&self) -> bool {
        unix_secs(SystemTime::now()) >= self.expires_at
    }
}

impl WalKind for PendingMint {
    /// Stored in each entry: never change it while entries may exist.
    const KIND: &'static str = "pachyderm_robot_token";
}

/// Arguments of `login/<robot>`.
#[derive(Fields)]
pub struct LoginPathArgs {
    /// The robot's name (the token is robot:<robot>'s), e.g. ci.
    #[field(path)]
    robot: String,
    /// Lease TTL of this token (e.g. "1h"); default: the config's ttl.
    /// Capped by the max TTL.
    ttl: Option<Duration>,
}

/// Arguments of the original `login`.
#[derive(Fields)]
pub struct LoginArgs {
    /// The robot as robot:<name>, e.g. robot:ci. Pachyderm 2.x issues
    /// tokens only for robot users.
    #[field(required)]
    username: String,
    /// Lease TTL of this token (e.g. "1h"); default: the config's ttl.
    /// Capped by the max TTL.
    ttl: Option<Duration>,
}

/// The secret type with its renew and revoke.
pub fn secret() -> Secret<State, Lease> {
    Secret::new(revoke).renew(renew)
}

/// `login/<robot>`: a token for the robot in the path.
pub async fn login_path(state: Arc<State>, req: Request, args: LoginPathArgs) -> Result<Response> {
    let robot = robot::from_path(&args.robot)?;
    mint(&state, &req, robot, args.ttl).await
}

/// `login username=robot:<name>`: a token for the robot named.
pub async fn login_username(state: Arc<State>, req: Request, args: LoginArgs) -> Result<Response> {
    let robot = robot::from_username(args.username.trim())?;
    mint(&state, &req, robot, args.ttl).await
}

/// Mints a token of `robot` and leases it.
async fn mint(
    state: &State,
    req: &Request,
    robot: &str,
    ttl: Option<Duration>,
) -> Result<Response> {
    let config = Config::load(req).await?;
    let pachd = config.pachd(state)?;
    let (ttl, max_ttl) = config.lease_ttls(req, ttl).await?;
    let token_ttl = max_ttl + TOKEN_MARGIN;
    let expires_at = unix_secs(SystemTime::now()) + token_ttl.as_secs();
    let (token, wal) = match register(req, &pachd, &config, robot, expires_at).await? {
        Some(registered) => registered,
        None => mint_in_pachd(req, &pachd, &config, robot, expires_at, token_ttl).await?,
    };
    let token = token.expose().clone();
    let lease = Lease {
        user_token: Redacted::new(token.clone()),
        robot: robot.to_owned(),
        expires_at,
        ttl: ttl.as_secs(),
        max_ttl: max_ttl.as_secs(),
    };
    let leased = async {
        let resp = Response::secret(
            &json!({
                "user_token": token,
                "pachd_address": config.pachd_address,
                "robot": format!("robot:{robot}"),
                "token_ttl": token_ttl.as_secs(),
            }),
            &lease,
        )?
        .ttl(ttl)
        .max_ttl(max_ttl);
        wal.done().await?;
        Ok::<_, Error>(resp)
    }
    .await;
    match leased {
        Ok(resp) => {
            tracing::info!(
                robot,
                token_ttl = token_ttl.as_secs(),
                "minted a pachd robot token"
            );
            Ok(resp)
        }
        Err(err) => {
            // No lease will ever revoke it: revoke it now.
            if let Err(revoke_err) = pachd.revoke_token(config.admin_token(), &token).await {
                tracing::warn!(robot, error = %revoke_err, "could not revoke a token that was minted but not leased; it expires by itself");
            }
            Err(err)
        }
    }
}

/// Makes a token of `robot` and registers it with pachd
/// (`RestoreAuthToken`), behind a WAL entry that holds it. Returns the token
/// and the entry, or `None` when the admin token may not register tokens
/// (nothing was made in pachd then, and no entry is left).
async fn register<'a>(
    req: &'a Request,
    pachd: &Pachd,
    config: &Config,
    robot: &str,
    expires_at: u64,
) -> Result<Option<(Redacted<String>, WalGuard<'a>)>> {
    let token = token::random()?;
    let pending = PendingMint {
        robot: robot.to_owned(),
        expires_at,
        token: Some(token.clone()),
    };
    // A refusal registered nothing; otherwise the rollback revokes.
    let wal = WalGuard::begin(req.storage(), &pending).await?;
    let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(expires_at);
    let subject = format!("robot:{robot}");
    let restored = pachd.restore_token(config.admin_token(), &token, &subject, expires);
    match wal.attempt(restored).await {
        Ok(()) => Ok(Some((token, wal))),
        Err(PachdError::PermissionDenied { .. }) => {
            tracing::debug!(
                robot,
                "the admin token may not register tokens (clusterAdmin only): pachd mints this \
                 one"
            );
            Ok(None)
        }
        Err(err) => Err(err.context(format!("registering a token for robot:{robot}"))),
    }
}

/// Has pachd mint a token of `robot` (`GetRobotToken`), behind a WAL entry
/// that can only report it. Returns the token and the entry.
async fn mint_in_pachd<'a>(
    req: &'a Request,
    pachd: &Pachd,
    config: &Config,
    robot: &str,
    expires_at: u64,
    token_ttl: Duration,
) -> Result<(Redacted<String>, WalGuard<'a>)> {
    let pending = PendingMint {
        robot: robot.to_owned(),
        expires_at,
        token: None,
    };
    // A refusal minted nothing; otherwise the rollback reports it.
    let wal = WalGuard::begin(req.storage(), &pending).await?;
    let minted = pachd.get_robot_token(config.admin_token(), robot, token_ttl);
    let token = wal
        .attempt(minted)
        .await
        .map_err(|err| err.context(format!("minting a token for robot:{robot}")))?;
    Ok((Redacted::new(token), wal))
}

/// Extends the lease within its max TTL, never past the token's expiry.
async fn renew(_: Arc<State>, req: Request, lease: Lease) -> Result<Response> {
    if lease.expired() {
        return Err(Error::bad_request(format!(
            "the token of robot:{} has expired in pachd; it cannot be renewed",
            lease.robot
        )));
    }
    let (ttl, max_ttl) = match Config::get(&req).await? {
        Some(config) => {
            let (ttl, max_ttl) = config.lease_ttls(&req, None).await?;
            (ttl, max_ttl.min(Duration::from_secs(lease.max_ttl)))
        }
        None => (
            Duration::from_secs(lease.ttl),
            Duration::from_secs(lease.max_ttl),
        ),
    };
    req.renew_secret(ttl, max_ttl).await
}

/// Revokes the token in pachd. Already gone is success; so is any answer
/// once the token has expired.
async fn revoke(state: Arc<State>, req: Request, lease: Lease) -> Result<Response> {
    let robot = &lease.robot;
    let Some(config) = Config::get(&req).await? else {
        if lease.expired() {
            return Ok(Response::empty());
        }
        return Err(Error::internal(format!(
            "the mount has no config, so the token of robot:{robot} cannot be revoked in pachd: \
             write pachd_address and admin_token to config again"
        )));
    };
    let revoked = config
        .pachd(&state)?
        .revoke_token(config.admin_token(), lease.user_token.expose())
        .await;
    match revoked {
        Ok(Revoked::Now) => tracing::info!(robot, "revoked a pachd robot token"),
        Ok(Revoked::AlreadyGone) => {
            tracing::info!(robot, "the pachd robot token was already gone");
        }
        Err(err) if lease.expired() => {
            tracing::info!(robot, error = %err, "pachd did not revoke the token, but it has expired");
        }
        Err(err) => {
            return Err(Error::upstream(format!(
                "revoking the token of robot:{robot}: {err}"
            )));
        }
    }
    Ok(Response::empty())
}

/// Undoes a mint that did not reach a lease: revokes the token the plugin
/// made (gone or never registered is done), or, for a token pachd chose,
/// reports it; that one expires by itself.
pub async fn roll_back(state: Arc<State>, req: Request, pending: PendingMint) -> Result<()> {
    let robot = &pending.robot;
    let Some(token) = &pending.token else {
        tracing::warn!(
            robot = %robot,
            expires_at = pending.expires_at,
            "a token mint was interrupted: pachd may hold a token of this robot that no lease \
             revokes; it expires by itself at expires_at (seconds since 1970)"
        );
        return Ok(());
    };
    if pending.expired() {
        return Ok(());
    }
    let Some(config) = Config::get(&req).await? else {
        return Err(Error::internal(format!(
            "the mount has no config, so the token of robot:{robot} from an interrupted mint \
             cannot be revoked in pachd: write pachd_address and admin_token to config again"
        )));
    };
    match config
        .pachd(&state)?
        .revoke_token(config.admin_token(), token.expose())
        .await
    {
        Ok(Revoked::Now) => {
            tracing::info!(robot = %robot, "revoked the token of an interrupted mint");
        }
        Ok(Revoked::AlreadyGone) => {
            tracing::info!(robot = %robot, "an interrupted mint left no token in pachd");
        }
        Err(err) => {
            return Err(Error::upstream(format!(
                "revoking the token of an interrupted mint of robot:{robot}: {err}"
            )));
        }
    }
    Ok(())
}
