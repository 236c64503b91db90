//! In-process tests of every path, against the fake balena API.

use std::time::{Duration, SystemTime};

use integration_tests::fake_balena::FakeBalena;
use serde_json::{Value, json};
use vault_plugin_sdk::framework::SecretData;
use vault_plugin_sdk::framework::wal::list_wal;
use vault_plugin_sdk::storage::{Storage, StorageExt};
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, Operation};

use super::*;
use crate::jwt::Claims;

type Kit = TestBackend<Backend<State>>;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

fn kit() -> Kit {
    TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            default_lease_ttl: Duration::from_secs(600),
            max_lease_ttl: Duration::from_secs(7200),
            ..StaticSystemView::default()
        },
    )
}

/// A fake with user "dev" (password "pw") and a mount configured for it.
async fn setup() -> (FakeBalena, Kit, String) {
    let fake = FakeBalena::start().unwrap();
    fake.add_user("dev", "pw");
    let token = fake.session_token("dev", Duration::from_secs(60), WEEK);
    let tb = configured(&fake).await;
    (fake, tb, token)
}

/// A mount configured for `fake`.
async fn configured(fake: &FakeBalena) -> Kit {
    let tb = kit();
    tb.request(Operation::Create, "config")
        .field("url", fake.url())
        .send()
        .await
        .unwrap();
    tb
}

/// Found by the server fuzzer (tests/tests/fuzz_server.rs): a role write
/// with a huge session token answered 502 (balena refused the headers with
/// 431). A 400 now, before balena is called, and nothing stored.
#[tokio::test]
async fn a_session_token_too_long_for_balena_is_a_400_and_nothing_is_stored() {
    let (fake, tb, _) = setup().await;
    let calls = fake.requests().len();
    let err = tb
        .request(Operation::Create, "role/huge")
        .data(json!({"session_token": "x".repeat(100_000)}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("longer than 8192")),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), calls, "balena was not called");
    assert_eq!(stored_role(&tb, "huge").await, None);
}

/// As the operator's script does: `role/developer balenaApiKey=... ttl=5m max_ttl=1h`.
async fn with_role(tb: &Kit, token: &str) {
    tb.request(Operation::Create, "role/developer")
        .data(json!({"balenaApiKey": token, "ttl": "5m", "max_ttl": "1h"}))
        .send()
        .await
        .unwrap();
}

/// Reads `creds/developer`: the key and the lease.
async fn issue(tb: &Kit) -> (Map, SecretData) {
    let resp = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap();
    (resp.data.unwrap(), resp.secret.expect("a lease"))
}

type Map = serde_json::Map<String, Value>;

async fn stored_role(tb: &Kit, name: &str) -> Option<Value> {
    tb.storage()
        .get_json::<Value>(&format!("role/{name}"))
        .await
        .unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Seconds since 1970 of `2030-01-02T03:04:05.678Z`.
fn iso_secs(text: &str) -> u64 {
    let num = |range: std::ops::Range<usize>| text[range].parse::<u64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, s) = (num(11..13), num(14..16), num(17..19));
    // Days from civil (the inverse of client::civil_from_days).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s
}

fn message(err: &Error) -> String {
    err.to_string()
}

