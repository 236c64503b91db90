//! The balena API client: the few calls the plugin makes, and their errors.
//!
//! Every call goes to the configured base URL (balena-cloud, or a self-hosted
//! openBalena, optionally below a path prefix) with the role's session token
//! as `Authorization: Bearer`. The calls:
//!
//! | purpose | call | answer used |
//! |---|---|---|
//! | check a token | `GET /user/v1/whoami` | `{id, username}` |
//! | log in | `POST /login_` `{username, password}` | the new session token (text) |
//! | refresh a session | `POST /user/v1/refresh-token` (`{password}` for a fresh `authTime`) | the new session token (text) |
//! | mint a key | `POST /api-key/user/full` `{name, description, expiryDate}` | the key, as a JSON string |
//! | find a key | `GET /v7/api_key?$select=id,name&$filter=name eq '<name>'` | `{"d": [{id, name}]}` |
//! | delete a key | `DELETE /v7/api_key(<id>)` | status only; 404 means already gone |
//!
//! The HTTP stack suits the static release binary: names are resolved by
//! hickory (a Rust resolver reading `/etc/hosts` and `/etc/resolv.conf`),
//! never by glibc's `getaddrinfo`, and TLS is rustls with the ring provider,
//! trusting the system's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured)
//! plus the optional `ca_cert` of the config. Redirects are not followed, so
//! the session token is only ever sent to the configured host.
//!
//! Errors ([`ApiError`]) carry the upstream status and at most a short,
//! redacted excerpt of the answer; never a token or a password.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Method, RequestBuilder, StatusCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use serde_json::json;

/// The body balena sends with a 401 when a call needs a session whose
/// password authentication is recent (open-balena-api's sudo rule).
const FRESH_AUTH: &str = "Fresh authentication token required";

/// How much of an unexpected upstream answer an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// Why a balena call failed. The display form is safe to show and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401 "Fresh authentication token required": the session is valid but
    /// its password login is too old for this call.
    FreshAuthRequired,
    /// 401 otherwise: the token (or the password) was refused.
    Unauthorized,
    /// Any other answer outside 2xx.
    Status {
        /// The HTTP status.
        status: u16,
        /// A short, redacted excerpt of the answer.
        detail: String,
    },
    /// balena did not answer within the configured timeout.
    Timeout(Duration),
    /// The call did not reach balena, or the connection broke.
    Transport(String),
    /// A 2xx answer whose body was not what the API documents.
    Unexpected(String),
}

impl ApiError {
    /// Whether balena answered with a refusal (4xx), so the call certainly
    /// changed nothing upstream.
    pub fn is_refusal(&self) -> bool {
        match self {
            ApiError::FreshAuthRequired | ApiError::Unauthorized => true,
            ApiError::Status { status, .. } => (400..500).contains(status),
            _ => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::FreshAuthRequired => {
                write!(f, "balena answered 401: \"{FRESH_AUTH}\"")
            }
            ApiError::Unauthorized => f.write_str("balena answered 401"),
            ApiError::Status { status, detail } if detail.is_empty() => {
                write!(f, "balena answered {status}")
            }
            ApiError::Status { status, detail } => write!(f, "balena answered {status}: {detail}"),
            ApiError::Timeout(after) => {
                write!(f, "balena did not answer within {}s", after.as_secs())
            }
            ApiError::Transport(why) => write!(f, "could not reach balena: {why}"),
            ApiError::Unexpected(why) => write!(f, "balena answered unexpectedly: {why}"),
        }
    }
}

/// The user a session token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WhoAmI {
    /// balena's numeric user id.
    pub id: u64,
    /// The user's name.
    #[serde(default)]
    pub username: String,
}

/// An API key as `GET /v7/api_key` lists it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyRef {
    /// balena's numeric key id.
    pub id: u64,
    /// The key's name.
    #[serde(default)]
    pub name: String,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The key existed and is deleted now.
    Now,
    /// balena had no such key (404): deleted earlier, or expired.
    AlreadyGone,
}

