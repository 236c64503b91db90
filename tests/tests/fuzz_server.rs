//! Hostile input through the real server: random requests to every path of
//! every plugin, all six mounted on one OpenBao dev server and configured
//! against their fakes ([`Fleet`]).
//!
//! The paths come from the server's OpenAPI document; each case picks one,
//! fills its captures with odd segments (unicode, `..`, encoded slashes and
//! NULs, very long ones), picks an operation (mostly one the path has,
//! sometimes any) and sends a body of random field names and values (every
//! JSON type, unicode, control characters, huge numbers, durations, up to
//! the 4 MiB request limit) or bytes that are no JSON at all. Properties:
//!
//! - no 5xx caused by input: a 5xx passes only when the error says an
//!   upstream (a fake) itself answered 5xx, or when the request pointed the
//!   plugin at another upstream (address, CA, proxy, timeout fields) and the
//!   error says that upstream cannot be reached (see `not_input_caused`);
//! - a mutation that fails changes nothing: after every failed write or
//!   delete on a mount, its config and roles read back as before (a
//!   successful one that touched them is undone by writing them again);
//! - at the end: no plugin panicked (the SDK's `handler panicked`, Rust's
//!   `panicked at` in the server log), no plugin process restarted (same
//!   pids), every config and role reads back exactly, every plugin still
//!   mints and revokes a credential; and the harness's leak check runs when
//!   the server is dropped.
//!
//! Paths that rotate a root credential are left out: any body is valid
//! there, and a rotation makes the setup's config impossible to write again.
//!
//! A failing case is shrunk by proptest to a minimal request, which the
//! failure message shows. `FUZZ_CASES` (default 3000) or `FUZZ_MINUTES` sets
//! the length; `scripts/fuzz-server.sh` runs a long one. `FUZZ_KEEP_GOING`
//! makes a run go on after a failing case and list them all at the end.
//! `FUZZ_SEED` picks the cases (fixed by default, so CI is repeatable; the
//! script draws a new one and prints it).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use integration_tests::fleet::{Fleet, Mounted};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Map, Value, json};

/// Cases of the bounded run (about a minute on a loaded 2-core box).
const DEFAULT_CASES: u32 = 3000;
/// The largest request body sent: the 4 MiB request limit.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Lines in the server log that mean a plugin panicked.
const PANIC_MARKERS: &[&str] = &["handler panicked", "panicked at"];
/// Methods the fuzzer may use on any path.
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "LIST", "PATCH"];

/// One OpenAPI path of a plugin mount.
#[derive(Debug, Clone)]
struct Endpoint {
    /// Index of the plugin in the fleet.
    plugin: usize,
    /// Segments; `None` is a capture.
    segments: Vec<Option<String>>,
    /// HTTP methods the path has.
    methods: Vec<&'static str>,
    /// Request body fields of its writes.
    fields: Vec<String>,
}

/// The paths of every plugin mount of the fleet, from the server's OpenAPI.
fn endpoints(fleet: &Fleet) -> Vec<Endpoint> {
    let openapi = fleet
        .server
        .openapi()
        .expect("the server's OpenAPI document");
    let paths = openapi["paths"].as_object().expect("OpenAPI paths");
    let mut out = Vec::new();
    for (index, mounted) in fleet.plugins.iter().enumerate() {
        let prefix = format!("/{}/", mounted.mount);
        // Rotating a root credential is valid with any body and leaves the
        // setup's config unrestorable (its secret is gone upstream): skipped.
        let fuzzed = |p: &String| p.starts_with(&prefix) && !p.contains("rotate");
        for (path, item) in paths.iter().filter(|(p, _)| fuzzed(p)) {
            let mut methods = Vec::new();
            let mut fields = Vec::new();
            for (op, spec) in item.as_object().into_iter().flatten() {
                match op.as_str() {
                    "get" => {
                        methods.push("GET");
                        let list = spec["parameters"].as_array().into_iter().flatten();
                        if list.into_iter().any(|p| p["name"] == "list") {
                            methods.push("LIST");
                        }
                    }
                    "post" => methods.push("POST"),
                    "delete" => methods.push("DELETE"),
                    "patch" => methods.push("PATCH"),
                    _ => continue,
                }
                let schema = &spec["requestBody"]["content"]["application/json"]["schema"];
                fields.extend(
                    schema["properties"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
            let segments = path
                .trim_matches('/')
                .split('/')
                .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                .collect();
            out.push(Endpoint {
                plugin: index,
                segments,
                methods,
                fields,
            });
        }
    }
    out
}

/// A generated request, before it is sent.
#[derive(Debug, Clone)]
struct Case {
    endpoint: usize,
    method: &'static str,
    /// One per capture of the endpoint's path (extra ones are unused).
    captures: Vec<String>,
    body: Body,
}

/// What a case sends as its body.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    /// One field holding `count` copies of `unit` (up to [`MAX_BODY`]).
    Huge {
        field: String,
        unit: String,
        count: usize,
    },
    /// Bytes that are not a JSON object.
    Raw(Vec<u8>),
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::None => Vec::new(),
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Huge { field, unit, count } => {
                let value = unit.repeat(*count);
                json!({ field.as_str(): value }).to_string().into_bytes()
            }
            Body::Raw(bytes) => bytes.clone(),
        }
    }
}

