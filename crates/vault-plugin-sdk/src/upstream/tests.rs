//! The upstream module against real sockets: local HTTP(S) and gRPC
//! servers with a CA generated per test, a listener that records what it
//! receives, and one that plays a proxy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::framework::fields::{FieldData, Fields, Update};
use crate::transport::listener::Conn;
use crate::{Error, Fields as DeriveFields};

/// A CA and a server certificate for `localhost` and 127.0.0.1 it issued.
struct Pki {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            chain: vec![leaf.der().clone()],
            key: key.serialize_der(),
        }
    }

    fn server_config(&self, alpn: &[u8]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone())),
            )
            .unwrap();
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }
}

/// One scripted answer; status 0 never answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

/// An HTTP/1.1 server that answers from a script (the last reply repeats)
/// and records each request's head and body as text.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(replies: Vec<Reply>, tls: Option<Arc<rustls::ServerConfig>>) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let replies = replies.clone();
                let (seen, count, tls) = (Arc::clone(&recorded), Arc::clone(&count), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(config) => {
                            if let Ok(stream) = TlsAcceptor::from(config).accept(tcp).await {
                                serve_one(stream, &replies, &seen, &count).await;
                            }
                        }
                        None => serve_one(tcp, &replies, &seen, &count).await,
                    }
                });
            }
        });
        Recorder { addr, seen }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve_one(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    replies: &[Reply],
    seen: &Mutex<Vec<String>>,
    count: &AtomicUsize,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&buf).into_owned());
    let n = count.fetch_add(1, Ordering::SeqCst);
    let Some(answer) = replies.get(n).or(replies.last()) else {
        return;
    };
    if answer.status == 0 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return;
    }
    let mut text = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&answer.body);
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn decode(raw: Value) -> Result<UpstreamSettings, String> {
    let schema = UpstreamSettings::schema();
    let raw = raw.as_object().cloned().unwrap_or_default();
    UpstreamSettings::from_data(&FieldData::new(&raw, &schema)).map_err(|e| e.to_string())
}

fn quick_retry() -> Retry {
    Retry::times(2)
        .first_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(2))
}

#[test]
fn timeout_takes_seconds_or_a_duration_and_refuses_zero_by_the_name_sent() {
    let secs = |raw| decode(raw).map(|s| s.timeout.get().as_secs());
    assert_eq!(secs(json!({})), Ok(30));
    assert_eq!(secs(json!({"timeout": 120})), Ok(120));
    assert_eq!(secs(json!({"timeout": "2m"})), Ok(120));
    assert_eq!(secs(json!({"timeout": "45"})), Ok(45));
    assert_eq!(secs(json!({"request_timeout": "10s"})), Ok(10));
    let err = secs(json!({"request_timeout": "0"})).unwrap_err();
    assert!(
        err.contains("\"request_timeout\"") && err.contains("at least 1s"),
        "{err}"
    );
    let err = secs(json!({"timeout": "soon"})).unwrap_err();
    assert!(err.contains("\"timeout\""), "{err}");
}

