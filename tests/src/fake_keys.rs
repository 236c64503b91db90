//! A fake upstream key service, stateful like a real provider API: a key
//! that was created authenticates (`/whoami`) until it is deleted, then
//! gets 401. The example plugin's `creds/` path talks to it.
//!
//! It speaks just enough HTTP/1.1 (one request per connection, through
//! [`crate::fake_http`]) and runs on its own threads, so tests of any kind
//! (sync or async) can use it. Tests can slow key creation down (to kill
//! the plugin mid-request) or make every call fail.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_http::{FakeServer, HttpReply, HttpRequest};

/// One key held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeKey {
    /// The id the service assigned.
    pub id: String,
    /// The name the client gave.
    pub name: String,
    /// The secret that authenticates.
    pub secret: String,
    /// When it expires (seconds since the epoch).
    pub expires_at: u64,
}

#[derive(Default)]
struct Shared {
    keys: Mutex<BTreeMap<String, FakeKey>>,
    next: AtomicU64,
    create_delay_ms: AtomicU64,
    failing: AtomicBool,
    created: AtomicU64,
}

/// A running fake key service; stops accepting when dropped.
pub struct FakeKeyService {
    server: FakeServer,
    shared: Arc<Shared>,
}

impl FakeKeyService {
    /// Starts the service on a free loopback port.
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let server = FakeServer::start(move |req| answer(&s, &req))?;
        Ok(Self { server, shared })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The keys that exist now.
    pub fn keys(&self) -> Vec<FakeKey> {
        lock(&self.shared).values().cloned().collect()
    }

    /// How many keys were ever created.
    pub fn created(&self) -> u64 {
        self.shared.created.load(Ordering::SeqCst)
    }

    /// Delays the answer to a key creation (after the key exists).
    pub fn set_create_delay(&self, delay: Duration) {
        self.shared
            .create_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes every call answer 503 (or stops doing so).
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// Whether `secret` authenticates now (what `/whoami` answers).
    pub fn authenticates(&self, secret: &str) -> bool {
        lock(&self.shared).values().any(|k| k.secret == secret)
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, BTreeMap<String, FakeKey>> {
    shared.keys.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers one request: 503 while failing, else what [`route`] says.
fn answer(shared: &Shared, req: &HttpRequest) -> HttpReply {
    let (status, reply) = if shared.failing.load(Ordering::SeqCst) {
        (503, json!({"error": "service unavailable"}))
    } else {
        route(
            shared,
            &req.method,
            &req.target,
            &req.body,
            req.bearer.as_deref(),
        )
    };
    let body = if status == 204 {
        String::new()
    } else {
        reply.to_string()
    };
    HttpReply {
        status,
        content_type: "application/json",
        body,
    }
}

fn route(
    shared: &Shared,
    method: &str,
    target: &str,
    body: &[u8],
    bearer: Option<&str>,
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("POST", "/keys") => {
            let Ok(req) = serde_json::from_slice::<Value>(body) else {
                return (400, json!({"error": "body must be JSON"}));
            };
            let Some(name) = req["name"].as_str().filter(|n| !n.is_empty()) else {
                return (400, json!({"error": "name is required"}));
            };
            let n = shared.next.fetch_add(1, Ordering::SeqCst) + 1;
            let key = FakeKey {
                id: n.to_string(),
                name: name.to_owned(),
                secret: format!("secret-{n}-{:x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                expires_at: req["expires_at"].as_u64().unwrap_or(0),
            };
            lock(shared).insert(key.id.clone(), key.clone());
            shared.created.fetch_add(1, Ordering::SeqCst);
            let delay = shared.create_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            (
                201,
                json!({"id": key.id, "name": key.name, "secret": key.secret, "expires_at": key.expires_at}),
            )
        }
        ("GET", "/keys") => {
            let wanted = query.strip_prefix("name=").map(decode);
            let keys: Vec<Value> = lock(shared)
                .values()
                .filter(|k| wanted.as_deref().is_none_or(|w| k.name == w))
                .map(|k| json!({"id": k.id, "name": k.name, "expires_at": k.expires_at}))
                .collect();
            (200, Value::Array(keys))
        }
        ("DELETE", p) if p.starts_with("/keys/") => {
            let id = decode(&p["/keys/".len()..]);
            match lock(shared).remove(&id) {
                Some(_) => (204, Value::Null),
                None => (404, json!({"error": "no such key"})),
            }
        }
        ("GET", "/whoami") => {
            let keys = lock(shared);
            match bearer.and_then(|b| keys.values().find(|k| k.secret == b)) {
                Some(k) => (200, json!({"id": k.id, "name": k.name})),
                None => (401, json!({"error": "unauthorized"})),
            }
        }
        _ => (404, json!({"error": "no such endpoint"})),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        url: &str,
        method: &str,
        path: &str,
        body: &str,
        bearer: Option<&str>,
    ) -> (u16, String) {
        crate::fake_http::send(url, method, path, body, bearer).unwrap()
    }

    #[test]
    fn a_created_key_authenticates_until_deleted() {
        let fake = FakeKeyService::start().unwrap();
        let (status, body) = call(fake.url(), "POST", "/keys", r#"{"name":"a b"}"#, None);
        assert_eq!(status, 201);
        let key: Value = serde_json::from_str(&body).unwrap();
        let secret = key["secret"].as_str().unwrap();
        assert_eq!(call(fake.url(), "GET", "/whoami", "", Some(secret)).0, 200);
        let (_, listed) = call(fake.url(), "GET", "/keys?name=a%20b", "", None);
        assert!(
            listed.contains("\"a b\"") && !listed.contains("secret"),
            "{listed}"
        );
        let id = key["id"].as_str().unwrap();
        assert_eq!(
            call(fake.url(), "DELETE", &format!("/keys/{id}"), "", None).0,
            204
        );
        assert_eq!(
            call(fake.url(), "DELETE", &format!("/keys/{id}"), "", None).0,
            404
        );
        assert_eq!(call(fake.url(), "GET", "/whoami", "", Some(secret)).0, 401);
        fake.set_failing(true);
        assert_eq!(call(fake.url(), "GET", "/keys", "", None).0, 503);
    }
}