#[tokio::test]
async fn config_checks_url_and_ca_and_reads_back_no_secret() {
    let fake = FakeBalena::start().unwrap();
    let tb = kit();
    assert_eq!(tb.exists("config").await.unwrap(), Some(false));
    let err = tb
        .request(Operation::Create, "config")
        .field("request_timeout", "10s")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("url is required")),
        "{err:?}"
    );
    for (url, want) in [
        ("ftp://x", "https://"),
        ("api.balena-cloud.com", "not a valid URL"),
        ("https://me:secret@host", "credentials"),
        ("https://host/?x=1", "query"),
    ] {
        let err = tb
            .request(Operation::Create, "config")
            .field("url", url)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(ref m) if m.contains(want) && !m.contains("secret")),
            "{url}: {err:?}"
        );
    }
    assert!(tb.storage().list("").await.unwrap().is_empty());

    tb.request(Operation::Create, "config")
        .field("url", format!("{}/", fake.url()))
        .send()
        .await
        .unwrap();
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        Value::Object(read),
        json!({"url": fake.url(), "request_timeout": 30, "has_ca_cert": false})
    );

    // Update keeps what is not sent; a CA must be PEM certificates.
    let err = tb
        .request(Operation::Update, "config")
        .field("ca_cert", "not a certificate")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("ca_cert")),
        "{err:?}"
    );
    let err = tb
        .request(Operation::Update, "config")
        .field("request_timeout", "0")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("request_timeout")),
        "{err:?}"
    );
    let ca = rcgen::generate_simple_self_signed(vec!["balena.internal".into()])
        .unwrap()
        .cert
        .pem();
    tb.request(Operation::Update, "config")
        .data(json!({"ca_cert": ca, "request_timeout": "5s"}))
        .send()
        .await
        .unwrap();
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        Value::Object(read),
        json!({"url": fake.url(), "request_timeout": 5, "has_ca_cert": true})
    );
    tb.request(Operation::Update, "config")
        .field("ca_cert", "")
        .send()
        .await
        .unwrap();
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(read["has_ca_cert"], false);

    tb.request(Operation::Delete, "config")
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "config")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
}

#[tokio::test]
async fn a_host_name_is_resolved_without_the_system_resolver() {
    let (fake, tb, token) = setup().await;
    tb.request(Operation::Update, "config")
        .field("url", fake.url_with_host("localhost"))
        .send()
        .await
        .unwrap();
    with_role(&tb, &token).await;
    let (data, _) = issue(&tb).await;
    assert!(fake.authenticates(data["token"].as_str().unwrap()));
}

#[tokio::test]
async fn a_role_write_checks_the_token_and_a_dead_one_stores_nothing() {
    let (fake, tb, token) = setup().await;
    for dead in ["not-a-token".to_owned(), {
        let t = fake.session_token("dev", Duration::from_secs(60), WEEK);
        fake.revoke_sessions("dev");
        t
    }] {
        let err = tb
            .request(Operation::Create, "role/developer")
            .field("balenaApiKey", dead.as_str())
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(ref m)
                if m.contains("invalid or expired (balena answered 401") && !m.contains(&dead)),
            "{err:?}"
        );
    }
    assert!(stored_role(&tb, "developer").await.is_none());
    assert!(fake.requests().iter().any(|r| r == "GET /user/v1/whoami"));

    // No token at all is a clear 400 too.
    let err = tb
        .request(Operation::Create, "role/developer")
        .field("ttl", "5m")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("session_token (or balenaApiKey) is required")),
        "{err:?}"
    );
    // And the mount needs its config first.
    let bare = kit();
    let err = bare
        .request(Operation::Create, "role/developer")
        .field("session_token", token.as_str())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("config")),
        "{err:?}"
    );
}

#[tokio::test]
async fn both_token_names_work_and_help_shows_both() {
    let (fake, tb, _) = setup().await;
    let first = fake.session_token("dev", Duration::from_secs(60), WEEK);
    let second = fake.session_token("dev", Duration::from_secs(60), 2 * WEEK);
    tb.request(Operation::Create, "role/a")
        .field("balenaApiKey", first.as_str())
        .send()
        .await
        .unwrap();
    tb.request(Operation::Create, "role/b")
        .field("session_token", second.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored_role(&tb, "a").await.unwrap()["session_token"],
        first.as_str()
    );
    assert_eq!(
        stored_role(&tb, "b").await.unwrap()["session_token"],
        second.as_str()
    );
    // An update through the other name replaces the token.
    tb.request(Operation::Update, "role/a")
        .field("session_token", second.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored_role(&tb, "a").await.unwrap()["session_token"],
        second.as_str()
    );

    let help = tb
        .request(Operation::Help, "role/a")
        .data_of()
        .await
        .unwrap();
    let text = help["help"].as_str().unwrap();
    assert!(
        text.contains("session_token") && text.contains("balenaApiKey"),
        "{text}"
    );
}

