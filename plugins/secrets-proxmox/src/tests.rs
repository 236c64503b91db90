//! In-process tests of every path, against the fake Proxmox API over HTTPS.

use std::time::{Duration, SystemTime};

use integration_tests::fake_proxmox::FakeProxmox;
use serde_json::{Value, json};
use vault_plugin_sdk::framework::SecretData;
use vault_plugin_sdk::framework::wal::list_wal;
use vault_plugin_sdk::storage::StorageExt;
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, Operation, Response};

use super::*;

type Kit = TestBackend<Backend<State>>;
type Map = serde_json::Map<String, Value>;

const VM_100: &str = "/nodes/pve/qemu/100/status/current";
const VM_101: &str = "/nodes/pve/qemu/101/status/current";

/// A fake with root@pam's token `vault` and user alice@pve (PVEVMUser on
/// /vms, PVEDatastoreUser on /storage), and a mount configured for it.
async fn setup() -> (FakeProxmox, Kit, String) {
    let fake = FakeProxmox::start().unwrap();
    let secret = fake.add_token("root@pam", "vault", false);
    fake.add_user("alice@pve");
    fake.grant("/vms", "alice@pve", "PVEVMUser");
    fake.grant("/storage", "alice@pve", "PVEDatastoreUser");
    let tb = TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            max_lease_ttl: Duration::from_secs(7200),
            ..StaticSystemView::default()
        },
    );
    tb.request(Operation::Create, "config")
        .data(
            json!({"user": "root", "realm": "pam", "token_id": "vault", "token_secret": secret,
                     "proxmox_url": fake.url(), "ca_cert": fake.ca_pem(), "timeout": "2m"}),
        )
        .send()
        .await
        .unwrap();
    (fake, tb, secret)
}

async fn write(tb: &Kit, path: &str, data: Value) -> Result<Response> {
    tb.request(Operation::Create, path).data(data).send().await
}

async fn issue(tb: &Kit, role: &str) -> (Map, SecretData) {
    let resp = tb
        .request(Operation::Read, &format!("creds/{role}"))
        .send()
        .await
        .unwrap();
    (resp.data.unwrap(), resp.secret.expect("a lease"))
}

fn text<'a>(data: &'a Map, field: &str) -> &'a str {
    data[field].as_str().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn config_is_checked_with_proxmox_and_never_shows_the_secret() {
    let fake = FakeProxmox::start().unwrap();
    let secret = fake.add_token("root@pam", "vault", false);
    let tb = TestBackend::new(backend().unwrap());
    // No data: the host answers 404, as for any missing entry.
    let before = tb.request(Operation::Read, "config").send().await.unwrap();
    assert!(before.data.is_none());

    let mut data = json!({"user": "root", "realm": "pam", "token_id": "vault",
                          "proxmox_url": fake.url(), "insecure_skip_tls_verify": true});
    let err = write(&tb, "config", data.clone()).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("token_secret"), "{err}");

    data["token_secret"] = json!("00000000-dead-beef-0000-000000000000");
    let err = write(&tb, "config", data.clone()).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("invalid"), "{err}");
    assert!(
        tb.storage()
            .get_json::<Value>("config")
            .await
            .unwrap()
            .is_none()
    );

    data["token_secret"] = json!(secret);
    data["timeout"] = json!(120);
    data["http_headers"] = json!("X-Trace,abc");
    write(&tb, "config", data).await.unwrap();
    let shown = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(shown["token_id_full"], "root@pam!vault");
    assert_eq!(shown["timeout"], 120);
    assert_eq!(shown["http_headers"], json!(["x-trace"]));
    assert!(!Value::Object(shown).to_string().contains(&secret));

    // A partial update keeps the rest; a bad realm is a 400.
    tb.request(Operation::Update, "config")
        .field("timeout", "2m")
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Update, "config")
        .field("realm", "p@m")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
    let shown = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        (shown["timeout"].clone(), shown["realm"].clone()),
        (json!(120), json!("pam"))
    );
}

