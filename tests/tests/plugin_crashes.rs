//! Faults in the plugin: SIGKILL of the plugin process at each step of a
//! mint and during a revoke, for every plugin that mints upstream
//! credentials, inside one real OpenBao.
//!
//! The fakes hold a request to make the moment: a create call held before
//! it creates anything (a), or answered late after the credential exists
//! (b); a delete held before it deletes (c). The test kills the plugin
//! while the host waits, lets the host restart it, and waits for the
//! host's WAL rollback (about once a minute; every mount here has
//! `wal_rollback_min_age=1s`, and one tick serves them all). Then: no
//! credential is left upstream that no lease revokes, no lease was lost,
//! and a revoke that failed (the plugin killed, or the upstream failing
//! until the lease expired) is retried and succeeds once the upstream is
//! back. secrets-pachyderm is checked the same way: its create call is
//! `RestoreAuthToken` of a token the plugin made, which its rollback revokes.

use std::process::Child;
use std::time::Duration;

use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_keys::FakeKeyService;
use integration_tests::fake_pachd::{FakePachd, Rpc};
use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::faults::{Fault, Faults};
use integration_tests::{BaoServer, crate_version, plugin_binary, wait_for};
use serde_json::{Value, json};

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
const HOLD: Duration = Duration::from_secs(60);
/// How long the host's rollback tick (once a minute) may take to come.
const ROLLBACK: Duration = Duration::from_secs(150);

/// One plugin mount: its name, the mint, the upstream calls, the fake.
struct Minter<'a> {
    plugin: &'static str,
    /// `bao` arguments of a mint from a role with a long lease.
    mint: Vec<String>,
    /// `bao` arguments of a mint from a role whose lease ends in seconds.
    mint_short: Vec<String>,
    create_call: (&'static str, &'static str),
    delete_call: (&'static str, &'static str),
    faults: &'a Faults,
    live: Box<dyn Fn() -> usize + 'a>,
    /// Makes the fake answer a create late, after the credential exists.
    answer_creates_late: Box<dyn Fn(bool) + 'a>,
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

fn lease_of(answer: &Value) -> String {
    answer["lease_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no lease in {answer}"))
        .to_owned()
}

fn lease_exists(server: &BaoServer, lease: &str) -> bool {
    let (status, _) = server.http(
        "PUT",
        "sys/leases/lookup",
        Some(&json!({"lease_id": lease})),
    );
    status == 200
}

/// Kills `plugin` and reaps the `bao` command that was waiting on it.
fn kill_during(server: &BaoServer, plugin: &str, mut waiting: Child) {
    assert!(!server.kill_plugin(plugin).is_empty(), "{plugin} runs");
    let _ = waiting.wait();
}

/// What a test checks after the rollback: the leases that must still
/// revoke, and how many credentials should be left upstream.
struct AfterCrash {
    leases: Vec<String>,
    expected_live: usize,
}

/// (a), (b) and (c) for one mount; returns what to check after the
/// rollback tick.
fn crash_mint_and_revoke(server: &BaoServer, m: &Minter) -> AfterCrash {
    let before = (m.live)();
    let mut leases = Vec::new();

    // (a) Killed while the create call is held, before anything exists.
    m.faults
        .inject(m.create_call.0, m.create_call.1, 1, Fault::Hang(HOLD));
    let mint = server.bao_spawn(&args(&m.mint));
    wait_for("the create call to arrive", Duration::from_secs(20), || {
        m.faults.answered() == 1
    });
    kill_during(server, m.plugin, mint);
    m.faults.clear();
    assert_eq!((m.live)(), before, "{}: (a) created nothing", m.plugin);

    // (b) Killed after the upstream created the credential, before the
    // lease reached the host: an orphan, for the rollback to delete.
    (m.answer_creates_late)(true);
    let mint = server.bao_spawn(&args(&m.mint));
    wait_for("the credential to exist", Duration::from_secs(20), || {
        (m.live)() > before
    });
    kill_during(server, m.plugin, mint);
    (m.answer_creates_late)(false);
    assert_eq!(
        (m.live)(),
        before + 1,
        "{}: (b) the orphan exists",
        m.plugin
    );

    // (c) Killed during a revoke, before the upstream deleted: the revoke
    // fails, the lease stays, and the next revoke deletes.
    let lease = lease_of(&server.bao_json(&args(&m.mint)));
    m.faults
        .inject(m.delete_call.0, m.delete_call.1, 1, Fault::Hang(HOLD));
    let answered = m.faults.answered();
    let revoke = server.bao_spawn(&["lease", "revoke", "-sync", &lease]);
    wait_for("the delete call to arrive", Duration::from_secs(20), || {
        m.faults.answered() > answered
    });
    kill_during(server, m.plugin, revoke);
    m.faults.clear();
    assert!(
        lease_exists(server, &lease),
        "{}: (c) no lease lost",
        m.plugin
    );
    leases.push(lease);

    // (c') The upstream fails the delete when the lease expires: the
    // host's expiration manager retries it (checked after the rollback
    // wait; its first retry comes 10 to 30 seconds later).
    m.faults
        .inject(m.delete_call.0, m.delete_call.1, 1, Fault::status(500));
    let short = lease_of(&server.bao_json(&args(&m.mint_short)));
    leases.push(short);
    AfterCrash {
        leases,
        // The (a) and (b) mints leave nothing; the two leases' credentials.
        expected_live: before + 2,
    }
}

