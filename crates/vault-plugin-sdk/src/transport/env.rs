//! What the host tells a plugin through its environment.
//!
//! OpenBao sets `BAO_*` names and their `VAULT_*` twins; Vault sets only
//! `VAULT_*`. Both are read here, so one binary works with either host.

use std::path::PathBuf;

/// The magic cookie's variable; its absence means a person ran the binary.
pub const MAGIC_COOKIE_KEY: &str = "VAULT_BACKEND_PLUGIN";
/// The magic cookie's value (the same in Vault and OpenBao).
pub const MAGIC_COOKIE_VALUE: &str = "6669da05-b1c8-4f49-97d9-c8e5bed98e20";

/// The environment of one plugin start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    /// Application protocol versions the host accepts (`PLUGIN_PROTOCOL_VERSIONS`).
    pub protocol_versions: Vec<u32>,
    /// The host's client certificate as PEM text (`PLUGIN_CLIENT_CERT`).
    pub client_cert_pem: Option<String>,
    /// Whether the host uses AutoMTLS (`*_PLUGIN_AUTOMTLS_ENABLED`).
    pub automtls: bool,
    /// Whether the host only wants metadata (`*_PLUGIN_METADATA_MODE`).
    pub metadata_mode: bool,
    /// Whether memory must be locked (`*_PLUGIN_MLOCK_ENABLED`).
    pub mlock: bool,
    /// Whether the host asks for the legacy TLS bootstrap (`VAULT_UNWRAP_TOKEN`).
    pub unwrap_token: bool,
    /// The TCP port range (`PLUGIN_MIN_PORT`, `PLUGIN_MAX_PORT`).
    pub port_range: (u16, u16),
    /// Where to put the unix socket (`PLUGIN_UNIX_SOCKET_DIR`).
    pub unix_socket_dir: Option<PathBuf>,
    /// Group that should own the unix socket (`PLUGIN_UNIX_SOCKET_GROUP`).
    pub unix_socket_group: Option<String>,
    /// The host's version (`BAO_VERSION` or `VAULT_VERSION`), for logs.
    pub host_version: Option<String>,
}

/// The environment is not one a host would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// No magic cookie: the binary was run by hand.
    #[error(
        "this program is a Vault/OpenBao plugin and is not meant to be run directly.\n\
         Install it into the server's plugin_directory, register it with\n\
         `bao plugin register -sha256=<sha256 of this file> secret <name>` (or `vault plugin register`),\n\
         and enable it; the server starts it when needed."
    )]
    NotAPlugin,
    /// A variable holds something that cannot be parsed.
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

const DEFAULT_PORT_RANGE: (u16, u16) = (10000, 25000);