#[tokio::test]
async fn role_reads_never_show_the_token_or_password() {
    let (fake, tb, token) = setup().await;
    tb.request(Operation::Create, "role/developer")
        .data(json!({
            "session_token": token, "ttl": "5m", "max_ttl": "1h",
            "username": "dev", "password": "pw",
        }))
        .send()
        .await
        .unwrap();
    let resp = tb
        .request(Operation::Read, "role/developer")
        .send()
        .await
        .unwrap();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    let data = resp.data.unwrap();
    let text = Value::Object(data.clone()).to_string();
    assert!(!text.contains(&token) && !text.contains("\"pw\""), "{text}");
    assert_eq!(data["ttl"], 300);
    assert_eq!(data["max_ttl"], 3600);
    assert_eq!(data["username"], "dev");
    assert_eq!(data["has_password"], true);
    assert_eq!(data["key_name_prefix"], "vault");
    assert_eq!(data["key_description"], "Vault Managed Balena Token");
    let expires = iso_secs(data["session_token_expires_at"].as_str().unwrap());
    assert!(expires.abs_diff(now_secs() + WEEK.as_secs()) < 5);

    // Clearing the password; update keeps the rest.
    tb.request(Operation::Update, "role/developer")
        .field("password", "")
        .send()
        .await
        .unwrap();
    let data = tb
        .request(Operation::Read, "role/developer")
        .data_of()
        .await
        .unwrap();
    assert_eq!(data["has_password"], false);
    assert_eq!(data["ttl"], 300);

    let list = tb
        .request(Operation::List, "role/")
        .data_of()
        .await
        .unwrap();
    assert_eq!(list["keys"], json!(["developer"]));
    assert!(!fake.issued_session_tokens().is_empty());
}

#[tokio::test]
async fn a_role_read_warns_when_the_session_ends_within_a_day() {
    let (fake, tb, _) = setup().await;
    let short = fake.session_token("dev", Duration::from_secs(60), 5 * HOUR);
    with_role(&tb, &short).await;
    let resp = tb
        .request(Operation::Read, "role/developer")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.warnings.len(), 1, "{:?}", resp.warnings);
    assert!(
        resp.warnings[0].contains("less than 24 hours"),
        "{:?}",
        resp.warnings
    );
    assert!(!resp.warnings[0].contains(&short));
}

