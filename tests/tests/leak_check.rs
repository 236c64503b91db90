//! The harness's secret leak check (tests/src/leak_check.rs) against a real
//! OpenBao: it catches a planted leak, names where, never prints the secret,
//! and the plugins it watches log at debug level.

use integration_tests::fake_keys::FakeKeyService;
use integration_tests::{BaoServer, crate_version, plugin_binary};

const PLANTED: &str = "planted-secret-4f1c9a7e";
const PASSWORD: &str = "alice-password-77c2";

/// example-kv's `kv/<name>` is no secret store: a value registered as a
/// secret, sent to a secret field of another plugin (example-auth's
/// write-only `password`, known from its OpenAPI) or minted as a lease's
/// credential, and then read back is a leak in that read's response.
#[test]
#[should_panic(expected = "secret leak check failed")]
fn a_planted_leak_fails_the_test_when_the_server_is_dropped() {
    let server = BaoServer::start();
    let version = crate_version("plugins/example-kv");
    let binary = plugin_binary("vault-plugin-example-kv");
    server.install_plugin("secret", "example-kv", &binary, &version);
    server.enable_secrets("example-kv", "kv");
    let version = crate_version("plugins/example-auth");
    let binary = plugin_binary("vault-plugin-example-auth");
    server.install_plugin("auth", "example-auth", &binary, &version);
    server.enable_auth("example-auth", "userpass-rs");
    let password = format!("password={PASSWORD}");
    server.bao_ok(&["write", "auth/userpass-rs/users/alice", &password]);
    server.secret(PLANTED);
    server.bao_ok(&["write", "kv/kv/planted", &format!("value={PLANTED}")]);
    server.bao_ok(&["write", "kv/kv/copy", &format!("value={PASSWORD}")]);
    assert_eq!(server.leak_check(), Ok(()), "writes alone leak nothing");

    let keys = FakeKeyService::start().unwrap();
    server.bao_ok(&[
        "write",
        "kv/config",
        &format!("upstream_url={}", keys.url()),
    ]);
    server.bao_ok(&["write", "kv/role/dev", "ttl=5m"]);
    let creds = server.bao_json(&["read", "kv/creds/dev"]);
    let minted = creds["data"]["secret"]
        .as_str()
        .expect("a minted secret")
        .to_owned();
    server.bao_ok(&["write", "kv/kv/minted", &format!("value={minted}")]);
    assert_eq!(server.leak_check(), Ok(()), "writes alone leak nothing");

    server.bao_json(&["read", "kv/kv/planted"]);
    server.bao_json(&["read", "kv/kv/copy"]);
    server.bao_json(&["read", "kv/kv/minted"]);
    let report = server
        .leak_check()
        .expect_err("the reads must count as leaks");
    assert!(report.contains("registered by the test"), "{report}");
    assert!(
        report.contains("found in response to read kv/kv/planted"),
        "{report}"
    );
    assert!(
        report.contains("request update auth/userpass-rs/users/alice, secret field password"),
        "{report}"
    );
    assert!(
        report.contains("found in response to read kv/kv/copy"),
        "{report}"
    );
    assert!(
        report.contains("lease data of read kv/creds/dev, field secret"),
        "{report}"
    );
    assert!(
        report.contains("found in response to read kv/kv/minted"),
        "{report}"
    );
    assert!(
        !report.contains(&minted),
        "the secret itself is masked: {report}"
    );
    assert!(
        !report.contains(PLANTED),
        "the secret itself is masked: {report}"
    );
    assert!(
        !report.contains(PASSWORD),
        "the secret itself is masked: {report}"
    );

    // Plugins log at debug level into the server log (the SDK logs a
    // backend's setup at debug).
    let log = server.log_contents();
    assert!(
        log.contains("backend set up"),
        "the plugin does not log at debug level"
    );
    // Dropping the server runs the check and fails the test.
}