impl HostEnv {
    /// Reads the process environment.
    pub fn from_process() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the environment through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        if get(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(EnvError::NotAPlugin);
        }
        let flag = |suffix: &str| {
            ["VAULT_", "BAO_"].iter().any(|prefix| {
                get(&format!("{prefix}{suffix}"))
                    .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
            })
        };
        let protocol_versions = match get("PLUGIN_PROTOCOL_VERSIONS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| EnvError::Invalid {
                    name: "PLUGIN_PROTOCOL_VERSIONS",
                    value: raw.clone(),
                    reason: "expected comma-separated numbers",
                })?,
        };
        let port = |name: &'static str, default: u16| -> Result<u16, EnvError> {
            match get(name) {
                None => Ok(default),
                Some(v) if v.trim().is_empty() => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| EnvError::Invalid {
                    name,
                    value: v,
                    reason: "expected a port number",
                }),
            }
        };
        let min = port("PLUGIN_MIN_PORT", DEFAULT_PORT_RANGE.0)?;
        let max = port("PLUGIN_MAX_PORT", DEFAULT_PORT_RANGE.1)?;
        if min > max {
            return Err(EnvError::Invalid {
                name: "PLUGIN_MIN_PORT",
                value: min.to_string(),
                reason: "must not be above PLUGIN_MAX_PORT",
            });
        }
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            protocol_versions,
            client_cert_pem: non_empty("PLUGIN_CLIENT_CERT"),
            automtls: flag("PLUGIN_AUTOMTLS_ENABLED"),
            metadata_mode: flag("PLUGIN_METADATA_MODE"),
            mlock: flag("PLUGIN_MLOCK_ENABLED"),
            unwrap_token: non_empty("VAULT_UNWRAP_TOKEN").is_some()
                || non_empty("BAO_UNWRAP_TOKEN").is_some(),
            port_range: (min, max),
            unix_socket_dir: non_empty("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from),
            unix_socket_group: non_empty("PLUGIN_UNIX_SOCKET_GROUP"),
            host_version: non_empty("BAO_VERSION").or_else(|| non_empty("VAULT_VERSION")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<HostEnv, EnvError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HostEnv::from_lookup(|k| map.get(k).cloned())
    }

    const COOKIE: (&str, &str) = (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE);
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn missing_or_wrong_cookie_means_run_by_hand() {
        assert_eq!(env(&[]), Err(EnvError::NotAPlugin));
        assert_eq!(
            env(&[(MAGIC_COOKIE_KEY, "nope")]),
            Err(EnvError::NotAPlugin)
        );
        let msg = EnvError::NotAPlugin.to_string();
        assert!(
            msg.contains("plugin") && msg.contains("plugin register"),
            "{msg}"
        );
    }

    #[test]
    fn openbao_first_probe() {
        // What OpenBao 2.7.2 hands a plugin on its first start (observed).
        let e = env(&[
            COOKIE,
            ("PLUGIN_PROTOCOL_VERSIONS", "5"),
            ("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true"),
            ("BAO_PLUGIN_AUTOMTLS_ENABLED", "true"),
            ("VAULT_PLUGIN_METADATA_MODE", "false"),
            ("PLUGIN_CLIENT_CERT", PEM),
            ("PLUGIN_MIN_PORT", "10000"),
            ("PLUGIN_MAX_PORT", "25000"),
            ("VAULT_VERSION", "2.7.2"),
            ("BAO_VERSION", "2.7.2"),
        ])
        .unwrap();
        assert_eq!(e.protocol_versions, [5]);
        assert!(e.automtls && !e.metadata_mode && !e.unwrap_token);
        assert_eq!(e.client_cert_pem.as_deref(), Some(PEM));
        assert_eq!(e.port_range, (10000, 25000));
        assert_eq!(e.host_version.as_deref(), Some("2.7.2"));
    }

    #[test]
    fn openbao_second_probe_and_bao_only_names() {
        let e = env(&[
            COOKIE,
            ("PLUGIN_PROTOCOL_VERSIONS", "3,4"),
            ("BAO_PLUGIN_AUTOMTLS_ENABLED", "false"),
            ("BAO_PLUGIN_METADATA_MODE", "true"),
        ])
        .unwrap();
        assert_eq!(e.protocol_versions, [3, 4]);
        assert!(!e.automtls && e.metadata_mode);
        assert_eq!(e.client_cert_pem, None);
    }

    #[test]
    fn bad_values_are_named() {
        let err = env(&[COOKIE, ("PLUGIN_PROTOCOL_VERSIONS", "5,x")]).unwrap_err();
        assert!(
            err.to_string().contains("PLUGIN_PROTOCOL_VERSIONS"),
            "{err}"
        );
        let err = env(&[COOKIE, ("PLUGIN_MIN_PORT", "http")]).unwrap_err();
        assert!(err.to_string().contains("PLUGIN_MIN_PORT"), "{err}");
        let err = env(&[
            COOKIE,
            ("PLUGIN_MIN_PORT", "30000"),
            ("PLUGIN_MAX_PORT", "20000"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("PLUGIN_MAX_PORT"), "{err}");
    }

    #[test]
    fn legacy_unwrap_token_and_mlock_are_seen() {
        let e = env(&[
            COOKIE,
            ("VAULT_UNWRAP_TOKEN", "s.abc"),
            ("VAULT_PLUGIN_MLOCK_ENABLED", "true"),
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/plugins"),
        ])
        .unwrap();
        assert!(e.unwrap_token && e.mlock);
        assert_eq!(e.unix_socket_dir, Some(PathBuf::from("/run/plugins")));
    }
}
