//! Why a pachd call failed, in words an operator can act on.
//!
//! gRPC statuses are mapped by what they mean for the plugin, not passed
//! through: UNAUTHENTICATED means the admin token is invalid,
//! PERMISSION_DENIED that it lacks the permission the call needs,
//! UNAVAILABLE (and any failure to connect) that pachd cannot be reached at
//! its address. No message ever holds a token: whatever pachd says is cut
//! short and every token the call carried is redacted from it.

use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};
use vault_plugin_sdk::Error;
use vault_plugin_sdk::framework::wal::Refusal;
use vault_plugin_sdk::upstream::excerpt;

/// What a call needed that the admin token may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `GetRobotToken`: CLUSTER_AUTH_GET_ROBOT_TOKEN.
    MintRobotTokens,
    /// `RestoreAuthToken`: CLUSTER_AUTH_RESTORE_TOKEN.
    RestoreTokens,
    /// `RevokeAuthToken` of someone else's token.
    RevokeTokens,
    /// `RotateRootToken`: CLUSTER_AUTH_ROTATE_ROOT_TOKEN.
    RotateRootToken,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::MintRobotTokens => {
                "the robot-token permission (CLUSTER_AUTH_GET_ROBOT_TOKEN, granted by the \
                 clusterAdmin and robotUser roles)"
            }
            Permission::RestoreTokens => {
                "the permission to register tokens (CLUSTER_AUTH_RESTORE_TOKEN, granted by the \
                 clusterAdmin role)"
            }
            Permission::RevokeTokens => "the permission to revoke other users' tokens",
            Permission::RotateRootToken => {
                "the permission to rotate the root token (CLUSTER_AUTH_ROTATE_ROOT_TOKEN, \
                 granted by the clusterAdmin role)"
            }
        })
    }
}

/// A failed pachd call. The display form is safe to return and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PachdError {
    /// UNAUTHENTICATED: pachd does not know the admin token (wrong, revoked
    /// or expired).
    Unauthenticated,
    /// PERMISSION_DENIED: the admin token is valid but lacks `needs`.
    PermissionDenied {
        /// What the call needed, when the call has one permission.
        needs: Option<Permission>,
    },
    /// UNIMPLEMENTED "the auth service is not activated".
    AuthNotActivated,
    /// UNIMPLEMENTED otherwise: the server does not serve this call.
    NotPachyderm2 {
        /// The address called.
        address: String,
    },
    /// pachd could not be reached: connection refused, a name that does
    /// not resolve, a TLS failure, or UNAVAILABLE.
    Unreachable {
        /// The address called.
        address: String,
        /// What went wrong, redacted.
        detail: String,
    },
    /// No answer within the timeout.
    Timeout {
        /// The address called.
        address: String,
        /// The timeout.
        after: Duration,
    },
    /// The token holds characters gRPC metadata cannot carry, or is longer
    /// than [`super::MAX_TOKEN_LEN`].
    UnsendableToken,
    /// Any other status.
    Status {
        /// The gRPC code.
        code: Code,
        /// pachd's message, redacted and cut short.
        message: String,
    },
}

impl PachdError {
    /// The error for `status`, an answer to a call at `address` that needed
    /// `needs` and carried `secrets`.
    pub fn from_status(
        status: &Status,
        address: &str,
        needs: Option<Permission>,
        secrets: &[&str],
    ) -> Self {
        let message = excerpt(status.message(), secrets);
        // A status with a source never came from pachd: the channel failed
        // to connect or lost the connection (tonic says "transport error").
        if std::error::Error::source(status).is_some() {
            return PachdError::Unreachable {
                address: address.to_owned(),
                detail: unreachable_detail(status, secrets),
            };
        }
        match status.code() {
            Code::Unauthenticated => PachdError::Unauthenticated,
            // pachd's answer to an expired token it has not yet swept away.
            Code::Internal if message.contains("token expiration is in the past") => {
                PachdError::Unauthenticated
            }
            Code::PermissionDenied => PachdError::PermissionDenied { needs },
            Code::Unimplemented if message.contains("not activated") => {
                PachdError::AuthNotActivated
            }
            Code::Unimplemented => PachdError::NotPachyderm2 {
                address: address.to_owned(),
            },
            Code::Unavailable => PachdError::Unreachable {
                address: address.to_owned(),
                detail: unreachable_detail(status, secrets),
            },
            code => PachdError::Status { code, message },
        }
    }

