//! The pachd client: the six calls the plugin makes to Pachyderm 2.x, over
//! one gRPC channel per mount.
//!
//! | purpose | call | token |
//! |---|---|---|
//! | check the admin token | `auth_v2.API/WhoAmI` | the admin token |
//! | register a robot token the plugin made | `auth_v2.API/RestoreAuthToken {token: {subject, expiration, hashed_token}}` | the admin token |
//! | mint a robot token (admin tokens without the restore permission) | `auth_v2.API/GetRobotToken {robot, ttl}` | the admin token |
//! | revoke a token | `auth_v2.API/RevokeAuthToken {token}` | the admin token |
//! | rotate the root token | `auth_v2.API/RotateRootToken {root_token}` | the root token |
//! | pachd's version | `versionpb_v2.API/GetVersion` | none |
//!
//! The token goes in the gRPC metadata key `authn-token`, as `pachctl`
//! sends it. Every call has the config's timeout, both as the `grpc-timeout`
//! pachd sees and as a limit on the wait here. Errors are [`PachdError`]s,
//! whose messages never hold a token.

mod address;
mod error;

use std::future::Future;
use std::time::{Duration, SystemTime};

use pachyderm_proto::auth_v2::api_client::ApiClient as AuthClient;
use pachyderm_proto::auth_v2::{
    GetRobotTokenRequest, RestoreAuthTokenRequest, RevokeAuthTokenRequest, RotateRootTokenRequest,
    TokenInfo, WhoAmIRequest,
};
use pachyderm_proto::versionpb_v2::api_client::ApiClient as VersionClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::upstream::{UpstreamSettings, grpc};

pub use address::PachdAddress;
pub use error::{PachdError, Permission};

/// The metadata key pachd reads the caller's token from.
const TOKEN_KEY: &str = "authn-token";
/// The longest token sent: pachd's own are 32 characters, and gRPC servers
/// refuse metadata past a few KiB (HTTP 431, which is no answer about the
/// token), so a longer one is refused before calling.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Who a token belongs to, as `WhoAmI` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    /// The subject, e.g. `pach:root`, `robot:ci`, `user:alice`.
    pub subject: String,
    /// When the token expires; `None` for a token that never does.
    pub expires_at: Option<SystemTime>,
}

/// What a revoke found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The token existed and is deleted now.
    Now,
    /// pachd had no such token (revoked earlier, expired and swept, or a
    /// pachd older than 2.5 that does not say).
    AlreadyGone,
}

/// pachd's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PachdVersion {
    /// e.g. `2.11.6`, or `2.12.0-rc.3` with a suffix.
    pub version: String,
    /// The git commit pachd was built from (empty before 2.3).
    pub git_commit: String,
    /// e.g. `linux/amd64` (empty before 2.3).
    pub platform: String,
}

/// How to reach one pachd. Two equal settings give interchangeable clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where pachd listens.
    pub address: PachdAddress,
    /// PEM certificates trusted beside the system's roots (`grpcs://`).
    pub ca_cert: Option<String>,
    /// How long one call (connecting included) may take.
    pub timeout: Duration,
}

/// A client of one pachd.
#[derive(Debug, Clone)]
pub struct Pachd {
    channel: Channel,
    address: String,
    timeout: Duration,
}

impl Pachd {
    /// A client for `settings`, over the SDK's gRPC channel (hickory DNS,
    /// rustls with ring, system roots plus `ca_cert`). Nothing is dialled
    /// yet; the error (a bad `ca_cert`, no CA certificates for TLS) is safe
    /// to show.
    pub fn new(settings: &Settings) -> Result<Pachd, String> {
        let address = &settings.address;
        let tls = UpstreamSettings {
            ca_cert: settings.ca_cert.clone().unwrap_or_default(),
            ..UpstreamSettings::default()
        };
        let scheme = if address.tls { "https" } else { "http" };
        let channel = grpc::lazy_channel(
            "pachd",
            &format!("{scheme}://{}:{}", address.uri_host(), address.port),
            address.tls.then_some(&tls),
            settings.timeout,
        )
        .map_err(|e| e.to_string())?;
        Ok(Pachd {
            channel,
            address: settings.address.to_string(),
            timeout: settings.timeout,
        })
    }

    /// Who `admin_token` belongs to; [`PachdError::Unauthenticated`] for a
    /// dead token.
    pub async fn who_am_i(&self, admin_token: &str) -> Result<WhoAmI, PachdError> {
        let req = self.request(WhoAmIRequest {}, Some(admin_token))?;
        let mut client = AuthClient::new(self.channel.clone());
        let resp = self.run(client.who_am_i(req), None, &[admin_token]).await?;
        Ok(WhoAmI {
            subject: resp.username,
            expires_at: resp.expiration.and_then(to_system_time),
        })
    }

