//! In-process tests of every path, the login and the renewal, as a user of
//! the auth method sees them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use vault_plugin_sdk::framework::{Auth, TokenType};
use vault_plugin_sdk::storage::Storage;
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, LogicalBackend, Operation, Response};

use super::*;

const PASSWORD: &str = "s3cret-Pa55word";

type Tb = TestBackend<Backend<State>>;

fn kit() -> Tb {
    TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            ..StaticSystemView::default()
        },
    )
}

/// Creates alice the way the CLI sends it: every value a string. Every
/// field is known to the path, so the write has no warnings.
async fn with_alice() -> Tb {
    let tb = kit();
    let resp = tb
        .request(Operation::Create, "users/alice")
        .data(json!({
            "password": PASSWORD,
            "token_policies": "a,b",
            "token_ttl": "10m",
            "groups": "g1,g2",
            "metadata": ["team=blue", "site=ams"],
        }))
        .send()
        .await
        .unwrap();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    tb
}

async fn login(tb: &Tb, username: &str, password: &str) -> Result<Response> {
    tb.request(Operation::Update, "login")
        .data(json!({"username": username, "password": password}))
        .send()
        .await
}

async fn login_auth(tb: &Tb, username: &str, password: &str) -> Auth {
    login(tb, username, password)
        .await
        .unwrap()
        .auth
        .expect("a login answers with auth")
}

/// The token the host makes from a login's auth, as a renew request carries
/// it: `default` added to the policies, issued a minute ago.
fn issued(mut auth: Auth) -> Auth {
    let mut policies = auth.policies.clone();
    policies.push("default".into());
    auth.token_policies = policies.clone();
    auth.policies = policies;
    auth.client_token = "s.test".into();
    auth.lease.issue_time = Some(SystemTime::now() - Duration::from_secs(60));
    auth
}

async fn renew(tb: &Tb, auth: &Auth) -> Result<Response> {
    tb.renew_auth(auth, Duration::ZERO).await
}

async fn read_user(tb: &Tb, name: &str) -> serde_json::Map<String, Value> {
    tb.request(Operation::Read, &format!("users/{name}"))
        .data_of()
        .await
        .unwrap()
}

fn bad_request(err: &Error) -> &str {
    match err {
        Error::BadRequest(m) => m,
        other => panic!("want a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn the_backend_is_an_auth_method_whose_login_needs_no_token() {
    let tb = kit();
    assert_eq!(tb.backend().backend_type(), BackendType::Credential);
    assert_eq!(tb.backend().special_paths().unauthenticated, ["login"]);
}

#[tokio::test]
async fn login_gets_a_token_with_the_users_settings() {
    let tb = with_alice().await;
    let auth = login_auth(&tb, "alice", PASSWORD).await;
    assert_eq!(auth.policies, ["a", "b"]);
    assert_eq!(auth.lease.ttl, Duration::from_secs(600));
    assert!(auth.lease.renewable);
    assert_eq!(auth.display_name, "alice");
    assert_eq!(auth.alias.as_ref().map(|a| a.name.as_str()), Some("alice"));
    let groups: Vec<_> = auth.group_aliases.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(groups, ["g1", "g2"]);
    let want: HashMap<String, String> = [("username", "alice"), ("team", "blue"), ("site", "ams")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(auth.metadata, want);
    assert_eq!(auth.internal_data["username"], "alice");
    assert_eq!(auth.token_type, TokenType::DefaultService);
    // Nothing about the password travels with the token.
    let carried = format!("{auth:?}");
    assert!(!carried.contains(PASSWORD), "{carried}");
}

#[tokio::test]
async fn metadata_may_be_sent_as_a_json_object_and_names_ignore_case() {
    let tb = kit();
    tb.request(Operation::Create, "users/Bob")
        .data(json!({"password": "pw", "metadata": {"team": "red"}, "groups": "x, y,x"}))
        .send()
        .await
        .unwrap();
    let auth = login_auth(&tb, "BOB", "pw").await;
    assert_eq!(auth.display_name, "bob");
    assert_eq!(auth.metadata["team"], "red");
    let read = read_user(&tb, "bob").await;
    assert_eq!(read["metadata"], json!({"team": "red"}));
    assert_eq!(read["groups"], json!(["x", "y"]));
    let list = tb
        .request(Operation::List, "users/")
        .data_of()
        .await
        .unwrap();
    assert_eq!(list["keys"], json!(["bob"]));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_error() {
    let tb = with_alice().await;
    let wrong = login(&tb, "alice", "guess").await.unwrap_err();
    let unknown = login(&tb, "mallory", PASSWORD).await.unwrap_err();
    assert_eq!(bad_request(&wrong), "invalid username or password");
    assert_eq!(bad_request(&unknown), bad_request(&wrong));
    assert_eq!(wrong.status(), unknown.status());

    let missing = tb
        .request(Operation::Update, "login")
        .field("password", PASSWORD)
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&missing).contains("username"), "{missing}");
}

#[tokio::test]
async fn creating_a_user_needs_a_password_and_updating_keeps_it() {
    let tb = kit();
    let err = tb
        .request(Operation::Create, "users/carol")
        .field("token_policies", "dev")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&err).contains("password is required"), "{err}");
    assert!(tb.storage().list("").await.unwrap().is_empty());
    let err = tb
        .request(Operation::Create, "users/carol")
        .field("password", "")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&err).contains("cannot be empty"), "{err}");

    let tb = with_alice().await;
    tb.request(Operation::Update, "users/alice")
        .field("token_policies", "c")
        .send()
        .await
        .unwrap();
    let auth = login_auth(&tb, "alice", PASSWORD).await;
    assert_eq!(auth.policies, ["c"]);
    // What the update did not send is kept.
    assert_eq!(auth.lease.ttl, Duration::from_secs(600));
    assert_eq!(auth.group_aliases.len(), 2);
}

