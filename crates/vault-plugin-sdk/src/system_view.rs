//! Facts about the mount and the server, asked of the host.
//!
//! The host serves `pb.SystemView` through the broker; handlers use the
//! [`SystemView`] trait, which [`StaticSystemView`] also implements for tests
//! and for metadata mode.

use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::Channel;
use vault_plugin_proto::pb;
use vault_plugin_proto::pb::system_view_client::SystemViewClient;

/// Why a system view call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemViewError {
    /// The host answered with an error.
    #[error("system view error from host: {0}")]
    Host(String),
    /// The call to the host failed.
    #[error("system view call failed: {0}")]
    Transport(String),
}

impl From<SystemViewError> for crate::Error {
    fn from(err: SystemViewError) -> Self {
        crate::Error::Internal(err.to_string())
    }
}

/// The version of the host, as reported by its system view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostVersion {
    /// For example `2.7.2`.
    pub version: String,
    /// Pre-release tag, if any.
    pub prerelease: String,
    /// Build metadata, if any.
    pub metadata: String,
}

/// The replication state of the node serving the mount: a set of bits, as
/// Vault's `consts.ReplicationState` defines them.
///
/// Never 0 on a current host. Measured on OpenBao 2.7.2 (the value a plugin
/// gets at the time):
///
/// | value | bits | where |
/// |---|---|---|
/// | 12288 | `DR_DISABLED`, `PERFORMANCE_DISABLED` | a server without HA storage (the dev server) |
/// | 24576 | `DR_DISABLED`, `PERFORMANCE_STANDBY` | a standby node of a raft cluster, and every HA node during the read-only phase of each unseal: storage is read-only |
/// | 8224 | `DR_DISABLED`, `PERFORMANCE_PRIMARY` | the active node of an HA server (a single raft node too) |
///
/// OpenBao has no replication of its own; it reuses the bits to tell a
/// standby that serves reads (`PERFORMANCE_STANDBY`) from the active node.
/// [`SystemView::storage_writable`] turns them into the answer a plugin needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationState(pub i32);

impl ReplicationState {
    /// The primary of performance replication; OpenBao's active HA node.
    pub const PERFORMANCE_PRIMARY: Self = Self(1 << 5);
    /// A performance secondary: replicated storage is read-only, local
    /// mounts are writable.
    pub const PERFORMANCE_SECONDARY: Self = Self(1 << 6);
    /// The primary of disaster-recovery replication.
    pub const DR_PRIMARY: Self = Self(1 << 8);
    /// A disaster-recovery secondary: storage is read-only.
    pub const DR_SECONDARY: Self = Self(1 << 9);
    /// Performance replication is being set up.
    pub const PERFORMANCE_BOOTSTRAPPING: Self = Self(1 << 10);
    /// Disaster-recovery replication is being set up.
    pub const DR_BOOTSTRAPPING: Self = Self(1 << 11);
    /// Performance replication is off.
    pub const PERFORMANCE_DISABLED: Self = Self(1 << 12);
    /// Disaster-recovery replication is off.
    pub const DR_DISABLED: Self = Self(1 << 13);
    /// A standby that serves reads; OpenBao's standby nodes, and every HA
    /// node while it unseals. Storage is read-only.
    pub const PERFORMANCE_STANDBY: Self = Self(1 << 14);

    /// OpenBao without HA storage, such as the dev server (12288).
    pub const OPENBAO_WITHOUT_HA: Self = Self(Self::DR_DISABLED.0 | Self::PERFORMANCE_DISABLED.0);
    /// OpenBao's active HA node (8224).
    pub const OPENBAO_ACTIVE: Self = Self(Self::DR_DISABLED.0 | Self::PERFORMANCE_PRIMARY.0);
    /// OpenBao's standby node, and every HA node during the read-only phase
    /// of an unseal (24576).
    pub const OPENBAO_STANDBY: Self = Self(Self::DR_DISABLED.0 | Self::PERFORMANCE_STANDBY.0);

    const NAMES: [(Self, &'static str); 9] = [
        (Self::PERFORMANCE_PRIMARY, "performance-primary"),
        (Self::PERFORMANCE_SECONDARY, "performance-secondary"),
        (Self::DR_PRIMARY, "dr-primary"),
        (Self::DR_SECONDARY, "dr-secondary"),
        (Self::PERFORMANCE_BOOTSTRAPPING, "performance-bootstrapping"),
        (Self::DR_BOOTSTRAPPING, "dr-bootstrapping"),
        (Self::PERFORMANCE_DISABLED, "performance-disabled"),
        (Self::DR_DISABLED, "dr-disabled"),
        (Self::PERFORMANCE_STANDBY, "performance-standby"),
    ];

    /// Whether any bit of `flags` is set (Go's `HasState`).
    pub fn has(self, flags: Self) -> bool {
        self.0 & flags.0 != 0
    }

    /// Whether storage is read-only here for a mount that is `local_mount`
    /// or not: on a standby, a DR secondary, and a performance secondary
    /// unless the mount is local (the rule OpenBao's builtin plugins follow).
    pub fn storage_read_only(self, local_mount: bool) -> bool {
        self.has(Self::PERFORMANCE_STANDBY)
            || self.has(Self::DR_SECONDARY)
            || (self.has(Self::PERFORMANCE_SECONDARY) && !local_mount)
    }
}

/// The names of the set bits and the number, e.g.
/// `dr-disabled|performance-standby (24576)`.
impl std::fmt::Display for ReplicationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(flag, _)| self.has(*flag))
            .map(|(_, name)| *name)
            .collect();
        if names.is_empty() {
            write!(f, "none ({})", self.0)
        } else {
            write!(f, "{} ({})", names.join("|"), self.0)
        }
    }
}