#[tokio::test]
async fn ttl_rules_and_max_ttl_zero_means_the_mount_max() {
    let (fake, tb, token) = setup().await;
    let err = tb
        .request(Operation::Create, "role/developer")
        .data(json!({"session_token": token, "ttl": "2h", "max_ttl": "1h"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("ttl cannot be greater than max_ttl")),
        "{err:?}"
    );
    for (data, want) in [
        (json!({"ttl": "soon"}), "\"ttl\""),
        (json!({"key_name_prefix": "a b"}), "key_name_prefix"),
    ] {
        let err = tb
            .request(Operation::Create, "role/developer")
            .data(data.clone())
            .field("session_token", token.as_str())
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(ref m) if m.contains(want)),
            "{data}: {err:?}"
        );
    }
    // max_ttl 0: the lease keeps its ttl (no clamp to 0), the key lives
    // until the mount's max (7200s here).
    tb.request(Operation::Create, "role/developer")
        .data(json!({"session_token": token, "ttl": "5m", "max_ttl": 0}))
        .send()
        .await
        .unwrap();
    let (_, lease) = issue(&tb).await;
    assert_eq!(lease.lease.ttl, Duration::from_secs(300));
    let expiry = fake.keys()[0].expiry_date.clone().unwrap();
    assert!(
        iso_secs(&expiry).abs_diff(now_secs() + 7200) < 5,
        "{expiry}"
    );
    // ttl 2h with max_ttl 0 is fine (the mount caps it).
    tb.request(Operation::Update, "role/developer")
        .field("ttl", "2h")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_operators_flow_a_working_key_that_revoke_deletes_by_id() {
    let (fake, tb, token) = setup().await;
    with_role(&tb, &token).await;
    let (data, lease) = issue(&tb).await;
    let mut fields: Vec<&String> = data.keys().collect();
    fields.sort();
    assert_eq!(fields, ["key_desc", "key_name", "token", "token_id"]);
    assert_eq!(lease.lease.ttl, Duration::from_secs(300));
    assert!(lease.lease.renewable);
    let key = data["token"].as_str().unwrap();
    assert!(fake.authenticates(key));
    let upstream = fake.keys();
    assert_eq!(upstream.len(), 1);
    assert_eq!(data["token_id"], upstream[0].id.to_string());
    assert_eq!(data["key_name"], upstream[0].name.as_str());
    assert_eq!(data["key_desc"], "Vault Managed Balena Token");
    assert!(
        upstream[0].name.starts_with("vault-developer-"),
        "{}",
        upstream[0].name
    );
    // expiryDate = now + the role's max_ttl, in balena's millisecond form.
    let expiry = upstream[0].expiry_date.clone().unwrap();
    assert_eq!(expiry.len(), "2030-01-02T03:04:05.678Z".len(), "{expiry}");
    assert!(
        iso_secs(&expiry).abs_diff(now_secs() + 3600) < 5,
        "{expiry}"
    );
    // The lease keeps no secret, and the WAL entry is gone.
    let internal = Value::Object(lease.internal_data.clone()).to_string();
    assert!(
        !internal.contains(key) && !internal.contains(&token),
        "{internal}"
    );
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // Names are unique per lease.
    let (second, _) = issue(&tb).await;
    assert_ne!(second["key_name"], data["key_name"]);

    let renewed = tb.renew(&lease, Duration::from_secs(120)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(120));

    tb.revoke(&lease).await.unwrap();
    assert!(!fake.authenticates(key));
    let id = upstream[0].id;
    let deletes: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE"))
        .collect();
    assert_eq!(deletes, [format!("DELETE /v7/api_key({id})")]);
    // Twice is fine: already gone.
    tb.revoke(&lease).await.unwrap();
    assert_eq!(fake.keys().len(), 1);
}

#[tokio::test]
async fn revoke_works_after_the_role_is_deleted_or_given_to_another_user() {
    let (fake, tb, token) = setup().await;
    fake.add_user("ops", "pw2");
    with_role(&tb, &token).await;
    let (first, first_lease) = issue(&tb).await;
    let (second, second_lease) = issue(&tb).await;

    // The role now mints for another user: the first user's keys still go.
    let ops = fake.session_token("ops", Duration::from_secs(60), WEEK);
    tb.request(Operation::Update, "role/developer")
        .field("session_token", ops.as_str())
        .send()
        .await
        .unwrap();
    tb.revoke(&first_lease).await.unwrap();
    assert!(!fake.authenticates(first["token"].as_str().unwrap()));

    tb.request(Operation::Delete, "role/developer")
        .send()
        .await
        .unwrap();
    assert!(stored_role(&tb, "developer").await.is_none());
    // Renewal after the role is gone uses the TTLs kept in the lease.
    let renewed = tb.renew(&second_lease, Duration::ZERO).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(300));
    tb.revoke(&second_lease).await.unwrap();
    assert!(!fake.authenticates(second["token"].as_str().unwrap()));
    // Nothing retired is ever readable through the API.
    let err = tb
        .request(Operation::Read, "revoke-tokens/developer")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedPath), "{err:?}");
}

