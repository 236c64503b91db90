//! The example plugin inside a real OpenBao 2.7.2: what an operator does
//! (register by sha256 with a version, enable, use, reload) and what goes
//! wrong in the field (a killed plugin, large values, bad input, TCP).

use std::time::Duration;

use integration_tests::{BaoServer, crate_version, plugin_binary};
use serde_json::{Value, json};

const NAME: &str = "example-kv";
const BIN: &str = "vault-plugin-example-kv";

fn version() -> String {
    crate_version("plugins/example-kv")
}

fn server_with_plugin(mounts: &[&str]) -> BaoServer {
    let server = BaoServer::start();
    server.install_plugin("secret", NAME, &plugin_binary(BIN), &version());
    for mount in mounts {
        server.enable_secrets(NAME, mount);
    }
    server
}

/// A server with the plugin at `kv/`, `kv/kv/x` holding `value`, and the
/// pid of the one plugin process.
fn server_with_entry(value: &str) -> (BaoServer, u32) {
    let server = server_with_plugin(&["kv"]);
    server.bao_ok(&["write", "kv/kv/x", &format!("value={value}")]);
    let pids = server.plugin_pids(NAME);
    assert_eq!(pids.len(), 1, "one plugin process: {pids:?}");
    (server, pids[0])
}

#[test]
fn registered_version_is_reported_and_one_process_serves_two_mounts() {
    let server = server_with_plugin(&["kv-a", "kv-b"]);
    let info = server.bao_json(&[
        "plugin",
        "info",
        &format!("-version={}", version()),
        "secret",
        NAME,
    ]);
    assert_eq!(info["version"], version(), "{info}");

    server.bao_ok(&["write", "kv-a/kv/only-a", "value=1"]);
    server.bao_ok(&["write", "kv-b/kv/only-b", "value=2"]);
    assert_eq!(server.bao_json(&["list", "kv-a/kv"]), json!(["only-a"]));
    assert_eq!(server.bao_json(&["list", "kv-b/kv"]), json!(["only-b"]));
    // The mount's type is the plugin, at the registered version.
    let mounts = server.bao_json(&["secrets", "list", "-detailed"]);
    assert_eq!(mounts["kv-a/"]["type"], NAME, "{mounts}");
    assert_eq!(mounts["kv-a/"]["plugin_version"], version(), "{mounts}");
    assert_eq!(
        server.plugin_pids(NAME).len(),
        1,
        "multiplexing: one process for both mounts"
    );

    // Disabling one mount leaves the other working (per-mount state dropped).
    server.bao_ok(&["secrets", "disable", "kv-a"]);
    let read = server.bao_json(&["read", "kv-b/kv/only-b"]);
    assert_eq!(read["data"]["value"], "2", "{read}");
}

#[test]
fn write_read_list_delete_through_the_cli_and_http() {
    let server = server_with_plugin(&["kv"]);
    server.bao_ok(&["write", "kv/kv/hello", "value=world", "n=3"]);
    let read = server.bao_json(&["read", "kv/kv/hello"]);
    assert_eq!(read["data"], json!({"value": "world", "n": "3"}), "{read}");
    // Writing again updates (the existence check turns it into update).
    server.bao_ok(&["write", "kv/kv/hello", "value=again"]);
    let (status, body) = server.http("GET", "kv/kv/hello", None);
    assert_eq!(
        (status, &body["data"]),
        (200, &json!({"value": "again"})),
        "{body}"
    );

    let (status, body) = server.http("POST", "kv/kv/other", Some(&json!({"n": 1})));
    assert_eq!(
        status, 204,
        "an empty response is a 204, not a JSON error: {body}"
    );
    assert_eq!(
        server.bao_json(&["list", "kv/kv"]),
        json!(["hello", "other"])
    );

    let ping = server.bao_json(&["read", "kv/ping"]);
    assert_eq!(ping["data"]["message"], "pong", "{ping}");

    let (status, _) = server.http("DELETE", "kv/kv/hello", None);
    assert_eq!(status, 204);
    let (status, body) = server.http("GET", "kv/kv/hello", None);
    assert_eq!(status, 404, "a missing entry is a 404: {body}");
    let out = server.bao(&["read", "kv/kv/hello"]);
    assert!(!out.status.success());
}

