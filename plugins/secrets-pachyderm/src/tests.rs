//! In-process tests of every path, against the fake pachd (real gRPC over
//! loopback).

use std::time::{Duration, SystemTime};

use integration_tests::fake_pachd::{FakePachd, ROOT_SUBJECT, Role, Rpc};
use serde_json::{Value, json};
use tonic::Code;
use vault_plugin_sdk::framework::SecretData;
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::framework::wal::{WalKind, get_wal, list_wal};
use vault_plugin_sdk::storage::{Storage, StorageExt};
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, Operation};

use super::*;
use crate::login::TOKEN_MARGIN;

type Kit = TestBackend<Backend<State>>;
type Map = serde_json::Map<String, Value>;

const MOUNT_DEFAULT: Duration = Duration::from_secs(600);
const MOUNT_MAX: Duration = Duration::from_secs(7200);

fn kit() -> Kit {
    TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            default_lease_ttl: MOUNT_DEFAULT,
            max_lease_ttl: MOUNT_MAX,
            ..StaticSystemView::default()
        },
    )
}

/// A fake pachd and a mount configured with its root token, as the issue's
/// operator flow does (`ttl=45s`), with a max TTL of an hour.
async fn setup() -> (FakePachd, Kit) {
    let fake = FakePachd::start().unwrap();
    let tb = kit();
    tb.request(Operation::Create, "config")
        .data(json!({
            "admin_token": fake.root_token(),
            "pachd_address": fake.address(),
            "ttl": "45s",
            "max_ttl": "1h",
            "request_timeout": "2s",
        }))
        .send()
        .await
        .unwrap();
    (fake, tb)
}

/// `login/<robot>`: the data and the lease.
async fn login(tb: &Kit, robot: &str) -> (Map, SecretData) {
    let resp = tb
        .request(Operation::Update, &format!("login/{robot}"))
        .send()
        .await
        .unwrap();
    (resp.data.unwrap(), resp.secret.expect("a lease"))
}

fn user_token(data: &Map) -> String {
    data["user_token"].as_str().unwrap().to_owned()
}

