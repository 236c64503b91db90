//! The `secrets-balena` plugin inside a real OpenBao, against the fake
//! balena API: the operator's flow (config, role, creds), leases (renew,
//! revoke, revoke by prefix, revoke after the role is gone), the WAL
//! rollback of a key minted before a crash, the periodic session refresh,
//! the errors an operator sees for a dead session or the fresh
//! authentication rule, name resolution in the static binary, and that no
//! secret reaches the server log or a role read.

use std::time::Duration;

use integration_tests::fake_balena::FakeBalena;
use integration_tests::{BaoServer, crate_version, http_call, plugin_binary, wait_for};
use serde_json::{Value, json};

const NAME: &str = "secrets-balena";
const BIN: &str = "vault-plugin-secrets-balena";
const USER: &str = "alice";
const PASSWORD: &str = "pw-alice-Zq81-never-logged";
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The fake balena API with user `alice`, and OpenBao with the plugin
/// mounted at `balena/`.
struct Setup {
    fake: FakeBalena,
    server: BaoServer,
}

impl Setup {
    /// Mounts the plugin with `options` (`-options=...`) and registration
    /// `args`; configures nothing.
    fn bare(options: &[&str], args: &[&str]) -> Setup {
        let fake = FakeBalena::start().unwrap();
        fake.add_user(USER, PASSWORD);
        let server = BaoServer::start();
        server.install_plugin_with(
            "secret",
            NAME,
            &plugin_binary(BIN),
            &crate_version("plugins/secrets-balena"),
            args,
        );
        let mut enable = vec!["secrets".to_owned(), "enable".into(), "-path=balena".into()];
        enable.extend(options.iter().map(|o| format!("-options={o}")));
        enable.push(NAME.into());
        server.bao_ok(&enable.iter().map(String::as_str).collect::<Vec<_>>());
        Setup { fake, server }
    }

    /// Like [`bare`](Self::bare), then `config` pointing at the fake and a
    /// role `developer` (ttl 5m, max 1h) with a fresh session of alice;
    /// returns the session token too.
    fn with_role(options: &[&str]) -> (Setup, String) {
        let setup = Setup::bare(options, &[]);
        setup.config(setup.fake.url());
        let token = setup.session(Duration::ZERO, WEEK);
        setup.server.bao_ok(&[
            "write",
            "balena/role/developer",
            &format!("balenaApiKey={token}"),
            "ttl=5m",
            "max_ttl=1h",
        ]);
        (setup, token)
    }

    fn config(&self, url: &str) {
        self.server
            .bao_ok(&["write", "balena/config", &format!("url={url}")]);
    }

    /// A session token of alice, logged in `age` ago, ending in `expires_in`.
    fn session(&self, age: Duration, expires_in: Duration) -> String {
        self.fake.session_token(USER, age, expires_in)
    }

    fn creds(&self, role: &str) -> Value {
        self.server
            .bao_json(&["read", &format!("balena/creds/{role}")])
    }

    /// A `bao` command that must fail: its stderr.
    fn bao_err(&self, args: &[&str]) -> String {
        let out = self.server.bao(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "`bao {}` should fail; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }
}

fn text<'a>(creds: &'a Value, field: &str) -> &'a str {
    creds["data"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {creds}"))
}

/// The numeric balena key id in `creds` (a number or a string of digits).
fn token_id(creds: &Value) -> u64 {
    match &creds["data"]["token_id"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("token_id is not a balena key id: {creds}"))
}

fn lease_id(creds: &Value) -> String {
    creds["lease_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_operators_flow_mints_a_working_key_and_revoking_deletes_it_by_id() {
    let setup = Setup::bare(&[], &[]);
    let token = setup.session(Duration::ZERO, WEEK);
    let server = &setup.server;

    server.bao_ok(&[
        "write",
        "balena/config",
        &format!("url={}", setup.fake.url()),
    ]);
    server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={token}"),
        "ttl=5m",
        "max_ttl=1h",
    ]);
    let creds = server.bao_json(&["read", "balena/creds/developer"]);
    assert!(
        lease_id(&creds).starts_with("balena/creds/developer/"),
        "{creds}"
    );
    assert_eq!(creds["lease_duration"], 300, "{creds}");
    assert_eq!(creds["renewable"], true, "{creds}");
    let key = text(&creds, "token");
    let (name, desc) = (text(&creds, "key_name"), text(&creds, "key_desc"));

