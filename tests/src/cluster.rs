//! A three-node OpenBao HA cluster on loopback, as operators run one when
//! they outgrow a single server: raft integrated storage, a TLS listener
//! on each node with a certificate from one test CA, the first node
//! initialized and the others joining it with `retry_join`, every node
//! unsealed, and autopilot settled so that all three are voters.
//!
//! Standbys serve reads with their own plugin processes (OpenBao's default
//! `disable_standby_reads = false`) and forward writes to the active node.
//! A node can be killed with SIGKILL (a crash: the server cannot stop its
//! plugins, they must notice by themselves) and started again, rejoining
//! as a standby.
//!
//! Every node has its own plugin directory; [`Cluster::install_plugin`]
//! copies a binary into each (same sha) and registers it once, through the
//! active node: the catalog is replicated.
//!
//! ```no_run
//! use integration_tests::cluster::Cluster;
//! use integration_tests::{crate_version, plugin_binary};
//!
//! let mut cluster = Cluster::start();
//! cluster.install_plugin("secret", "example-kv", &plugin_binary("vault-plugin-example-kv"), &crate_version("plugins/example-kv"), &[]);
//! let active = cluster.active();
//! cluster.node(active).enable_secrets("example-kv", "kv");
//! cluster.kill(active);
//! let leader = cluster.wait_for_new_leader(active);
//! cluster.restart(active);
//! ```

use std::fs;
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::test_ca::TestCa;
use crate::{
    BaoClient, bao_binary, clean_env, free_port, read_log, report_log_if_panicking, signal_group,
    tail,
};

/// Nodes in the cluster: the smallest that survives the loss of one.
pub const NODES: usize = 3;
/// How long one step (a start, an unseal, a join, an election) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long autopilot must see a new server healthy before it makes it a
/// voter. Its default (10 s) only makes the test wait.
const STABILIZATION_TIME: &str = "2s";

/// One node of a [`Cluster`]. The CLI helpers come from [`BaoClient`],
/// through `Deref`, pointed at this node with the root token.
pub struct Node {
    id: String,
    /// The running server, `None` after [`Cluster::kill`].
    child: Option<Child>,
    port: u16,
    config_path: PathBuf,
    log_path: PathBuf,
    client: BaoClient,
}

impl Deref for Node {
    type Target = BaoClient;

    fn deref(&self) -> &BaoClient {
        &self.client
    }
}

impl Node {
    /// The node's raft id (`node-1`, `node-2`, ...).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// TCP port of the node's API listener (127.0.0.1); the cluster port is
    /// the next one.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the running server, `None` while it is killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node's server log so far, of every start (debug level).
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }

    /// `bao status` as JSON, or `None` while the node does not answer.
    pub fn status(&self) -> Option<Value> {
        let out = self.bao_with_env(
            &["status"],
            &[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "json")],
        );
        // 0: unsealed, 2: sealed, 1: no answer.
        if !matches!(out.status.code(), Some(0 | 2)) {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Whether the node is running, unsealed and holds the HA lock.
    pub fn is_active(&self) -> bool {
        self.child.is_some()
            && self
                .status()
                .is_some_and(|s| s["sealed"] == false && s["is_self"] == true)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .context("opening the server log")?;
        let log_err = log.try_clone().context("cloning the server log handle")?;
        let mut cmd = Command::new(&self.client.bin);
        cmd.arg("server")
            .arg(format!("-config={}", self.config_path.display()))
            .arg("-log-level=debug");
        clean_env(&mut cmd, &self.client.home);
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: the harness's last resort reaches plugins too.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.client.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `bao status` until `ready` accepts it, failing early if the
    /// server exits.
    fn wait_status(&mut self, what: &str, ready: impl Fn(&Value) -> bool) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let child = self.child.as_mut().context("the node is not running")?;
            if let Some(status) = child.try_wait().context("polling the server process")? {
                bail!("{} exited while waiting until {what} ({status})", self.id);
            }
            let last = self.status();
            if last.as_ref().is_some_and(&ready) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not {what} after {STEP_TIMEOUT:?} (last status: {last:?})",
                    self.id
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Unseals the node, retrying while a joining node still waits for the
    /// leader's challenge (its `retry_join` loop runs every 2 s), and waits
    /// until it is unsealed.
    fn unseal(&mut self, key: &str) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let out = self.bao(&["operator", "unseal", key]);
            if out.status.success() {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "`bao operator unseal` on {} kept failing: {}",
                    self.id,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            thread::sleep(Duration::from_secs(1));
        }
        self.wait_status("unsealed", |s| s["sealed"] == false)
    }

    fn with_log_tail(&self, err: anyhow::Error) -> anyhow::Error {
        err.context(format!(
            "{} server log tail:\n{}",
            self.id,
            tail(&self.log_contents(), 60)
        ))
    }
}

