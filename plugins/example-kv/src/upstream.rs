//! A client of the example's upstream: a small HTTP service that issues keys.
//!
//! The upstream stands for any provider API (balena, Proxmox...): it creates
//! a key and returns its secret once, lists keys without secrets, and
//! deletes keys by id. Its API:
//! * `POST /keys` `{"name", "expires_at"}` → `201 {"id", "name", "secret", "expires_at"}`
//! * `GET /keys?name=<name>` → `200 [{"id", "name", "expires_at"}]`
//! * `DELETE /keys/<id>` → `204`, or `404` when there is no such key
//!
//! Plain HTTP/1.1 over TCP keeps the example small; a real plugin would use
//! TLS.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use vault_plugin_sdk::{Error, Result};

/// A key as the upstream lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// The upstream's id of the key.
    pub id: String,
    /// The name the plugin gave it.
    pub name: String,
    /// When the upstream deletes it by itself (seconds since the epoch).
    #[serde(default)]
    pub expires_at: u64,
}

/// A key just created: the only time its secret is seen.
#[derive(Debug, Clone, Deserialize)]
pub struct NewKey {
    /// The key.
    #[serde(flatten)]
    pub key: Key,
    /// The secret the user authenticates with.
    pub secret: String,
}

/// The upstream at one base URL (`http://host:port`).
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: String,
    timeout: Duration,
}

impl Upstream {
    /// A client of the upstream at `url`; only `http://host:port` is accepted.
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        let authority = url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "upstream url {url:?} must look like http://host:port"
                ))
            })?;
        Ok(Self {
            authority: authority.to_owned(),
            timeout,
        })
    }

    /// Creates a key called `name` that the upstream deletes at `expires_at`.
    pub async fn create(&self, name: &str, expires_at: u64) -> Result<NewKey> {
        let body = serde_json::json!({ "name": name, "expires_at": expires_at });
        let (status, bytes) = self.call(Method::POST, "/keys", Some(body)).await?;
        match status {
            StatusCode::CREATED | StatusCode::OK => decode(&bytes),
            other => Err(upstream_error("creating a key", other)),
        }
    }

    /// The keys called `name`.
    pub async fn find(&self, name: &str) -> Result<Vec<Key>> {
        let path = format!("/keys?name={}", encode(name));
        let (status, bytes) = self.call(Method::GET, &path, None).await?;
        match status {
            StatusCode::OK => decode(&bytes),
            other => Err(upstream_error("listing keys", other)),
        }
    }

    /// Deletes key `id`; a key that is already gone counts as deleted.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!("/keys/{}", encode(id));
        let (status, _) = self.call(Method::DELETE, &path, None).await?;
        match status {
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            other => Err(upstream_error("deleting a key", other)),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes)> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| {
                Error::Upstream(format!(
                    "the upstream at {} did not answer within {:?}",
                    self.authority, self.timeout
                ))
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes)> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Error::Upstream(format!("upstream {}: {e}", self.authority))
        };
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| Error::internal(format!("building an upstream request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok((status, body))
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Upstream(format!("the upstream answered with unexpected JSON: {e}")))
}

fn upstream_error(what: &str, status: StatusCode) -> Error {
    Error::Upstream(format!("{what} failed: the upstream answered {status}"))
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        let cases = [
            ("http://127.0.0.1:8080", Some("127.0.0.1:8080")),
            ("http://localhost:1/", Some("localhost:1")),
            ("https://example.com", None),
            ("http://", None),
            ("http://h:1/path", None),
        ];
        for (url, want) in cases {
            let got = Upstream::new(url, Duration::from_secs(1)).ok();
            assert_eq!(got.map(|u| u.authority).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("key-1.x"), "key-1.x");
    }
}