/// Strings that tend to break parsers, durations, paths and upstream URLs.
/// Fixed ones are shorter than the leak check's minimum, longer ones are
/// random: a value the fuzzer sends to a secret field in one case and to an
/// echoed field in another would otherwise read as a leak.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\u{0}".to_owned()),
        Just("-1s".to_owned()),
        Just("1e400".to_owned()),
        "[0-9]{12,24}[hms]",
        Just("../..".to_owned()),
        Just("%00".to_owned()),
        Just("\u{202e}rtl".to_owned()),
        Just("🦀".to_owned()),
        Just("http:[".to_owned()),
        "https?://[a-z0-9.:\\[\\]@%/]{8,30}",
        Just(",,,".to_owned()),
        Just("a,b:c".to_owned()),
        Just("null".to_owned()),
        "[a-z]{1,8}",
        "\\PC{0,40}",
        any::<String>(),
        "[\\x00-\\x1f]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field name: mostly one the path declares, else anything.
fn field_name(fields: Vec<String>) -> BoxedStrategy<String> {
    if fields.is_empty() {
        nasty_string().boxed()
    } else {
        prop_oneof![3 => prop::sample::select(fields), 1 => nasty_string()].boxed()
    }
}

fn body(fields: Vec<String>) -> impl Strategy<Value = Body> {
    let object = prop::collection::vec((field_name(fields.clone()), json_value()), 0..8)
        .prop_map(|pairs| Body::Json(Value::Object(pairs.into_iter().collect::<Map<_, _>>())));
    let huge = (field_name(fields), "[a-zA-Z0-9]{15}\\PC", 0..=MAX_BODY / 16).prop_map(
        |(field, unit, count)| {
            // Keep the whole body within the limit, escapes included.
            let count = count.min((MAX_BODY - 64 - field.len()) / unit.len() / 2);
            Body::Huge { field, unit, count }
        },
    );
    let raw = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        Just(b"{\"a\":".to_vec()),
        Just(b"{\"a\":1,\"a\":2}".to_vec()),
        Just(vec![b'['; 10_000]),
    ]
    .prop_map(Body::Raw);
    prop_oneof![
        6 => object,
        1 => Just(Body::None),
        1 => huge,
        2 => raw,
    ]
}

/// A path segment for a capture.
fn capture() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_-]{1,16}",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just(String::new()),
        1 => Just("a/b".to_owned()),
        1 => Just("x".repeat(2000)),
        2 => "\\PC{1,24}",
        1 => any::<String>(),
    ]
}

fn case(endpoints: &[Endpoint]) -> impl Strategy<Value = Case> + use<> {
    let endpoints = endpoints.to_vec();
    (0..endpoints.len()).prop_flat_map(move |index| {
        let endpoint = &endpoints[index];
        let own: Vec<&'static str> = endpoint.methods.clone();
        let method = if own.is_empty() {
            prop::sample::select(METHODS).boxed()
        } else {
            prop_oneof![4 => prop::sample::select(own), 1 => prop::sample::select(METHODS)].boxed()
        };
        (
            Just(index),
            method,
            prop::collection::vec(capture(), 3),
            body(endpoint.fields.clone()),
        )
            .prop_map(|(endpoint, method, captures, body)| Case {
                endpoint,
                method,
                captures,
                body,
            })
    })
}

