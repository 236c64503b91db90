//! The `auth-ibmcloud` plugin inside a real OpenBao, against the fake IBM
//! Cloud IAM: logins by access token and by API key of a service ID, a user
//! and a trusted profile, each giving a token with an identity entity; every
//! refused login a bare 403; key rotation at IAM; renewal and its refusals;
//! rotate-root, and the rollback of a rotation whose creation answer was
//! lost or whose plugin died; config redaction; and no key or token in the
//! server log.

use std::time::Duration;

use integration_tests::fake_iam::{
    FakeApiKey, FakeIam, Identity, Route, hs256_token, now_secs, unsigned_token,
};
use integration_tests::faults::Fault;
use integration_tests::{BaoServer, crate_version, plugin_binary, wait_for};
use serde_json::{Value, json};

const NAME: &str = "auth-ibmcloud";
const BIN: &str = "vault-plugin-auth-ibmcloud";
const ACCOUNT: &str = "acct-4f2e";
const GROUP: &str = "AccessGroupId-devs";

/// How long the host's rollback tick (about once a minute) may take to come.
const ROLLBACK: Duration = Duration::from_secs(150);

/// The fake IAM with the admin service ID (whose key the config holds), and
/// OpenBao with the plugin at `auth/ibmcloud/` (debug logs, WAL entries
/// rolled back from one second old) configured for it.
struct Setup {
    fake: FakeIam,
    server: BaoServer,
    admin: Identity,
    admin_key: FakeApiKey,
}

impl Setup {
    fn new() -> Setup {
        let fake = FakeIam::start_blocking().unwrap();
        let admin = Identity::service_id("vault-admin", ACCOUNT);
        fake.add_identity(&admin);
        let admin_key = fake.create_api_key(&admin);
        let server = BaoServer::start();
        server.install_plugin_with(
            "auth",
            NAME,
            &plugin_binary(BIN),
            &crate_version("plugins/auth-ibmcloud"),
            &["-args=--log-level=debug"],
        );
        server.bao_ok(&[
            "auth",
            "enable",
            "-path=ibmcloud",
            "-options=wal_rollback_min_age=1s",
            NAME,
        ]);
        server.write_ok(
            "auth/ibmcloud/config",
            &fake.config_args(&admin_key.value, ACCOUNT),
        );
        Setup {
            fake,
            server,
            admin,
            admin_key,
        }
    }

    /// A new identity made known to the fake.
    fn identity(&self, identity: Identity) -> Identity {
        self.fake.add_identity(&identity);
        identity
    }

    /// `role/<name>` with `args`.
    fn role(&self, name: &str, args: &[&str]) {
        let path = format!("auth/ibmcloud/role/{name}");
        let mut all = vec!["write", path.as_str()];
        all.extend_from_slice(args);
        self.server.bao_ok(&all);
    }

    /// A login over HTTP without a Vault token: status and body.
    fn login(&self, body: Value) -> (u16, Value) {
        self.server
            .http_as(None, "POST", "auth/ibmcloud/login", Some(&body))
    }

    /// A login that must succeed: its `auth` block.
    fn login_ok(&self, body: Value) -> Value {
        let (status, answer) = self.login(body);
        assert_eq!(status, 200, "{answer}");
        answer["auth"].clone()
    }

