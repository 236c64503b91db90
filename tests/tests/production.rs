//! Our plugins in a production-shape OpenBao (raft, TLS with a private CA,
//! init and unseal; `integration_tests::prod`), installed the operator's
//! way: `scripts/register.sh`, registered by sha256 and version, mounts
//! pinned to it. One server for the whole file (each raft start costs
//! seconds), in one test that walks an operator's life with it:
//!
//! 1. register.sh installs every plugin; a second run changes nothing;
//! 2. every plugin is configured against its fake upstream, and a token
//!    with a consumer policy (the seed's read-only policy) obtains one
//!    lease from each and gets 403 elsewhere;
//! 3. the server is stopped with SIGINT, started and unsealed by
//!    `deploy/openbao-unseal.sh` (what its systemd unit runs): every mount
//!    answers with its data, every lease renews and revokes, and a revoke
//!    really deletes the credential upstream;
//! 4. example-kv is upgraded by hand (register a newer build, `secrets tune
//!    -plugin-version`, `plugin reload`) and downgraded the same way, data
//!    and leases surviving; then register.sh performs the same upgrade;
//! 5. a plugin that fails at startup says why in the server log.
//!
//! A new plugin joins with one line in [`PLUGINS`] (its functions below it,
//! and its fake in [`Fakes`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_iam::{FakeIam, Identity};
use integration_tests::fake_keys::FakeKeyService;
use integration_tests::fake_pachd::FakePachd;
use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::prod::ProdServer;
use integration_tests::{
    BaoClient, STATIC_TARGET, crate_version, plugin_search_dirs, sha256_file, target_root,
    workspace_root,
};
use serde_json::Value;

/// One plugin of the production install.
struct Plugin {
    /// `secret` or `auth`.
    kind: &'static str,
    /// Catalog name (as in `scripts/plugins.table`).
    name: &'static str,
    /// Its crate, whose version the binary reports.
    crate_dir: &'static str,
    /// Mount path (auth plugins: under `auth/`).
    mount: &'static str,
    /// Writes its config and roles against the fakes.
    configure: fn(&Fakes, &BaoClient),
    /// The consumer policy's rule for it (empty: none needed, e.g. a login).
    rule: &'static str,
    /// Obtains one lease as the consumer token: the CLI's JSON answer.
    issue: fn(&Fakes, &BaoClient, &str) -> Value,
    /// The lease, and the credential upstream, in an answer of `issue`.
    lease: fn(&Value) -> (Lease, String),
    /// Whether the credential still works upstream.
    alive: fn(&Fakes, &BaoClient, &str) -> bool,
    /// A path the consumer token may not read.
    forbidden: &'static str,
    /// Checks what `configure` stored is still there.
    check_kept: fn(&BaoClient),
}

/// The plugins, one line each.
#[rustfmt::skip]
const PLUGINS: &[Plugin] = &[
    Plugin { kind: "secret", name: "example-kv", crate_dir: "plugins/example-kv", mount: "example-kv", configure: kv::configure, rule: kv::RULE, issue: kv::issue, lease: kv::lease, alive: kv::alive, forbidden: "example-kv/kv/hello", check_kept: kv::check_kept },
    Plugin { kind: "auth", name: "example-auth", crate_dir: "plugins/example-auth", mount: "example-auth", configure: auth::configure, rule: "", issue: auth::issue, lease: auth::lease, alive: auth::alive, forbidden: "auth/example-auth/users/alice", check_kept: auth::check_kept },
    Plugin { kind: "secret", name: "secrets-balena", crate_dir: "plugins/secrets-balena", mount: "balena", configure: balena::configure, rule: balena::RULE, issue: balena::issue, lease: balena::lease, alive: balena::alive, forbidden: "balena/creds/admin", check_kept: balena::check_kept },
    Plugin { kind: "secret", name: "secrets-pachyderm", crate_dir: "plugins/secrets-pachyderm", mount: "pachyderm", configure: pachyderm::configure, rule: pachyderm::RULE, issue: pachyderm::issue, lease: pachyderm::lease, alive: pachyderm::alive, forbidden: "pachyderm/config", check_kept: pachyderm::check_kept },
    Plugin { kind: "secret", name: "secrets-proxmox", crate_dir: "plugins/secrets-proxmox", mount: "proxmox", configure: proxmox::configure, rule: proxmox::RULE, issue: proxmox::issue, lease: proxmox::lease, alive: proxmox::alive, forbidden: "proxmox/creds/root", check_kept: proxmox::check_kept },
    Plugin { kind: "auth", name: "auth-ibmcloud", crate_dir: "plugins/auth-ibmcloud", mount: "ibmcloud", configure: ibmcloud::configure, rule: "", issue: ibmcloud::issue, lease: ibmcloud::lease, alive: auth::alive, forbidden: "auth/ibmcloud/role/ci", check_kept: ibmcloud::check_kept },
];