    // The key is a real balena key of alice's, under the name the lease shows.
    assert!(
        setup.fake.authenticates(key),
        "the minted key authenticates"
    );
    let keys = setup.fake.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        (
            keys[0].id,
            keys[0].name.as_str(),
            keys[0].description.as_str()
        ),
        (token_id(&creds), name, desc),
        "{creds}"
    );

    // balena deletes the key by itself at the latest at the lease's max TTL.
    assert!(keys[0].expiry_date.is_some(), "{keys:?}");

    // The config read shows the url.
    let config = server.bao_json(&["read", "balena/config"]);
    assert_eq!(config["data"]["url"], setup.fake.url(), "{config}");

    server.bao_ok(&["lease", "revoke", "-sync", &lease_id(&creds)]);
    assert!(!setup.fake.authenticates(key), "revoking deletes the key");
    assert!(setup.fake.keys().is_empty());
    let id = keys[0].id;
    let deletes: Vec<String> = setup
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE "))
        .collect();
    assert!(
        deletes == [format!("DELETE /v7/api_key({id})")]
            || deletes == [format!("DELETE /v6/api_key({id})")],
        "one delete, by the key's id: {deletes:?}"
    );
}

#[test]
fn revoking_by_prefix_deletes_every_key() {
    let (setup, _) = Setup::with_role(&[]);
    let all: Vec<Value> = (0..3).map(|_| setup.creds("developer")).collect();
    assert_eq!(setup.fake.keys().len(), 3);
    // Each lease has its own key.
    let mut ids: Vec<u64> = all.iter().map(token_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{all:?}");

    // A prefix revoke is queued; the expiration manager works through it.
    setup
        .server
        .bao_ok(&["lease", "revoke", "-prefix", "balena/creds/developer"]);
    wait_for("the prefix revoke", Duration::from_secs(60), || {
        setup.fake.keys().is_empty()
    });
    for creds in &all {
        assert!(!setup.fake.authenticates(text(creds, "token")), "{creds}");
    }
}

#[test]
fn renewing_extends_the_lease_up_to_the_roles_max_ttl() {
    let (setup, _) = Setup::with_role(&[]);
    let creds = setup.creds("developer");
    let lease = lease_id(&creds);

    let renewed = setup
        .server
        .bao_json(&["lease", "renew", "-increment=2m", &lease]);
    assert_eq!(renewed["lease_duration"], 120, "{renewed}");
    // Past the role's max TTL the lease is capped to what is left of it.
    let capped = setup
        .server
        .bao_json(&["lease", "renew", "-increment=5h", &lease]);
    let left = capped["lease_duration"].as_u64().unwrap();
    assert!((3500..=3600).contains(&left), "{capped}");
    // The key still works after renewals.
    assert!(setup.fake.authenticates(text(&creds, "token")));
}

#[test]
fn revoking_after_the_role_is_deleted_still_deletes_the_key() {
    let (setup, _) = Setup::with_role(&[]);
    let creds = setup.creds("developer");
    setup.server.bao_ok(&["delete", "balena/role/developer"]);

    setup
        .server
        .bao_ok(&["lease", "revoke", "-sync", &lease_id(&creds)]);
    assert!(
        !setup.fake.authenticates(text(&creds, "token")),
        "the key is deleted without the role"
    );
    assert!(setup.fake.keys().is_empty());

    // A key already gone upstream (deleted in the dashboard) counts as
    // revoked: the revoke succeeds and the lease is gone.
    let session = setup.session(Duration::ZERO, WEEK);
    setup.server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={session}"),
        "ttl=5m",
    ]);
    let creds = setup.creds("developer");
    delete_upstream(&setup.fake, token_id(&creds), &session);
    assert!(setup.fake.keys().is_empty());
    setup
        .server
        .bao_ok(&["lease", "revoke", "-sync", &lease_id(&creds)]);
    let (status, body) = setup.server.http(
        "PUT",
        "sys/leases/lookup",
        Some(&json!({"lease_id": lease_id(&creds)})),
    );
    assert_ne!(status, 200, "the lease is gone: {body}");
}

