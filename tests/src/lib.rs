//! Integration-test harness: runs our plugins inside a real OpenBao server.
//!
//! Most tests use a dev server; [`prod::ProdServer`] is the production shape
//! (raft storage, TLS, init and unseal, restarts), [`cluster::Cluster`] three
//! of those as one HA cluster. All hand out a
//! [`BaoClient`]: the `bao` CLI and the plugin catalog helpers.
//!
//! Every test starts its own throw-away server with [`BaoServer::start`]. Each
//! server gets a free loopback port, its own temporary directory (an initially
//! empty plugin directory plus the server log) and its own process group, so
//! tests may run in parallel as threads (`cargo test`) or as processes
//! (`cargo nextest`). Dropping the [`BaoServer`] stops the server and every
//! plugin process it started; if the test is panicking, the tail of the server
//! log is printed to stderr and a copy of the whole log is kept under
//! `target/integration-logs/`.
//!
//! The `bao` binary comes from [`bao_binary`] (env `BAO_BIN`, or
//! `scripts/install-bao.sh`, which installs the pinned OpenBao into `.cache/`),
//! and plugin binaries from [`plugin_binary`] (release builds; see
//! [`plugin_search_dirs`]).
//!
//! ```no_run
//! use integration_tests::{BaoServer, plugin_binary};
//!
//! let server = BaoServer::start();
//! server.install_plugin("secret", "example-kv", &plugin_binary("vault-plugin-example-kv"), "v0.1.0");
//! server.enable_secrets("example-kv", "example-kv");
//! server.bao_ok(&["write", "example-kv/kv/hello", "value=world"]);
//! let read = server.bao_json(&["read", "example-kv/kv/hello"]);
//! assert_eq!(read["data"]["value"], "world");
//! ```

pub mod cluster;
pub mod fake_balena;
pub mod fake_iam;
pub mod fake_keys;
pub mod fake_pachd;
pub mod fake_proxmox;
pub mod fakes;
pub mod fleet;
pub mod leak_check;
pub mod prod;
pub mod raft_node;
pub mod test_ca;

/// The fault switch of the fakes, from the SDK's test kit.
pub use vault_plugin_sdk::testing::upstream::faults;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Root token of every dev server started by the harness.
pub const ROOT_TOKEN: &str = "root";

/// The target triple that `scripts/test.sh` builds release plugins for (statically
/// linked with `-C target-feature=+crt-static`). Release binaries therefore live
/// in `target/<STATIC_TARGET>/release/`.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// How long [`BaoServer::start`] waits for `GET /v1/sys/health` to answer 200.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `Drop` waits for the server to exit after SIGTERM before SIGKILL.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for one HTTP request made by [`BaoServer::http`].
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of server log printed when a test panics.
const LOG_TAIL_LINES: usize = 200;
/// File name of the server log in the server's temp dir.
const SERVER_LOG: &str = "server.log";
/// Attempts to start a server (a picked port can be taken by someone else).
const START_ATTEMPTS: usize = 5;

/// Root of the Cargo workspace (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests crate must live inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_root() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Directories searched (in order) for release plugin binaries.
///
/// If `PLUGIN_TARGET_DIR` is set (non-empty) it is the only one. Otherwise the
/// static build `target/x86_64-unknown-linux-gnu/release` comes first, then a
/// plain `target/release`.
pub fn plugin_search_dirs() -> Vec<PathBuf> {
    if let Some(dir) = env::var_os("PLUGIN_TARGET_DIR").filter(|v| !v.is_empty()) {
        return vec![workspace_root().join(dir)];
    }
    let target = target_root();
    vec![
        target.join(STATIC_TARGET).join("release"),
        target.join("release"),
    ]
}

/// Path of the release-built plugin binary `name` (e.g. `vault-plugin-example-kv`).
///
/// # Panics
/// If the binary is in none of the [`plugin_search_dirs`]; the message says how
/// to build it.
#[track_caller]
pub fn plugin_binary(name: &str) -> PathBuf {
    let dirs = plugin_search_dirs();
    if let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return path;
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    panic!(
        "plugin binary `{name}` not found (searched: {}).\n\
         Build the plugins first: `cargo build --release --workspace --target {STATIC_TARGET}` \
         (see scripts/build-release.sh), or plain \
         `cargo build --release --workspace`; `./scripts/test.sh` does this before running tests. \
         Set PLUGIN_TARGET_DIR to use another directory.",
        searched.join(", ")
    );
}

