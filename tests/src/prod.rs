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

use std::ops::Deref;

use anyhow::{Context, Result, anyhow};

use crate::raft_node::RaftNode;
use crate::test_ca::TestCa;
use crate::{START_ATTEMPTS, free_port};

/// A production-shape OpenBao server (see the module doc), stopped on drop.
/// Its port, pid, config and log come from its [`RaftNode`], the CLI and
/// catalog helpers from the node's [`BaoClient`](crate::BaoClient), through
/// `Deref`, with the root token from `operator init` and the test CA.
pub struct ProdServer {
    node: RaftNode,
    unseal_key: String,
    // Declared last: removed only after `Drop::drop` stopped the processes.
    dir: tempfile::TempDir,
}

impl Deref for ProdServer {
    type Target = RaftNode;

    fn deref(&self) -> &RaftNode {
        &self.node
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
        let ca = TestCa::new()?;
        let ca_cert = dir.path().join("ca.pem");
        ca.write_ca_cert(&ca_cert)?;
        let node = RaftNode::new("node-1", dir.path(), &ca, &ca_cert, Default::default())?;
        let mut server = ProdServer {
            node,
            unseal_key: String::new(),
            dir,
        };
        server.first_start()?;
        let node = &mut server.node;
        server.unseal_key = node.initialize().map_err(|e| node.with_log_tail(e))?;
        server.try_unseal()?;
        Ok(server)
    }

    /// Picks ports, writes the config and starts the server until its
    /// listener answers (again with new ports if someone took them).
    fn first_start(&mut self) -> Result<()> {
        let audit = crate::leak_check::audit_config(self.dir.path());
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            self.node.set_port(free_port()?);
            self.node.write_config(None, &audit)?;
            let start = self.log_contents().len();
            match self.node.spawn().and_then(|()| self.node.wait_listening()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.node.stop_group(libc::SIGKILL);
                    let port_clash = self
                        .log_contents()
                        .get(start..)
                        .is_some_and(|l| l.contains("address already in use"));
                    let err = self
                        .node
                        .with_log_tail(e.context(format!("attempt {attempt}")));
                    if !port_clash {
                        return Err(err);
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no start attempts made")))
    }

    /// Adds a config file `<name>.hcl` with `hcl` to the server's config
    /// (e.g. declarative `plugin` blocks); it takes effect at the next
    /// [`start_again`](Self::start_again).
    ///
    /// # Panics
    /// If the file cannot be written.
    #[track_caller]
    pub fn add_config(&mut self, name: &str, hcl: &str) {
        if let Err(e) = self.node.add_config(name, hcl) {
            panic!("{e:#}");
        }
    }

    /// Unseals with the key from `operator init` and waits until active.
    fn try_unseal(&mut self) -> Result<()> {
        let node = &mut self.node;
        node.unseal(&self.unseal_key)
            .and_then(|()| node.wait_active())
            .map_err(|e| node.with_log_tail(e))
    }

    /// Unseals the server with its key and waits until it is the active node.
    ///
    /// # Panics
    /// If unsealing fails or the node does not become active within 90 s.
    #[track_caller]
    pub fn unseal(&mut self) {
        if let Err(e) = self.try_unseal() {
            panic!("{e:#}");
        }
    }

    /// Stops the server with SIGINT, as an operator does, and waits for it
    /// to exit; then kills whatever it left behind in its process group.
    ///
    /// # Panics
    /// If the server is not running or does not exit within 30 s.
    #[track_caller]
    pub fn stop(&mut self) {
        if let Err(e) = self.node.interrupt() {
            panic!("{e:#}");
        }
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
    /// If the server is running or does not listen within 90 s.
    #[track_caller]
    pub fn start_sealed(&mut self) {
        let node = &mut self.node;
        assert!(!node.is_running(), "the server is still running");
        let started = node.spawn().and_then(|()| node.wait_listening());
        if let Err(e) = started {
            panic!("{:#}", node.with_log_tail(e));
        }
    }

    /// Waits until the server is unsealed and the active node.
    ///
    /// # Panics
    /// If it is not within 90 s (the message has the log's tail).
    #[track_caller]
    pub fn wait_active(&mut self) {
        let node = &mut self.node;
        if let Err(e) = node.wait_active() {
            panic!("{:#}", node.with_log_tail(e));
        }
    }

    /// The root token from `operator init` (the client's token).
    pub fn root_token(&self) -> &str {
        self.token()
    }

    /// The unseal key from `operator init`.
    pub fn unseal_key(&self) -> &str {
        &self.unseal_key
    }
}

impl Drop for ProdServer {
    fn drop(&mut self) {
        let running = self.node.is_running() && !std::thread::panicking();
        let openapi = running.then(|| self.openapi()).flatten();
        self.node.stop_group(libc::SIGTERM);
        self.node.check_at_drop(openapi);
    }
}

impl std::fmt::Debug for ProdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProdServer")
            .field("node", &self.node)
            .field("dir", &self.dir.path())
            .finish()
    }
}
