//! Every plugin in a three-node OpenBao HA cluster (raft, TLS), against
//! its fake upstream, in one scenario:
//!
//! - config written through a standby (forwarded to the active node) is
//!   read back by the plugin on every node, and a change is seen on every
//!   node (no stale cache);
//! - through each node in turn, credentials are issued, renewed and
//!   revoked: a standby's plugin serves the read, hits read-only storage at
//!   its WAL entry before any upstream call, and the host forwards the
//!   request to the active node, so each issue makes exactly one upstream
//!   credential and each revoke deletes it;
//! - the active node is killed with SIGKILL in the middle of a mint: its
//!   plugin processes exit with it, a new leader is elected, every lease
//!   issued before renews and revokes (the credential really deleted
//!   upstream), and the new active node alone rolls back the WAL entry of
//!   the killed mint and runs the periodic tidy;
//! - logins to both auth plugins through each node give tokens that renew
//!   through that node, and after the failover through the others;
//! - the killed node, started again, rejoins as a standby;
//! - no server log holds an error or a warning from our plugins.

use std::time::{Duration, Instant};

use integration_tests::cluster::{Cluster, NODES};
use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_iam::{FakeIam, Identity};
use integration_tests::fake_keys::FakeKeyService;
use integration_tests::fake_pachd::FakePachd;
use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::raft_node::RaftNode;
use integration_tests::{crate_version, plugin_binary, wait_for};
use serde_json::{Value, json};

/// Our secrets plugins: (catalog name, crate dir).
const PLUGINS: [(&str, &str); 4] = [
    ("secrets-balena", "plugins/secrets-balena"),
    ("example-kv", "plugins/example-kv"),
    ("secrets-proxmox", "plugins/secrets-proxmox"),
    ("secrets-pachyderm", "plugins/secrets-pachyderm"),
];
/// Our auth plugins: (catalog name, crate dir).
const AUTH_PLUGINS: [(&str, &str); 2] = [
    ("example-auth", "plugins/example-auth"),
    ("auth-ibmcloud", "plugins/auth-ibmcloud"),
];
const ROBOT: &str = "robot:ci";
const PASSWORD: &str = "pw-Numbat-2291";
const ACCOUNT: &str = "acct-4f2e";

/// A plugin's fake upstream, which can tell the credentials it holds.
enum Upstream {
    Balena(FakeBalena),
    Keys(FakeKeyService),
    Proxmox(FakeProxmox),
    Pachd(FakePachd),
}

/// One mounted plugin: its mount, how a credential is issued, its upstream.
struct Engine {
    mount: &'static str,
    issue: &'static [&'static str],
    upstream: Upstream,
}

fn text<'a>(creds: &'a Value, field: &str) -> &'a str {
    creds["data"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {creds}"))
}

fn lease(creds: &Value) -> &str {
    creds["lease_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no lease in {creds}"))
}

impl Engine {
    /// How many credentials the upstream holds.
    fn upstream_count(&self) -> usize {
        match &self.upstream {
            Upstream::Balena(fake) => fake.keys().len(),
            Upstream::Keys(fake) => fake.keys().len(),
            Upstream::Proxmox(fake) => fake.tokens().len(),
            Upstream::Pachd(fake) => fake.live_tokens_of(ROBOT),
        }
    }

    /// Whether the credential in `creds` works upstream.
    fn is_live(&self, creds: &Value) -> bool {
        match &self.upstream {
            Upstream::Balena(fake) => fake.authenticates(text(creds, "token")),
            Upstream::Keys(fake) => fake.authenticates(text(creds, "secret")),
            Upstream::Proxmox(fake) => {
                let (id, secret) = (text(creds, "token_id_full"), text(creds, "secret"));
                fake.status_as(id, secret, "GET", "/version") == 200
            }
            Upstream::Pachd(fake) => fake.subject_of(text(creds, "user_token")).is_some(),
        }
    }

