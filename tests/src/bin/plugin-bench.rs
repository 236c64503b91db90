//! `plugin-bench`: measures the `example-kv` plugin beside OpenBao's builtin
//! `kv` engine (v1) in the same dev server and prints a Markdown table.
//!
//! This is a command, not a test: run it through `scripts/bench.sh`, which
//! installs OpenBao, builds the static release plugin and this binary, then
//! runs it with the script's arguments. Progress goes to stderr; stdout is only
//! the report (machine, date, table, notes), ready to paste into the README.
//!
//! What is measured:
//! * the plugin binary's size after `strip`;
//! * exec-to-handshake: spawn the binary with the environment a host gives it
//!   and time until the go-plugin handshake line arrives on stdout (median);
//! * the plugin process's resident memory (`VmRSS`) when idle after the mount
//!   is enabled, after 10,000 requests, and after the concurrent runs;
//! * p50 / p99 latency of sequential requests through the server (`ping` and
//!   reads of an existing key, writes), on one keep-alive HTTP/1.1 connection;
//! * CPU time (user + system, from `/proc/<pid>/stat`) per request of the
//!   plugin process and of the server process;
//! * requests per second with many concurrent keep-alive clients.
//!
//! Options: `--requests N` (sequential requests per operation, default 2000),
//! `--duration SECS` (length of each concurrent run, default 5),
//! `--clients N` (concurrent clients, default 32), `--handshake-runs N`
//! (default 20). `--help` prints them.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use integration_tests::{BaoServer, ROOT_TOKEN, crate_version, plugin_binary, workspace_root};
use serde_json::json;

/// The plugin's binary (as built by Cargo) and its catalog name.
const PLUGIN_BIN: &str = "vault-plugin-example-kv";
/// Catalog name and mount path of the plugin.
const PLUGIN_NAME: &str = "example-kv";
/// Mount path of the builtin kv (v1) engine.
const BUILTIN_MOUNT: &str = "builtin";
/// Key that the read benchmarks read (written once beforehand).
const READ_KEY: &str = "bench-read";
/// Key that the write benchmarks overwrite.
const WRITE_KEY: &str = "bench-write";
/// JSON body of every write.
const WRITE_BODY: &str = r#"{"value":"hello world","n":"42"}"#;
/// The plugin's RSS is also sampled after this many requests to it.
const RSS_AFTER_REQUESTS: u64 = 10_000;
/// How long to wait for one handshake line before giving up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Unmeasured handshake runs first (page cache, dynamic CPU frequency).
const HANDSHAKE_WARMUP: usize = 2;
/// Read/write timeout of a benchmark connection.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after enabling the mount before the idle RSS is sampled.
const SETTLE: Duration = Duration::from_millis(500);

/// The magic cookie a host passes to every plugin it starts.
const MAGIC_COOKIE: (&str, &str) = (
    "VAULT_BACKEND_PLUGIN",
    "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
);

/// Set by SIGINT/SIGTERM; the loops check it so that the dev server (which
/// runs in its own process group) is stopped by `Drop` instead of left behind.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Fails once SIGINT or SIGTERM has been received.
fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Command-line options.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    /// Measured sequential requests per operation and engine.
    requests: usize,
    /// Length of each concurrent run.
    duration: Duration,
    /// Concurrent clients (threads) in the throughput runs.
    clients: usize,
    /// Measured exec-to-handshake runs.
    handshake_runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            requests: 2000,
            duration: Duration::from_secs(5),
            clients: 32,
            handshake_runs: 20,
        }
    }
}

const USAGE: &str = "\
usage: plugin-bench [--requests N] [--duration SECS] [--clients N] [--handshake-runs N]

Benchmarks the example-kv plugin beside the builtin kv engine in one OpenBao
dev server and prints a Markdown table on stdout. Normally run through
scripts/bench.sh, which builds everything first.

  --requests N        sequential requests per operation (default 2000)
  --duration SECS     length of each concurrent run (default 5; fractions allowed)
  --clients N         concurrent keep-alive clients (default 32)
  --handshake-runs N  exec-to-handshake runs, median reported (default 20)

Environment: BAO_BIN (the bao binary; else scripts/install-bao.sh is run),
PLUGIN_TARGET_DIR (where vault-plugin-example-kv is).";

