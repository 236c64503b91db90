//! The aarch64 (Raspberry Pi) release binaries inside a real OpenBao on this
//! x86_64 machine: each plugin is registered as a small wrapper command in the
//! plugin directory that execs its arm64 binary under `qemu-aarch64-static`
//! (the sha256 registered is the wrapper's), then its main flow runs.
//!
//! The binaries come from `ARM64_PLUGIN_DIR` (scripts/test.sh builds them with
//! `scripts/build-release.sh --target aarch64-unknown-linux-gnu` and sets it);
//! without it, or without qemu, each test says why and passes without running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_iam::{FakeIam, Identity};
use integration_tests::fake_pachd::FakePachd;
use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::{BaoServer, crate_version};

/// The folder of the arm64 release binaries, and qemu's path; `None` (after
/// saying why on stderr) when this machine cannot run the test.
fn arm64_setup() -> Option<(PathBuf, PathBuf)> {
    let Some(dir) = std::env::var_os("ARM64_PLUGIN_DIR").filter(|d| !d.is_empty()) else {
        eprintln!(
            "SKIPPED: ARM64_PLUGIN_DIR is not set. Build the arm64 plugins with \
             `./scripts/build-release.sh --target aarch64-unknown-linux-gnu` and set \
             ARM64_PLUGIN_DIR=target/aarch64-unknown-linux-gnu/release (scripts/test.sh does both)."
        );
        return None;
    };
    let qemu = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("qemu-aarch64-static"))
            .find(|p| p.is_file())
    });
    let Some(qemu) = qemu else {
        eprintln!(
            "SKIPPED: qemu-aarch64-static is not on PATH (Debian: apt-get install qemu-user-static)."
        );
        return None;
    };
    Some((PathBuf::from(dir), qemu))
}

/// Copies the arm64 binary `bin` into the server's plugin directory, writes
/// the wrapper `name` next to it, and registers the wrapper as a `kind`
/// plugin with the version of `crate_dir`; returns the arm64 file's path.
fn install_under_qemu(
    server: &BaoServer,
    (dir, qemu): &(PathBuf, PathBuf),
    kind: &str,
    name: &str,
    bin: &str,
    crate_dir: &str,
) -> PathBuf {
    let binary = dir.join(bin);
    assert!(
        binary.is_file(),
        "{} is missing: build it with ./scripts/build-release.sh --target aarch64-unknown-linux-gnu",
        binary.display()
    );
    let head = std::fs::read(&binary).unwrap();
    assert_eq!(head[18], 0xb7, "{bin} is not an aarch64 ELF (e_machine)");
    let arm64 = server.plugin_dir().join(format!("{name}.aarch64"));
    std::fs::copy(&binary, &arm64).unwrap();
    std::fs::set_permissions(&arm64, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join(name);
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            qemu.display(),
            arm64.display()
        ),
    )
    .unwrap();
    server.install_plugin(kind, name, &wrapper, &crate_version(crate_dir));
    arm64
}

/// True when a process runs the arm64 file `arm64` under qemu (the wrapper
/// exec'd qemu with it as the first argument).
fn runs_under_qemu(arm64: &Path) -> bool {
    let want = arm64.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .any(|cmdline| cmdline.split(|b| *b == 0).nth(1) == Some(want))
}

#[test]
fn example_kv_writes_and_reads_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "secret",
        "example-kv",
        "vault-plugin-example-kv",
        "plugins/example-kv",
    );
    server.enable_secrets("example-kv", "kv");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.bao_ok(&["write", "kv/kv/hello", "value=world"]);
    let read = server.bao_json(&["read", "kv/kv/hello"]);
    assert_eq!(read["data"]["value"], "world", "{read}");
}

#[test]
fn secrets_balena_mints_and_revokes_a_key_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let fake = FakeBalena::start().unwrap();
    fake.add_user("alice", "pw-alice-arm64");
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "secret",
        "secrets-balena",
        "vault-plugin-secrets-balena",
        "plugins/secrets-balena",
    );
    server.enable_secrets("secrets-balena", "balena");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.bao_ok(&["write", "balena/config", &format!("url={}", fake.url())]);
    let session = fake.session_token("alice", Duration::ZERO, Duration::from_secs(7 * 24 * 3600));
    server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={session}"),
        "ttl=5m",
    ]);
    let creds = server.bao_json(&["read", "balena/creds/developer"]);
    let key = creds["data"]["token"].as_str().unwrap();
    assert!(fake.authenticates(key), "the minted key works at balena");
    let lease = creds["lease_id"].as_str().unwrap();
    server.bao_ok(&["lease", "revoke", "-sync", lease]);
    assert!(!fake.authenticates(key), "revoking deletes the key");
}

