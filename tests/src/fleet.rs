//! All six plugins on one dev server, each mounted and configured against
//! its fake upstream: what the server fuzzer (`tests/tests/fuzz_server.rs`,
//! `scripts/fuzz-server.sh`) and the soak command (`scripts/soak.sh`) run
//! against.
//!
//! Each [`Mounted`] plugin knows the config and roles written at setup (its
//! reference state, read back by [`Fleet::reference_reads`] to prove
//! storage intact) and how to mint one credential and revoke it
//! ([`Fleet::mint`], [`Fleet::revoke`]).

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use crate::fakes::{Fakes, IBM_ACCOUNT};
use crate::{BaoServer, crate_version, plugin_binary};

/// One plugin as the fleet mounted it.
#[derive(Debug, Clone)]
pub struct Mounted {
    /// Catalog name, the crate's directory name (e.g. `secrets-balena`).
    pub plugin: &'static str,
    /// API prefix of the mount, e.g. `balena` or `auth/ibmcloud`.
    pub mount: &'static str,
    /// Whether it is an auth method.
    pub auth: bool,
    /// Config and roles written at setup: `(path, body)`, in order.
    pub reference: Vec<(String, Value)>,
    /// The request that mints one credential: `(method, path, body)`.
    pub mint: (&'static str, String, Value),
}

/// A credential minted by [`Fleet::mint`].
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A secrets engine's lease.
    Lease(String),
    /// An auth method's client token.
    Token(String),
}

/// The server, the fakes and the mounted plugins (see the module doc).
pub struct Fleet {
    /// The dev server.
    pub server: BaoServer,
    /// The plugins, in mount order.
    pub plugins: Vec<Mounted>,
    /// The fakes live as long as the fleet.
    _fakes: Fakes,
}

