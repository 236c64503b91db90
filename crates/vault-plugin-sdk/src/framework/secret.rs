//! Secrets with leases: a secret type declares how it is renewed and revoked.
//!
//! A handler that issues a credential returns [`Response::secret`]; the
//! router stamps the secret's type into its internal data, marks it
//! renewable when the type has a renew handler, and computes its TTL against
//! the mount. When the host later renews or revokes the lease, the router
//! finds the type again and calls its handler with the internal data.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::lease::LeaseOptions;
use super::{Request, Response};
use crate::{Error, Result};

/// The key under which the secret's type travels in its internal data
/// (the same key the Go SDK uses, so leases survive a rewrite in either direction).
pub const SECRET_TYPE_KEY: &str = "secret_type";

/// A secret with a lease, as it travels between the plugin and the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretData {
    /// Timing of the lease.
    pub lease: LeaseOptions,
    /// What the plugin needs to renew or revoke it later; never shown to users.
    pub internal_data: Map<String, Value>,
    /// The host's lease id (set on renew and revoke requests).
    pub lease_id: String,
}

impl SecretData {
    /// The secret's type, from its internal data.
    pub fn kind(&self) -> Option<&str> {
        self.internal_data.get(SECRET_TYPE_KEY)?.as_str()
    }

    /// The internal data decoded as `T`.
    pub fn internal<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(Value::Object(self.internal_data.clone())).map_err(|e| {
            Error::Unrecoverable(format!("the lease's internal data is not readable: {e}"))
        })
    }
}

/// The internal data of one kind of leased secret: what the plugin needs to
/// renew or revoke it later, with the type's name.
///
/// The name is stored with every lease (`secret_type`, as in the Go SDK)
/// and picks the renew and revoke handlers when the host hands the lease
/// back, so it must never change once leases exist. Everything else links
/// by the Rust type: [`Response::secret`] issues a `T`, and the [`Secret`]
/// declared for `T` renews and revokes it, so a mismatch does not compile.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use vault_plugin_sdk::framework::SecretType;
///
/// /// What a lease of an API key keeps: never the key itself.
/// #[derive(Serialize, Deserialize)]
/// struct ApiKey {
///     key_id: u64,
/// }
///
/// impl SecretType for ApiKey {
///     const NAME: &'static str = "api_key";
/// }
/// ```
pub trait SecretType: Serialize + DeserializeOwned + Send + 'static {
    /// The type's name in the lease; never change it.
    const NAME: &'static str;
}

type LeaseFn<S> =
    Arc<dyn Fn(Arc<S>, Request) -> BoxFuture<'static, Result<Response>> + Send + Sync>;

/// The secret type `T` the backend issues, with its revoke and (optional)
/// renew handlers. Handlers are `async fn(Arc<S>, Request, T)`: they receive
/// the lease's internal data decoded as `T`; lease data that no longer
/// decodes is an unrecoverable error (retrying cannot help).
pub struct Secret<S, T> {
    default_ttl: Duration,
    renew: Option<LeaseFn<S>>,
    revoke: LeaseFn<S>,
    _type: PhantomData<fn() -> T>,
}

impl<S: Send + Sync + 'static, T: SecretType> Secret<S, T> {
    /// Leases of `T` are revoked by `revoke`, which should treat "already
    /// gone" as success, return [`Error::Unrecoverable`] when a retry can
    /// never succeed, and any other error to have the host retry.
    pub fn new<F, Fut>(revoke: F) -> Self
    where
        F: Fn(Arc<S>, Request, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response>> + Send + 'static,
    {
        Self {
            default_ttl: Duration::ZERO,
            renew: None,
            revoke: erase(revoke),
            _type: PhantomData,
        }
    }

    /// Makes leases renewable: `renew` answers with the new lease, usually
    /// through [`Request::renew_secret`].
    pub fn renew<F, Fut>(mut self, renew: F) -> Self
    where
        F: Fn(Arc<S>, Request, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response>> + Send + 'static,
    {
        self.renew = Some(erase(renew));
        self
    }

    /// The TTL used when a response does not set one (zero: the mount's default).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }
}

/// A lease handler with the internal data decoded before the call.
fn erase<S, T, F, Fut>(handler: F) -> LeaseFn<S>
where
    S: Send + Sync + 'static,
    T: SecretType,
    F: Fn(Arc<S>, Request, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |state, req: Request| {
        let handler = Arc::clone(&handler);
        Box::pin(async move {
            let internal: T = req.secret_internal()?;
            handler(state, req, internal).await
        })
    })
}

/// A secret type with its handlers, its Rust type erased, as the router keeps it.
pub(crate) struct ErasedSecret<S> {
    pub(crate) name: &'static str,
    pub(crate) default_ttl: Duration,
    pub(crate) renew: Option<LeaseFn<S>>,
    pub(crate) revoke: LeaseFn<S>,
}

impl<S, T: SecretType> From<Secret<S, T>> for ErasedSecret<S> {
    fn from(secret: Secret<S, T>) -> Self {
        Self {
            name: T::NAME,
            default_ttl: secret.default_ttl,
            renew: secret.renew,
            revoke: secret.revoke,
        }
    }
}

impl Response {
    /// A response issuing a leased secret: `data` is shown to the user,
    /// `internal` (a [`SecretType`]) is kept by the host with the lease and
    /// handed back to that type's renew and revoke handlers. Set the lease
    /// with [`Response::ttl`] and [`Response::max_ttl`].
    pub fn secret<T: SecretType>(data: &impl Serialize, internal: &T) -> Result<Response> {
        let mut resp = Response::json(data)?;
        let mut internal_data = match serde_json::to_value(internal)? {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                return Err(Error::internal(
                    "a secret's internal data must serialise to a JSON object",
                ));
            }
        };
        internal_data.insert(SECRET_TYPE_KEY.into(), Value::String(T::NAME.into()));
        resp.secret = Some(SecretData {
            internal_data,
            ..SecretData::default()
        });
        Ok(resp)
    }

    /// Sets the TTL of the secret or token this response issues.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        if let Some(secret) = &mut self.secret {
            secret.lease.ttl = ttl;
        }
        if let Some(auth) = &mut self.auth {
            auth.lease.ttl = ttl;
        }
        self
    }

    /// Sets the max TTL of the secret or token this response issues.
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        if let Some(secret) = &mut self.secret {
            secret.lease.max_ttl = max_ttl;
        }
        if let Some(auth) = &mut self.auth {
            auth.lease.max_ttl = max_ttl;
        }
        self
    }
}