/// The request path of a case (captures percent-encoded, or raw when they
/// are already escapes the fuzzer means to send as such).
fn request_path(fleet: &Fleet, endpoint: &Endpoint, captures: &[String]) -> String {
    let _ = fleet;
    let mut next = captures.iter();
    endpoint
        .segments
        .iter()
        .map(|segment| match segment {
            Some(literal) => literal.clone(),
            None => {
                let value = next.next().map(String::as_str).unwrap_or("");
                utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Fields that say where and how an upstream is reached.
const UPSTREAM_FIELDS: &[&str] = &[
    "url",
    "pachd_address",
    "proxmox_url",
    "upstream_url",
    "iam_endpoint",
    "user_management_endpoint",
    "proxy_server",
    "proxy",
    "ca_cert",
    "timeout",
    "request_timeout",
];
/// How a plugin says it could not talk to an upstream at all.
const UNREACHABLE: &[&str] = &[
    "cannot be reached",
    "could not reach",
    "TLS with",
    "did not answer",
    "the connection to",
];

/// Why a 5xx answer is no input error, if it is none: the upstream (a
/// fake) answered 5xx by itself, or the request itself pointed the plugin
/// at another upstream address (or CA, proxy, timeout) and the plugin says
/// it cannot reach that one: a 502 naming the upstream is the right answer
/// there.
fn not_input_caused(case: &Case, text: &str) -> Option<&'static str> {
    if (0..100).any(|n| text.contains(&format!("answered {}", 500 + n))) {
        return Some("upstream answered 5xx");
    }
    let Body::Json(Value::Object(fields)) = &case.body else {
        return None;
    };
    let redirected = UPSTREAM_FIELDS.iter().any(|f| fields.contains_key(*f));
    (redirected && UNREACHABLE.iter().any(|u| text.contains(u)))
        .then_some("unreachable upstream address from the request")
}

/// The run: the fleet, its endpoints, and what its reference paths read.
struct Run {
    fleet: Fleet,
    endpoints: Vec<Endpoint>,
    expected: BTreeMap<String, (u16, Value)>,
    statuses: BTreeMap<u16, u64>,
    upstream_5xx: BTreeMap<&'static str, u64>,
}

impl Run {
    fn reference_of(&self, plugin: usize) -> Vec<(String, Value)> {
        let mounted: &Mounted = &self.fleet.plugins[plugin];
        mounted
            .reference
            .iter()
            .map(|(p, body)| (format!("{}/{p}", mounted.mount), body.clone()))
            .collect()
    }

    fn read(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.fleet.server.http("GET", path, None);
        (status, body["data"].clone())
    }

    /// Sends one case and checks it; see the module doc.
    fn check(&mut self, case: &Case) -> Result<(), TestCaseError> {
        let endpoint = &self.endpoints[case.endpoint];
        let path = request_path(&self.fleet, endpoint, &case.captures);
        let body = case.body.bytes();
        let label = format!("{} /v1/{path} ({} byte body)", case.method, body.len());
        let answer = self.fleet.server.http_raw(
            Some(integration_tests::ROOT_TOKEN),
            case.method,
            &path,
            &body,
        );
        let (status, text) = answer.map_err(|e| TestCaseError::fail(format!("{label}: {e:#}")))?;
        *self.statuses.entry(status).or_default() += 1;
        if status >= 500 {
            if let Some(why) = not_input_caused(case, &text) {
                *self.upstream_5xx.entry(why).or_default() += 1;
            } else {
                return Err(TestCaseError::fail(format!(
                    "{label}: HTTP {status} caused by input: {}",
                    integration_tests::excerpt(&text)
                )));
            }
        }
        if case.method == "GET" || case.method == "LIST" {
            return Ok(());
        }
        let succeeded = (200..300).contains(&status);
        for (reference, original) in self.reference_of(endpoint.plugin) {
            let now = self.read(&reference);
            let before = &self.expected[&reference];
            if &now == before {
                continue;
            }
            if !succeeded {
                return Err(TestCaseError::fail(format!(
                    "{label} failed with HTTP {status} but changed {reference}: \
                     was {before:?}, now {now:?}"
                )));
            }
            // A valid change of the reference state: write it back.
            self.fleet.server.http("DELETE", &reference, None);
            let (status, answer) = self.fleet.server.http("POST", &reference, Some(&original));
            if !(200..300).contains(&status) {
                return Err(TestCaseError::fail(format!(
                    "after {label}: restoring {reference}: HTTP {status}: {answer}"
                )));
            }
            let restored = self.read(&reference);
            self.expected.insert(reference, restored);
        }
        Ok(())
    }
}

fn plugin_pids(fleet: &Fleet) -> BTreeMap<&'static str, Vec<u32>> {
    fleet
        .plugins
        .iter()
        .map(|m| (m.plugin, fleet.server.plugin_pids(m.plugin)))
        .collect()
}

/// The run's seed: `FUZZ_SEED`, else a fixed one, so the bounded run in CI
/// sends the same cases every time (a failure there is reproducible).
fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026)
}