    /// A `bao` command that must fail: its stderr.
    fn bao_err(&self, args: &[&str]) -> String {
        let out = self.server.bao(args);
        assert!(
            !out.status.success(),
            "`bao {}` should fail",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn client_token(auth: &Value) -> String {
    auth["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no client_token: {auth}"))
        .to_owned()
}

#[test]
fn logins_by_token_and_api_key_give_tokens_with_one_entity_per_identity() {
    let s = Setup::new();
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    s.role(
        "dev-role",
        &[
            &format!("bound_subjects={}", app.sub),
            "token_policies=dev,ops",
            "token_ttl=10m",
            "token_max_ttl=1h",
        ],
    );

    // By access token, through the CLI as operators do.
    let token = s.fake.access_token(&app);
    let login = s.server.bao_json(&[
        "write",
        "auth/ibmcloud/login",
        "role=dev-role",
        &format!("token={token}"),
    ]);
    let auth = &login["auth"];
    let policies = strings(&auth["policies"]);
    assert!(
        policies.contains(&"dev") && policies.contains(&"ops"),
        "{login}"
    );
    assert_eq!(auth["lease_duration"], 600, "{login}");
    assert_eq!(auth["renewable"], true, "{login}");
    assert_eq!(
        auth["metadata"],
        json!({"IAM_ID": app.iam_id, "role": "dev-role", "subject": app.sub}),
        "{login}"
    );
    let lookup = s.server.bao_json(&["token", "lookup", &client_token(auth)]);
    assert_eq!(lookup["data"]["type"], "service", "{lookup}");
    assert_eq!(lookup["data"]["display_name"], "ibmcloud-app", "{lookup}");
    let entity_id = lookup["data"]["entity_id"].as_str().unwrap_or_default();
    assert!(!entity_id.is_empty(), "no entity: {lookup}");
    let entity = s
        .server
        .bao_json(&["read", &format!("identity/entity/id/{entity_id}")]);
    let aliases = entity["data"]["aliases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        aliases.iter().any(|a| a["name"] == app.iam_id.as_str()),
        "the alias is the IAM ID: {entity}"
    );

    // By API key: the same identity, so the same entity.
    let key = s.fake.create_api_key(&app);
    let login = s.server.bao_json(&[
        "write",
        "auth/ibmcloud/login",
        "role=dev-role",
        &format!("api_key={}", key.value),
    ]);
    let lookup = s
        .server
        .bao_json(&["token", "lookup", &client_token(&login["auth"])]);
    assert_eq!(lookup["data"]["entity_id"], entity_id, "{lookup}");

    // A user of the account in a bound access group, and a trusted profile
    // bound by subject: each gets an entity of its own.
    let user = s.identity(Identity::user("ann@example.com", ACCOUNT));
    let profile = s.identity(Identity::profile("vm-profile", ACCOUNT));
    s.fake.add_to_group(GROUP, &user.iam_id);
    s.role(
        "people",
        &[
            &format!("bound_access_group_ids={GROUP}"),
            &format!("bound_subjects={}", profile.sub),
            "token_policies=people",
        ],
    );
    let mut entities = vec![entity_id.to_owned()];
    for who in [&user, &profile] {
        let auth = s.login_ok(json!({"role": "people", "token": s.fake.access_token(who)}));
        assert_eq!(auth["metadata"]["IAM_ID"], who.iam_id.as_str(), "{auth}");
        let lookup = s
            .server
            .bao_json(&["token", "lookup", &client_token(&auth)]);
        let id = lookup["data"]["entity_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty() && !entities.contains(&id), "{lookup}");
        entities.push(id);
    }
}

#[test]
fn every_refused_login_is_a_bare_403_and_bad_input_a_400() {
    let s = Setup::new();
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    let stranger = s.identity(Identity::service_id("app", "acct-other"));
    let user = s.identity(Identity::user("bob@example.com", ACCOUNT));
    let outsider = s.identity(Identity::user("eve@example.com", "acct-other"));
    s.fake.add_to_group(GROUP, &outsider.iam_id);
    s.role(
        "dev",
        &[
            &format!(
                "bound_subjects={},{},{}",
                app.sub, stranger.sub, outsider.sub
            ),
            &format!("bound_access_group_ids={GROUP}"),
        ],
    );
    s.role(
        "cidr",
        &[
            &format!("bound_subjects={}", app.sub),
            "token_bound_cidrs=10.0.0.0/8",
        ],
    );

    let claims = app.claims(&s.fake.issuer());
    let kid = s.fake.current_key().kid().to_owned();
    let modulus = s.fake.current_key().jwk()["n"].as_str().unwrap().to_owned();
    let mut expired = claims.clone();
    expired["exp"] = json!(now_secs() - 3600);
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://iam.cloud.ibm.com/identity");
    let forged = integration_tests::fake_iam::SigningKey::generate(&kid).sign(&claims);
    let deleted_key = s.fake.create_api_key(&app);
    s.login_ok(json!({"role": "dev", "api_key": deleted_key.value}));
    s.fake.delete_api_key(&deleted_key.id);
    let refused = [
        (
            "unknown role",
            json!({"role": "nope", "token": s.fake.access_token(&app)}),
        ),
        (
            "another account",
            json!({"role": "dev", "token": s.fake.access_token(&stranger)}),
        ),
        (
            "a user of another account",
            json!({"role": "dev", "token": s.fake.access_token(&outsider)}),
        ),
        (
            "not bound, not in the group",
            json!({"role": "dev", "token": s.fake.access_token(&user)}),
        ),
        ("forged signature", json!({"role": "dev", "token": forged})),
        (
            "alg none",
            json!({"role": "dev", "token": unsigned_token(&claims, &kid)}),
        ),
        (
            "HS256",
            json!({"role": "dev", "token": hs256_token(&claims, &kid, modulus.as_bytes())}),
        ),
        (
            "expired",
            json!({"role": "dev", "token": s.fake.sign(&expired)}),
        ),
        (
            "another issuer",
            json!({"role": "dev", "token": s.fake.sign(&other_issuer)}),
        ),
        ("not a JWT", json!({"role": "dev", "token": "not-a-token"})),
        (
            "bound CIDR",
            json!({"role": "cidr", "token": s.fake.access_token(&app)}),
        ),
        (
            "unknown API key",
            json!({"role": "dev", "api_key": "no-such-key-0123456789"}),
        ),
        (
            "deleted API key",
            json!({"role": "dev", "api_key": deleted_key.value}),
        ),
    ];
    for (case, body) in &refused {
        let (status, answer) = s.login(body.clone());
        assert_eq!(status, 403, "{case}: {answer}");
        assert_eq!(answer, json!({"errors": ["permission denied"]}), "{case}");
    }
    // The user left the group: refused too; back in it, accepted.
    s.fake.add_to_group(GROUP, &user.iam_id);
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&user)}));
    s.fake.remove_from_group(GROUP, &user.iam_id);
    let (status, _) = s.login(json!({"role": "dev", "token": s.fake.access_token(&user)}));
    assert_eq!(status, 403);

    // The reasons are in the server log at debug level.
    let log = s.server.log_contents();
    for reason in [
        "expired",
        "not RS256",
        "signature",
        "issuer",
        "account",
        "bound",
    ] {
        assert!(log.contains(reason), "no {reason:?} in the log");
    }

    for (body, want) in [
        (json!({"token": "x"}), "role"),
        (json!({"role": "dev"}), "token or api_key"),
        (
            json!({"role": "dev", "token": "x", "api_key": "y"}),
            "not both",
        ),
    ] {
        let (status, answer) = s.login(body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(want), "{body}: {answer}");
    }
}

