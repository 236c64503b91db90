//! Why an upstream call failed, said so an operator can act on it, and the
//! status the user sees for it.
//!
//! Every message names the upstream and, for an answer, its status; a body
//! appears only as a short excerpt with the request's secrets replaced, so a
//! message can be returned and logged as it is.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use rustls::CertificateError;

use crate::Error;
use crate::framework::wal::Refusal;

/// How much of an answer's body an error quotes.
pub const EXCERPT_CHARS: usize = 200;

/// An upstream call that failed. Its display form is safe to return and
/// to log; convert it with `?` into an [`Error`] with the fitting status:
///
/// | failure | status the user sees |
/// |---|---|
/// | the upstream answered 400 or 422 | 400 (the values sent were refused) |
/// | answered 404, 409 or 429 | the same status |
/// | answered 401, 403, another 4xx, or 5xx | 502 |
/// | no answer within the timeout | 504 |
/// | unreachable, TLS failure, broken connection, unexpected body | 502 |
/// | the settings cannot make a client (bad `ca_cert`, bad proxy) | 400 |
/// | the plugin built a request that cannot be sent | 500 |
///
/// Inspect it before converting when a status means something to the
/// plugin, e.g. a 404 on revoke: already gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    upstream: String,
    kind: UpstreamErrorKind,
}

/// What went wrong, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamErrorKind {
    /// The upstream answered with a status outside 2xx.
    Status {
        /// The HTTP status.
        status: u16,
        /// A short, one-line excerpt of the body, secrets replaced.
        excerpt: String,
        /// How long the upstream asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// No answer within the timeout.
    Timeout(Duration),
    /// No connection: refused, no route, a name that does not resolve.
    Unreachable {
        /// `host:port` (and the proxy, if one is used).
        address: String,
        /// The cause, e.g. "Connection refused (os error 111)".
        reason: String,
    },
    /// The TLS handshake failed, e.g. an untrusted certificate.
    Tls {
        /// `host:port`.
        address: String,
        /// What failed and how to fix it.
        reason: String,
    },
    /// The connection broke during the call.
    Broken {
        /// `host:port`.
        address: String,
        /// The cause.
        reason: String,
    },
    /// A 2xx answer whose body is not what the API documents.
    Unexpected(String),
    /// The settings cannot make a client (bad `ca_cert`, bad proxy URL).
    Settings(String),
    /// The plugin built a request that cannot be sent (a bug in the plugin).
    Request(String),
}

impl UpstreamError {
    /// An error of `kind` from the upstream called `upstream` (its display
    /// name, e.g. "Proxmox").
    pub fn new(upstream: impl Into<String>, kind: UpstreamErrorKind) -> Self {
        Self {
            upstream: upstream.into(),
            kind,
        }
    }

    /// A 2xx answer that is not what the API documents; `why` must not
    /// quote a secret.
    pub fn unexpected(upstream: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(upstream, UpstreamErrorKind::Unexpected(why.to_string()))
    }

    /// An answer with `status` and `body`; `secrets` are what the request
    /// carried, replaced in the excerpt of the body.
    pub fn status(upstream: impl Into<String>, status: u16, body: &str, secrets: &[&str]) -> Self {
        Self::new(
            upstream,
            UpstreamErrorKind::Status {
                status,
                excerpt: excerpt(body, secrets),
                retry_after: None,
            },
        )
    }

    /// The upstream's display name.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// What went wrong.
    pub fn kind(&self) -> &UpstreamErrorKind {
        &self.kind
    }

    /// The HTTP status the upstream answered with, if it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self.kind {
            UpstreamErrorKind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The excerpt of the answer's body ("" when there was no answer).
    pub fn excerpt(&self) -> &str {
        match &self.kind {
            UpstreamErrorKind::Status { excerpt, .. } => excerpt,
            _ => "",
        }
    }

    /// How long the upstream asked to wait before the next call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            UpstreamErrorKind::Status { retry_after, .. } => retry_after,
            _ => None,
        }
    }

    /// Whether the same call may succeed later: 429, 502, 503, 504, a
    /// timeout, no connection or a broken one.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            UpstreamErrorKind::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            UpstreamErrorKind::Timeout(_)
            | UpstreamErrorKind::Unreachable { .. }
            | UpstreamErrorKind::Broken { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        if let UpstreamErrorKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = after;
        }
        self
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let up = &self.upstream;
        match &self.kind {
            UpstreamErrorKind::Status {
                status,
                excerpt,
                retry_after,
            } => {
                write!(f, "{up} answered {status}")?;
                if let Some(after) = retry_after {
                    write!(f, " (retry after {})", seconds(*after))?;
                }
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
            UpstreamErrorKind::Timeout(after) => {
                write!(f, "{up} did not answer within {}", seconds(*after))
            }
            UpstreamErrorKind::Unreachable { address, reason } => {
                write!(f, "could not reach {up} at {address}: {reason}")
            }
            UpstreamErrorKind::Tls { address, reason } => {
                write!(f, "TLS with {up} at {address} failed: {reason}")
            }
            UpstreamErrorKind::Broken { address, reason } => {
                write!(f, "the connection to {up} at {address} broke: {reason}")
            }
            UpstreamErrorKind::Unexpected(why) => write!(f, "{up} answered unexpectedly: {why}"),
            UpstreamErrorKind::Settings(why) => f.write_str(why),
            UpstreamErrorKind::Request(why) => write!(f, "a request to {up} cannot be sent: {why}"),
        }
    }
}