/// What a mount can learn about itself and the server.
#[async_trait]
pub trait SystemView: Send + Sync {
    /// The mount's default lease TTL.
    async fn default_lease_ttl(&self) -> Result<Duration, SystemViewError>;
    /// The mount's maximum lease TTL.
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError>;
    /// Whether the mount is tainted (being unmounted).
    async fn tainted(&self) -> Result<bool, SystemViewError>;
    /// The replication state of the node serving the mount.
    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError>;
    /// Whether the mount is local (not replicated).
    async fn local_mount(&self) -> Result<bool, SystemViewError>;
    /// Whether the server runs with mlock.
    async fn mlock_enabled(&self) -> Result<bool, SystemViewError>;
    /// The server's version.
    async fn plugin_env(&self) -> Result<HostVersion, SystemViewError>;
    /// A password generated by the named password policy.
    async fn generate_password_from_policy(&self, policy: &str) -> Result<String, SystemViewError>;

    /// Whether the mount's storage takes writes on this node. False on an
    /// OpenBao standby, on every HA node during the read-only phase of each
    /// unseal (when the host calls setup and initialize a first time), and
    /// on Vault's performance standbys and secondaries; there a write fails
    /// with [`StorageError::ReadOnly`](crate::storage::StorageError::ReadOnly).
    ///
    /// Derived from [`replication_state`](Self::replication_state) (and
    /// [`local_mount`](Self::local_mount) on a performance secondary): the
    /// host sets that state before it mounts anything and keeps it for the
    /// life of the mount's backend (a node that becomes active mounts
    /// everything anew), and asking has no side effect. A probe write would
    /// be a real write on the active node, replicated to every standby.
    async fn storage_writable(&self) -> Result<bool, SystemViewError> {
        let state = self.replication_state().await?;
        let local_mount = if state.has(ReplicationState::PERFORMANCE_SECONDARY) {
            self.local_mount().await?
        } else {
            false
        };
        Ok(!state.storage_read_only(local_mount))
    }
}

/// A [`SystemView`] with fixed answers: for tests and metadata mode.
#[derive(Debug, Clone)]
pub struct StaticSystemView {
    /// Answer of [`SystemView::default_lease_ttl`].
    pub default_lease_ttl: Duration,
    /// Answer of [`SystemView::max_lease_ttl`].
    pub max_lease_ttl: Duration,
    /// Answer of [`SystemView::tainted`].
    pub tainted: bool,
    /// Answer of [`SystemView::local_mount`].
    pub local_mount: bool,
    /// Answer of [`SystemView::mlock_enabled`].
    pub mlock_enabled: bool,
    /// Answer of [`SystemView::replication_state`] (default: a server
    /// without HA, whose storage is writable).
    pub replication_state: ReplicationState,
    /// Answer of [`SystemView::plugin_env`].
    pub host_version: HostVersion,
    /// Answers of [`SystemView::generate_password_from_policy`], by policy
    /// name; any other name is an error, as an unknown policy is on the host.
    pub passwords: std::collections::HashMap<String, String>,
}

impl Default for StaticSystemView {
    /// The host's defaults: 32 days for both TTLs.
    fn default() -> Self {
        let month = Duration::from_secs(32 * 24 * 3600);
        Self {
            default_lease_ttl: month,
            max_lease_ttl: month,
            tainted: false,
            local_mount: false,
            mlock_enabled: false,
            replication_state: ReplicationState::OPENBAO_WITHOUT_HA,
            host_version: HostVersion::default(),
            passwords: std::collections::HashMap::new(),
        }
    }
}

#[async_trait]
impl SystemView for StaticSystemView {
    async fn default_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        Ok(self.default_lease_ttl)
    }
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        Ok(self.max_lease_ttl)
    }
    async fn tainted(&self) -> Result<bool, SystemViewError> {
        Ok(self.tainted)
    }
    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
        Ok(self.replication_state)
    }
    async fn local_mount(&self) -> Result<bool, SystemViewError> {
        Ok(self.local_mount)
    }
    async fn mlock_enabled(&self) -> Result<bool, SystemViewError> {
        Ok(self.mlock_enabled)
    }
    async fn plugin_env(&self) -> Result<HostVersion, SystemViewError> {
        Ok(self.host_version.clone())
    }
    async fn generate_password_from_policy(&self, policy: &str) -> Result<String, SystemViewError> {
        self.passwords.get(policy).cloned().ok_or_else(|| {
            SystemViewError::Host(format!(
                "password policy {policy:?} is not available in a static system view"
            ))
        })
    }
}