#[test]
fn a_rotated_signing_key_is_fetched_and_an_unreachable_iam_is_a_clear_error() {
    let s = Setup::new();
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    s.role("dev", &[&format!("bound_subjects={}", app.sub)]);
    let before = s.fake.access_token(&app);
    s.login_ok(json!({"role": "dev", "token": before}));
    let fetches = s.fake.hits(Route::Keys);

    // IAM rotates: the first token of the new key makes the plugin fetch
    // the keys again (once the refetch interval has passed).
    s.fake.rotate_keys();
    std::thread::sleep(Duration::from_secs(6));
    let after = s.fake.access_token(&app);
    s.login_ok(json!({"role": "dev", "token": after}));
    assert_eq!(s.fake.hits(Route::Keys), fetches + 1);
    // Tokens of the old key stay good while IAM publishes it.
    s.login_ok(json!({"role": "dev", "token": before}));

    s.fake.fail(Route::Token, 503);
    let key = s.fake.create_api_key(&app);
    let (status, answer) = s.login(json!({"role": "dev", "api_key": key.value}));
    assert_eq!(status, 502, "{answer}");
    let text = answer.to_string();
    assert!(text.contains("IAM") && text.contains("503"), "{text}");
    assert!(!text.contains(&key.value), "{text}");
}