impl Fleet {
    /// Starts the fakes and a dev server, registers, mounts and configures
    /// every plugin.
    ///
    /// # Panics
    /// If any step fails.
    #[track_caller]
    pub fn start() -> Fleet {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start the fleet: {e:#}"))
    }

    /// Like [`start`](Self::start), returning the error.
    pub fn try_start() -> Result<Fleet> {
        let fakes = Fakes::start()?;
        let Fakes {
            keys,
            balena,
            pachd,
            iam,
            proxmox,
            ..
        } = &fakes;

        let plugins = vec![
            Mounted {
                plugin: "example-kv",
                mount: "kv",
                auth: false,
                reference: vec![
                    ("config".into(), json!({"upstream_url": keys.url()})),
                    ("role/dev".into(), json!({"ttl": "5m", "max_ttl": "1h"})),
                    ("kv/kept".into(), json!({"value": "kept-value", "n": 7})),
                ],
                mint: ("GET", "kv/creds/dev".into(), Value::Null),
            },
            Mounted {
                plugin: "example-auth",
                mount: "auth/example-auth",
                auth: true,
                reference: vec![(
                    "users/alice".into(),
                    json!({"password": "demo-password", "token_policies": "default",
                           "token_ttl": "10m"}),
                )],
                mint: (
                    "POST",
                    "auth/example-auth/login".into(),
                    json!({"username": "alice", "password": "demo-password"}),
                ),
            },
            Mounted {
                plugin: "secrets-balena",
                mount: "balena",
                auth: false,
                reference: vec![
                    ("config".into(), json!({"url": balena.url()})),
                    (
                        "role/developer".into(),
                        json!({"balenaApiKey": fakes.balena_session, "ttl": "5m", "max_ttl": "1h"}),
                    ),
                ],
                mint: ("GET", "balena/creds/developer".into(), Value::Null),
            },
            Mounted {
                plugin: "secrets-pachyderm",
                mount: "pachyderm",
                auth: false,
                reference: vec![(
                    "config".into(),
                    json!({"admin_token": pachd.root_token(), "pachd_address": pachd.address(),
                           "ttl": "45s", "max_ttl": "1h"}),
                )],
                mint: ("POST", "pachyderm/login/ci".into(), json!({})),
            },
            Mounted {
                plugin: "auth-ibmcloud",
                mount: "auth/ibmcloud",
                auth: true,
                reference: vec![
                    (
                        "config".into(),
                        iam.config_json(&fakes.ibm_admin_key, IBM_ACCOUNT),
                    ),
                    (
                        "role/dev-role".into(),
                        json!({"bound_subjects": fakes.ibm_app_subject, "token_policies": "default",
                               "token_ttl": "10m"}),
                    ),
                ],
                mint: (
                    "POST",
                    "auth/ibmcloud/login".into(),
                    json!({"role": "dev-role", "api_key": fakes.ibm_app_key}),
                ),
            },
            Mounted {
                plugin: "secrets-proxmox",
                mount: "proxmox",
                auth: false,
                reference: vec![
                    (
                        "config".into(),
                        proxmox.config_json("vault", &fakes.proxmox_token_secret, None),
                    ),
                    (
                        "role/ci".into(),
                        json!({"user": "alice", "realm": "pve", "ttl": "5m", "max_ttl": "1h",
                               "acls": "/vms/100:PVEVMUser"}),
                    ),
                ],
                mint: ("GET", "proxmox/creds/ci".into(), Value::Null),
            },
        ];

        let server = BaoServer::try_start()?;
        for mounted in &plugins {
            let dir = format!("plugins/{}", mounted.plugin);
            let binary = plugin_binary(&format!("vault-plugin-{}", mounted.plugin));
            let kind = if mounted.auth { "auth" } else { "secret" };
            server.install_plugin(kind, mounted.plugin, &binary, &crate_version(&dir));
            match mounted.mount.strip_prefix("auth/") {
                Some(path) => server.enable_auth(mounted.plugin, path),
                None => server.enable_secrets(mounted.plugin, mounted.mount),
            }
            for (path, body) in &mounted.reference {
                let path = format!("{}/{path}", mounted.mount);
                let (status, answer) = server.http("POST", &path, Some(body));
                if !(200..300).contains(&status) {
                    bail!("writing {path}: HTTP {status}: {answer}");
                }
            }
        }
        Ok(Fleet {
            server,
            plugins,
            _fakes: fakes,
        })
    }

    /// Reads every reference path of every plugin: `(full path, status,
    /// data)`. Equal before and after a run means storage is intact.
    pub fn reference_reads(&self) -> Vec<(String, u16, Value)> {
        self.plugins
            .iter()
            .flat_map(|m| {
                m.reference
                    .iter()
                    .map(move |(p, _)| format!("{}/{p}", m.mount))
            })
            .map(|path| {
                let (status, body) = self.server.http("GET", &path, None);
                (path, status, body["data"].clone())
            })
            .collect()
    }

    /// Mints one credential of `plugin` (root token).
    ///
    /// # Errors
    /// On a transport error or any status but 200, or a 200 without a lease or token.
    pub fn mint(&self, plugin: &Mounted) -> Result<Credential> {
        let (method, path, body) = &plugin.mint;
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let token = (!plugin.auth).then_some(crate::ROOT_TOKEN);
        let (status, text) = self.server.http_raw(token, method, path, &body)?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 200 {
            bail!("{method} {path}: HTTP {status}: {}", crate::excerpt(&text));
        }
        let credential = if plugin.auth {
            answer["auth"]["client_token"]
                .as_str()
                .map(|t| Credential::Token(t.to_owned()))
        } else {
            answer["lease_id"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map(|l| Credential::Lease(l.to_owned()))
        };
        credential.ok_or_else(|| anyhow!("{method} {path}: no lease or token in the answer"))
    }

    /// Revokes a credential (synchronously: a lease's upstream credential is
    /// gone when this returns).
    ///
    /// # Errors
    /// On a transport error or a status other than 204/200.
    pub fn revoke(&self, credential: &Credential) -> Result<()> {
        let (path, body) = match credential {
            Credential::Lease(id) => ("sys/leases/revoke", json!({"lease_id": id, "sync": true})),
            Credential::Token(token) => ("auth/token/revoke", json!({"token": token})),
        };
        let body = body.to_string().into_bytes();
        let (status, text) = self
            .server
            .http_raw(Some(crate::ROOT_TOKEN), "POST", path, &body)?;
        if !matches!(status, 200 | 204) {
            bail!("POST {path}: HTTP {status}: {}", crate::excerpt(&text));
        }
        Ok(())
    }
}
