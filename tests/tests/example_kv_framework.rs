//! The framework's features through the example plugin inside a real
//! OpenBao: dynamic secrets with leases (`bao lease renew/revoke`), a WAL
//! rollback after the plugin is killed mid-request, the periodic tidy,
//! `bao patch`, and typed-field errors.

use std::time::Duration;

use integration_tests::fake_keys::FakeKeyService;
use integration_tests::{BaoServer, crate_version, plugin_binary, wait_for};
use serde_json::{Value, json};

const NAME: &str = "example-kv";
const BIN: &str = "vault-plugin-example-kv";

/// A server with the plugin at `ex/` (with `options`), configured against
/// `fake`, and a role `dev` (ttl 5m, max 1h).
fn server(fake: &FakeKeyService, options: &[&str]) -> BaoServer {
    let server = BaoServer::start();
    server.install_plugin(
        "secret",
        NAME,
        &plugin_binary(BIN),
        &crate_version("plugins/example-kv"),
    );
    let mut args = vec!["secrets", "enable", "-path=ex"];
    let opts: Vec<String> = options.iter().map(|o| format!("-options={o}")).collect();
    args.extend(opts.iter().map(String::as_str));
    args.push(NAME);
    server.bao_ok(&args);
    server.bao_ok(&[
        "write",
        "ex/config",
        &format!("upstream_url={}", fake.url()),
    ]);
    server.bao_ok(&["write", "ex/role/dev", "ttl=5m", "max_ttl=1h"]);
    server
}

#[test]
fn creds_lease_renews_and_revokes_through_bao_lease() {
    let fake = FakeKeyService::start().unwrap();
    let server = server(&fake, &[]);

    let creds = server.bao_json(&["read", "ex/creds/dev"]);
    let lease_id = creds["lease_id"].as_str().unwrap().to_owned();
    assert!(lease_id.starts_with("ex/creds/dev/"), "{creds}");
    assert_eq!(creds["lease_duration"], 300, "{creds}");
    assert_eq!(creds["renewable"], true, "{creds}");
    let secret = creds["data"]["secret"].as_str().unwrap().to_owned();
    assert!(fake.authenticates(&secret));

    let renewed = server.bao_json(&["lease", "renew", "-increment=2m", &lease_id]);
    assert_eq!(renewed["lease_duration"], 120, "{renewed}");
    // Past the role's max TTL the lease is capped to what is left.
    let capped = server.bao_json(&["lease", "renew", "-increment=5h", &lease_id]);
    let left = capped["lease_duration"].as_u64().unwrap();
    assert!((3500..=3600).contains(&left), "{capped}");

    // `-sync`: the revocation (and so the upstream delete) is done when the
    // command returns; without it the expiration manager queues it.
    server.bao_ok(&["lease", "revoke", "-sync", &lease_id]);
    assert!(
        !fake.authenticates(&secret),
        "revoking the lease deletes the key"
    );

    // Revoke by prefix, after the role is gone: the lease has what it needs.
    let a = server.bao_json(&["read", "ex/creds/dev"]);
    let b = server.bao_json(&["read", "ex/creds/dev"]);
    server.bao_ok(&["delete", "ex/role/dev"]);
    // A prefix revoke is queued; the expiration manager works through it.
    server.bao_ok(&["lease", "revoke", "-prefix", "ex/creds/dev"]);
    wait_for("the prefix revoke", Duration::from_secs(30), || {
        fake.keys().is_empty()
    });
    for creds in [a, b] {
        let secret = creds["data"]["secret"].as_str().unwrap();
        assert!(!fake.authenticates(secret), "{creds}");
    }
    // The secret never reaches the server log.
    assert!(!server.log_contents().contains(&secret));
}

#[test]
fn a_key_minted_before_a_crash_is_rolled_back_on_the_periodic_tick() {
    let fake = FakeKeyService::start().unwrap();
    let server = server(&fake, &["wal_rollback_min_age=1s"]);
    server.bao_ok(&["write", "ex/kv/short", "value=x", "ttl=1s"]);
    server.bao_ok(&["write", "ex/kv/long", "value=y", "ttl=1h"]);

    // The upstream creates the key, then is slow to answer: kill the
    // plugin in between, as a crash would.
    fake.set_create_delay(Duration::from_secs(30));
    let mut read = server.bao_spawn(&["read", "ex/creds/dev"]);
    wait_for("the key to exist upstream", Duration::from_secs(20), || {
        !fake.keys().is_empty()
    });
    assert!(!server.kill_plugin(NAME).is_empty(), "the plugin runs");
    let _ = read.wait();
    fake.set_create_delay(Duration::ZERO);
    assert_eq!(
        fake.keys().len(),
        1,
        "the orphan exists before the rollback"
    );

    // The host's rollback tick comes about once a minute; it restarts the
    // plugin, which finds the WAL entry and deletes the key. The same tick
    // runs the tidy, which drops the expired kv entry.
    wait_for(
        "the rollback to delete the orphan key",
        Duration::from_secs(150),
        || fake.keys().is_empty(),
    );
    wait_for(
        "the tidy to drop the expired entry",
        Duration::from_secs(90),
        || server.bao_json(&["list", "ex/kv"]) == json!(["long"]),
    );
    // Issuing works again afterwards.
    let creds = server.bao_json(&["read", "ex/creds/dev"]);
    assert!(creds["data"]["secret"].is_string(), "{creds}");
}