/// Deletes key `id` directly at the fake, as the user might in the balena
/// dashboard.
fn delete_upstream(fake: &FakeBalena, id: u64, session: &str) {
    let target = format!("/v7/api_key({id})");
    let (status, body) = http_call(fake.url(), "DELETE", &target, "", Some(session)).unwrap();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_key_minted_before_a_crash_is_deleted_by_the_rollback() {
    let (setup, _) = Setup::with_role(&["wal_rollback_min_age=1s"]);
    let server = &setup.server;

    // The upstream creates the key, then is slow to answer: kill the plugin
    // in between, as a crash would.
    setup.fake.set_create_delay(Duration::from_secs(30));
    let mut read = server.bao_spawn(&["read", "balena/creds/developer"]);
    wait_for("the key to exist upstream", Duration::from_secs(20), || {
        !setup.fake.keys().is_empty()
    });
    assert!(!server.kill_plugin(NAME).is_empty(), "the plugin runs");
    let _ = read.wait();
    setup.fake.set_create_delay(Duration::ZERO);
    let orphan = setup.fake.keys();
    assert_eq!(orphan.len(), 1, "the orphan exists before the rollback");
    assert!(setup.fake.authenticates(&orphan[0].key));

    // The host's rollback tick comes about once a minute; the plugin finds
    // the WAL entry and deletes the key.
    wait_for(
        "the rollback to delete the orphan key",
        Duration::from_secs(150),
        || setup.fake.keys().is_empty(),
    );
    assert!(!setup.fake.authenticates(&orphan[0].key));
    // Issuing works again afterwards.
    let creds = setup.creds("developer");
    assert!(setup.fake.authenticates(text(&creds, "token")), "{creds}");
}

#[test]
fn a_dead_session_is_refused_on_role_write_and_explained_on_creds() {
    let setup = Setup::bare(&[], &[]);
    setup.config(setup.fake.url());
    let dead = setup.session(Duration::ZERO, WEEK);
    setup.fake.revoke_sessions(USER);

    let stderr = setup.bao_err(&[
        "write",
        "balena/role/dead",
        &format!("balenaApiKey={dead}"),
        "ttl=5m",
    ]);
    assert!(stderr.contains("Code: 400"), "{stderr}");
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("session token") && (lower.contains("invalid") || lower.contains("expired")),
        "the message says what is wrong: {stderr}"
    );
    assert!(!stderr.contains(&dead), "the token is not echoed: {stderr}");
    let (status, _) = setup.server.http("GET", "balena/role/dead", None);
    assert_eq!(status, 404, "nothing was stored");

    // A session that dies after the role was written: creds explain it.
    let live = setup.session(Duration::ZERO, WEEK);
    setup.server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={live}"),
        "ttl=5m",
    ]);
    setup.fake.revoke_sessions(USER);
    let stderr = setup.bao_err(&["read", "balena/creds/developer"]);
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("session token") && (lower.contains("invalid") || lower.contains("expired")),
        "the message says the role's session token is invalid or expired: {stderr}"
    );
    assert!(!stderr.contains(&live), "the token is not echoed: {stderr}");
    assert!(setup.fake.keys().is_empty());
}

