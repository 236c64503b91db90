//! A fake upstream key service, stateful like a real provider API: a key
//! that was created authenticates (`/whoami`) until it is deleted, then
//! gets 401. The example plugin's `creds/` path talks to it.
//!
//! It is a wiremock server (the SDK's test kit, `testing::upstream`) with one
//! route per endpoint over a shared state, started on its own thread, so
//! tests of any kind (sync or async) can use it. Tests can slow key creation
//! down (to kill the plugin mid-request) or make every call fail.

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use vault_plugin_sdk::testing::upstream::{self, SharedState};

use crate::faults::Faults;
use vault_plugin_sdk::testing::wiremock::matchers::{any, method, path, path_regex};
use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, Request, ResponseTemplate};

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
struct State {
    keys: BTreeMap<String, FakeKey>,
    next: u64,
    created: u64,
    create_delay: Duration,
    failing: bool,
}

/// A running fake key service; stops accepting when dropped.
pub struct FakeKeyService {
    /// Held for its lifetime: dropping it stops the service.
    _server: MockServer,
    url: String,
    state: SharedState<State>,
    faults: Faults,
}

impl FakeKeyService {
    /// Starts the service on a free loopback port.
    pub fn start() -> std::io::Result<Self> {
        let server = upstream::start();
        let state = SharedState::new(State::default());
        let routes = [
            Mock::given(state.matches(|s, _| s.failing))
                .respond_with(json_reply(503, &json!({"error": "service unavailable"})))
                .with_priority(1),
            Mock::given(method("POST"))
                .and(path("/keys"))
                .respond_with(state.respond(create)),
            Mock::given(method("GET"))
                .and(path("/keys"))
                .respond_with(state.respond(list)),
            Mock::given(method("DELETE"))
                .and(path_regex("^/keys/[^/]+$"))
                .respond_with(state.respond(delete)),
            Mock::given(method("GET"))
                .and(path("/whoami"))
                .respond_with(state.respond(whoami)),
            Mock::given(any())
                .respond_with(json_reply(404, &json!({"error": "no such endpoint"})))
                .with_priority(u8::MAX),
        ];
        let faults = Faults::new();
        upstream::blocking(async {
            faults.mock().mount(&server).await;
            for route in routes {
                route.mount(&server).await;
            }
        });
        let url = server.uri();
        Ok(Self {
            _server: server,
            url,
            state,
            faults,
        })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The keys that exist now.
    pub fn keys(&self) -> Vec<FakeKey> {
        self.state.lock().keys.values().cloned().collect()
    }

    /// How many keys were ever created.
    pub fn created(&self) -> u64 {
        self.state.lock().created
    }

    /// The fault switch: failures, hangs and broken bodies for chosen calls.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Delays the answer to a key creation (after the key exists).
    pub fn set_create_delay(&self, delay: Duration) {
        self.state.lock().create_delay = delay;
    }

    /// Makes every call answer 503 (or stops doing so).
    pub fn set_failing(&self, failing: bool) {
        self.state.lock().failing = failing;
    }

    /// Whether `secret` authenticates now (what `/whoami` answers).
    pub fn authenticates(&self, secret: &str) -> bool {
        self.state.lock().keys.values().any(|k| k.secret == secret)
    }
}

fn json_reply(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// `POST /keys {"name", "expires_at"}`: a new key, secret included.
fn create(state: &mut State, req: &Request) -> ResponseTemplate {
    let Ok(body) = req.body_json::<Value>() else {
        return json_reply(400, &json!({"error": "body must be JSON"}));
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return json_reply(400, &json!({"error": "name is required"}));
    };
    state.next += 1;
    let n = state.next;
    let key = FakeKey {
        id: n.to_string(),
        name: name.to_owned(),
        secret: format!("secret-{n}-{:x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        expires_at: body["expires_at"].as_u64().unwrap_or(0),
    };
    state.keys.insert(key.id.clone(), key.clone());
    state.created += 1;
    json_reply(
        201,
        &json!({"id": key.id, "name": key.name, "secret": key.secret, "expires_at": key.expires_at}),
    )
    .set_delay(state.create_delay)
}

/// `GET /keys[?name=<name>]`: the keys (of that name), without secrets.
fn list(state: &mut State, req: &Request) -> ResponseTemplate {
    let wanted = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.into_owned());
    let keys: Vec<Value> = state
        .keys
        .values()
        .filter(|k| wanted.as_deref().is_none_or(|w| k.name == w))
        .map(|k| json!({"id": k.id, "name": k.name, "expires_at": k.expires_at}))
        .collect();
    json_reply(200, &Value::Array(keys))
}

/// `DELETE /keys/<id>`: 204, or 404 for no such key.
fn delete(state: &mut State, req: &Request) -> ResponseTemplate {
    let id = req.url.path().trim_start_matches("/keys/");
    let id = percent_decode_str(id).decode_utf8_lossy();
    match state.keys.remove(id.as_ref()) {
        Some(_) => ResponseTemplate::new(204),
        None => json_reply(404, &json!({"error": "no such key"})),
    }
}

/// `GET /whoami` with `Authorization: Bearer <secret>`: 200 for a live key.
fn whoami(state: &mut State, req: &Request) -> ResponseTemplate {
    let bearer = upstream::bearer(req);
    match bearer.and_then(|b| state.keys.values().find(|k| k.secret == b)) {
        Some(k) => json_reply(200, &json!({"id": k.id, "name": k.name})),
        None => json_reply(401, &json!({"error": "unauthorized"})),
    }
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
        crate::http_call(url, method, path, body, bearer).unwrap()
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
