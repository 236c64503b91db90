//! The `secrets-proxmox` plugin inside a real OpenBao, against the fake
//! Proxmox API over HTTPS, in one server: the operator's flow as the
//! original README writes it, privilege-separated tokens with ACLs (the
//! minted token can do what they allow and nothing else), renew, revoke
//! after the role is deleted, the WAL rollback of a token minted before a
//! plugin crash, rotate-root, bad input as 400s, and no secret in the
//! server log.

use std::time::Duration;

use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::{BaoServer, crate_version, plugin_binary, wait_for};
use serde_json::{Value, json};

const NAME: &str = "vault-plugin-secrets-proxmox";
const VM_100: &str = "/nodes/pve/qemu/100/status/current";
const VM_101: &str = "/nodes/pve/qemu/101/status/current";

fn text<'a>(creds: &'a Value, field: &str) -> &'a str {
    creds["data"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {creds}"))
}

/// A `bao` command that must fail with a 400: its stderr.
fn bad_request(server: &BaoServer, args: &[&str]) -> String {
    let out = server.bao(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && stderr.contains("Code: 400"),
        "`bao {}`: {stderr}",
        args.join(" ")
    );
    stderr
}

#[test]
fn the_operators_flow_privsep_leases_rollback_and_rotation() {
    let fake = FakeProxmox::start().unwrap();
    let root_secret = fake.add_token("root@pam", "vault", false);
    fake.add_user("alice@pve");
    fake.grant("/vms", "alice@pve", "PVEVMUser");
    let dir = tempfile::tempdir().unwrap();
    let ca = fake.write_ca_file(dir.path());

    let server = BaoServer::start();
    server.install_plugin(
        "secret",
        NAME,
        &plugin_binary(NAME),
        &crate_version("plugins/secrets-proxmox"),
    );
    let mut secrets = vec![root_secret.clone()];

    // The operator's flow, as written in the original README.
    server.bao_ok(&["secrets", "enable", "-path=proxmox", NAME]);
    server.write_ok(
        "proxmox/config",
        &fake.config_args("vault", &root_secret, Some(&ca)),
    );
    server.bao_ok(&["write", "proxmox/role/alice", "user=alice", "realm=pve"]);
    let creds = server.bao_json(&["read", "proxmox/creds/alice"]);
    let (id, full, secret) = (
        text(&creds, "token_id"),
        text(&creds, "token_id_full"),
        text(&creds, "secret"),
    );
    secrets.push(secret.to_owned());
    assert_eq!(full, format!("alice@pve!{id}"));
    assert_eq!(creds["renewable"], true, "{creds}");
    let lease = creds["lease_id"].as_str().unwrap();
    assert!(lease.starts_with("proxmox/creds/alice/"), "{creds}");
    assert_eq!(
        fake.status_as(full, secret, "GET", VM_101),
        200,
        "acts as alice"
    );
    server.bao_ok(&["lease", "revoke", "-sync", lease]);
    assert_eq!(
        fake.status_as(full, secret, "GET", "/version"),
        401,
        "revoked in Proxmox"
    );

    // A config read shows no secret.
    let config = server.bao_json(&["read", "proxmox/config"]);
    assert_eq!(
        config["data"]["token_id_full"], "root@pam!vault",
        "{config}"
    );
    assert!(!config.to_string().contains(&root_secret));

    // Privilege separation with ACLs, written as JSON.
    let role = dir.path().join("role.json");
    let acls = json!({"user": "alice", "realm": "pve", "ttl": "5m", "max_ttl": "1h",
                      "acls": [{"path": "/vms/100", "roles": ["PVEVMUser"], "propagate": true}]});
    std::fs::write(&role, acls.to_string()).unwrap();
    server.bao_ok(&["write", "proxmox/role/ci", &format!("@{}", role.display())]);
    let creds = server.bao_json(&["read", "proxmox/creds/ci"]);
    let (full, secret) = (text(&creds, "token_id_full"), text(&creds, "secret"));
    secrets.push(secret.to_owned());
    assert_eq!(fake.status_as(full, secret, "GET", VM_100), 200);
    assert_eq!(fake.status_as(full, secret, "GET", VM_101), 403);
    assert_eq!(creds["lease_duration"], 300, "{creds}");

    // Renew within the max TTL; revoke after the role is gone.
    let lease = creds["lease_id"].as_str().unwrap();
    let renewed = server.bao_json(&["lease", "renew", "-increment=2m", lease]);
    assert_eq!(renewed["lease_duration"], 120, "{renewed}");
    server.bao_ok(&["delete", "proxmox/role/ci"]);
    server.bao_ok(&["lease", "revoke", "-sync", lease]);
    assert_eq!(fake.status_as(full, secret, "GET", VM_100), 401);

    // Bad input is a 400 naming the field.
    let err = bad_request(
        &server,
        &[
            "write",
            "proxmox/role/bad",
            "user=alice",
            "realm=pve",
            "ttl=abc",
        ],
    );
    assert!(err.contains("ttl"), "{err}");
    let err = bad_request(
        &server,
        &["write", "proxmox/role/bad", "user=alice", "realm=p@m"],
    );
    assert!(err.contains("realm"), "{err}");
    bad_request(
        &server,
        &[
            "write",
            "proxmox/role/bad",
            "user=alice",
            "realm=pve",
            "acls=vms:PVEVMUser",
        ],
    );

    // rotate-root: the old secret dies, minting goes on with the new one.
    server.bao_ok(&["write", "-f", "proxmox/config/rotate-root"]);
    assert_eq!(
        fake.status_as("root@pam!vault", &root_secret, "GET", "/version"),
        401
    );
    let creds = server.bao_json(&["read", "proxmox/creds/alice"]);
    secrets.push(text(&creds, "secret").to_owned());

    // A plugin crash between the token's creation and its lease: the
    // rollback deletes the token (a mount with a short WAL min age, and the
    // settings of the original README).
    server.bao_ok(&[
        "secrets",
        "enable",
        "-path=proxmox-crash",
        "-options=wal_rollback_min_age=1s",
        NAME,
    ]);
    let crash_secret = fake.add_token("root@pam", "crash", false);
    secrets.push(crash_secret.clone());
    let mut config = fake.config_args("crash", &crash_secret, None);
    config.extend(["http_headers=X-Via,vault", "timeout=120"].map(String::from));
    server.write_ok("proxmox-crash/config", &config);
    server.bao_ok(&[
        "write",
        "proxmox-crash/role/alice",
        "user=alice",
        "realm=pve",
    ]);
    let before = fake.tokens().len();
    fake.set_create_delay(Duration::from_secs(30));
    let mut read = server.bao_spawn(&["read", "proxmox-crash/creds/alice"]);
    wait_for("the token to exist", Duration::from_secs(20), || {
        fake.tokens().len() > before
    });
    assert!(!server.kill_plugin(NAME).is_empty(), "the plugin runs");
    let _ = read.wait();
    fake.set_create_delay(Duration::ZERO);
    wait_for(
        "the rollback to delete the token",
        Duration::from_secs(150),
        || fake.tokens().len() == before,
    );

    // No secret anywhere in the server log.
    let log = server.log_contents();
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the server log"
        );
    }
}