#[test]
fn a_four_mib_value_round_trips() {
    let server = server_with_plugin(&["kv"]);
    let big: String = (0..4 * 1024 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let file = server.plugin_dir().with_file_name("big-value.txt");
    std::fs::write(&file, &big).expect("write the big value");
    server.bao_ok(&["write", "kv/kv/big", &format!("value=@{}", file.display())]);
    let (status, body) = server.http("GET", "kv/kv/big", None);
    assert_eq!(status, 200);
    let got = body["data"]["value"].as_str().expect("value is a string");
    assert_eq!(got.len(), big.len());
    assert!(got == big, "the 4 MiB value came back changed");
}

#[test]
fn bad_input_gets_a_400_with_a_clear_message_and_changes_nothing() {
    let server = server_with_plugin(&["kv"]);
    server.bao_ok(&["write", "kv/kv/keep", "value=1"]);
    let (status, body) = server.http("POST", "kv/kv/keep", Some(&json!({})));
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(errors.contains("nothing to write"), "{body}");
    let read = server.bao_json(&["read", "kv/kv/keep"]);
    assert_eq!(
        read["data"]["value"], "1",
        "the failed write must not change the entry"
    );

    let out = server.bao(&["write", "kv/kv/keep"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing to write") || stderr.contains("Must supply data"),
        "{stderr}"
    );

    // A path the plugin does not have, and an operation a path does not take.
    let (status, body) = server.http("GET", "kv/nope/x", None);
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.http("DELETE", "kv/ping", None);
    assert_eq!(status, 405, "{body}");
}

#[test]
fn reload_restarts_the_plugin_and_keeps_the_data() {
    let (server, pid) = server_with_entry("before");
    let before = vec![pid];
    // The host initialized the mount once when it was enabled.
    let info = server.bao_json(&["read", "kv/info"]);
    assert_eq!(info["data"]["initializations"], 1, "{info}");
    let (status, body) = server.http(
        "PUT",
        "sys/plugins/reload/backend",
        Some(&json!({"plugin": NAME})),
    );
    assert!(status == 200 || status == 204, "reload: {status} {body}");
    let read = server.bao_json(&["read", "kv/kv/x"]);
    assert_eq!(read["data"]["value"], "before", "{read}");
    let after = server.plugin_pids(NAME);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "reload must start a new plugin process");
    // The new process ran the initialize hook again.
    let info = server.bao_json(&["read", "kv/info"]);
    assert_eq!(info["data"]["initializations"], 2, "{info}");
}

#[test]
fn a_killed_plugin_is_restarted_by_the_next_request() {
    let (server, pid) = server_with_entry("survives");
    let pids = vec![pid];
    assert_eq!(server.kill_plugin(NAME), pids, "kill the plugin");
    wait_until_gone(pids[0]);
    let read = server.bao_json(&["read", "kv/kv/x"]);
    assert_eq!(read["data"]["value"], "survives", "{read}");
    let now = server.plugin_pids(NAME);
    assert_eq!(now.len(), 1);
    assert_ne!(now, pids);
}

fn wait_until_gone(pid: u32) {
    for _ in 0..100 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for the server to reap it.
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("plugin {pid} did not die");
}

#[test]
fn tcp_fallback_and_debug_logs_reach_the_server_log() {
    // Over TCP (with TCP_NODELAY) in the host's port range, the plugin must
    // work as over its default unix socket; and its debug logs, asked for
    // with an argument, must show in the server log at debug level.
    let server = BaoServer::start();
    server.install_plugin_with(
        "secret",
        NAME,
        &plugin_binary(BIN),
        &version(),
        &["-args=--network=tcp", "-args=--log-level=debug"],
    );
    server.enable_secrets(NAME, "kv");
    server.bao_ok(&["write", "kv/kv/x", "value=over-tcp"]);
    let read = server.bao_json(&["read", "kv/kv/x"]);
    assert_eq!(read["data"]["value"], "over-tcp");
    let log = server.log_contents();
    let serving: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("plugin serving"))
        .collect();
    assert!(
        !serving.is_empty(),
        "the plugin's debug log must show in the server log:\n{log}"
    );
    assert!(
        serving
            .iter()
            .all(|l| l.contains("[DEBUG]") && l.contains("network=tcp")),
        "hclog JSON must be re-logged at its level: {serving:#?}"
    );
    let port: u16 = serving[0]
        .split("address=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("address in the log line");
    assert!(
        (10000..=25000).contains(&port),
        "port {port} outside PLUGIN_MIN/MAX_PORT"
    );
}

#[test]
fn no_errors_from_the_plugin_in_the_server_log() {
    let server = server_with_plugin(&["kv"]);
    server.bao_ok(&["write", "kv/kv/x", "value=1"]);
    server.bao_ok(&["read", "kv/ping"]);
    let log = server.log_contents();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("example-kv"))
        .filter(|l| {
            l.contains("[ERROR]")
                || l.contains("Unrecognized remote plugin message")
                || l.contains("illegal base64")
                || l.contains("certificate")
        })
        .collect();
    assert!(bad.is_empty(), "plugin trouble in the server log: {bad:#?}");
    let _: Value = server.bao_json(&["read", "kv/kv/x"]);
}

#[test]
fn the_system_view_answers_through_the_broker() {
    let server = server_with_plugin(&["kv"]);
    server.bao_ok(&[
        "secrets",
        "tune",
        "-default-lease-ttl=1h",
        "-max-lease-ttl=2h",
        "kv",
    ]);
    let info = server.bao_json(&["read", "kv/info"]);
    let data = &info["data"];
    assert_eq!(data["default_lease_ttl"], 3600, "{info}");
    assert_eq!(data["max_lease_ttl"], 7200, "{info}");
    assert_eq!(data["tainted"], false, "{info}");
    assert_eq!(data["host_version"], "2.7.2", "{info}");

    let policy = r#"length = 12
rule "charset" {
  charset = "abc"
}"#;
    let (status, body) = server.http(
        "PUT",
        "sys/policies/password/abc",
        Some(&json!({"policy": policy})),
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    let info = server.bao_json(&["read", "kv/info", "password_policy=abc"]);
    let password = info["data"]["password"].as_str().expect("a password");
    assert_eq!(password.len(), 12, "{info}");
    assert!(password.chars().all(|c| "abc".contains(c)), "{info}");
    let (status, body) = server.http("GET", "kv/info?password_policy=missing", None);
    assert_eq!(status, 400, "{body}");
}