/// A client of one balena API.
#[derive(Debug, Clone)]
pub struct Balena {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl Balena {
    /// A client of the API at `base` (a URL checked by [`normalize_url`]),
    /// over `http` (see [`http_client`]), whose calls time out after `timeout`.
    pub fn new(http: reqwest::Client, base: &str, timeout: Duration) -> Balena {
        Balena {
            http,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// The user `token` belongs to; `Unauthorized` for a dead token.
    pub async fn whoami(&self, token: &str) -> Result<WhoAmI, ApiError> {
        let req = self.request(Method::GET, "/user/v1/whoami", Some(token));
        let body = self.send(req, &[token]).await?;
        serde_json::from_str(&body)
            .map_err(|e| ApiError::Unexpected(format!("whoami is not {{id, username}}: {e}")))
    }

    /// Logs in with a password; returns a session token with a fresh `authTime`.
    pub async fn login(&self, username: &str, password: &str) -> Result<String, ApiError> {
        let req = self
            .request(Method::POST, "/login_", None)
            .json(&json!({ "username": username, "password": password }));
        let body = self.send(req, &[password]).await?;
        token_text(&body)
    }

    /// A new session token for `token`; with the user's `password` its
    /// `authTime` is reset to now, without it the old one is kept.
    pub async fn refresh_token(
        &self,
        token: &str,
        password: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut req = self.request(Method::POST, "/user/v1/refresh-token", Some(token));
        let mut secrets = vec![token];
        if let Some(password) = password {
            req = req.json(&json!({ "password": password }));
            secrets.push(password);
        }
        let body = self.send(req, &secrets).await?;
        token_text(&body)
    }

    /// Mints an API key of the token's user, named `name`, that balena
    /// deletes by itself at `expires_at`; returns the key.
    pub async fn create_key(
        &self,
        token: &str,
        name: &str,
        description: &str,
        expires_at: SystemTime,
    ) -> Result<String, ApiError> {
        let req = self
            .request(Method::POST, "/api-key/user/full", Some(token))
            .json(&json!({
                "name": name,
                "description": description,
                "expiryDate": format_time(expires_at, true),
            }));
        let body = self.send(req, &[token]).await?;
        let key = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(serde_json::Value::String(key)) => key,
            _ => {
                return Err(ApiError::Unexpected(
                    "the new key is not a JSON string".to_owned(),
                ));
            }
        };
        if key.is_empty() {
            return Err(ApiError::Unexpected("the new key is empty".to_owned()));
        }
        Ok(key)
    }

    /// The keys named exactly `name` that the token's user can see.
    pub async fn find_keys(&self, token: &str, name: &str) -> Result<Vec<KeyRef>, ApiError> {
        let filter = format!("name eq {}", odata_quote(name));
        let path = format!(
            "/v7/api_key?$select=id,name&$filter={}",
            percent_encode(&filter)
        );
        let req = self.request(Method::GET, &path, Some(token));
        let body = self.send(req, &[token]).await?;
        #[derive(Deserialize)]
        struct Listing {
            d: Vec<KeyRef>,
        }
        let listing: Listing = serde_json::from_str(&body).map_err(|e| {
            ApiError::Unexpected(format!("the key listing is not {{\"d\": [...]}}: {e}"))
        })?;
        // The filter is the server's; keep only exact matches all the same.
        Ok(listing.d.into_iter().filter(|k| k.name == name).collect())
    }

    /// Deletes key `id`.
    pub async fn delete_key(&self, token: &str, id: u64) -> Result<Deleted, ApiError> {
        let req = self.request(Method::DELETE, &format!("/v7/api_key({id})"), Some(token));
        match self.send(req, &[token]).await {
            Ok(_) => Ok(Deleted::Now),
            Err(ApiError::Status { status: 404, .. }) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends `req`; a 2xx answer gives its body. `secrets` are what the
    /// request carried, redacted from any excerpt of the answer.
    async fn send(&self, req: RequestBuilder, secrets: &[&str]) -> Result<String, ApiError> {
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| self.transport(&e))?;
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(if body.contains(FRESH_AUTH) {
                ApiError::FreshAuthRequired
            } else {
                ApiError::Unauthorized
            });
        }
        Err(ApiError::Status {
            status: status.as_u16(),
            detail: excerpt(&body, secrets),
        })
    }

    fn transport(&self, err: &reqwest::Error) -> ApiError {
        if err.is_timeout() {
            return ApiError::Timeout(self.timeout);
        }
        // reqwest's own text is terse ("error sending request for url");
        // the causes say what happened ("Connection refused").
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        ApiError::Transport(text)
    }
}

/// A session token from a text/plain answer (tolerating a JSON string).
fn token_text(body: &str) -> Result<String, ApiError> {
    let text = body.trim();
    let token = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => s,
        _ => text.to_owned(),
    };
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::Unexpected(
            "the answer is not a session token".to_owned(),
        ));
    }
    Ok(token)
}

