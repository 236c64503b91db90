//! Test support: an in-memory [`IamPublic`] whose key set the test sets and
//! whose fetches it counts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use integration_tests::fake_iam::SigningKey;
use serde_json::{Value, json};

use crate::keys::{IamPublic, Unavailable};

/// The issuer [`Published`]'s discovery document names.
pub const ISSUER: &str = "https://iam.example/identity";

/// Publishes the keys and issuer the test chooses, counting key fetches.
pub struct Published {
    keys: Mutex<Value>,
    issuer: Mutex<Value>,
    fetches: AtomicUsize,
    discoveries: AtomicUsize,
    /// Every fetch fails while set.
    pub fail: AtomicBool,
}

impl Published {
    /// Publishes `keys` and [`ISSUER`].
    pub fn new(keys: &[&SigningKey]) -> Self {
        let published = Self {
            keys: Mutex::new(Value::Null),
            issuer: Mutex::new(json!(ISSUER)),
            fetches: AtomicUsize::new(0),
            discoveries: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        };
        published.publish(keys);
        published
    }

    /// Publishes `keys` instead.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.keys.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    }

    /// Names `issuer` (any JSON, to test bad documents) in discovery.
    pub fn set_issuer(&self, issuer: Value) {
        *self.issuer.lock().unwrap() = issuer;
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was fetched.
    pub fn discoveries(&self) -> usize {
        self.discoveries.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), Unavailable> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Unavailable("IAM answered 503".into()));
        }
        Ok(())
    }
}

impl IamPublic for Published {
    async fn signing_keys(&self) -> Result<Value, Unavailable> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(self.keys.lock().unwrap().clone())
    }

    async fn discovery(&self) -> Result<Value, Unavailable> {
        self.discoveries.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(json!({"issuer": self.issuer.lock().unwrap().clone()}))
    }
}
