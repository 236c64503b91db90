//! The test kit (cargo feature `test-util`): run a backend in-process, and
//! fake the upstream services it calls.
//!
//! Upstreams are faked with [`wiremock`] (re-exported here, so a plugin's
//! tests need no dependency of their own); [`upstream`] adds what every fake
//! needs on top: shared state for create/use/delete flows, header checks,
//! and an HTTPS front with a private CA. The guide
//! [`guide::testing`](crate::guide::testing) shows both in use.
//!
//! A [`TestBackend`] wraps any backend with in-memory storage and a static
//! system view; requests are built with [`TestBackend::request`] and sent
//! straight to the router, so a plugin's handlers are tested in
//! milliseconds, with no host and no sockets:
//!
//! ```
//! # use std::sync::Arc;
//! # use vault_plugin_sdk::{Backend, Operation, Path, Request, Response, Result};
//! # use vault_plugin_sdk::testing::TestBackend;
//! async fn ping(_: Arc<()>, _: Request) -> Result<Response> {
//!     Response::json(&serde_json::json!({ "message": "pong" }))
//! }
//! # tokio_test_block_on(async {
//! let backend = Backend::builder(()).path(Path::new("ping").read(ping)).build().unwrap();
//! let tb = TestBackend::new(backend);
//! let resp = tb.request(Operation::Read, "ping").send().await.unwrap();
//! assert_eq!(resp.data.unwrap()["message"], "pong");
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! [`TestBackend::set_standby`] puts the backend where an OpenBao standby
//! node (or any HA node while it unseals) runs it: storage read-only, writes
//! failing with the host's error, and the standby's replication state.

pub mod upstream;

pub use wiremock;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::Result;
use crate::backend::{HookContext, LogicalBackend};
use crate::framework::{Auth, Operation, Request, Response, SecretData};
use crate::storage::{MemoryStorage, ReadOnlyStorage, Storage};
use crate::system_view::{ReplicationState, StaticSystemView, SystemView};

/// A backend with in-memory storage and a static system view.
pub struct TestBackend<B> {
    backend: B,
    storage: Arc<MemoryStorage>,
    system_view: Arc<StaticSystemView>,
    /// What requests and hooks see: `storage` and `system_view`, or on a
    /// standby a read-only view of `storage` and the standby's system view.
    node_storage: Arc<dyn Storage>,
    node_system_view: Arc<dyn SystemView>,
}

impl<B: LogicalBackend> TestBackend<B> {
    /// Wraps `backend` with empty storage and the host's default TTLs.
    pub fn new(backend: B) -> Self {
        Self::with_system_view(backend, StaticSystemView::default())
    }

    /// Wraps `backend` with empty storage and the given system view (to
    /// test TTL limits, for example).
    pub fn with_system_view(backend: B, system_view: StaticSystemView) -> Self {
        let storage = Arc::new(MemoryStorage::new());
        let system_view = Arc::new(system_view);
        Self {
            backend,
            node_storage: Arc::clone(&storage) as Arc<dyn Storage>,
            node_system_view: Arc::clone(&system_view) as Arc<dyn SystemView>,
            storage,
            system_view,
        }
    }

    /// Runs what follows as on an OpenBao standby node (`true`), or again
    /// with the storage and system view the test kit started with
    /// (`false`). On a standby, the system view
    /// reports [`ReplicationState::OPENBAO_STANDBY`] and every storage write
    /// fails with [`StorageError::ReadOnly`](crate::storage::StorageError::ReadOnly),
    /// as the host's do; reads see what is stored. [`storage`](Self::storage)
    /// stays writable, to seed or inspect.
    pub fn set_standby(&mut self, standby: bool) {
        let memory = Arc::clone(&self.storage) as Arc<dyn Storage>;
        if standby {
            let view = StaticSystemView {
                replication_state: ReplicationState::OPENBAO_STANDBY,
                ..(*self.system_view).clone()
            };
            self.node_storage = Arc::new(ReadOnlyStorage::new(memory));
            self.node_system_view = Arc::new(view);
        } else {
            self.node_storage = memory;
            self.node_system_view = Arc::clone(&self.system_view) as Arc<dyn SystemView>;
        }
    }

    /// The backend under test.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The mount's storage, to inspect or seed.
    pub fn storage(&self) -> &MemoryStorage {
        &self.storage
    }

