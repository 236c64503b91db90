//! The router: a backend built once from paths, secret types and hooks.
//!
//! [`Backend::builder`] collects [`Path`]s (first match wins), [`Secret`]
//! types, WAL rollbacks, a periodic function and lifecycle hooks;
//! [`Builder::build`] compiles every pattern and checks the declarations, so
//! a mistake is found when the plugin starts, never at the first request.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use regex_lite::Regex;
use serde_json::Value;

use super::doc::PathDoc;
use super::fields::{FieldSchema, FieldType};
use super::handler::{BoxHandler, Handler};
use super::lease::{TtlInputs, calculate_ttl};
use super::pattern::{PatternError, compile};
use super::secret::{ErasedSecret, Secret, SecretType};
use super::wal::{WalEntry, WalKind, delete_wal, get_wal, list_wal};
use super::{Operation, Path, Request, Response, help};
use crate::backend::{BackendType, HookContext, LogicalBackend, SetupContext, SpecialPaths};
use crate::system_view::SystemView;
use crate::{Error, Result};

/// The WAL minimum age when the backend sets none (as in the Go SDK).
pub const DEFAULT_WAL_ROLLBACK_MIN_AGE: Duration = Duration::from_secs(10 * 60);

type RollbackFn<S> =
    Arc<dyn Fn(Arc<S>, Request, WalEntry) -> BoxFuture<'static, Result<()>> + Send + Sync>;
type HookFn<S> = Arc<dyn Fn(Arc<S>, HookContext) -> BoxFuture<'static, Result<()>> + Send + Sync>;
type CleanFn<S> = Arc<dyn Fn(Arc<S>) -> BoxFuture<'static, ()> + Send + Sync>;
type InvalidateFn<S> = Arc<dyn Fn(Arc<S>, String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Why a backend could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A path pattern is not valid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A path handles `create` but has no existence check, so the host would
    /// never send `create` to it.
    #[error("path {0:?} handles create but has no existence check")]
    CreateWithoutExistenceCheck(String),
    /// Two secret types share a name.
    #[error("secret type {0:?} is declared twice")]
    DuplicateSecretType(String),
    /// A handler's arguments take a path capture the path's pattern does not have.
    #[error(
        "path {pattern:?}: field {field:?} is a path capture, but the pattern has no {{{field}}}"
    )]
    MissingCapture {
        /// The path's pattern.
        pattern: String,
        /// The field that wants the capture.
        field: String,
    },
    /// Two WAL rollbacks share a kind.
    #[error("WAL rollback for kind {0:?} is declared twice")]
    DuplicateRollback(String),
    /// A special path uses a wildcard the host does not understand: `*` only
    /// at the very end (a prefix), `+` only as a whole segment.
    #[error(
        "special path {0:?} is invalid: `*` may only end a path and `+` must be a whole segment"
    )]
    SpecialPath(String),
    /// One handler's arguments declare a field name twice (often through
    /// `#[field(flatten)]`), so one of them could never be set.
    #[error("path {pattern:?}: field {field:?} is declared twice in one handler's arguments")]
    DuplicateField {
        /// The path's pattern.
        pattern: String,
        /// The repeated field name.
        field: String,
    },
}

/// Builds a [`Backend`].
pub struct Builder<S> {
    state: Arc<S>,
    backend_type: BackendType,
    help: String,
    version: String,
    paths: Vec<Path<S>>,
    special_paths: SpecialPaths,
    secrets: Vec<ErasedSecret<S>>,
    rollbacks: Vec<(String, RollbackFn<S>)>,
    wal_min_age: Duration,
    periodic: Option<BoxHandler<S, ()>>,
    auth_renew: Option<BoxHandler<S, Response>>,
    initialize: Option<HookFn<S>>,
    clean: Option<CleanFn<S>>,
    invalidate: Option<InvalidateFn<S>>,
}