#[tokio::test]
async fn the_password_can_be_changed_on_its_own() {
    let tb = with_alice().await;
    tb.request(Operation::Update, "users/alice/password")
        .field("password", "new-one")
        .send()
        .await
        .unwrap();
    assert!(login(&tb, "alice", PASSWORD).await.is_err());
    let auth = login_auth(&tb, "alice", "new-one").await;
    assert_eq!(auth.policies, ["a", "b"]);
    let err = tb
        .request(Operation::Update, "users/nobody/password")
        .field("password", "x")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&err).contains("no user"), "{err}");
}

#[tokio::test]
async fn reading_a_user_shows_settings_but_never_the_password() {
    let tb = with_alice().await;
    let read = read_user(&tb, "alice").await;
    assert_eq!(read["groups"], json!(["g1", "g2"]));
    assert_eq!(read["metadata"], json!({"team": "blue", "site": "ams"}));
    assert_eq!(read["token_policies"], json!(["a", "b"]));
    assert_eq!(read["token_ttl"], 600);
    assert_eq!(read["token_type"], "default-service");
    let text = Value::Object(read.clone()).to_string();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        !read.keys().any(|k| k.contains("password")),
        "{:?}",
        read.keys()
    );
    // Storage holds a salted hash, not the password.
    let stored = tb
        .storage()
        .get(&users::storage_key("alice"))
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.value).contains(PASSWORD));

    tb.request(Operation::Delete, "users/alice")
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Read, "users/alice")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn legacy_token_field_names_are_upgraded_and_unknown_fields_warned_about() {
    let tb = kit();
    tb.request(Operation::Create, "users/dave")
        .data(json!({"password": "pw", "policies": "old", "ttl": "60", "max_ttl": "2m"}))
        .send()
        .await
        .unwrap();
    let resp = tb
        .request(Operation::Update, "users/dave")
        .data(json!({"token_num_uses": "2", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.warnings,
        ["Endpoint ignored these unrecognized parameters: [colour]"]
    );
    let read = read_user(&tb, "dave").await;
    assert_eq!(read["token_policies"], json!(["old"]));
    assert_eq!(read["token_ttl"], 60);
    assert_eq!(read["token_max_ttl"], 120);
    assert_eq!(read["token_num_uses"], 2);
    let auth = login_auth(&tb, "dave", "pw").await;
    assert_eq!(auth.policies, ["old"]);
    assert_eq!(auth.lease.ttl, Duration::from_secs(60));
    assert_eq!(auth.lease.max_ttl, Duration::from_secs(120));
}

#[tokio::test]
async fn invalid_token_settings_are_refused_and_nothing_changes() {
    let tb = kit();
    let err = tb
        .request(Operation::Create, "users/erin")
        .data(json!({"password": "pw", "token_type": "bulk"}))
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&err).contains("token_type"), "{err}");
    assert!(tb.storage().list("").await.unwrap().is_empty());

    let tb = with_alice().await;
    let cases = [
        (json!({"token_type": "bulk"}), "token_type"),
        (
            json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
            "token_max_ttl",
        ),
        (json!({"metadata": "username=root"}), "reserved"),
        (json!({"token_bound_cidrs": "10.0.0.0/40"}), "CIDR"),
    ];
    for (data, want) in cases {
        let err = tb
            .request(Operation::Update, "users/alice")
            .data(data.clone())
            .send()
            .await
            .unwrap_err();
        assert!(bad_request(&err).contains(want), "{data}: {err}");
    }
    let read = read_user(&tb, "alice").await;
    assert_eq!(read["token_type"], "default-service");
    assert_eq!(read["token_ttl"], 600);
    assert_eq!(read["groups"], json!(["g1", "g2"]));
}

