//! A client of the example's upstream: a small HTTP service that issues keys.
//!
//! The upstream stands for any provider API (balena, Proxmox...): it creates
//! a key and returns its secret once, lists keys without secrets, and
//! deletes keys by id. Its API:
//! * `POST /keys` `{"name", "expires_at"}` → `201 {"id", "name", "secret", "expires_at"}`
//! * `GET /keys?name=<name>` → `200 [{"id", "name", "expires_at"}]`
//! * `DELETE /keys/<id>` → `204`, or `404` when there is no such key
//!
//! The HTTP side (TLS, timeout, proxy, extra headers, errors naming the
//! upstream and its status) is the SDK's [`UpstreamClient`], built from the
//! config's settings; this module only knows the three calls.

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::upstream::{UpstreamClient, UpstreamError, percent_encode};

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

/// The upstream behind one client.
#[derive(Debug, Clone)]
pub struct Upstream {
    http: UpstreamClient,
}

impl Upstream {
    /// The key service's calls over `http`, a client of its base URL.
    pub fn new(http: UpstreamClient) -> Self {
        Self { http }
    }

    /// Creates a key called `name` that the upstream deletes at `expires_at`.
    pub async fn create(&self, name: &str, expires_at: u64) -> Result<NewKey, UpstreamError> {
        let body = serde_json::json!({ "name": name, "expires_at": expires_at });
        self.http.post("/keys").json(&body).send().await?.json()
    }

    /// The keys called `name`.
    pub async fn find(&self, name: &str) -> Result<Vec<Key>, UpstreamError> {
        let path = format!("/keys?name={}", percent_encode(name));
        self.http.get(&path).send().await?.json()
    }

    /// Deletes key `id`; a key that is already gone counts as deleted.
    pub async fn delete(&self, id: &str) -> Result<(), UpstreamError> {
        let path = format!("/keys/{}", percent_encode(id));
        match self.http.delete(&path).send().await {
            Err(e) if e.http_status() != Some(404) => Err(e),
            _ => Ok(()),
        }
    }
}
