//! The router: a backend built once from paths and their handlers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use regex_lite::Regex;
use serde_json::{Map, Value};

use super::pattern::{PatternError, compile};
use super::{Operation, Request, Response};
use crate::backend::{BackendType, LogicalBackend, SpecialPaths};
use crate::{Error, Result};

/// An async handler: a plain `async fn(Arc<S>, Request) -> Result<T>`.
pub trait Handler<S, T>: Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, state: Arc<S>, req: Request) -> BoxFuture<'static, Result<T>>;
}

impl<S, T, F, Fut> Handler<S, T> for F
where
    F: Fn(Arc<S>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    fn call(&self, state: Arc<S>, req: Request) -> BoxFuture<'static, Result<T>> {
        Box::pin(self(state, req))
    }
}

type BoxHandler<S, T> = Arc<dyn Handler<S, T>>;

/// One path pattern with its handlers and help.
pub struct Path<S> {
    pattern: String,
    synopsis: String,
    description: String,
    operations: HashMap<Operation, BoxHandler<S, Response>>,
    existence: Option<BoxHandler<S, bool>>,
}

impl<S: Send + Sync + 'static> Path<S> {
    /// A path matching `pattern` (see the module `pattern` docs: `{name}`
    /// captures a name, `{rest*}` the remainder; otherwise a regex).
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            synopsis: String::new(),
            description: String::new(),
            operations: HashMap::new(),
            existence: None,
        }
    }

    /// One line saying what the path is for (shown by `path-help`).
    pub fn synopsis(mut self, text: impl Into<String>) -> Self {
        self.synopsis = text.into();
        self
    }

    /// A longer description (shown by `path-help`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Registers `handler` for `operation`.
    pub fn operation(mut self, operation: Operation, handler: impl Handler<S, Response>) -> Self {
        self.operations.insert(operation, Arc::new(handler));
        self
    }

    /// Handles `read`.
    pub fn read(self, handler: impl Handler<S, Response>) -> Self {
        self.operation(Operation::Read, handler)
    }

    /// Handles `create`; the path also needs an [`existence_check`](Self::existence_check).
    pub fn create(self, handler: impl Handler<S, Response>) -> Self {
        self.operation(Operation::Create, handler)
    }

    /// Handles `update` (every write when there is no existence check).
    pub fn update(self, handler: impl Handler<S, Response>) -> Self {
        self.operation(Operation::Update, handler)
    }

    /// Handles `delete`.
    pub fn delete(self, handler: impl Handler<S, Response>) -> Self {
        self.operation(Operation::Delete, handler)
    }

    /// Handles `list`.
    pub fn list(self, handler: impl Handler<S, Response>) -> Self {
        self.operation(Operation::List, handler)
    }

    /// Tells the host whether the target exists, so it can ask for `create`
    /// or `update` (and check the matching ACL capability).
    pub fn existence_check(mut self, handler: impl Handler<S, bool>) -> Self {
        self.existence = Some(Arc::new(handler));
        self
    }

    fn help_text(&self) -> String {
        match (self.synopsis.is_empty(), self.description.is_empty()) {
            (_, true) => self.synopsis.clone(),
            (true, false) => self.description.clone(),
            (false, false) => format!("{}\n\n{}", self.synopsis, self.description),
        }
    }
}

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
}

/// Builds a [`Backend`].
pub struct Builder<S> {
    state: Arc<S>,
    backend_type: BackendType,
    help: String,
    paths: Vec<Path<S>>,
    special_paths: SpecialPaths,
}

impl<S: Send + Sync + 'static> Builder<S> {
    /// Backend-wide help (shown by `path-help` on the mount itself).
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = text.into();
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

    /// Compiles every pattern and checks the paths.
    pub fn build(self) -> Result<Backend<S>, BuildError> {
        let mut routes = Vec::with_capacity(self.paths.len());
        for path in self.paths {
            if path.operations.contains_key(&Operation::Create) && path.existence.is_none() {
                return Err(BuildError::CreateWithoutExistenceCheck(path.pattern));
            }
            let regex = compile(&path.pattern)?;
            routes.push(Route { regex, path });
        }
        Ok(Backend {
            state: self.state,
            backend_type: self.backend_type,
            help: self.help,
            routes,
            special_paths: self.special_paths,
        })
    }
}

struct Route<S> {
    regex: Regex,
    path: Path<S>,
}

/// A backend: routes requests to handlers over a shared state `S`.
pub struct Backend<S> {
    state: Arc<S>,
    backend_type: BackendType,
    help: String,
    routes: Vec<Route<S>>,
    special_paths: SpecialPaths,
}