impl StdError for UpstreamError {}

/// `30s`, or `250ms` for what is not whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

impl UpstreamError {
    /// The SDK's [`Error`] for this failure, its message led by what the
    /// plugin was doing (`"minting a key for role \"dev\": balena answered
    /// 429 (retry after 5s)"`), with the status `Error::from` gives: a
    /// plugin that adds context keeps the 429, the 504 or the 400 its user
    /// should see, instead of turning every failure into a 502.
    pub fn context(self, doing: impl fmt::Display) -> Error {
        let message = format!("{doing}: {self}");
        self.into_error(message)
    }

    fn into_error(self, message: String) -> Error {
        match self.kind {
            UpstreamErrorKind::Status {
                status: 400 | 422, ..
            }
            | UpstreamErrorKind::Settings(_) => Error::BadRequest(message),
            UpstreamErrorKind::Status {
                status: status @ (404 | 409 | 429),
                ..
            } => Error::coded(status, message),
            UpstreamErrorKind::Timeout(_) => Error::coded(504, message),
            UpstreamErrorKind::Request(_) => Error::Internal(message),
            _ => Error::Upstream(message),
        }
    }
}

impl From<UpstreamError> for Error {
    fn from(err: UpstreamError) -> Self {
        let message = err.to_string();
        err.into_error(message)
    }
}

/// At most [`EXCERPT_CHARS`] characters of `body`, on one line, with every
/// one of `secrets` replaced by `[redacted]`.
pub fn excerpt(body: &str, secrets: &[&str]) -> String {
    let mut text = body.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

/// The kind of a failure below HTTP (no answer): `err` is the error of a
/// call to `address` (`host:port`, possibly "... through proxy ...").
pub(crate) fn transport_kind(
    err: &(dyn StdError + 'static),
    is_timeout: bool,
    is_connect: bool,
    address: String,
    timeout: Duration,
) -> UpstreamErrorKind {
    if let Some(kind) = find::<UpstreamError>(err).map(|e| e.kind.clone()) {
        return kind;
    }
    if is_timeout {
        return UpstreamErrorKind::Timeout(timeout);
    }
    if let Some(tls) = find::<rustls::Error>(err) {
        return UpstreamErrorKind::Tls {
            address,
            reason: tls_reason(tls),
        };
    }
    let reason = root_cause(err);
    if is_connect {
        UpstreamErrorKind::Unreachable { address, reason }
    } else {
        UpstreamErrorKind::Broken { address, reason }
    }
}

/// The first `T` in `err`'s chain, also inside `std::io::Error`s (whose
/// `source` skips the error they wrap).
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        let wrapped = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| {
                let inner: &(dyn StdError + 'static) = inner;
                find::<T>(inner)
            });
        if wrapped.is_some() {
            return wrapped;
        }
        next = current.source();
    }
    None
}

/// The innermost cause's text ("Connection refused (os error 111)").
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// What an operator should read about a failed handshake.
fn tls_reason(err: &rustls::Error) -> String {
    const SET_CA: &str = "set ca_cert to the PEM of the CA that issued the upstream's \
                          certificate (or insecure_skip_tls_verify=true, for tests only)";
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("certificate not trusted (unknown issuer); {SET_CA}")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the certificate is not valid for this host name".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the certificate has expired".to_owned()
            }
            other => format!("certificate refused ({other:?})"),
        },
        rustls::Error::InvalidMessage(_) => {
            "the server does not speak TLS there (should the URL start with http://?)".to_owned()
        }
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the handshake ({alert:?})")
        }
        other => other.to_string(),
    }
}

