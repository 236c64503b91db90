//! The example auth method inside a real OpenBao 2.7.2: users log in over
//! the CLI and over HTTP without a token, get tokens with their policies and
//! TTL, an identity entity with their alias and group aliases, renew while
//! they exist, and never see (or leave in the log) a password.

use integration_tests::{BaoServer, crate_version, plugin_binary};
use serde_json::{Value, json};

const NAME: &str = "example-auth";
const BIN: &str = "vault-plugin-example-auth";
const MOUNT: &str = "ex";
/// Distinctive, so finding it anywhere in a log or response means a leak.
const PASSWORD: &str = "pw-Quokka-7391";

/// A server with the plugin enabled at `auth/ex` and alice created with
/// `token_policies=dev token_ttl=10m` plus `extra` arguments.
fn server_with_alice(extra: &[&str]) -> BaoServer {
    let server = BaoServer::start();
    server.install_plugin(
        "auth",
        NAME,
        &plugin_binary(BIN),
        &crate_version("plugins/example-auth"),
    );
    server.enable_auth(NAME, MOUNT);
    let password = format!("password={PASSWORD}");
    let mut args = vec![
        "write",
        "auth/ex/users/alice",
        password.as_str(),
        "token_policies=dev",
        "token_ttl=10m",
    ];
    args.extend_from_slice(extra);
    server.bao_ok(&args);
    server
}

/// `bao write auth/ex/login` as JSON.
fn login(server: &BaoServer) -> Value {
    server.bao_json(&[
        "write",
        "auth/ex/login",
        "username=alice",
        &format!("password={PASSWORD}"),
    ])
}

fn token_of(login: &Value) -> String {
    login["auth"]["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no client_token: {login}"))
        .to_owned()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn mount_accessor(server: &BaoServer) -> String {
    let mounts = server.bao_json(&["auth", "list"]);
    mounts["ex/"]["accessor"]
        .as_str()
        .unwrap_or_else(|| panic!("no accessor for ex/: {mounts}"))
        .to_owned()
}

#[test]
fn login_gives_a_token_with_the_users_policies_ttl_and_identity() {
    let server = server_with_alice(&[]);
    let login = login(&server);
    let auth = &login["auth"];
    let token = token_of(&login);
    let policies = strings(&auth["policies"]);
    assert!(
        policies.contains(&"dev") && policies.contains(&"default"),
        "{login}"
    );
    assert_eq!(auth["lease_duration"], 600, "{login}");
    assert_eq!(auth["renewable"], true, "{login}");
    assert_eq!(auth["metadata"]["username"], "alice", "{login}");

    let lookup = server.bao_json(&["token", "lookup", &token]);
    let data = &lookup["data"];
    assert_eq!(data["display_name"], "ex-alice", "{lookup}");
    let ttl = data["ttl"].as_u64().unwrap_or_default();
    assert!((590..=600).contains(&ttl), "ttl {ttl}: {lookup}");
    assert!(strings(&data["policies"]).contains(&"dev"), "{lookup}");
    assert_eq!(data["meta"]["username"], "alice", "{lookup}");

    // The host made an identity entity with alice's alias on this mount.
    let entity_id = data["entity_id"].as_str().unwrap_or_default();
    assert!(!entity_id.is_empty(), "no entity: {lookup}");
    let entity = server.bao_json(&["read", &format!("identity/entity/id/{entity_id}")]);
    let accessor = mount_accessor(&server);
    let aliases = entity["data"]["aliases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        aliases
            .iter()
            .any(|a| a["name"] == "alice" && a["mount_accessor"] == accessor.as_str()),
        "{entity}"
    );
    // A second login is the same entity.
    let again = server.bao_json(&["token", "lookup", &token_of(&self::login(&server))]);
    assert_eq!(again["data"]["entity_id"], entity_id, "{again}");
}