/// The version of the workspace crate in `crate_dir` (e.g. `plugins/example-kv`),
/// as `v<version>`, the form `plugin register -version` takes.
#[track_caller]
pub fn crate_version(crate_dir: &str) -> String {
    let manifest = workspace_root().join(crate_dir).join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    text.lines()
        .find_map(|line| {
            let rest = line
                .trim()
                .strip_prefix("version")?
                .trim_start()
                .strip_prefix('=')?;
            Some(format!("v{}", rest.trim().trim_matches('"')))
        })
        .unwrap_or_else(|| panic!("no version in {}", manifest.display()))
}

/// Lower-case hex SHA-256 of a file's contents (what `bao plugin register -sha256` wants).
///
/// # Panics
/// If the file cannot be read.
#[track_caller]
pub fn sha256_file(path: &Path) -> String {
    let mut file = fs::File::open(path)
        .unwrap_or_else(|e| panic!("cannot open {} to hash it: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("cannot read {} to hash it: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Polls `done` every half second until it returns true.
///
/// # Panics
/// With "timed out waiting for {what}" if `done` is still false after `timeout`.
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(500));
    }
}

/// Absolute path of the `bao` binary (OpenBao server and CLI).
///
/// Honours env `BAO_BIN` if set; otherwise runs `scripts/install-bao.sh` once per
/// process (it installs the pinned OpenBao into `.cache/bao` if needed) and uses
/// the path it prints on its last stdout line.
///
/// # Panics
/// If `BAO_BIN` does not name a file, or the install script fails.
pub fn bao_binary() -> PathBuf {
    static BAO: OnceLock<PathBuf> = OnceLock::new();
    BAO.get_or_init(|| locate_bao().unwrap_or_else(|e| panic!("cannot find bao: {e:#}")))
        .clone()
}

