//! Faults upstream, for every plugin that has an upstream, inside one real
//! OpenBao: each plugin against its fake, through the same table of
//! failures (503, 500, 429 with `Retry-After`, a hang past the configured
//! timeout, a body that is not JSON, a body cut short), then connection
//! refused and a certificate from an unknown CA.
//!
//! What a user must see each time: a clear error naming the upstream, with
//! the right status, in bounded time (the timeout is 2s everywhere); a mint
//! that failed is never repeated and leaves no credential upstream; a
//! revoke retries a passing failure by itself, and a lasting one leaves the
//! lease for the host to retry; a bad config write stores nothing; and no
//! plugin process ever dies (its pid is the same at the end).
//!
//! example-auth has no upstream and is not here.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_iam::{FakeIam, Identity};
use integration_tests::fake_keys::FakeKeyService;
use integration_tests::fake_pachd::FakePachd;
use integration_tests::fake_proxmox::FakeProxmox;
use integration_tests::faults::{Fault, Faults};
use integration_tests::{BaoServer, crate_version, plugin_binary};
use serde_json::{Value, json};
use vault_plugin_sdk::testing::upstream::HttpsFront;

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
/// The `timeout` every mount is configured with.
const TIMEOUT: &str = "2s";
/// Longer than any call should take with that timeout (two calls, waits).
const BOUND: Duration = Duration::from_secs(7);

/// Writes a mount's config with a base URL and a CA (`None`: none);
/// returns OpenBao's answer.
type Configure<'a> = Box<dyn Fn(&str, Option<&str>) -> (u16, Value) + 'a>;

/// One plugin mount under test: how to mint and revoke, where its fake's
/// mint and revoke calls go, and how many credentials live upstream.
struct Target<'a> {
    /// The upstream's name in error messages.
    upstream: &'static str,
    faults: &'a Faults,
    /// `(HTTP method, path)` of the mint at OpenBao.
    mint: (&'static str, &'static str),
    /// `(method, part of the path)` of the upstream call that creates.
    create_call: (&'static str, &'static str),
    /// `(method, part of the path)` of the upstream call that deletes.
    delete_call: (&'static str, &'static str),
    /// The credentials that exist upstream now.
    live: Box<dyn Fn() -> usize + 'a>,
    /// Writes the config.
    configure: Configure<'a>,
    /// The working URL and CA.
    good: (String, Option<String>),
}

/// The error text of an answer.
fn errors(body: &Value) -> String {
    body["errors"].to_string()
}

/// A mint that must work: the lease id.
fn mint_ok(server: &BaoServer, t: &Target) -> String {
    let (status, body) = server.http(t.mint.0, t.mint.1, None);
    assert_eq!(status, 200, "{}: {body}", t.mint.1);
    body["lease_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no lease in {body}"))
        .to_owned()
}

/// `sys/leases/revoke` of `lease`, waiting for the plugin: the status and body.
fn revoke(server: &BaoServer, lease: &str) -> (u16, Value) {
    server.http(
        "PUT",
        "sys/leases/revoke",
        Some(&json!({"lease_id": lease, "sync": true})),
    )
}

