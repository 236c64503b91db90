//! A fake token API for the tests: wiremock routes over shared state,
//! behind TLS with a CA made for the test.
//!
//! It keeps state as the real API would (a created token works until it is
//! deleted, a second delete is a 404) and checks the admin token on every
//! call; the test kit's [`Faults`] switch makes any call fail on demand.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use vault_plugin_sdk::testing::upstream::{Faults, HttpsFront, SharedState, bearer, bearer_is};
use vault_plugin_sdk::testing::wiremock::matchers::{any, method, path, path_regex};
use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The admin token the fake accepts.
pub const ADMIN_TOKEN: &str = "admin-s3cret";

/// The tokens that exist: name -> (secret, scopes).
pub type Tokens = BTreeMap<String, (String, Vec<String>)>;

/// The fake, listening on HTTPS until dropped.
pub struct FakeTokenApi {
    /// The tokens it holds.
    pub tokens: SharedState<Tokens>,
    /// Failures on demand: outages, lost answers...
    pub faults: Faults,
    /// Its TLS listener: `front.url()` to configure, `front.ca_pem()` to trust.
    pub front: HttpsFront,
    _server: MockServer,
}

impl FakeTokenApi {
    /// Starts the fake with no tokens.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let (tokens, faults) = (SharedState::new(Tokens::new()), Faults::new());
        let routes = [
            faults.mock(),
            Mock::given(method("POST"))
                .and(path("/tokens"))
                .and(bearer_is(ADMIN_TOKEN))
                // The token is made even when a fault then loses the answer.
                .respond_with(faults.after(tokens.respond(create))),
            Mock::given(method("DELETE"))
                .and(path_regex("^/tokens/[^/]+$"))
                .and(bearer_is(ADMIN_TOKEN))
                .respond_with(tokens.respond(|tokens, req| {
                    let name = req.url.path().trim_start_matches("/tokens/");
                    let found = tokens.remove(name).is_some();
                    ResponseTemplate::new(if found { 204 } else { 404 })
                })),
            // What a holder of an issued token calls.
            Mock::given(method("GET"))
                .and(path("/whoami"))
                .respond_with(tokens.respond(|tokens, req| {
                    let token = bearer(req).unwrap_or_default();
                    let known = tokens.values().any(|(secret, _)| secret == token);
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
            tokens,
            faults,
            front,
            _server: server,
        }
    }

    /// Whether `token` works at the API, as its holder would find out.
    pub async fn accepts(&self, token: &str) -> bool {
        let client = self.front.client("token API").expect("a client");
        let whoami = client.get("/whoami").bearer_auth(token);
        whoami.send().await.is_ok()
    }
}

/// What a create sends.
#[derive(Deserialize)]
struct NewToken {
    name: String,
    scopes: Vec<String>,
}

/// `POST /tokens {"name", "scopes"}`: 201 with the new token's secret.
fn create(tokens: &mut Tokens, req: &Request) -> ResponseTemplate {
    let Ok(NewToken { name, scopes }) = serde_json::from_slice(&req.body) else {
        return ResponseTemplate::new(400);
    };
    if tokens.contains_key(&name) {
        return ResponseTemplate::new(409);
    }
    let secret = format!("tok-{name}-secret");
    let answer = json!({ "name": name, "token": secret });
    tokens.insert(name, (secret, scopes));
    ResponseTemplate::new(201).set_body_json(answer)
}