    /// The SDK's error for this failure while `doing` something, with the
    /// status a user should see: 504 when pachd did not answer in time,
    /// 429 when it is overloaded (RESOURCE_EXHAUSTED), 502 otherwise.
    pub fn context(self, doing: impl fmt::Display) -> Error {
        let message = format!("{doing}: {self}");
        match self {
            PachdError::Timeout { .. } => Error::coded(504, message),
            PachdError::Status {
                code: Code::ResourceExhausted,
                ..
            } => Error::coded(429, message),
            _ => Error::upstream(message),
        }
    }
}

/// What a [`WalGuard`](vault_plugin_sdk::framework::wal::WalGuard) and the
/// rotation ask of a failed call.
impl Refusal for PachdError {
    /// Whether pachd refused the call, so it certainly changed nothing.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            PachdError::Unauthenticated
                | PachdError::PermissionDenied { .. }
                | PachdError::AuthNotActivated
                | PachdError::NotPachyderm2 { .. }
                | PachdError::UnsendableToken
        ) || matches!(self, PachdError::Status { code, .. } if *code == Code::InvalidArgument)
    }
}

/// What made pachd unreachable: the status's message and, for a failure
/// of the channel, the transport error's causes ("tcp connect error", a
/// TLS alert) from its source chain.
fn unreachable_detail(status: &Status, secrets: &[&str]) -> String {
    let mut parts = vec![status.message().to_owned()];
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let mut text = String::new();
    for part in parts {
        // tonic's wrapper words say nothing an operator can use.
        if part.is_empty() || part == "transport error" || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    excerpt(&text, secrets)
}

impl fmt::Display for PachdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PachdError::Unauthenticated => f.write_str(
                "pachd refused the admin token (UNAUTHENTICATED): the admin token is invalid, \
                 revoked or expired",
            ),
            PachdError::PermissionDenied { needs: Some(needs) } => write!(
                f,
                "pachd refused the call (PERMISSION_DENIED): the admin token lacks {needs}"
            ),
            PachdError::PermissionDenied { needs: None } => f.write_str(
                "pachd refused the call (PERMISSION_DENIED): the admin token lacks the \
                 permission for it",
            ),
            PachdError::AuthNotActivated => f.write_str(
                "pachd answered that its auth service is not activated (UNIMPLEMENTED): \
                 activate auth in pachd (pachctl auth activate) before using this plugin",
            ),
            PachdError::NotPachyderm2 { address } => write!(
                f,
                "the server at {address} does not serve Pachyderm 2.x's auth API \
                 (UNIMPLEMENTED): is it pachd 2.x?"
            ),
            PachdError::Unreachable { address, detail } if detail.is_empty() => {
                write!(f, "pachd cannot be reached at {address}")
            }
            PachdError::Unreachable { address, detail } => {
                write!(f, "pachd cannot be reached at {address}: {detail}")
            }
            PachdError::Timeout { address, after } => write!(
                f,
                "pachd at {address} did not answer within {}",
                format_duration(*after)
            ),
            PachdError::UnsendableToken => write!(
                f,
                "the token cannot be sent to pachd: only visible ASCII without spaces is \
                 allowed, at most {} characters",
                super::MAX_TOKEN_LEN
            ),
            PachdError::Status { code, message } if message.is_empty() => {
                write!(f, "pachd answered {}", code_name(*code))
            }
            PachdError::Status { code, message } => {
                write!(f, "pachd answered {}: {message}", code_name(*code))
            }
        }
    }
}

