//! The HTTP client of one upstream API, built from its display name, its
//! base URL and the [`UpstreamSettings`].
//!
//! What every plugin needs and none should write again: names resolved by
//! hickory (never glibc's `getaddrinfo`, so the static binary needs no NSS),
//! TLS by rustls with ring ([`tls`](super::tls)), the proxy and the extra
//! headers of the settings, no redirects (credentials only ever go to the
//! configured host), a per-call timeout, a User-Agent naming the plugin, and
//! failures turned into [`UpstreamError`]s.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::transport_kind;
use super::retry::parse_retry_after;
use super::{Retry, UpstreamError, UpstreamErrorKind, UpstreamSettings, tls};

/// The User-Agent of the calling crate: `vault-plugin-<package>/<version>`,
/// e.g. `vault-plugin-secrets-balena/0.1.0`.
#[macro_export]
macro_rules! user_agent {
    () => {
        concat!(
            "vault-plugin-",
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        )
    };
}

/// A client of one upstream API. Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn demo() -> vault_plugin_sdk::Result<()> {
/// use vault_plugin_sdk::upstream::{UpstreamClient, UpstreamSettings};
///
/// let settings = UpstreamSettings::default();
/// let pve = UpstreamClient::new("Proxmox", "https://pve.example:8006/api2/json", &settings)?;
/// let version: serde_json::Value = pve.get("/version").send().await?.json()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    base: String,
    http: reqwest::Client,
    timeout: Duration,
    retry: Option<Retry>,
    /// `host:port` of the base URL, with the proxy if one is set.
    address: String,
    /// Values of the settings' extra headers: replaced in excerpts.
    header_values: Vec<String>,
}

/// Builds an [`UpstreamClient`]; see [`UpstreamClient::builder`].
#[derive(Debug)]
pub struct UpstreamClientBuilder<'a> {
    name: &'a str,
    base_url: &'a str,
    settings: &'a UpstreamSettings,
    user_agent: String,
    retry: Option<Retry>,
}

impl UpstreamClientBuilder<'_> {
    /// The User-Agent header, usually [`user_agent!()`](crate::user_agent)
    /// (default `vault-plugin-sdk/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Retries failed idempotent calls (GET, HEAD, OPTIONS, DELETE, and
    /// requests marked [`idempotent`](UpstreamRequest::idempotent)) by
    /// `policy`; none by default.
    pub fn retry(mut self, policy: Retry) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The client; a [`Settings`](UpstreamErrorKind::Settings) error (a
    /// 400) when the base URL, `ca_cert`, the proxy or a header is unusable.
    pub fn build(self) -> Result<UpstreamClient, UpstreamError> {
        let name = self.name;
        let bad = |why: String| UpstreamError::new(name, UpstreamErrorKind::Settings(why));
        let base = Url::parse(self.base_url)
            .map_err(|e| bad(format!("the base URL of {name} is not a valid URL ({e})")))?;
        let settings = self.settings;
        let mut address = host_port(&base);
        let mut tls_needed = base.scheme() == "https";
        let mut http = reqwest::Client::builder();
        match settings.proxy_server.trim() {
            "" => {}
            proxy_url => {
                let proxy = proxy_url_checked(proxy_url).map_err(bad)?;
                tls_needed |= proxy.scheme() == "https";
                address = format!("{address} through proxy {}", host_port(&proxy));
                let proxy = reqwest::Proxy::all(proxy)
                    .map_err(|e| bad(format!("proxy_server is not usable: {e}")))?;
                http = http.proxy(proxy);
            }
        }
        let mut headers = HeaderMap::new();
        let mut header_values = Vec::new();
        for (header, value) in settings.http_headers.iter() {
            let invalid = || bad(format!("http_headers: header {header:?} is not valid"));
            let header_name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| invalid())?;
            let mut header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
            header_values.push(value.to_owned());
        }
        let tls = tls::client_config(name, settings, tls_needed, &[b"http/1.1"]).map_err(bad)?;
        let timeout = settings.timeout.get();
        let http = http
            .tls_backend_preconfigured(tls)
            .hickory_dns(true)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .default_headers(headers)
            .build()
            .map_err(|e| bad(format!("building the HTTP client of {name} failed: {e}")))?;
        Ok(UpstreamClient {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                base: base.as_str().trim_end_matches('/').to_owned(),
                http,
                timeout,
                retry: self.retry,
                address,
                header_values,
            }),
        })
    }
}

