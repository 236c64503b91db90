//! The connection settings every upstream client takes: one `#[derive(Fields)]`
//! block that a plugin's config flattens in, so `ca_cert`, `timeout`,
//! `proxy_server`... are spelled, decoded, documented and stored the same way
//! in every plugin.
//!
//! The base URL is not part of the block: each plugin names its own
//! (`url`, `proxmox_url`, `pachd_address`...) and passes it beside the
//! settings when it builds a client.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::Fields;
use crate::framework::fields::{FieldType, FieldValue};

/// How a plugin reaches its upstream: trust, time limit, proxy and extra
/// headers. Flatten it into the config's arguments and the stored config:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use vault_plugin_sdk::Fields;
/// use vault_plugin_sdk::upstream::UpstreamSettings;
///
/// #[derive(Fields, Serialize, Deserialize)]
/// struct Config {
///     /// Base URL of the API, e.g. https://pve.example:8006.
///     url: String,
///     #[field(flatten)]
///     #[serde(flatten)]
///     upstream: UpstreamSettings,
/// }
/// ```
///
/// Stored as JSON with the timeout in seconds; fields at their default are
/// left out, and a stored value without them reads as the defaults.
#[derive(Fields, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
#[fields(redact = Self::redact_stored)]
pub struct UpstreamSettings {
    /// PEM certificate(s) of a private CA to trust beside the system's roots;
    /// an empty value removes it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_cert: String,
    /// Do not check the upstream's TLS certificate at all (tests only: anyone
    /// on the way can then read and change every call).
    #[serde(skip_serializing_if = "is_false")]
    pub insecure_skip_tls_verify: bool,
    /// How long one call to the upstream may take, e.g. "2m" or 120; at
    /// least 1s.
    #[field(default = "30s", alias = "request_timeout")]
    #[serde(alias = "request_timeout")]
    pub timeout: Timeout,
    /// URL of an HTTP(S) proxy every call goes through, as
    /// http(s)://host:port, with user:password@ before the host if it needs
    /// a login; empty for none (then the HTTPS_PROXY, HTTP_PROXY and
    /// NO_PROXY environment of the plugin applies).
    #[field(alias = "proxy", sensitive)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_server: String,
    /// Extra headers sent with every call: Name,value,Name2,value2 or a JSON
    /// object; empty removes them.
    #[field(sensitive)]
    #[serde(skip_serializing_if = "HttpHeaders::is_empty")]
    pub http_headers: HttpHeaders,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            ca_cert: String::new(),
            insecure_skip_tls_verify: false,
            timeout: Timeout::DEFAULT,
            proxy_server: String::new(),
            http_headers: HttpHeaders::default(),
        }
    }
}

impl UpstreamSettings {
    /// What a config read may show of the settings: whether a CA is set
    /// (not the PEM), the timeout in seconds, the proxy without its
    /// credentials, and the names of the extra headers (their values may be
    /// credentials).
    pub fn read_data(&self) -> Map<String, Value> {
        let shown = json!({
            "has_ca_cert": !self.ca_cert.trim().is_empty(),
            "insecure_skip_tls_verify": self.insecure_skip_tls_verify,
            "timeout": self.timeout.get().as_secs(),
            "proxy_server": proxy_without_credentials(&self.proxy_server),
            "http_headers": self.http_headers.names().collect::<Vec<_>>(),
        });
        match shown {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// A stored config's read: its settings as [`read_data`](Self::read_data)
    /// shows them (the derive's `Fields::redact`).
    fn redact_stored(&self, data: &mut Map<String, Value>) {
        data.remove("ca_cert");
        data.extend(self.read_data());
    }
}

/// `url` with any user name and password removed; the empty text when it
/// does not parse (it is then never used either).
fn proxy_without_credentials(url: &str) -> String {
    if url.trim().is_empty() {
        return String::new();
    }
    match reqwest::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => String::new(),
    }
}

/// The longest one upstream call may take: at least one second.
///
/// Decoded like any duration field (`120`, `"2m"`), refusing zero with a
/// 400 that names the field as sent; stored as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout(Duration);

impl Timeout {
    /// 30 seconds, the default of [`UpstreamSettings::timeout`].
    pub const DEFAULT: Timeout = Timeout(Duration::from_secs(30));