fn bad_request(err: Error) -> String {
    match err {
        Error::BadRequest(message) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn upstream(err: Error) -> String {
    match err {
        Error::Upstream(message) => message,
        other => panic!("expected a 502, got {other:?}"),
    }
}

fn now_secs() -> u64 {
    config::unix_secs(SystemTime::now())
}

#[tokio::test]
async fn config_is_missing_before_the_first_write() {
    let tb = kit();
    assert_eq!(tb.exists("config").await.unwrap(), Some(false));
    // An empty read: the host answers 404.
    let read = tb.request(Operation::Read, "config").send().await.unwrap();
    assert!(read.is_empty(), "{read:?}");
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("not configured"));
}

/// Found by the server fuzzer (tests/tests/fuzz_server.rs): a config write
/// with a 16 KB admin token answered 502 (pachd refused the headers).
#[tokio::test]
async fn a_config_token_too_long_to_send_is_a_400_and_nothing_is_stored() {
    let fake = FakePachd::start().unwrap();
    let tb = kit();
    let long = "!".repeat(16_000);
    let err = tb
        .request(Operation::Create, "config")
        .data(json!({"admin_token": long, "pachd_address": fake.address()}))
        .send()
        .await
        .unwrap_err();
    let message = bad_request(err);
    assert!(message.contains("cannot be sent to pachd"), "{message}");
    assert!(tb.storage().list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn config_checks_the_admin_token_with_pachd_and_never_shows_it() {
    let fake = FakePachd::start().unwrap();
    let tb = kit();
    let create = |data: Value| tb.request(Operation::Create, "config").data(data).send();

    let err = create(json!({"pachd_address": fake.address()}))
        .await
        .unwrap_err();
    assert_eq!(
        bad_request(err),
        r#"Field validation failed: missing required field "admin_token""#
    );
    let err = create(json!({"admin_token": fake.root_token()}))
        .await
        .unwrap_err();
    assert!(bad_request(err).contains(r#"missing required field "pachd_address""#));
    let err = create(json!({"admin_token": "x", "pachd_address": "unix:///pachd"}))
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("unix sockets"));

    // A token pachd does not know: a 400, nothing stored, no token echoed.
    let dead = "0123456789abcdef0123456789abcdef";
    let err = create(json!({"admin_token": dead, "pachd_address": fake.address()}))
        .await
        .unwrap_err();
    let message = bad_request(err);
    assert!(message.contains("the admin token is invalid"), "{message}");
    assert!(message.ends_with("nothing was stored"), "{message}");
    assert!(!message.contains(dead));
    assert!(tb.storage().list("").await.unwrap().is_empty());

    // Nothing listens: a 502 naming the address.
    let err = create(json!({"admin_token": fake.root_token(), "pachd_address": "127.0.0.1:1"}))
        .await
        .unwrap_err();
    let message = upstream(err);
    assert!(
        message.starts_with("pachd cannot be reached at grpc://127.0.0.1:1"),
        "{message}"
    );

    let resp = create(json!({
        "admin_token": format!(" {} ", fake.root_token()),
        "pachd_address": fake.address(),
        "ttl": "45s",
    }))
    .await
    .unwrap();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(read["pachd_address"], fake.address());
    assert_eq!(read["ttl"], 45);
    assert_eq!(read["max_ttl"], 0);
    assert_eq!(read["request_timeout"], 10);
    assert_eq!(read["admin_subject"], ROOT_SUBJECT);
    assert_eq!(read["admin_token_expires_in"], Value::Null);
    assert!(!Value::Object(read).to_string().contains(fake.root_token()));

    // A TTL-only update keeps the rest and asks pachd nothing.
    let checks = fake.calls(Rpc::WhoAmI);
    tb.request(Operation::Update, "config")
        .field("max_ttl", "1h")
        .send()
        .await
        .unwrap();
    assert_eq!(fake.calls(Rpc::WhoAmI), checks);
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        (read["ttl"].clone(), read["max_ttl"].clone()),
        (json!(45), json!(3600))
    );
    let err = tb
        .request(Operation::Update, "config")
        .field("ttl", "2h")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad_request(err), "ttl cannot be greater than max_ttl");
}

#[tokio::test]
async fn an_expiring_admin_token_is_accepted_with_a_warning() {
    let fake = FakePachd::start().unwrap();
    fake.grant("user:ops", Role::RobotUser);
    let ops = fake.issue_token("user:ops", Some(Duration::from_secs(3600)));
    let tb = kit();
    let resp = tb
        .request(Operation::Create, "config")
        .data(json!({"admin_token": ops, "pachd_address": fake.url(), "max_ttl": "3h"}))
        .send()
        .await
        .unwrap();
    let warnings = resp.warnings.join("\n");
    assert!(
        warnings.contains("max_ttl is above the mount's max lease TTL"),
        "{warnings}"
    );
    assert!(
        warnings.contains("the admin token of user:ops expires in"),
        "{warnings}"
    );
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(read["admin_subject"], "user:ops");
    let left = read["admin_token_expires_in"].as_u64().unwrap();
    assert!((3590..=3600).contains(&left), "{left}");
}

#[tokio::test]
async fn login_mints_a_robot_token_that_pachd_expires_after_the_max_ttl() {
    let (fake, tb) = setup().await;
    let (data, lease) = login(&tb, "ci").await;
    let token = user_token(&data);
    // The plugin made the token (pachd's form) and registered its hash.
    assert_eq!(fake.calls(Rpc::RestoreAuthToken), 1);
    assert_eq!(fake.calls(Rpc::GetRobotToken), 0);
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert_eq!(data["pachd_address"], fake.address());
    assert_eq!(data["robot"], "robot:ci");
    assert_eq!(fake.subject_of(&token).as_deref(), Some("robot:ci"));
    assert_eq!(lease.lease.ttl, Duration::from_secs(45));
    assert_eq!(lease.lease.max_ttl, Duration::from_secs(3600));
    assert!(lease.lease.renewable);
    // pachd's own expiry covers the lease's max TTL.
    let token_ttl = Duration::from_secs(3600) + TOKEN_MARGIN;
    assert_eq!(data["token_ttl"], token_ttl.as_secs());
    let expires = fake.expiry_of(&token).unwrap().unwrap();
    let left = expires.duration_since(SystemTime::now()).unwrap();
    assert!(
        left > token_ttl - Duration::from_secs(10) && left <= token_ttl,
        "{left:?}"
    );
    // The WAL entry of the mint is gone; the lease keeps the token.
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // The original form, and a ttl of its own (capped by the max TTL).
    let resp = tb
        .request(Operation::Update, "login")
        .data(json!({"username": "robot:ci", "ttl": "2h"}))
        .send()
        .await
        .unwrap();
    let second = user_token(resp.data.as_ref().unwrap());
    assert_ne!(second, token);
    assert_eq!(fake.live_tokens_of("robot:ci"), 2);
    assert_eq!(resp.secret.unwrap().lease.ttl, Duration::from_secs(3600));
}

#[tokio::test]
async fn only_robot_subjects_are_minted_in_one_spelling() {
    let (fake, tb) = setup().await;
    let path = |p: &str| tb.request(Operation::Update, p).send();
    let err = path("login/user:alice").await.unwrap_err();
    let message = bad_request(err);
    assert!(message.contains("only for robot users"), "{message}");
    let err = path("login/robot:ci").await.unwrap_err();
    assert!(bad_request(err).starts_with("write login/ci"));
    let username = |u: &str| {
        tb.request(Operation::Update, "login")
            .field("username", u)
            .send()
    };
    assert!(bad_request(username("github:alice").await.unwrap_err()).contains("not a robot user"));
    assert!(bad_request(username("pach:root").await.unwrap_err()).contains("not a robot user"));
    assert!(bad_request(username("ci").await.unwrap_err()).contains("robot:<name>"));
    let err = tb
        .request(Operation::Update, "login")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("username"));
    assert_eq!(fake.calls(Rpc::RestoreAuthToken), 0);
    assert_eq!(fake.calls(Rpc::GetRobotToken), 0);
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_mint_says_why_and_leaves_no_wal_entry() {
    let (fake, tb) = setup().await;
    // A valid token of a user without a cluster role.
    let viewer = fake.issue_token("user:viewer", None);
    tb.request(Operation::Update, "config")
        .field("admin_token", viewer.clone())
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    let message = upstream(err);
    assert!(
        message.starts_with("minting a token for robot:ci: pachd refused the call (PERMISSION_DENIED): the admin token lacks the robot-token permission"),
        "{message}"
    );
    assert!(!message.contains(&viewer));
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // The token dies after the config was written.
    fake.expire(&viewer);
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    assert!(upstream(err).contains("the admin token is invalid"));
}

#[tokio::test]
async fn an_unanswered_mint_keeps_its_wal_entry_and_the_rollback_revokes_the_token() {
    let (fake, tb) = setup().await;
    // pachd registers the token, then answers too late.
    fake.set_answer_delay(Duration::from_secs(5));
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    // A 504: pachd did not answer, which is not pachd failing.
    assert_eq!(err.status(), 504, "{err:?}");
    assert!(
        err.to_string().contains("did not answer within 2s"),
        "{err}"
    );
    fake.set_answer_delay(Duration::ZERO);
    // pachd holds a token that no lease revokes...
    let orphans = fake.hashes_of("robot:ci");
    assert_eq!(orphans.len(), 1);
    let pending = list_wal(tb.storage()).await.unwrap();
    assert_eq!(pending.len(), 1);
    let entry = get_wal(tb.storage(), &pending[0]).await.unwrap().unwrap();
    assert_eq!(entry.kind, <login::PendingMint as WalKind>::KIND);
    assert_eq!(entry.data["robot"], "ci");
    let token = entry.data["token"].as_str().unwrap().to_owned();
    assert_eq!(orphans, [crate::token::hash(&token)]);
    assert_eq!(fake.subject_of(&token).as_deref(), Some("robot:ci"));
    // ...until the rollback revokes it and clears the entry.
    tb.tick(true).await.unwrap();
    assert_eq!(fake.subject_of(&token), None);
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_rollback_retries_until_pachd_says_the_token_is_gone() {
    let (fake, tb) = setup().await;
    // The registration fails in a way that may have reached pachd.
    fake.fail(Some(Rpc::RestoreAuthToken), Code::Unavailable, "overloaded");
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be reached"), "{err}");
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    // pachd cannot revoke yet: the entry stays for the next tick.
    fake.fail(Some(Rpc::RevokeAuthToken), Code::Unavailable, "overloaded");
    let revokes = fake.calls(Rpc::RevokeAuthToken);
    let _ = tb.tick(true).await;
    assert_eq!(fake.calls(Rpc::RevokeAuthToken), revokes + 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    // pachd never held the token: gone is done.
    fake.clear_failures();
    tb.tick(true).await.unwrap();
    assert_eq!(fake.calls(Rpc::RevokeAuthToken), revokes + 2);
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    assert_eq!(fake.live_tokens_of("robot:ci"), 0);
}

#[tokio::test]
async fn an_admin_token_that_may_not_register_tokens_has_pachd_mint_them() {
    let (fake, tb) = setup().await;
    fake.grant("user:ops", Role::RobotUser);
    let ops = fake.issue_token("user:ops", None);
    tb.request(Operation::Update, "config")
        .field("admin_token", ops)
        .send()
        .await
        .unwrap();
    let (data, _) = login(&tb, "ci").await;
    let token = user_token(&data);
    assert_eq!(fake.calls(Rpc::RestoreAuthToken), 1);
    assert_eq!(fake.calls(Rpc::GetRobotToken), 1);
    assert_eq!(fake.subject_of(&token).as_deref(), Some("robot:ci"));
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());

    // Interrupted there, the rollback cannot find pachd's token: it clears
    // the entry, and the token lives until its expiry.
    fake.set_answer_delay(Duration::from_secs(5));
    let err = tb
        .request(Operation::Update, "login/ci")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 504, "{err:?}");
    fake.set_answer_delay(Duration::ZERO);
    let pending = list_wal(tb.storage()).await.unwrap();
    let entry = get_wal(tb.storage(), &pending[0]).await.unwrap().unwrap();
    assert!(entry.data["token"].is_null(), "{:?}", entry.data);
    tb.tick(true).await.unwrap();
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    assert_eq!(fake.live_tokens_of("robot:ci"), 2);
}

#[tokio::test]
async fn renew_moves_the_lease_within_the_tokens_lifetime() {
    let (_fake, tb) = setup().await;
    let (_, lease) = login(&tb, "ci").await;
    let renewed = tb.renew(&lease, Duration::from_secs(600)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(600));

    // As if issued 59 minutes ago: a minute is left of the hour.
    let mut old = lease.clone();
    old.lease.issue_time = Some(SystemTime::now() - Duration::from_secs(59 * 60));
    let renewed = tb.renew(&old, Duration::from_secs(600)).await.unwrap();
    assert!(renewed.secret.unwrap().lease.ttl <= Duration::from_secs(60));
    // A larger max_ttl now does not stretch leases past their token.
    tb.request(Operation::Update, "config")
        .field("max_ttl", "2h")
        .send()
        .await
        .unwrap();
    let renewed = tb.renew(&old, Duration::from_secs(600)).await.unwrap();
    assert!(renewed.secret.unwrap().lease.ttl <= Duration::from_secs(60));

    let mut dead = lease;
    dead.internal_data
        .insert("expires_at".into(), json!(now_secs() - 1));
    let err = tb.renew(&dead, Duration::from_secs(600)).await.unwrap_err();
    assert!(bad_request(err).contains("has expired in pachd"));
}

#[tokio::test]
async fn revoking_the_lease_kills_the_token_and_already_gone_counts() {
    let (mut fake, tb) = setup().await;
    let (data, lease) = login(&tb, "ci").await;
    let token = user_token(&data);
    // The config's TTLs change in between: revoke does not care.
    tb.request(Operation::Update, "config")
        .data(json!({"ttl": "10s", "max_ttl": "20s"}))
        .send()
        .await
        .unwrap();
    tb.revoke(&lease).await.unwrap();
    assert_eq!(fake.subject_of(&token), None);
    tb.revoke(&lease).await.unwrap();
    assert_eq!(fake.calls(Rpc::RevokeAuthToken), 2);

    // pachd down: an error, so the host retries...
    let (data, lease) = login(&tb, "ci").await;
    fake.stop();
    let err = tb.revoke(&lease).await.unwrap_err();
    let message = upstream(err);
    assert!(
        message.starts_with("revoking the token of robot:ci: pachd cannot be reached at grpc://"),
        "{message}"
    );
    assert!(!message.contains(&user_token(&data)));
    // ...unless the token has expired anyway.
    let mut expired = lease.clone();
    expired
        .internal_data
        .insert("expires_at".into(), json!(now_secs() - 1));
    tb.revoke(&expired).await.unwrap();
    fake.resume().unwrap();
    let mut revoked = false;
    for _ in 0..50 {
        if tb.revoke(&lease).await.is_ok() {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked, "revoke did not succeed once pachd was back");
    assert_eq!(fake.subject_of(&user_token(&data)), None);
}

#[tokio::test]
async fn leases_outlive_a_deleted_config_only_as_errors() {
    let (fake, tb) = setup().await;
    let (data, lease) = login(&tb, "ci").await;
    tb.request(Operation::Delete, "config")
        .send()
        .await
        .unwrap();
    let err = tb.revoke(&lease).await.unwrap_err();
    assert!(
        matches!(err, Error::Internal(ref m) if m.contains("no config")),
        "{err:?}"
    );
    assert!(fake.subject_of(&user_token(&data)).is_some());
    // Renewal still works from what the lease kept.
    let renewed = tb.renew(&lease, Duration::from_secs(30)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(30));
}

#[tokio::test]
async fn manual_revoke_revokes_any_token_but_the_admin_token() {
    let (fake, tb) = setup().await;
    let alice = fake.issue_token("user:alice", None);
    let revoke = |token: &str| {
        tb.request(Operation::Update, "revoke")
            .field("user_token", token)
            .data_of()
    };
    assert_eq!(revoke(&alice).await.unwrap()["revoked"], true);
    assert_eq!(fake.subject_of(&alice), None);
    assert_eq!(revoke(&alice).await.unwrap()["revoked"], false);
    let err = revoke(fake.root_token()).await.unwrap_err();
    assert!(bad_request(err).contains("admin token"));
    assert!(fake.subject_of(fake.root_token()).is_some());
    let err = tb
        .request(Operation::Update, "revoke")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("user_token"));
}

#[tokio::test]
async fn version_answers_with_and_without_pachd() {
    let tb = kit();
    let client = tb
        .request(Operation::Read, "version/client-only")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        client["client-version"],
        vault_plugin_sdk::plugin_version!()
    );
    assert!(client.get("server-version").is_none());

    let (fake, tb) = setup().await;
    let both = tb
        .request(Operation::Read, "version")
        .data_of()
        .await
        .unwrap();
    assert_eq!(both["server-version"], "2.11.6");
    assert_eq!(both["client-version"], vault_plugin_sdk::plugin_version!());
    fake.fail(
        Some(Rpc::GetVersion),
        Code::Unavailable,
        "down for maintenance",
    );
    let err = tb
        .request(Operation::Read, "version")
        .send()
        .await
        .unwrap_err();
    assert!(upstream(err).contains("pachd cannot be reached"));
}

#[tokio::test]
async fn rotate_root_leaves_only_vault_knowing_the_root_token() {
    let (fake, tb) = setup().await;
    let old = fake.root_token().to_owned();
    let resp = tb
        .request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap();
    assert!(resp.data.is_none() && resp.secret.is_none());
    assert_eq!(fake.subject_of(&old), None);
    let roots = fake.tokens_of(ROOT_SUBJECT);
    assert_eq!(roots.len(), 1);
    let stored: config::Config = tb.storage().get_json("config").await.unwrap().unwrap();
    assert_eq!(stored.admin_token(), roots[0]);
    assert_eq!(stored.pending_root_token, None);
    // The mount keeps minting with the new root token.
    login(&tb, "ci").await;
}

#[tokio::test]
async fn rotate_root_needs_the_root_token_and_a_pachd_that_allows_it() {
    let (fake, tb) = setup().await;
    fake.grant("user:ops", Role::ClusterAdmin);
    let ops = fake.issue_token("user:ops", None);
    tb.request(Operation::Update, "config")
        .field("admin_token", ops.clone())
        .send()
        .await
        .unwrap();
    let err = tb
        .request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).starts_with("the admin token belongs to user:ops, not pach:root"));
    assert_eq!(fake.calls(Rpc::RotateRootToken), 0);

    tb.request(Operation::Update, "config")
        .field("admin_token", fake.root_token())
        .send()
        .await
        .unwrap();
    fake.set_root_token_from_env(true);
    let err = tb
        .request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap_err();
    assert!(upstream(err).contains("RotateRootToken() is disabled"));
    let stored: config::Config = tb.storage().get_json("config").await.unwrap().unwrap();
    assert_eq!(stored.admin_token(), fake.root_token());
    assert_eq!(stored.pending_root_token, None);
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_by_the_next_one() {
    let (fake, tb) = setup().await;
    // As if pachd took a rotation whose answer never arrived.
    let taken = fake.issue_token(ROOT_SUBJECT, None);
    let mut stored: config::Config = tb.storage().get_json("config").await.unwrap().unwrap();
    stored.pending_root_token = Some(Redacted::new(taken.clone()));
    tb.storage().put_json("config", &stored).await.unwrap();
    let resp = tb
        .request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap();
    assert!(resp.warnings[0].contains("finished"), "{:?}", resp.warnings);
    let stored: config::Config = tb.storage().get_json("config").await.unwrap().unwrap();
    assert_eq!(stored.admin_token(), taken);
    assert_eq!(fake.calls(Rpc::RotateRootToken), 0);

    // A pending token pachd never took is dropped, and the rotation runs.
    let mut stored = stored;
    stored.pending_root_token = Some(Redacted::new("ffffffffffffffffffffffffffffffff".into()));
    tb.storage().put_json("config", &stored).await.unwrap();
    tb.request(Operation::Update, "config/rotate-root")
        .send()
        .await
        .unwrap();
    assert_eq!(fake.calls(Rpc::RotateRootToken), 1);
    assert_eq!(fake.subject_of(&taken), None);
}