#[test]
fn with_the_fresh_auth_rule_a_stored_password_still_mints_and_none_says_why_not() {
    let setup = Setup::bare(&[], &[]);
    setup.config(setup.fake.url());
    setup.fake.set_fresh_auth_required(true);
    let old = setup.session(Duration::from_secs(30 * 60), WEEK);

    setup.server.bao_ok(&[
        "write",
        "balena/role/with-login",
        &format!("balenaApiKey={old}"),
        &format!("username={USER}"),
        &format!("password={PASSWORD}"),
        "ttl=5m",
        "max_ttl=1h",
    ]);
    let creds = setup.creds("with-login");
    assert!(setup.fake.authenticates(text(&creds, "token")), "{creds}");
    assert_eq!(setup.fake.keys().len(), 1);

    // A password alone: the plugin refreshes the session with it.
    let old2 = setup.session(Duration::from_secs(30 * 60), WEEK);
    setup.server.bao_ok(&[
        "write",
        "balena/role/with-password",
        &format!("balenaApiKey={old2}"),
        &format!("password={PASSWORD}"),
        "ttl=5m",
    ]);
    let creds = setup.creds("with-password");
    assert!(setup.fake.authenticates(text(&creds, "token")), "{creds}");
    assert_eq!(setup.fake.keys().len(), 2);

    setup.server.bao_ok(&[
        "write",
        "balena/role/without",
        &format!("balenaApiKey={old}"),
        "ttl=5m",
    ]);
    let stderr = setup.bao_err(&["read", "balena/creds/without"]);
    assert!(
        stderr.to_lowercase().contains("fresh"),
        "the message mentions fresh authentication: {stderr}"
    );
    assert!(!stderr.contains(&old), "{stderr}");
    assert_eq!(setup.fake.keys().len(), 2, "nothing more was minted");
}

#[test]
fn the_static_binary_resolves_host_names() {
    let setup = Setup::bare(&[], &[]);
    setup.config(&setup.fake.url_with_host("localhost"));
    let token = setup.session(Duration::ZERO, WEEK);
    setup.server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={token}"),
        "ttl=5m",
    ]);
    let creds = setup.creds("developer");
    assert!(setup.fake.authenticates(text(&creds, "token")), "{creds}");
    setup
        .server
        .bao_ok(&["lease", "revoke", "-sync", &lease_id(&creds)]);
    assert!(setup.fake.keys().is_empty());
}

#[test]
fn the_periodic_function_refreshes_a_session_about_to_expire() {
    let setup = Setup::bare(&[], &[]);
    setup.config(setup.fake.url());
    // Logged in two days ago, ending in two hours.
    let token = setup.session(
        Duration::from_secs(2 * 24 * 3600),
        Duration::from_secs(2 * 3600),
    );
    setup.server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={token}"),
        "ttl=5m",
    ]);
    let before = setup.server.bao_json(&["read", "balena/role/developer"]);
    let expires = before["data"]["session_token_expires_at"].clone();
    assert!(!expires.is_null(), "{before}");
    let warnings = before["warnings"].to_string().to_lowercase();
    assert!(
        warnings.contains("expir"),
        "a read warns that the session ends within a day: {before}"
    );

    wait_for(
        "the periodic refresh of the session token",
        Duration::from_secs(150),
        || {
            let role = setup.server.bao_json(&["read", "balena/role/developer"]);
            role["data"]["session_token_expires_at"] != expires
        },
    );
    assert!(
        setup
            .fake
            .requests()
            .iter()
            .any(|r| r.ends_with(" /user/v1/refresh-token")),
        "{:?}",
        setup.fake.requests()
    );
    let after = setup.server.bao_json(&["read", "balena/role/developer"]);
    assert!(
        !after["warnings"]
            .to_string()
            .to_lowercase()
            .contains("expir"),
        "a refreshed session does not warn: {after}"
    );
    // The role mints with the refreshed session.
    let creds = setup.creds("developer");
    assert!(setup.fake.authenticates(text(&creds, "token")), "{creds}");
}

