//! Help and OpenAPI of a plugin inside a real OpenBao 2.7.2: what `bao
//! path-help` prints on the plugin's paths, and what the server's
//! `/v1/sys/internal/specs/openapi` (which its UI and client generators
//! read) says about them, checked with an independent OpenAPI validator
//! (`scripts/validate-openapi.py`).
//!
//! The expectations about `example-kv` are in the tables below; when the
//! plugin grows a path, add a row.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use integration_tests::{BaoServer, crate_version, plugin_binary, workspace_root};
use serde_json::Value;

const NAME: &str = "example-kv";
const BIN: &str = "vault-plugin-example-kv";
const MOUNT: &str = "kv-a";

/// The start of the backend help, as `bao path-help <mount>/` shows it.
const BACKEND_HELP: &str = "A key/value store";

/// The patterns `bao path-help <mount>/` lists.
const PATTERNS: &[&str] = &[
    "kv/{name}",
    "kv/?",
    "ping",
    "info",
    "config",
    "role/{name}",
    "role/?",
    "creds/{name}",
];

/// (request path inside the mount, text `bao path-help` must print).
const PATH_HELP: &[(&str, &[&str])] = &[
    (
        "kv/foo",
        &[
            "Request:        kv/foo",
            "Matching Route: kv/{name}",
            "Read, write or delete one entry.",
            "## PARAMETERS",
            "    name (string",
            "        Taken from the request path.",
            "## DESCRIPTION",
            "Writing stores every given field",
        ],
    ),
    (
        "role/dev",
        &[
            "Matching Route: role/{name}",
            "    name (",
            "    ttl (duration (seconds))",
            "        Lease TTL of issued keys",
            "    max_ttl (duration (seconds))",
        ],
    ),
    (
        "ping",
        &["Matching Route: ping", "Answer without touching storage."],
    ),
    (
        "info",
        &[
            "Matching Route: info",
            "Show what the host says about this mount.",
        ],
    ),
];

/// (OpenAPI path under the mount, method, operation id, path parameters).
const OPERATIONS: &[(&str, &str, &str, &[&str])] = &[
    ("kv/{name}", "get", "example-kv-read-kv-name", &["name"]),
    ("kv/{name}", "post", "example-kv-write-kv-name", &["name"]),
    (
        "kv/{name}",
        "delete",
        "example-kv-delete-kv-name",
        &["name"],
    ),
    ("kv", "get", "example-kv-list-kv", &[]),
    ("ping", "get", "example-kv-read-ping", &[]),
    ("role/{name}", "get", "example-kv-read-role-name", &["name"]),
    (
        "role/{name}",
        "post",
        "example-kv-write-role-name",
        &["name"],
    ),
    ("role", "get", "example-kv-list-role", &[]),
    (
        "creds/{name}",
        "get",
        "example-kv-read-creds-name",
        &["name"],
    ),
    ("config", "post", "example-kv-write-config", &[]),
    ("info", "get", "example-kv-read-info", &[]),
];

fn server() -> BaoServer {
    let server = BaoServer::start();
    server.install_plugin(
        "secret",
        NAME,
        &plugin_binary(BIN),
        &crate_version("plugins/example-kv"),
    );
    server.enable_secrets(NAME, MOUNT);
    server
}

/// The python that has openapi-spec-validator, from
/// `scripts/install-openapi-validator.sh` (installed into `.cache/` once).
fn validator_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(install_validator).clone()
}

