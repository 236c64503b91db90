//! IAM's signing keys: fetched from the configured IAM endpoint, cached, and
//! fetched again when a token names a key the cache does not have.
//!
//! IAM publishes its public keys as a JWK set at `{iam}/identity/keys` and
//! names the key that signed a token in the token's `kid`. A new key is
//! published when IAM rotates; a withdrawn key disappears from the set. So
//! the cache fetches on first use; fetches again on an unknown `kid`, but at
//! most once per [`REFETCH_INTERVAL`], so that made-up key ids cannot turn
//! logins into a flood of calls to IAM; and fetches again before use once the
//! set is [`MAX_AGE`] old, so a key IAM withdrew is trusted at most that long.
//!
//! Only keys that can verify RS256 are kept: RSA keys with a `kid`, whose
//! `use` (if given) is `sig` and whose `alg` (if given) is `RS256`. A key the
//! library cannot read is skipped, not fatal to the others.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde_json::Value;
use tokio::sync::Mutex;

/// The least time between two fetches caused by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// How long a fetched key set is used before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// IAM could not be asked, or answered with something unusable; the text
/// names the IAM endpoint and what went wrong (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the IAM endpoint publishes for anyone to read.
pub trait IamPublic: Sync {
    /// The JWK set document at `{iam}/identity/keys`.
    fn signing_keys(&self) -> impl Future<Output = Result<Value, Unavailable>> + Send;
    /// The OIDC discovery document at
    /// `{iam}/identity/.well-known/openid-configuration`.
    fn discovery(&self) -> impl Future<Output = Result<Value, Unavailable>> + Send;
}

/// The signing keys of one IAM endpoint, as last fetched.
#[derive(Debug)]
pub struct KeyCache {
    fetched: Mutex<Fetched>,
    refetch_interval: Duration,
    max_age: Duration,
}

#[derive(Default)]
struct Fetched {
    keys: HashMap<String, DecodingKey>,
    /// When the keys were last fetched successfully.
    at: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    tried: Option<Instant>,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("at", &self.at)
            .finish()
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(REFETCH_INTERVAL, MAX_AGE)
    }
}

impl KeyCache {
    /// An empty cache that refetches for unknown key ids at most once per
    /// `refetch_interval` and refreshes keys older than `max_age`.
    pub fn new(refetch_interval: Duration, max_age: Duration) -> Self {
        Self {
            fetched: Mutex::new(Fetched::default()),
            refetch_interval,
            max_age,
        }
    }

    /// The key called `kid`, fetching the key set from `iam` when it was
    /// never fetched, is too old, or lacks `kid` (rate-limited). `None`
    /// when IAM does not publish such a key.
    ///
    /// # Errors
    /// When a needed fetch fails.
    pub async fn key(
        &self,
        kid: &str,
        iam: &impl IamPublic,
    ) -> Result<Option<DecodingKey>, Unavailable> {
        // One fetch at a time: concurrent logins wait for it and share it.
        let mut fetched = self.fetched.lock().await;
        let fresh = fetched.at.is_some_and(|at| at.elapsed() < self.max_age);
        if !fresh {
            fetched.refresh(iam).await?;
        }
        if let Some(key) = fetched.keys.get(kid) {
            return Ok(Some(key.clone()));
        }
        let may_refetch = fresh
            && fetched
                .tried
                .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_refetch {
            fetched.refresh(iam).await?;
            return Ok(fetched.keys.get(kid).cloned());
        }
        Ok(None)
    }
}

impl Fetched {
    async fn refresh(&mut self, iam: &impl IamPublic) -> Result<(), Unavailable> {
        self.tried = Some(Instant::now());
        let document = iam.signing_keys().await?;
        self.keys = usable_keys(&document)?;
        self.at = Some(Instant::now());
        Ok(())
    }
}

/// The RS256 verification keys of a JWK set document, by key id.
///
/// # Errors
/// When the document has no `keys` array.
pub fn usable_keys(document: &Value) -> Result<HashMap<String, DecodingKey>, Unavailable> {
    let Some(entries) = document.get("keys").and_then(Value::as_array) else {
        return Err(Unavailable(
            "IBM Cloud IAM's key set has no \"keys\" list".into(),
        ));
    };
    Ok(entries.iter().filter_map(usable_key).collect())
}

