//! What a handler receives: the request, its path captures, and the mount's
//! storage and system view.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Operation;
use super::Response;
use super::auth::Auth;
use super::fields::FieldSchema;
use super::lease::{TtlInputs, calculate_ttl};
use super::secret::SecretData;
use crate::storage::Storage;
use crate::system_view::SystemView;
use crate::{Error, Result};

/// One request from the host, ready for a handler.
#[derive(Clone)]
pub struct Request {
    /// What the caller asks for.
    pub operation: Operation,
    /// The path below the mount, e.g. `kv/foo`.
    pub path: String,
    /// The request body (or query parameters), as JSON.
    pub data: Map<String, Value>,
    /// The host's id of this request.
    pub id: String,
    /// Where the backend is mounted, e.g. `kv-a/`.
    pub mount_point: String,
    /// The mount's type.
    pub mount_type: String,
    /// The mount's accessor.
    pub mount_accessor: String,
    /// The caller's token display name.
    pub display_name: String,
    /// The caller's entity id, if any.
    pub entity_id: String,
    /// Request headers the host forwards (only those the mount allows).
    pub headers: HashMap<String, Vec<String>>,
    /// The client's address, when the host passes the connection (auth mounts).
    pub remote_addr: Option<String>,
    /// The accessor of the caller's token.
    pub client_token_accessor: String,
    /// Whether the path was reached without a token (login paths).
    pub unauthenticated: bool,
    /// The lease being renewed or revoked (renew and revoke of secrets).
    pub secret: Option<SecretData>,
    /// The token being renewed (renew on auth methods).
    pub auth: Option<Auth>,
    pub(crate) captures: HashMap<String, String>,
    schema: Arc<[FieldSchema]>,
    storage: Arc<dyn Storage>,
    system_view: Arc<dyn SystemView>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Data may hold secrets: show only its keys.
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("mount_point", &self.mount_point)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request for `operation` on `path` with no data, using the given
    /// storage and system view. The backend service builds these from the
    /// wire; tests build them directly.
    pub fn new(
        operation: Operation,
        path: impl Into<String>,
        storage: Arc<dyn Storage>,
        system_view: Arc<dyn SystemView>,
    ) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Map::new(),
            id: String::new(),
            mount_point: String::new(),
            mount_type: String::new(),
            mount_accessor: String::new(),
            display_name: String::new(),
            entity_id: String::new(),
            headers: HashMap::new(),
            remote_addr: None,
            client_token_accessor: String::new(),
            unauthenticated: false,
            secret: None,
            auth: None,
            captures: HashMap::new(),
            schema: Arc::new([]),
            storage,
            system_view,
        }
    }

    /// Replaces the request body.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// The mount's storage.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The mount's storage, shared.
    pub fn storage_arc(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.storage)
    }

    /// The mount's system view, shared.
    pub(crate) fn system_view_arc(&self) -> Arc<dyn SystemView> {
        Arc::clone(&self.system_view)
    }

    /// The mount's system view.
    pub fn system_view(&self) -> &dyn SystemView {
        self.system_view.as_ref()
    }

    /// The value of the named capture in the path pattern (`{name}`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.captures.get(name).map(String::as_str)
    }

    /// A body field as text: strings as they are, numbers and booleans in
    /// their JSON form (the CLI sends everything as strings anyway).
    pub fn get_str(&self, name: &str) -> Option<String> {
        match self.data.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// The fields of the handler this request is routed to.
    pub(crate) fn schema(&self) -> &[FieldSchema] {
        &self.schema
    }

    pub(crate) fn set_schema(&mut self, schema: Arc<[FieldSchema]>) {
        self.schema = schema;
    }

    /// The internal data of the lease being renewed or revoked, decoded as `T`.
    pub fn secret_internal<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        self.secret
            .as_ref()
            .ok_or_else(|| Error::bad_request("the request carries no lease"))?
            .internal()
    }

    /// Answers a renew request for a secret: the lease is extended by the
    /// requested increment (or `ttl`), within `max_ttl` counted from its issue
    /// time and within the mount's limits. Zero means the mount's value.
    /// Capping is reported as a warning; a lease past its max cannot renew.
    pub async fn renew_secret(&self, ttl: Duration, max_ttl: Duration) -> Result<Response> {
        let mut secret = self
            .secret
            .clone()
            .ok_or_else(|| Error::bad_request("the request carries no lease to renew"))?;
        let got = calculate_ttl(
            self.system_view(),
            TtlInputs {
                increment: secret.lease.increment,
                ttl,
                max_ttl,
                issue_time: secret.lease.issue_time,
                ..TtlInputs::default()
            },
        )
        .await?;
        secret.lease.ttl = got.ttl;
        secret.lease.max_ttl = got.max_ttl;
        secret.lease.renewable = true;
        Ok(Response {
            secret: Some(secret),
            warnings: got.warnings,
            ..Response::default()
        })
    }

    /// Answers a renew request for a token: the token's period, explicit
    /// max and the given `ttl`/`max_ttl` are applied as in [`Self::renew_secret`].
    pub async fn renew_auth(&self, ttl: Duration, max_ttl: Duration) -> Result<Response> {
        let mut auth = self
            .auth
            .clone()
            .ok_or_else(|| Error::bad_request("the request carries no token to renew"))?;
        let got = calculate_ttl(
            self.system_view(),
            TtlInputs {
                increment: auth.lease.increment,
                ttl,
                period: auth.period,
                max_ttl,
                explicit_max_ttl: auth.explicit_max_ttl,
                issue_time: auth.lease.issue_time,
            },
        )
        .await?;
        auth.lease.ttl = got.ttl;
        auth.lease.max_ttl = got.max_ttl;
        auth.lease.renewable = true;
        Ok(Response {
            auth: Some(auth),
            warnings: got.warnings,
            ..Response::default()
        })
    }
}
