//! Write HashiCorp Vault and OpenBao plugins in Rust.
//!
//! A plugin is a binary whose `main` calls [`serve`] with a factory that
//! builds one [`Backend`] per mount:
//!
//! ```no_run
//! use std::sync::Arc;
//! use vault_plugin_sdk::{Backend, Path, Request, Response, Result, SetupContext};
//!
//! async fn ping(_: Arc<()>, _: Request) -> Result<Response> {
//!     Response::json(&serde_json::json!({ "message": "pong" }))
//! }
//!
//! async fn factory(_: SetupContext) -> Result<Backend<()>> {
//!     Backend::builder(())
//!         .path(Path::new("ping").read(ping))
//!         .build()
//!         .map_err(vault_plugin_sdk::Error::internal)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), factory)
//! }
//! ```
//!
//! The layers, bottom up: [`transport`] speaks go-plugin (cookie, handshake,
//! AutoMTLS, broker, multiplexing); the backend service turns `pb.Backend`
//! calls into [`Request`]s for a [`LogicalBackend`]; [`framework`] routes
//! them to handlers; [`storage`] and [`system_view`] reach back into the host.
//!
//! With the `upstream` feature, [`upstream`] calls the API a plugin
//! manages: a settings block for its config, an HTTPS client, errors with
//! the right status, retries, and gRPC channels.
//!
//! New here? Start with the [`guide`]: writing a secrets engine, an auth method, and their tests.

extern crate self as vault_plugin_sdk;

pub mod backend;
pub mod blocking;
mod error;
pub mod framework;
pub mod guide;
pub mod logging;
pub mod prelude;
pub mod random;
pub mod storage;
pub mod system_view;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod transport;
#[cfg(feature = "upstream")]
pub mod upstream;

pub use backend::{BackendType, Factory, LogicalBackend, SetupContext, SpecialPaths};
pub use error::{Error, Result};
pub use framework::fields::Fields;
pub use framework::{Backend, Operation, Path, Request, Response};
pub use transport::serve;

/// The calling crate's version as `v<major>.<minor>.<patch>`, the form
/// `plugin register -version` expects.
///
/// A build may report another version: `PLUGIN_VERSION_OVERRIDE` set while
/// compiling (e.g. `PLUGIN_VERSION_OVERRIDE=v0.1.1-rc.1 cargo build -p
/// example-kv`) replaces it, as given, in that build. It is read at compile
/// time only (cargo rebuilds the plugin when it changes); a running plugin
/// never looks at its environment for its version. Operators use it to try
/// an upgrade before a release; the upgrade tests build a second copy of a
/// plugin with it (see `docs/operations.md`).
#[macro_export]
macro_rules! plugin_version {
    () => {
        match option_env!("PLUGIN_VERSION_OVERRIDE") {
            Some(version) => version,
            None => concat!("v", env!("CARGO_PKG_VERSION")),
        }
    };
}