    /// A new token for robot `robot` (a name without `robot:`) that pachd
    /// expires after `ttl`, minted with `admin_token`.
    pub async fn get_robot_token(
        &self,
        admin_token: &str,
        robot: &str,
        ttl: Duration,
    ) -> Result<String, PachdError> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
        let req = self.request(
            GetRobotTokenRequest {
                robot: robot.to_owned(),
                ttl,
            },
            Some(admin_token),
        )?;
        let mut client = AuthClient::new(self.channel.clone());
        let resp = self
            .run(
                client.get_robot_token(req),
                Some(Permission::MintRobotTokens),
                &[admin_token],
            )
            .await?;
        if resp.token.is_empty() {
            return Err(PachdError::Status {
                code: tonic::Code::Internal,
                message: "GetRobotToken answered without a token".into(),
            });
        }
        Ok(resp.token)
    }

    /// Makes pachd accept `token` (one the plugin made) as a token of
    /// `subject` until `expires_at`, with `admin_token`. pachd receives only
    /// the token's hash. Needs CLUSTER_AUTH_RESTORE_TOKEN (clusterAdmin).
    pub async fn restore_token(
        &self,
        admin_token: &str,
        token: &Redacted<String>,
        subject: &str,
        expires_at: SystemTime,
    ) -> Result<(), PachdError> {
        let req = self.request(
            RestoreAuthTokenRequest {
                token: Some(TokenInfo {
                    subject: subject.to_owned(),
                    expiration: Some(to_timestamp(expires_at)),
                    hashed_token: crate::token::hash(token.expose()),
                }),
            },
            Some(admin_token),
        )?;
        let mut client = AuthClient::new(self.channel.clone());
        self.run(
            client.restore_auth_token(req),
            Some(Permission::RestoreTokens),
            &[admin_token, token.expose()],
        )
        .await?;
        Ok(())
    }

    /// Revokes `token` with `admin_token`. An unknown token is
    /// [`Revoked::AlreadyGone`], not an error.
    pub async fn revoke_token(
        &self,
        admin_token: &str,
        token: &str,
    ) -> Result<Revoked, PachdError> {
        let req = self.request(
            RevokeAuthTokenRequest {
                token: token.to_owned(),
            },
            Some(admin_token),
        )?;
        let mut client = AuthClient::new(self.channel.clone());
        let resp = self
            .run(
                client.revoke_auth_token(req),
                Some(Permission::RevokeTokens),
                &[admin_token, token],
            )
            .await?;
        Ok(if resp.number > 0 {
            Revoked::Now
        } else {
            Revoked::AlreadyGone
        })
    }

    /// Makes `new_root_token` pachd's only root token, calling with
    /// `root_token` (the current one, which dies).
    pub async fn rotate_root_token(
        &self,
        root_token: &str,
        new_root_token: &str,
    ) -> Result<(), PachdError> {
        let req = self.request(
            RotateRootTokenRequest {
                root_token: new_root_token.to_owned(),
            },
            Some(root_token),
        )?;
        let mut client = AuthClient::new(self.channel.clone());
        self.run(
            client.rotate_root_token(req),
            Some(Permission::RotateRootToken),
            &[root_token, new_root_token],
        )
        .await?;
        Ok(())
    }

    /// pachd's version (no token needed).
    pub async fn version(&self) -> Result<PachdVersion, PachdError> {
        let req = self.request((), None)?;
        let mut client = VersionClient::new(self.channel.clone());
        let v = self.run(client.get_version(req), None, &[]).await?;
        let mut version = format!("{}.{}.{}", v.major, v.minor, v.micro);
        if !v.additional.is_empty() {
            version.push('-');
            version.push_str(v.additional.trim_start_matches('-'));
        }
        Ok(PachdVersion {
            version,
            git_commit: v.git_commit,
            platform: v.platform,
        })
    }

    /// A request carrying `token` in `authn-token` and the timeout.
    fn request<T>(&self, message: T, token: Option<&str>) -> Result<Request<T>, PachdError> {
        let mut req = Request::new(message);
        req.set_timeout(self.timeout);
        if let Some(token) = token {
            if token.len() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(PachdError::UnsendableToken);
            }
            let value = MetadataValue::try_from(token).map_err(|_| PachdError::UnsendableToken)?;
            req.metadata_mut().insert(TOKEN_KEY, value);
        }
        Ok(req)
    }

    /// Awaits a call within the timeout and maps its failure.
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
        needs: Option<Permission>,
        secrets: &[&str],
    ) -> Result<T, PachdError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(self.timeout_error()),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) if is_timeout(&status) => Err(self.timeout_error()),
            Ok(Err(status)) => Err(PachdError::from_status(
                &status,
                &self.address,
                needs,
                secrets,
            )),
        }
    }

    fn timeout_error(&self) -> PachdError {
        PachdError::Timeout {
            address: self.address.clone(),
            after: self.timeout,
        }
    }
}

/// Whether a status is the channel's or pachd's own timeout.
fn is_timeout(status: &Status) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || (status.code() == tonic::Code::Cancelled && status.message().contains("Timeout"))
}

fn to_timestamp(at: SystemTime) -> prost_types::Timestamp {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

fn to_system_time(ts: prost_types::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(ts.seconds).ok()?;
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests;
