//! Conversions between wire messages and SDK types, one module per message,
//! each with table tests.

pub(crate) mod error;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod special_paths;