    /// Issues a credential through `node`: exactly one more upstream, and
    /// it works.
    #[track_caller]
    fn issue(&self, node: &RaftNode) -> Value {
        let before = self.upstream_count();
        let creds = node.bao_json(self.issue);
        assert!(self.is_live(&creds), "{}: {creds}", self.mount);
        assert_eq!(
            self.upstream_count(),
            before + 1,
            "{}: one issue through {} makes exactly one upstream credential",
            self.mount,
            node.id()
        );
        creds
    }

    /// Renews the lease of `creds` through `node`.
    #[track_caller]
    fn renew(&self, node: &RaftNode, creds: &Value) {
        let renewed = node.bao_json(&["lease", "renew", lease(creds)]);
        assert!(
            renewed["lease_duration"].as_u64().is_some_and(|d| d > 0),
            "{}: renew through {}: {renewed}",
            self.mount,
            node.id()
        );
    }

    /// Revokes the lease of `creds` through `node`: the credential is gone
    /// upstream. (How many are left is counted at the end: a rollback may
    /// delete an orphan meanwhile.)
    #[track_caller]
    fn revoke(&self, node: &RaftNode, creds: &Value) {
        node.bao_ok(&["lease", "revoke", "-sync", lease(creds)]);
        assert!(
            !self.is_live(creds),
            "{}: revoked through {}",
            self.mount,
            node.id()
        );
    }
}

/// Mounts and configures every plugin: `configure` is a standby, so every
/// write is forwarded to the active node.
fn mount_all(cluster: &Cluster, configure: &RaftNode, dir: &std::path::Path) -> Vec<Engine> {
    let active = cluster.node(cluster.active());
    for (name, crate_dir) in PLUGINS {
        cluster.install_plugin(
            "secret",
            name,
            &plugin_binary(&format!("vault-plugin-{name}")),
            &crate_version(crate_dir),
            &["-args=--log-level=debug"],
        );
    }
    active.enable_secrets("secrets-balena", "balena");
    active.bao_ok(&[
        "secrets",
        "enable",
        "-path=ex",
        "-options=wal_rollback_min_age=1s",
        "example-kv",
    ]);
    active.enable_secrets("secrets-proxmox", "proxmox");
    active.enable_secrets("secrets-pachyderm", "pachyderm");

    let balena = FakeBalena::start().unwrap();
    balena.add_user("dev", "pw");
    let session = balena.session_token("dev", Duration::ZERO, Duration::from_secs(7 * 24 * 3600));
    configure.bao_ok(&["write", "balena/config", &format!("url={}", balena.url())]);
    configure.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={session}"),
        "ttl=5m",
        "max_ttl=1h",
    ]);

    let keys = FakeKeyService::start().unwrap();
    configure.bao_ok(&[
        "write",
        "ex/config",
        &format!("upstream_url={}", keys.url()),
    ]);
    configure.bao_ok(&["write", "ex/role/dev", "ttl=5m", "max_ttl=1h"]);

    let proxmox = FakeProxmox::start().unwrap();
    let root_secret = proxmox.add_token("root@pam", "vault", false);
    proxmox.add_user("alice@pve");
    proxmox.grant("/vms", "alice@pve", "PVEVMUser");
    let ca = proxmox.write_ca_file(dir);
    configure.write_ok(
        "proxmox/config",
        &proxmox.config_args("vault", &root_secret, Some(&ca)),
    );
    configure.bao_ok(&[
        "write",
        "proxmox/role/alice",
        "user=alice",
        "realm=pve",
        "ttl=5m",
    ]);

    let pachd = FakePachd::start().unwrap();
    let mut config = pachd.config_args();
    config.extend(["ttl=5m", "max_ttl=1h"].map(String::from));
    configure.write_ok("pachyderm/config", &config);

    vec![
        Engine {
            mount: "balena",
            issue: &["read", "balena/creds/developer"],
            upstream: Upstream::Balena(balena),
        },
        Engine {
            mount: "ex",
            issue: &["read", "ex/creds/dev"],
            upstream: Upstream::Keys(keys),
        },
        Engine {
            mount: "proxmox",
            issue: &["read", "proxmox/creds/alice"],
            upstream: Upstream::Proxmox(proxmox),
        },
        Engine {
            mount: "pachyderm",
            issue: &["write", "pachyderm/login", "username=robot:ci"],
            upstream: Upstream::Pachd(pachd),
        },
    ]
}