impl Options {
    /// Parses `args` (without the program name). `Ok(None)` means `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
        let mut opts = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            if name == "-h" || name == "--help" {
                return Ok(None);
            }
            let mut value = || -> Result<String> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}"))
            };
            let count = |v: String| -> Result<usize> {
                let n: usize = v
                    .parse()
                    .with_context(|| format!("{name}: `{v}` is not a number"))?;
                ensure!(n > 0, "{name} must be at least 1");
                Ok(n)
            };
            match name.as_str() {
                "--requests" => opts.requests = count(value()?)?,
                "--clients" => opts.clients = count(value()?)?,
                "--handshake-runs" => opts.handshake_runs = count(value()?)?,
                "--duration" => {
                    let v = value()?;
                    let secs: f64 = v
                        .parse()
                        .with_context(|| format!("--duration: `{v}` is not a number of seconds"))?;
                    ensure!(
                        secs.is_finite() && secs > 0.0,
                        "--duration must be a positive number of seconds"
                    );
                    opts.duration = Duration::from_secs_f64(secs);
                }
                _ => bail!("unknown argument `{arg}`\n\n{USAGE}"),
            }
        }
        Ok(Some(opts))
    }

    /// Unmeasured requests sent before each sequential run.
    fn warmup(&self) -> usize {
        (self.requests / 10).max(100)
    }
}

