//! The one error type handlers return, and what the user sees for each kind.
//!
//! The host keeps a message and status only for some error kinds (see
//! `backend::convert::error`), so each variant here is chosen by what the
//! operator should see: a 400 with the reason, a 404, a 403, or a 5xx that
//! still says what went wrong.

use std::fmt;

/// A `Result` whose error is the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request failed, in the terms the host understands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input from the caller: HTTP 400 with this message.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at this path: HTTP 404 with this message. A list, or a read
    /// with an empty message, answers 404 with no body, like a missing entry.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this: HTTP 403.
    #[error("permission denied")]
    PermissionDenied,
    /// No route matches the path: HTTP 404 "unsupported path".
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation: HTTP 405.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// An error with an explicit HTTP status and message.
    #[error("{message}")]
    Coded {
        /// The HTTP status code the user sees.
        status: u16,
        /// The message the user sees.
        message: String,
    },
    /// A call to an upstream service failed: HTTP 502 with this message.
    #[error("{0}")]
    Upstream(String),
    /// The operation can never succeed (for example a revoke of something
    /// that no longer exists anywhere); the host stops retrying.
    #[error("{0}")]
    Unrecoverable(String),
    /// Anything else: HTTP 500 with this message (log details, do not put
    /// secrets in it).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A 400 with `message`.
    pub fn bad_request(message: impl fmt::Display) -> Self {
        Self::BadRequest(message.to_string())
    }

    /// A 404 with `message` (lists, and reads with an empty message,
    /// answer 404 without a body, as for a missing entry).
    pub fn not_found(message: impl fmt::Display) -> Self {
        Self::NotFound(message.to_string())
    }

    /// A 500 with `message`.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::Internal(message.to_string())
    }

    /// A 502 naming the upstream failure.
    pub fn upstream(message: impl fmt::Display) -> Self {
        Self::Upstream(message.to_string())
    }

    /// An error with an explicit HTTP `status`.
    pub fn coded(status: u16, message: impl fmt::Display) -> Self {
        Self::Coded {
            status,
            message: message.to_string(),
        }
    }

    /// The HTTP status the user will see for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) | Self::UnsupportedPath => 404,
            Self::PermissionDenied => 403,
            Self::UnsupportedOperation => 405,
            Self::Coded { status, .. } => *status,
            Self::Upstream(_) => 502,
            Self::Unrecoverable(_) | Self::Internal(_) => 500,
        }
    }
}

impl From<crate::storage::StorageError> for Error {
    fn from(err: crate::storage::StorageError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(format!("JSON encoding failed: {err}"))
    }
}