/// Mounts both auth plugins and configures them through `configure` (a
/// standby); returns the fake IAM and the login commands, one per plugin.
fn mount_auth(cluster: &Cluster, configure: &RaftNode) -> (FakeIam, Vec<Vec<String>>) {
    let active = cluster.node(cluster.active());
    for (name, crate_dir) in AUTH_PLUGINS {
        cluster.install_plugin(
            "auth",
            name,
            &plugin_binary(&format!("vault-plugin-{name}")),
            &crate_version(crate_dir),
            &["-args=--log-level=debug"],
        );
    }
    active.enable_auth("example-auth", "ex");
    active.enable_auth("auth-ibmcloud", "ibmcloud");
    configure.bao_ok(&[
        "write",
        "auth/ex/users/alice",
        &format!("password={PASSWORD}"),
        "token_policies=dev",
        "token_ttl=10m",
    ]);
    let iam = FakeIam::start_blocking().unwrap();
    let admin = Identity::service_id("vault-admin", ACCOUNT);
    iam.add_identity(&admin);
    let admin_key = iam.create_api_key(&admin);
    configure.write_ok(
        "auth/ibmcloud/config",
        &iam.config_args(&admin_key.value, ACCOUNT),
    );
    let app = Identity::service_id("app", ACCOUNT);
    iam.add_identity(&app);
    configure.bao_ok(&[
        "write",
        "auth/ibmcloud/role/dev",
        &format!("bound_subjects={}", app.sub),
        "token_policies=dev",
        "token_ttl=10m",
        "token_max_ttl=1h",
    ]);
    let logins = vec![
        vec![
            "write".to_owned(),
            "auth/ex/login".into(),
            "username=alice".into(),
            format!("password={PASSWORD}"),
        ],
        vec![
            "write".to_owned(),
            "auth/ibmcloud/login".into(),
            "role=dev".into(),
            format!("token={}", iam.access_token(&app)),
        ],
    ];
    (iam, logins)
}

/// Logs in through `node` with `login`: the client token.
#[track_caller]
fn log_in(node: &RaftNode, login: &[String]) -> String {
    let args: Vec<&str> = login.iter().map(String::as_str).collect();
    let answer = node.bao_json(&args);
    answer["auth"]["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no token from {}: {answer}", node.id(), login[1]))
        .to_owned()
}

/// Renews `token` through `node` (the auth plugin's renew runs on the
/// active node).
#[track_caller]
fn renew_token(node: &RaftNode, token: &str) {
    let renewed = node.bao_json(&["token", "renew", token]);
    assert!(
        renewed["auth"]["lease_duration"]
            .as_u64()
            .is_some_and(|d| d > 0),
        "{}: token renew: {renewed}",
        node.id()
    );
}

/// Waits until every running node's plugin reads `field` of `path` as
/// `want` (raft applies on followers a moment after the leader).
#[track_caller]
fn wait_until_every_node_reads(cluster: &Cluster, path: &str, field: &str, want: &str) {
    for node in cluster.nodes().iter().filter(|n| n.pid().is_some()) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let read = node.bao_json(&["read", path]);
            if read["data"][field] == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} reads {path} as {read}, not {field}={want}",
                node.id()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Lines of a server log that are an error or a warning about one of our
/// plugins (its own lines, and the host's about its mounts).
fn trouble(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            let ours = all_plugins().any(|name| line.contains(name));
            ours && (line.contains("[ERROR]") || line.contains("[WARN]"))
        })
        .collect()
}

/// What the SDK logs (debug) when a plugin's storage write fails as
/// read-only and the request goes back to the host to forward.
const PASSED_THROUGH: &str = "storage is read-only on this node; the host forwards the request";
/// What the SDK logs (debug) when the host ticks a mount with WAL
/// rollbacks on a standby.
const SKIPPED_ROLLBACK: &str =
    "storage is read-only on this node; WAL rollbacks run on the active node";
/// What secrets-balena's periodic function logs (debug) on a standby.
const SKIPPED_REFRESH: &str = "storage is read-only here; the active node refreshes sessions";
/// What the SDK logs when a WAL rollback is done.
const ROLLED_BACK: &str = "rolled back WAL entry";