    /// Starts a request for `operation` on `path`.
    pub fn request(&self, operation: Operation, path: &str) -> TestRequest<'_, B> {
        let req = Request::new(
            operation,
            path,
            Arc::clone(&self.node_storage),
            Arc::clone(&self.node_system_view),
        );
        TestRequest { tb: self, req }
    }

    /// Runs the initialize hook, as the host does after mounting.
    pub async fn initialize(&self) -> Result<()> {
        self.backend
            .initialize(HookContext {
                storage: Arc::clone(&self.node_storage),
                system_view: Arc::clone(&self.node_system_view),
            })
            .await
    }

    /// The host's periodic tick: the periodic function and WAL rollbacks.
    /// With `immediate`, WAL entries are rolled back whatever their age.
    pub async fn tick(&self, immediate: bool) -> Result<Response> {
        let mut req = self.request(Operation::Rollback, "");
        if immediate {
            req = req.field("immediate", true);
        }
        req.send().await
    }

    /// `bao write <path>` with `data` as the body: a create or an update, as
    /// the host picks with the path's existence check (an update when the
    /// path has none).
    pub async fn write(&self, path: &str, data: Value) -> Result<Response> {
        let operation = match self.exists(path).await? {
            Some(false) => Operation::Create,
            _ => Operation::Update,
        };
        self.request(operation, path).data(data).send().await
    }

    /// `bao read <path>`.
    pub async fn read(&self, path: &str) -> Result<Response> {
        self.request(Operation::Read, path).send().await
    }

    /// `bao list <path>`: the keys listed (none when the response has none).
    pub async fn list(&self, path: &str) -> Result<Vec<String>> {
        let data = self.request(Operation::List, path).data_of().await?;
        let keys = data.get("keys").and_then(Value::as_array);
        let keys = keys.into_iter().flatten().filter_map(Value::as_str);
        Ok(keys.map(str::to_owned).collect())
    }

    /// `bao delete <path>`.
    pub async fn delete(&self, path: &str) -> Result<Response> {
        self.request(Operation::Delete, path).send().await
    }

    /// Asks the path's existence check; `None` when it has none.
    pub async fn exists(&self, path: &str) -> Result<Option<bool>> {
        let req = self.request(Operation::Update, path).req;
        self.backend.existence_check(req).await
    }

    /// Renews the lease `secret` (as returned by an earlier response),
    /// asking for `increment` more.
    pub async fn renew(&self, secret: &SecretData, increment: Duration) -> Result<Response> {
        let mut secret = secret.clone();
        secret.lease.increment = increment;
        secret.lease.issue_time.get_or_insert_with(SystemTime::now);
        self.request(Operation::Renew, "")
            .secret(secret)
            .send()
            .await
    }

    /// Renews the token `auth` (as a login response returned it), asking for
    /// `increment` more, the way the host sends a token renewal.
    pub async fn renew_auth(&self, auth: &Auth, increment: Duration) -> Result<Response> {
        let mut auth = auth.clone();
        auth.lease.increment = increment;
        auth.lease.issue_time.get_or_insert_with(SystemTime::now);
        self.request(Operation::Renew, "").auth(auth).send().await
    }

    /// Revokes the lease `secret`.
    pub async fn revoke(&self, secret: &SecretData) -> Result<Response> {
        self.request(Operation::Revoke, "")
            .secret(secret.clone())
            .send()
            .await
    }
}

/// A request being built by [`TestBackend::request`].
pub struct TestRequest<'a, B> {
    tb: &'a TestBackend<B>,
    req: Request,
}

impl<B: LogicalBackend> TestRequest<'_, B> {
    /// Sets the body to `data` (a JSON object; anything else is ignored).
    pub fn data(mut self, data: Value) -> Self {
        if let Value::Object(map) = data {
            self.req.data = map;
        }
        self
    }

    /// Sets one body field.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.req.data.insert(name.to_owned(), value.into());
        self
    }

    /// Attaches a lease (renew and revoke requests).
    pub fn secret(mut self, secret: SecretData) -> Self {
        self.req.secret = Some(secret);
        self
    }

    /// Attaches a token (auth renew requests).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.req.auth = Some(auth);
        self
    }

    /// Sets the client's address, as the host passes it to auth methods.
    pub fn remote_addr(mut self, addr: &str) -> Self {
        self.req.remote_addr = Some(addr.to_owned());
        self
    }

    /// Marks the request as sent without a token (login paths).
    pub fn unauthenticated(mut self) -> Self {
        self.req.unauthenticated = true;
        self
    }

    /// Sets the caller's token display name.
    pub fn display_name(mut self, name: &str) -> Self {
        self.req.display_name = name.to_owned();
        self
    }

    /// Sets the caller's identity entity id.
    pub fn entity_id(mut self, id: &str) -> Self {
        self.req.entity_id = id.to_owned();
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.req
            .headers
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
        self
    }

    /// Sets the mount point (default empty).
    pub fn mount_point(mut self, mount_point: &str) -> Self {
        self.req.mount_point = mount_point.to_owned();
        self
    }

    /// Sends the request to the backend.
    pub async fn send(self) -> Result<Response> {
        self.tb.backend.handle_request(self.req).await
    }

    /// Sends the request and returns the response data (an empty object
    /// when the response has none).
    pub async fn data_of(self) -> Result<Map<String, Value>> {
        Ok(self.send().await?.data.unwrap_or_default())
    }
}