/// The read is the SDK's: it must hide the pending root token as well as
/// the admin token.
#[tokio::test]
async fn a_config_read_never_shows_a_root_token_being_rotated_to() {
    let (fake, tb) = setup().await;
    let pending = fake.issue_token(ROOT_SUBJECT, None);
    let mut stored: config::Config = tb.storage().get_json("config").await.unwrap().unwrap();
    stored.pending_root_token = Some(Redacted::new(pending.clone()));
    tb.storage().put_json("config", &stored).await.unwrap();
    let read = tb.read("config").await.unwrap().data.unwrap();
    let shown = Value::Object(read).to_string();
    assert!(
        !shown.contains(&pending) && !shown.contains(fake.root_token()),
        "{shown}"
    );
    assert!(!shown.contains("pending_root_token"), "{shown}");
}

#[tokio::test]
async fn tls_pachd_needs_its_ca_in_the_config() {
    let fake = FakePachd::start_tls().unwrap();
    let tb = kit();
    let err = tb
        .request(Operation::Create, "config")
        .data(json!({"admin_token": fake.root_token(), "pachd_address": fake.url()}))
        .send()
        .await
        .unwrap_err();
    assert!(upstream(err).contains("certificate"));
    tb.request(Operation::Create, "config")
        .data(json!({
            "admin_token": fake.root_token(),
            "pachd_address": fake.url(),
            "ca_cert": fake.ca_cert().unwrap(),
        }))
        .send()
        .await
        .unwrap();
    let (data, _) = login(&tb, "ci").await;
    assert_eq!(data["pachd_address"], fake.url());
    let read = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(read["ca_cert"], fake.ca_cert().unwrap());
    let err = tb
        .request(Operation::Update, "config")
        .field("ca_cert", "not a certificate")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("ca_cert"));
}