/// Whether the host still holds `lease`.
fn lease_exists(server: &BaoServer, lease: &str) -> bool {
    let (status, _) = server.http(
        "PUT",
        "sys/leases/lookup",
        Some(&json!({"lease_id": lease})),
    );
    status == 200
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The mint table: each failure of the create call is a clear error in
/// bounded time, made once, leaving nothing upstream.
fn mint_faults(server: &BaoServer, t: &Target) {
    let cases = [
        (Fault::status(503), 502, "answered 503"),
        (Fault::status(500), 502, "answered 500"),
        (
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
            429,
            "answered 429 (retry after 1s)",
        ),
        (
            Fault::Hang(Duration::from_secs(10)),
            504,
            "did not answer within 2s",
        ),
        (Fault::Malformed, 502, "answered unexpectedly"),
        (Fault::TruncatedJson, 502, "answered unexpectedly"),
    ];
    for (fault, status, message) in cases {
        let case = format!("{} mint, {fault:?}", t.upstream);
        let before = (t.live)();
        let answered = t.faults.answered();
        // Two rules' worth: a retry would use the second.
        t.faults.inject(t.create_call.0, t.create_call.1, 2, fault);
        let started = Instant::now();
        let (got, body) = server.http(t.mint.0, t.mint.1, None);
        let took = started.elapsed();
        t.faults.clear();
        assert_eq!(got, status, "{case}: {body}");
        let text = errors(&body);
        assert!(
            text.contains(t.upstream) && text.contains(message),
            "{case}: {text}"
        );
        assert!(took < BOUND, "{case}: took {took:?}");
        assert_eq!(
            t.faults.answered(),
            answered + 1,
            "{case}: a mint is made once"
        );
        assert_eq!((t.live)(), before, "{case}: nothing left upstream");
    }
    // And it works again.
    let lease = mint_ok(server, t);
    assert_eq!(revoke(server, &lease).0, 204);
}

/// The revoke table: passing failures are retried within the call, a
/// lasting one leaves the lease (and the credential) for the host to retry.
fn revoke_faults(server: &BaoServer, t: &Target) {
    let passing = [
        Fault::status(503),
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    ];
    for fault in passing {
        let case = format!("{} revoke, {fault:?} once", t.upstream);
        let lease = mint_ok(server, t);
        let live = (t.live)();
        let answered = t.faults.answered();
        t.faults.inject(t.delete_call.0, t.delete_call.1, 1, fault);
        let (status, body) = revoke(server, &lease);
        assert_eq!(status, 204, "{case}: {body}");
        assert_eq!(
            t.faults.answered(),
            answered + 1,
            "{case}: the fault was hit"
        );
        assert_eq!((t.live)(), live - 1, "{case}: the credential is gone");
        assert!(!lease_exists(server, &lease), "{case}");
    }
    let lasting = [
        (Fault::status(500), "answered 500"),
        (
            Fault::Hang(Duration::from_secs(10)),
            "did not answer within 2s",
        ),
    ];
    for (fault, message) in lasting {
        let case = format!("{} revoke, {fault:?}", t.upstream);
        let lease = mint_ok(server, t);
        let live = (t.live)();
        t.faults.inject(t.delete_call.0, t.delete_call.1, 10, fault);
        let started = Instant::now();
        let (status, body) = revoke(server, &lease);
        let took = started.elapsed();
        t.faults.clear();
        assert!(status >= 400, "{case}: {status} {body}");
        let text = errors(&body);
        assert!(
            text.contains(t.upstream) && text.contains(message),
            "{case}: {text}"
        );
        assert!(took < BOUND * 2, "{case}: took {took:?}");
        assert!(lease_exists(server, &lease), "{case}: the lease stays");
        assert_eq!((t.live)(), live, "{case}: the credential stays");
        // Once the upstream is back, the revoke goes through.
        let (status, body) = revoke(server, &lease);
        assert_eq!(status, 204, "{case}: {body}");
        assert_eq!((t.live)(), live - 1, "{case}: the credential is gone");
    }
}

/// Connection refused and an unknown CA: the config write refuses it (and
/// stores nothing: the mint still works) or the mint fails clearly.
fn transport_faults(server: &BaoServer, t: &Target, fake_addr: SocketAddr) {
    let port = closed_port();
    let front = HttpsFront::forwarding_to(fake_addr).unwrap();
    let other_ca = HttpsFront::forwarding_to(fake_addr).unwrap();
    let (good_url, good_ca) = (&t.good.0, t.good.1.as_deref());
    // The good URL's path (Proxmox's /api2/json) after the broken base.
    let path = good_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let https_url = format!("{}{path}", front.url());
    let cases = [
        (
            format!("http://127.0.0.1:{port}{path}"),
            None,
            format!("could not reach {} at 127.0.0.1:{port}", t.upstream),
        ),
        (
            if good_url.starts_with("https") {
                good_url.clone()
            } else {
                https_url
            },
            Some(other_ca.ca_pem().to_owned()),
            "certificate not trusted".to_owned(),
        ),
    ];
    for (url, ca, message) in cases {
        let case = format!("{} at {url}", t.upstream);
        let before = (t.live)();
        let started = Instant::now();
        let (status, body) = (t.configure)(&url, ca.as_deref());
        let text = if status >= 400 {
            // Refused at the write: the old config must still work.
            let lease = mint_ok(server, t);
            assert_eq!(revoke(server, &lease).0, 204);
            errors(&body)
        } else {
            let (status, body) = server.http(t.mint.0, t.mint.1, None);
            assert_eq!(status, 502, "{case}: {body}");
            errors(&body)
        };
        assert!(text.contains(&message), "{case}: {text}");
        assert!(started.elapsed() < BOUND * 2, "{case}");
        assert_eq!((t.live)(), before, "{case}: nothing left upstream");
        let (status, body) = (t.configure)(good_url, good_ca);
        assert!(status < 300, "{case}: restoring the config: {body}");
    }
}

fn install(server: &BaoServer, kind: &str, name: &str, bin: &str, dir: &str) {
    server.install_plugin(kind, name, &plugin_binary(bin), &crate_version(dir));
}

/// The address of a fake from its `http(s)://host:port...` URL.
fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap_or_default();
    rest.split('/').next().unwrap_or_default().parse().unwrap()
}