fn main() -> ExitCode {
    let opts = match Options::parse(env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("plugin-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    match run(&opts) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(_) if INTERRUPTED.load(Ordering::SeqCst) => {
            eprintln!("plugin-bench: interrupted; the server was stopped");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("plugin-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Progress message on stderr.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("bench: {}", format_args!($($arg)*)) };
}

/// Everything that ends up in the table.
struct Results {
    machine: String,
    date: String,
    /// 1-minute load average just before the run.
    load_before: Option<f64>,
    bao_version: String,
    plugin_version: String,
    size: SizeResult,
    handshake: Duration,
    idle_rss_kb: u64,
    rss_after_kb: u64,
    rss_after_count: u64,
    rss_after_load_kb: u64,
    ping: Run,
    builtin_read: Run,
    plugin_read: Run,
    plugin_write: Run,
    builtin_write: Run,
    rps_ping: Throughput,
    rps_plugin_read: Throughput,
    rps_builtin_read: Throughput,
    plugin_restarted: bool,
}

/// Runs every measurement and renders the report.
fn run(opts: &Options) -> Result<String> {
    let load_before = load_average();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(load) = load_before.filter(|&l| l > 0.5 * cores as f64) {
        progress!(
            "warning: load average {load:.2} on {cores} cores: other work is running, \
             expect slower and noisier numbers"
        );
    }
    let plugin_version = crate_version("plugins/example-kv");
    let binary = plugin_binary(PLUGIN_BIN);
    progress!("plugin binary {}", binary.display());
    let scratch = tempfile::Builder::new()
        .prefix("plugin-bench-")
        .tempdir()
        .context("creating a scratch directory")?;

    let size = stripped_size(&binary, scratch.path())?;

    progress!(
        "exec-to-handshake: {} runs (+{HANDSHAKE_WARMUP} warm-up)",
        opts.handshake_runs
    );
    let handshake = handshake_median(&binary, scratch.path(), opts.handshake_runs)?;

    progress!("starting OpenBao dev server");
    let server = BaoServer::start();
    let bao_version = bao_version(&server);
    server.install_plugin("secret", PLUGIN_NAME, &binary, &plugin_version);
    server.enable_secrets(PLUGIN_NAME, PLUGIN_NAME);
    server.bao_ok(&[
        "secrets",
        "enable",
        &format!("-path={BUILTIN_MOUNT}"),
        "-version=1",
        "kv",
    ]);
    let server_pid = server.pid();
    let plugin_pid = find_plugin_pid(&server)?;
    progress!("server pid {server_pid}, plugin pid {plugin_pid}");
    thread::sleep(SETTLE);
    let idle_rss_kb = vm_rss_kb(plugin_pid)?;

    for mount in [PLUGIN_NAME, BUILTIN_MOUNT] {
        let kv = if mount == PLUGIN_NAME {
            format!("{mount}/kv")
        } else {
            mount.to_string()
        };
        let (status, body) = server.http(
            "POST",
            &format!("{kv}/{READ_KEY}"),
            Some(&json!({"value": "hello world", "n": "42"})),
        );
        ensure!(
            (200..300).contains(&status),
            "writing {kv}/{READ_KEY}: HTTP {status}: {body}"
        );
        let (status, body) = server.http("GET", &format!("{kv}/{READ_KEY}"), None);
        ensure!(
            status == 200 && body["data"]["value"] == "hello world",
            "reading {kv}/{READ_KEY} back: HTTP {status}: {body}"
        );
    }
    let (status, body) = server.http("GET", &format!("{PLUGIN_NAME}/ping"), None);
    ensure!(
        status == 200 && body["data"]["message"] == "pong",
        "{PLUGIN_NAME}/ping: HTTP {status}: {body}"
    );
    // Requests the plugin has served so far: the existence check the server
    // makes before a write, the write, the read back, the ping.
    let mut plugin_requests: u64 = 4;

    let port = server.port();
    let ping = Request::new(port, "GET", &format!("/v1/{PLUGIN_NAME}/ping"), None);
    let plugin_read = Request::new(
        port,
        "GET",
        &format!("/v1/{PLUGIN_NAME}/kv/{READ_KEY}"),
        None,
    );
    let plugin_write = Request::new(
        port,
        "POST",
        &format!("/v1/{PLUGIN_NAME}/kv/{WRITE_KEY}"),
        Some(WRITE_BODY),
    );
    let builtin_read = Request::new(
        port,
        "GET",
        &format!("/v1/{BUILTIN_MOUNT}/{READ_KEY}"),
        None,
    );
    let builtin_write = Request::new(
        port,
        "POST",
        &format!("/v1/{BUILTIN_MOUNT}/{WRITE_KEY}"),
        Some(WRITE_BODY),
    );

    let mut client = Client::connect(port)?;
    let n = opts.requests;
    let warm = opts.warmup();
    progress!(
        "sequential: {n} requests per operation after {warm} warm-up, one keep-alive connection"
    );

    let pids = Pids {
        plugin: plugin_pid,
        server: server_pid,
    };
    let ping_run = sequential(&mut client, &ping, warm, n, pids)?;
    plugin_requests += (warm + n) as u64;
    let builtin_read_run = sequential(&mut client, &builtin_read, warm, n, pids)?;
    let plugin_read_run = sequential(&mut client, &plugin_read, warm, n, pids)?;
    plugin_requests += (warm + n) as u64;
    let plugin_write_run = sequential(&mut client, &plugin_write, warm, n, pids)?;
    // A write is two plugin requests: the existence check, then the update.
    plugin_requests += 2 * (warm + n) as u64;
    let builtin_write_run = sequential(&mut client, &builtin_write, warm, n, pids)?;

    // Top up to RSS_AFTER_REQUESTS plugin requests with a mix of the three.
    let mix = [&ping, &plugin_read, &plugin_write];
    let mut i = 0;
    while plugin_requests < RSS_AFTER_REQUESTS {
        check_interrupted()?;
        let req = mix[i % mix.len()];
        expect_ok(req, client.send(req)?)?;
        plugin_requests += if std::ptr::eq(req, &plugin_write) {
            2
        } else {
            1
        };
        i += 1;
    }
    let rss_after_kb = vm_rss_kb(plugin_pid)?;
    drop(client);

    progress!(
        "concurrent: {} clients for {:.1} s per operation",
        opts.clients,
        opts.duration.as_secs_f64()
    );
    let rps_ping = throughput(&ping, opts.clients, opts.duration)?;
    let rps_plugin_read = throughput(&plugin_read, opts.clients, opts.duration)?;
    let rps_builtin_read = throughput(&builtin_read, opts.clients, opts.duration)?;
    let rss_after_load_kb = vm_rss_kb(plugin_pid)?;
    let plugin_restarted = server.plugin_pids(PLUGIN_NAME) != [plugin_pid];
    drop(server);

    let results = Results {
        machine: machine()?,
        date: utc_now(),
        load_before,
        bao_version,
        plugin_version,
        size,
        handshake,
        idle_rss_kb,
        rss_after_kb,
        rss_after_count: plugin_requests,
        rss_after_load_kb,
        ping: ping_run,
        builtin_read: builtin_read_run,
        plugin_read: plugin_read_run,
        plugin_write: plugin_write_run,
        builtin_write: builtin_write_run,
        rps_ping,
        rps_plugin_read,
        rps_builtin_read,
        plugin_restarted,
    };
    Ok(render(&results, opts))
}

// ---------------------------------------------------------------------------
// Binary size and handshake
// ---------------------------------------------------------------------------

/// Size of the binary after `strip`, or of the file as is when `strip` is missing.
struct SizeResult {
    bytes: u64,
    stripped: bool,
}

/// Strips a copy of `binary` in `scratch` and returns its size.
fn stripped_size(binary: &Path, scratch: &Path) -> Result<SizeResult> {
    let copy = scratch.join("stripped");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(binary)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let path = if stripped { &copy } else { binary };
    if !stripped {
        progress!("`strip` not available: reporting the size of the file as it is");
    }
    let bytes = fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok(SizeResult { bytes, stripped })
}

/// Median exec-to-handshake time over `runs` runs (after a short warm-up).
fn handshake_median(binary: &Path, scratch: &Path, runs: usize) -> Result<Duration> {
    let cert = client_cert(scratch)?;
    let sockets = scratch.join("sockets");
    fs::create_dir_all(&sockets).context("creating the socket directory")?;
    let mut times = Vec::with_capacity(runs);
    for i in 0..HANDSHAKE_WARMUP + runs {
        check_interrupted()?;
        let t = handshake_once(binary, &cert, &sockets)
            .with_context(|| format!("handshake run {}", i + 1))?;
        if i >= HANDSHAKE_WARMUP {
            times.push(t);
        }
    }
    times.sort_unstable();
    Ok(percentile(&times, 0.5))
}

/// A self-signed P-521 certificate (PEM), standing in for the host's client
/// certificate that AutoMTLS passes in `PLUGIN_CLIENT_CERT`. Made with
/// openssl; without openssl, the test fixture of the same shape is used.
fn client_cert(scratch: &Path) -> Result<String> {
    let key = scratch.join("client-key.pem");
    let cert = scratch.join("client-cert.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-521")
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output();
    match made {
        Ok(out) if out.status.success() => {
            fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))
        }
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            let fixture = workspace_root().join("tests/fixtures/host-p521.pem");
            progress!(
                "openssl failed ({why}); using {} as the client certificate",
                fixture.display()
            );
            fs::read_to_string(&fixture).with_context(|| {
                format!("reading {} (and openssl failed: {why})", fixture.display())
            })
        }
    }
}