#[tokio::test]
async fn unreadable_lease_data_is_unrecoverable_and_upstream_failures_are_retried() {
    let (fake, tb, token) = setup().await;
    with_role(&tb, &token).await;
    let (data, lease) = issue(&tb).await;
    let mut broken = lease.clone();
    broken.internal_data.remove("key_id");
    let err = tb.revoke(&broken).await.unwrap_err();
    assert!(matches!(err, Error::Unrecoverable(_)), "{err:?}");

    // A lasting failure is the host's to retry: an error, the key stays.
    fake.fail_next(1, 500);
    let err = tb.revoke(&lease).await.unwrap_err();
    assert!(
        matches!(err, Error::Upstream(ref m) if m.contains("500") && m.contains("deleting API key")),
        "{err:?}"
    );
    assert!(fake.authenticates(data["token"].as_str().unwrap()));
    // A passing one (503) is retried within the call: the key goes.
    fake.fail_next(1, 503);
    tb.revoke(&lease).await.unwrap();
    assert!(!fake.authenticates(data["token"].as_str().unwrap()));
}

#[tokio::test]
async fn upstream_errors_are_clear_and_never_contain_the_token() {
    let (fake, tb, token) = setup().await;
    with_role(&tb, &token).await;

    fake.fail_next(1, 500);
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Upstream(ref m) if m.contains("balena answered 500") && m.contains("developer")),
        "{err:?}"
    );
    assert!(!message(&err).contains(&token));
    // A 5xx may have minted the key after all: the WAL entry stays for the
    // rollback, which finds nothing and removes it.
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    tb.tick(true).await.unwrap();
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    fake.revoke_sessions("dev");
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m)
            if m.contains("the session token of role \"developer\" is invalid or expired (balena answered 401)")),
        "{err:?}"
    );
    assert!(!message(&err).contains(&token));
    // A refusal minted nothing: no WAL entry is left behind.
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    assert!(fake.keys().is_empty());

    let err = tb
        .request(Operation::Read, "creds/nobody")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("no role")),
        "{err:?}"
    );

    // An unreachable API names the problem, not a bare 500.
    tb.request(Operation::Update, "config")
        .data(json!({"url": "http://127.0.0.1:1", "request_timeout": "2s"}))
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Upstream(ref m) if m.contains("could not reach balena")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rollback_deletes_a_key_whose_request_never_finished() {
    let (fake, tb, token) = setup().await;
    with_role(&tb, &token).await;
    fake.set_create_delay(Duration::from_secs(5));
    let pending = tb.request(Operation::Read, "creds/developer").send();
    let _ = tokio::time::timeout(Duration::from_millis(500), pending).await;
    assert_eq!(fake.keys().len(), 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    fake.set_create_delay(Duration::ZERO);
    let key = fake.keys()[0].clone();
    // Too young for a normal tick; an immediate rollback deletes it.
    tb.tick(false).await.unwrap();
    assert_eq!(fake.keys().len(), 1);
    tb.tick(true).await.unwrap();
    assert!(fake.keys().is_empty());
    assert!(!fake.authenticates(&key.key));
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    assert!(
        fake.requests()
            .contains(&format!("DELETE /v7/api_key({})", key.id))
    );
}

#[tokio::test]
async fn a_fresh_login_is_made_with_username_and_password_and_stored() {
    let (fake, tb, _) = setup().await;
    fake.set_fresh_auth_required(true);
    // A session from a login an hour ago: valid, but too old to mint keys.
    let stale = fake.session_token("dev", HOUR, WEEK);
    tb.request(Operation::Create, "role/developer")
        .data(json!({"balenaApiKey": stale, "ttl": "5m", "max_ttl": "1h",
                     "username": "dev", "password": "pw"}))
        .send()
        .await
        .unwrap();
    let (data, _) = issue(&tb).await;
    assert!(fake.authenticates(data["token"].as_str().unwrap()));
    let requests = fake.requests();
    let logins = requests.iter().filter(|r| *r == "POST /login_").count();
    assert_eq!(logins, 1, "{requests:?}");
    let stored = stored_role(&tb, "developer").await.unwrap();
    let fresh = stored["session_token"].as_str().unwrap();
    assert_ne!(fresh, stale);
    let auth_time = Claims::of(fresh).auth_time.unwrap();
    assert!(SystemTime::now().duration_since(auth_time).unwrap() < Duration::from_secs(60));
    // The next mint uses the fresh token: no second login.
    issue(&tb).await;
    let logins = fake
        .requests()
        .iter()
        .filter(|r| *r == "POST /login_")
        .count();
    assert_eq!(logins, 1);
}

#[tokio::test]
async fn a_password_alone_refreshes_the_session_for_a_fresh_login() {
    let (fake, tb, _) = setup().await;
    fake.set_fresh_auth_required(true);
    let stale = fake.session_token("dev", HOUR, WEEK);
    tb.request(Operation::Create, "role/developer")
        .data(json!({"session_token": stale, "password": "pw"}))
        .send()
        .await
        .unwrap();
    let (data, _) = issue(&tb).await;
    assert!(fake.authenticates(data["token"].as_str().unwrap()));
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == "POST /user/v1/refresh-token")
    );
    assert!(!fake.requests().iter().any(|r| r == "POST /login_"));
}

