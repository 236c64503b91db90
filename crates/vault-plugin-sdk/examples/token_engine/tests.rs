//! In-process tests: the backend with the SDK's test kit, against the fake
//! token API over HTTPS, checking each effect where a user would see it.

use std::time::Duration;

use serde_json::json;
use vault_plugin_sdk::Backend;
use vault_plugin_sdk::framework::wal::list_wal;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::testing::upstream::Fault;

use crate::fake::{ADMIN_TOKEN, FakeTokenApi};
use crate::{State, backend};

type Engine = TestBackend<Backend<State>>;

/// The engine configured for a fresh fake (trusting its CA), with a role
/// `ci` of scope `read`, TTL 5m and max TTL 30m.
async fn configured() -> (Engine, FakeTokenApi) {
    let fake = FakeTokenApi::start().await;
    let tb = TestBackend::new(backend().unwrap());
    let config = json!({ "url": fake.front.url(), "admin_token": ADMIN_TOKEN, "ca_cert": fake.front.ca_pem() });
    tb.write("config", config).await.unwrap();
    let role = json!({ "scopes": "read", "ttl": "5m", "max_ttl": "30m" });
    tb.write("role/ci", role).await.unwrap();
    (tb, fake)
}

#[tokio::test]
async fn a_token_works_until_its_lease_is_revoked() {
    let (tb, fake) = configured().await;
    let resp = tb.read("creds/ci").await.unwrap();
    let data = resp.data.unwrap();
    let name = data["name"].as_str().unwrap();
    let token = data["token"].as_str().unwrap();
    assert!(name.starts_with("vault-ci-"), "{name}");
    assert!(fake.accepts(token).await);
    assert_eq!(fake.tokens.lock()[name].1, ["read"]);
    let secret = resp.secret.unwrap();
    assert_eq!(secret.lease.ttl, Duration::from_secs(300));
    assert!(!json!(secret.internal_data).to_string().contains(token));
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // Renewed as asked, within the role's max_ttl (30m).
    let renewed = tb.renew(&secret, Duration::from_secs(120)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(120));
    let capped = tb.renew(&secret, Duration::from_secs(7200)).await.unwrap();
    assert_eq!(capped.secret.unwrap().lease.ttl, Duration::from_secs(1800));

    tb.revoke(&secret).await.unwrap();
    assert!(!fake.accepts(token).await);
    assert!(fake.tokens.lock().is_empty());
    tb.revoke(&secret).await.unwrap(); // already gone is success
}

#[tokio::test]
async fn a_role_write_changes_only_what_it_sends() {
    let (tb, _fake) = configured().await;
    tb.write("role/ci", json!({ "ttl": "10m" })).await.unwrap();
    let role = tb.read("role/ci").await.unwrap().data.unwrap();
    assert_eq!(role["ttl"], 600);
    assert_eq!(role["max_ttl"], 1800);
    assert_eq!(role["scopes"], json!(["read"]));
    assert_eq!(role["name_prefix"], "vault");

    let err = tb
        .write("role/ci", json!({ "ttl": "1h" }))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "ttl cannot be greater than max_ttl");
    let err = tb.write("role/bare", json!({})).await.unwrap_err();
    let missing = r#"Field validation failed: missing required field "scopes""#;
    assert_eq!(err.to_string(), missing);
    assert_eq!(tb.list("role/").await.unwrap(), ["ci"]);
}

#[tokio::test]
async fn the_config_reads_without_its_secrets() {
    let (tb, fake) = configured().await;
    tb.write("config", json!({ "timeout": "1m" }))
        .await
        .unwrap();
    let config = tb.read("config").await.unwrap().data.unwrap();
    assert_eq!(config["url"], fake.front.url());
    assert_eq!(config["timeout"], 60);
    assert_eq!(config["has_ca_cert"], true);
    let shown = json!(config).to_string();
    assert!(!shown.contains(ADMIN_TOKEN), "{shown}");
    assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
    // The update kept the admin token and the CA: issuing still works.
    tb.read("creds/ci").await.unwrap();
}

#[tokio::test]
async fn an_upstream_failure_is_a_clear_error() {
    let (tb, fake) = configured().await;
    fake.faults.inject("*", "", 1, Fault::status(503));
    let err = tb.read("creds/ci").await.unwrap_err();
    assert_eq!(err.status(), 502);
    assert!(
        err.to_string().starts_with("token API answered 503"),
        "{err}"
    );

    // Without the CA, the fake's certificate is refused.
    tb.write("config", json!({ "ca_cert": "" })).await.unwrap();
    let err = tb.read("creds/ci").await.unwrap_err();
    assert!(err.to_string().starts_with("TLS with token API"), "{err}");
    assert!(fake.tokens.lock().is_empty());
}

#[tokio::test]
async fn the_rollback_deletes_a_token_whose_answer_was_lost() {
    let (tb, fake) = configured().await;
    let lost = Fault::status(500);
    fake.faults.inject_after_effect("POST", "/tokens", 1, lost);
    let err = tb.read("creds/ci").await.unwrap_err();
    assert_eq!(err.status(), 502);
    // The token exists upstream, no lease has it, and the WAL entry remains.
    assert_eq!(fake.tokens.lock().len(), 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);

    // A young entry waits (its request may still be running); then it goes.
    tb.tick(false).await.unwrap();
    assert_eq!(fake.tokens.lock().len(), 1);
    tb.tick(true).await.unwrap();
    assert!(fake.tokens.lock().is_empty());
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}