/// Spawns the plugin as a host would, waits for its handshake line, kills it.
/// Returns the time from just before `spawn` to the line's arrival.
fn handshake_once(binary: &Path, cert: &str, sockets: &Path) -> Result<Duration> {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env(MAGIC_COOKIE.0, MAGIC_COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .env("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")
        .env("PLUGIN_CLIENT_CERT", cert)
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        // Keeps the unix sockets of killed runs inside our scratch directory.
        .env("TMPDIR", sockets)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let stdout = child.stdout.take().context("child has no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send((Instant::now(), read.map(|_| line)));
    });
    let answer = rx.recv_timeout(HANDSHAKE_TIMEOUT);
    let _ = child.kill();
    let status = child.wait().context("waiting for the plugin to exit")?;
    let (at, line) = match answer {
        Ok((at, Ok(line))) => (at, line),
        Ok((_, Err(e))) => bail!("reading the handshake line: {e}"),
        Err(_) => bail!(
            "no handshake line within {}s (plugin exit: {status})",
            HANDSHAKE_TIMEOUT.as_secs()
        ),
    };
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    ensure!(
        fields.len() == 6 && fields[0] == "1" && fields[1] == "5" && fields[4] == "grpc",
        "unexpected handshake line {line:?} (plugin exit: {status})"
    );
    Ok(at - start)
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// The one running process of our plugin in `server` (multiplexed: one
/// process serves every mount).
fn find_plugin_pid(server: &BaoServer) -> Result<u32> {
    // The host starts the plugin while enabling the mount; allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match server.plugin_pids(PLUGIN_NAME).as_slice() {
            [pid] => return Ok(*pid),
            [] if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            [] => bail!("no running process of plugin {PLUGIN_NAME}"),
            many => bail!(
                "{} processes of plugin {PLUGIN_NAME} (expected one, multiplexed): {many:?}",
                many.len()
            ),
        }
    }
}

/// Resident set size of `pid` in kB (`VmRSS` in `/proc/<pid>/status`).
fn vm_rss_kb(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss_kb(&status).with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

fn parse_vm_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time of a process (all its threads, living and exited), in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuTicks {
    user: u64,
    system: u64,
}

impl CpuTicks {
    fn since(self, before: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
        }
    }

    fn total(self) -> u64 {
        self.user + self.system
    }
}

/// User and system CPU time of `pid` (`utime`, `stime` of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> Result<CpuTicks> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).with_context(|| format!("cannot parse /proc/{pid}/stat: {stat:?}"))
}

fn parse_cpu_ticks(stat: &str) -> Option<CpuTicks> {
    // The command name (field 2) may contain spaces and parentheses: fields
    // are counted after its closing parenthesis, where field 3 is index 0.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(CpuTicks {
        user: fields.get(11)?.parse().ok()?,
        system: fields.get(12)?.parse().ok()?,
    })
}

/// Write system calls `pid` has made so far (`syscw` of `/proc/<pid>/io`),
/// or `None` where the kernel does not offer it. (Socket reads through
/// `recvfrom` are not counted in `syscr`, so reads are not sampled.)
fn write_syscalls(pid: u32) -> Option<u64> {
    parse_syscw(&fs::read_to_string(format!("/proc/{pid}/io")).ok()?)
}