/// Every plugin the scenario uses, secrets and auth.
fn all_plugins() -> impl Iterator<Item = &'static str> {
    PLUGINS.iter().chain(&AUTH_PLUGINS).map(|(name, _)| *name)
}

/// Config written through one node is what every node's plugin reads,
/// before and after a change made through another node.
fn config_reaches_every_node(cluster: &Cluster, balena: &FakeBalena, keys: &FakeKeyService) {
    wait_until_every_node_reads(cluster, "balena/config", "url", balena.url());
    wait_until_every_node_reads(cluster, "ex/config", "upstream_url", keys.url());
    let balena_url = balena.url_with_host("localhost");
    let keys_url = keys.url().replace("127.0.0.1", "localhost");
    let other = cluster.node(cluster.standbys()[1]);
    other.bao_ok(&["write", "balena/config", &format!("url={balena_url}")]);
    other.bao_ok(&["write", "ex/config", &format!("upstream_url={keys_url}")]);
    wait_until_every_node_reads(cluster, "balena/config", "url", &balena_url);
    wait_until_every_node_reads(cluster, "ex/config", "upstream_url", &keys_url);
}

/// Through each node in turn: issue, renew, revoke; then issue one more
/// credential and log in once more to keep across the loss of the active
/// node. Returns the kept credentials and tokens.
fn through_each_node<'e>(
    cluster: &Cluster,
    engines: &'e [Engine],
    logins: &[Vec<String>],
) -> (Vec<(&'e Engine, Value)>, Vec<String>) {
    let (mut kept, mut tokens) = (Vec::new(), Vec::new());
    for node in cluster.nodes() {
        for engine in engines {
            let before = engine.upstream_count();
            let creds = engine.issue(node);
            engine.renew(node, &creds);
            engine.revoke(node, &creds);
            assert_eq!(engine.upstream_count(), before, "{}", engine.mount);
            kept.push((engine, engine.issue(node)));
        }
        for login in logins {
            let token = log_in(node, login);
            renew_token(node, &token);
            tokens.push(token);
        }
    }
    // The standbys' plugins served the reads themselves, and passed the
    // read-only storage error of their WAL write through for the host to
    // forward (balena, ex and proxmox issue with a read; pachyderm's login
    // is a write, which the host forwards by itself).
    for &i in &cluster.standbys() {
        let node = cluster.node(i);
        let passed = node.log_contents().matches(PASSED_THROUGH).count();
        assert!(
            passed >= 3,
            "{}: {passed} read-only pass-throughs",
            node.id()
        );
    }
    (kept, tokens)
}

/// SIGKILLs the active node while it mints an example-kv key (created
/// upstream, its answer held back), after giving the tidy an entry to
/// drop. Its plugin processes exit with it; returns its index.
fn kill_the_active_node_mid_mint(cluster: &mut Cluster, keys: &FakeKeyService) -> usize {
    let old = cluster.active();
    let node = cluster.node(old);
    node.bao_ok(&["write", "ex/kv/short", "value=x", "ttl=1s"]);
    node.bao_ok(&["write", "ex/kv/long", "value=y", "ttl=1h"]);
    let before = keys.keys().len();
    keys.set_create_delay(Duration::from_secs(60));
    let mut mint = node.bao_spawn(&["read", "ex/creds/dev"]);
    wait_for(
        "the killed mint's key upstream",
        Duration::from_secs(20),
        || keys.keys().len() > before,
    );
    assert!(
        all_plugins().all(|name| !node.plugin_pids(name).is_empty()),
        "the active node runs every plugin"
    );
    cluster.kill(old);
    let _ = mint.wait();
    keys.set_create_delay(Duration::ZERO);
    let node = cluster.node(old);
    wait_for(
        "the killed node's plugins to exit",
        Duration::from_secs(5),
        || all_plugins().all(|name| node.plugin_pids(name).is_empty()),
    );
    old
}

/// After the failover: the new active node alone rolled the killed mint
/// back and ran the periodic tidy; the standby that stayed one was ticked
/// too (over a minute has passed) and left the work to the active node.
fn only_the_new_active_node_rolled_back(cluster: &Cluster, old: usize, new: usize) {
    wait_for(
        "the tidy of the expired entry",
        Duration::from_secs(90),
        || cluster.node(new).bao_json(&["list", "ex/kv"]) == json!(["long"]),
    );
    for (i, node) in cluster.nodes().iter().enumerate() {
        let rollbacks = node.log_contents().matches(ROLLED_BACK).count();
        let want = usize::from(i == new);
        assert_eq!(
            rollbacks,
            want,
            "{}: rollbacks (active: {})",
            node.id(),
            i == new
        );
    }
    let stayed = (0..NODES)
        .find(|i| ![old, new].contains(i))
        .map(|i| cluster.node(i))
        .unwrap();
    let log = stayed.log_contents();
    for skipped in [SKIPPED_ROLLBACK, SKIPPED_REFRESH] {
        assert!(log.contains(skipped), "{}: no {skipped:?}", stayed.id());
    }
}

#[test]
fn every_plugin_serves_through_each_node_and_survives_losing_the_active_node() {
    let started = Instant::now();
    let mut cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let configure = cluster.node(cluster.standbys()[0]);
    let engines = mount_all(&cluster, configure, dir.path());
    let (_iam, logins) = mount_auth(&cluster, configure);
    let (Upstream::Balena(balena), Upstream::Keys(keys)) =
        (&engines[0].upstream, &engines[1].upstream)
    else {
        unreachable!("mount_all returns balena, then example-kv");
    };

    config_reaches_every_node(&cluster, balena, keys);
    let (kept, tokens) = through_each_node(&cluster, &engines, &logins);
    let baseline: Vec<usize> = engines.iter().map(Engine::upstream_count).collect();
    eprintln!(
        "issued, renewed and revoked through every node after {:?}",
        started.elapsed()
    );

    let old = kill_the_active_node_mid_mint(&mut cluster, keys);
    let failover = Instant::now();
    let new = cluster.wait_for_new_leader(old);
    eprintln!(
        "new leader {} after {:?}",
        cluster.node(new).id(),
        failover.elapsed()
    );

    // Every lease and token from before renews and revokes, through the
    // new active node and the remaining standby in turn.
    let live: Vec<usize> = (0..NODES).filter(|&i| i != old).collect();
    for (n, (engine, creds)) in kept.iter().enumerate() {
        let node = cluster.node(live[n % live.len()]);
        engine.renew(node, creds);
        engine.revoke(node, creds);
    }
    for (n, token) in tokens.iter().enumerate() {
        let node = cluster.node(live[n % live.len()]);
        renew_token(node, token);
        node.bao_ok(&["token", "revoke", token]);
        assert!(!node.bao(&["token", "lookup", token]).status.success());
    }

    // The old node rejoins as a standby.
    cluster.restart(old);
    assert_eq!(cluster.active(), new, "the new leader stays active");

    // No credential left upstream: each kept one is revoked, and the
    // killed mint's key is rolled back (the host's rollback tick comes
    // about once a minute).
    wait_for(
        "the rollback of the killed mint's key",
        Duration::from_secs(150),
        || keys.keys().len() == baseline[1] - NODES,
    );
    for (engine, count) in engines.iter().zip(&baseline) {
        assert_eq!(
            engine.upstream_count(),
            count - NODES,
            "{}: every kept credential revoked, no orphan",
            engine.mount
        );
    }
    only_the_new_active_node_rolled_back(&cluster, old, new);

    // One (multiplexed) process per plugin on every node: none left over
    // from a node's standby phase, the killed mint or the restart.
    for node in cluster.nodes() {
        for name in all_plugins() {
            let pids = node.plugin_pids(name);
            assert_eq!(
                pids.len(),
                1,
                "{}: processes of {name}: {pids:?}",
                node.id()
            );
        }
    }
    for node in cluster.nodes() {
        let log = node.log_contents();
        let trouble = trouble(&log);
        assert!(
            trouble.is_empty(),
            "{}: trouble in the server log: {trouble:#?}",
            node.id()
        );
    }
    eprintln!("the scenario took {:?}", started.elapsed());
}