#[tokio::test]
async fn a_privsep_token_can_do_what_its_acls_allow_and_nothing_else() {
    let (fake, tb, _) = setup().await;
    write(
        &tb,
        "role/ci",
        json!({"user": "alice", "realm": "pve", "ttl": "5m", "max_ttl": "1h",
               "acls": "/vms/100:PVEVMUser,/storage/local:PVEDatastoreUser:propagate=false"}),
    )
    .await
    .unwrap();
    let role = tb
        .request(Operation::Read, "role/ci")
        .data_of()
        .await
        .unwrap();
    assert_eq!(role["privsep"], true);
    assert_eq!(
        role["acls"][1],
        json!({"path": "/storage/local", "roles": ["PVEDatastoreUser"], "propagate": false})
    );

    let (data, lease) = issue(&tb, "ci").await;
    let id = text(&data, "token_id");
    let full = text(&data, "token_id_full");
    let secret = text(&data, "secret");
    assert!(
        id.starts_with("ci-") && full == format!("alice@pve!{id}"),
        "{data:?}"
    );
    let token = fake
        .tokens()
        .into_iter()
        .find(|t| t.full_id() == full)
        .unwrap();
    assert!(token.privsep);
    assert!(
        token.expire.abs_diff(now() + 3600) < 60,
        "expire is the max TTL"
    );
    assert_eq!(fake.acls_of(full).len(), 2);

    assert_eq!(fake.status_as(full, secret, "GET", VM_100), 200);
    assert_eq!(fake.status_as(full, secret, "GET", VM_101), 403);
    assert_eq!(fake.status_as(full, secret, "GET", "/storage/local"), 200);
    assert_eq!(fake.status_as(full, secret, "GET", "/storage/other"), 403);

    // Another read, another token.
    let (second, _) = issue(&tb, "ci").await;
    assert_ne!(text(&second, "token_id"), id);

    tb.revoke(&lease).await.unwrap();
    assert_eq!(fake.status_as(full, secret, "GET", VM_100), 401);
    assert!(fake.acls_of(full).is_empty());
    // Already gone counts as revoked.
    tb.revoke(&lease).await.unwrap();
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn without_acls_the_token_acts_as_its_user_and_json_acls_work() {
    let (fake, tb, _) = setup().await;
    write(&tb, "role/alice", json!({"user": "alice", "realm": "pve"}))
        .await
        .unwrap();
    let (data, _) = issue(&tb, "alice").await;
    let (full, secret) = (text(&data, "token_id_full"), text(&data, "secret"));
    assert_eq!(fake.status_as(full, secret, "GET", VM_101), 200);
    assert_eq!(fake.status_as(full, secret, "GET", "/storage/other"), 200);
    let role = tb
        .request(Operation::Read, "role/alice")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        (role["privsep"].clone(), role["comment"].clone()),
        (json!(false), json!("Managed by Vault"))
    );

    write(
        &tb,
        "role/json",
        json!({"user": "alice", "realm": "pve",
               "acls": [{"path": "/vms/101", "roles": "PVEVMUser"}]}),
    )
    .await
    .unwrap();
    let (data, _) = issue(&tb, "json").await;
    let (full, secret) = (text(&data, "token_id_full"), text(&data, "secret"));
    assert_eq!(fake.status_as(full, secret, "GET", VM_101), 200);
    assert_eq!(fake.status_as(full, secret, "GET", VM_100), 403);
}

#[tokio::test]
async fn bad_role_input_is_a_400_that_stores_nothing() {
    let (_fake, tb, _) = setup().await;
    for (data, says) in [
        (
            json!({"user": "alice", "realm": "pve", "ttl": "abc"}),
            "ttl",
        ),
        (json!({"user": "alice", "realm": "p@m"}), "realm"),
        (json!({"user": "alice@pve", "realm": "pve"}), "user"),
        (json!({"realm": "pve"}), "user"),
        (
            json!({"user": "alice", "realm": "pve", "ttl": "2h", "max_ttl": "1h"}),
            "max_ttl",
        ),
        (
            json!({"user": "alice", "realm": "pve", "acls": "vms:PVEVMUser"}),
            "must start with",
        ),
        (
            json!({"user": "alice", "realm": "pve", "acls": "/vms"}),
            "names no role",
        ),
        (
            json!({"user": "alice", "realm": "pve", "acls": "/vms:A:propagate=maybe"}),
            "propagate",
        ),
        (
            json!({"user": "alice", "realm": "pve", "acls": [{"roles": ["A"]}]}),
            "path",
        ),
    ] {
        let err = write(&tb, "role/bad", data.clone()).await.unwrap_err();
        assert_eq!(err.status(), 400, "{data}: {err}");
        assert!(err.to_string().contains(says), "{data}: {err}");
    }
    assert!(
        tb.storage()
            .get_json::<Value>("role/bad")
            .await
            .unwrap()
            .is_none()
    );
    let err = tb
        .request(Operation::Read, "creds/bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn a_failed_acl_deletes_the_token_and_fails_the_read() {
    let (fake, tb, _) = setup().await;
    write(
        &tb,
        "role/ci",
        json!({"user": "alice", "realm": "pve", "acls": "/vms/100:PVEVMUser"}),
    )
    .await
    .unwrap();
    fake.set_fail_acl(true);
    let err = tb
        .request(Operation::Read, "creds/ci")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ACL") && err.to_string().contains("500"),
        "{err}"
    );
    assert_eq!(fake.tokens().len(), 1, "only the config token is left");
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn renew_stays_within_the_tokens_expiry_and_revoke_works_after_role_delete() {
    let (fake, tb, _) = setup().await;
    write(
        &tb,
        "role/ci",
        json!({"user": "alice", "realm": "pve", "ttl": "5m", "max_ttl": "1h"}),
    )
    .await
    .unwrap();
    let (data, lease) = issue(&tb, "ci").await;
    let renewed = tb.renew(&lease, Duration::from_secs(120)).await.unwrap();
    let renewed = renewed.secret.unwrap().lease;
    assert_eq!(renewed.ttl, Duration::from_secs(120));
    assert!(
        renewed.max_ttl <= Duration::from_secs(3600) && renewed.max_ttl > Duration::from_secs(3500)
    );

    tb.request(Operation::Delete, "role/ci")
        .send()
        .await
        .unwrap();
    let renewed = tb.renew(&lease, Duration::ZERO).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(300));

    fake.set_failing(true);
    let err = tb.revoke(&lease).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    fake.set_failing(false);
    tb.revoke(&lease).await.unwrap();
    let full = text(&data, "token_id_full");
    assert!(fake.tokens().iter().all(|t| t.full_id() != full));
}

