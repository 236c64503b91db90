//! The example plugin inside a real OpenBao: register, enable, use.

use integration_tests::{BaoServer, plugin_binary};
use serde_json::json;

const NAME: &str = "example-kv";
const BIN: &str = "vault-plugin-example-kv";

fn version() -> String {
    format!("v{}", "0.1.0")
}

#[test]
fn write_read_list_delete_through_the_cli() {
    let server = BaoServer::start();
    server.install_plugin("secret", NAME, &plugin_binary(BIN), &version());
    server.enable_secrets(NAME, "kv-a");
    server.bao_ok(&["write", "kv-a/kv/hello", "value=world"]);
    let read = server.bao_json(&["read", "kv-a/kv/hello"]);
    assert_eq!(read["data"]["value"], "world", "{read}");
    let ping = server.bao_json(&["read", "kv-a/ping"]);
    assert_eq!(ping["data"]["message"], "pong", "{ping}");
    let (status, body) = server.http("POST", "kv-a/kv/other", Some(&json!({"n": 1})));
    assert_eq!(status, 204, "{body}");
    let list = server.bao_json(&["list", "kv-a/kv"]);
    assert_eq!(list, json!(["hello", "other"]));
    server.bao_ok(&["delete", "kv-a/kv/hello"]);
    let (status, _) = server.http("GET", "kv-a/kv/hello", None);
    assert_eq!(status, 404);
}