/// The host's system view for one mount, reached through the broker.
#[derive(Debug, Clone)]
pub struct GrpcSystemView {
    client: SystemViewClient<Channel>,
}

impl GrpcSystemView {
    /// System view calls over `channel`.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: SystemViewClient::new(channel),
        }
    }
}

fn transport(status: tonic::Status) -> SystemViewError {
    SystemViewError::Transport(status.message().to_owned())
}

fn nanos(ttl: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ttl).unwrap_or(0))
}

fn host_err(err: String) -> Result<(), SystemViewError> {
    if err.is_empty() {
        Ok(())
    } else {
        Err(SystemViewError::Host(err))
    }
}

#[async_trait]
impl SystemView for GrpcSystemView {
    async fn default_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        let reply = self
            .client
            .clone()
            .default_lease_ttl(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(nanos(reply.into_inner().ttl))
    }
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        let reply = self
            .client
            .clone()
            .max_lease_ttl(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(nanos(reply.into_inner().ttl))
    }
    async fn tainted(&self) -> Result<bool, SystemViewError> {
        let reply = self
            .client
            .clone()
            .tainted(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(reply.into_inner().tainted)
    }
    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
        let reply = self
            .client
            .clone()
            .replication_state(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(ReplicationState(reply.into_inner().state))
    }
    async fn local_mount(&self) -> Result<bool, SystemViewError> {
        let reply = self
            .client
            .clone()
            .local_mount(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(reply.into_inner().local)
    }
    async fn mlock_enabled(&self) -> Result<bool, SystemViewError> {
        let reply = self
            .client
            .clone()
            .mlock_enabled(pb::Empty {})
            .await
            .map_err(transport)?;
        Ok(reply.into_inner().enabled)
    }
    async fn plugin_env(&self) -> Result<HostVersion, SystemViewError> {
        let reply = self
            .client
            .clone()
            .plugin_env(pb::Empty {})
            .await
            .map_err(transport)?
            .into_inner();
        host_err(reply.err)?;
        let env = reply.plugin_environment.unwrap_or_default();
        Ok(HostVersion {
            version: env.vault_version,
            prerelease: env.vault_version_prerelease,
            metadata: env.vault_version_metadata,
        })
    }
    async fn generate_password_from_policy(&self, policy: &str) -> Result<String, SystemViewError> {
        let args = pb::GeneratePasswordFromPolicyRequest {
            policy_name: policy.to_owned(),
        };
        let reply = self
            .client
            .clone()
            .generate_password_from_policy(args)
            .await
            .map_err(transport)?;
        Ok(reply.into_inner().password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_states_openbao_reports_decode_and_say_whether_storage_is_writable() {
        // (state, local mount, read-only, shown as)
        let table = [
            (
                12288,
                false,
                false,
                "performance-disabled|dr-disabled (12288)",
            ),
            (8224, false, false, "performance-primary|dr-disabled (8224)"),
            (
                24576,
                false,
                true,
                "dr-disabled|performance-standby (24576)",
            ),
            (24576, true, true, "dr-disabled|performance-standby (24576)"),
            (1 << 6, false, true, "performance-secondary (64)"),
            (1 << 6, true, false, "performance-secondary (64)"),
            (1 << 9, true, true, "dr-secondary (512)"),
            (0, false, false, "none (0)"),
        ];
        for (bits, local, read_only, shown) in table {
            let state = ReplicationState(bits);
            assert_eq!(
                state.storage_read_only(local),
                read_only,
                "{bits} local={local}"
            );
            assert_eq!(state.to_string(), shown);
        }
        assert_eq!(ReplicationState::OPENBAO_STANDBY, ReplicationState(24576));
        assert_eq!(ReplicationState::OPENBAO_ACTIVE, ReplicationState(8224));
        assert_eq!(
            ReplicationState::OPENBAO_WITHOUT_HA,
            ReplicationState(12288)
        );
    }

    #[tokio::test]
    async fn storage_writable_follows_the_replication_state_and_the_local_mount() {
        let view = |state, local_mount| StaticSystemView {
            replication_state: state,
            local_mount,
            ..StaticSystemView::default()
        };
        assert!(
            StaticSystemView::default()
                .storage_writable()
                .await
                .unwrap()
        );
        let active = view(ReplicationState::OPENBAO_ACTIVE, false);
        assert!(active.storage_writable().await.unwrap());
        let standby = view(ReplicationState::OPENBAO_STANDBY, false);
        assert!(!standby.storage_writable().await.unwrap());
        let secondary = ReplicationState::PERFORMANCE_SECONDARY;
        assert!(!view(secondary, false).storage_writable().await.unwrap());
        assert!(view(secondary, true).storage_writable().await.unwrap());
    }
}