#[test]
fn every_upstream_failure_is_a_clear_bounded_error_that_leaves_nothing_behind() {
    let server = BaoServer::start();
    let mut pids = Vec::new();

    // example-kv against the key service.
    install(
        &server,
        "secret",
        "example-kv",
        "vault-plugin-example-kv",
        "plugins/example-kv",
    );
    server.enable_secrets("example-kv", "kv");
    let keys = FakeKeyService::start().unwrap();
    let kv_config = |url: &str, ca: Option<&str>| {
        let mut body = json!({"upstream_url": url, "timeout": TIMEOUT});
        if let Some(ca) = ca {
            body["ca_cert"] = json!(ca);
        }
        server.http("PUT", "kv/config", Some(&body))
    };
    assert!(kv_config(keys.url(), None).0 < 300);
    assert!(
        server
            .http("PUT", "kv/role/dev", Some(&json!({"ttl": "5m"})))
            .0
            < 300
    );
    let kv = Target {
        upstream: "the key service",
        faults: keys.faults(),
        mint: ("GET", "kv/creds/dev"),
        create_call: ("POST", "/keys"),
        delete_call: ("DELETE", "/keys/"),
        live: Box::new(|| keys.keys().len()),
        configure: Box::new(kv_config),
        good: (keys.url().to_owned(), None),
    };

    // secrets-balena against the fake balena API.
    install(
        &server,
        "secret",
        "secrets-balena",
        "vault-plugin-secrets-balena",
        "plugins/secrets-balena",
    );
    server.enable_secrets("secrets-balena", "balena");
    let balena = FakeBalena::start().unwrap();
    balena.add_user("alice", "pw-alice");
    let balena_config = |url: &str, ca: Option<&str>| {
        let mut body = json!({"url": url, "timeout": TIMEOUT});
        if let Some(ca) = ca {
            body["ca_cert"] = json!(ca);
        }
        server.http("PUT", "balena/config", Some(&body))
    };
    assert!(balena_config(balena.url(), None).0 < 300);
    let session = balena.session_token("alice", Duration::ZERO, WEEK);
    let (status, body) = server.http(
        "PUT",
        "balena/role/dev",
        Some(&json!({"balenaApiKey": session, "ttl": "5m", "max_ttl": "1h"})),
    );
    assert!(status < 300, "{body}");
    let bal = Target {
        upstream: "balena",
        faults: balena.faults(),
        mint: ("GET", "balena/creds/dev"),
        create_call: ("POST", "/api-key/user/full"),
        delete_call: ("DELETE", "/api_key("),
        live: Box::new(|| balena.keys().len()),
        configure: Box::new(balena_config),
        good: (balena.url().to_owned(), None),
    };

    // secrets-proxmox against the fake Proxmox VE (HTTPS).
    install(
        &server,
        "secret",
        "vault-plugin-secrets-proxmox",
        "vault-plugin-secrets-proxmox",
        "plugins/secrets-proxmox",
    );
    server.enable_secrets("vault-plugin-secrets-proxmox", "proxmox");
    let pve = FakeProxmox::start().unwrap();
    let root_secret = pve.add_token("root@pam", "vault", false);
    pve.add_user("alice@pve");
    let pve_config = |url: &str, ca: Option<&str>| {
        let mut body = pve.config_json("vault", &root_secret, Some(ca.unwrap_or("")));
        body["proxmox_url"] = url.into();
        body["timeout"] = TIMEOUT.into();
        server.http("PUT", "proxmox/config", Some(&body))
    };
    let (status, body) = pve_config(&pve.url(), Some(pve.ca_pem()));
    assert!(status < 300, "{body}");
    assert!(
        server
            .http(
                "PUT",
                "proxmox/role/alice",
                Some(&json!({"user": "alice", "realm": "pve"}))
            )
            .0
            < 300
    );
    let prox = Target {
        upstream: "Proxmox",
        faults: pve.faults(),
        mint: ("GET", "proxmox/creds/alice"),
        create_call: ("POST", "/token/"),
        delete_call: ("DELETE", "/token/"),
        live: Box::new(|| pve.tokens().len()),
        configure: Box::new(pve_config),
        good: (pve.url(), Some(pve.ca_pem().to_owned())),
    };

    for (target, addr) in [
        (&kv, addr_of(keys.url())),
        (&bal, addr_of(balena.url())),
        (&prox, addr_of(&pve.url())),
    ] {
        mint_faults(&server, target);
        revoke_faults(&server, target);
        transport_faults(&server, target, addr);
    }
    for name in [
        "example-kv",
        "secrets-balena",
        "vault-plugin-secrets-proxmox",
    ] {
        pids.push((name, server.plugin_pids(name)));
    }

    ibmcloud_faults(&server);
    pachyderm_faults(&server);
    pids.push(("auth-ibmcloud", server.plugin_pids("auth-ibmcloud")));
    pids.push(("secrets-pachyderm", server.plugin_pids("secrets-pachyderm")));

    // No plugin process died on the way (a panic would have ended one).
    for (name, before) in pids {
        assert_eq!(server.plugin_pids(name), before, "{name} restarted");
        assert!(!before.is_empty(), "{name} runs");
    }
    assert!(
        !server.log_contents().contains("panicked"),
        "a plugin panicked"
    );
}

