//! In-process tests of every path, against the fake upstream key service.

use std::time::Duration;

use integration_tests::fake_keys::FakeKeyService;
use serde_json::{Value, json};
use vault_plugin_sdk::framework::SecretData;
use vault_plugin_sdk::framework::wal::list_wal;
use vault_plugin_sdk::storage::Storage;
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, Operation};

use super::*;

fn kit() -> TestBackend<Backend<State>> {
    TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            default_lease_ttl: Duration::from_secs(600),
            max_lease_ttl: Duration::from_secs(7200),
            ..StaticSystemView::default()
        },
    )
}

async fn configured(fake: &FakeKeyService) -> TestBackend<Backend<State>> {
    let tb = kit();
    tb.request(Operation::Create, "config")
        .field("upstream_url", fake.url())
        .send()
        .await
        .unwrap();
    tb.request(Operation::Create, "role/dev")
        .data(json!({"ttl": "5m", "max_ttl": "1h"}))
        .send()
        .await
        .unwrap();
    tb
}

async fn issue(tb: &TestBackend<Backend<State>>) -> (String, SecretData) {
    let resp = tb
        .request(Operation::Read, "creds/dev")
        .send()
        .await
        .unwrap();
    let secret = resp.secret.clone().expect("a lease");
    let data = resp.data.unwrap();
    (data["secret"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn kv_write_read_list_delete() {
    let tb = kit();
    assert_eq!(tb.exists("kv/a").await.unwrap(), Some(false));
    tb.request(Operation::Create, "kv/a")
        .field("value", "1")
        .send()
        .await
        .unwrap();
    tb.request(Operation::Update, "kv/b")
        .data(json!({"value": "2", "n": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(tb.exists("kv/a").await.unwrap(), Some(true));
    let read = tb.request(Operation::Read, "kv/b").data_of().await.unwrap();
    assert_eq!(Value::Object(read), json!({"value": "2", "n": 3}));
    let list = tb.request(Operation::List, "kv/").data_of().await.unwrap();
    assert_eq!(list["keys"], json!(["a", "b"]));
    tb.request(Operation::Delete, "kv/a").send().await.unwrap();
    let err = tb
        .request(Operation::Read, "kv/a")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
}

#[tokio::test]
async fn empty_write_is_a_clear_bad_request_and_stores_nothing() {
    let tb = kit();
    let err = tb
        .request(Operation::Update, "kv/x")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("value=")),
        "{err:?}"
    );
    assert!(tb.storage().list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_entries_vanish_and_the_tidy_removes_them() {
    let tb = kit();
    tb.request(Operation::Update, "kv/short")
        .data(json!({"value": "x", "ttl": "0s"}))
        .send()
        .await
        .unwrap();
    tb.request(Operation::Update, "kv/long")
        .data(json!({"value": "y", "ttl": "1h"}))
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "kv/short")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    // Rewritten without a ttl, an entry no longer expires.
    tb.request(Operation::Update, "kv/kept")
        .data(json!({"value": "z", "ttl": "0s"}))
        .send()
        .await
        .unwrap();
    tb.request(Operation::Update, "kv/kept")
        .field("value", "z2")
        .send()
        .await
        .unwrap();
    tb.tick(false).await.unwrap();
    let list = tb.request(Operation::List, "kv/").data_of().await.unwrap();
    assert_eq!(list["keys"], json!(["kept", "long"]));
    assert_eq!(tb.storage().list("kv-expiry/").await.unwrap(), ["long"]);
    let err = tb
        .request(Operation::Update, "kv/bad")
        .data(json!({"value": "y", "ttl": "soon"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.starts_with("ttl")),
        "{err:?}"
    );
}

#[tokio::test]
async fn roles_have_typed_fields_and_keep_what_an_update_does_not_send() {
    let tb = kit();
    tb.request(Operation::Create, "role/r")
        .data(json!({"ttl": "5m", "max_ttl": "1h", "key_prefix": "ci"}))
        .send()
        .await
        .unwrap();
    tb.request(Operation::Update, "role/r")
        .field("description", "for CI")
        .send()
        .await
        .unwrap();
    let role = tb
        .request(Operation::Read, "role/r")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        Value::Object(role),
        json!({"ttl": 300, "max_ttl": 3600, "key_prefix": "ci", "description": "for CI"})
    );
    let cases = [
        (
            json!({"ttl": "2h", "max_ttl": "1h"}),
            "greater than max_ttl",
        ),
        (json!({"ttl": "soon"}), "\"ttl\""),
        (json!({"key_prefix": "a/b"}), "key_prefix"),
    ];
    for (data, want) in cases {
        let err = tb
            .request(Operation::Update, "role/r")
            .data(data.clone())
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(ref m) if m.contains(want)),
            "{data}: {err:?}"
        );
    }
    let list = tb.request(Operation::List, "role").data_of().await.unwrap();
    assert_eq!(list["keys"], json!(["r"]));
}

#[tokio::test]
async fn creds_issue_a_working_key_that_revoke_deletes() {
    let fake = FakeKeyService::start().unwrap();
    let tb = configured(&fake).await;
    let (secret, lease) = issue(&tb).await;
    assert!(fake.authenticates(&secret));
    assert_eq!(lease.lease.ttl, Duration::from_secs(300));
    assert!(lease.lease.renewable);
    // The lease keeps no secret; the WAL entry is gone once the lease exists.
    assert!(
        !Value::Object(lease.internal_data.clone())
            .to_string()
            .contains(&secret)
    );
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    // The key expires upstream at the max TTL.
    let key = &fake.keys()[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(key.expires_at.abs_diff(now + 3600) < 5, "{key:?}");

    let renewed = tb.renew(&lease, Duration::from_secs(120)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(120));

    // Revoke works after the role is gone, and twice.
    tb.request(Operation::Delete, "role/dev")
        .send()
        .await
        .unwrap();
    tb.revoke(&lease).await.unwrap();
    assert!(!fake.authenticates(&secret));
    tb.revoke(&lease).await.unwrap();
}

#[tokio::test]
async fn upstream_failures_are_clear_errors_and_leave_a_wal_entry() {
    let fake = FakeKeyService::start().unwrap();
    let tb = configured(&fake).await;
    fake.set_failing(true);
    let err = tb
        .request(Operation::Read, "creds/dev")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Upstream(ref m) if m.contains("503")),
        "{err:?}"
    );
    // The WAL entry stays until a rollback confirms nothing is left upstream.
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    fake.set_failing(false);
    tb.tick(true).await.unwrap();
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    let err = tb
        .request(Operation::Read, "creds/nobody")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("no role")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rollback_deletes_a_key_whose_request_never_finished() {
    let fake = FakeKeyService::start().unwrap();
    let tb = configured(&fake).await;
    // A request that dies after the upstream call: simulate by writing the
    // WAL entry and creating the key the way `issue` does, then dropping it.
    fake.set_create_delay(Duration::from_secs(5));
    let pending = tb.request(Operation::Read, "creds/dev").send();
    let _ = tokio::time::timeout(Duration::from_millis(500), pending).await;
    assert_eq!(fake.keys().len(), 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    // Too young for a normal tick; an immediate rollback deletes it.
    tb.tick(false).await.unwrap();
    assert_eq!(fake.keys().len(), 1);
    tb.tick(true).await.unwrap();
    assert!(fake.keys().is_empty());
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn info_reports_the_system_view() {
    let tb = kit();
    let data = tb.request(Operation::Read, "info").data_of().await.unwrap();
    assert_eq!(data["max_lease_ttl"], 7200);
    assert_eq!(data["initializations"], 0);
    tb.initialize().await.unwrap();
    tb.initialize().await.unwrap();
    let data = tb.request(Operation::Read, "info").data_of().await.unwrap();
    assert_eq!(data["initializations"], 2);
    assert_eq!(data["tainted"], false);
    let err = tb
        .request(Operation::Read, "info")
        .field("password_policy", "p")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("\"p\"")),
        "{err:?}"
    );
    // A policy the host knows yields its password.
    let mut sv = StaticSystemView::default();
    sv.passwords.insert("p".into(), "generated-1".into());
    let tb = TestBackend::with_system_view(backend().unwrap(), sv);
    let data = tb
        .request(Operation::Read, "info")
        .field("password_policy", "p")
        .data_of()
        .await
        .unwrap();
    assert_eq!(data["password"], "generated-1");
}

#[tokio::test]
async fn ping_answers_without_storage() {
    let tb = kit();
    let data = tb.request(Operation::Read, "ping").data_of().await.unwrap();
    assert_eq!(data["message"], "pong");
    assert!(tb.storage().list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn on_a_standby_hooks_and_ticks_write_nothing_and_writes_go_to_the_active_node() {
    let fake = FakeKeyService::start().unwrap();
    let mut tb = configured(&fake).await;
    tb.request(Operation::Update, "kv/old")
        .data(json!({"value": "x", "ttl": "0s"}))
        .send()
        .await
        .unwrap();
    let before = tb.storage().list("kv/").await.unwrap();
    tb.set_standby(true);

    tb.initialize().await.unwrap();
    tb.tick(true).await.unwrap();
    let info = tb.request(Operation::Read, "info").data_of().await.unwrap();
    assert_eq!(info["initializations"], 0, "the standby counted a start");
    assert_eq!(info["replication_state"], 24576);
    assert_eq!(tb.storage().list("kv/").await.unwrap(), before, "tidied");
    // A write, and the WAL entry before any upstream key: the host's
    // read-only error, unchanged, so the host forwards them.
    for (op, path) in [
        (Operation::Update, "kv/new"),
        (Operation::Read, "creds/dev"),
    ] {
        let err = tb
            .request(op, path)
            .field("value", "y")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReadOnly), "{path}: {err:?}");
    }
    assert_eq!(
        fake.created(),
        0,
        "an upstream key was created on a standby"
    );

    tb.set_standby(false);
    tb.initialize().await.unwrap();
    tb.tick(true).await.unwrap();
    let info = tb.request(Operation::Read, "info").data_of().await.unwrap();
    assert_eq!(info["initializations"], 1);
    assert!(
        tb.storage().list("kv/").await.unwrap().is_empty(),
        "not tidied"
    );
}