fn locate_bao() -> Result<PathBuf> {
    if let Some(bin) = env::var_os("BAO_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("BAO_BIN={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    let script = workspace_root().join("scripts").join("install-bao.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed with {}", script.display(), out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("{} printed no path", script.display()))?;
    let bin = PathBuf::from(last.trim());
    if !bin.is_file() {
        bail!(
            "{} printed `{}`, which is not a file",
            script.display(),
            bin.display()
        );
    }
    Ok(bin)
}

/// What talks to one server: the `bao` CLI with the server's address, a
/// token and (for TLS) its CA, and the server's plugin directory for the
/// catalog helpers. [`BaoServer`] and [`prod::ProdServer`] dereference to it.
#[derive(Debug, Clone)]
pub struct BaoClient {
    bin: PathBuf,
    addr: String,
    token: String,
    /// PEM file of the CA of the server's TLS certificate, if it has one.
    ca_cert: Option<PathBuf>,
    /// `HOME` of every CLI run: the server's temp dir.
    home: PathBuf,
    plugin_dir: PathBuf,
    /// Values the test registered with [`secret`](Self::secret), and
    /// whether the leak check is off (shared by clones).
    leak_check: Arc<Mutex<leak_check::Registered>>,
}

/// A running OpenBao dev server (`bao server -dev`), stopped on drop.
///
/// The server listens on `127.0.0.1:<free port>` with root token
/// [`ROOT_TOKEN`], logs at debug level to [`log_path`](Self::log_path), and
/// loads plugins from [`plugin_dir`](BaoClient::plugin_dir), which starts empty (a
/// dev server auto-mounts binaries already present there and exits if that
/// fails, so binaries are copied in only by [`install_plugin`](BaoClient::install_plugin)).
/// The CLI and catalog helpers come from [`BaoClient`], through `Deref`.
pub struct BaoServer {
    child: Child,
    port: u16,
    client: BaoClient,
    log_path: PathBuf,
    // Declared last: removed only after `Drop::drop` stopped the processes.
    dir: tempfile::TempDir,
}

impl Deref for BaoServer {
    type Target = BaoClient;

    fn deref(&self) -> &BaoClient {
        &self.client
    }
}

impl BaoServer {
    /// Start a fresh dev server and wait until it is healthy.
    ///
    /// # Panics
    /// If the server does not answer `GET /v1/sys/health` with 200 within 30 s
    /// (the message includes the server log).
    #[track_caller]
    pub fn start() -> BaoServer {
        match Self::try_start() {
            Ok(server) => server,
            Err(e) => panic!("cannot start OpenBao dev server: {e:#}"),
        }
    }

    /// Like [`start`](Self::start), but returns an error instead of panicking.
    pub fn try_start() -> Result<BaoServer> {
        let bin = bao_binary();
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            let mut server = Self::spawn(&bin)?;
            match server.wait_healthy() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let log = server.log_contents();
                    drop(server);
                    // Someone else grabbed our port between picking and binding: retry.
                    let port_clash = log.contains("address already in use");
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

    fn spawn(bin: &Path) -> Result<BaoServer> {
        let dir = tempfile::Builder::new()
            .prefix("bao-it-")
            .tempdir()
            .context("creating temp dir for the server")?;
        let plugin_dir = dir.path().join("plugins");
        fs::create_dir(&plugin_dir).context("creating plugin dir")?;
        let log_path = dir.path().join(SERVER_LOG);
        let port = free_port()?;
        let addr = format!("http://127.0.0.1:{port}");
        let config_path = dir.path().join("leak-check.hcl");
        fs::write(&config_path, leak_check::audit_config(dir.path()))
            .context("writing the audit config")?;
        let args = [
            "-dev".to_owned(),
            format!("-config={}", config_path.display()),
            format!("-dev-root-token-id={ROOT_TOKEN}"),
            format!("-dev-listen-address=127.0.0.1:{port}"),
            format!("-dev-plugin-dir={}", plugin_dir.display()),
            "-dev-no-store-token".to_owned(),
        ];
        let child = spawn_server(bin, &args, dir.path(), &log_path)?;
        let client = BaoClient {
            bin: bin.to_path_buf(),
            addr,
            token: ROOT_TOKEN.to_owned(),
            ca_cert: None,
            home: dir.path().to_path_buf(),
            plugin_dir,
            leak_check: Arc::default(),
        };
        Ok(BaoServer {
            child,
            port,
            client,
            log_path,
            dir,
        })
    }

    fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("polling server process")? {
                bail!("server process exited during startup ({status})");
            }
            let last = match http_request(
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
                "GET",
                "/v1/sys/health",
                &[],
                &[],
                Duration::from_secs(2),
            ) {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => format!("HTTP {code}: {body}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "server not healthy after {}s (last: {last})",
                    STARTUP_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the server (`bao server -dev`) itself.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file (its stdout and stderr, debug level).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far (lossy UTF-8; empty if it cannot be read).
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }
}

impl BaoClient {
    /// Base URL of the server, e.g. `http://127.0.0.1:41234`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Path of the `bao` binary this server runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The token every CLI run uses (the root token).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The PEM file of the CA of the server's TLS certificate (`None` for
    /// a server without TLS).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The server's plugin directory (empty at start).
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// Run the `bao` CLI against this server and return its output, whatever its status.
    ///
    /// The child gets `BAO_ADDR`/`VAULT_ADDR`, `BAO_TOKEN`/`VAULT_TOKEN`
    /// and, for a TLS server, `BAO_CACERT`/`VAULT_CACERT`; no other
    /// `BAO_*`/`VAULT_*` variables from our environment, `HOME` set to the
    /// server's temp dir, and no stdin.
    ///
    /// # Panics
    /// If the CLI cannot be spawned at all.
    #[track_caller]
    pub fn bao(&self, args: &[&str]) -> Output {
        self.bao_with_env(args, &[])
    }

    /// Like [`bao`](Self::bao), with extra environment variables for the CLI.
    #[track_caller]
    pub fn bao_with_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.bao_command(args, envs)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", self.bin.display()))
    }

    /// Start the `bao` CLI in the background (same environment as
    /// [`bao`](Self::bao), output discarded), e.g. a request that is meant to
    /// be cut short by killing the plugin.
    ///
    /// # Panics
    /// If the CLI cannot be spawned at all.
    #[track_caller]
    pub fn bao_spawn(&self, args: &[&str]) -> Child {
        self.bao_command(args, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {args:?}: {e}", self.bin.display()))
    }

    fn bao_command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        clean_env(&mut cmd, &self.home);
        cmd.env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.token)
            .env("VAULT_TOKEN", &self.token);
        if let Some(ca) = &self.ca_cert {
            cmd.env("BAO_CACERT", ca).env("VAULT_CACERT", ca);
        }
        cmd.envs(envs.iter().copied()).stdin(Stdio::null());
        cmd
    }

    /// Registers `value` as a secret of this test for the leak check (see
    /// [`leak_check`]), besides those the harness learns by itself: e.g. a
    /// credential a fake upstream handed the plugin. Values under
    /// [`leak_check::MIN_SECRET_LEN`] characters are ignored.
    pub fn secret(&self, value: &str) {
        if let Ok(mut registered) = self.leak_check.lock() {
            registered.values.push(value.to_owned());
        }
    }

    /// Turns the leak check at drop off, for long runs (a soak) where its
    /// comparison of every secret with every response would take longer
    /// than the run. Tests never call this.
    pub fn skip_leak_check(&self) {
        if let Ok(mut registered) = self.leak_check.lock() {
            registered.skip = true;
        }
    }

    /// The host's OpenAPI document of every mount
    /// (`sys/internal/specs/openapi`), or `None` if the server does not
    /// answer (sealed, stopped).
    pub fn openapi(&self) -> Option<Value> {
        let args = ["read", "sys/internal/specs/openapi"];
        let out = self.bao_with_env(&args, &[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "json")]);
        let read: Value = serde_json::from_slice(&out.stdout).ok()?;
        out.status.success().then(|| read["data"].clone())
    }

    /// Runs the leak check (see [`leak_check`]) over everything the server
    /// handled so far: `Err` holds the report, which names where each
    /// secret came from and where it was found, never the secret in full.
    /// Every server runs it by itself when dropped; call this to look earlier.
    pub fn leak_check(&self) -> Result<(), String> {
        self.leak_report(self.openapi().as_ref())
    }

    /// The leak check with an OpenAPI document read beforehand (the
    /// server's audit log and log live in its temp dir, `home`).
    fn leak_report(&self, openapi: Option<&Value>) -> Result<(), String> {
        let audit = read_log(&self.home.join(leak_check::AUDIT_LOG));
        let log = read_log(&self.home.join(SERVER_LOG));
        let explicit = self
            .leak_check
            .lock()
            .map(|r| r.values.clone())
            .unwrap_or_default();
        leak_check::check(&audit, &log, openapi, &explicit)
    }

    /// The leak check at drop: panics with the report on a leak (keeping the
    /// server log), unless the test is already panicking.
    fn check_leaks_at_drop(&self, openapi: Option<Value>, port: u16) {
        let skip = self.leak_check.lock().map(|r| r.skip).unwrap_or(false);
        if thread::panicking() || skip {
            return;
        }
        if let Err(report) = self.leak_report(openapi.as_ref()) {
            let kept = keep_log(&self.home.join(SERVER_LOG), port)
                .map(|p| format!("\n(server log kept at {})", p.display()))
                .unwrap_or_default();
            panic!("{report}{kept}");
        }
    }

    /// SIGKILL every running process of plugin `name`, as a crash would;
    /// returns their pids (the host starts a new one on the next request).
    pub fn kill_plugin(&self, name: &str) -> Vec<u32> {
        let pids = self.plugin_pids(name);
        for &pid in &pids {
            // SAFETY: kill(2) on a plugin process this server started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        pids
    }

    /// Run the `bao` CLI; panic (showing stdout and stderr) unless it exits 0.
    /// Returns stdout.
    #[track_caller]
    pub fn bao_ok(&self, args: &[&str]) -> String {
        let out = self.bao(args);
        expect_success(args, &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `bao write <path> <fields>` (each `key=value`, e.g. a fake's
    /// `config_args`), like [`bao_ok`](Self::bao_ok).
    #[track_caller]
    pub fn write_ok(&self, path: &str, fields: &[String]) -> String {
        let mut args = vec!["write", path];
        args.extend(fields.iter().map(String::as_str));
        self.bao_ok(&args)
    }

    /// Run the `bao` CLI with JSON output and parse stdout.
    ///
    /// Output format is selected with `BAO_FORMAT=json` (the environment twin of
    /// `-format=json`; a flag placed after positional arguments would be sent to
    /// the server as request data by `read`/`write`). Empty stdout (e.g. a
    /// `write` with no response data) gives `Value::Null`. Note that a few
    /// commands (`secrets enable`, `plugin register`) print plain text anyway:
    /// use [`bao_ok`](Self::bao_ok) for those.
    ///
    /// # Panics
    /// If the command fails or stdout is not JSON.
    #[track_caller]
    pub fn bao_json(&self, args: &[&str]) -> Value {
        let out = self.bao_with_env(args, &[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "json")]);
        expect_success(args, &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "`bao {}` did not print JSON ({e}):\n{stdout}",
                args.join(" ")
            )
        })
    }
}

impl BaoServer {
    /// Make an HTTP request to the server's API with the root token.
    ///
    /// `path` may be given with or without the `/v1/` prefix (`"sys/health"` and
    /// `"/v1/sys/health"` are the same). `method` is any HTTP method, including
    /// Vault's `LIST`. Returns the status code and the body parsed as JSON:
    /// `Value::Null` for an empty body, `Value::String` for a body that is not JSON.
    ///
    /// # Panics
    /// On connection or protocol errors (not on non-2xx statuses).
    #[track_caller]
    pub fn http(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.http_as(Some(ROOT_TOKEN), method, path, body)
    }

    /// Like [`http`](Self::http) with an explicit token (`None` sends no
    /// `X-Vault-Token` header, e.g. for auth plugin logins).
    #[track_caller]
    pub fn http_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let path = api_path(path);
        let sock = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
        let answer = body
            .map(serde_json::to_vec)
            .transpose()
            .context("encoding the request body")
            .and_then(|body| {
                let body = body.unwrap_or_default();
                http_request(sock, method, &path, &headers, &body, HTTP_TIMEOUT)
            });
        let (status, text) = match answer {
            Ok(answer) => answer,
            Err(e) => panic!("HTTP {method} {path} failed: {e:#}"),
        };
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }
}

impl BaoServer {
    /// Sends a raw request body (any bytes, e.g. invalid JSON) with an
    /// optional token; returns the status and the body text. Unlike
    /// [`http`](Self::http) it never panics: connection errors are errors.
    ///
    /// # Errors
    /// On connection or protocol errors (not on non-2xx statuses).
    pub fn http_raw(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, String)> {
        let path = api_path(path);
        let sock = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
        http_request(sock, method, &path, &headers, body, HTTP_TIMEOUT)
            .with_context(|| format!("HTTP {method} {path}"))
    }
}

/// The first 300 characters of `text`, for error messages.
pub fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

impl BaoClient {
    /// Copy `binary` into the plugin directory as `name` (mode 755) and register
    /// it in the catalog as a `kind` plugin (`"secret"` or `"auth"`) with its
    /// SHA-256 and `version` (a leading `v` is added if missing). Returns the
    /// SHA-256.
    ///
    /// Registration can "succeed" even when the host could not run the plugin
    /// (it only logs the error), so tests must still use the plugin to prove it
    /// works; this only checks the catalog entry exists with our checksum.
    ///
    /// # Panics
    /// If `kind` is invalid, the copy fails, or registration fails.
    #[track_caller]
    pub fn install_plugin(&self, kind: &str, name: &str, binary: &Path, version: &str) -> String {
        self.install_plugin_with(kind, name, binary, version, &[])
    }

    /// Pids of the running processes started from plugin `name` in this
    /// server's plugin folder.
    pub fn plugin_pids(&self, name: &str) -> Vec<u32> {
        let path = self.plugin_dir.join(name);
        let want = path.as_os_str().as_encoded_bytes();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/cmdline"))
                    .ok()
                    .and_then(|c| c.split(|b| *b == 0).next().map(|arg0| arg0 == want))
                    .unwrap_or(false)
            })
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Like [`install_plugin`](Self::install_plugin), passing `register_args`
    /// (e.g. `-args=--log-level=debug`) to `plugin register`.
    pub fn install_plugin_with(
        &self,
        kind: &str,
        name: &str,
        binary: &Path,
        version: &str,
        register_args: &[&str],
    ) -> String {
        assert!(
            kind == "secret" || kind == "auth",
            "plugin kind must be \"secret\" or \"auth\", got {kind:?}"
        );
        assert!(
            !name.is_empty() && !name.contains('/'),
            "plugin name must be a plain file name, got {name:?}"
        );
        let version = if version.starts_with('v') {
            version.to_string()
        } else {
            format!("v{version}")
        };
        let dest = self.plugin_dir.join(name);
        fs::copy(binary, &dest).unwrap_or_else(|e| {
            panic!(
                "cannot copy plugin {} to {}: {e}",
                binary.display(),
                dest.display()
            )
        });
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dest.display()));
        let sha = sha256_file(&dest);
        let sha_arg = format!("-sha256={sha}");
        let version_arg = format!("-version={version}");
        let mut args = vec!["plugin", "register", sha_arg.as_str(), version_arg.as_str()];
        args.extend_from_slice(register_args);
        args.extend_from_slice(&[kind, name]);
        self.bao_ok(&args);
        // `plugin info` without -version 404s for versioned registrations.
        let info = self.bao_json(&["plugin", "info", &format!("-version={version}"), kind, name]);
        assert_eq!(
            info["sha256"].as_str(),
            Some(sha.as_str()),
            "catalog entry for {kind} plugin {name} {version} has the wrong sha256: {info}"
        );
        sha
    }

    /// Enable the registered secrets plugin `name` at `mount` (`bao secrets enable -path=MOUNT NAME`).
    ///
    /// # Panics
    /// If enabling fails (this is where a plugin that cannot start shows up).
    #[track_caller]
    pub fn enable_secrets(&self, name: &str, mount: &str) {
        self.bao_ok(&["secrets", "enable", &format!("-path={mount}"), name]);
    }

    /// Enable the registered auth plugin `name` at `mount` (`bao auth enable -path=MOUNT NAME`).
    ///
    /// # Panics
    /// If enabling fails.
    #[track_caller]
    pub fn enable_auth(&self, name: &str, mount: &str) {
        self.bao_ok(&["auth", "enable", &format!("-path={mount}"), name]);
    }
}