/// auth-ibmcloud: logins by API key exchange it at IAM (a call safe to
/// repeat), rotate-root creates a key (never repeated).
fn ibmcloud_faults(server: &BaoServer) {
    install(
        server,
        "auth",
        "auth-ibmcloud",
        "vault-plugin-auth-ibmcloud",
        "plugins/auth-ibmcloud",
    );
    server.enable_auth("auth-ibmcloud", "ibmcloud");
    let fake = FakeIam::start_blocking().unwrap();
    let admin = Identity::service_id("vault-admin", "acct-1");
    fake.add_identity(&admin);
    let admin_key = fake.create_api_key(&admin);
    let mut config = fake.config_json(&admin_key.value, "acct-1");
    config["timeout"] = TIMEOUT.into();
    let (status, body) = server.http("PUT", "auth/ibmcloud/config", Some(&config));
    assert!(status < 300, "{body}");
    let ci = Identity::service_id("ci", "acct-1");
    fake.add_identity(&ci);
    let ci_key = fake.create_api_key(&ci);
    let (status, body) = server.http(
        "PUT",
        "auth/ibmcloud/role/ci",
        Some(&json!({"bound_subjects": [ci.sub]})),
    );
    assert!(status < 300, "{body}");
    let login = || {
        server.http_as(
            None,
            "POST",
            "auth/ibmcloud/login",
            Some(&json!({"role": "ci", "api_key": ci_key.value})),
        )
    };
    assert_eq!(login().0, 200, "{:?}", login());

    // A passing failure of the exchange is retried: the login works.
    let faults = fake.faults();
    faults.inject("POST", "/identity/token", 1, Fault::status(503));
    let (status, body) = login();
    assert_eq!(status, 200, "{body}");
    assert_eq!(faults.answered(), 1);

    // Lasting failures: refused in bounded time, never a 200.
    for fault in [
        Fault::status(500),
        Fault::Hang(Duration::from_secs(10)),
        Fault::Malformed,
        Fault::TruncatedJson,
    ] {
        faults.inject("POST", "/identity/token", 10, fault.clone());
        let started = Instant::now();
        let (status, body) = login();
        faults.clear();
        assert!(status >= 400, "login, {fault:?}: {body}");
        assert!(started.elapsed() < BOUND * 2, "login, {fault:?}");
    }
    assert_eq!(login().0, 200);

    // IAM refusing connections, or with a certificate of an unknown CA.
    let iam_addr = addr_of(&fake.url());
    let front = HttpsFront::forwarding_to(iam_addr).unwrap();
    let other = HttpsFront::forwarding_to(iam_addr).unwrap();
    let refused = format!("http://127.0.0.1:{}", closed_port());
    for (url, ca, message) in [
        (refused.as_str(), "", "Connection refused"),
        (front.url(), other.ca_pem(), "certificate not trusted"),
    ] {
        let (status, body) = server.http(
            "PUT",
            "auth/ibmcloud/config",
            Some(&json!({"iam_endpoint": url, "ca_cert": ca})),
        );
        assert!(status < 300, "{body}");
        let started = Instant::now();
        let (status, body) = login();
        assert_eq!(status, 502, "login via {url}: {body}");
        let text = errors(&body);
        assert!(text.contains("IAM") && text.contains(message), "{text}");
        assert!(started.elapsed() < BOUND, "login via {url}");
    }
    let (status, body) = server.http(
        "PUT",
        "auth/ibmcloud/config",
        Some(&json!({"iam_endpoint": fake.url(), "ca_cert": ""})),
    );
    assert!(status < 300, "{body}");
    assert_eq!(login().0, 200);

    // rotate-root: a failed key creation is made once and changes nothing.
    let keys_before = fake.live_api_keys(&admin.iam_id).len();
    for fault in [
        Fault::status(503),
        Fault::Hang(Duration::from_secs(10)),
        Fault::Malformed,
    ] {
        faults.inject("POST", "/v1/apikeys", 2, fault.clone());
        let answered = faults.answered();
        let (status, body) = server.http("PUT", "auth/ibmcloud/config/rotate-root", None);
        faults.clear();
        assert!(status >= 400, "rotate-root, {fault:?}: {body}");
        assert!(
            errors(&body).contains("IAM"),
            "rotate-root, {fault:?}: {body}"
        );
        assert_eq!(
            faults.answered(),
            answered + 1,
            "rotate-root, {fault:?}: made once"
        );
        assert_eq!(fake.live_api_keys(&admin.iam_id).len(), keys_before);
        assert_eq!(login().0, 200, "the config still works");
    }
}

