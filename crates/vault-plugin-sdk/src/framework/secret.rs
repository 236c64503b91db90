//! Secrets with leases: a secret type declares how it is renewed and revoked.
//!
//! A handler that issues a credential returns [`Response::secret`]; the
//! router stamps the secret's type into its internal data, marks it
//! renewable when the type has a renew handler, and computes its TTL against
//! the mount. When the host later renews or revokes the lease, the router
//! finds the type again and calls its handler with the internal data.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Response;
use super::handler::{BoxHandler, Handler};
use super::lease::LeaseOptions;
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

/// A kind of secret the backend issues, with its renew and revoke handlers.
pub struct Secret<S> {
    pub(crate) kind: String,
    pub(crate) default_ttl: Duration,
    pub(crate) renew: Option<BoxHandler<S, Response>>,
    pub(crate) revoke: BoxHandler<S, Response>,
}

impl<S: Send + Sync + 'static> Secret<S> {
    /// A secret type named `kind` whose leases are revoked by `revoke`. The
    /// revoke handler finds the lease in [`Request::secret`](super::Request::secret); it should treat
    /// "already gone" as success, return [`Error::Unrecoverable`] when a
    /// retry can never succeed, and any other error to have the host retry.
    pub fn new<M>(kind: impl Into<String>, revoke: impl Handler<S, Response, M>) -> Self {
        Self {
            kind: kind.into(),
            default_ttl: Duration::ZERO,
            renew: None,
            revoke: BoxHandler::new(revoke),
        }
    }

    /// Makes leases renewable: `renew` answers with the new lease, usually
    /// through [`Request::renew_secret`].
    pub fn renew<M>(mut self, renew: impl Handler<S, Response, M>) -> Self {
        self.renew = Some(BoxHandler::new(renew));
        self
    }

    /// The TTL used when a response does not set one (zero: the mount's default).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }
}

impl Response {
    /// A response issuing a secret of type `kind`: `data` is shown to the
    /// user, `internal` is kept by the host with the lease and handed back
    /// on renew and revoke. Set the lease with [`Response::ttl`] and
    /// [`Response::max_ttl`].
    pub fn secret(
        kind: &str,
        data: &impl Serialize,
        internal: &impl Serialize,
    ) -> Result<Response> {
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
        internal_data.insert(SECRET_TYPE_KEY.into(), Value::String(kind.into()));
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