/// The fake upstreams the plugins talk to.
struct Fakes {
    keys: FakeKeyService,
    balena: FakeBalena,
    pachd: FakePachd,
    proxmox: FakeProxmox,
    iam: FakeIam,
    /// The service ID that logs in through auth-ibmcloud.
    ci: Identity,
    /// Where the fakes' CA files are written.
    dir: tempfile::TempDir,
}

/// A lease as an operator renews and revokes it.
#[derive(Debug, Clone)]
enum Lease {
    /// A secret's lease id (`bao lease renew/revoke`).
    Secret(String),
    /// A login's token (`bao token renew/revoke`).
    Token(String),
}

impl Lease {
    /// Renews it; returns the new duration in seconds.
    fn renew(&self, client: &BaoClient) -> u64 {
        let answer = match self {
            Lease::Secret(id) => client.bao_json(&["lease", "renew", id]),
            Lease::Token(token) => client.bao_json(&["token", "renew", token]),
        };
        let duration = match self {
            Lease::Secret(_) => &answer["lease_duration"],
            Lease::Token(_) => &answer["auth"]["lease_duration"],
        };
        duration
            .as_u64()
            .unwrap_or_else(|| panic!("no lease duration: {answer}"))
    }

    fn revoke(&self, client: &BaoClient) {
        match self {
            Lease::Secret(id) => client.bao_ok(&["lease", "revoke", "-sync", id]),
            Lease::Token(token) => client.bao_ok(&["token", "revoke", token]),
        };
    }
}

fn text(answer: &Value, pointer: &str) -> String {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {answer}"))
        .to_owned()
}

/// `bao` as the token `token`, JSON answer.
fn bao_json_as(client: &BaoClient, token: &str, args: &[&str]) -> Value {
    let out = bao_as(client, token, args, true);
    assert!(
        out.status.success(),
        "`bao {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON from {args:?}: {e}"))
}

fn bao_as(client: &BaoClient, token: &str, args: &[&str], json: bool) -> Output {
    let mut env = vec![("BAO_TOKEN", token), ("VAULT_TOKEN", token)];
    if json {
        env.extend([("BAO_FORMAT", "json"), ("VAULT_FORMAT", "json")]);
    }
    client.bao_with_env(args, &env)
}

mod kv {
    use super::*;

    pub const RULE: &str = r#"path "example-kv/creds/dev" { capabilities = ["read"] }"#;

    pub fn configure(fakes: &Fakes, client: &BaoClient) {
        client.bao_ok(&[
            "write",
            "example-kv/config",
            &format!("upstream_url={}", fakes.keys.url()),
        ]);
        client.bao_ok(&["write", "example-kv/role/dev", "ttl=5m", "max_ttl=1h"]);
        client.bao_ok(&["write", "example-kv/kv/hello", "value=world"]);
    }

    pub fn issue(_: &Fakes, client: &BaoClient, token: &str) -> Value {
        bao_json_as(client, token, &["read", "example-kv/creds/dev"])
    }

    pub fn lease(answer: &Value) -> (Lease, String) {
        (
            Lease::Secret(text(answer, "/lease_id")),
            text(answer, "/data/secret"),
        )
    }

    pub fn alive(fakes: &Fakes, _: &BaoClient, secret: &str) -> bool {
        fakes.keys.authenticates(secret)
    }

    pub fn check_kept(client: &BaoClient) {
        let hello = client.bao_json(&["read", "example-kv/kv/hello"]);
        assert_eq!(hello["data"]["value"], "world", "{hello}");
        let role = client.bao_json(&["read", "example-kv/role/dev"]);
        assert_eq!(role["data"]["ttl"], 300, "{role}");
    }
}