#[tokio::test]
async fn batch_tokens_can_be_asked_for() {
    let tb = with_alice().await;
    tb.request(Operation::Update, "users/alice")
        .field("token_type", "batch")
        .send()
        .await
        .unwrap();
    let auth = login_auth(&tb, "alice", PASSWORD).await;
    assert_eq!(auth.token_type, TokenType::Batch);
    // Batch tokens cannot be periodic.
    let err = tb
        .request(Operation::Update, "users/alice")
        .field("token_period", "1h")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(&err).contains("periodic"), "{err}");
}

#[tokio::test]
async fn alias_lookahead_names_the_alias_without_a_password() {
    let tb = with_alice().await;
    for password in [None, Some("wrong")] {
        let mut req = tb
            .request(Operation::AliasLookahead, "login")
            .field("username", "Alice");
        if let Some(password) = password {
            req = req.field("password", password);
        }
        let auth = req.send().await.unwrap().auth.expect("auth");
        assert_eq!(auth.alias.map(|a| a.name), Some("alice".to_owned()));
        assert!(auth.policies.is_empty());
        assert!(auth.metadata.is_empty());
    }
}

#[tokio::test]
async fn bound_cidrs_refuse_a_login_from_an_unknown_address() {
    let tb = with_alice().await;
    tb.request(Operation::Update, "users/alice")
        .field("token_bound_cidrs", "10.0.0.0/8")
        .send()
        .await
        .unwrap();
    // The test kit passes no client address, so the login cannot be allowed.
    let err = login(&tb, "alice", PASSWORD).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied), "{err:?}");
}

#[tokio::test]
async fn renewal_uses_the_users_current_settings() {
    let tb = with_alice().await;
    let token = issued(login_auth(&tb, "alice", PASSWORD).await);
    let renewed = renew(&tb, &token).await.unwrap().auth.expect("auth");
    assert_eq!(renewed.lease.ttl, Duration::from_secs(600));
    assert!(renewed.lease.renewable);

    tb.request(Operation::Update, "users/alice")
        .field("token_ttl", "20m")
        .send()
        .await
        .unwrap();
    let renewed = renew(&tb, &token).await.unwrap().auth.expect("auth");
    assert_eq!(renewed.lease.ttl, Duration::from_secs(1200));
}

#[tokio::test]
async fn renewal_is_refused_when_the_policies_changed() {
    let tb = with_alice().await;
    let token = issued(login_auth(&tb, "alice", PASSWORD).await);
    tb.request(Operation::Update, "users/alice")
        .field("token_policies", "a")
        .send()
        .await
        .unwrap();
    let err = renew(&tb, &token).await.unwrap_err();
    assert_eq!(bad_request(&err), "policies have changed, not renewing");
    // The same policies in another order are no change.
    tb.request(Operation::Update, "users/alice")
        .field("token_policies", "b,a")
        .send()
        .await
        .unwrap();
    renew(&tb, &token).await.unwrap();
}

#[tokio::test]
async fn renewal_is_refused_once_the_user_is_deleted() {
    let tb = with_alice().await;
    let token = issued(login_auth(&tb, "alice", PASSWORD).await);
    tb.request(Operation::Delete, "users/alice")
        .send()
        .await
        .unwrap();
    let err = renew(&tb, &token).await.unwrap_err();
    assert!(bad_request(&err).contains("no longer exists"), "{err}");
}

#[test]
fn passwords_are_sensitive_fields_and_the_token_fields_are_declared() {
    use vault_plugin_sdk::Fields as _;
    let user = users::UserArgs::schema();
    let login = login::LoginArgs::schema();
    for (schema, name) in [(&user, "password"), (&login, "password")] {
        let field = schema.iter().find(|f| f.name == name).expect(name);
        assert!(field.display.sensitive, "{name} is masked in UIs");
    }
    for name in [
        "token_policies",
        "token_ttl",
        "token_type",
        "policies",
        "groups",
        "metadata",
    ] {
        assert!(user.iter().any(|f| f.name == name), "{name}");
    }
    let metadata = user
        .iter()
        .find(|f| f.name == "metadata")
        .expect("metadata");
    assert_eq!(metadata.kind.to_string(), "kv_pairs");
}
