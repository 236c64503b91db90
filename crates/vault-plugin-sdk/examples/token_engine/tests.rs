//! In-process tests: the backend with the SDK's test kit, against the fake
//! token API over HTTPS, checking each effect where a user would see it.

use std::time::Duration;

use serde_json::{Map, Value, json};
use vault_plugin_sdk::Operation::{Create, List, Read, Update};
use vault_plugin_sdk::framework::DEFAULT_WAL_ROLLBACK_MIN_AGE;
use vault_plugin_sdk::framework::wal::list_wal;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Backend, Error, Operation, Response};

use crate::fake::{ADMIN_TOKEN, FakeTokenApi};
use crate::{State, backend};

type Engine = TestBackend<Backend<State>>;

/// The engine configured for a fresh fake (trusting its CA), with a role
/// `ci` of scope `read`, TTL 5m and max TTL 30m.
async fn configured() -> (Engine, FakeTokenApi) {
    let fake = FakeTokenApi::start().await;
    let tb = TestBackend::new(backend(DEFAULT_WAL_ROLLBACK_MIN_AGE).unwrap());
    let config = json!({ "url": fake.front.url(), "admin_token": ADMIN_TOKEN, "ca_cert": fake.front.ca_pem() });
    send(&tb, Create, "config", config).await;
    let role = json!({ "scopes": "read", "ttl": "5m", "max_ttl": "30m" });
    send(&tb, Create, "role/ci", role).await;
    (tb, fake)
}

/// A request that must succeed, with a body as the CLI sends it.
async fn send(tb: &Engine, op: Operation, path: &str, body: Value) -> Response {
    tb.request(op, path).data(body).send().await.unwrap()
}

/// A request that must fail: its error.
async fn fail(tb: &Engine, op: Operation, path: &str, body: Value) -> Error {
    tb.request(op, path).data(body).send().await.unwrap_err()
}

/// The data of a read or list.
async fn read(tb: &Engine, op: Operation, path: &str) -> Map<String, Value> {
    tb.request(op, path).data_of().await.unwrap()
}

#[tokio::test]
async fn a_token_works_until_its_lease_is_revoked() {
    let (tb, fake) = configured().await;
    let resp = send(&tb, Read, "creds/ci", json!({})).await;
    let data = resp.data.unwrap();
    let name = data["name"].as_str().unwrap();
    let token = data["token"].as_str().unwrap();
    assert!(name.starts_with("vault-ci-"), "{name}");
    assert!(fake.accepts(token).await);
    assert_eq!(fake.state.lock().tokens[name].1, ["read"]);
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
    assert!(fake.state.lock().tokens.is_empty());
    tb.revoke(&secret).await.unwrap(); // already gone is success
}

#[tokio::test]
async fn a_role_write_changes_only_what_it_sends() {
    let (tb, _fake) = configured().await;
    send(&tb, Update, "role/ci", json!({ "ttl": "10m" })).await;
    let role = read(&tb, Read, "role/ci").await;
    assert_eq!(role["ttl"], 600);
    assert_eq!(role["max_ttl"], 1800);
    assert_eq!(role["scopes"], json!(["read"]));
    assert_eq!(role["name_prefix"], "vault");

    let err = fail(&tb, Update, "role/ci", json!({ "ttl": "1h" })).await;
    assert_eq!(err.to_string(), "ttl cannot be greater than max_ttl");
    let err = fail(&tb, Create, "role/bare", json!({})).await;
    let missing = r#"Field validation failed: missing required field "scopes""#;
    assert_eq!(err.to_string(), missing);
    assert_eq!(read(&tb, List, "role/").await["keys"], json!(["ci"]));
}

#[tokio::test]
async fn the_config_reads_without_its_secrets() {
    let (tb, fake) = configured().await;
    send(&tb, Update, "config", json!({ "timeout": "1m" })).await;
    let config = read(&tb, Read, "config").await;
    assert_eq!(config["url"], fake.front.url());
    assert_eq!(config["timeout"], 60);
    assert_eq!(config["has_ca_cert"], true);
    let shown = json!(config).to_string();
    assert!(!shown.contains(ADMIN_TOKEN), "{shown}");
    assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
    // The update kept the admin token and the CA: issuing still works.
    send(&tb, Read, "creds/ci", json!({})).await;
}

#[tokio::test]
async fn an_upstream_failure_is_a_clear_error() {
    let (tb, fake) = configured().await;
    fake.state.lock().down = Some(503);
    let err = fail(&tb, Read, "creds/ci", json!({})).await;
    assert_eq!(err.status(), 502);
    assert!(
        err.to_string().starts_with("token API answered 503"),
        "{err}"
    );

    // Without the CA, the fake's certificate is refused.
    fake.state.lock().down = None;
    send(&tb, Update, "config", json!({ "ca_cert": "" })).await;
    let err = fail(&tb, Read, "creds/ci", json!({})).await;
    assert!(err.to_string().starts_with("TLS with token API"), "{err}");
    assert!(fake.state.lock().tokens.is_empty());
}

#[tokio::test]
async fn the_rollback_deletes_a_token_whose_answer_was_lost() {
    let (tb, fake) = configured().await;
    fake.state.lock().lose_create_answers = true;
    let err = fail(&tb, Read, "creds/ci", json!({})).await;
    assert_eq!(err.status(), 502);
    // The token exists upstream, no lease has it, and the WAL entry remains.
    assert_eq!(fake.state.lock().tokens.len(), 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);

    // A young entry waits (its request may still be running); then it goes.
    tb.tick(false).await.unwrap();
    assert_eq!(fake.state.lock().tokens.len(), 1);
    tb.tick(true).await.unwrap();
    assert!(fake.state.lock().tokens.is_empty());
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}
