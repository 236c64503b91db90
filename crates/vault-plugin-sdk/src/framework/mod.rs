//! The plugin author's side: paths, handlers, requests and responses.
//!
//! A backend is built once from [`Path`]s; each path maps operations to plain
//! async handler functions taking the shared state, the [`Request`] and,
//! optionally, a typed arguments struct (see [`fields`]).

mod auth;
mod backend;
pub mod display;
pub(crate) mod doc;
pub mod fields;
mod handler;
mod help;
pub mod lease;
mod openapi;
mod operation;
mod patch;
mod path;
mod pattern;
#[cfg(test)]
mod read_only_tests;
mod record;
mod request;
mod response;
#[cfg(test)]
mod router_tests;
mod secret;
mod token;
pub mod wal;

pub use auth::{Alias, Auth, TokenType};
pub use backend::{Backend, BuildError, Builder, DEFAULT_WAL_ROLLBACK_MIN_AGE};
pub use doc::OperationDoc;
pub use handler::{Handler, Plain, WithArgs};
pub use lease::LeaseOptions;
pub use operation::{Operation, UnknownOperation};
pub use patch::merge_patch;
pub use path::Path;
pub use pattern::PatternError;
pub use record::Record;
pub use request::Request;
pub use response::Response;
pub use secret::{SECRET_TYPE_KEY, Secret, SecretData, SecretType};
pub use token::{TokenFields, TokenParams};