mod auth {
    use super::*;

    const PASSWORD: &str = "pw-Prod-Shape-5120";

    pub fn configure(_: &Fakes, client: &BaoClient) {
        client.bao_ok(&[
            "write",
            "auth/example-auth/users/alice",
            &format!("password={PASSWORD}"),
            "token_policies=default",
            "token_ttl=10m",
            "token_max_ttl=1h",
        ]);
    }

    /// A login needs no token.
    pub fn issue(_: &Fakes, client: &BaoClient, _: &str) -> Value {
        bao_json_as(
            client,
            "",
            &[
                "write",
                "auth/example-auth/login",
                "username=alice",
                &format!("password={PASSWORD}"),
            ],
        )
    }

    pub fn lease(answer: &Value) -> (Lease, String) {
        let token = text(answer, "/auth/client_token");
        (Lease::Token(token.clone()), token)
    }

    /// The upstream of an auth method's lease is the token itself.
    pub fn alive(_: &Fakes, client: &BaoClient, token: &str) -> bool {
        client.bao(&["token", "lookup", token]).status.success()
    }

    pub fn check_kept(client: &BaoClient) {
        let user = client.bao_json(&["read", "auth/example-auth/users/alice"]);
        assert_eq!(user["data"]["token_ttl"], 600, "{user}");
    }
}

mod balena {
    use super::*;

    pub const RULE: &str = r#"path "balena/creds/developer" { capabilities = ["read"] }"#;
    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    pub fn configure(fakes: &Fakes, client: &BaoClient) {
        fakes.balena.add_user("dev", "pw-dev-Balena-77");
        let session = fakes.balena.session_token("dev", Duration::ZERO, WEEK);
        client.bao_ok(&[
            "write",
            "balena/config",
            &format!("url={}", fakes.balena.url()),
        ]);
        client.bao_ok(&[
            "write",
            "balena/role/developer",
            &format!("balenaApiKey={session}"),
            "ttl=5m",
            "max_ttl=1h",
        ]);
    }

    pub fn issue(_: &Fakes, client: &BaoClient, token: &str) -> Value {
        bao_json_as(client, token, &["read", "balena/creds/developer"])
    }

    pub fn lease(answer: &Value) -> (Lease, String) {
        (
            Lease::Secret(text(answer, "/lease_id")),
            text(answer, "/data/token"),
        )
    }

    pub fn alive(fakes: &Fakes, _: &BaoClient, key: &str) -> bool {
        fakes.balena.keys().iter().any(|k| k.key == key) && fakes.balena.authenticates(key)
    }

    pub fn check_kept(client: &BaoClient) {
        let role = client.bao_json(&["read", "balena/role/developer"]);
        assert_eq!(role["data"]["ttl"], 300, "{role}");
    }
}

mod pachyderm {
    use super::*;

    /// Minting is an update of the robot's login path.
    pub const RULE: &str = r#"path "pachyderm/login/ci" { capabilities = ["update"] }"#;

    pub fn configure(fakes: &Fakes, client: &BaoClient) {
        let mut config = fakes.pachd.config_args();
        config.extend(["ttl=45s", "max_ttl=1h"].map(String::from));
        client.write_ok("pachyderm/config", &config);
    }

    pub fn issue(_: &Fakes, client: &BaoClient, token: &str) -> Value {
        bao_json_as(client, token, &["write", "-f", "pachyderm/login/ci"])
    }

    pub fn lease(answer: &Value) -> (Lease, String) {
        (
            Lease::Secret(text(answer, "/lease_id")),
            text(answer, "/data/user_token"),
        )
    }

    pub fn alive(fakes: &Fakes, _: &BaoClient, token: &str) -> bool {
        fakes.pachd.subject_of(token).is_some()
    }

    pub fn check_kept(client: &BaoClient) {
        let config = client.bao_json(&["read", "pachyderm/config"]);
        assert_eq!(config["data"]["ttl"], 45, "{config}");
    }
}

mod proxmox {
    use super::*;

    pub const RULE: &str = r#"path "proxmox/creds/alice" { capabilities = ["read"] }"#;
    /// What the minted token is tried on.
    const VM: &str = "/nodes/pve/qemu/100/status/current";

