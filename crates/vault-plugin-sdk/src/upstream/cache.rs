//! One client per mount, kept while the settings stay the same.
//!
//! Building a client reads the system's CA bundle and starts a connection
//! pool, so a plugin keeps it in its backend state instead of building one
//! per request. Handlers read the config from storage on every request (it
//! is the source of truth, changed by any node) and ask the cache for the
//! client of what they read: the same settings give the same client, new
//! settings a new one. Clearing it from the `invalidate` hook when the
//! config key changes drops the old connections at once.

use std::sync::Mutex;

use super::{Retry, UpstreamClient, UpstreamError, UpstreamSettings};

/// The cached client of one upstream for one mount.
///
/// ```
/// use vault_plugin_sdk::upstream::{UpstreamCache, UpstreamSettings};
///
/// let cache = UpstreamCache::new("Proxmox").user_agent(vault_plugin_sdk::user_agent!());
/// let settings = UpstreamSettings::default();
/// let a = cache.client("https://pve.example:8006", &settings)?;
/// let b = cache.client("https://pve.example:8006", &settings)?;
/// assert!(a.same_as(&b));
/// cache.clear();
/// assert!(!cache.client("https://pve.example:8006", &settings)?.same_as(&a));
/// # Ok::<(), vault_plugin_sdk::upstream::UpstreamError>(())
/// ```
#[derive(Debug)]
pub struct UpstreamCache {
    name: String,
    user_agent: Option<String>,
    retry: Option<Retry>,
    current: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    base_url: String,
    settings: UpstreamSettings,
    client: UpstreamClient,
}

impl UpstreamCache {
    /// An empty cache for the upstream called `name` in errors.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            user_agent: None,
            retry: None,
            current: Mutex::new(None),
        }
    }

    /// The User-Agent of the clients, usually
    /// [`user_agent!()`](crate::user_agent).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The retry policy of the clients (for idempotent calls).
    pub fn retry(mut self, policy: Retry) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The client for `base_url` and `settings`: the cached one while both
    /// are what it was built from, else a new one, which is then cached.
    pub fn client(
        &self,
        base_url: &str,
        settings: &UpstreamSettings,
    ) -> Result<UpstreamClient, UpstreamError> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let same = |c: &&Cached| c.base_url == base_url && c.settings == *settings;
        if let Some(cached) = current.as_ref().filter(same) {
            return Ok(cached.client.clone());
        }
        let mut builder = UpstreamClient::builder(&self.name, base_url, settings);
        if let Some(user_agent) = &self.user_agent {
            builder = builder.user_agent(user_agent.clone());
        }
        if let Some(policy) = self.retry {
            builder = builder.retry(policy);
        }
        let client = builder.build()?;
        *current = Some(Cached {
            base_url: base_url.to_owned(),
            settings: settings.clone(),
            client: client.clone(),
        });
        Ok(client)
    }

    /// Forgets the cached client; the next [`client`](Self::client) builds
    /// a new one. Call it from the backend's `invalidate` hook when the
    /// config's storage key changed.
    pub fn clear(&self) {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}
