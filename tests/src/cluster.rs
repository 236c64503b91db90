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
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::raft_node::{RaftNode, STEP_TIMEOUT};
use crate::test_ca::TestCa;
use crate::{free_port, signal_group};

/// Nodes in the cluster: the smallest that survives the loss of one.
pub const NODES: usize = 3;
/// How long autopilot must see a new server healthy before it makes it a
/// voter. Its default (10 s) only makes the test wait.
const STABILIZATION_TIME: &str = "2s";

/// A three-node raft cluster (see the module doc), stopped on drop. Its
/// nodes' CLI helpers use the root token.
pub struct Cluster {
    nodes: Vec<RaftNode>,
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
        // One leak registry for the cluster: a secret is a secret on every node.
        let leaks = std::sync::Arc::default();
        let mut nodes: Vec<RaftNode> = Vec::with_capacity(NODES);
        for i in 1..=NODES {
            let id = format!("node-{i}");
            let home = dir.path().join(&id);
            let mut node = RaftNode::new(&id, &home, &ca, &ca_cert, std::sync::Arc::clone(&leaks))?;
            // Each node binds its port and the next: no two may overlap.
            let mut port = free_port()?;
            while nodes.iter().any(|n| n.port().abs_diff(port) <= 1) {
                port = free_port()?;
            }
            node.set_port(port);
            nodes.push(node);
        }
        let leader_port = nodes[0].port();
        for (i, node) in nodes.iter().enumerate() {
            let join = (i > 0).then_some((leader_port, ca_cert.as_path()));
            node.write_config(join, "")?;
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
        self.unseal_key = first
            .wait_listening()
            .and_then(|()| first.initialize())
            .map_err(|e| first.with_log_tail(e))?;
        let token = first.token().to_owned();
        first
            .unseal(&self.unseal_key)
            .and_then(|()| first.wait_active())
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
            node.set_token(&token);
            node.unseal(&self.unseal_key)
                .map_err(|e| node.with_log_tail(e))?;
        }
        self.try_wait_for_voters(NODES)
    }

    /// The node with index `i` (0, 1 or 2).
    pub fn node(&self, i: usize) -> &RaftNode {
        &self.nodes[i]
    }

    /// Every node, in order.
    pub fn nodes(&self) -> &[RaftNode] {
        &self.nodes
    }

    /// Indices of the running nodes other than the active one.
    pub fn standbys(&self) -> Vec<usize> {
        let active = self.active();
        (0..self.nodes.len())
            .filter(|&i| i != active && self.nodes[i].is_running())
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
                node.id()
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
        let group = node
            .crash()
            .unwrap_or_else(|| panic!("{} is not running", node.id()));
        self.killed_groups.push(group);
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
        assert!(!node.is_running(), "{} is still running", node.id());
        let rejoined = node
            .spawn()
            .and_then(|()| node.wait_listening())
            .and_then(|()| node.unseal(&key))
            .and_then(|()| {
                node.wait_status("a standby", |s| {
                    // A standby's status has no `is_self` at all.
                    s["is_self"] != true
                        && s["leader_address"].as_str().is_some_and(|a| !a.is_empty())
                })
            })
            .map(drop)
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
                .filter(|n| n.is_running())
                .find_map(|n| n.openapi())
        };
        for node in &mut self.nodes {
            node.stop_group(libc::SIGKILL);
        }
        // Plugin processes that outlived a killed server (they should not)
        // are still in its process group.
        for &group in &self.killed_groups {
            signal_group(group, libc::SIGKILL);
        }
        // The logs if the test is panicking, else: no secret in any node's
        // log or in a response that did not deliver it.
        for node in &self.nodes {
            node.check_at_drop(openapi.clone());
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pids: Vec<Option<u32>> = self.nodes.iter().map(RaftNode::pid).collect();
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("pids", &pids)
            .finish()
    }
}