impl Drop for BaoServer {
    fn drop(&mut self) {
        let openapi = (!thread::panicking()).then(|| self.openapi()).flatten();
        stop_process_group(&mut self.child, libc::SIGTERM);
        report_log_if_panicking(&self.log_path, self.port);
        self.client.check_leaks_at_drop(openapi, self.port);
    }
}

/// Sends `sig` to the process group of `child` (a server started in a group
/// of its own), waits up to [`SHUTDOWN_TIMEOUT`] for the server to exit,
/// then kills the group, reaching plugin processes the server left behind.
fn stop_process_group(child: &mut Child, sig: libc::c_int) -> Option<ExitStatus> {
    let pgid = child.id() as libc::pid_t;
    signal_group(pgid, sig);
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                signal_group(pgid, libc::SIGKILL);
                break child.wait().ok();
            }
        }
    };
    // Plugin processes orphaned by the server are still in its group.
    signal_group(pgid, libc::SIGKILL);
    status
}

/// When the test is panicking: prints the tail of the server log at
/// `log_path` to stderr and keeps a copy under `target/integration-logs/`.
fn report_log_if_panicking(log_path: &Path, port: u16) {
    if !thread::panicking() {
        return;
    }
    let log = read_log(log_path);
    let kept = keep_log(log_path, port)
        .map(|p| format!(" (full log kept at {})", p.display()))
        .unwrap_or_default();
    eprintln!(
        "===== OpenBao server log, last {LOG_TAIL_LINES} lines{kept} =====\n{}\n===== end of server log =====",
        tail(&log, LOG_TAIL_LINES)
    );
}

