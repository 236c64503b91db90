//! Fake upstream services for a plugin's tests, on [`wiremock`].
//!
//! A plugin's whole job is usually side effects at an upstream API: mint a
//! token, delete it on revoke. Its tests need a fake of that API that keeps
//! state the way the real one does (a created token works until it is
//! deleted, then gets 401) and checks what the plugin sends (the
//! `Authorization` header, the body). wiremock serves the HTTP; this module
//! adds what every such fake would otherwise write again:
//!
//! - [`SharedState`]: what the upstream remembers, shared by the routes; one
//!   closure per route reads and changes it ([`SharedState::respond`]);
//! - request helpers: [`authorization`], [`credentials`], [`bearer`] (the
//!   `Authorization` header), [`body_field`] (a JSON or form body);
//! - header assertions: [`authorization_is`] and [`bearer_is`], matchers that
//!   let a route answer only a request with the right credentials;
//! - [`HttpsFront`]: TLS in front of a fake, with a certificate from a CA
//!   generated in the test, for plugins that talk HTTPS (`ca_cert`,
//!   `insecure_skip_tls_verify`);
//! - [`Faults`]: outages, 429s, hangs, broken bodies and lost answers on
//!   demand, one switch for every fake;
//! - [`start`] and [`blocking`]: a server and its routes from synchronous
//!   code (integration tests, a demo binary) or from inside an async test.
//!
//! ```
//! use vault_plugin_sdk::testing::upstream::{self, SharedState};
//! use vault_plugin_sdk::testing::wiremock::matchers::{method, path, path_regex};
//! use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, ResponseTemplate};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The upstream remembers the tokens it issued.
//! let tokens = SharedState::new(Vec::<String>::new());
//! let server = MockServer::start().await;
//! Mock::given(method("POST"))
//!     .and(path("/tokens"))
//!     .respond_with(tokens.respond(|tokens, _req| {
//!         tokens.push(format!("token-{}", tokens.len()));
//!         ResponseTemplate::new(201).set_body_json(tokens.last())
//!     }))
//!     .mount(&server)
//!     .await;
//! Mock::given(method("GET"))
//!     .and(path("/whoami"))
//!     .respond_with(tokens.respond(|tokens, req| {
//!         let known = upstream::bearer(req).is_some_and(|b| tokens.iter().any(|t| t == b));
//!         ResponseTemplate::new(if known { 200 } else { 401 })
//!     }))
//!     .mount(&server)
//!     .await;
//! Mock::given(method("DELETE"))
//!     .and(path_regex("^/tokens/[^/]+$"))
//!     .respond_with(tokens.respond(|tokens, req| {
//!         let name = req.url.path().trim_start_matches("/tokens/");
//!         tokens.retain(|t| t != name);
//!         ResponseTemplate::new(204)
//!     }))
//!     .mount(&server)
//!     .await;
//! // ... point the plugin at server.uri(), then check the far side:
//! assert!(tokens.lock().is_empty());
//! # }
//! ```

mod auth;
pub mod faults;
mod https;
mod state;

use std::future::Future;
use std::thread;

use serde_json::Value;
use wiremock::{MockServer, Request};

pub use auth::{
    AuthorizationMatcher, authorization, authorization_is, bearer, bearer_is, credentials,
};
pub use faults::{Fault, Faults};
pub use https::HttpsFront;
pub use state::SharedState;

/// Starts a wiremock server on `127.0.0.1:<free port>` that stops
/// listening when dropped, from synchronous code or from inside an async
/// test alike (the server runs on its own thread either way).
///
/// In an async test, `MockServer::start().await` does the same, except that
/// it lends a server from wiremock's pool, which keeps listening after the
/// test.
///
/// # Panics
/// If no thread or Tokio runtime can be started for it.
pub fn start() -> MockServer {
    blocking(MockServer::builder().start())
}

/// Runs `future` to completion on a helper thread with its own Tokio
/// runtime, and returns its output: wiremock's async calls (`mount`,
/// `received_requests`) from synchronous code, or from inside an async test
/// without blocking on its runtime.
///
/// # Panics
/// If the runtime cannot be started, or `future` panics.
pub fn blocking<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(future))
        });
        match run.join() {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => panic!("cannot start a Tokio runtime for the fake upstream: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A field of the request body, whether the body is a JSON object (a string
/// value) or a form (`a=1&b=2`, percent- and `+`-decoded): the two ways
/// login and token endpoints take credentials.
pub fn body_field(req: &Request, name: &str) -> Option<String> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(json) => json.get(name)?.as_str().map(str::to_owned),
        Err(_) => form_urlencoded::parse(&req.body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned()),
    }
}

#[cfg(test)]
mod tests;