impl Refusal for UpstreamError {
    /// Whether the upstream refused the call (4xx), so it certainly changed
    /// nothing there.
    fn is_refusal(&self) -> bool {
        self.http_status().is_some_and(|s| (400..500).contains(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &str) -> UpstreamError {
        UpstreamError::status("Proxmox", status, body, &["s3cret"])
    }

    #[test]
    fn each_failure_gets_its_status_and_a_message_naming_the_upstream() {
        let secs = Duration::from_secs(30);
        let reached = |kind| UpstreamError::new("Proxmox", kind);
        let cases: Vec<(UpstreamError, u16, &str)> = vec![
            (
                answered(400, "bad vmid"),
                400,
                "Proxmox answered 400: bad vmid",
            ),
            (answered(422, ""), 400, "Proxmox answered 422"),
            (
                answered(401, "token s3cret refused"),
                502,
                "Proxmox answered 401: token [redacted] refused",
            ),
            (
                answered(403, "no Sys.Audit"),
                502,
                "Proxmox answered 403: no Sys.Audit",
            ),
            (answered(404, ""), 404, "Proxmox answered 404"),
            (answered(409, "exists"), 409, "Proxmox answered 409: exists"),
            (
                answered(429, "").with_retry_after(Some(Duration::from_secs(7))),
                429,
                "Proxmox answered 429 (retry after 7s)",
            ),
            (answered(500, "oops"), 502, "Proxmox answered 500: oops"),
            (answered(503, ""), 502, "Proxmox answered 503"),
            (answered(418, ""), 502, "Proxmox answered 418"),
            (
                reached(UpstreamErrorKind::Timeout(secs)),
                504,
                "Proxmox did not answer within 30s",
            ),
            (
                reached(UpstreamErrorKind::Unreachable {
                    address: "pve:8006".into(),
                    reason: "Connection refused (os error 111)".into(),
                }),
                502,
                "could not reach Proxmox at pve:8006: Connection refused (os error 111)",
            ),
            (
                reached(UpstreamErrorKind::Tls {
                    address: "pve:8006".into(),
                    reason: tls_reason(&rustls::Error::InvalidCertificate(
                        CertificateError::UnknownIssuer,
                    )),
                }),
                502,
                "TLS with Proxmox at pve:8006 failed: certificate not trusted (unknown issuer); set ca_cert",
            ),
            (
                UpstreamError::unexpected("Proxmox", "no data field"),
                502,
                "Proxmox answered unexpectedly: no data field",
            ),
            (
                reached(UpstreamErrorKind::Settings(
                    "ca_cert is not valid PEM".into(),
                )),
                400,
                "ca_cert is not valid PEM",
            ),
        ];
        for (err, status, message) in cases {
            let text = err.to_string();
            let converted = Error::from(err);
            assert_eq!(converted.status(), status, "{text}");
            assert!(
                converted.to_string().starts_with(message),
                "{converted} / {message}"
            );
            assert!(!converted.to_string().contains("s3cret"), "{converted}");
        }
    }

    #[test]
    fn context_leads_the_message_and_keeps_the_status() {
        let timeout =
            UpstreamError::new("balena", UpstreamErrorKind::Timeout(Duration::from_secs(2)));
        let cases = [
            (
                answered(429, "").with_retry_after(Some(Duration::from_secs(5))),
                429,
                "minting: Proxmox answered 429 (retry after 5s)",
            ),
            (
                answered(400, "bad vmid"),
                400,
                "minting: Proxmox answered 400: bad vmid",
            ),
            (answered(503, ""), 502, "minting: Proxmox answered 503"),
            (timeout, 504, "minting: balena did not answer within 2s"),
        ];
        for (err, status, message) in cases {
            let err = err.context("minting");
            assert_eq!(
                (err.status(), err.to_string()),
                (status, message.to_owned())
            );
        }
    }

    #[test]
    fn status_helpers() {
        assert_eq!(answered(404, "").http_status(), Some(404));
        assert!(answered(409, "").is_refusal());
        assert!(!answered(503, "").is_refusal());
        assert!(answered(503, "").is_transient());
        assert!(answered(429, "").is_transient());
        assert!(!answered(500, "").is_transient());
        assert!(!answered(400, "").is_transient());
        let timeout = UpstreamError::new("X", UpstreamErrorKind::Timeout(Duration::from_secs(1)));
        assert!(timeout.is_transient() && timeout.http_status().is_none());
    }

    #[test]
    fn excerpts_are_short_one_line_and_redacted() {
        let body = format!("bad token s3cret\n{}", "x".repeat(500));
        let got = excerpt(&body, &["s3cret", ""]);
        assert!(got.starts_with("bad token [redacted] x"), "{got}");
        assert!(!got.contains('\n'));
        assert_eq!(got.chars().count(), EXCERPT_CHARS + 3);
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let kind = transport_kind(&io, false, true, "h:1".into(), Duration::from_secs(1));
        assert_eq!(
            kind,
            UpstreamErrorKind::Tls {
                address: "h:1".into(),
                reason: "the certificate has expired".into()
            }
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let kind = transport_kind(&refused, false, true, "h:1".into(), Duration::from_secs(1));
        assert!(
            matches!(kind, UpstreamErrorKind::Unreachable { .. }),
            "{kind:?}"
        );
    }
}