fn length() -> (u32, Option<Duration>) {
    let minutes = std::env::var("FUZZ_MINUTES")
        .ok()
        .and_then(|m| m.parse::<f64>().ok());
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok());
    match (minutes, cases) {
        (Some(m), _) => (u32::MAX, Some(Duration::from_secs_f64(m * 60.0))),
        (None, Some(c)) => (c, None),
        (None, None) => (DEFAULT_CASES, None),
    }
}

#[test]
fn hostile_requests_to_every_plugin_path_get_no_5xx_panic_restart_or_corruption() {
    let fleet = Fleet::start();
    let endpoints = endpoints(&fleet);
    assert!(
        fleet
            .plugins
            .iter()
            .enumerate()
            .all(|(i, _)| endpoints.iter().any(|e| e.plugin == i)),
        "every plugin has paths in the OpenAPI document"
    );
    let pids = plugin_pids(&fleet);
    assert!(
        pids.values().all(|p| p.len() == 1),
        "one process per plugin: {pids:?}"
    );
    let expected = fleet
        .reference_reads()
        .into_iter()
        .map(|(path, status, data)| (path, (status, data)))
        .collect();
    let strategy = case(&endpoints);
    let run = RefCell::new(Run {
        fleet,
        endpoints,
        expected,
        statuses: BTreeMap::new(),
        upstream_5xx: BTreeMap::new(),
    });

    let (cases, minutes) = length();
    let deadline = minutes.map(|m| Instant::now() + m);
    let started = Instant::now();
    let sent = Cell::new(0u64);
    let keep_going = std::env::var_os("FUZZ_KEEP_GOING").is_some();
    let mut failures = Vec::new();
    let batch = cases.min(200);
    let seed = seed();
    let mut batches = 0u64;
    let mut left = cases;
    while left > 0 && deadline.is_none_or(|d| Instant::now() < d) {
        let this = batch.min(left);
        left = left.saturating_sub(this);
        let config = Config {
            cases: this,
            failure_persistence: None,
            max_shrink_iters: 200,
            ..Config::default()
        };
        // Each batch its own stream of the run's seed: CI repeats the same
        // cases, a long run (scripts/fuzz-server.sh) picks a new seed.
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&batches.to_le_bytes());
        batches += 1;
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&strategy, |case| {
            sent.set(sent.get() + 1);
            run.borrow_mut().check(&case)
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, case)) => {
                let body = String::from_utf8_lossy(&case.body.bytes())
                    .chars()
                    .take(300)
                    .collect::<String>();
                failures.push(format!(
                    "{why}\n  minimal case (FUZZ_SEED={seed}): {} {:?} captures {:?} body {body}",
                    case.method,
                    run.borrow().endpoints[case.endpoint].segments,
                    case.captures,
                ));
                if !keep_going {
                    break;
                }
            }
            Err(TestError::Abort(why)) => panic!("fuzzing aborted: {why}"),
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz cases failed:\n{}",
        failures.join("\n")
    );

    let run = run.into_inner();
    let sent = sent.get();
    let fleet = &run.fleet;
    let log = fleet.server.log_contents();
    let panics: Vec<&str> = log
        .lines()
        .filter(|l| PANIC_MARKERS.iter().any(|m| l.contains(m)))
        .take(5)
        .collect();
    assert!(
        panics.is_empty(),
        "a plugin panicked:\n{}",
        panics.join("\n")
    );
    assert_eq!(plugin_pids(fleet), pids, "a plugin process restarted");
    let reads: BTreeMap<String, (u16, Value)> = fleet
        .reference_reads()
        .into_iter()
        .map(|(path, status, data)| (path, (status, data)))
        .collect();
    assert_eq!(reads, run.expected, "config or roles changed");
    for mounted in &fleet.plugins {
        let credential = fleet
            .mint(mounted)
            .unwrap_or_else(|e| panic!("{} cannot mint after the run: {e:#}", mounted.plugin));
        fleet
            .revoke(&credential)
            .unwrap_or_else(|e| panic!("{} cannot revoke after the run: {e:#}", mounted.plugin));
    }
    let mut summary = String::new();
    for (status, count) in &run.statuses {
        let _ = write!(summary, " {status}:{count}");
    }
    eprintln!(
        "fuzz: {sent} requests in {:.0?} to {} paths of {} plugins; statuses{summary}; \
         5xx not caused by input: {:?}",
        started.elapsed(),
        run.endpoints.len(),
        fleet.plugins.len(),
        run.upstream_5xx
    );
}