#[test]
fn headers_take_the_cli_pairs_a_list_or_a_json_object() {
    let headers = |raw| decode(json!({ "http_headers": raw })).map(|s| s.http_headers);
    let want = HttpHeaders::from_pairs([("x-a", "1"), ("x-b", "two words")]).unwrap();
    assert_eq!(headers(json!("X-A,1,X-B,two words")), Ok(want.clone()));
    assert_eq!(
        headers(json!(["X-A", "1", "X-B", "two words"])),
        Ok(want.clone())
    );
    assert_eq!(
        headers(json!({"X-A": "1", "X-B": "two words"})),
        Ok(want.clone())
    );
    assert_eq!(
        headers(json!(r#"{"X-A": 1, "X-B": "two words"}"#)),
        Ok(want)
    );
    assert_eq!(headers(json!("")), Ok(HttpHeaders::default()));
    for bad in [
        json!("X-A,1,X-B"),
        json!({"X A": "1"}),
        json!(["X-A", "line\nbreak-s3cret"]),
    ] {
        let err = headers(bad.clone()).unwrap_err();
        assert!(err.contains("\"http_headers\""), "{bad}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[test]
fn settings_are_stored_compactly_and_read_under_old_names() {
    let settings = decode(json!({"timeout": "1m", "http_headers": "X-A,1"})).unwrap();
    assert_eq!(
        serde_json::to_value(&settings).unwrap(),
        json!({"timeout": 60, "http_headers": {"x-a": "1"}})
    );
    #[derive(serde::Deserialize, DeriveFields)]
    struct Config {
        url: String,
        #[field(flatten)]
        #[serde(flatten)]
        upstream: UpstreamSettings,
    }
    let old: Config =
        serde_json::from_value(json!({"url": "https://x", "request_timeout": 5})).unwrap();
    assert_eq!(old.url, "https://x");
    assert_eq!(old.upstream.timeout.get(), Duration::from_secs(5));
    assert!(Config::schema().iter().any(|f| f.name == "proxy_server"));
}

/// `stored` with the fields `data` sends applied, as `Update<T>` does.
fn update(stored: UpstreamSettings, data: &serde_json::Value) -> UpstreamSettings {
    let raw = data.as_object().cloned().unwrap_or_default();
    let schema = UpstreamSettings::schema();
    let sent = Update::<UpstreamSettings>::from_data(&FieldData::new(&raw, &schema)).unwrap();
    sent.update(stored).unwrap()
}

#[test]
fn an_update_changes_only_what_was_sent() {
    let stored =
        decode(json!({"timeout": "1m", "ca_cert": "PEM", "http_headers": "X-A,1"})).unwrap();
    let data = json!({"request_timeout": "5s", "proxy": "http://p.example:3128"});
    let updated = update(stored.clone(), &data);
    assert_eq!(updated.timeout.get(), Duration::from_secs(5));
    assert_eq!(updated.proxy_server, "http://p.example:3128");
    assert_eq!(updated.ca_cert, "PEM");
    assert_eq!(updated.http_headers, stored.http_headers);
    let data = json!({"ca_cert": "", "http_headers": ""});
    let cleared = update(updated.clone(), &data);
    assert!(cleared.ca_cert.is_empty() && cleared.http_headers.is_empty());
    assert_eq!(cleared.timeout.get(), Duration::from_secs(5));
}

#[test]
fn a_read_shows_no_pem_no_header_value_and_no_proxy_password() {
    let settings = UpstreamSettings {
        ca_cert: Pki::new().ca_pem,
        proxy_server: "http://me:pw-s3cret@proxy.example:3128".into(),
        http_headers: HttpHeaders::from_pairs([("Authorization", "PVEAPIToken=s3cret")]).unwrap(),
        ..UpstreamSettings::default()
    };
    let read = Value::Object(settings.read_data());
    assert_eq!(read["has_ca_cert"], true);
    assert_eq!(read["proxy_server"], "http://proxy.example:3128/");
    assert_eq!(read["http_headers"], json!(["authorization"]));
    assert_eq!(read["timeout"], 30);
    assert!(!read.to_string().contains("s3cret") && !read.to_string().contains("BEGIN"));
}

#[test]
fn a_bad_proxy_or_ca_is_a_400_that_does_not_repeat_it() {
    for proxy in [
        "not a url s3cret",
        "ftp://proxy.example:21",
        "http://u:s3cret@proxy.example:3128/path",
    ] {
        let settings = UpstreamSettings {
            proxy_server: proxy.into(),
            ..UpstreamSettings::default()
        };
        let err =
            Error::from(UpstreamClient::new("X", "https://x.example", &settings).unwrap_err());
        assert_eq!(err.status(), 400, "{proxy}: {err}");
        assert!(err.to_string().contains("proxy_server"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
    let settings = UpstreamSettings {
        ca_cert: "not PEM".into(),
        ..UpstreamSettings::default()
    };
    let err = Error::from(UpstreamClient::new("X", "https://x.example", &settings).unwrap_err());
    assert!(
        matches!(err, Error::BadRequest(ref m) if m.contains("ca_cert")),
        "{err:?}"
    );
}

#[tokio::test]
async fn https_works_with_the_ca_and_fails_clearly_without_it() {
    let pki = Pki::new();
    let server = Recorder::start(
        vec![reply(200, r#"{"ok": true}"#)],
        Some(pki.server_config(b"http/1.1")),
    )
    .await;
    let trusted = UpstreamSettings {
        ca_cert: pki.ca_pem.clone(),
        ..UpstreamSettings::default()
    };
    let client = UpstreamClient::new("Proxmox", &server.url("https"), &trusted).unwrap();
    let answer: Value = client.get("/version").send().await.unwrap().json().unwrap();
    assert_eq!(answer, json!({"ok": true}));

    let plain = UpstreamClient::new(
        "Proxmox",
        &server.url("https"),
        &UpstreamSettings::default(),
    )
    .unwrap();
    let err = plain.get("/version").send().await.unwrap_err();
    assert!(
        matches!(err.kind(), UpstreamErrorKind::Tls { .. }),
        "{err:?}"
    );
    let err = Error::from(err);
    assert_eq!(err.status(), 502);
    let want = format!(
        "TLS with Proxmox at 127.0.0.1:{} failed: certificate not trusted (unknown issuer); set ca_cert",
        server.addr.port()
    );
    assert!(err.to_string().starts_with(&want), "{err}");
    assert_eq!(server.requests().len(), 1);

    // The same host name through hickory (/etc/hosts), with the CA.
    let by_name = format!("https://localhost:{}", server.addr.port());
    let client = UpstreamClient::new("Proxmox", &by_name, &trusted).unwrap();
    assert_eq!(client.get("/").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn insecure_skip_tls_verify_accepts_an_unknown_certificate() {
    let pki = Pki::new();
    let server = Recorder::start(vec![reply(204, "")], Some(pki.server_config(b"http/1.1"))).await;
    let settings = UpstreamSettings {
        insecure_skip_tls_verify: true,
        ..UpstreamSettings::default()
    };
    let client = UpstreamClient::new("X", &server.url("https"), &settings).unwrap();
    assert_eq!(client.delete("/keys/1").send().await.unwrap().status(), 204);
}

#[tokio::test]
async fn extra_headers_user_agent_and_bearer_reach_the_server_and_secrets_stay_out_of_errors() {
    let server = Recorder::start(
        vec![reply(401, "token tok-s3cret and header hdr-s3cret refused")],
        None,
    )
    .await;
    let settings = decode(json!({"http_headers": "X-Tenant,acme,X-Api-Key,hdr-s3cret"})).unwrap();
    let client = UpstreamClient::builder("balena", &server.url("http"), &settings)
        .user_agent(crate::user_agent!())
        .build()
        .unwrap();
    let err = client
        .post("/login_")
        .bearer_auth("tok-s3cret")
        .json(&json!({"password": "pw-s3cret"}))
        .secret("pw-s3cret")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    let text = Error::from(err).to_string();
    assert!(
        text.starts_with("balena answered 401: token [redacted]"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");

    let seen = server.requests().join("\n").to_lowercase();
    assert!(seen.starts_with("post /login_ http/1.1"), "{seen}");
    assert!(seen.contains("x-tenant: acme"), "{seen}");
    assert!(seen.contains("x-api-key: hdr-s3cret"), "{seen}");
    assert!(seen.contains("authorization: bearer tok-s3cret"), "{seen}");
    assert!(
        seen.contains("user-agent: vault-plugin-vault-plugin-sdk/"),
        "{seen}"
    );
    assert!(seen.contains(r#"{"password":"pw-s3cret"}"#), "{seen}");
}

#[tokio::test]
async fn a_form_body_is_encoded_and_typed() {
    let server = Recorder::start(vec![reply(200, "{}")], None).await;
    let client =
        UpstreamClient::new("iam", &server.url("http"), &UpstreamSettings::default()).unwrap();
    client
        .post("/identity/token")
        .form(&[("grant_type", "urn:a:b"), ("apikey", "k y&=")])
        .send()
        .await
        .unwrap();
    let seen = server.requests().join("\n").to_lowercase();
    assert!(
        seen.contains("content-type: application/x-www-form-urlencoded"),
        "{seen}"
    );
    assert!(
        seen.ends_with("grant_type=urn%3aa%3ab&apikey=k+y%26%3d"),
        "{seen}"
    );
}

#[tokio::test]
async fn calls_go_through_the_proxy() {
    let proxy = Recorder::start(vec![reply(200, "via proxy")], None).await;
    let settings = UpstreamSettings {
        proxy_server: proxy.url("http"),
        ..UpstreamSettings::default()
    };
    let client = UpstreamClient::new("X", "http://upstream.invalid:8080/api", &settings).unwrap();
    let answer = client.get("/keys?name=a").send().await.unwrap();
    assert_eq!(answer.text(), "via proxy");
    let seen = proxy.requests();
    assert!(
        seen[0].starts_with("GET http://upstream.invalid:8080/api/keys?name=a HTTP/1.1"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn an_idempotent_call_is_retried_after_a_503_and_a_post_is_not() {
    let server = Recorder::start(vec![reply(503, "busy"), reply(200, "done")], None).await;
    let client = UpstreamClient::builder("X", &server.url("http"), &UpstreamSettings::default())
        .retry(quick_retry())
        .build()
        .unwrap();
    assert_eq!(client.get("/a").send().await.unwrap().text(), "done");
    assert_eq!(server.requests().len(), 2);

    let server = Recorder::start(vec![reply(503, "busy"), reply(200, "done")], None).await;
    let client = UpstreamClient::builder("X", &server.url("http"), &UpstreamSettings::default())
        .retry(quick_retry())
        .build()
        .unwrap();
    let err = client.post("/keys").send().await.unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(server.requests().len(), 1);
    // Unless the plugin says this POST may be repeated.
    let answer = client.post("/search").idempotent().send().await.unwrap();
    assert_eq!(answer.text(), "done");
}

#[tokio::test]
async fn retries_are_bounded_and_honour_retry_after() {
    let busy = Reply {
        headers: vec![("retry-after", "0".to_owned())],
        ..reply(429, "slow down")
    };
    let server = Recorder::start(vec![busy], None).await;
    let client =
        UpstreamClient::new("X", &server.url("http"), &UpstreamSettings::default()).unwrap();
    let err = client
        .get("/a")
        .retry(quick_retry())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::ZERO));
    assert_eq!(Error::from(err).status(), 429);
    assert_eq!(server.requests().len(), 3);
    // Without a retry policy a call is made once.
    client.get("/b").send().await.unwrap_err();
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn retries_of_a_call_that_gets_no_answer_end_at_its_timeout() {
    let server = Recorder::start(vec![reply(0, "")], None).await;
    let settings = UpstreamSettings {
        timeout: Timeout::new(Duration::from_secs(1)).unwrap(),
        ..UpstreamSettings::default()
    };
    let client = UpstreamClient::builder("X", &server.url("http"), &settings)
        .retry(quick_retry())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = Error::from(client.get("/slow").send().await.unwrap_err());
    assert_eq!(err.status(), 504);
    assert_eq!(err.to_string(), "X did not answer within 1s");
    // The user waits the timeout, not the timeout once per try.
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

/// A server that answers each request with `raw` bytes, then closes.
async fn raw_server(raw: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let _ = tcp.read(&mut head).await;
            let _ = tcp.write_all(raw.as_bytes()).await;
            let _ = tcp.shutdown().await;
        }
    });
    (addr, count)
}

#[tokio::test]
async fn a_body_cut_short_or_a_dropped_connection_is_a_clear_error() {
    let cut = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{\"key\":";
    for (raw, kind) in [(cut, "a body cut short"), ("", "no answer at all")] {
        let (addr, count) = raw_server(raw).await;
        let client =
            UpstreamClient::builder("X", &format!("http://{addr}"), &UpstreamSettings::default())
                .retry(quick_retry())
                .build()
                .unwrap();
        let err = client.post("/keys").send().await.unwrap_err();
        assert!(err.is_transient(), "{kind}: {err:?}");
        let err = Error::from(err);
        assert_eq!(err.status(), 502, "{kind}");
        let want = format!("the connection to X at {addr} broke: ");
        assert!(err.to_string().starts_with(&want), "{kind}: {err}");
        // A creation is not repeated; a lookup is.
        assert_eq!(count.load(Ordering::SeqCst), 1, "{kind}");
        client.get("/keys").send().await.unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 4, "{kind}");
    }
}

#[tokio::test]
async fn no_answer_and_no_listener_are_clear_errors() {
    let server = Recorder::start(vec![reply(0, "")], None).await;
    let settings = UpstreamSettings {
        timeout: Timeout::new(Duration::from_secs(1)).unwrap(),
        ..UpstreamSettings::default()
    };
    let client = UpstreamClient::new("IBM IAM", &server.url("http"), &settings).unwrap();
    let err = Error::from(client.get("/token").send().await.unwrap_err());
    assert_eq!(err.status(), 504);
    assert_eq!(err.to_string(), "IBM IAM did not answer within 1s");

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client =
        UpstreamClient::new("IBM IAM", &format!("http://127.0.0.1:{port}"), &settings).unwrap();
    let err = Error::from(client.get("/token").send().await.unwrap_err());
    assert_eq!(err.status(), 502);
    let want = format!("could not reach IBM IAM at 127.0.0.1:{port}: ");
    assert!(err.to_string().starts_with(&want), "{err}");
}

#[test]
fn the_cache_keeps_a_client_while_the_settings_stay_the_same() {
    let cache = UpstreamCache::new("X");
    let settings = UpstreamSettings::default();
    let a = cache.client("http://a.example", &settings).unwrap();
    assert!(
        cache
            .client("http://a.example", &settings)
            .unwrap()
            .same_as(&a)
    );
    let b = cache.client("http://b.example", &settings).unwrap();
    assert!(!b.same_as(&a));
    let longer = UpstreamSettings {
        timeout: Timeout::new(Duration::from_secs(90)).unwrap(),
        ..settings.clone()
    };
    let c = cache.client("http://b.example", &longer).unwrap();
    assert!(!c.same_as(&b));
    assert!(
        cache
            .client("http://b.example", &longer)
            .unwrap()
            .same_as(&c)
    );
    cache.clear();
    assert!(
        !cache
            .client("http://b.example", &longer)
            .unwrap()
            .same_as(&c)
    );
    // A bad setting is refused and the cached client stays.
    let bad = UpstreamSettings {
        ca_cert: "x".into(),
        ..longer.clone()
    };
    assert!(cache.client("http://b.example", &bad).is_err());
}

/// A gRPC health service over TLS (or plain) on 127.0.0.1.
async fn grpc_server(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Conn>>(4);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let conn = match &tls {
                Some(config) => match TlsAcceptor::from(Arc::clone(config)).accept(tcp).await {
                    Ok(stream) => Conn::new(stream),
                    Err(_) => continue,
                },
                None => Conn::new(tcp),
            };
            if tx.send(Ok(conn)).await.is_err() {
                return;
            }
        }
    });
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(rx)),
    );
    addr
}

async fn health(channel: tonic::transport::Channel) -> i32 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn a_grpc_channel_uses_the_tls_settings_and_resolves_names_itself() {
    let pki = Pki::new();
    let addr = grpc_server(Some(pki.server_config(b"h2"))).await;
    let trusted = UpstreamSettings {
        ca_cert: pki.ca_pem.clone(),
        ..UpstreamSettings::default()
    };
    let secs = Duration::from_secs(5);
    let uri = format!("grpcs-is-the-plugins-job://localhost:{}", addr.port());
    assert!(
        grpc::channel("pachd", &uri, Some(&trusted), secs)
            .await
            .is_err()
    );

    let by_name = format!("localhost:{}", addr.port());
    let channel = grpc::channel("pachd", &by_name, Some(&trusted), secs)
        .await
        .unwrap();
    assert_eq!(health(channel).await, 1);

    let err = grpc::channel("pachd", &by_name, Some(&UpstreamSettings::default()), secs)
        .await
        .unwrap_err();
    let text = Error::from(err).to_string();
    let want = format!(
        "TLS with pachd at localhost:{} failed: certificate not trusted",
        addr.port()
    );
    assert!(text.starts_with(&want), "{text}");

    let insecure = UpstreamSettings {
        insecure_skip_tls_verify: true,
        ..UpstreamSettings::default()
    };
    let uri = format!("https://127.0.0.1:{}", addr.port());
    let channel = grpc::channel("pachd", &uri, Some(&insecure), secs)
        .await
        .unwrap();
    assert_eq!(health(channel).await, 1);

    let plain = grpc_server(None).await;
    let uri = format!("http://127.0.0.1:{}", plain.port());
    let channel = grpc::channel("pachd", &uri, None, secs).await.unwrap();
    assert_eq!(health(channel).await, 1);

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = grpc::channel("pachd", &format!("127.0.0.1:{port}"), None, secs)
        .await
        .unwrap_err();
    let text = Error::from(err).to_string();
    assert!(
        text.starts_with(&format!("could not reach pachd at 127.0.0.1:{port}: ")),
        "{text}"
    );
}