fn install_validator() -> PathBuf {
    let script = workspace_root().join("scripts/install-openapi-validator.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({})",
        script.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    PathBuf::from(last.unwrap_or_default().trim())
}

/// Runs `scripts/validate-openapi.py [args] <doc>`; returns whether it
/// passed and what it printed.
fn validate(doc: &Value, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let script = workspace_root().join("scripts/validate-openapi.py");
    let out = Command::new(validator_python())
        .arg(&script)
        .args(args)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn path_help_prints_synopsis_parameters_and_description() {
    let server = server();
    for (path, wants) in PATH_HELP {
        let text = server.bao_ok(&["path-help", &format!("{MOUNT}/{path}")]);
        for want in *wants {
            assert!(
                text.contains(want),
                "path-help {path}: no {want:?} in:\n{text}"
            );
        }
    }
}

#[test]
fn path_help_on_the_mount_prints_the_backend_help_and_its_paths() {
    let server = server();
    let text = server.bao_ok(&["path-help", &format!("{MOUNT}/")]);
    assert!(text.contains(BACKEND_HELP), "{text}");
    for pattern in PATTERNS {
        let line = format!("\n    {pattern}\n");
        assert!(text.contains(&line), "no {pattern}:\n{text}");
    }
    // A path the plugin does not serve gets the same overview.
    let other = server.bao_ok(&["path-help", &format!("{MOUNT}/no/such/path")]);
    assert!(other.contains(BACKEND_HELP), "{other}");
}

#[test]
fn server_openapi_has_the_plugin_paths_under_the_mount_and_validates() {
    let server = server();
    let (status, doc) = server.http("GET", "sys/internal/specs/openapi", None);
    assert_eq!(status, 200, "{doc}");
    let paths = &doc["paths"];

    for (path, method, id, params) in OPERATIONS {
        let full = format!("/{MOUNT}/{path}");
        let item = &paths[&full];
        assert!(item.is_object(), "no {full} in the server's OpenAPI");
        let op = &item[*method];
        assert_eq!(op["operationId"], *id, "{method} {full}: {op}");
        assert_eq!(op["tags"][0], "secrets", "{method} {full}: {op}");
        for param in *params {
            let found = item["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == *param);
            let Some(found) = found else {
                panic!("{full}: no parameter {param}: {item}");
            };
            assert_eq!(found["in"], "path", "{full}: {found}");
            assert_eq!(found["required"], true, "{full}: {found}");
        }
    }
    // Listing is a GET with the required `list=true` flag.
    let list = &paths[format!("/{MOUNT}/kv")]["get"]["parameters"][0];
    assert_eq!(list["name"], "list", "{list}");
    assert_eq!(list["required"], true, "{list}");
    // Writes to an entry can create it.
    assert_eq!(
        paths[format!("/{MOUNT}/kv/{{name}}")]["x-vault-createSupported"],
        true
    );

    // Our part of the server's document is valid OpenAPI 3 on its own...
    let (ok, out) = validate(&doc, &["--prefix", &format!("/{MOUNT}/")]);
    assert!(
        ok,
        "the plugin's paths in the server's OpenAPI are invalid:\n{out}"
    );
    // ...and the whole document has no problem that mentions our plugin
    // (OpenBao's built-in mounts have a few of their own).
    let (_, out) = validate(&doc, &[]);
    for line in out.lines() {
        assert!(
            !line.contains(MOUNT) && !line.contains(NAME),
            "the server's OpenAPI has a problem with our plugin: {line}\n{out}"
        );
    }
}

#[test]
fn help_requests_answer_the_plugin_document_and_it_validates() {
    let server = server();
    // `?help=1` is the API form of path-help: help text plus the OpenAPI of
    // the mount (on its root) or of one path.
    let (status, root) = server.http("GET", &format!("{MOUNT}/?help=1"), None);
    assert_eq!(status, 200, "{root}");
    assert!(
        root["help"]
            .as_str()
            .unwrap_or_default()
            .contains(BACKEND_HELP),
        "{root}"
    );
    let doc = &root["openapi"];
    assert_eq!(doc["openapi"], "3.0.2", "{doc}");
    assert_eq!(
        doc["info"]["description"]
            .as_str()
            .map(|d| d.contains(BACKEND_HELP)),
        Some(true),
        "{doc}"
    );
    for (path, ..) in OPERATIONS {
        assert!(
            doc["paths"][format!("/{path}")].is_object(),
            "no /{path}: {doc}"
        );
    }
    let (ok, out) = validate(doc, &[]);
    assert!(ok, "the plugin's own OpenAPI is invalid:\n{out}");

    let (status, one) = server.http("GET", &format!("{MOUNT}/kv/foo?help=1"), None);
    assert_eq!(status, 200, "{one}");
    let keys: Vec<&String> = one["openapi"]["paths"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["/kv/{name}"], "{one}");
    let (ok, out) = validate(&one["openapi"], &[]);
    assert!(ok, "the OpenAPI of kv/{{name}} is invalid:\n{out}");
}