impl<S: Send + Sync + 'static> Builder<S> {
    /// Backend-wide help (shown by `path-help` on the mount itself).
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = text.into();
        self
    }

    /// The plugin's version, shown in OpenAPI (use [`plugin_version!`](crate::plugin_version)).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Makes this an auth method rather than a secrets engine.
    pub fn backend_type(mut self, backend_type: BackendType) -> Self {
        self.backend_type = backend_type;
        self
    }

    /// Adds a path; the first path whose pattern matches a request wins.
    pub fn path(mut self, path: Path<S>) -> Self {
        self.paths.push(path);
        self
    }

    /// Paths with special handling by the host (root-only, unauthenticated...).
    pub fn special_paths(mut self, special_paths: SpecialPaths) -> Self {
        self.special_paths = special_paths;
        self
    }

    /// Declares a secret type, so leases of it can be renewed and revoked.
    pub fn secret<T: SecretType>(mut self, secret: Secret<S, T>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Undoes WAL entries of kind `T` left behind by a crash: `rollback`
    /// receives the entry's data; on success the entry is deleted, on error
    /// it is tried again on a later tick.
    pub fn wal_rollback<T, F, Fut>(mut self, rollback: F) -> Self
    where
        T: WalKind,
        F: Fn(Arc<S>, Request, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let rollback = Arc::new(rollback);
        let erased: RollbackFn<S> = Arc::new(move |state, req, entry: WalEntry| {
            let rollback = Arc::clone(&rollback);
            Box::pin(async move {
                let data: T = entry.data()?;
                rollback(state, req, data).await
            })
        });
        self.rollbacks.push((T::KIND.to_owned(), erased));
        self
    }

    /// How old a WAL entry must be before it is rolled back (default 10
    /// minutes), so entries of requests still running are left alone. The
    /// mount option `wal_rollback_min_age` (`bao secrets enable
    /// -options=wal_rollback_min_age=30s`) overrides it on that mount.
    pub fn wal_rollback_min_age(mut self, age: Duration) -> Self {
        self.wal_min_age = age;
        self
    }

    /// Runs `periodic` on the host's periodic tick (about once a minute),
    /// before WAL rollbacks. It must be idempotent. OpenBao ticks on standby
    /// nodes too, where storage is read-only: check
    /// [`SystemView::storage_writable`] before work that writes (and before
    /// upstream calls whose result must be stored); an
    /// [`Error::ReadOnly`] it returns is logged at debug level only.
    pub fn periodic<M>(mut self, periodic: impl Handler<S, (), M>) -> Self {
        self.periodic = Some(BoxHandler::new(periodic));
        self
    }

    /// Renews tokens issued by this auth method; the handler finds the token
    /// in [`Request::auth`] and usually answers with [`Request::renew_auth`].
    pub fn auth_renew<M>(mut self, renew: impl Handler<S, Response, M>) -> Self {
        self.auth_renew = Some(BoxHandler::new(renew));
        self
    }

    /// Runs once after the mount is set up (or the plugin restarted), with
    /// storage at hand: upgrade stored data, start background work. On an
    /// OpenBao HA server it first runs on read-only storage at every unseal
    /// (and only so on standbys): skip writes when
    /// [`HookContext::storage_writable`] is false; the host runs the hook
    /// again on the active node.
    pub fn initialize<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<S>, HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.initialize = Some(Arc::new(move |s, c| Box::pin(hook(s, c))));
        self
    }

    /// Runs when the mount goes away or the plugin is reloaded: close
    /// upstream clients.
    pub fn clean<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.clean = Some(Arc::new(move |s| Box::pin(hook(s))));
        self
    }

    /// Runs when the host says storage key `key` changed on another node:
    /// drop what is cached from it.
    pub fn invalidate<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<S>, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.invalidate = Some(Arc::new(move |s, k| Box::pin(hook(s, k))));
        self
    }

    /// Compiles every pattern and checks the declarations.
    pub fn build(self) -> Result<Backend<S>, BuildError> {
        let special = &self.special_paths;
        for path in special.root.iter().chain(&special.unauthenticated) {
            let star_inside = path.trim_end_matches('*').contains('*');
            let bad_plus = path.split('/').any(|seg| seg.contains('+') && seg != "+");
            if star_inside || bad_plus {
                return Err(BuildError::SpecialPath(path.clone()));
            }
        }
        let mut routes = Vec::with_capacity(self.paths.len());
        for mut path in self.paths {
            for op in path.operations.keys() {
                path.docs.entry(*op).or_default();
            }
            if path.operations.contains_key(&Operation::Create) && path.existence.is_none() {
                return Err(BuildError::CreateWithoutExistenceCheck(path.pattern));
            }
            for handler in path.operations.values() {
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = handler
                    .schema
                    .iter()
                    .find(|f| !seen.insert(f.name.as_str()))
                {
                    return Err(BuildError::DuplicateField {
                        pattern: path.pattern.clone(),
                        field: dup.name.clone(),
                    });
                }
            }
            let regex = compile(&path.pattern)?;
            check_captures(&path, &regex)?;
            let schema = path_schema(&path, &regex);
            routes.push(Route {
                regex,
                path,
                schema,
            });
        }
        let mut secrets = HashMap::new();
        for secret in self.secrets {
            if secrets.contains_key(secret.name) {
                return Err(BuildError::DuplicateSecretType(secret.name.to_owned()));
            }
            secrets.insert(secret.name, secret);
        }
        let mut rollbacks = HashMap::new();
        for (kind, rollback) in self.rollbacks {
            if rollbacks.insert(kind.clone(), rollback).is_some() {
                return Err(BuildError::DuplicateRollback(kind));
            }
        }
        Ok(Backend {
            state: self.state,
            backend_type: self.backend_type,
            help: self.help,
            version: self.version,
            routes,
            special_paths: self.special_paths,
            secrets,
            rollbacks,
            wal_min_age: self.wal_min_age,
            periodic: self.periodic,
            auth_renew: self.auth_renew,
            initialize: self.initialize,
            clean: self.clean,
            invalidate: self.invalidate,
        })
    }
}