fn parse_syscw(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 keep-alive client
// ---------------------------------------------------------------------------

/// One API request, encoded once and sent many times.
#[derive(Debug, Clone)]
struct Request {
    /// Server port (127.0.0.1) the request is for.
    port: u16,
    /// `METHOD /path`, for messages.
    label: String,
    /// The whole request as sent.
    bytes: Vec<u8>,
}

impl Request {
    /// Encodes `method path` with the root token and an optional JSON body.
    fn new(port: u16, method: &str, path: &str, body: Option<&str>) -> Request {
        let body = body.unwrap_or("");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             X-Vault-Token: {ROOT_TOKEN}\r\nAccept: application/json\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Request {
            port,
            label: format!("{method} {path}"),
            bytes,
        }
    }
}

/// A small HTTP/1.1 client on one persistent (keep-alive) connection to the
/// server. Written here rather than pulled in as a crate because the bench
/// needs only fixed requests and status codes, and owning the loop keeps the
/// client's own overhead small and identical for both engines.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
    line: String,
    body: Vec<u8>,
}

/// What a response said about the connection.
struct Answer {
    status: u16,
    close: bool,
}

impl Client {
    /// Connects to the server on 127.0.0.1:`port`.
    fn connect(port: u16) -> Result<Client> {
        let mut client = Client {
            port,
            conn: None,
            line: String::new(),
            body: Vec::new(),
        };
        client.reconnect()?;
        Ok(client)
    }

    fn reconnect(&mut self) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        self.conn = Some(BufReader::with_capacity(16 * 1024, stream));
        Ok(())
    }

    /// Sends `req` and reads the whole response; returns the status code.
    /// A connection the server closed is reopened once and the request resent.
    fn send(&mut self, req: &Request) -> Result<u16> {
        let first = self.try_send(req);
        let answer = match first {
            Ok(a) => a,
            Err(_) => {
                self.reconnect()?;
                self.try_send(req)
                    .with_context(|| format!("{} (after reconnecting)", req.label))?
            }
        };
        if answer.close {
            self.conn = None;
        }
        Ok(answer.status)
    }

    fn try_send(&mut self, req: &Request) -> io::Result<Answer> {
        if self.conn.is_none() {
            self.reconnect().map_err(io::Error::other)?;
        }
        let conn = self.conn.as_mut().expect("connection was just opened");
        conn.get_mut().write_all(&req.bytes)?;
        match read_response(conn, &mut self.line, &mut self.body) {
            Ok(a) => Ok(a),
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one line into `line` (cleared first); EOF is an error.
fn read_line(r: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ));
    }
    Ok(())
}

