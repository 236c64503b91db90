//! The SDK's worked example, `examples/token_engine` (the plugin the
//! secrets-engine guide tells authors to copy), inside a real OpenBao:
//! generated config and role paths, a leased token deleted on revoke, a
//! clear error when the upstream is down, and no secret in any read.
//!
//! Its fake is the example's own (`fake.rs`, included by path), so the
//! plugin meets the same upstream here as in its in-process tests. The
//! binary is a debug build: `cargo build -p vault-plugin-sdk --example
//! token_engine --features upstream,test-util` (scripts/test.sh does it).

#[path = "../../crates/vault-plugin-sdk/examples/token_engine/fake.rs"]
mod fake;

use std::path::PathBuf;

use fake::{ADMIN_TOKEN, FakeTokenApi};
use integration_tests::{BaoServer, target_root};
use vault_plugin_sdk::testing::upstream::{Fault, blocking};

/// The example's binary, built as the module doc says.
fn binary() -> PathBuf {
    let path = target_root().join("debug/examples/token_engine");
    assert!(
        path.is_file(),
        "{} is missing: cargo build -p vault-plugin-sdk --example token_engine \
         --features upstream,test-util",
        path.display()
    );
    path
}

#[test]
fn the_worked_example_issues_renews_and_revokes_tokens_in_openbao() {
    let fake = blocking(FakeTokenApi::start());
    let server = BaoServer::start();
    server.install_plugin("secret", "token-engine", &binary(), "v0.1.0");
    server.enable_secrets("token-engine", "tokens");
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), fake.front.ca_pem()).unwrap();
    server.write_ok(
        "tokens/config",
        &[
            format!("url={}/", fake.front.url()),
            format!("admin_token={ADMIN_TOKEN}"),
            format!("ca_cert=@{}", ca.path().display()),
        ],
    );
    let config = server.bao_json(&["read", "tokens/config"]);
    assert_eq!(config["data"]["url"], fake.front.url(), "{config}");
    assert_eq!(config["data"]["has_ca_cert"], true, "{config}");
    let shown = config.to_string();
    assert!(
        !shown.contains(ADMIN_TOKEN) && !shown.contains("BEGIN"),
        "{shown}"
    );

    server.bao_ok(&[
        "write",
        "tokens/role/ci",
        "scopes=read,write",
        "ttl=5m",
        "max_ttl=30m",
    ]);
    server.bao_ok(&["write", "tokens/role/ci", "ttl=10m"]); // keeps the scopes
    let role = server.bao_json(&["read", "tokens/role/ci"]);
    assert_eq!(
        role["data"]["scopes"],
        serde_json::json!(["read", "write"]),
        "{role}"
    );
    assert_eq!(role["data"]["ttl"], 600, "{role}");
    assert_eq!(
        server.bao_json(&["list", "tokens/role"]),
        serde_json::json!(["ci"])
    );

    let creds = server.bao_json(&["read", "tokens/creds/ci"]);
    let token = creds["data"]["token"].as_str().unwrap().to_owned();
    let lease = creds["lease_id"].as_str().unwrap().to_owned();
    assert_eq!(creds["lease_duration"], 600, "{creds}");
    assert!(blocking(fake.accepts(&token)));
    let renewed = server.bao_json(&["lease", "renew", "-increment=2m", &lease]);
    assert_eq!(renewed["lease_duration"], 120, "{renewed}");
    server.bao_ok(&["lease", "revoke", "-sync", &lease]);
    assert!(
        !blocking(fake.accepts(&token)),
        "revoking deletes the token"
    );
    assert!(fake.tokens.lock().is_empty());

    // An outage: a 502 naming the token API and its status, nothing left.
    fake.faults.inject("POST", "/tokens", 1, Fault::status(503));
    let out = server.bao(&["read", "tokens/creds/ci"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("token API answered 503"),
        "{err}"
    );
    assert!(fake.tokens.lock().is_empty());
    assert!(server.bao(&["read", "tokens/creds/nobody"]).status.code() != Some(0));
}