#[test]
fn renewal_rechecks_the_role_its_policies_the_account_and_the_bindings() {
    let s = Setup::new();
    let user = s.identity(Identity::user("ann@example.com", ACCOUNT));
    s.fake.add_to_group(GROUP, &user.iam_id);
    s.role(
        "people",
        &[
            &format!("bound_access_group_ids={GROUP}"),
            "token_policies=people",
            "token_ttl=10m",
        ],
    );
    let login = || {
        client_token(&s.login_ok(json!({"role": "people", "token": s.fake.access_token(&user)})))
    };

    let token = login();
    let renewed = s.server.bao_json(&["token", "renew", &token]);
    assert_eq!(renewed["auth"]["lease_duration"], 600, "{renewed}");

    s.role("people", &["token_policies=people,more"]);
    let err = s.bao_err(&["token", "renew", &token]);
    assert!(err.contains("policies"), "{err}");

    s.role("people", &["token_policies=people"]);
    let token = login();
    s.fake.remove_from_group(GROUP, &user.iam_id);
    let err = s.bao_err(&["token", "renew", &token]);
    assert!(err.contains("permission denied"), "{err}");
    s.fake.add_to_group(GROUP, &user.iam_id);
    s.server.bao_ok(&["token", "renew", &token]);

    s.fake.remove_identity(&user.iam_id);
    let err = s.bao_err(&["token", "renew", &token]);
    assert!(err.contains("permission denied"), "left the account: {err}");

    s.fake.add_identity(&user);
    s.server.bao_ok(&["token", "renew", &token]);
    s.server.bao_ok(&["delete", "auth/ibmcloud/role/people"]);
    let err = s.bao_err(&["token", "renew", &token]);
    assert!(err.contains("no longer exists"), "{err}");
}

#[test]
fn rotate_root_stores_a_new_key_before_deleting_the_old_one() {
    let s = Setup::new();
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    s.role("dev", &[&format!("bound_subjects={}", app.sub)]);

    let rotated = s
        .server
        .bao_json(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
    let new_id = rotated["data"]["api_key_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        new_id.starts_with("ApiKey-") && new_id != s.admin_key.id,
        "{rotated}"
    );
    assert!(
        s.fake.api_key(&s.admin_key.id).unwrap().deleted,
        "the old key is deleted"
    );
    let live = s.fake.live_api_keys(&s.admin.iam_id);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, new_id);
    assert!(live[0].name.starts_with("vault-root-"), "{}", live[0].name);
    // The plugin works with the new key (a login needs the admin identity).
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&app)}));

    // When IAM refuses to delete the old key, the new one is kept and the
    // operator is told which key to delete by hand.
    s.fake.fail(Route::ApiKeyDelete, 500);
    let rotated = s
        .server
        .bao_json(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
    let newest = rotated["data"]["api_key_id"].as_str().unwrap_or_default();
    let warnings = rotated["warnings"].to_string();
    assert!(
        warnings.contains(&new_id),
        "the warning names the old key: {rotated}"
    );
    assert_eq!(s.fake.live_api_keys(&s.admin.iam_id).len(), 2);
    s.fake.heal(Route::ApiKeyDelete);
    assert!(s.fake.api_key(newest).is_some_and(|k| !k.deleted));
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&app)}));
}

