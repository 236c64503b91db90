//! One OpenBao server process in production shape: raft integrated storage
//! and a TLS listener with a certificate from a test CA, in a directory of
//! its own. [`ProdServer`](crate::prod::ProdServer) runs one such node,
//! [`Cluster`](crate::cluster::Cluster) three; what a node does (its config,
//! starting it, polling `bao status`, `operator init`, unsealing, stopping
//! it) is written here once for both.
//!
//! The node's directory holds `server.hcl`, `server.log` (every start
//! appends to it, debug level), `raft/`, `plugins/` (the plugin directory),
//! the TLS key pair and, on the node that was initialized, `init.json`.

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::test_ca::TestCa;
use crate::{
    BaoClient, bao_binary, leak_check, read_log, report_log_if_panicking, spawn_server,
    stop_process_group, tail,
};

/// How long one step (a start until the listener answers, an unseal, a
/// join, an election) may take.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the server may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the server log in an error.
const LOG_TAIL_LINES: usize = 60;

/// One production-shape OpenBao server (see the module doc). The CLI
/// helpers come from [`BaoClient`], through `Deref`, pointed at this node
/// with the root token once the cluster is initialized.
pub struct RaftNode {
    id: String,
    /// The running server, `None` while it is stopped or killed.
    child: Option<Child>,
    port: u16,
    config_path: PathBuf,
    /// More config files, after `config_path` ([`add_config`](Self::add_config)).
    extra_configs: Vec<PathBuf>,
    log_path: PathBuf,
    client: BaoClient,
}

impl Deref for RaftNode {
    type Target = BaoClient;

    fn deref(&self) -> &BaoClient {
        &self.client
    }
}

impl RaftNode {
    /// Prepares node `id` in `home` (created if missing): its plugin and raft
    /// directories and a server certificate from `ca`, whose PEM is in
    /// `ca_cert`. `leak_check` is the leak registry of the node's client
    /// (nodes of one cluster share one). Nothing runs yet: the config is
    /// written by [`write_config`](Self::write_config).
    pub(crate) fn new(
        id: &str,
        home: &Path,
        ca: &TestCa,
        ca_cert: &Path,
        leak_check: Arc<Mutex<leak_check::Registered>>,
    ) -> Result<RaftNode> {
        let plugin_dir = home.join("plugins");
        fs::create_dir_all(&plugin_dir).context("creating the plugin directory")?;
        fs::create_dir(home.join("raft")).context("creating the raft directory")?;
        ca.write_server_cert(home, "server")?;
        Ok(RaftNode {
            id: id.to_owned(),
            child: None,
            port: 0,
            config_path: home.join("server.hcl"),
            extra_configs: Vec::new(),
            log_path: home.join(crate::SERVER_LOG),
            client: BaoClient {
                bin: bao_binary(),
                addr: String::new(),
                token: String::new(),
                ca_cert: Some(ca_cert.to_path_buf()),
                home: home.to_path_buf(),
                plugin_dir,
                leak_check,
            },
        })
    }