    pub fn configure(fakes: &Fakes, client: &BaoClient) {
        let root = fakes.proxmox.add_token("root@pam", "vault", false);
        fakes.proxmox.add_user("alice@pve");
        fakes.proxmox.grant("/vms", "alice@pve", "PVEVMUser");
        let ca = fakes.proxmox.write_ca_file(fakes.dir.path());
        client.write_ok(
            "proxmox/config",
            &fakes.proxmox.config_args("vault", &root, Some(&ca)),
        );
        client.bao_ok(&[
            "write",
            "proxmox/role/alice",
            "user=alice",
            "realm=pve",
            "ttl=5m",
            "max_ttl=1h",
        ]);
    }

    pub fn issue(_: &Fakes, client: &BaoClient, token: &str) -> Value {
        bao_json_as(client, token, &["read", "proxmox/creds/alice"])
    }

    /// The credential is `<full token id>=<secret>`, as Proxmox's header has it.
    pub fn lease(answer: &Value) -> (Lease, String) {
        (
            Lease::Secret(text(answer, "/lease_id")),
            format!(
                "{}={}",
                text(answer, "/data/token_id_full"),
                text(answer, "/data/secret")
            ),
        )
    }

    pub fn alive(fakes: &Fakes, _: &BaoClient, credential: &str) -> bool {
        let (full_id, secret) = credential.split_once('=').unwrap();
        fakes.proxmox.status_as(full_id, secret, "GET", VM) == 200
    }

    pub fn check_kept(client: &BaoClient) {
        let role = client.bao_json(&["read", "proxmox/role/alice"]);
        assert_eq!(role["data"]["ttl"], 300, "{role}");
        let config = client.bao_json(&["read", "proxmox/config"]);
        assert_eq!(config["data"]["token_id"], "vault", "{config}");
        assert!(config["data"].get("token_secret").is_none(), "{config}");
    }
}

mod ibmcloud {
    use super::*;

    pub const ACCOUNT: &str = "acct-prod-7e1";

    pub fn configure(fakes: &Fakes, client: &BaoClient) {
        let admin = Identity::service_id("vault-admin", ACCOUNT);
        fakes.iam.add_identity(&admin);
        fakes.iam.add_identity(&fakes.ci);
        let admin_key = fakes.iam.create_api_key(&admin);
        client.write_ok(
            "auth/ibmcloud/config",
            &fakes.iam.config_args(&admin_key.value, ACCOUNT),
        );
        client.bao_ok(&[
            "write",
            "auth/ibmcloud/role/ci",
            &format!("bound_subjects={}", fakes.ci.sub),
            "token_policies=default",
            "token_ttl=10m",
            "token_max_ttl=1h",
        ]);
    }

    /// A login with a new API key of the `ci` service ID; it needs no token.
    pub fn issue(fakes: &Fakes, client: &BaoClient, _: &str) -> Value {
        let key = fakes.iam.create_api_key(&fakes.ci);
        bao_json_as(
            client,
            "",
            &[
                "write",
                "auth/ibmcloud/login",
                "role=ci",
                &format!("api_key={}", key.value),
            ],
        )
    }

    pub fn lease(answer: &Value) -> (Lease, String) {
        let token = text(answer, "/auth/client_token");
        (Lease::Token(token.clone()), token)
    }

    pub fn check_kept(client: &BaoClient) {
        let role = client.bao_json(&["read", "auth/ibmcloud/role/ci"]);
        assert_eq!(role["data"]["token_ttl"], 600, "{role}");
        let config = client.bao_json(&["read", "auth/ibmcloud/config"]);
        assert_eq!(config["data"]["account_id"], ACCOUNT, "{config}");
        // Shown as set, never its value.
        assert_eq!(config["data"]["api_key"], "<redacted>", "{config}");
    }
}