/// Reads one HTTP/1.1 response (status line, headers, body by
/// `Content-Length` or chunked) from `r`. The body is left in `body`.
fn read_response(
    r: &mut impl BufRead,
    line: &mut String,
    body: &mut Vec<u8>,
) -> io::Result<Answer> {
    read_line(r, line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_data(format!("bad status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = line.starts_with("HTTP/1.0");
    loop {
        read_line(r, line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| bad_data(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    body.clear();
    if chunked {
        loop {
            read_line(r, line)?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| bad_data(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    read_line(r, line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = length {
        body.resize(len, 0);
        r.read_exact(body)?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        // No length: the body runs to the end of the connection.
        r.read_to_end(body)?;
        close = true;
    }
    Ok(Answer { status, close })
}

/// Fails unless `status` is 2xx.
fn expect_ok(req: &Request, status: u16) -> Result<()> {
    ensure!(
        (200..300).contains(&status),
        "{} answered HTTP {status}",
        req.label
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Measurements through the server
// ---------------------------------------------------------------------------

/// p50 and p99 of a set of request latencies.
#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

/// Nearest-rank percentile `p` (0..=1) of ascending `sorted`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The processes whose resources a run measures.
#[derive(Debug, Clone, Copy)]
struct Pids {
    plugin: u32,
    server: u32,
}

/// What one sequential run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Timed requests.
    n: usize,
    latency: Latency,
    /// CPU the plugin process used during the timed requests.
    plugin_cpu: CpuTicks,
    /// CPU the server process used during the timed requests.
    server_cpu: CpuTicks,
    /// The plugin's write system calls during the timed requests.
    plugin_writes: Option<u64>,
}

impl Run {
    /// Microseconds per request of `ticks` spread over this run.
    fn per_request_us(&self, ticks: u64) -> f64 {
        ticks as f64 * 1e6 / clock_ticks_per_sec() / self.n as f64
    }
}

/// Sends `warmup` unmeasured requests, then `n` timed ones, one after the
/// other, and samples the CPU and I/O counters of `pids` around the timed part.
fn sequential(
    client: &mut Client,
    req: &Request,
    warmup: usize,
    n: usize,
    pids: Pids,
) -> Result<Run> {
    for _ in 0..warmup {
        check_interrupted()?;
        expect_ok(req, client.send(req)?)?;
    }
    let mut times = Vec::with_capacity(n);
    let plugin_before = cpu_ticks(pids.plugin)?;
    let server_before = cpu_ticks(pids.server)?;
    let writes_before = write_syscalls(pids.plugin);
    for _ in 0..n {
        check_interrupted()?;
        let start = Instant::now();
        let status = client.send(req)?;
        times.push(start.elapsed());
        expect_ok(req, status)?;
    }
    let server_cpu = cpu_ticks(pids.server)?.since(server_before);
    let plugin_cpu = cpu_ticks(pids.plugin)?.since(plugin_before);
    let plugin_writes = writes_before
        .zip(write_syscalls(pids.plugin))
        .map(|(before, after)| after.saturating_sub(before));
    times.sort_unstable();
    let run = Run {
        n,
        latency: Latency {
            p50: percentile(&times, 0.50),
            p99: percentile(&times, 0.99),
        },
        plugin_cpu,
        server_cpu,
        plugin_writes,
    };
    progress!(
        "  {:<36} p50 {:>7} p99 {:>7}  CPU/request: plugin {:>4.0} µs, server {:>4.0} µs",
        req.label,
        micros(run.latency.p50),
        micros(run.latency.p99),
        run.per_request_us(plugin_cpu.total()),
        run.per_request_us(server_cpu.total()),
    );
    Ok(run)
}

/// Result of a concurrent run.
#[derive(Debug, Clone, Copy)]
struct Throughput {
    per_sec: f64,
    errors: u64,
}

/// `clients` threads, each on its own keep-alive connection, send `req` in a
/// loop for `duration`. Returns the summed rate of successful requests.
fn throughput(req: &Request, clients: usize, duration: Duration) -> Result<Throughput> {
    let barrier = Arc::new(Barrier::new(clients));
    let shared = Arc::new(req.clone());
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let req = Arc::clone(&shared);
            thread::spawn(move || -> Result<(u64, u64, Duration)> {
                let client = Client::connect(req.port);
                // Wait for the others even if connecting failed, or they hang.
                barrier.wait();
                let mut client = client?;
                let (mut ok, mut errors) = (0u64, 0u64);
                let start = Instant::now();
                let deadline = start + duration;
                while Instant::now() < deadline && !INTERRUPTED.load(Ordering::Relaxed) {
                    match client.send(&req) {
                        Ok(s) if (200..300).contains(&s) => ok += 1,
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            // Do not spin on a dead server.
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                Ok((ok, errors, start.elapsed()))
            })
        })
        .collect();
    let mut per_sec = 0.0;
    let mut errors = 0;
    for h in handles {
        let (ok, err, elapsed) = h
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))??;
        per_sec += ok as f64 / elapsed.as_secs_f64();
        errors += err;
    }
    check_interrupted()?;
    progress!(
        "  {:<40} {} req/s{}",
        req.label,
        thousands(per_sec),
        if errors > 0 {
            format!(" ({errors} errors)")
        } else {
            String::new()
        }
    );
    Ok(Throughput { per_sec, errors })
}

// ---------------------------------------------------------------------------
// Facts about the machine and the software
// ---------------------------------------------------------------------------

/// `OpenBao v2.7.2` or similar, from `bao version`.
fn bao_version(server: &BaoServer) -> String {
    let out = server.bao(&["version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        _ => "OpenBao (unknown version)".to_string(),
    }
}

/// The 1-minute load average (`/proc/loadavg`).
fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU model, core count and kernel release.
fn machine() -> Result<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let usable = thread::available_parallelism().map_or(cores, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let cores = if usable != cores {
        format!("{cores} cores ({usable} usable)")
    } else {
        format!("{cores} cores")
    };
    Ok(format!("{model}, {cores}, Linux {kernel}"))
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift to a calendar whose years start on 1 March of year 0, so the leap
    // day is the last day of a year; eras are 400-year cycles of 146,097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Decimal megabytes (10^6 bytes), two decimals.
fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn kb_to_mb(kb: u64) -> String {
    megabytes(kb * 1024)
}

fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn latency_cell(l: Latency) -> String {
    format!("{} / {}", micros(l.p50), micros(l.p99))
}

/// CPU time per request of `ticks` over `run`.
fn cpu_cell(run: &Run, ticks: CpuTicks) -> String {
    format!("{:.0} µs", run.per_request_us(ticks.total()))
}

fn rps_cell(t: Throughput) -> String {
    let errors = if t.errors > 0 {
        format!(" ({} errors)", t.errors)
    } else {
        String::new()
    };
    format!("{} req/s{errors}", thousands(t.per_sec))
}

/// A target cell: the goal and whether it was met.
fn target(goal: &str, met: bool) -> String {
    format!("{goal} {}", if met { "✓" } else { "✗" })
}

fn render(r: &Results, opts: &Options) -> String {
    let n = opts.requests;
    let secs = opts.duration.as_secs_f64();
    let clients = opts.clients;
    let size_metric = if r.size.stripped {
        "binary size (stripped)"
    } else {
        "binary size (as built; `strip` missing)"
    };
    let ping_cpu = r.ping.per_request_us(r.ping.plugin_cpu.total());
    let rows: Vec<[String; 4]> = vec![
        [
            size_metric.into(),
            megabytes(r.size.bytes),
            "n/a (in server)".into(),
            target("< 4 MB", r.size.bytes < 4_000_000),
        ],
        [
            format!("exec-to-handshake (median of {})", opts.handshake_runs),
            millis(r.handshake),
            "n/a".into(),
            target("< 2 ms", r.handshake < Duration::from_millis(2)),
        ],
        [
            "plugin RSS, idle after enable".into(),
            kb_to_mb(r.idle_rss_kb),
            "n/a (in server)".into(),
            target("< 5 MB", r.idle_rss_kb * 1024 < 5_000_000),
        ],
        [
            format!(
                "plugin RSS after {} requests",
                thousands(r.rss_after_count as f64)
            ),
            kb_to_mb(r.rss_after_kb),
            "n/a (in server)".into(),
            String::new(),
        ],
        [
            format!("plugin RSS after the {clients}-client runs"),
            kb_to_mb(r.rss_after_load_kb),
            "n/a (in server)".into(),
            String::new(),
        ],
        [
            "latency p50 / p99: `ping` (plugin) vs kv read (builtin)".into(),
            latency_cell(r.ping.latency),
            latency_cell(r.builtin_read.latency),
            String::new(),
        ],
        [
            "latency p50 / p99: read existing key".into(),
            latency_cell(r.plugin_read.latency),
            latency_cell(r.builtin_read.latency),
            String::new(),
        ],
        [
            "latency p50 / p99: write".into(),
            latency_cell(r.plugin_write.latency),
            latency_cell(r.builtin_write.latency),
            String::new(),
        ],
        [
            "plugin CPU per `ping` (user + system)".into(),
            format!(
                "{} ({:.0} + {:.0})",
                cpu_cell(&r.ping, r.ping.plugin_cpu),
                r.ping.per_request_us(r.ping.plugin_cpu.user),
                r.ping.per_request_us(r.ping.plugin_cpu.system)
            ),
            "n/a".into(),
            target("< 120 µs", ping_cpu < 120.0),
        ],
        [
            "plugin CPU per read / per write".into(),
            format!(
                "{} / {}",
                cpu_cell(&r.plugin_read, r.plugin_read.plugin_cpu),
                cpu_cell(&r.plugin_write, r.plugin_write.plugin_cpu)
            ),
            "n/a".into(),
            String::new(),
        ],
        [
            "server CPU per request: `ping` vs kv read".into(),
            cpu_cell(&r.ping, r.ping.server_cpu),
            cpu_cell(&r.builtin_read, r.builtin_read.server_cpu),
            String::new(),
        ],
        [
            "server CPU per request: read existing key".into(),
            cpu_cell(&r.plugin_read, r.plugin_read.server_cpu),
            cpu_cell(&r.builtin_read, r.builtin_read.server_cpu),
            String::new(),
        ],
        [
            "server CPU per request: write".into(),
            cpu_cell(&r.plugin_write, r.plugin_write.server_cpu),
            cpu_cell(&r.builtin_write, r.builtin_write.server_cpu),
            String::new(),
        ],
        [
            format!("throughput, {clients} clients: `ping` vs kv read"),
            rps_cell(r.rps_ping),
            rps_cell(r.rps_builtin_read),
            String::new(),
        ],
        [
            format!("throughput, {clients} clients: read existing key"),
            rps_cell(r.rps_plugin_read),
            rps_cell(r.rps_builtin_read),
            String::new(),
        ],
    ];

    let mut out = String::new();
    let load = r
        .load_before
        .map(|l| format!(", load average {l:.2} at start"))
        .unwrap_or_default();
    let _ = writeln!(out, "Machine: {}{load}  ", r.machine);
    let _ = writeln!(
        out,
        "Date: {}; {}, example-kv {} (static release build)",
        r.date, r.bao_version, r.plugin_version
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| metric | example-kv (Rust) | builtin kv | target |");
    let _ = writeln!(out, "|---|---|---|---|");
    for [metric, plugin, builtin, goal] in &rows {
        let _ = writeln!(out, "| {metric} | {plugin} | {builtin} | {goal} |");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Latency: {n} sequential requests per operation after {} warm-up, over one \
         keep-alive HTTP/1.1 connection to the dev server (root token), client-side \
         time. CPU: user + system time from /proc/<pid>/stat of the plugin and \
         of the server process over each operation's {n} timed requests (resolution \
         {:.1} µs per request). Throughput: {clients} \
         threads, each on its own keep-alive connection, {secs:.1} s per operation, \
         on the same machine as the server. Builtin kv is the v1 engine mounted at \
         `{BUILTIN_MOUNT}/` in the same server. MB = 10^6 bytes.",
        opts.warmup(),
        1e6 / clock_ticks_per_sec() / n as f64
    );
    let writes = [
        ("`ping`", &r.ping),
        ("read", &r.plugin_read),
        ("write", &r.plugin_write),
    ]
    .iter()
    .filter_map(|(what, run)| {
        let calls = run.plugin_writes?;
        Some(format!("{what} {:.1}", calls as f64 / run.n as f64))
    })
    .collect::<Vec<_>>();
    if !writes.is_empty() {
        let _ = writeln!(
            out,
            "\nPlugin write system calls per request (syscw of /proc/<pid>/io): {}.",
            writes.join(", ")
        );
    }
    if r.plugin_restarted {
        let _ = writeln!(
            out,
            "\n**Warning:** the plugin process changed during the run (it was restarted); \
             memory and CPU figures may be wrong."
        );
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    fn parse(raw: &[u8]) -> (u16, bool, Vec<u8>) {
        let mut r = BufReader::new(raw);
        let (mut line, mut body) = (String::new(), Vec::new());
        let a = read_response(&mut r, &mut line, &mut body).expect("parse");
        (a.status, a.close, body)
    }

    #[test]
    fn reads_back_to_back_responses_on_one_connection() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 204 No Content\r\n\r\n\
                    HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let (mut line, mut body) = (String::new(), Vec::new());
        let a = read_response(&mut r, &mut line, &mut body).expect("first");
        assert_eq!((a.status, a.close, &body[..]), (200, false, &b"{}"[..]));
        let a = read_response(&mut r, &mut line, &mut body).expect("second");
        assert_eq!((a.status, body.len()), (204, 0));
        let a = read_response(&mut r, &mut line, &mut body).expect("third");
        assert_eq!((a.status, &body[..]), (200, &b"abcd"[..]));
    }

    #[test]
    fn connection_close_and_truncation() {
        let (status, close, _) =
            parse(b"HTTP/1.1 400 Bad\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((status, close), (400, true));
        let mut r = BufReader::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..]);
        let (mut line, mut body) = (String::new(), Vec::new());
        assert!(read_response(&mut r, &mut line, &mut body).is_err());
    }

    #[test]
    fn request_encoding() {
        let req = Request::new(8200, "POST", "/v1/a/b", Some("{\"x\":1}"));
        let text = String::from_utf8(req.bytes.clone()).expect("utf8");
        assert!(text.starts_with("POST /v1/a/b HTTP/1.1\r\n"));
        assert!(text.contains("\r\nContent-Length: 7\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"x\":1}"));
        assert_eq!(req.port, 8200);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_micros(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn proc_parsing() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(CpuTicks { user: 7, system: 5 }));
        let io = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 0\n";
        assert_eq!(parse_syscw(io), Some(4));
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    3072 kB\n";
        assert_eq!(parse_vm_rss_kb(status), Some(3072));
    }

    #[test]
    fn options() {
        let parse = |a: &[&str]| Options::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(parse(&[]).expect("ok"), Some(Options::default()));
        let o = parse(&["--requests", "10", "--duration=0.5", "--clients", "4"])
            .expect("ok")
            .expect("not help");
        assert_eq!(o.requests, 10);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.clients, 4);
        assert_eq!(o.warmup(), 100);
        assert_eq!(parse(&["--help"]).expect("ok"), None);
        assert!(parse(&["--requests", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--requests"]).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_709_210_096), "2024-02-29 12:34 UTC");
        assert_eq!(format_utc(4_107_542_400), "2100-03-01 00:00 UTC");
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(megabytes(6_366_656), "6.37 MB");
    }
}