/// One JWK as a key id and an RS256 verification key, if it is one.
fn usable_key(entry: &Value) -> Option<(String, DecodingKey)> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    let use_ok = matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    let alg_ok = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256));
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    if !(use_ok && alg_ok) {
        return None;
    }
    let key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?;
    Some((kid, key))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use integration_tests::fake_iam::SigningKey;
    use serde_json::json;

    use super::*;
    use crate::published::Published;

    #[tokio::test]
    async fn an_unknown_kid_refetches_at_most_once_per_interval() {
        let first = SigningKey::generate("k1");
        let second = SigningKey::generate("k2");
        let iam = Published::new(&[&first]);
        let cache = KeyCache::new(Duration::from_secs(3600), MAX_AGE);
        assert!(cache.key("k1", &iam).await.unwrap().is_some());
        assert!(cache.key("k1", &iam).await.unwrap().is_some());
        assert_eq!(iam.fetches(), 1, "known keys come from the cache");

        // IAM rotates, but the last fetch was just now: no new fetch yet.
        iam.publish(&[&first, &second]);
        assert!(cache.key("k2", &iam).await.unwrap().is_none());
        assert_eq!(iam.fetches(), 1);

        // With no interval to wait, an unknown kid fetches once per lookup.
        iam.publish(&[&first]);
        let cache = KeyCache::new(Duration::ZERO, MAX_AGE);
        assert!(cache.key("k1", &iam).await.unwrap().is_some());
        iam.publish(&[&first, &second]);
        assert!(cache.key("k2", &iam).await.unwrap().is_some());
        assert!(cache.key("nope", &iam).await.unwrap().is_none());
        assert_eq!(iam.fetches(), 4);
    }

    #[tokio::test]
    async fn old_key_sets_are_fetched_again_and_withdrawn_keys_dropped() {
        let first = SigningKey::generate("k1");
        let iam = Published::new(&[&first]);
        let cache = KeyCache::new(Duration::from_secs(3600), Duration::ZERO);
        assert!(cache.key("k1", &iam).await.unwrap().is_some());
        iam.publish(&[]);
        assert!(cache.key("k1", &iam).await.unwrap().is_none());
        assert_eq!(iam.fetches(), 2);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_an_error_and_is_rate_limited_like_any_other() {
        let first = SigningKey::generate("k1");
        let iam = Published::new(&[&first]);
        iam.fail.store(true, Ordering::SeqCst);
        let cache = KeyCache::new(Duration::from_secs(3600), MAX_AGE);
        let Err(err) = cache.key("k1", &iam).await else {
            panic!("a failed fetch gives no key")
        };
        assert_eq!(err.to_string(), "IAM answered 503");
        iam.fail.store(false, Ordering::SeqCst);
        assert!(cache.key("k1", &iam).await.unwrap().is_some());
        assert!(cache.key("k9", &iam).await.unwrap().is_none());
        assert_eq!(iam.fetches(), 2);
    }

    #[test]
    fn only_rs256_signing_keys_with_an_id_are_kept() {
        let key = SigningKey::generate("good");
        let jwk = key.jwk();
        let with = |field: &str, value: Value| {
            let mut jwk = jwk.clone();
            jwk[field] = value;
            jwk
        };
        let mut no_kid = jwk.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut bare = jwk.clone();
        bare.as_object_mut().unwrap().remove("alg");
        bare.as_object_mut().unwrap().remove("use");
        bare["kid"] = json!("bare");
        let document = json!({"keys": [
            jwk,
            bare,
            no_kid,
            with("kid", json!("")),
            with("use", json!("enc")),
            with("alg", json!("RS512")),
            with("alg", json!("something-new")),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            "not an object",
        ]});
        let mut kids: Vec<String> = usable_keys(&document).unwrap().into_keys().collect();
        kids.sort();
        assert_eq!(kids, ["bare", "good"]);
        let Err(err) = usable_keys(&json!({"nokeys": []})) else {
            panic!("no keys list")
        };
        assert!(err.0.contains("\"keys\""), "{err}");
    }
}