/// Removes the path's write-only fields from a read's data, whatever the
/// handler put there: a secret accepted on write never comes back.
fn strip_write_only(schema: &[FieldSchema], resp: &mut Response) {
    if let Some(data) = resp.data.as_mut() {
        for field in schema.iter().filter(|f| f.write_only) {
            data.remove(&field.name);
        }
    }
}

/// Refuses a handler whose arguments take a path capture the pattern lacks,
/// so a missing capture is a build error, never an empty string.
fn check_captures<S>(path: &Path<S>, regex: &Regex) -> Result<(), BuildError> {
    let schemas = (path.operations.values().map(|h| &h.schema))
        .chain(path.existence.iter().map(|e| &e.schema));
    for schema in schemas {
        if let Some(field) = schema
            .iter()
            .find(|f| f.path && !regex.capture_names().flatten().any(|c| c == f.name))
        {
            return Err(BuildError::MissingCapture {
                pattern: path.pattern.clone(),
                field: field.name.clone(),
            });
        }
    }
    Ok(())
}

/// Every field a path knows: its captures, its handlers' argument structs,
/// and fields declared by hand (first declaration of a name wins).
fn path_schema<S>(path: &Path<S>, regex: &Regex) -> Arc<[FieldSchema]> {
    let mut fields: Vec<FieldSchema> = Vec::new();
    let mut push = |f: &FieldSchema| {
        if !fields.iter().any(|g| g.name == f.name) {
            fields.push(f.clone());
        }
    };
    for handler in path.operations.values() {
        handler.schema.iter().for_each(&mut push);
    }
    if let Some(existence) = &path.existence {
        existence.schema.iter().for_each(&mut push);
    }
    path.fields.iter().for_each(&mut push);
    for name in regex.capture_names().flatten() {
        push(&FieldSchema::new(name, FieldType::String).required());
    }
    fields.into()
}

struct Route<S> {
    regex: Regex,
    path: Path<S>,
    schema: Arc<[FieldSchema]>,
}

impl<S> std::fmt::Debug for Backend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("backend_type", &self.backend_type)
            .field(
                "paths",
                &self
                    .routes
                    .iter()
                    .map(|r| &r.path.pattern)
                    .collect::<Vec<_>>(),
            )
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A backend: routes requests to handlers over a shared state `S`.
pub struct Backend<S> {
    state: Arc<S>,
    backend_type: BackendType,
    help: String,
    version: String,
    routes: Vec<Route<S>>,
    special_paths: SpecialPaths,
    secrets: HashMap<&'static str, ErasedSecret<S>>,
    rollbacks: HashMap<String, RollbackFn<S>>,
    wal_min_age: Duration,
    periodic: Option<BoxHandler<S, ()>>,
    auth_renew: Option<BoxHandler<S, Response>>,
    initialize: Option<HookFn<S>>,
    clean: Option<CleanFn<S>>,
    invalidate: Option<InvalidateFn<S>>,
}