    /// The node's raft id (`node-1`, `node-2`, ...).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// TCP port of the node's API listener (127.0.0.1); the cluster port is
    /// the next one.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the running server, `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is running (not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The node's config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The node's server log: every start appends to it (debug level).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The node's server log so far, of every start (lossy UTF-8).
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }

    /// Where the output of `operator init -format=json` is kept, on the
    /// node that was initialized.
    pub fn init_file(&self) -> PathBuf {
        self.client.home.join("init.json")
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
        self.is_running() && self.status().is_some_and(|s| is_active(&s))
    }

    /// Makes `port` the node's API port (the cluster port is the next one),
    /// for the client and the next [`write_config`](Self::write_config).
    pub(crate) fn set_port(&mut self, port: u16) {
        self.port = port;
        self.client.addr = format!("https://127.0.0.1:{port}");
    }

    /// Makes `token` the client's token (the root token from `operator init`
    /// on another node).
    pub(crate) fn set_token(&mut self, token: &str) {
        token.clone_into(&mut self.client.token);
    }

    /// Adds a config file `<name>.hcl` with `hcl` to the node's config
    /// (e.g. declarative `plugin` blocks); it takes effect at the next start.
    pub(crate) fn add_config(&mut self, name: &str, hcl: &str) -> Result<()> {
        let path = self.client.home.join(format!("{name}.hcl"));
        fs::write(&path, hcl).with_context(|| format!("writing {}", path.display()))?;
        self.extra_configs.push(path);
        Ok(())
    }

    /// Writes the node's config: raft in its directory, the TLS listener on
    /// its port, the cluster port next to it, then `extra_hcl`. With `join`
    /// (the leader's API port and the CA that signed its certificate), the
    /// node joins that leader with `retry_join`.
    pub(crate) fn write_config(&self, join: Option<(u16, &Path)>, extra_hcl: &str) -> Result<()> {
        let home = &self.client.home;
        let (port, cluster_port) = (self.port, self.port + 1);
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
        let config = format!(
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
{extra_hcl}"#,
            id = self.id,
            plugins = self.client.plugin_dir.display(),
            raft = home.join("raft").display(),
            cert = home.join("server.pem").display(),
            key = home.join("server-key.pem").display(),
        );
        fs::write(&self.config_path, config)
            .with_context(|| format!("writing {}", self.config_path.display()))
    }

    /// Starts the server process in a process group of its own.
    pub(crate) fn spawn(&mut self) -> Result<()> {
        let configs: Vec<String> = std::iter::once(&self.config_path)
            .chain(&self.extra_configs)
            .map(|path| format!("-config={}", path.display()))
            .collect();
        let child = spawn_server(
            &self.client.bin,
            &configs,
            &self.client.home,
            &self.log_path,
        )?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `bao status` until `ready` accepts it, failing early if the
    /// server exits.
    pub(crate) fn wait_status(
        &mut self,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let child = self.child.as_mut().context("the node is not running")?;
            if let Some(status) = child.try_wait().context("polling the server process")? {
                bail!("{} exited while waiting until {what} ({status})", self.id);
            }
            let last = self.status();
            if let Some(status) = last.as_ref().filter(|s| ready(s)) {
                return Ok(status.clone());
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

    /// Waits until the listener answers (sealed or not).
    pub(crate) fn wait_listening(&mut self) -> Result<()> {
        self.wait_status("listening", |_| true).map(drop)
    }

    /// Waits until the node is unsealed and holds the HA lock (which it
    /// takes only after its read-only standby phase).
    pub(crate) fn wait_active(&mut self) -> Result<()> {
        self.wait_status("active", is_active).map(drop)
    }

    /// `operator init -key-shares=1 -key-threshold=1`: keeps its output in
    /// [`init_file`](Self::init_file), as operators keep it for an unseal
    /// script, makes the root token the client's and returns the unseal key.
    pub(crate) fn initialize(&mut self) -> Result<String> {
        let out = self.bao(&[
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
        fs::write(self.init_file(), &out.stdout).context("writing init.json")?;
        // `-format=json` writes unseal_keys_b64/unseal_keys_hex, never `keys`.
        let key = init["unseal_keys_b64"][0].as_str();
        let token = init["root_token"].as_str();
        let (Some(key), Some(token)) = (key, token) else {
            bail!("`operator init` printed no unseal key or root token: {init}");
        };
        self.set_token(token);
        Ok(key.to_owned())
    }

    /// Unseals the node with `key`, retrying while a joining node still
    /// waits for the leader's challenge (its `retry_join` loop runs every
    /// 2 s), and waits until it is unsealed.
    pub(crate) fn unseal(&mut self, key: &str) -> Result<()> {
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
            .map(drop)
    }

    /// Stops the server with SIGINT, as an operator's Ctrl-C or service
    /// manager does, and waits for it to exit; then kills whatever it left
    /// behind in its process group.
    pub(crate) fn interrupt(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.id);
        };
        // SAFETY: kill(2) on the server process this harness started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exited = loop {
            match child.try_wait() {
                Ok(Some(_)) => break true,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Ok(None) | Err(_) => break false,
            }
        };
        if !exited {
            stop_process_group(&mut child, libc::SIGKILL);
            bail!(
                "{} did not exit within {}s of SIGINT",
                self.id,
                STOP_TIMEOUT.as_secs()
            );
        }
        crate::signal_group(child.id() as libc::pid_t, libc::SIGKILL);
        Ok(())
    }

    /// SIGKILLs the server process only, as a crash does (its plugin
    /// processes must end by themselves); returns its process group, where
    /// they are, or `None` if the node was not running.
    pub(crate) fn crash(&mut self) -> Option<libc::pid_t> {
        let mut child = self.child.take()?;
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on a server process this harness started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = child.wait();
        Some(pid)
    }

    /// Sends `sig` to the server's process group, waits for the server to
    /// exit (killing the group if it takes too long); nothing if it is not
    /// running.
    pub(crate) fn stop_group(&mut self, sig: libc::c_int) {
        if let Some(mut child) = self.child.take() {
            stop_process_group(&mut child, sig);
        }
    }

    /// The end of a stopped node: its log if the test is panicking, else the
    /// leak check (see [`leak_check`]) with `openapi`, read while a server
    /// answered.
    pub(crate) fn check_at_drop(&self, openapi: Option<Value>) {
        report_log_if_panicking(&self.log_path, self.port);
        self.client.check_leaks_at_drop(openapi, self.port);
    }

    /// `err` with the node's id and the tail of its server log.
    pub(crate) fn with_log_tail(&self, err: anyhow::Error) -> anyhow::Error {
        err.context(format!(
            "{} server log tail:\n{}",
            self.id,
            tail(&self.log_contents(), LOG_TAIL_LINES)
        ))
    }
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .field("addr", &self.client.addr)
            .field("pid", &self.pid())
            .finish()
    }
}

/// Whether `status` (of `bao status`) is of an unsealed node holding the
/// HA lock.
fn is_active(status: &Value) -> bool {
    status["sealed"] == false && status["is_self"] == true
}