#[test]
fn keys_orphaned_by_a_lost_creation_answer_or_a_dead_plugin_are_rolled_back() {
    let s = Setup::new();
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    s.role("dev", &[&format!("bound_subjects={}", app.sub)]);
    s.server
        .bao_ok(&["write", "auth/ibmcloud/config", "timeout=2s"]);
    let live = || s.fake.live_api_keys(&s.admin.iam_id).len();
    let faults = s.fake.faults();

    // IAM creates the key, then answers 500, or nothing in time: the
    // operator reads that the config is unchanged and a retry is safe.
    for fault in [Fault::status(500), Fault::Hang(Duration::from_secs(10))] {
        faults.inject_after_effect("POST", "/v1/apikeys", 1, fault);
        let err = s.bao_err(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
        assert!(
            err.contains("may have created the API key \"vault-root-")
                && err.contains("config still holds the old key")
                && err.contains("can be retried"),
            "{err}"
        );
    }
    // The plugin dies while IAM's answer is on its way.
    faults.inject_after_effect(
        "POST",
        "/v1/apikeys",
        1,
        Fault::Hang(Duration::from_secs(60)),
    );
    let rotating = s
        .server
        .bao_spawn(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
    wait_for("the third key to exist", Duration::from_secs(20), || {
        live() == 4
    });
    let mut rotating = rotating;
    assert!(!s.server.kill_plugin(NAME).is_empty(), "the plugin runs");
    let _ = rotating.wait();
    faults.clear();
    assert_eq!(live(), 4, "three orphans and the configured key");

    // The host's rollback tick deletes the orphans, and only them.
    wait_for("the rollback to delete the orphans", ROLLBACK, || {
        live() == 1
    });
    assert_eq!(
        s.fake.live_api_keys(&s.admin.iam_id)[0].id,
        s.admin_key.id,
        "the configured key stays"
    );
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&app)}));

    // A retry rotates.
    let rotated = s
        .server
        .bao_json(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
    let new_id = rotated["data"]["api_key_id"].as_str().unwrap_or_default();
    let keys = s.fake.live_api_keys(&s.admin.iam_id);
    assert_eq!(keys.len(), 1, "{rotated}");
    assert_eq!(keys[0].id, new_id);
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&app)}));
}

#[test]
fn config_reads_redact_the_key_and_no_key_or_token_reaches_the_log() {
    let s = Setup::new();
    let read = s.server.bao_json(&["read", "auth/ibmcloud/config"]);
    assert_eq!(read["data"]["api_key"], "<redacted>", "{read}");
    assert_eq!(read["data"]["account_id"], ACCOUNT, "{read}");
    assert_eq!(read["data"]["iam_endpoint"], s.fake.url(), "{read}");
    assert_eq!(
        read["data"]["user_management_endpoint"],
        s.fake.user_management_url(),
        "{read}"
    );

    // Logins of every kind, good and bad, then rotate-root: all the
    // secrets pass through the plugin, which logs at debug level.
    let app = s.identity(Identity::service_id("app", ACCOUNT));
    s.role("dev", &[&format!("bound_subjects={}", app.sub)]);
    let key = s.fake.create_api_key(&app);
    s.login_ok(json!({"role": "dev", "api_key": key.value}));
    s.login_ok(json!({"role": "dev", "token": s.fake.access_token(&app)}));
    let mut expired = app.claims(&s.fake.issuer());
    expired["exp"] = json!(now_secs() - 3600);
    let expired = s.fake.sign(&expired);
    assert_eq!(s.login(json!({"role": "dev", "token": expired})).0, 403);
    assert_eq!(
        s.login(json!({"role": "nope", "api_key": key.value})).0,
        403
    );
    s.server
        .bao_ok(&["write", "-f", "auth/ibmcloud/config/rotate-root"]);
    let read = s.server.bao_json(&["read", "auth/ibmcloud/config"]);
    assert_eq!(read["data"]["api_key"], "<redacted>", "{read}");

    let log = s.server.log_contents();
    assert!(
        log.contains("auth-ibmcloud"),
        "the plugin's lines are in the log"
    );
    let mut secrets = s.fake.secrets();
    secrets.push(expired);
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret ({} chars) is in the log",
            secret.len()
        );
        // JWTs: not even their signature part.
        if let Some(signature) = secret.rsplit('.').next().filter(|p| p.len() > 20) {
            assert!(
                !log.contains(signature),
                "a token's signature is in the log"
            );
        }
    }
    assert!(!read.to_string().contains(&s.admin_key.value));
}
