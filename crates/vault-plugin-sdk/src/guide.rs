//! Guides: how to write and test a plugin with this SDK, from a plugin
//! author's point of view (you know Vault; you have not read this crate).
//!
//! * [`secrets_engine`]: a secrets engine from `main.rs` to `bao secrets
//!   enable`: paths, handlers, typed fields and path captures, errors,
//!   storage, config and roles as records (generated paths, partial
//!   updates, write-only fields), typed secrets with leases, the WAL guard,
//!   periodic work, help and OpenAPI, logging.
//! * [`auth_method`]: what changes for an auth method: the login path, the
//!   `Auth` a login returns, aliases, the `token_*` fields, token renewal.
//! * [`testing`]: the in-process test kit, wiremock fakes of an upstream
//!   with failures on demand, and tests against a real OpenBao.
//! * `upstream` (with the `upstream` feature): calling an upstream API
//!   over HTTPS or gRPC: the settings block, the cached client, errors,
//!   retries.
//!
//! The plugin to copy is `examples/token_engine/` in this crate, a complete
//! engine with its tests. The examples in the guides are compiled (and most
//! are run) by `cargo test --doc`; the ones about the test kit need the
//! `test-util` feature, and those calling an upstream `upstream` too.

#[doc = include_str!("../docs/secrets-engine.md")]
pub mod secrets_engine {}

#[doc = include_str!("../docs/auth-method.md")]
pub mod auth_method {}

#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

#[cfg(feature = "upstream")]
#[doc = include_str!("../docs/upstream.md")]
pub mod upstream {}
