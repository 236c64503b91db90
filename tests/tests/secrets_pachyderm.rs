//! The `secrets-pachyderm` plugin inside a real OpenBao, against the fake
//! pachd: the operator's flow (config, login in both forms, renew, revoke
//! killing the token, the manual revoke), minting as a Vault policy rule,
//! a non-robot subject refused, pachd down or slow giving a clear error
//! within the timeout (and a revoke that works once pachd is back), the
//! root token rotation, help and OpenAPI, and that no token reaches the
//! server log.

use std::time::{Duration, Instant};

use integration_tests::fake_pachd::{FakePachd, ROOT_SUBJECT};
use integration_tests::{BaoServer, crate_version, plugin_binary};
use serde_json::{Value, json};

const NAME: &str = "secrets-pachyderm";
const BIN: &str = "vault-plugin-secrets-pachyderm";

/// The fake pachd, and OpenBao with the plugin mounted at `pachyderm/`.
struct Setup {
    fake: FakePachd,
    server: BaoServer,
}

impl Setup {
    /// Mounts the plugin (with registration `args`) and configures it with
    /// the fake's root token, as the issue's operator flow does.
    fn new(args: &[&str]) -> Setup {
        let fake = FakePachd::start().unwrap();
        let server = BaoServer::start();
        server.install_plugin_with(
            "secret",
            NAME,
            &plugin_binary(BIN),
            &crate_version("plugins/secrets-pachyderm"),
            args,
        );
        server.enable_secrets(NAME, "pachyderm");
        let mut config = fake.config_args();
        config.extend(["ttl=45s", "max_ttl=1h", "request_timeout=2s"].map(String::from));
        server.write_ok("pachyderm/config", &config);
        Setup { fake, server }
    }