impl std::error::Error for PachdError {}

/// `1.5s`, `30s`, `2m`: the timeout as an operator wrote it, more or less.
fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if !millis.is_multiple_of(1000) {
        format!("{}.{:03}s", millis / 1000, millis % 1000)
    } else {
        format!("{}s", millis / 1000)
    }
}

/// The gRPC name of a code, e.g. `UNKNOWN`.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(code: Code, message: &str) -> PachdError {
        PachdError::from_status(
            &Status::new(code, message),
            "grpc://pachd:30650",
            Some(Permission::MintRobotTokens),
            &["0123abcd"],
        )
    }

    #[test]
    fn context_gives_the_status_a_user_should_see() {
        let timeout = PachdError::Timeout {
            address: "pachd:30650".into(),
            after: Duration::from_secs(2),
        };
        let err = timeout.context("minting a token for robot:ci");
        assert_eq!(err.status(), 504);
        assert_eq!(
            err.to_string(),
            "minting a token for robot:ci: pachd at pachd:30650 did not answer within 2s"
        );
        assert_eq!(
            map(Code::ResourceExhausted, "busy").context("x").status(),
            429
        );
        assert_eq!(
            map(Code::Unavailable, "restarting").context("x").status(),
            502
        );
        assert_eq!(map(Code::Internal, "etcd").context("x").status(), 502);
    }

    #[test]
    fn statuses_map_to_what_they_mean_for_the_operator() {
        let cases: &[(Code, &str, &str)] = &[
            (Code::Unauthenticated, "bad", "the admin token is invalid"),
            (
                Code::Internal,
                "token expiration is in the past",
                "the admin token is invalid",
            ),
            (
                Code::PermissionDenied,
                "user:x is not authorized",
                "lacks the robot-token permission",
            ),
            (
                Code::Unimplemented,
                "the auth service is not activated",
                "auth service is not activated",
            ),
            (
                Code::Unimplemented,
                "unknown service auth_v2.API",
                "does not serve Pachyderm 2.x's auth API",
            ),
            (
                Code::Unavailable,
                "connection refused",
                "pachd cannot be reached at grpc://pachd:30650: connection refused",
            ),
            (
                Code::Unknown,
                "robot names cannot contain colons (':')",
                "pachd answered UNKNOWN: robot names cannot contain colons",
            ),
            (Code::Internal, "", "pachd answered INTERNAL"),
        ];
        for (code, message, want) in cases {
            let got = map(*code, message).to_string();
            assert!(got.contains(want), "{code:?} {message:?}: {got}");
        }
    }

    #[test]
    fn no_token_survives_in_a_message() {
        let got = map(Code::Unknown, "token 0123abcd is odd\nline two").to_string();
        assert_eq!(
            got,
            "pachd answered UNKNOWN: token [redacted] is odd line two"
        );
        let got = map(Code::Unavailable, "dial 0123abcd").to_string();
        assert!(!got.contains("0123abcd"), "{got}");
        let long = map(Code::Unknown, &"x".repeat(500)).to_string();
        assert!(long.len() < 260, "{long}");
    }

    #[test]
    fn refusals_are_the_answers_that_changed_nothing() {
        assert!(PachdError::Unauthenticated.is_refusal());
        assert!(map(Code::PermissionDenied, "").is_refusal());
        assert!(!map(Code::Unavailable, "").is_refusal());
        assert!(!map(Code::Unknown, "").is_refusal());
        let timeout = PachdError::Timeout {
            address: "grpc://pachd:30650".into(),
            after: Duration::from_millis(1500),
        };
        assert!(!timeout.is_refusal());
        assert_eq!(
            timeout.to_string(),
            "pachd at grpc://pachd:30650 did not answer within 1.500s"
        );
    }
}
