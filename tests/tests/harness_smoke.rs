//! Proves the harness itself against the real OpenBao server, using only the
//! builtin `kv` engine (no plugin of ours involved).

use integration_tests::{BaoServer, bao_binary};
use serde_json::json;

#[test]
fn harness_drives_builtin_kv_via_cli_and_http() {
    let server = BaoServer::start();
    assert!(server.addr().starts_with("http://127.0.0.1:"));
    assert!(
        std::fs::read_dir(server.plugin_dir())
            .expect("plugin dir exists")
            .next()
            .is_none(),
        "plugin dir must start empty"
    );

    server.bao_ok(&["secrets", "enable", "-path=kv2", "kv"]);

    // Write with the CLI, read back with the CLI and over HTTP.
    server.bao_ok(&["write", "kv2/hello", "value=world"]);
    let read = server.bao_json(&["read", "kv2/hello"]);
    assert_eq!(read["data"]["value"], "world", "CLI read: {read}");

    let (status, body) = server.http("GET", "kv2/hello", None);
    assert_eq!(status, 200, "HTTP read: {body}");
    assert_eq!(body["data"]["value"], "world", "HTTP read: {body}");

    // Write over HTTP, read back with the CLI.
    let (status, body) = server.http("POST", "/v1/kv2/other", Some(&json!({"n": "42"})));
    assert_eq!(status, 204, "HTTP write: {body}");
    let read = server.bao_json(&["read", "kv2/other"]);
    assert_eq!(read["data"]["n"], "42", "CLI read: {read}");

    // LIST and a missing key.
    let (status, body) = server.http("LIST", "kv2", None);
    assert_eq!(status, 200, "HTTP list: {body}");
    let mut keys: Vec<&str> = body["data"]["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["hello", "other"]);

    let (status, _) = server.http("GET", "kv2/missing", None);
    assert_eq!(status, 404);
    let missing = server.bao(&["read", "kv2/missing"]);
    assert!(!missing.status.success(), "reading a missing key must fail");

    // Without a token the API refuses.
    let (status, _) = server.http_as(None, "GET", "kv2/hello", None);
    assert_eq!(status, 403);

    let log = server.log_contents();
    assert!(!log.is_empty(), "server log must not be empty");
    assert!(log.contains("kv2/"), "log should mention the new mount");
}

#[test]
fn servers_run_side_by_side() {
    let a = BaoServer::start();
    let b = BaoServer::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.plugin_dir(), b.plugin_dir());
    a.bao_ok(&["secrets", "enable", "-path=only-a", "kv"]);
    let mounts = b.bao_json(&["secrets", "list"]);
    assert!(
        mounts.get("only-a/").is_none(),
        "servers must not share state"
    );
    let mounts = a.bao_json(&["secrets", "list"]);
    assert!(mounts.get("only-a/").is_some(), "mount list: {mounts}");
}

#[test]
fn dropping_the_server_stops_it() {
    let server = BaoServer::start();
    let port = server.port();
    let log_dir = server.log_path().parent().expect("log dir").to_path_buf();
    drop(server);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepting after drop"
    );
    assert!(!log_dir.exists(), "temp dir must be removed");
}

#[test]
fn bao_binary_is_pinned_openbao() {
    let bin = bao_binary();
    let out = std::process::Command::new(&bin)
        .arg("version")
        .output()
        .expect("run bao version");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OpenBao v2.7.2"),
        "unexpected version: {text}"
    );
}