    /// A `bao` command that must fail: its stderr.
    fn bao_err(&self, args: &[&str]) -> String {
        let out = self.server.bao(args);
        assert!(
            !out.status.success(),
            "`bao {}` should fail; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A token of a new policy `name` with `rules`.
    fn token_with_policy(&self, name: &str, rules: &str) -> String {
        let (status, body) = self.server.http(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": rules })),
        );
        assert_eq!(status, 204, "{body}");
        let created = self
            .server
            .bao_json(&["token", "create", &format!("-policy={name}")]);
        created["auth"]["client_token"].as_str().unwrap().to_owned()
    }
}

fn user_token(login: &Value) -> String {
    login["data"]["user_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no user_token in {login}"))
        .to_owned()
}

fn lease_id(login: &Value) -> String {
    login["lease_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_operators_flow_mints_a_robot_token_and_revoking_the_lease_kills_it() {
    let setup = Setup::new(&[]);
    let (fake, server) = (&setup.fake, &setup.server);

    // The original form: login username=robot:ci.
    let login = server.bao_json(&["write", "pachyderm/login", "username=robot:ci"]);
    let token = user_token(&login);
    assert_eq!(login["data"]["pachd_address"], fake.address(), "{login}");
    assert_eq!(login["data"]["robot"], "robot:ci", "{login}");
    assert_eq!(login["lease_duration"], 45, "{login}");
    assert_eq!(login["renewable"], true, "{login}");
    assert!(lease_id(&login).starts_with("pachyderm/login/"), "{login}");
    assert_eq!(fake.subject_of(&token).as_deref(), Some("robot:ci"));

    // The seed's "renew at half the TTL".
    let renewed = server.bao_json(&["lease", "renew", &lease_id(&login)]);
    assert_eq!(renewed["lease_duration"], 45, "{renewed}");
    let renewed = server.bao_json(&["lease", "renew", "-increment=30m", &lease_id(&login)]);
    assert_eq!(renewed["lease_duration"], 1800, "{renewed}");

    server.bao_ok(&["lease", "revoke", "-sync", &lease_id(&login)]);
    assert_eq!(
        fake.subject_of(&token),
        None,
        "revoking the lease kills the token"
    );

    // The path form, and the manual revoke of its token.
    let login = server.bao_json(&["write", "pachyderm/login/ci", "ttl=10m"]);
    let token = user_token(&login);
    assert_eq!(login["lease_duration"], 600, "{login}");
    let revoked = server.bao_json(&["write", "pachyderm/revoke", &format!("user_token={token}")]);
    assert_eq!(revoked["data"]["revoked"], true, "{revoked}");
    assert_eq!(fake.subject_of(&token), None);
    // Its lease still revokes cleanly: already gone counts as revoked.
    server.bao_ok(&["lease", "revoke", "-sync", &lease_id(&login)]);

    // The config never shows the admin token; version asks pachd.
    let config = server.bao_json(&["read", "pachyderm/config"]);
    assert_eq!(config["data"]["admin_subject"], ROOT_SUBJECT, "{config}");
    assert!(!config.to_string().contains(fake.root_token()), "{config}");
    let version = server.bao_json(&["read", "pachyderm/version"]);
    assert_eq!(version["data"]["server-version"], "2.11.6", "{version}");
    let client = server.bao_json(&["read", "pachyderm/version/client-only"]);
    assert!(client["data"].get("server-version").is_none(), "{client}");

    // Help and OpenAPI describe the robot in the path.
    let help = server.bao_ok(&["path-help", "pachyderm/login/ci"]);
    assert!(
        help.contains("Mint a token for a Pachyderm robot user"),
        "{help}"
    );
    assert!(help.contains("only for robot users"), "{help}");
    let (status, doc) = server.http("GET", "sys/internal/specs/openapi", None);
    assert_eq!(status, 200);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths
            .iter()
            .any(|p| p.as_str() == "/pachyderm/login/{robot}"),
        "{paths:?}"
    );
}

#[test]
fn who_may_mint_for_which_robot_is_a_policy_rule() {
    let setup = Setup::new(&[]);
    let (fake, server) = (&setup.fake, &setup.server);
    let ci = setup.token_with_policy(
        "ci-robot",
        r#"
        path "pachyderm/login/ci" { capabilities = ["update"] }
        path "pachyderm/login" {
          capabilities = ["update"]
          allowed_parameters = { "username" = ["robot:ci"], "ttl" = [] }
        }
        "#,
    );
    let login = |token: Option<&str>, path: &str, body: Value| {
        server.http_as(token, "POST", path, Some(&body))
    };

    let (status, body) = login(Some(&ci), "pachyderm/login/ci", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        fake.subject_of(&user_token(&body)).as_deref(),
        Some("robot:ci")
    );
    let (status, body) = login(
        Some(&ci),
        "pachyderm/login",
        json!({"username": "robot:ci"}),
    );
    assert_eq!(status, 200, "{body}");

    // Another robot, by either form, and other spellings of it: refused
    // by OpenBao before the plugin is asked.
    for (path, body) in [
        ("pachyderm/login/deploy", json!({})),
        ("pachyderm/login/robot:ci", json!({})),
        ("pachyderm/login", json!({"username": "robot:deploy"})),
        ("pachyderm/login", json!({"username": "ci"})),
    ] {
        let (status, answer) = login(Some(&ci), path, body.clone());
        assert_eq!(status, 403, "{path} {body}: {answer}");
    }
    // The config is not theirs to read, and nobody mints without a token
    // (the original login was unauthenticated).
    let (status, _) = server.http_as(Some(&ci), "GET", "pachyderm/config", None);
    assert_eq!(status, 403);
    let (status, answer) = login(None, "pachyderm/login", json!({"username": "robot:ci"}));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(fake.live_tokens_of("robot:deploy"), 0);
    assert_eq!(fake.live_tokens_of("robot:ci"), 2);
}

#[test]
fn a_non_robot_subject_is_refused_with_a_clear_400() {
    let setup = Setup::new(&[]);
    let server = &setup.server;
    for (path, body) in [
        ("pachyderm/login/user:alice", json!({})),
        ("pachyderm/login", json!({"username": "github:alice"})),
    ] {
        let (status, answer) = server.http("POST", path, Some(&body));
        assert_eq!(status, 400, "{path}: {answer}");
        let message = answer["errors"][0].as_str().unwrap_or_default();
        assert!(
            message.contains("Pachyderm 2.x issues tokens only for robot users"),
            "{message}"
        );
    }
    let stderr = setup.bao_err(&["write", "-f", "pachyderm/login/robot:ci"]);
    assert!(stderr.contains("write login/ci"), "{stderr}");
    for rpc in [
        integration_tests::fake_pachd::Rpc::RestoreAuthToken,
        integration_tests::fake_pachd::Rpc::GetRobotToken,
    ] {
        assert_eq!(setup.fake.calls(rpc), 0, "{rpc:?}");
    }
}

#[test]
fn pachd_down_is_a_clear_error_within_the_timeout_and_revoke_waits_for_it() {
    let mut setup = Setup::new(&[]);
    let login = setup
        .server
        .bao_json(&["write", "-f", "pachyderm/login/ci"]);
    let token = user_token(&login);
    let address = format!("grpc://{}", setup.fake.address());

    setup.fake.stop();
    let started = Instant::now();
    let stderr = setup.bao_err(&["write", "-f", "pachyderm/login/ci"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no answer for {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!("pachd cannot be reached at {address}")),
        "{stderr}"
    );
    // The lease cannot be revoked while pachd is down: an error, the lease
    // stays, and the token lives on...
    let stderr = setup.bao_err(&["lease", "revoke", "-sync", &lease_id(&login)]);
    assert!(stderr.contains("pachd cannot be reached"), "{stderr}");
    // ...until pachd is back.
    setup.fake.resume().unwrap();
    setup
        .server
        .bao_ok(&["lease", "revoke", "-sync", &lease_id(&login)]);
    assert_eq!(setup.fake.subject_of(&token), None);

    // A pachd that does not answer: the config's timeout (2s) ends the wait.
    setup.fake.set_delay(Duration::from_secs(20));
    let started = Instant::now();
    let stderr = setup.bao_err(&["write", "-f", "pachyderm/login/ci"]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no answer for {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!("pachd at {address} did not answer within 2s")),
        "{stderr}"
    );
}

#[test]
fn no_token_reaches_the_server_log() {
    // The plugin logs at debug level, so even its detailed logs are checked.
    let setup = Setup::new(&["-args=--log-level=debug"]);
    let (fake, server) = (&setup.fake, &setup.server);

    // The tokens the plugin made (pachd sees only their hashes).
    let mut minted = Vec::new();
    for robot in ["ci", "deploy"] {
        let login = server.bao_json(&["write", "-f", &format!("pachyderm/login/{robot}")]);
        minted.push(user_token(&login));
        server.bao_ok(&["lease", "renew", &lease_id(&login)]);
        server.bao_ok(&["lease", "revoke", "-sync", &lease_id(&login)]);
    }
    let kept = server.bao_json(&["write", "pachyderm/login", "username=robot:ci"]);
    let manual = server.bao_json(&["write", "-f", "pachyderm/login/ci"]);
    minted.push(user_token(&manual));
    server.bao_ok(&[
        "write",
        "pachyderm/revoke",
        &format!("user_token={}", user_token(&manual)),
    ]);
    // Refusals and failures, with tokens in the requests.
    let alice = fake.issue_token("user:alice", None);
    setup.bao_err(&[
        "write",
        "pachyderm/config",
        &format!("admin_token={alice}x"),
    ]);
    setup.bao_err(&[
        "write",
        "pachyderm/revoke",
        &format!("user_token={}", fake.root_token()),
    ]);
    // The root token rotates: the old one dies, the mount keeps working.
    server.bao_ok(&["write", "-f", "pachyderm/config/rotate-root"]);
    assert_eq!(fake.subject_of(fake.root_token()), None);
    assert_eq!(fake.live_tokens_of(ROOT_SUBJECT), 1);
    let after = server.bao_json(&["write", "-f", "pachyderm/login/ci"]);
    assert!(fake.subject_of(&user_token(&after)).is_some());
    minted.push(user_token(&after));
    fake.fail(None, tonic::Code::Unavailable, "pachd is restarting");
    setup.bao_err(&["write", "-f", "pachyderm/login/ci"]);
    fake.clear_failures();

    let log = server.log_contents();
    assert!(
        log.contains("minted a pachd robot token") && log.contains("rotated pachd's root token"),
        "the log has the plugin's lines"
    );
    let mut tokens = fake.issued_tokens();
    tokens.extend(minted);
    tokens.extend([user_token(&kept), format!("{alice}x")]);
    assert!(tokens.len() >= 8, "{} tokens", tokens.len());
    for token in &tokens {
        assert!(
            !log.contains(token.as_str()),
            "the server log contains a token ({} chars)",
            token.len()
        );
    }
}