impl<S: Send + Sync + 'static> Backend<S> {
    /// Starts a secrets-engine backend whose handlers share `state`.
    pub fn builder(state: S) -> Builder<S> {
        Builder {
            state: Arc::new(state),
            backend_type: BackendType::Logical,
            help: String::new(),
            version: String::new(),
            paths: Vec::new(),
            special_paths: SpecialPaths::default(),
            secrets: Vec::new(),
            rollbacks: Vec::new(),
            wal_min_age: DEFAULT_WAL_ROLLBACK_MIN_AGE,
            periodic: None,
            auth_renew: None,
            initialize: None,
            clean: None,
            invalidate: None,
        }
    }

    /// The handlers' shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    fn route(&self, path: &str) -> Option<(&Route<S>, HashMap<String, String>)> {
        self.routes.iter().find_map(|route| {
            let caps = route.regex.captures(path)?;
            let captures = route
                .regex
                .capture_names()
                .flatten()
                .filter_map(|name| Some((name.to_owned(), caps.name(name)?.as_str().to_owned())))
                .collect();
            Some((route, captures))
        })
    }

    fn docs(&self) -> Vec<PathDoc<'_>> {
        self.routes
            .iter()
            .map(|route| PathDoc {
                pattern: &route.path.pattern,
                regex: route.regex.as_str(),
                synopsis: &route.path.synopsis,
                description: &route.path.description,
                fields: &route.schema,
                operations: route
                    .path
                    .operations
                    .keys()
                    .filter_map(|op| Some((*op, route.path.docs.get(op)?)))
                    .collect(),
                display: &route.path.display,
                existence_check: route.path.existence.is_some(),
                takes_arbitrary_input: route.path.takes_arbitrary_input,
            })
            .collect()
    }

    async fn handle_path(&self, mut req: Request) -> Result<Response> {
        let Some((route, captures)) = self.route(&req.path) else {
            return Err(Error::UnsupportedPath);
        };
        let Some(handler) = route.path.operations.get(&req.operation) else {
            return Err(Error::UnsupportedOperation);
        };
        let ignored = if route.path.takes_arbitrary_input {
            Vec::new()
        } else {
            req.data
                .keys()
                .filter(|k| !route.schema.iter().any(|f| &f.name == *k))
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        // Path captures win over body fields of the same name.
        for (name, value) in &captures {
            req.data.insert(name.clone(), Value::String(value.clone()));
        }
        req.captures = captures;
        let system_view = req.system_view_arc();
        let operation = req.operation;
        let mut resp = handler.call(Arc::clone(&self.state), req).await?;
        if operation.is_read_like() {
            strip_write_only(&route.schema, &mut resp);
        }
        if !ignored.is_empty() {
            resp.warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                ignored.join(" ")
            ));
        }
        if resp.secret.is_some() {
            self.finish_secret(system_view.as_ref(), &mut resp).await?;
        }
        if let Some(auth) = resp.auth.as_mut() {
            // A token this backend cannot renew must not claim to be renewable.
            auth.lease.renewable &= self.auth_renew.is_some();
        }
        Ok(resp)
    }

    /// Stamps renewability and computes the TTL of a newly issued secret.
    async fn finish_secret(&self, system_view: &dyn SystemView, resp: &mut Response) -> Result<()> {
        let Some(secret) = resp.secret.as_mut() else {
            return Ok(());
        };
        let kind = secret.kind().unwrap_or_default().to_owned();
        let declared = self.secrets.get(kind.as_str()).ok_or_else(|| {
            Error::internal(format!(
                "the response issues a secret of type {kind:?}, which the backend does not declare"
            ))
        })?;
        let ttl = if secret.lease.ttl.is_zero() {
            declared.default_ttl
        } else {
            secret.lease.ttl
        };
        let got = calculate_ttl(
            system_view,
            TtlInputs {
                ttl,
                max_ttl: secret.lease.max_ttl,
                ..TtlInputs::default()
            },
        )
        .await?;
        secret.lease.ttl = got.ttl;
        secret.lease.max_ttl = got.max_ttl;
        secret.lease.renewable = declared.renew.is_some();
        resp.warnings.extend(got.warnings);
        Ok(())
    }

    async fn renew_or_revoke(&self, req: Request) -> Result<Response> {
        if req.operation == Operation::Renew && req.secret.is_none() && req.auth.is_some() {
            return match &self.auth_renew {
                Some(renew) => renew.call(Arc::clone(&self.state), req).await,
                None => Err(Error::bad_request("this auth method does not renew tokens")),
            };
        }
        let kind = req
            .secret
            .as_ref()
            .and_then(|s| s.kind())
            .unwrap_or_default()
            .to_owned();
        let Some(secret) = self.secrets.get(kind.as_str()) else {
            // Retrying can never help: the lease names no type we know.
            return Err(Error::Unrecoverable(format!(
                "this backend has no secret type {kind:?}"
            )));
        };
        match req.operation {
            Operation::Revoke => (secret.revoke)(Arc::clone(&self.state), req).await,
            _ => match &secret.renew {
                Some(renew) => renew(Arc::clone(&self.state), req).await,
                None => Err(Error::bad_request(format!(
                    "leases of type {kind:?} are not renewable"
                ))),
            },
        }
    }

    /// The periodic tick: the periodic function, then WAL rollbacks.
    ///
    /// The host ticks on standby nodes too, where storage is read-only: a
    /// periodic function that stops at a read-only write is not a failure,
    /// and WAL rollbacks wait for the active node (a rollback's upstream
    /// call could not be followed by deleting its entry here).
    async fn rollback(&self, req: Request) -> Result<Response> {
        let mut failures = Vec::new();
        if let Some(periodic) = &self.periodic {
            match periodic.call(Arc::clone(&self.state), req.clone()).await {
                Ok(()) => {}
                Err(Error::ReadOnly) => {
                    tracing::debug!("periodic function stopped at a write to read-only storage");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "periodic function failed");
                    failures.push(format!("periodic function: {err}"));
                }
            }
        }
        if !self.rollbacks.is_empty() {
            match req.system_view().storage_writable().await {
                Ok(true) => failures.extend(self.roll_back_wal(&req).await),
                Ok(false) => {
                    tracing::debug!(
                        "storage is read-only on this node; WAL rollbacks run on the active node"
                    );
                }
                Err(err) => failures.push(format!("asking whether storage is writable: {err}")),
            }
        }
        if failures.is_empty() {
            Ok(Response::empty())
        } else {
            Err(Error::internal(failures.join("; ")))
        }
    }

    async fn roll_back_wal(&self, req: &Request) -> Vec<String> {
        let storage = req.storage();
        let ids = match list_wal(storage).await {
            Ok(ids) => ids,
            Err(err) => return vec![format!("listing WAL entries: {err}")],
        };
        let immediate = req.data.contains_key("immediate");
        let mut failures = Vec::new();
        for id in ids {
            let entry = match get_wal(storage, &id).await {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(err) => {
                    failures.push(format!("reading WAL entry {id}: {err}"));
                    continue;
                }
            };
            if !immediate && entry.age() < self.wal_min_age {
                continue;
            }
            let Some(rollback) = self.rollbacks.get(&entry.kind) else {
                tracing::warn!(kind = %entry.kind, id = %id, "no rollback for this WAL kind; entry kept");
                continue;
            };
            let kind = entry.kind.clone();
            let result = rollback(Arc::clone(&self.state), req.clone(), entry).await;
            match result {
                Ok(()) => {
                    tracing::info!(kind = %kind, id = %id, "rolled back WAL entry");
                    if let Err(err) = delete_wal(storage, &id).await {
                        failures.push(format!("deleting WAL entry {id}: {err}"));
                    }
                }
                Err(err) => {
                    tracing::warn!(kind = %kind, id = %id, error = %err, "WAL rollback failed; will retry");
                    failures.push(format!("rolling back {kind:?} entry {id}: {err}"));
                }
            }
        }
        failures
    }
}

