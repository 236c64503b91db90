use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;
use wiremock::matchers::{any, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

/// An HTTP(S) client that trusts exactly the CAs in `roots` (PEM).
fn client(roots: &[&str]) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    for pem in roots {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store.add(cert.unwrap()).unwrap();
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str, auth: Option<&str>) -> u16 {
    let mut req = client.get(url);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_https_front_serves_a_client_that_trusts_its_ca_and_no_other() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"version": "8.2"})))
        .mount(&server)
        .await;
    let front = HttpsFront::start(&server).unwrap();
    assert_eq!(front.url(), format!("https://{}", front.addr()));
    assert!(front.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));

    let trusting = client(&[front.ca_pem()]);
    let answer = trusting
        .get(format!("{}/version", front.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        json!({"version": "8.2"})
    );
    // The certificate names localhost too.
    let by_name = format!("https://localhost:{}/version", front.addr().port());
    assert_eq!(get(&trusting, &by_name, None).await, 200);

    // A client without the CA, or with another front's CA, refuses it.
    let other = HttpsFront::start(&server).unwrap();
    assert_ne!(other.ca_pem(), front.ca_pem());
    for untrusting in [client(&[]), client(&[other.ca_pem()])] {
        let err = untrusting
            .get(format!("{}/version", front.url()))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
    }

    // A client asking for HTTP/2 (gRPC) gets it; the bytes go through as sent.
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(front.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut h2 = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    h2.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(h2))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    // Dropped, it stops listening.
    let addr = front.addr();
    drop(front);
    assert!(TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn a_route_behind_a_header_matcher_refuses_a_wrong_token() {
    let server = MockServer::start().await;
    Mock::given(path("/nodes"))
        .and(authorization_is("PVEAPIToken", "ci@pve!t1=s3cret"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/me"))
        .and(bearer_is("good"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // What a wrong token gets on /me: a 401 route behind the right one.
    Mock::given(path("/me"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;

    let http = client(&[]);
    let nodes = format!("{}/nodes", server.uri());
    assert_eq!(
        get(&http, &nodes, Some("PVEAPIToken=ci@pve!t1=s3cret")).await,
        200
    );
    for wrong in [
        "PVEAPIToken=ci@pve!t1=other",
        "PVEAPIToken=ci@pve!t2=s3cret",
        "Bearer ci@pve!t1=s3cret",
    ] {
        assert_eq!(get(&http, &nodes, Some(wrong)).await, 404, "{wrong}");
    }
    assert_eq!(get(&http, &nodes, None).await, 404);

    let me = format!("{}/me", server.uri());
    assert_eq!(get(&http, &me, Some("Bearer good")).await, 200);
    assert_eq!(get(&http, &me, Some("bearer good")).await, 200);
    assert_eq!(get(&http, &me, Some("Bearer bad")).await, 401);
    assert_eq!(get(&http, &me, None).await, 401);
}

/// The state of a token service: the tokens that work.
#[derive(Default)]
struct Tokens {
    live: Vec<String>,
    created: usize,
}

/// Mounts create (`POST /tokens`), use (`GET /whoami`) and delete
/// (`DELETE /tokens/<token>`) routes over `state`.
async fn mount_token_service(server: &MockServer, state: &SharedState<Tokens>) {
    Mock::given(method("POST"))
        .and(path("/tokens"))
        .respond_with(state.respond(|s, req| {
            let Some(owner) = body_field(req, "owner") else {
                return ResponseTemplate::new(400);
            };
            s.created += 1;
            let token = format!("{owner}-{}", s.created);
            s.live.push(token.clone());
            ResponseTemplate::new(201).set_body_json(json!({ "token": token }))
        }))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/whoami"))
        .respond_with(state.respond(|s, req| match bearer(req) {
            Some(token) if s.live.iter().any(|t| t == token) => ResponseTemplate::new(200),
            _ => ResponseTemplate::new(401),
        }))
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex("^/tokens/[^/]+$"))
        .respond_with(state.respond(|s, req| {
            let token = req.url.path().trim_start_matches("/tokens/");
            match s.live.iter().position(|t| t == token) {
                Some(i) => {
                    s.live.remove(i);
                    ResponseTemplate::new(204)
                }
                None => ResponseTemplate::new(404),
            }
        }))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_created_token_works_until_it_is_deleted() {
    let server = MockServer::start().await;
    let state = SharedState::new(Tokens::default());
    mount_token_service(&server, &state).await;
    let http = client(&[]);
    let url = server.uri();

    let created = http
        .post(format!("{url}/tokens"))
        .json(&json!({"owner": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let token = created.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let whoami = format!("{url}/whoami");
    let auth = format!("Bearer {token}");
    assert_eq!(get(&http, &whoami, Some(&auth)).await, 200);
    assert_eq!(state.lock().live, [token.as_str()]);

    let delete = |http: &reqwest::Client| http.delete(format!("{url}/tokens/{token}")).send();
    assert_eq!(delete(&http).await.unwrap().status(), 204);
    assert_eq!(get(&http, &whoami, Some(&auth)).await, 401);
    assert_eq!(delete(&http).await.unwrap().status(), 404);
    assert!(state.lock().live.is_empty());

    // A form body works as well; a body without the field is refused.
    let form = http
        .post(format!("{url}/tokens"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("owner=a+b%21")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    assert_eq!(state.lock().live, ["a b!-2"]);
    let refused = http.post(format!("{url}/tokens")).body("{}").send().await;
    assert_eq!(refused.unwrap().status(), 400);
}

#[test]
fn a_server_started_without_a_runtime_answers_until_dropped() {
    let server = start();
    let state = SharedState::new(false);
    blocking(
        Mock::given(state.matches(|failing, _| *failing))
            .respond_with(ResponseTemplate::new(503))
            .with_priority(1)
            .mount(&server),
    );
    blocking(
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200))
            .mount(&server),
    );
    let status =
        |server: &MockServer| blocking(async { get(&client(&[]), &server.uri(), None).await });
    assert_eq!(status(&server), 200);
    *state.lock() = true;
    assert_eq!(status(&server), 503);
    let seen = blocking(server.received_requests()).unwrap();
    assert_eq!(seen.len(), 2);

    let addr = *server.address();
    drop(server);
    // The server's thread notices the drop soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while TcpStream::connect(addr).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn start_and_blocking_work_inside_an_async_test_too() {
    let server = start();
    blocking(
        Mock::given(path("/ping"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server),
    );
    let url = format!("{}/ping", server.uri());
    assert_eq!(get(&client(&[]), &url, None).await, 204);
}
