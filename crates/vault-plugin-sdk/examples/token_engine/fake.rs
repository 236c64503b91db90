//! A fake token API for the tests: wiremock routes over shared state,
//! behind TLS with a CA made for the test.
//!
//! It keeps state as the real API would (a created token works until it is
//! deleted, a second delete is a 404), checks the admin token on every
//! call, and has a knob for each failure a test needs.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vault_plugin_sdk::testing::upstream::{HttpsFront, SharedState, bearer, bearer_is};
use vault_plugin_sdk::testing::wiremock::matchers::{any, method, path, path_regex};
use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, Request, ResponseTemplate};
use vault_plugin_sdk::upstream::{UpstreamClient, UpstreamSettings};

/// The admin token the fake accepts.
pub const ADMIN_TOKEN: &str = "admin-s3cret";

/// What the fake remembers.
#[derive(Default)]
pub struct Tokens {
    /// The tokens that exist: name -> (secret, scopes).
    pub tokens: BTreeMap<String, (String, Vec<String>)>,
    /// While set, every call answers this status (an outage).
    pub down: Option<u16>,
    /// While set, a create makes the token, then answers 500 (a lost answer).
    pub lose_create_answers: bool,
}

/// The fake, listening on HTTPS until dropped.
pub struct FakeTokenApi {
    /// What it remembers, to read and to turn failures on.
    pub state: SharedState<Tokens>,
    /// Its TLS listener: `front.url()` to configure, `front.ca_pem()` to trust.
    pub front: HttpsFront,
    _server: MockServer,
}

impl FakeTokenApi {
    /// Starts the fake with no tokens.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = SharedState::new(Tokens::default());
        let routes = [
            Mock::given(state.matches(|s, _| s.down.is_some()))
                .respond_with(state.respond(|s, _| ResponseTemplate::new(s.down.unwrap_or(503))))
                .with_priority(1),
            Mock::given(method("POST"))
                .and(path("/tokens"))
                .and(bearer_is(ADMIN_TOKEN))
                .respond_with(state.respond(create)),
            Mock::given(method("DELETE"))
                .and(path_regex("^/tokens/[^/]+$"))
                .and(bearer_is(ADMIN_TOKEN))
                .respond_with(state.respond(|s, req| {
                    let name = req.url.path().trim_start_matches("/tokens/");
                    match s.tokens.remove(name) {
                        Some(_) => ResponseTemplate::new(204),
                        None => ResponseTemplate::new(404),
                    }
                })),
            // What a holder of an issued token calls.
            Mock::given(method("GET"))
                .and(path("/whoami"))
                .respond_with(state.respond(|s, req| {
                    let token = bearer(req).unwrap_or_default();
                    let known = s.tokens.values().any(|(secret, _)| secret == token);
                    ResponseTemplate::new(if known { 200 } else { 401 })
                })),
            // Anything else, e.g. a call with a wrong admin token.
            Mock::given(any())
                .respond_with(ResponseTemplate::new(401))
                .with_priority(10),
        ];
        for route in routes {
            route.mount(&server).await;
        }
        let front = HttpsFront::start(&server).expect("the TLS front starts");
        Self {
            state,
            front,
            _server: server,
        }
    }

    /// Whether `token` works at the API, as its holder would find out.
    pub async fn accepts(&self, token: &str) -> bool {
        let settings = UpstreamSettings {
            ca_cert: self.front.ca_pem().into(),
            ..Default::default()
        };
        let client =
            UpstreamClient::new("token API", self.front.url(), &settings).expect("a client");
        client
            .get("/whoami")
            .bearer_auth(token)
            .send()
            .await
            .is_ok()
    }
}

/// `POST /tokens {"name", "scopes"}`: 201 with the new token's secret.
fn create(s: &mut Tokens, req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let (Some(name), Some(scopes)) = (body["name"].as_str(), body["scopes"].as_array()) else {
        return ResponseTemplate::new(400);
    };
    if s.tokens.contains_key(name) {
        return ResponseTemplate::new(409);
    }
    let secret = format!("tok-{name}-secret");
    let scopes = scopes
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    s.tokens.insert(name.to_owned(), (secret.clone(), scopes));
    if s.lose_create_answers {
        return ResponseTemplate::new(500);
    }
    ResponseTemplate::new(201).set_body_json(json!({ "name": name, "token": secret }))
}
