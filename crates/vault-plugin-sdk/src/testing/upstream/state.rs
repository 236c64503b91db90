//! What a fake upstream remembers, shared by its routes and the test.
//!
//! wiremock answers a request with a [`Respond`] value, and any
//! `Fn(&Request) -> ResponseTemplate` is one; a stateful fake is a set of
//! such closures over the same state. [`SharedState`] is that state (an
//! `Arc<Mutex<S>>` that survives a panicking responder), with
//! [`respond`](SharedState::respond) turning a closure of the state and the
//! request into a responder, and [`matches`](SharedState::matches) into a
//! matcher (e.g. a route that answers only while a failure is switched on).

use std::sync::{Arc, Mutex, MutexGuard};

use wiremock::{Match, Request, Respond, ResponseTemplate};

/// The state of a fake upstream: cloned into every route, read by the test.
#[derive(Debug, Default)]
pub struct SharedState<S> {
    inner: Arc<Mutex<S>>,
}

impl<S> Clone for SharedState<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: Send + 'static> SharedState<S> {
    /// Wraps the initial state.
    pub fn new(state: S) -> Self {
        Self {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    /// Locks the state, to read it in a test or seed it (a responder that
    /// panicked while holding it does not poison it).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A responder for one route: `route` gets the locked state and the
    /// request, and returns the answer.
    ///
    /// Keep the lock short: a slow answer is
    /// `ResponseTemplate::set_delay`, which wiremock waits out after the
    /// state is unlocked, never a sleep in `route`.
    pub fn respond<F>(&self, route: F) -> impl Respond + use<S, F>
    where
        F: Fn(&mut S, &Request) -> ResponseTemplate + Send + Sync + 'static,
    {
        let state = self.clone();
        move |req: &Request| route(&mut state.lock(), req)
    }

    /// A matcher that asks `condition` of the state and the request, e.g.
    /// `state.matches(|s, _| s.failing)` for a route that answers 503 only
    /// while the test says so.
    pub fn matches<F>(&self, condition: F) -> impl Match + use<S, F>
    where
        F: Fn(&S, &Request) -> bool + Send + Sync + 'static,
    {
        let state = self.clone();
        move |req: &Request| condition(&state.lock(), req)
    }
}