impl<S: Send + Sync + 'static> Backend<S> {
    /// Starts a secrets-engine backend whose handlers share `state`.
    pub fn builder(state: S) -> Builder<S> {
        Builder {
            state: Arc::new(state),
            backend_type: BackendType::Logical,
            help: String::new(),
            paths: Vec::new(),
            special_paths: SpecialPaths::default(),
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

    fn help(&self, path: &str) -> Response {
        let text = match self.route(path) {
            Some((route, _)) if !route.path.help_text().is_empty() => route.path.help_text(),
            _ => self.help.clone(),
        };
        let mut data = Map::new();
        data.insert("help".into(), Value::String(text));
        Response::with_data(data)
    }
}

#[async_trait::async_trait]
impl<S: Send + Sync + 'static> LogicalBackend for Backend<S> {
    fn backend_type(&self) -> BackendType {
        self.backend_type
    }

    fn special_paths(&self) -> SpecialPaths {
        self.special_paths.clone()
    }

    async fn handle_request(&self, mut req: Request) -> Result<Response> {
        if req.operation == Operation::Help {
            return Ok(self.help(&req.path));
        }
        let Some((route, captures)) = self.route(&req.path) else {
            // The host's periodic tick reaches every mount; without a
            // handler for it there is simply nothing to do.
            if req.operation == Operation::Rollback {
                return Ok(Response::empty());
            }
            return Err(Error::UnsupportedPath);
        };
        let Some(handler) = route.path.operations.get(&req.operation) else {
            if req.operation == Operation::Rollback {
                return Ok(Response::empty());
            }
            return Err(Error::UnsupportedOperation);
        };
        req.captures = captures;
        handler.call(Arc::clone(&self.state), req).await
    }

    async fn existence_check(&self, mut req: Request) -> Result<Option<bool>> {
        let Some((route, captures)) = self.route(&req.path) else {
            return Err(Error::UnsupportedPath);
        };
        let Some(check) = &route.path.existence else {
            return Ok(None);
        };
        req.captures = captures;
        check.call(Arc::clone(&self.state), req).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::system_view::StaticSystemView;

    fn req(op: Operation, path: &str) -> Request {
        Request::new(
            op,
            path,
            Arc::new(MemoryStorage::new()),
            Arc::new(StaticSystemView::default()),
        )
    }

    async fn echo(_: Arc<()>, req: Request) -> Result<Response> {
        let mut data = Map::new();
        data.insert("name".into(), req.param("name").unwrap_or("-").into());
        data.insert("op".into(), req.operation.as_str().into());
        Ok(Response::with_data(data))
    }

    async fn exists(_: Arc<()>, req: Request) -> Result<bool> {
        Ok(req.param("name") == Some("old"))
    }

    fn backend() -> Backend<()> {
        Backend::builder(())
            .help("test backend")
            .path(
                Path::new("item/{name}")
                    .synopsis("an item")
                    .read(echo)
                    .create(echo)
                    .update(echo)
                    .existence_check(exists),
            )
            .path(Path::new("item/?").list(echo))
            .path(Path::new("item/{name}/deep").read(echo))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn routes_by_path_and_operation_with_captures() {
        let b = backend();
        let resp = b
            .handle_request(req(Operation::Read, "item/foo"))
            .await
            .unwrap();
        let data = resp.data.unwrap();
        assert_eq!(data["name"], "foo");
        assert_eq!(data["op"], "read");
        let resp = b
            .handle_request(req(Operation::List, "item/"))
            .await
            .unwrap();
        assert_eq!(resp.data.unwrap()["op"], "list");
        let resp = b
            .handle_request(req(Operation::Read, "item/x/deep"))
            .await
            .unwrap();
        assert_eq!(resp.data.unwrap()["name"], "x");
    }

    #[tokio::test]
    async fn unknown_path_and_operation_are_distinct_errors() {
        let b = backend();
        let err = b
            .handle_request(req(Operation::Read, "nope"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnsupportedPath));
        let err = b
            .handle_request(req(Operation::Delete, "item/foo"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnsupportedOperation));
    }

    #[tokio::test]
    async fn rollback_without_handler_is_a_no_op() {
        let b = backend();
        let resp = b
            .handle_request(req(Operation::Rollback, ""))
            .await
            .unwrap();
        assert!(resp.is_empty());
    }

    #[tokio::test]
    async fn existence_check_reports_found_and_exists() {
        let b = backend();
        assert_eq!(
            b.existence_check(req(Operation::Update, "item/old"))
                .await
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            b.existence_check(req(Operation::Update, "item/new"))
                .await
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            b.existence_check(req(Operation::Update, "item/"))
                .await
                .unwrap(),
            None
        );
        assert!(
            b.existence_check(req(Operation::Update, "zzz"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn help_uses_path_text_or_backend_text() {
        let b = backend();
        let resp = b
            .handle_request(req(Operation::Help, "item/foo"))
            .await
            .unwrap();
        assert_eq!(resp.data.unwrap()["help"], "an item");
        let resp = b.handle_request(req(Operation::Help, "")).await.unwrap();
        assert_eq!(resp.data.unwrap()["help"], "test backend");
    }

    #[test]
    fn create_without_existence_check_is_refused_at_build() {
        let err = Backend::builder(())
            .path(Path::new("x").create(echo))
            .build()
            .err()
            .unwrap();
        assert!(matches!(err, BuildError::CreateWithoutExistenceCheck(ref p) if p == "x"));
    }
}