/// A three-node raft cluster (see the module doc), stopped on drop.
pub struct Cluster {
    nodes: Vec<Node>,
    unseal_key: String,
    ca_cert: PathBuf,
    /// Process groups of killed servers: what their plugins may have left.
    killed_groups: Vec<libc::pid_t>,
    // Declared last: removed only after `Drop::drop` stopped the processes.
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts three nodes, initializes the first, joins the others to it,
    /// unseals all and waits until autopilot counts three healthy voters.
    ///
    /// # Panics
    /// If any step fails (the message includes the relevant server log).
    #[track_caller]
    pub fn start() -> Cluster {
        match Self::try_start() {
            Ok(cluster) => cluster,
            Err(e) => panic!("cannot start a three-node OpenBao cluster: {e:#}"),
        }
    }

    /// Like [`start`](Self::start), but returns an error instead of panicking.
    pub fn try_start() -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("bao-cluster-")
            .tempdir()
            .context("creating temp dir for the cluster")?;
        let ca = TestCa::new()?;
        let ca_cert = dir.path().join("ca.pem");
        ca.write_ca_cert(&ca_cert)?;
        let bin = bao_binary();
        let leaks = std::sync::Arc::default();
        let mut nodes: Vec<Node> = Vec::with_capacity(NODES);
        for i in 1..=NODES {
            let home = dir.path().join(format!("node-{i}"));
            let plugin_dir = home.join("plugins");
            fs::create_dir_all(&plugin_dir).context("creating a plugin directory")?;
            fs::create_dir(home.join("raft")).context("creating a raft directory")?;
            ca.write_server_cert(&home, "server")?;
            // Each node binds its port and the next: no two may overlap.
            let mut port = free_port()?;
            while nodes.iter().any(|n| n.port.abs_diff(port) <= 1) {
                port = free_port()?;
            }
            nodes.push(Node {
                id: format!("node-{i}"),
                child: None,
                port,
                config_path: home.join("server.hcl"),
                log_path: home.join("server.log"),
                client: BaoClient {
                    bin: bin.clone(),
                    addr: format!("https://127.0.0.1:{port}"),
                    token: String::new(),
                    ca_cert: Some(ca_cert.clone()),
                    home,
                    plugin_dir,
                    // One leak registry for the cluster: a secret is a secret on every node.
                    leak_check: std::sync::Arc::clone(&leaks),
                },
            });
        }
        let leader_port = nodes[0].port;
        for (i, node) in nodes.iter().enumerate() {
            let join = (i > 0).then_some((leader_port, ca_cert.as_path()));
            fs::write(&node.config_path, config(node, join))
                .with_context(|| format!("writing {}", node.config_path.display()))?;
        }
        let mut cluster = Cluster {
            nodes,
            unseal_key: String::new(),
            ca_cert,
            killed_groups: Vec::new(),
            dir,
        };
        cluster.form()?;
        Ok(cluster)
    }

    /// Starts every node, initializes and unseals the first, then unseals
    /// the others as they join, and waits for three voters.
    fn form(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.spawn()?;
        }
        let first = &mut self.nodes[0];
        first
            .wait_status("listening", |_| true)
            .map_err(|e| first.with_log_tail(e))?;
        let (key, token) = initialize(first).map_err(|e| first.with_log_tail(e))?;
        self.unseal_key = key;
        for node in &mut self.nodes {
            node.client.token.clone_from(&token);
        }
        let first = &mut self.nodes[0];
        first
            .unseal(&self.unseal_key)
            .and_then(|()| first.wait_status("active", |s| s["is_self"] == true))
            .map_err(|e| first.with_log_tail(e))?;
        first
            .bao(&[
                "operator",
                "raft",
                "autopilot",
                "set-config",
                &format!("-server-stabilization-time={STABILIZATION_TIME}"),
            ])
            .status
            .success()
            .then_some(())
            .ok_or_else(|| anyhow!("cannot shorten autopilot's server stabilization time"))?;
        for node in &mut self.nodes[1..] {
            node.unseal(&self.unseal_key)
                .map_err(|e| node.with_log_tail(e))?;
        }
        self.try_wait_for_voters(NODES)
    }

    /// The node with index `i` (0, 1 or 2).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Every node, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Indices of the running nodes other than the active one.
    pub fn standbys(&self) -> Vec<usize> {
        let active = self.active();
        (0..self.nodes.len())
            .filter(|&i| i != active && self.nodes[i].child.is_some())
            .collect()
    }

    /// The index of the active node.
    ///
    /// # Panics
    /// If no running node is active.
    #[track_caller]
    pub fn active(&self) -> usize {
        (0..self.nodes.len())
            .find(|&i| self.nodes[i].is_active())
            .unwrap_or_else(|| panic!("no node is active"))
    }

    /// The root token from `operator init`.
    pub fn root_token(&self) -> &str {
        self.nodes[0].token()
    }

    /// The PEM file of the test CA every node's certificate comes from.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// Copies `binary` into every node's plugin directory as `name` and
    /// registers it once, through the active node, with
    /// `register_args` (e.g. `-args=--log-level=debug`). Returns its sha256.
    ///
    /// # Panics
    /// If a copy or the registration fails, or a node's catalog does not
    /// show the plugin with that sha256.
    #[track_caller]
    pub fn install_plugin(
        &self,
        kind: &str,
        name: &str,
        binary: &Path,
        version: &str,
        register_args: &[&str],
    ) -> String {
        let active = self.active();
        for (i, node) in self.nodes.iter().enumerate() {
            if i != active {
                let dest = node.plugin_dir().join(name);
                fs::copy(binary, &dest).unwrap_or_else(|e| {
                    panic!(
                        "cannot copy {} to {}: {e}",
                        binary.display(),
                        dest.display()
                    )
                });
            }
        }
        let sha =
            self.nodes[active].install_plugin_with(kind, name, binary, version, register_args);
        for node in &self.nodes {
            assert_eq!(
                crate::sha256_file(&node.plugin_dir().join(name)),
                sha,
                "{name} differs on {}",
                node.id
            );
        }
        sha
    }

    /// SIGKILLs node `i`'s server process, as a crash does: only the
    /// server, not its plugin processes (they must end by themselves).
    ///
    /// # Panics
    /// If the node is not running.
    #[track_caller]
    pub fn kill(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let mut child = node
            .child
            .take()
            .unwrap_or_else(|| panic!("{} is not running", node.id));
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on a server process this harness started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = child.wait();
        self.killed_groups.push(pid);
    }

    /// Waits until a node other than `old` is active and returns its index.
    ///
    /// # Panics
    /// If no other node becomes active within 90 s.
    #[track_caller]
    pub fn wait_for_new_leader(&self, old: usize) -> usize {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(i) = (0..self.nodes.len()).find(|&i| i != old && self.nodes[i].is_active())
            {
                return i;
            }
            assert!(
                Instant::now() < deadline,
                "no new active node after {STEP_TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts killed node `i` again on its storage, unseals it and waits
    /// until it is a standby of the active node again and autopilot counts
    /// three healthy voters.
    ///
    /// # Panics
    /// If the node is running, or any step fails.
    #[track_caller]
    pub fn restart(&mut self, i: usize) {
        let key = self.unseal_key.clone();
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} is still running", node.id);
        let rejoined = node
            .spawn()
            .and_then(|()| node.wait_status("listening", |_| true))
            .and_then(|()| node.unseal(&key))
            .and_then(|()| {
                node.wait_status("a standby", |s| {
                    // A standby's status has no `is_self` at all.
                    s["is_self"] != true
                        && s["leader_address"].as_str().is_some_and(|a| !a.is_empty())
                })
            })
            .map_err(|e| node.with_log_tail(e));
        if let Err(e) = rejoined.and_then(|()| self.try_wait_for_voters(NODES)) {
            panic!("cannot restart node {}: {e:#}", i + 1);
        }
    }

    /// Waits until autopilot, asked on the active node, is healthy with
    /// `count` voters.
    ///
    /// # Panics
    /// If that does not happen within 90 s.
    #[track_caller]
    pub fn wait_for_voters(&self, count: usize) {
        if let Err(e) = self.try_wait_for_voters(count) {
            panic!("{e:#}");
        }
    }

    fn try_wait_for_voters(&self, count: usize) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut last = Value::Null;
        loop {
            if let Some(node) = self.nodes.iter().find(|n| n.is_active()) {
                let out = node.bao_with_env(
                    &["operator", "raft", "autopilot", "state"],
                    &[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "json")],
                );
                if out.status.success() {
                    last = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                    // The CLI prints the state with Go's field names.
                    let voters = last["Voters"].as_array().map_or(0, Vec::len);
                    if last["Healthy"] == true && voters == count {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "autopilot not healthy with {count} voters after {STEP_TIMEOUT:?}; last state: {last}"
                );
            }
            thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Cluster {
    /// Kills every node and what it left behind at once: the cluster is
    /// thrown away, so there is nothing to stop gracefully (SIGTERM would
    /// wait for each node to step down and seal, seconds each).
    fn drop(&mut self) {
        // The plugins' OpenAPI, for the leak check below, while a node answers.
        let openapi = if thread::panicking() {
            None
        } else {
            self.nodes
                .iter()
                .filter(|n| n.child.is_some())
                .find_map(|n| n.client.openapi())
        };
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                signal_group(child.id() as libc::pid_t, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        // Plugin processes that outlived a killed server (they should not)
        // are still in its process group.
        for &group in &self.killed_groups {
            signal_group(group, libc::SIGKILL);
        }
        for node in &self.nodes {
            report_log_if_panicking(&node.log_path, node.port);
        }
        // No secret in any node's log or in a response that did not deliver it.
        for node in &self.nodes {
            node.client.check_leaks_at_drop(openapi.clone(), node.port);
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pids: Vec<Option<u32>> = self.nodes.iter().map(Node::pid).collect();
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("pids", &pids)
            .finish()
    }
}

/// A node's config: raft in its directory, TLS listener, cluster port next
/// to the API port; a node other than the first joins the first with
/// `retry_join` (the leader's API port and the CA that signed its
/// certificate).
fn config(node: &Node, join: Option<(u16, &Path)>) -> String {
    let home = &node.client.home;
    let (port, cluster_port) = (node.port, node.port + 1);
    let retry_join = join
        .map(|(leader, ca)| {
            format!(
                r#"
  retry_join {{
    leader_api_addr = "https://127.0.0.1:{leader}"
    leader_ca_cert_file = "{ca}"
  }}"#,
                ca = ca.display()
            )
        })
        .unwrap_or_default();
    format!(
        r#"api_addr = "https://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
plugin_directory = "{plugins}"

storage "raft" {{
  path = "{raft}"
  node_id = "{id}"
  # The production setting; the default (5) makes elections slow.
  performance_multiplier = 1{retry_join}
}}

listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
  tls_disable_client_certs = true
}}
"#,
        id = node.id,
        plugins = node.client.plugin_dir.display(),
        raft = home.join("raft").display(),
        cert = home.join("server.pem").display(),
        key = home.join("server-key.pem").display(),
    )
}

/// `operator init -key-shares=1 -key-threshold=1` on `node`: the unseal
/// key and the root token.
fn initialize(node: &Node) -> Result<(String, String)> {
    let out = node.bao(&[
        "operator",
        "init",
        "-key-shares=1",
        "-key-threshold=1",
        "-format=json",
    ]);
    if !out.status.success() {
        bail!(
            "`bao operator init` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let init: Value =
        serde_json::from_slice(&out.stdout).context("`operator init` printed no JSON")?;
    match (
        init["unseal_keys_b64"][0].as_str(),
        init["root_token"].as_str(),
    ) {
        (Some(key), Some(token)) => Ok((key.to_owned(), token.to_owned())),
        _ => bail!("`operator init` printed no unseal key or root token: {init}"),
    }
}