fn install(server: &BaoServer, kind: &str, name: &str, bin: &str, dir: &str, mount: &str) {
    server.install_plugin(kind, name, &plugin_binary(bin), &crate_version(dir));
    server.bao_ok(&[
        "secrets",
        "enable",
        &format!("-path={mount}"),
        "-options=wal_rollback_min_age=1s",
        name,
    ]);
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_plugin_killed_mid_mint_or_mid_revoke_leaves_no_orphan_and_loses_no_lease() {
    let server = BaoServer::start();

    // example-kv
    install(
        &server,
        "secret",
        "example-kv",
        "vault-plugin-example-kv",
        "plugins/example-kv",
        "kv",
    );
    let keys = FakeKeyService::start().unwrap();
    server.bao_ok(&[
        "write",
        "kv/config",
        &format!("upstream_url={}", keys.url()),
    ]);
    server.bao_ok(&["write", "kv/role/long", "ttl=1h"]);
    server.bao_ok(&["write", "kv/role/short", "ttl=2s"]);
    let kv = Minter {
        plugin: "example-kv",
        mint: strings(&["read", "-format=json", "kv/creds/long"]),
        mint_short: strings(&["read", "-format=json", "kv/creds/short"]),
        create_call: ("POST", "/keys"),
        delete_call: ("DELETE", "/keys/"),
        faults: keys.faults(),
        live: Box::new(|| keys.keys().len()),
        answer_creates_late: Box::new(|on| {
            keys.set_create_delay(if on { HOLD } else { Duration::ZERO })
        }),
    };

    // secrets-balena
    install(
        &server,
        "secret",
        "secrets-balena",
        "vault-plugin-secrets-balena",
        "plugins/secrets-balena",
        "balena",
    );
    let balena = FakeBalena::start().unwrap();
    balena.add_user("alice", "pw-alice");
    server.bao_ok(&["write", "balena/config", &format!("url={}", balena.url())]);
    for (role, ttl) in [("long", "1h"), ("short", "2s")] {
        let session = balena.session_token("alice", Duration::ZERO, WEEK);
        server.bao_ok(&[
            "write",
            &format!("balena/role/{role}"),
            &format!("balenaApiKey={session}"),
            &format!("ttl={ttl}"),
            "max_ttl=2h",
        ]);
    }
    let bal = Minter {
        plugin: "secrets-balena",
        mint: strings(&["read", "-format=json", "balena/creds/long"]),
        mint_short: strings(&["read", "-format=json", "balena/creds/short"]),
        create_call: ("POST", "/api-key/user/full"),
        delete_call: ("DELETE", "/api_key("),
        faults: balena.faults(),
        live: Box::new(|| balena.keys().len()),
        answer_creates_late: Box::new(|on| {
            balena.set_create_delay(if on { HOLD } else { Duration::ZERO })
        }),
    };

    // secrets-proxmox
    let pve_name = "vault-plugin-secrets-proxmox";
    install(
        &server,
        "secret",
        pve_name,
        pve_name,
        "plugins/secrets-proxmox",
        "proxmox",
    );
    let pve = FakeProxmox::start().unwrap();
    let root_secret = pve.add_token("root@pam", "vault", false);
    pve.add_user("alice@pve");
    server.write_ok(
        "proxmox/config",
        &pve.config_args("vault", &root_secret, None),
    );
    for (role, ttl) in [("long", "1h"), ("short", "2s")] {
        server.bao_ok(&[
            "write",
            &format!("proxmox/role/{role}"),
            "user=alice",
            "realm=pve",
            &format!("ttl={ttl}"),
        ]);
    }
    let prox = Minter {
        plugin: pve_name,
        mint: strings(&["read", "-format=json", "proxmox/creds/long"]),
        mint_short: strings(&["read", "-format=json", "proxmox/creds/short"]),
        create_call: ("POST", "/token/"),
        delete_call: ("DELETE", "/token/"),
        faults: pve.faults(),
        live: Box::new(|| pve.tokens().len() - 1),
        answer_creates_late: Box::new(|on| {
            pve.set_create_delay(if on { HOLD } else { Duration::ZERO })
        }),
    };

    let minters = [&kv, &bal, &prox];
    let after: Vec<AfterCrash> = minters
        .iter()
        .map(|m| crash_mint_and_revoke(&server, m))
        .collect();
    let pachd = pachyderm_crashes(&server);

    // The expired leases' first revoke fails at the upstream...
    for m in minters {
        wait_for(
            &format!("{}: the expired lease's revoke to fail", m.plugin),
            Duration::from_secs(30),
            || m.faults.answered() == 3,
        );
    }
    // ...the host retries it, and the rollback tick deletes every orphan.
    for (m, after) in minters.iter().zip(&after) {
        let short = &after.leases[1];
        wait_for(
            &format!("{}: the host to retry the expired lease's revoke", m.plugin),
            ROLLBACK,
            || !lease_exists(&server, short),
        );
        wait_for(
            &format!("{}: the rollback to delete the orphan", m.plugin),
            ROLLBACK,
            || (m.live)() == after.expected_live - 1,
        );
        // ...and the lease whose revoke was killed revokes now.
        server.bao_ok(&["lease", "revoke", "-sync", &after.leases[0]]);
        assert_eq!(
            (m.live)(),
            after.expected_live - 2,
            "{}: all gone",
            m.plugin
        );
    }
    pachd.check(&server);

    let log = server.log_contents();
    assert!(!log.contains("panicked"), "a plugin panicked");
    assert!(
        !log.contains("error rolling back"),
        "every rollback succeeded"
    );
}

/// secrets-pachyderm's part, checked after the rollback tick.
struct PachdCrash {
    fake: FakePachd,
    /// The hash of the token pachd registered in (b), whose mint was killed.
    orphan: String,
    lease: String,
}

impl PachdCrash {
    fn check(&self, server: &BaoServer) {
        // (b): the rollback revoked the orphan; the lease's token is left.
        wait_for(
            "secrets-pachyderm: the rollback to revoke the orphan",
            ROLLBACK,
            || !self.fake.hashes_of("robot:ci").contains(&self.orphan),
        );
        assert_eq!(self.fake.live_tokens_of("robot:ci"), 1, "the lease's token");
        assert!(
            server
                .log_contents()
                .contains("revoked the token of an interrupted mint"),
            "the rollback says what it did"
        );
        // (c): the revoke killed midway revokes now.
        server.bao_ok(&["lease", "revoke", "-sync", &self.lease]);
        assert_eq!(self.fake.live_tokens_of("robot:ci"), 0, "all gone");
    }
}

/// (a), (b) and (c) for secrets-pachyderm.
fn pachyderm_crashes(server: &BaoServer) -> PachdCrash {
    let name = "secrets-pachyderm";
    install(
        server,
        "secret",
        name,
        "vault-plugin-secrets-pachyderm",
        "plugins/secrets-pachyderm",
        "pachyderm",
    );
    let fake = FakePachd::start().unwrap();
    let mut config = fake.config_args();
    config.extend(["ttl=5m", "max_ttl=1h", "request_timeout=120s"].map(String::from));
    server.write_ok("pachyderm/config", &config);
    // (c) first, so that no rollback's revoke meets the held one: killed
    // while pachd holds the revoke.
    let lease = lease_of(&server.bao_json(&["write", "-format=json", "-f", "pachyderm/login/ci"]));
    fake.set_call_delay(Rpc::RevokeAuthToken, HOLD);
    let calls = fake.calls(Rpc::RevokeAuthToken);
    let revoke = server.bao_spawn(&["lease", "revoke", "-sync", &lease]);
    wait_for("the revoke to arrive", Duration::from_secs(20), || {
        fake.calls(Rpc::RevokeAuthToken) > calls
    });
    kill_during(server, name, revoke);
    fake.set_call_delay(Rpc::RevokeAuthToken, Duration::ZERO);
    assert!(lease_exists(server, &lease), "(c) no lease lost");
    // (a) pachd holds the call before registering the token.
    fake.set_call_delay(Rpc::RestoreAuthToken, HOLD);
    let calls = fake.calls(Rpc::RestoreAuthToken);
    let mint = server.bao_spawn(&["write", "-f", "pachyderm/login/ci"]);
    wait_for("the mint to arrive", Duration::from_secs(20), || {
        fake.calls(Rpc::RestoreAuthToken) > calls
    });
    kill_during(server, name, mint);
    fake.set_call_delay(Rpc::RestoreAuthToken, Duration::ZERO);
    assert_eq!(fake.live_tokens_of("robot:ci"), 1, "(a) created nothing");
    // (b) pachd registers the token, then answers late.
    let before = fake.hashes_of("robot:ci");
    fake.set_answer_delay(HOLD);
    let mint = server.bao_spawn(&["write", "-f", "pachyderm/login/ci"]);
    wait_for("the token to exist", Duration::from_secs(20), || {
        fake.live_tokens_of("robot:ci") > 1
    });
    kill_during(server, name, mint);
    fake.set_answer_delay(Duration::ZERO);
    let orphans: Vec<String> = fake
        .hashes_of("robot:ci")
        .into_iter()
        .filter(|h| !before.contains(h))
        .collect();
    assert_eq!(orphans.len(), 1, "(b) the orphan exists");
    let orphan = orphans[0].clone();
    PachdCrash {
        fake,
        orphan,
        lease,
    }
}