#[test]
fn example_auth_logs_in_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "auth",
        "example-auth",
        "vault-plugin-example-auth",
        "plugins/example-auth",
    );
    server.enable_auth("example-auth", "ex");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.bao_ok(&[
        "write",
        "auth/ex/users/alice",
        "password=pw-alice-arm64",
        "token_policies=dev",
    ]);
    let login = server.bao_json(&[
        "write",
        "auth/ex/login",
        "username=alice",
        "password=pw-alice-arm64",
    ]);
    let policies = &login["auth"]["policies"];
    assert!(
        policies.as_array().unwrap().iter().any(|p| p == "dev"),
        "{login}"
    );
    let token = login["auth"]["client_token"].as_str().unwrap();
    let me = server.bao_json(&["token", "lookup", token]);
    assert_eq!(me["data"]["meta"]["username"], "alice", "{me}");
}

#[test]
fn secrets_pachyderm_mints_and_revokes_a_robot_token_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let fake = FakePachd::start().unwrap();
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "secret",
        "secrets-pachyderm",
        "vault-plugin-secrets-pachyderm",
        "plugins/secrets-pachyderm",
    );
    server.enable_secrets("secrets-pachyderm", "pachyderm");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.write_ok("pachyderm/config", &fake.config_args());
    let login = server.bao_json(&["write", "pachyderm/login", "username=robot:ci"]);
    let token = login["data"]["user_token"].as_str().unwrap();
    assert_eq!(fake.subject_of(token).as_deref(), Some("robot:ci"));
    let lease = login["lease_id"].as_str().unwrap();
    server.bao_ok(&["lease", "revoke", "-sync", lease]);
    assert_eq!(fake.subject_of(token), None, "revoking kills the token");
}

#[test]
fn secrets_proxmox_mints_and_revokes_a_token_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let fake = FakeProxmox::start().unwrap();
    let root_secret = fake.add_token("root@pam", "vault", false);
    fake.add_user("alice@pve");
    fake.grant("/vms", "alice@pve", "PVEVMUser");
    let dir = tempfile::tempdir().unwrap();
    let ca = fake.write_ca_file(dir.path());
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "secret",
        "secrets-proxmox",
        "vault-plugin-secrets-proxmox",
        "plugins/secrets-proxmox",
    );
    server.enable_secrets("secrets-proxmox", "proxmox");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.write_ok(
        "proxmox/config",
        &fake.config_args("vault", &root_secret, Some(&ca)),
    );
    server.bao_ok(&["write", "proxmox/role/alice", "user=alice", "realm=pve"]);
    let creds = server.bao_json(&["read", "proxmox/creds/alice"]);
    let full = creds["data"]["token_id_full"].as_str().unwrap();
    let secret = creds["data"]["secret"].as_str().unwrap();
    let vm = "/nodes/pve/qemu/100/status/current";
    assert_eq!(
        fake.status_as(full, secret, "GET", vm),
        200,
        "the token works"
    );
    let lease = creds["lease_id"].as_str().unwrap();
    server.bao_ok(&["lease", "revoke", "-sync", lease]);
    assert_ne!(
        fake.status_as(full, secret, "GET", vm),
        200,
        "revoking deletes it"
    );
}

#[test]
fn auth_ibmcloud_logs_in_with_an_api_key_under_qemu() {
    let Some(arm64) = arm64_setup() else { return };
    let fake = FakeIam::start_blocking().unwrap();
    let admin = Identity::service_id("vault-admin", "acct-arm64");
    let app = Identity::service_id("app", "acct-arm64");
    fake.add_identity(&admin);
    fake.add_identity(&app);
    let admin_key = fake.create_api_key(&admin);
    let server = BaoServer::start();
    let file = install_under_qemu(
        &server,
        &arm64,
        "auth",
        "auth-ibmcloud",
        "vault-plugin-auth-ibmcloud",
        "plugins/auth-ibmcloud",
    );
    server.enable_auth("auth-ibmcloud", "ibmcloud");
    assert!(runs_under_qemu(&file), "the mount runs the arm64 binary");
    server.write_ok(
        "auth/ibmcloud/config",
        &fake.config_args(&admin_key.value, "acct-arm64"),
    );
    server.bao_ok(&[
        "write",
        "auth/ibmcloud/role/app",
        &format!("bound_subjects={}", app.sub),
        "token_policies=dev",
    ]);
    let key = fake.create_api_key(&app);
    let login = server.bao_json(&[
        "write",
        "auth/ibmcloud/login",
        "role=app",
        &format!("api_key={}", key.value),
    ]);
    let token = login["auth"]["client_token"].as_str().unwrap();
    let me = server.bao_json(&["token", "lookup", token]);
    assert!(
        me["data"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "dev"),
        "{me}"
    );
}