fn keep_log(log_path: &Path, port: u16) -> Option<PathBuf> {
    let dir = target_root().join("integration-logs");
    fs::create_dir_all(&dir).ok()?;
    let test = thread::current()
        .name()
        .unwrap_or("test")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let dest = dir.join(format!("{test}-{port}.log"));
    fs::copy(log_path, &dest).ok()?;
    Some(dest)
}

/// A server log (lossy UTF-8; empty if it cannot be read).
fn read_log(log_path: &Path) -> String {
    fs::read(log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl std::fmt::Debug for BaoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaoServer")
            .field("addr", &self.client.addr)
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Send `sig` to process group `pgid`, ignoring "no such process".
fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    if pgid > 1 {
        // SAFETY: plain kill(2) on a process group we created.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Starts `bao server <args> -log-level=debug` with the environment of
/// [`clean_env`], stdout and stderr appended to `log_path`, in a process
/// group of its own: stopping the group reaches plugin processes too.
fn spawn_server(bin: &Path, args: &[String], home: &Path, log_path: &Path) -> Result<Child> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .context("opening the server log")?;
    let log_err = log.try_clone().context("cloning the server log handle")?;
    let mut cmd = Command::new(bin);
    cmd.arg("server").args(args).arg("-log-level=debug");
    clean_env(&mut cmd, home);
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    cmd.spawn()
        .with_context(|| format!("spawning {}", bin.display()))
}

/// Drop inherited `BAO_*`/`VAULT_*` variables (they could redirect the CLI or
/// change the server) and point `HOME` at `home`, so token helpers never touch
/// the user's real home. Sets `PLUGIN_LOG_LEVEL=debug`: the server passes its
/// environment on to the plugins it starts, so they log at debug level into
/// the server log, where the leak check looks.
fn clean_env(cmd: &mut Command, home: &Path) {
    for (key, _) in env::vars_os() {
        if let Some(k) = key.to_str()
            && (k.starts_with("BAO_") || k.starts_with("VAULT_"))
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", home).env("PLUGIN_LOG_LEVEL", "debug");
}

#[track_caller]
fn expect_success(args: &[&str], out: &Output) {
    if !out.status.success() {
        panic!(
            "`bao {}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Pick a port whose successor is free too: a dev server also binds PORT+1
/// for its cluster listener.
fn free_port() -> Result<u16> {
    for _ in 0..50 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding port 0")?;
        let port = listener.local_addr().context("reading bound port")?.port();
        if port == u16::MAX {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("found no free pair of loopback ports")
}

fn api_path(path: &str) -> String {
    if path.starts_with("/v1/") {
        path.to_string()
    } else {
        format!("/v1/{}", path.trim_start_matches('/'))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends one request to a fake upstream at `url` (`http://host:port`) the way
/// a plain client would, with an optional `Authorization: Bearer` token and a
/// JSON `body` (may be empty); returns the status and the body. For tests
/// that talk to a fake directly, in place of a plugin or a user's `curl`.
///
/// # Errors
/// If `url` is not `http://host:port`, or on connection or protocol errors
/// (not on non-2xx statuses).
pub fn http_call(
    url: &str,
    method: &str,
    target: &str,
    body: &str,
    bearer: Option<&str>,
) -> Result<(u16, String)> {
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("not an http:// URL: {url}"))?;
    let sock = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host} has no address"))?;
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    http_request(
        sock,
        method,
        target,
        &headers,
        body.as_bytes(),
        HTTP_TIMEOUT,
    )
}

/// Minimal HTTP/1.1 client: one request per connection (`Connection: close`),
/// JSON body, handles `Content-Length` and chunked responses.
fn http_request(
    sock: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .with_context(|| format!("connecting to {sock}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {sock}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (name, value) in headers {
        let _ = write!(req, "{name}: {value}\r\n");
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    let _ = write!(req, "Content-Length: {}\r\n\r\n", body.len());
    // A server may answer before it read a large body (e.g. a DELETE's,
    // which it ignores) and close: its answer is still there to read.
    let sent = stream
        .write_all(req.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
    match sent {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) => {}
        Err(e) => return Err(e).context("sending the request"),
    }

    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // Some servers reset instead of closing cleanly after a full response.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => {}
        Err(e) => return Err(e).context("reading response"),
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<(u16, String)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("incomplete HTTP response ({} bytes)", raw.len()))?;
    let head = std::str::from_utf8(&raw[..split]).context("non-UTF-8 response headers")?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value
                .parse()
                .with_context(|| format!("bad Content-Length {value:?}"))?;
            body = body.get(..len).unwrap_or(body);
        }
    }
    let body = if chunked {
        decode_chunked(body)?
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk header"))?;
        let size_text = std::str::from_utf8(&data[..eol]).context("bad chunk header")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_content_length_response() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{\"errors\":[]}";
        let (status, body) = parse_response(raw).expect("parse");
        assert_eq!(status, 404);
        assert_eq!(body, "{\"errors\":[]}");
    }

    #[test]
    fn parses_chunked_response() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n4;x=y\r\n:1}\n\r\n0\r\n\r\n";
        let (status, body) = parse_response(raw).expect("parse");
        assert_eq!(status, 200);
        assert_eq!(body, "{\"a\":1}\n");
    }

    #[test]
    fn api_path_adds_prefix_once() {
        assert_eq!(api_path("sys/health"), "/v1/sys/health");
        assert_eq!(api_path("/sys/health"), "/v1/sys/health");
        assert_eq!(api_path("/v1/sys/health"), "/v1/sys/health");
    }

    #[test]
    fn sha256_of_known_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("abc");
        fs::write(&file, b"abc").expect("write");
        assert_eq!(
            sha256_file(&file),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