#[tokio::test]
async fn rollback_deletes_a_token_whose_read_never_finished() {
    let (fake, tb, _) = setup().await;
    write(&tb, "role/ci", json!({"user": "alice", "realm": "pve"}))
        .await
        .unwrap();
    fake.set_create_delay(Duration::from_secs(5));
    let pending = tb.request(Operation::Read, "creds/ci").send();
    let _ = tokio::time::timeout(Duration::from_millis(800), pending).await;
    assert_eq!(fake.tokens().len(), 2);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    fake.set_create_delay(Duration::ZERO);
    tb.tick(false).await.unwrap();
    assert_eq!(fake.tokens().len(), 2, "too young for a normal tick");
    tb.tick(true).await.unwrap();
    assert_eq!(fake.tokens().len(), 1);
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn errors_say_which_privilege_the_config_token_lacks() {
    let (fake, tb, _) = setup().await;
    fake.add_user("bot@pve");
    let weak = fake.add_token("bot@pve", "vault", false);
    tb.request(Operation::Update, "config")
        .data(json!({"user": "bot", "realm": "pve", "token_secret": weak}))
        .send()
        .await
        .unwrap();
    write(&tb, "role/ci", json!({"user": "alice", "realm": "pve"}))
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "creds/ci")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Upstream(ref m) if m.contains("403") && m.contains("User.Modify") && m.contains("bot@pve!vault")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&weak));

    fake.grant("/access", "bot@pve", "PVEUserAdmin");
    write(
        &tb,
        "role/acl",
        json!({"user": "alice", "realm": "pve", "acls": "/vms/100:PVEVMUser"}),
    )
    .await
    .unwrap();
    let err = tb
        .request(Operation::Read, "creds/acl")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Permissions.Modify"), "{err}");
    assert_eq!(fake.tokens().len(), 2, "the unfinished token was deleted");
}

#[tokio::test]
async fn rotate_root_stores_a_new_secret_and_an_old_proxmox_changes_nothing() {
    let (fake, tb, old) = setup().await;
    fake.set_regenerate_supported(false);
    let err = tb
        .request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("9.1"), "{err}");
    assert_eq!(
        fake.status_as("root@pam!vault", &old, "GET", "/version"),
        200
    );

    fake.set_regenerate_supported(true);
    tb.request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap();
    assert_eq!(
        fake.status_as("root@pam!vault", &old, "GET", "/version"),
        401
    );
    let stored: Value = tb.storage().get_json("config").await.unwrap().unwrap();
    let new = stored["token_secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        fake.status_as("root@pam!vault", new, "GET", "/version"),
        200
    );
    // The plugin works with the new secret.
    write(&tb, "role/alice", json!({"user": "alice", "realm": "pve"}))
        .await
        .unwrap();
    issue(&tb, "alice").await;
}

#[tokio::test]
async fn a_token_secret_that_cannot_travel_in_a_header_is_a_400_before_any_call() {
    let fake = FakeProxmox::start().unwrap();
    let tb = TestBackend::new(backend().unwrap());
    let base = json!({"user": "root", "realm": "pam", "token_id": "vault",
                      "proxmox_url": fake.url(), "insecure_skip_tls_verify": true});
    // Found by the server fuzzer: a 500 KB secret made Proxmox answer 431 (a 502).
    for secret in [
        "a".repeat(257),
        "dead beef".to_owned(),
        "a\u{0}b".to_owned(),
    ] {
        let mut data = base.clone();
        data["token_secret"] = json!(secret);
        let err = write(&tb, "config", data).await.unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.to_string().contains("token_secret"), "{err}");
    }
    let mut data = base;
    data["token_secret"] = json!("00000000-dead-beef-0000-000000000000");
    data["token_id"] = json!(format!("v{}", "a".repeat(64)));
    assert_eq!(write(&tb, "config", data).await.unwrap_err().status(), 400);
    assert!(
        tb.storage()
            .get_json::<Value>("config")
            .await
            .unwrap()
            .is_none()
    );
}