    /// A timeout of `duration`; `None` below one second.
    pub fn new(duration: Duration) -> Option<Timeout> {
        (duration >= Duration::from_secs(1)).then_some(Timeout(duration))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl Default for Timeout {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

impl FieldValue for Timeout {
    const KIND: FieldType = FieldType::DurationSecond;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        let duration = Duration::from_canonical(kind, value)?;
        Timeout::new(duration).ok_or_else(|| "must be at least 1s".to_owned())
    }

    fn absent() -> Option<Self> {
        Some(Timeout::DEFAULT)
    }
}

impl Serialize for Timeout {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0.as_secs())
    }
}

/// Reads whole seconds; a stored zero reads as the default.
impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secs = u64::deserialize(deserializer)?;
        Ok(Timeout::new(Duration::from_secs(secs)).unwrap_or_default())
    }
}

/// Extra headers for every call, by lowercase name.
///
/// Decoded from `Name,value,Name2,value2` (what `bao write ...
/// http_headers=X-A,1,X-B,2` sends), a list of names and values, or a JSON
/// object `{"X-A": "1"}` (also as text). Names and values are checked as
/// HTTP allows; an error never repeats a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpHeaders(BTreeMap<String, String>);

impl HttpHeaders {
    /// Headers from `(name, value)` pairs; an error for a name or value
    /// HTTP does not allow.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<HttpHeaders, String> {
        let mut headers = BTreeMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_ref().trim().as_bytes())
                .map_err(|_| format!("{:?} is not a valid header name", name.as_ref()))?;
            let value = value.as_ref().trim();
            HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header {name} is not a valid header value"))?;
            headers.insert(name.as_str().to_owned(), value.to_owned());
        }
        Ok(HttpHeaders(headers))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, lowercase, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The `(name, value)` pairs, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

const HEADERS_EXPECTED: &str = "expected Name,value pairs (Name,value,Name2,value2), a list of \
                                names and values, or a JSON object of names and values";

/// Declared as a list (`Slice`), so a text, a list and an object all arrive.
impl FieldValue for HttpHeaders {
    const KIND: FieldType = FieldType::Slice;

    fn from_canonical(kind: FieldType, value: Value) -> Result<Self, String> {
        let items = match (kind, value) {
            (FieldType::Slice, Value::Array(items)) => items,
            _ => return Err(format!("a {kind} field cannot be read as headers")),
        };
        match items.as_slice() {
            [] => Ok(HttpHeaders::default()),
            [Value::Object(object)] => object_pairs(object),
            [Value::String(text)] => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => object_pairs(&object),
                _ => alternating(text.split(',').map(str::to_owned).collect()),
            },
            items => alternating(
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err(HEADERS_EXPECTED.to_owned()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        }
    }

    fn absent() -> Option<Self> {
        Some(HttpHeaders::default())
    }
}

fn object_pairs(object: &Map<String, Value>) -> Result<HttpHeaders, String> {
    let pairs = object
        .iter()
        .map(|(name, value)| match value {
            Value::String(s) => Ok((name.clone(), s.clone())),
            Value::Number(n) => Ok((name.clone(), n.to_string())),
            _ => Err(HEADERS_EXPECTED.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    HttpHeaders::from_pairs(pairs)
}

/// `[name, value, name2, value2...]`; blank items are dropped first, so
/// `""` and `"X-A,1,"` work.
fn alternating(items: Vec<String>) -> Result<HttpHeaders, String> {
    let items: Vec<String> = items.into_iter().filter(|i| !i.trim().is_empty()).collect();
    if !items.len().is_multiple_of(2) {
        return Err(HEADERS_EXPECTED.to_owned());
    }
    HttpHeaders::from_pairs(items.chunks(2).map(|pair| (&pair[0], &pair[1])))
}