/// secrets-pachyderm against the fake pachd (gRPC): pachd's own failure
/// codes, a hang, pachd down, and a certificate from an unknown CA.
fn pachyderm_faults(server: &BaoServer) {
    use integration_tests::fake_pachd::Rpc;
    use tonic::Code;

    install(
        server,
        "secret",
        "secrets-pachyderm",
        "vault-plugin-secrets-pachyderm",
        "plugins/secrets-pachyderm",
    );
    server.enable_secrets("secrets-pachyderm", "pachyderm");
    let mut fake = FakePachd::start().unwrap();
    let root_token = fake.root_token().to_owned();
    let config = |address: &str, ca: Option<&str>| {
        let mut body = json!({
            "admin_token": root_token, "pachd_address": address,
            "ttl": "5m", "max_ttl": "1h", "request_timeout": TIMEOUT,
        });
        if let Some(ca) = ca {
            body["ca_cert"] = json!(ca);
        }
        server.http("PUT", "pachyderm/config", Some(&body))
    };
    let address = fake.address();
    assert!(config(&address, None).0 < 300);
    let mint = || server.http("PUT", "pachyderm/login/ci", None);
    let robots = |fake: &FakePachd| fake.live_tokens_of("robot:ci");

    for (code, message, want) in [
        (Code::Unavailable, "pachd is restarting", 502),
        (Code::ResourceExhausted, "too many requests", 429),
        (Code::Internal, "etcd is down", 502),
    ] {
        fake.fail(Some(Rpc::RestoreAuthToken), code, message);
        let calls = fake.calls(Rpc::RestoreAuthToken);
        let (status, body) = mint();
        fake.clear_failures();
        assert_eq!(status, want, "{code:?}: {body}");
        assert!(
            errors(&body).contains("pachd") && errors(&body).contains(message),
            "{code:?}: {body}"
        );
        assert_eq!(
            fake.calls(Rpc::RestoreAuthToken),
            calls + 1,
            "a mint is made once"
        );
        assert_eq!(robots(&fake), 0);
    }
    fake.set_delay(Duration::from_secs(10));
    let started = Instant::now();
    let (status, body) = mint();
    fake.set_delay(Duration::ZERO);
    assert_eq!(status, 504, "{body}");
    assert!(errors(&body).contains("did not answer within 2s"), "{body}");
    assert!(started.elapsed() < BOUND);

    // A revoke while pachd is down: an error, the lease stays; then it works.
    let (status, body) = mint();
    assert_eq!(status, 200, "{body}");
    let lease = body["lease_id"].as_str().unwrap().to_owned();
    fake.stop();
    let (status, body) = mint();
    assert!(status >= 500 && errors(&body).contains(&address), "{body}");
    let (status, body) = revoke(server, &lease);
    assert!(status >= 400 && errors(&body).contains("pachd"), "{body}");
    assert!(lease_exists(server, &lease));
    fake.resume().unwrap();
    let (status, body) = revoke(server, &lease);
    assert_eq!(status, 204, "{body}");
    assert_eq!(robots(&fake), 0);

    // TLS with a CA pachd's certificate is not from.
    let tls = FakePachd::start_tls().unwrap();
    let other = HttpsFront::forwarding_to(addr_of(&format!("http://{address}"))).unwrap();
    let (status, body) = config(&tls.url(), Some(other.ca_pem()));
    assert!(status >= 400, "{body}");
    assert!(errors(&body).contains("certificate"), "{body}");
    // Nothing stored: the mount still mints from the first pachd.
    let (status, body) = mint();
    assert_eq!(status, 200, "{body}");
}
