//! A production-shape OpenBao server, as operators run one: raft storage,
//! a TLS listener with a certificate from a CA of the test's own,
//! `api_addr`/`cluster_addr`, a `plugin_directory`, `operator init` with one
//! key share, unseal after every start.
//!
//! Unlike the dev server, it can be stopped (SIGINT, as an operator's
//! Ctrl-C or service manager does) and started again on the same storage,
//! and it is HA-capable: at every unseal it first mounts everything on
//! read-only storage (its standby phase), then takes the active lock and
//! mounts again. `disable_mlock` is not in the config: OpenBao refuses it
//! as an unknown field (only Vault needs it).
//!
//! ```no_run
//! use integration_tests::prod::ProdServer;
//! use integration_tests::{crate_version, plugin_binary};
//!
//! let mut server = ProdServer::start();
//! server.install_plugin("secret", "example-kv", &plugin_binary("vault-plugin-example-kv"), &crate_version("plugins/example-kv"));
//! server.enable_secrets("example-kv", "kv");
//! server.bao_ok(&["write", "kv/kv/hello", "value=world"]);
//! server.stop();
//! server.start_again();
//! assert_eq!(server.bao_json(&["read", "kv/kv/hello"])["data"]["value"], "world");
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
    BaoClient, START_ATTEMPTS, bao_binary, clean_env, free_port, read_log, report_log_if_panicking,
    signal_group, stop_process_group, tail,
};

/// How long a start may take until the listener answers, and an unseal
/// until the node is active.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A production-shape OpenBao server (see the module doc), stopped on drop.
/// The CLI and catalog helpers come from [`BaoClient`], through `Deref`,
/// with the root token from `operator init` and the test CA.
pub struct ProdServer {
    /// The running server, `None` after [`stop`](Self::stop).
    child: Option<Child>,
    port: u16,
    config_path: PathBuf,
    /// More config files, after `config_path` ([`add_config`](Self::add_config)).
    extra_configs: Vec<PathBuf>,
    log_path: PathBuf,
    unseal_key: String,
    client: BaoClient,
    // Declared last: removed only after `Drop::drop` stopped the processes.
    dir: tempfile::TempDir,
}

impl Deref for ProdServer {
    type Target = BaoClient;

    fn deref(&self) -> &BaoClient {
        &self.client
    }
}

impl ProdServer {
    /// Writes the config and certificates, starts the server, initializes
    /// it with one key share, unseals it and waits until it is active.
    ///
    /// # Panics
    /// If any step fails (the message includes the server log's tail).
    #[track_caller]
    pub fn start() -> ProdServer {
        match Self::try_start() {
            Ok(server) => server,
            Err(e) => panic!("cannot start a production-shape OpenBao: {e:#}"),
        }
    }

    /// Like [`start`](Self::start), but returns an error instead of panicking.
    pub fn try_start() -> Result<ProdServer> {
        let dir = tempfile::Builder::new()
            .prefix("bao-prod-")
            .tempdir()
            .context("creating temp dir for the server")?;
        let plugin_dir = dir.path().join("plugins");
        fs::create_dir(&plugin_dir).context("creating the plugin directory")?;
        fs::create_dir(dir.path().join("raft")).context("creating the raft directory")?;
        let ca = TestCa::new()?;
        let ca_cert = dir.path().join("ca.pem");
        ca.write_ca_cert(&ca_cert)?;
        ca.write_server_cert(dir.path(), "server")?;
        let mut server = ProdServer {
            child: None,
            port: 0,
            config_path: dir.path().join("server.hcl"),
            extra_configs: Vec::new(),
            log_path: dir.path().join(crate::SERVER_LOG),
            unseal_key: String::new(),
            client: BaoClient {
                bin: bao_binary(),
                addr: String::new(),
                token: String::new(),
                ca_cert: Some(ca_cert),
                home: dir.path().to_path_buf(),
                plugin_dir,
                leak_check: Default::default(),
            },
            dir,
        };
        server.first_start()?;
        server.initialize()?;
        server.try_unseal()?;
        Ok(server)
    }

