//! The `pb.Backend` gRPC service and the trait it drives.
//!
//! The service owns the per-mount instances (keyed by the host's multiplex
//! id), turns wire messages into SDK types (one module per message in
//! `convert`) and calls a [`LogicalBackend`]. The framework's
//! [`Backend`](crate::framework::Backend) is one such backend; anything else
//! implementing the trait can be served too.

pub(crate) mod convert;
mod service;

pub(crate) use service::BackendService;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use crate::Result;
use crate::framework::{Request, Response};
use crate::storage::Storage;
use crate::system_view::SystemView;

/// What kind of mount a plugin provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendType {
    /// A secrets engine (`bao secrets enable`).
    Logical,
    /// An auth method (`bao auth enable`).
    Credential,
}

impl BackendType {
    /// The number the host uses on the wire.
    pub fn wire(self) -> u32 {
        match self {
            Self::Logical => 1,
            Self::Credential => 2,
        }
    }
}

/// Path patterns the host treats specially. A trailing `*` matches a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialPaths {
    /// Paths that need a root token.
    pub root: Vec<String>,
    /// Paths reachable without a token (login paths of auth methods).
    pub unauthenticated: Vec<String>,
    /// Storage prefixes that are not replicated.
    pub local_storage: Vec<String>,
    /// Storage keys the host seal-wraps where it can.
    pub seal_wrap_storage: Vec<String>,
}

/// A mount's backend, as the service calls it.
#[async_trait]
pub trait LogicalBackend: Send + Sync + 'static {
    /// Secrets engine or auth method.
    fn backend_type(&self) -> BackendType;

    /// Applies the mount options the SDK knows to a backend the factory
    /// just built (see [`Backend`](crate::Backend) for which); a bad one
    /// fails the mount with a 400 naming it. Nothing by default.
    fn configure(&mut self, ctx: &SetupContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Paths the host treats specially.
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }

    /// Runs once after the mount is set up. On an HA host it also runs on
    /// read-only storage (see [`HookContext::storage_writable`]); a
    /// [`Error::ReadOnly`](crate::Error::ReadOnly) it returns is not a
    /// failure: the host initializes the mount again on the active node.
    async fn initialize(&self, _ctx: HookContext) -> Result<()> {
        Ok(())
    }

    /// Handles one request.
    async fn handle_request(&self, req: Request) -> Result<Response>;

    /// Whether the request's target exists; `None` when the path has no
    /// existence check (the host then always sends `update`).
    async fn existence_check(&self, req: Request) -> Result<Option<bool>>;

    /// Runs when the mount is removed or the plugin reloaded.
    async fn cleanup(&self) {}

    /// Runs when the host says a storage key changed elsewhere.
    async fn invalidate(&self, _key: &str) {}
}

/// What a lifecycle hook can reach: the mount's storage and system view.
#[derive(Clone)]
pub struct HookContext {
    /// The mount's storage.
    pub storage: Arc<dyn Storage>,
    /// The mount's system view.
    pub system_view: Arc<dyn SystemView>,
}

impl HookContext {
    /// Whether the mount's storage takes writes here. An OpenBao HA server
    /// sets up and initializes every mount on read-only storage first, at
    /// each unseal, and its standby nodes stay that way: an initialize hook
    /// that writes should skip its writes when this is false (the host runs
    /// it again on the active node). See [`SystemView::storage_writable`].
    pub async fn storage_writable(&self) -> Result<bool> {
        Ok(self.system_view.storage_writable().await?)
    }
}

/// What a backend factory gets when the host sets up a mount.
#[derive(Clone)]
pub struct SetupContext {
    /// The mount's plugin configuration.
    pub config: HashMap<String, String>,
    /// The mount's unique id.
    pub backend_uuid: String,
    /// The mount's storage.
    pub storage: Arc<dyn Storage>,
    /// The mount's system view.
    pub system_view: Arc<dyn SystemView>,
}

impl SetupContext {
    /// A mount option (`bao secrets enable -options=name=value`) read as a
    /// duration the way fields are (`"90s"`, `"1h"`, `"30"`); `None` when
    /// the option is not set, a 400 naming the option when it is not a duration.
    pub fn duration_option(&self, name: &str) -> Result<Option<std::time::Duration>> {
        let Some(text) = self.config.get(name) else {
            return Ok(None);
        };
        let secs = crate::framework::fields::FieldType::DurationSecond
            .normalize(&serde_json::Value::String(text.clone()))
            .map_err(|e| crate::Error::bad_request(format!("mount option {name}: {e}")))?;
        Ok(Some(std::time::Duration::from_secs(
            secs.as_u64().unwrap_or_default(),
        )))
    }
}

/// Builds one backend per mount. Any `async fn(SetupContext) -> Result<B>`
/// is a factory.
pub trait Factory: Send + Sync + 'static {
    /// Builds the backend for a new mount.
    fn build(&self, ctx: SetupContext) -> BoxFuture<'static, Result<Arc<dyn LogicalBackend>>>;
}

impl<F, Fut, B> Factory for F
where
    F: Fn(SetupContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<B>> + Send + 'static,
    B: LogicalBackend,
{
    fn build(&self, ctx: SetupContext) -> BoxFuture<'static, Result<Arc<dyn LogicalBackend>>> {
        let fut = self(ctx.clone());
        Box::pin(async move {
            let mut backend = fut.await?;
            backend.configure(&ctx)?;
            Ok(Arc::new(backend) as Arc<dyn LogicalBackend>)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::storage::MemoryStorage;
    use crate::system_view::StaticSystemView;

    fn ctx(options: &[(&str, &str)]) -> SetupContext {
        SetupContext {
            config: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            backend_uuid: String::new(),
            storage: Arc::new(MemoryStorage::new()),
            system_view: Arc::new(StaticSystemView::default()),
        }
    }

    #[test]
    fn a_duration_option_reads_like_a_duration_field() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<Option<Duration>, &'a str>);
        let table: &[Case<'_>] = &[
            (&[], Ok(None)),
            (&[("age", "5s")], Ok(Some(Duration::from_secs(5)))),
            (&[("age", "1h")], Ok(Some(Duration::from_secs(3600)))),
            (&[("age", "90")], Ok(Some(Duration::from_secs(90)))),
            (&[("age", "soon")], Err("mount option age")),
        ];
        for (options, want) in table {
            match (ctx(options).duration_option("age"), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{options:?}"),
                (Err(err), Err(frag)) => assert!(err.to_string().contains(frag), "{err}"),
                (got, want) => panic!("{options:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