/// Checks a proxy URL: http(s), a host, nothing after it. The error never
/// repeats the URL (it may hold a password).
fn proxy_url_checked(text: &str) -> Result<Url, String> {
    const EXPECTED: &str = "expected http(s)://[user:password@]host:port";
    let url = Url::parse(text)
        .map_err(|e| format!("proxy_server is not a valid URL ({e}); {EXPECTED}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("proxy_server must be an HTTP(S) proxy: {EXPECTED}"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "proxy_server must not have a path, query or fragment: {EXPECTED}"
        ));
    }
    Ok(url)
}

/// `host:port` of `url`, with the scheme's port when none is written.
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

impl UpstreamClient {
    /// A client of the API of `name` (its display name in errors, e.g.
    /// "Proxmox") at `base_url` (checked by
    /// [`normalize_base_url`](super::normalize_base_url)), with the default
    /// User-Agent and no retries.
    pub fn new(
        name: &str,
        base_url: &str,
        settings: &UpstreamSettings,
    ) -> Result<Self, UpstreamError> {
        Self::builder(name, base_url, settings).build()
    }

    /// A builder, to set the User-Agent or a retry policy.
    pub fn builder<'a>(
        name: &'a str,
        base_url: &'a str,
        settings: &'a UpstreamSettings,
    ) -> UpstreamClientBuilder<'a> {
        UpstreamClientBuilder {
            name,
            base_url,
            settings,
            user_agent: concat!("vault-plugin-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: None,
        }
    }

    /// The upstream's display name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether `other` is a clone of this client (shares its connections).
    pub fn same_as(&self, other: &UpstreamClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// A request of `method` to the base URL followed by `path` (which
    /// starts with `/` and is already percent-encoded, see
    /// [`percent_encode`](super::percent_encode)).
    pub fn request(&self, method: Method, path: &str) -> UpstreamRequest {
        let inner = &self.inner;
        UpstreamRequest {
            client: self.clone(),
            builder: inner
                .http
                .request(method.clone(), format!("{}{path}", inner.base)),
            idempotent: matches!(
                method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
            ),
            retry: inner.retry,
            timeout: inner.timeout,
            secrets: inner.header_values.clone(),
        }
    }

    /// A GET of `path`.
    pub fn get(&self, path: &str) -> UpstreamRequest {
        self.request(Method::GET, path)
    }

    /// A POST to `path`.
    pub fn post(&self, path: &str) -> UpstreamRequest {
        self.request(Method::POST, path)
    }

    /// A PUT to `path`.
    pub fn put(&self, path: &str) -> UpstreamRequest {
        self.request(Method::PUT, path)
    }

    /// A DELETE of `path`.
    pub fn delete(&self, path: &str) -> UpstreamRequest {
        self.request(Method::DELETE, path)
    }
}

/// One call being prepared; [`send`](Self::send) makes it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UpstreamRequest {
    client: UpstreamClient,
    builder: reqwest::RequestBuilder,
    idempotent: bool,
    retry: Option<Retry>,
    timeout: Duration,
    secrets: Vec<String>,
}

impl UpstreamRequest {
    /// Adds a header. A value that is a credential belongs in
    /// [`secret_header`](Self::secret_header).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Adds a header whose value is a credential: marked sensitive, and
    /// replaced in any excerpt of the answer.
    pub fn secret_header(mut self, name: &str, value: &str) -> Self {
        self.builder = match HeaderValue::from_str(value) {
            Ok(mut header) => {
                header.set_sensitive(true);
                self.builder.header(name, header)
            }
            // Not a valid value: `send` reports it.
            Err(_) => self.builder.header(name, value),
        };
        self.secret(value)
    }