#[test]
fn login_needs_no_token_and_failures_do_not_tell_who_exists() {
    let server = server_with_alice(&[]);
    let (status, body) = server.http_as(
        None,
        "POST",
        "auth/ex/login",
        Some(&json!({"username": "alice", "password": PASSWORD})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["auth"]["client_token"].is_string(), "{body}");

    let (status, wrong) = server.http_as(
        None,
        "POST",
        "auth/ex/login",
        Some(&json!({"username": "alice", "password": "guess"})),
    );
    assert_eq!(status, 400, "{wrong}");
    assert!(
        wrong.to_string().contains("invalid username or password"),
        "{wrong}"
    );
    let (status, unknown) = server.http_as(
        None,
        "POST",
        "auth/ex/login",
        Some(&json!({"username": "mallory", "password": PASSWORD})),
    );
    assert_eq!((status, &unknown), (400, &wrong), "same answer for both");

    // Managing users still needs a token.
    let (status, body) = server.http_as(None, "GET", "auth/ex/users/alice", None);
    assert_eq!(status, 403, "{body}");
}

#[test]
fn tokens_renew_while_the_user_exists_with_the_same_policies() {
    let server = server_with_alice(&[]);
    let token = token_of(&login(&server));
    let renewed = server.bao_json(&["token", "renew", &token]);
    assert_eq!(renewed["auth"]["lease_duration"], 600, "{renewed}");

    // Taking a policy away stops renewals of tokens that still have it.
    server.bao_ok(&["write", "auth/ex/users/alice", "token_policies=dev,ops"]);
    let out = server.bao(&["token", "renew", &token]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "renewed with changed policies");
    assert!(stderr.contains("policies have changed"), "{stderr}");

    let token = token_of(&login(&server));
    server.bao_ok(&["token", "renew", &token]);
    server.bao_ok(&["delete", "auth/ex/users/alice"]);
    let out = server.bao(&["token", "renew", &token]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "renewed for a deleted user");
    assert!(stderr.contains("no longer exists"), "{stderr}");
}

#[test]
fn group_aliases_bring_the_groups_policies() {
    let server = server_with_alice(&["groups=admins"]);
    let group = server.bao_json(&[
        "write",
        "identity/group",
        "name=admins-ext",
        "type=external",
        "policies=admin-pol",
    ]);
    let group_id = group["data"]["id"].as_str().unwrap_or_default().to_owned();
    server.bao_ok(&[
        "write",
        "identity/group-alias",
        "name=admins",
        &format!("mount_accessor={}", mount_accessor(&server)),
        &format!("canonical_id={group_id}"),
    ]);
    let login = login(&server);
    assert!(
        strings(&login["auth"]["identity_policies"]).contains(&"admin-pol"),
        "{login}"
    );
    assert!(
        strings(&login["auth"]["policies"]).contains(&"admin-pol"),
        "{login}"
    );
}

#[test]
fn batch_tokens_and_no_password_anywhere() {
    let server = server_with_alice(&["token_type=batch", "metadata=team=blue"]);
    let login = login(&server);
    let token = token_of(&login);
    assert!(
        token.starts_with("hvb.") || token.starts_with("b."),
        "not a batch token: {token}"
    );
    assert_eq!(login["auth"]["renewable"], false, "{login}");
    assert_eq!(login["auth"]["metadata"]["team"], "blue", "{login}");
    let lookup = server.bao_json(&["token", "lookup", &token]);
    assert_eq!(lookup["data"]["type"], "batch", "{lookup}");

    let read = server.bao_json(&["read", "auth/ex/users/alice"]);
    assert_eq!(read["data"]["token_type"], "batch", "{read}");
    assert_eq!(read["data"]["metadata"], json!({"team": "blue"}), "{read}");
    assert_eq!(strings(&read["data"]["token_policies"]), ["dev"], "{read}");
    let text = read.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("password"),
        "{text}"
    );
    let log = server.log_contents();
    assert!(!log.is_empty(), "the server log is empty");
    assert!(!log.contains(PASSWORD), "the password is in the server log");
}
