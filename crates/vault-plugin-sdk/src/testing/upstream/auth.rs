//! The `Authorization` header: reading it in a responder, and matchers that
//! let a route answer only the right credentials.
//!
//! Upstreams spell the header differently: `Bearer <token>` (RFC 6750; the
//! scheme is case-insensitive), Proxmox's `PVEAPIToken=<user>@<realm>!<id>=<secret>`
//! (the scheme joined by `=`), `Basic <base64>`. [`credentials`] reads any of
//! them given the scheme; [`authorization_is`] matches them.

use wiremock::{Match, Request};

/// The `Authorization` header's value, if there is one that is text.
pub fn authorization(req: &Request) -> Option<&str> {
    req.headers.get("authorization")?.to_str().ok()
}

/// The credentials of an `Authorization: <scheme> <credentials>` (or
/// `<scheme>=<credentials>`) header, the scheme compared in any case; `None`
/// for another scheme or no header.
///
/// `credentials(req, "PVEAPIToken")` of `PVEAPIToken=ci@pve!t1=s3cret` is
/// `Some("ci@pve!t1=s3cret")`.
pub fn credentials<'r>(req: &'r Request, scheme: &str) -> Option<&'r str> {
    split_credentials(authorization(req)?, scheme)
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(req: &Request) -> Option<&str> {
    credentials(req, "Bearer")
}

fn split_credentials<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let value = value.trim();
    let head = value.get(..scheme.len())?;
    let rest = value.get(scheme.len()..)?;
    if !head.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let credentials = rest
        .strip_prefix(' ')
        .or_else(|| rest.strip_prefix('='))?
        .trim();
    (!credentials.is_empty()).then_some(credentials)
}

/// A matcher: the request's `Authorization` header has this scheme (in any
/// case) and exactly these credentials. Made by [`authorization_is`] or
/// [`bearer_is`].
///
/// A request that does not match falls through to the next route, and to
/// wiremock's 404 if none is left: mount a catch-all route with a lower
/// priority (a higher number, e.g. `.with_priority(10)`) to answer 401 instead.
#[derive(Debug, Clone)]
pub struct AuthorizationMatcher {
    scheme: String,
    credentials: String,
}

impl Match for AuthorizationMatcher {
    fn matches(&self, req: &Request) -> bool {
        credentials(req, &self.scheme) == Some(self.credentials.as_str())
    }
}

/// Matches `Authorization: <scheme> <credentials>` or
/// `<scheme>=<credentials>`, e.g.
/// `authorization_is("PVEAPIToken", "ci@pve!t1=s3cret")`.
pub fn authorization_is(
    scheme: impl Into<String>,
    credentials: impl Into<String>,
) -> AuthorizationMatcher {
    AuthorizationMatcher {
        scheme: scheme.into(),
        credentials: credentials.into(),
    }
}

/// Matches `Authorization: Bearer <token>` (the scheme in any case).
pub fn bearer_is(token: impl Into<String>) -> AuthorizationMatcher {
    authorization_is("Bearer", token)
}

#[cfg(test)]
mod tests {
    use super::split_credentials;

    #[test]
    fn credentials_follow_their_scheme_in_any_case_after_a_space_or_an_equals_sign() {
        let of = |value| split_credentials(value, "Bearer");
        assert_eq!(of("Bearer abc"), Some("abc"));
        assert_eq!(of("bearer  abc "), Some("abc"));
        assert_eq!(of("BEARER abc"), Some("abc"));
        assert_eq!(of("Basic YTpi"), None);
        assert_eq!(of("Bearer"), None);
        assert_eq!(of("Bearer "), None);
        assert_eq!(of("Bearerabc"), None);
        assert_eq!(
            split_credentials("PVEAPIToken=ci@pve!t1=s3cret", "PVEAPIToken"),
            Some("ci@pve!t1=s3cret")
        );
        assert_eq!(split_credentials("é", "Bearer"), None);
    }
}