    /// Picks ports, writes the config and starts the server until its
    /// listener answers (again with new ports if someone took them).
    fn first_start(&mut self) -> Result<()> {
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            self.port = free_port()?;
            self.client.addr = format!("https://127.0.0.1:{}", self.port);
            fs::write(&self.config_path, self.config())
                .with_context(|| format!("writing {}", self.config_path.display()))?;
            let start = read_log(&self.log_path).len();
            match self.spawn().and_then(|()| self.wait_listening()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.kill();
                    let log = read_log(&self.log_path);
                    let port_clash = log
                        .get(start..)
                        .is_some_and(|l| l.contains("address already in use"));
                    let err = e.context(format!(
                        "attempt {attempt}: server log tail:\n{}",
                        tail(&log, 60)
                    ));
                    if !port_clash {
                        return Err(err);
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no start attempts made")))
    }

    /// Where the output of `operator init -format=json` is kept.
    pub fn init_file(&self) -> PathBuf {
        self.dir.path().join("init.json")
    }

    /// Adds a config file `<name>.hcl` with `hcl` to the server's config
    /// (e.g. declarative `plugin` blocks); it takes effect at the next
    /// [`start_again`](Self::start_again).
    pub fn add_config(&mut self, name: &str, hcl: &str) {
        let path = self.dir.path().join(format!("{name}.hcl"));
        fs::write(&path, hcl).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self.extra_configs.push(path);
    }

    /// The server's config: raft in the temp dir, TLS listener, cluster
    /// port next to the API port.
    fn config(&self) -> String {
        let dir = self.dir.path();
        let (port, cluster_port) = (self.port, self.port + 1);
        format!(
            r#"api_addr = "https://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
plugin_directory = "{plugins}"

storage "raft" {{
  path = "{raft}"
  node_id = "node-1"
  # The production setting; the default (5) makes elections slow.
  performance_multiplier = 1
}}

listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
  tls_disable_client_certs = true
}}
{audit}"#,
            plugins = self.client.plugin_dir.display(),
            raft = dir.join("raft").display(),
            cert = dir.join("server.pem").display(),
            key = dir.join("server-key.pem").display(),
            audit = crate::leak_check::audit_config(dir),
        )
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
            .args(
                self.extra_configs
                    .iter()
                    .map(|path| format!("-config={}", path.display())),
            )
            .arg("-log-level=debug");
        clean_env(&mut cmd, self.dir.path());
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: the last resort reaches plugin processes too.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.client.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// `bao status` as JSON, or `None` while the server does not answer.
    fn status(&self) -> Option<Value> {
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

    /// Polls `bao status` until `ready` accepts it, failing early if the
    /// server exits.
    fn wait_status(&mut self, what: &str, ready: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().context("the server is not running")?;
            if let Some(status) = child.try_wait().context("polling the server process")? {
                bail!("the server exited while waiting until {what} ({status})");
            }
            let last = self.status();
            if let Some(status) = last.as_ref().filter(|s| ready(s)) {
                return Ok(status.clone());
            }
            if Instant::now() >= deadline {
                bail!(
                    "not {what} after {}s (last status: {last:?})",
                    READY_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_listening(&mut self) -> Result<()> {
        self.wait_status("listening", |_| true).map(drop)
    }

    /// `operator init -key-shares=1 -key-threshold=1`: keeps the unseal key
    /// and makes the root token the client's.
    fn initialize(&mut self) -> Result<()> {
        let args = [
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ];
        let out = self.bao(&args);
        if !out.status.success() {
            bail!(
                "`bao operator init` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let init: Value =
            serde_json::from_slice(&out.stdout).context("`operator init` printed no JSON")?;
        // Kept as operators keep it, for an unseal script (`init_file`).
        fs::write(self.init_file(), &out.stdout).context("writing init.json")?;
        // `-format=json` writes unseal_keys_b64/unseal_keys_hex, never `keys`.
        let key = init["unseal_keys_b64"][0].as_str();
        let token = init["root_token"].as_str();
        let (Some(key), Some(token)) = (key, token) else {
            bail!("`operator init` printed no unseal key or root token: {init}");
        };
        self.unseal_key = key.to_owned();
        self.client.token = token.to_owned();
        Ok(())
    }

    fn try_unseal(&mut self) -> Result<()> {
        let out = self.bao(&["operator", "unseal", &self.unseal_key]);
        if !out.status.success() {
            bail!(
                "`bao operator unseal` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Active: unsealed, and this node holds the HA lock (which it takes
        // only after its read-only phase; every mount is then set up anew).
        self.wait_status("active", |s| s["sealed"] == false && s["is_self"] == true)
            .map(drop)
    }

    /// Unseals the server with its key and waits until it is the active node.
    ///
    /// # Panics
    /// If unsealing fails or the node does not become active within a minute.
    #[track_caller]
    pub fn unseal(&mut self) {
        if let Err(e) = self.try_unseal() {
            panic!(
                "{e:#}\nserver log tail:\n{}",
                tail(&self.log_contents(), 60)
            );
        }
    }

    /// Stops the server with SIGINT, as an operator does, and waits for it
    /// to exit; then kills whatever it left behind in its process group.
    ///
    /// # Panics
    /// If the server is not running or does not exit within 30 s.
    #[track_caller]
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("the server is not running");
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
            panic!(
                "the server did not exit within {}s of SIGINT",
                STOP_TIMEOUT.as_secs()
            );
        }
        signal_group(child.id() as libc::pid_t, libc::SIGKILL);
    }

    /// Starts the stopped server again on the same storage and config,
    /// unseals it and waits until it is active.
    ///
    /// # Panics
    /// If the server is running, or any step fails.
    #[track_caller]
    pub fn start_again(&mut self) {
        self.start_sealed();
        self.unseal();
    }

    /// Starts the server again after [`stop`](Self::stop) and returns once it
    /// listens, still sealed: for an unseal by other means (an operator's
    /// script), followed by [`wait_active`](Self::wait_active).
    ///
    /// # Panics
    /// If the server is running or does not listen within a minute.
    #[track_caller]
    pub fn start_sealed(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        let started = self.spawn().and_then(|()| self.wait_listening());
        if let Err(e) = started {
            panic!(
                "{e:#}\nserver log tail:\n{}",
                tail(&self.log_contents(), 60)
            );
        }
    }

    /// Waits until the server is unsealed and the active node.
    ///
    /// # Panics
    /// If it is not within a minute (the message has the log's tail).
    #[track_caller]
    pub fn wait_active(&mut self) {
        let active = self.wait_status("active", |s| s["sealed"] == false && s["is_self"] == true);
        if let Err(e) = active {
            panic!(
                "{e:#}\nserver log tail:\n{}",
                tail(&self.log_contents(), 60)
            );
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_process_group(&mut child, libc::SIGKILL);
        }
    }

    /// The root token from `operator init` (the client's token).
    pub fn root_token(&self) -> &str {
        self.client.token()
    }

    /// The unseal key from `operator init`.
    pub fn unseal_key(&self) -> &str {
        &self.unseal_key
    }

    /// TCP port of the API listener (127.0.0.1); the cluster port is the next one.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The server's log file: every start appends to it (debug level).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far, of every start (lossy UTF-8).
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }
}

impl Drop for ProdServer {
    fn drop(&mut self) {
        let running = self.child.is_some() && !std::thread::panicking();
        let openapi = running.then(|| self.openapi()).flatten();
        if let Some(mut child) = self.child.take() {
            stop_process_group(&mut child, libc::SIGTERM);
        }
        report_log_if_panicking(&self.log_path, self.port);
        self.client.check_leaks_at_drop(openapi, self.port);
    }
}

impl std::fmt::Debug for ProdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProdServer")
            .field("addr", &self.client.addr)
            .field("pid", &self.pid())
            .field("dir", &self.dir.path())
            .finish()
    }
}