#[test]
fn patch_merges_and_typed_fields_reject_bad_input() {
    let fake = FakeKeyService::start().unwrap();
    let server = server(&fake, &[]);
    server.bao_ok(&["write", "ex/kv/p", "a=1", "b=2"]);
    server.bao_ok(&["patch", "ex/kv/p", "b=3", "c=4"]);
    let read = server.bao_json(&["read", "ex/kv/p"]);
    assert_eq!(
        read["data"],
        json!({"a": "1", "b": "3", "c": "4"}),
        "{read}"
    );
    let out = server.bao(&["patch", "ex/kv/missing", "x=1"]);
    assert!(!out.status.success(), "patching a missing entry fails");

    // Bad input: a 400 that names the field, and the role is unchanged.
    let (status, body) = server.http("POST", "ex/role/dev", Some(&json!({"ttl": "soon"})));
    assert_eq!(status, 400, "{body}");
    let msg = body["errors"][0].as_str().unwrap_or_default();
    assert!(
        msg.contains("Field validation failed") && msg.contains("ttl"),
        "{body}"
    );
    let role = server.bao_json(&["read", "ex/role/dev"]);
    assert_eq!(role["data"]["ttl"], 300, "{role}");

    // Unknown fields are accepted with a warning.
    let (status, body) = server.http(
        "POST",
        "ex/role/dev",
        Some(&json!({"ttl": "10m", "colour": "red"})),
    );
    assert_eq!(status, 200, "{body}");
    let warnings: Vec<Value> = body["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or_default().contains("colour")),
        "{body}"
    );
    // A list path answers with and without the trailing slash.
    assert_eq!(server.bao_json(&["list", "ex/role"]), json!(["dev"]));
    let (status, body) = server.http("LIST", "ex/role/", None);
    assert_eq!(
        (status, &body["data"]["keys"]),
        (200, &json!(["dev"])),
        "{body}"
    );
}

#[test]
fn special_paths_root_and_unauthenticated_are_enforced_by_the_host() {
    let fake = FakeKeyService::start().unwrap();
    let server = server(&fake, &[]);
    // `ping` is unauthenticated; `info` is not.
    let (status, body) = server.http_as(None, "GET", "ex/ping", None);
    assert_eq!(
        (status, &body["data"]["message"]),
        (200, &json!("pong")),
        "{body}"
    );
    let (status, _) = server.http_as(None, "GET", "ex/info", None);
    assert!(
        status == 403 || status == 400,
        "info needs a token: {status}"
    );

    // `config` is a root path: full rights on the mount are not enough
    // without `sudo`.
    let policy = |name: &str, caps: &str| {
        let rules = format!(r#"path "ex/*" {{ capabilities = [{caps}] }}"#);
        let (status, body) = server.http(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": rules })),
        );
        assert!(status == 204 || status == 200, "{status} {body}");
        let token = server.bao_json(&["token", "create", &format!("-policy={name}")]);
        token["auth"]["client_token"].as_str().unwrap().to_owned()
    };
    let all = r#""create", "read", "update", "delete", "list""#;
    let plain = policy("plain", all);
    let sudo = policy("sudo", &format!(r#"{all}, "sudo""#));
    let body = json!({ "upstream_url": fake.url() });
    let (status, resp) = server.http_as(Some(&plain), "POST", "ex/config", Some(&body));
    assert_eq!(status, 403, "{resp}");
    let (status, resp) = server.http_as(Some(&plain), "GET", "ex/role/dev", None);
    assert_eq!(
        status, 200,
        "other paths work with the plain policy: {resp}"
    );
    let (status, resp) = server.http_as(Some(&sudo), "POST", "ex/config", Some(&body));
    assert!(status == 204 || status == 200, "{status} {resp}");
}