    /// `Authorization: Bearer <token>`, the token treated as a secret.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.secret_header("authorization", &format!("Bearer {token}"))
            .secret(token)
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// A form body (`application/x-www-form-urlencoded`) of `fields`, in
    /// order. A field holding a credential also belongs in
    /// [`secret`](Self::secret).
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.builder = self
            .builder
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self
    }

    /// A secret the request carries (e.g. a password in its body): replaced
    /// by `[redacted]` in any excerpt of the answer.
    pub fn secret(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            self.secrets.push(secret.to_owned());
        }
        self
    }

    /// A time limit for this call instead of the settings' timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.builder = self.builder.timeout(timeout);
        self.timeout = timeout;
        self
    }

    /// Retries this call by `policy` if it is idempotent (see
    /// [`idempotent`](Self::idempotent)).
    pub fn retry(mut self, policy: Retry) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Says this call may be repeated safely although its method is not
    /// idempotent (a POST that looks something up). Only then is a POST,
    /// PUT or PATCH retried.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Makes the call, retried if it may be. A 2xx answer is the
    /// response; any other answer, and no answer, is an [`UpstreamError`].
    pub async fn send(self) -> Result<UpstreamResponse, UpstreamError> {
        let client = &self.client.inner;
        let request = self.builder.build().map_err(|e| {
            UpstreamError::new(
                client.name.as_str(),
                UpstreamErrorKind::Request(e.without_url().to_string()),
            )
        })?;
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let timeout = self.timeout;
        // One try, with the time left of the call's limit.
        let once = |time_left: Duration| {
            let request = request.try_clone();
            let secrets = &secrets;
            async move {
                let Some(mut request) = request else {
                    return Err(UpstreamError::new(
                        client.name.as_str(),
                        UpstreamErrorKind::Request("the request body cannot be sent twice".into()),
                    ));
                };
                if time_left.is_zero() {
                    return Err(UpstreamError::new(
                        client.name.as_str(),
                        UpstreamErrorKind::Timeout(timeout),
                    ));
                }
                *request.timeout_mut() = Some(time_left);
                exchange(client, request, timeout, secrets).await
            }
        };
        match self.retry {
            Some(policy) if self.idempotent => policy.run(timeout, once).await,
            _ => once(timeout).await,
        }
    }
}

async fn exchange(
    client: &Inner,
    request: reqwest::Request,
    timeout: Duration,
    secrets: &[&str],
) -> Result<UpstreamResponse, UpstreamError> {
    let failed = |e: reqwest::Error| {
        let kind = transport_kind(
            &e,
            e.is_timeout(),
            e.is_connect(),
            client.address.clone(),
            timeout,
        );
        UpstreamError::new(client.name.as_str(), kind)
    };
    let response = client.http.execute(request).await.map_err(failed)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(failed)?;
    if !status.is_success() {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        return Err(
            UpstreamError::status(client.name.as_str(), status.as_u16(), &body, secrets)
                .with_retry_after(retry_after),
        );
    }
    Ok(UpstreamResponse {
        upstream: client.name.clone(),
        status: status.as_u16(),
        headers,
        body,
    })
}

/// A 2xx answer, read whole.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    upstream: String,
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl UpstreamResponse {
    /// The HTTP status (2xx).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        &self.body
    }

    /// The body, decoded as JSON into `T`; an
    /// [`Unexpected`](UpstreamErrorKind::Unexpected) error that does not
    /// quote the body when it does not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        serde_json::from_str(&self.body)
            .map_err(|e| UpstreamError::unexpected(self.upstream.as_str(), json_error(&e)))
    }
}

/// What is wrong with a JSON answer, without quoting it (a value in it may
/// be a secret): serde's "missing field" messages name only the field.
fn json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Data if err.to_string().starts_with("missing field") => {
            let text = err.to_string();
            let field = text.split(" at line").next().unwrap_or_default();
            return format!("the answer has no {}", field.trim_start_matches("missing "));
        }
        Category::Data => "has fields of other types than expected",
        Category::Syntax => "is not valid JSON",
        Category::Eof => "ends too early",
        Category::Io => "could not be read",
    };
    format!(
        "the answer {what} (line {}, column {})",
        err.line(),
        err.column()
    )
}