#[test]
fn no_secret_reaches_the_server_log_or_a_role_read() {
    // The plugin logs at debug level, so even its detailed logs are checked.
    let setup = Setup::bare(&["wal_rollback_min_age=1s"], &["-args=--log-level=debug"]);
    let server = &setup.server;
    setup.config(setup.fake.url());
    setup.fake.add_user("bob", "pw-bob-Kx3-never-logged");
    setup.fake.set_fresh_auth_required(true);
    let mut minted = Vec::new();

    // A role with a 30-minute-old session plus username and password.
    let alice = setup.session(Duration::from_secs(30 * 60), WEEK);
    server.bao_ok(&[
        "write",
        "balena/role/developer",
        &format!("balenaApiKey={alice}"),
        &format!("username={USER}"),
        &format!("password={PASSWORD}"),
        "ttl=5m",
        "max_ttl=1h",
    ]);
    let role = server.bao_json(&["read", "balena/role/developer"]);
    let role_text = role.to_string();
    assert!(
        !role_text.contains(&alice) && !role_text.contains(PASSWORD),
        "a role read shows no token or password: {role}"
    );
    assert!(
        !role["data"]["session_token_expires_at"].is_null(),
        "{role}"
    );
    assert_eq!(
        server.bao_json(&["list", "balena/role"]),
        json!(["developer"])
    );

    // Leases: mint, renew, revoke.
    for _ in 0..2 {
        let creds = setup.creds("developer");
        minted.push(text(&creds, "token").to_owned());
        server.bao_ok(&["lease", "renew", &lease_id(&creds)]);
        server.bao_ok(&["lease", "revoke", "-sync", &lease_id(&creds)]);
    }
    let kept = setup.creds("developer");
    minted.push(text(&kept, "token").to_owned());

    // Errors: a dead session, then a session that dies after the write.
    let bob = setup.fake.session_token("bob", Duration::ZERO, WEEK);
    setup.fake.revoke_sessions("bob");
    let stderr = setup.bao_err(&["write", "balena/role/bob", &format!("balenaApiKey={bob}")]);
    assert!(!stderr.contains(&bob), "{stderr}");
    let bob = setup.fake.session_token("bob", Duration::ZERO, WEEK);
    server.bao_ok(&[
        "write",
        "balena/role/bob",
        &format!("balenaApiKey={bob}"),
        "ttl=5m",
    ]);
    let role = server.bao_json(&["read", "balena/role/bob"]);
    assert!(!role.to_string().contains(&bob), "{role}");
    setup.fake.revoke_sessions("bob");
    let stderr = setup.bao_err(&["read", "balena/creds/bob"]);
    assert!(!stderr.contains(&bob), "{stderr}");
    // The fresh-auth error of a role without a password.
    let stale = setup
        .fake
        .session_token("bob", Duration::from_secs(3600), WEEK);
    server.bao_ok(&[
        "write",
        "balena/role/bob",
        &format!("balenaApiKey={stale}"),
        "ttl=5m",
    ]);
    let stderr = setup.bao_err(&["read", "balena/creds/bob"]);
    assert!(!stderr.contains(&stale), "{stderr}");
    // An upstream outage on creds (whatever the plugin makes of it).
    setup.fake.fail_next(5, 503);
    let _ = server.bao(&["read", "balena/creds/developer"]);
    setup.fake.fail_next(0, 503);

    // Every secret involved: the sessions the fake issued (the test's and
    // the plugin's logins and refreshes), the passwords, the minted keys.
    let log = server.log_contents();
    // The plugin's own lines are there (so the search below covers them),
    // including the fresh login the stale session forced.
    assert!(
        log.contains("minted a balena API key") && log.contains("logged in to balena afresh"),
        "the log has the plugin's lines"
    );
    assert!(
        setup.fake.requests().iter().any(|r| r == "POST /login_"),
        "the plugin logged in afresh"
    );
    let mut secrets = setup.fake.issued_session_tokens();
    secrets.extend(setup.fake.keys().into_iter().map(|k| k.key));
    secrets.extend(minted);
    secrets.push(PASSWORD.to_owned());
    secrets.push("pw-bob-Kx3-never-logged".to_owned());
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the server log contains a secret ({} chars)",
            secret.len()
        );
        // Nor a JWT's payload or signature alone (the header is the same
        // for every token).
        for part in secret.split('.').skip(1) {
            assert!(
                !log.contains(part),
                "the server log contains part of a token"
            );
        }
    }
}