#[tokio::test]
async fn without_credentials_a_fresh_login_demand_is_a_clear_error() {
    let (fake, tb, _) = setup().await;
    fake.set_fresh_auth_required(true);
    let stale = fake.session_token("dev", HOUR, WEEK);
    with_role(&tb, &stale).await;
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m)
            if m.contains("Fresh authentication token required") && m.contains("username and password")),
        "{err:?}"
    );
    assert!(!message(&err).contains(&stale));
    assert!(fake.keys().is_empty());
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // A wrong password is reported as such.
    tb.request(Operation::Update, "role/developer")
        .data(json!({"username": "dev", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("check the role's username and password") && !m.contains("wrong")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_role_can_start_from_username_and_password_alone() {
    let (fake, tb, _) = setup().await;
    tb.request(Operation::Create, "role/developer")
        .data(json!({"username": "dev", "password": "pw", "ttl": "5m"}))
        .send()
        .await
        .unwrap();
    let stored = stored_role(&tb, "developer").await.unwrap();
    assert!(fake.authenticates(stored["session_token"].as_str().unwrap()));
    let err = tb
        .request(Operation::Create, "role/other")
        .data(json!({"username": "dev", "password": "nope"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("failed")),
        "{err:?}"
    );
    assert!(stored_role(&tb, "other").await.is_none());
}

#[tokio::test]
async fn the_periodic_function_refreshes_sessions_that_end_soon() {
    let (fake, tb, _) = setup().await;
    let ends_soon = fake.session_token("dev", HOUR, DAY);
    let ends_later = fake.session_token("dev", HOUR, WEEK);
    let with_password = fake.session_token("dev", HOUR, DAY);
    for (name, token) in [("soon", &ends_soon), ("later", &ends_later)] {
        tb.request(Operation::Create, &format!("role/{name}"))
            .field("session_token", token.as_str())
            .send()
            .await
            .unwrap();
    }
    tb.request(Operation::Create, "role/fresh")
        .data(json!({"session_token": with_password, "password": "pw"}))
        .send()
        .await
        .unwrap();
    // A failing refresh of one role does not stop the others.
    tb.request(Operation::Create, "role/broken")
        .field(
            "session_token",
            fake.session_token("dev", HOUR, DAY).as_str(),
        )
        .send()
        .await
        .unwrap();
    let broken = stored_role(&tb, "broken").await.unwrap()["session_token"].clone();
    fake.fail_next(1, 500);
    // The roles are listed in order: "broken" is refreshed first and fails.
    tb.tick(false).await.unwrap();

    let token_of = async |name: &str| {
        stored_role(&tb, name).await.unwrap()["session_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        stored_role(&tb, "broken").await.unwrap()["session_token"],
        broken
    );
    let soon = token_of("soon").await;
    assert_ne!(soon, ends_soon);
    let claims = Claims::of(&soon);
    let left = claims.expires_in(SystemTime::now()).unwrap();
    assert!(left > WEEK - HOUR, "{left:?}");
    // Without a password the login time is kept...
    let auth_age = SystemTime::now()
        .duration_since(claims.auth_time.unwrap())
        .unwrap();
    assert!(auth_age >= HOUR - Duration::from_secs(60), "{auth_age:?}");
    // ...with one it is fresh.
    let fresh = Claims::of(&token_of("fresh").await);
    let auth_age = SystemTime::now()
        .duration_since(fresh.auth_time.unwrap())
        .unwrap();
    assert!(auth_age < Duration::from_secs(60), "{auth_age:?}");
    assert_eq!(token_of("later").await, ends_later);
    let refreshes = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/user/v1/refresh-token"))
        .count();
    assert_eq!(refreshes, 3);
    // The failed one waits an hour before trying again; the others are done.
    tb.tick(false).await.unwrap();
    let again = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("/user/v1/refresh-token"))
        .count();
    assert_eq!(again, 3);
}

#[tokio::test]
async fn renewal_never_outlives_the_key_at_balena() {
    let (_fake, tb, token) = setup().await;
    with_role(&tb, &token).await;
    let (_, mut lease) = issue(&tb).await;
    // As if issued 59 minutes ago: 1 minute is left of the 1h the key lives.
    lease.lease.issue_time = Some(SystemTime::now() - Duration::from_secs(59 * 60));
    lease
        .internal_data
        .insert("expires_at".into(), json!(now_secs() + 60));
    let renewed = tb.renew(&lease, Duration::from_secs(600)).await.unwrap();
    let ttl = renewed.secret.unwrap().lease.ttl;
    assert!(ttl <= Duration::from_secs(61), "{ttl:?}");
    // Raising the role's max_ttl does not stretch leases past their key.
    tb.request(Operation::Update, "role/developer")
        .field("max_ttl", "2h")
        .send()
        .await
        .unwrap();
    let renewed = tb.renew(&lease, Duration::from_secs(600)).await.unwrap();
    assert!(renewed.secret.unwrap().lease.ttl <= Duration::from_secs(61));
    lease
        .internal_data
        .insert("expires_at".into(), json!(now_secs() - 10));
    let err = tb
        .renew(&lease, Duration::from_secs(600))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("expired")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_wal_rollback_min_age_mount_option_is_read() {
    let mut config = std::collections::HashMap::new();
    config.insert("wal_rollback_min_age".to_owned(), "soon".to_owned());
    let ctx = |config| SetupContext {
        config,
        backend_uuid: String::new(),
        storage: std::sync::Arc::new(vault_plugin_sdk::storage::MemoryStorage::new()),
        system_view: std::sync::Arc::new(StaticSystemView::default()),
    };
    // As the SDK sets a mount up: the factory, then the mount options.
    let mount = |config| vault_plugin_sdk::backend::Factory::build(&factory, ctx(config));
    let err = mount(config.clone()).await.err().unwrap();
    assert!(message(&err).contains("wal_rollback_min_age"), "{err:?}");
    config.insert("wal_rollback_min_age".to_owned(), "5s".to_owned());
    assert!(mount(config).await.is_ok());
}

#[tokio::test]
async fn on_a_standby_the_periodic_refresh_and_minting_leave_balena_alone() {
    let fake = FakeBalena::start().unwrap();
    fake.add_user("dev", "pw");
    let mut tb = configured(&fake).await;
    let ends_soon = fake.session_token("dev", HOUR, DAY);
    with_role(&tb, &ends_soon).await;
    let asked_before = fake.requests().len();
    tb.set_standby(true);

    tb.tick(true).await.unwrap();
    // The mint stops at its WAL entry, before balena: the host's read-only
    // error, unchanged, makes the host forward the request.
    let err = tb
        .request(Operation::Read, "creds/developer")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");
    assert_eq!(fake.requests().len(), asked_before, "{:?}", fake.requests());
    assert!(fake.keys().is_empty());
    let stored = stored_role(&tb, "developer").await.unwrap();
    assert_eq!(stored["session_token"], ends_soon.as_str());

    tb.set_standby(false);
    tb.tick(true).await.unwrap();
    let stored = stored_role(&tb, "developer").await.unwrap();
    assert_ne!(stored["session_token"], ends_soon.as_str(), "not refreshed");
}
