//! Calling an upstream API: the settings block a config flattens in, the
//! HTTP client built from it, its per-mount cache, the errors it returns,
//! opt-in retries, and gRPC channels with the same TLS settings.
//!
//! It exists because every provider plugin (balena, Proxmox, IBM Cloud,
//! pachd) needs the same things and a plugin author should not assemble
//! them again: rustls with the ring provider (no crypto-provider panic, no
//! OpenSSL), the system's roots plus a private CA, hickory DNS so the static
//! binary never touches glibc's NSS, proxies, no redirects, timeouts, and
//! errors that name the upstream and its status without a secret in them.
//! The guide [`guide::upstream`](crate::guide::upstream) shows a plugin
//! using all of it.
//!
//! Behind the cargo feature `upstream`, so plugins without an upstream stay
//! small.

mod cache;
mod client;
mod error;
pub mod grpc;
mod retry;
mod settings;
#[cfg(test)]
mod tests;
mod tls;
mod url;

pub use cache::UpstreamCache;
pub use client::{UpstreamClient, UpstreamClientBuilder, UpstreamRequest, UpstreamResponse};
pub use error::{EXCERPT_CHARS, UpstreamError, UpstreamErrorKind, excerpt};
/// The HTTP types requests are made of (`Method`, `StatusCode`, `header`).
pub use reqwest::{Method, StatusCode, header};
pub use retry::Retry;
pub use settings::{HttpHeaders, Timeout, UpstreamSettings};
pub use tls::parse_ca_cert;
pub use url::{normalize_base_url, percent_encode};