#[async_trait::async_trait]
impl<S: Send + Sync + 'static> LogicalBackend for Backend<S> {
    fn backend_type(&self) -> BackendType {
        self.backend_type
    }

    /// The mount option `wal_rollback_min_age`, when set, replaces the
    /// builder's [`wal_rollback_min_age`](Builder::wal_rollback_min_age).
    fn configure(&mut self, ctx: &SetupContext) -> Result<()> {
        if let Some(age) = ctx.duration_option("wal_rollback_min_age")? {
            self.wal_min_age = age;
        }
        Ok(())
    }

    fn special_paths(&self) -> SpecialPaths {
        self.special_paths.clone()
    }

    async fn initialize(&self, ctx: HookContext) -> Result<()> {
        match &self.initialize {
            Some(hook) => hook(Arc::clone(&self.state), ctx).await,
            None => Ok(()),
        }
    }

    async fn handle_request(&self, req: Request) -> Result<Response> {
        match req.operation {
            Operation::Help => Ok(help::help_response(
                &self.help,
                self.backend_type,
                &self.version,
                &self.docs(),
                &req.path,
                &req.data,
            )),
            Operation::Renew | Operation::Revoke => self.renew_or_revoke(req).await,
            Operation::Rollback => self.rollback(req).await,
            _ => self.handle_path(req).await,
        }
    }

    async fn existence_check(&self, mut req: Request) -> Result<Option<bool>> {
        let Some((route, captures)) = self.route(&req.path) else {
            return Err(Error::UnsupportedPath);
        };
        let Some(check) = &route.path.existence else {
            return Ok(None);
        };
        for (name, value) in &captures {
            req.data.insert(name.clone(), Value::String(value.clone()));
        }
        req.captures = captures;
        check.call(Arc::clone(&self.state), req).await.map(Some)
    }

    async fn cleanup(&self) {
        if let Some(hook) = &self.clean {
            hook(Arc::clone(&self.state)).await;
        }
    }

    async fn invalidate(&self, key: &str) {
        if let Some(hook) = &self.invalidate {
            hook(Arc::clone(&self.state), key.to_owned()).await;
        }
    }
}