/// Runs `scripts/register.sh` against the server with the binaries in
/// `binaries`, installing into the server's plugin directory; returns its
/// output (stdout), panicking if it fails.
fn register_sh(server: &ProdServer, binaries: &Path, names: &[&str]) -> String {
    let mut cmd = Command::new(workspace_root().join("scripts/register.sh"));
    cmd.arg("--binaries")
        .arg(binaries)
        .arg("--plugin-dir")
        .arg(server.plugin_dir());
    for plugin in PLUGINS {
        cmd.arg(format!("--mount={}={}", plugin.name, plugin.mount));
    }
    cmd.args(names);
    // What an operator's shell has: the address, the token, the CA, the CLI.
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("BAO_") || k.starts_with("VAULT_"))
        {
            cmd.env_remove(key);
        }
    }
    let ca = server.ca_cert().expect("the production server has a CA");
    cmd.env("VAULT_ADDR", server.addr())
        .env("BAO_TOKEN", server.root_token())
        .env("BAO_CACERT", ca)
        .env("BAO_BIN", server.bin());
    let out = cmd.output().expect("running scripts/register.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "register.sh failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines register.sh printed about `name`.
fn lines_of<'a>(output: &'a str, name: &str) -> Vec<&'a str> {
    output
        .lines()
        .filter(|l| l.starts_with(&format!("{name} ")))
        .collect()
}

fn mount_path(plugin: &Plugin) -> String {
    if plugin.kind == "auth" {
        format!("auth/{}/", plugin.mount)
    } else {
        format!("{}/", plugin.mount)
    }
}

/// The mount table entry of `plugin` (`secrets list` / `auth list -detailed`).
fn mount_entry(client: &BaoClient, plugin: &Plugin) -> Value {
    let list = if plugin.kind == "auth" {
        "auth"
    } else {
        "secrets"
    };
    let mounts = client.bao_json(&[list, "list", "-detailed"]);
    mounts[format!("{}/", plugin.mount)].clone()
}

/// The directory of the release binaries the tests use.
fn release_dir() -> PathBuf {
    plugin_search_dirs()
        .into_iter()
        .find(|d| d.join("vault-plugin-example-kv").is_file())
        .expect("no release build of the plugins: run ./scripts/build-release.sh --workspace")
}

/// `v1.2.3` -> `v1.2.4`: the version of the upgrade build.
fn next_patch(version: &str) -> String {
    let parts: Vec<u64> = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().expect("a plain x.y.z crate version"))
        .collect();
    format!("v{}.{}.{}", parts[0], parts[1], parts[2] + 1)
}

/// Builds example-kv reporting `version` (the compile-time override of
/// `plugin_version!`) into a target directory of its own, cached across
/// runs; returns the directory holding the binary. The first time, that
/// directory starts as a copy of the release build's dependencies, so only
/// example-kv itself is compiled again.
fn build_with_version(version: &str) -> PathBuf {
    let target = target_root().join("version-override");
    // Host artifacts (build scripts, proc macros) and the target's.
    for profile in [
        PathBuf::from("release"),
        Path::new(STATIC_TARGET).join("release"),
    ] {
        let (built, copy) = (target_root().join(&profile), target.join(&profile));
        if copy.exists() || !built.exists() {
            continue;
        }
        fs::create_dir_all(&copy).unwrap();
        for part in ["deps", "build", ".fingerprint"] {
            let status = Command::new("cp")
                .arg("-a")
                .arg(built.join(part))
                .arg(&copy)
                .status()
                .unwrap();
            assert!(status.success(), "copying {part} of the release build");
        }
    }
    let status = Command::new(workspace_root().join("scripts/build-release.sh"))
        .args(["-p", "example-kv"])
        .env("CARGO_TARGET_DIR", &target)
        .env("PLUGIN_VERSION_OVERRIDE", version)
        .status()
        .expect("running scripts/build-release.sh");
    assert!(status.success(), "building example-kv {version} failed");
    let dir = target.join(STATIC_TARGET).join("release");
    let out = Command::new(dir.join("vault-plugin-example-kv"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), version);
    dir
}

/// The documented upgrade (and downgrade) by hand: the binary beside the
/// others as `<name>-<version>`, registered, the mount pinned, reloaded.
fn switch_by_hand(server: &ProdServer, binary: &Path, version: &str) {
    let command = format!("example-kv-{version}");
    let dest = server.plugin_dir().join(&command);
    if !dest.exists() {
        fs::copy(binary, &dest).unwrap();
    }
    let sha = sha256_file(&dest);
    server.bao_ok(&[
        "plugin",
        "register",
        &format!("-sha256={sha}"),
        &format!("-version={version}"),
        &format!("-command={command}"),
        "secret",
        "example-kv",
    ]);
    server.bao_ok(&[
        "secrets",
        "tune",
        &format!("-plugin-version={version}"),
        "example-kv/",
    ]);
    server.bao_ok(&["plugin", "reload", "-plugin=example-kv"]);
}

