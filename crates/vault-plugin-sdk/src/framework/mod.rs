//! The plugin author's side: paths, handlers, requests and responses.
//!
//! A backend is built once from [`Path`]s; each path maps operations to plain
//! async handler functions taking the shared state and the [`Request`].

mod backend;
mod operation;
mod pattern;
mod request;
mod response;

pub use backend::{Backend, BuildError, Builder, Handler, Path};
pub use operation::{Operation, UnknownOperation};
pub use pattern::PatternError;
pub use request::Request;
pub use response::Response;