/// At most [`EXCERPT_CHARS`] characters of an answer, on one line, with
/// every secret the request carried replaced.
fn excerpt(body: &str, secrets: &[&str]) -> String {
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

/// An OData string literal: `'` doubled inside single quotes.
pub fn odata_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks a base URL: `http(s)://host[:port][/path]`, without credentials,
/// query or fragment. Returns it without a trailing slash. The error does
/// not repeat the URL (it might hold credentials).
pub fn normalize_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        format!("url is not a valid URL ({e}); expected https://host[:port][/path]")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must start with https:// or http://".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not contain credentials; the roles hold them".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("url must not have a query or a fragment".to_owned());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The certificates of a PEM text; an error unless it holds at least one.
pub fn parse_ca_cert(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_cert is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("ca_cert holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certs)
}

/// The HTTP client for calls to balena: hickory for names, rustls with
/// ring, the system's roots plus `ca_cert`, no redirects, `timeout` per call.
///
/// A machine without system roots can still use plain `http://` (or
/// `ca_cert`); `https_needed` makes their absence an error instead.
pub fn http_client(
    timeout: Duration,
    ca_cert: Option<&str>,
    https_needed: bool,
) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra_roots = match ca_cert {
        Some(pem) => parse_ca_cert(pem)?,
        None => Vec::new(),
    };
    let verifier: Arc<dyn ServerCertVerifier> =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots,
            provider.clone(),
        ) {
            Ok(verifier) => Arc::new(verifier),
            Err(e) if https_needed => {
                return Err(format!(
                    "no CA certificates to check balena's TLS certificate with ({e}); \
                     install the system's CA bundle or set ca_cert"
                ));
            }
            Err(_) => Arc::new(NoTrust),
        };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "vault-plugin-secrets-balena/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| format!("building the HTTP client failed: {e}"))
}

/// A verifier that trusts nothing: the TLS setup of a client that only
/// speaks plain HTTP on a machine without CA certificates.
#[derive(Debug)]
struct NoTrust;

impl ServerCertVerifier for NoTrust {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(
            "no CA certificates are available on this system; set ca_cert".to_owned(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted certificates".to_owned()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted certificates".to_owned()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A time in UTC as `YYYY-MM-DDTHH:MM:SSZ`, or with `millis` as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (the form balena's `expiryDate` takes). Both
/// are RFC 3339.
pub fn format_time(time: SystemTime, millis: bool) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    if millis {
        let ms = since.subsec_millis();
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

/// The proleptic Gregorian date of `days` after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        let at = |secs: u64, ms: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
        };
        assert_eq!(format_time(at(0, 0), true), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time(at(951_782_400, 7), true),
            "2000-02-29T00:00:00.007Z"
        );
        assert_eq!(
            format_time(at(1_767_225_599, 999), false),
            "2025-12-31T23:59:59Z"
        );
        assert_eq!(
            format_time(at(4_107_542_400, 0), false),
            "2100-03-01T00:00:00Z"
        );
    }

    #[test]
    fn key_names_are_quoted_for_odata_and_percent_encoded() {
        assert_eq!(odata_quote("it's"), "'it''s'");
        assert_eq!(
            percent_encode(&format!("name eq {}", odata_quote("a&b'c"))),
            "name%20eq%20%27a%26b%27%27c%27"
        );
        assert_eq!(percent_encode("vault-dev_1.x~"), "vault-dev_1.x~");
    }

    #[test]
    fn url_table() {
        let cases = [
            (
                "https://api.balena-cloud.com",
                Ok("https://api.balena-cloud.com"),
            ),
            (
                "https://api.balena-cloud.com/",
                Ok("https://api.balena-cloud.com"),
            ),
            ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
            (
                "https://bal.example:8443/api/",
                Ok("https://bal.example:8443/api"),
            ),
            ("ftp://x", Err("https://")),
            ("api.balena-cloud.com", Err("not a valid URL")),
            ("https://u:p@host", Err("credentials")),
            ("https://host/?a=1", Err("query")),
            ("https://host/#x", Err("fragment")),
            ("", Err("not a valid URL")),
        ];
        for (input, want) in cases {
            match (normalize_url(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(got), Err(frag)) => {
                    assert!(got.contains(frag), "{input}: {got}");
                    assert!(!got.contains("u:p"), "{got}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
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
    fn session_tokens_are_read_from_text_or_a_json_string() {
        assert_eq!(token_text(" a.b.c\n").as_deref(), Ok("a.b.c"));
        assert_eq!(token_text("\"a.b.c\"").as_deref(), Ok("a.b.c"));
        assert!(token_text("").is_err());
        assert!(token_text("<html> oops </html>").is_err());
    }

    #[test]
    fn ca_cert_must_hold_a_certificate() {
        assert!(
            parse_ca_cert("hello")
                .unwrap_err()
                .contains("no PEM certificate")
        );
        let garbled = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(parse_ca_cert(garbled).is_err());
    }

    #[test]
    fn refusals_are_the_4xx_answers() {
        assert!(ApiError::Unauthorized.is_refusal());
        assert!(ApiError::FreshAuthRequired.is_refusal());
        let status = |status| ApiError::Status {
            status,
            detail: String::new(),
        };
        assert!(status(400).is_refusal());
        assert!(!status(503).is_refusal());
        assert!(!ApiError::Timeout(Duration::from_secs(1)).is_refusal());
        assert_eq!(status(503).to_string(), "balena answered 503");
    }
}