/// What shows which build of example-kv serves its mount: the catalog,
/// the mount table, and the plugin itself.
fn assert_example_kv_runs(server: &ProdServer, version: &str) {
    let info = server.bao_json(&[
        "plugin",
        "info",
        &format!("-version={version}"),
        "secret",
        "example-kv",
    ]);
    assert_eq!(info["version"], version, "{info}");
    let entry = mount_entry(server, &PLUGINS[0]);
    assert_eq!(entry["plugin_version"], version, "{entry}");
    assert_eq!(entry["running_plugin_version"], version, "{entry}");
    assert_eq!(entry["running_sha256"], info["sha256"], "{entry}");
    let ping = server.bao_json(&["read", "example-kv/ping"]);
    assert_eq!(ping["data"]["version"], version, "{ping}");
}

#[test]
fn the_production_install_survives_restart_upgrade_and_downgrade() {
    let fakes = Fakes {
        keys: FakeKeyService::start().unwrap(),
        balena: FakeBalena::start().unwrap(),
        pachd: FakePachd::start().unwrap(),
        proxmox: FakeProxmox::start().unwrap(),
        iam: FakeIam::start_blocking().unwrap(),
        ci: Identity::service_id("ci", ibmcloud::ACCOUNT),
        dir: tempfile::tempdir().unwrap(),
    };
    let mut server = ProdServer::start();
    let binaries = release_dir();
    let names: Vec<&str> = PLUGINS.iter().map(|p| p.name).collect();

    // 1. Installed by register.sh, by sha256 and version; again: no change.
    let first = register_sh(&server, &binaries, &names);
    for plugin in PLUGINS {
        let version = crate_version(plugin.crate_dir);
        let lines = lines_of(&first, plugin.name).join("\n");
        assert!(lines.contains("installed"), "{first}");
        assert!(lines.contains("registered ("), "{first}");
        assert!(
            lines.contains(&format!("enabled at {}", mount_path(plugin))),
            "{first}"
        );
        let info = server.bao_json(&[
            "plugin",
            "info",
            &format!("-version={version}"),
            plugin.kind,
            plugin.name,
        ]);
        let file = server
            .plugin_dir()
            .join(format!("{}-{version}", plugin.name));
        assert_eq!(info["sha256"], sha256_file(&file), "{info}");
        let entry = mount_entry(&server, plugin);
        assert_eq!(entry["plugin_version"], version.as_str(), "{entry}");
    }
    let pids: Vec<Vec<u32>> = PLUGINS
        .iter()
        .map(|p| server.plugin_pids(&format!("{}-{}", p.name, crate_version(p.crate_dir))))
        .collect();
    let second = register_sh(&server, &binaries, &names);
    assert_eq!(second.lines().count(), 3 * PLUGINS.len(), "{second}");
    assert!(
        second.lines().all(|l| l.contains(": already ")),
        "the second run changed something:\n{second}"
    );
    let pids_after: Vec<Vec<u32>> = PLUGINS
        .iter()
        .map(|p| server.plugin_pids(&format!("{}-{}", p.name, crate_version(p.crate_dir))))
        .collect();
    assert_eq!(pids, pids_after, "the second run restarted a plugin");

    // 2. Configured; a consumer token gets a lease from each, 403 elsewhere.
    for plugin in PLUGINS {
        (plugin.configure)(&fakes, &server);
    }
    let rules: Vec<&str> = PLUGINS.iter().map(|p| p.rule).collect();
    let policy = server.plugin_dir().with_file_name("consumer.hcl");
    fs::write(&policy, rules.join("\n")).unwrap();
    server.bao_ok(&["policy", "write", "consumer", policy.to_str().unwrap()]);
    let consumer = text(
        &server.bao_json(&["token", "create", "-policy=consumer", "-ttl=2h"]),
        "/auth/client_token",
    );
    let mut leases = Vec::new();
    for plugin in PLUGINS {
        let (lease, credential) = (plugin.lease)(&(plugin.issue)(&fakes, &server, &consumer));
        assert!(
            (plugin.alive)(&fakes, &server, &credential),
            "{}: the credential does not work upstream",
            plugin.name
        );
        let denied = bao_as(&server, &consumer, &["read", plugin.forbidden], false);
        let stderr = String::from_utf8_lossy(&denied.stderr);
        assert!(
            stderr.contains("Code: 403"),
            "{}: the consumer reading {} got: {stderr}",
            plugin.name,
            plugin.forbidden
        );
        leases.push((plugin, lease, credential));
    }

    // 3. Stopped with SIGINT, started, unsealed by the shipped unseal
    //    script (deploy/openbao-unseal.sh): everything as before.
    server.stop();
    server.start_sealed();
    let unseal = Command::new(workspace_root().join("deploy/openbao-unseal.sh"))
        .env("BAO_ADDR", server.addr())
        .env("BAO_CACERT", server.ca_cert().unwrap())
        .env("INIT_FILE", server.init_file())
        .output()
        .unwrap();
    assert!(
        unseal.status.success() && String::from_utf8_lossy(&unseal.stderr).contains("unsealed"),
        "openbao-unseal.sh: {}",
        String::from_utf8_lossy(&unseal.stderr)
    );
    server.wait_active();
    for plugin in PLUGINS {
        (plugin.check_kept)(&server);
    }
    for (plugin, lease, credential) in &leases {
        assert!(lease.renew(&server) > 0, "{}: renew", plugin.name);
        lease.revoke(&server);
        assert!(
            !(plugin.alive)(&fakes, &server, credential),
            "{}: revoked after the restart, the credential still works upstream",
            plugin.name
        );
    }

    // 4. example-kv upgraded and downgraded by hand, data and lease kept.
    let old = crate_version("plugins/example-kv");
    let new = next_patch(&old);
    let new_dir = build_with_version(&new);
    let kv = &PLUGINS[0];
    let (lease, secret) = (kv.lease)(&(kv.issue)(&fakes, &server, &consumer));
    switch_by_hand(&server, &new_dir.join("vault-plugin-example-kv"), &new);
    assert_example_kv_runs(&server, &new);
    (kv.check_kept)(&server);
    assert!(lease.renew(&server) > 0);
    assert!((kv.alive)(&fakes, &server, &secret));
    let old_binary = binaries.join("vault-plugin-example-kv");
    switch_by_hand(&server, &old_binary, &old);
    assert_example_kv_runs(&server, &old);
    (kv.check_kept)(&server);
    assert!(lease.renew(&server) > 0);

    // ... and by register.sh: the new build, registered, pinned, reloaded.
    let upgrade = register_sh(&server, &new_dir, &["example-kv"]);
    assert!(
        upgrade.contains(&format!("pinned example-kv/ to {new} (was {old})")),
        "{upgrade}"
    );
    assert!(
        upgrade.contains(&format!("reloaded example-kv/: now running {new}")),
        "{upgrade}"
    );
    assert_example_kv_runs(&server, &new);
    (kv.check_kept)(&server);
    assert!(lease.renew(&server) > 0);
    lease.revoke(&server);
    assert!(!(kv.alive)(&fakes, &server, &secret), "revoked upstream");

    // 5. A fatal startup error reaches the server log: bad plugin arguments.
    let loud = server.plugin_dir().join("kv-loud");
    fs::copy(&old_binary, &loud).unwrap();
    server.bao_ok(&[
        "plugin",
        "register",
        &format!("-sha256={}", sha256_file(&loud)),
        &format!("-version={old}"),
        "-args=--log-level=loud",
        "secret",
        "kv-loud",
    ]);
    let enable = server.bao(&["secrets", "enable", "kv-loud"]);
    assert!(
        !enable.status.success(),
        "a plugin with bad arguments started"
    );
    let log = server.log_contents();
    assert!(
        log.lines().any(|l| l.contains("[ERROR]")
            && l.contains("plugin arguments are invalid")
            && l.contains(r#"unknown log level \"loud\""#)),
        "the plugin's own error is not in the server log"
    );
}
