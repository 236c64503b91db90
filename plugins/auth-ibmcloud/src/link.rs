//! The mount's link to IBM Cloud: the IAM client for the current config,
//! the token verifier (IAM's keys and issuer, cached), and the admin token.
//!
//! The admin token is the access token of the config's API key; every IAM
//! call but the public ones carries it. It is kept until
//! [`ADMIN_TOKEN_MARGIN`] before it expires, then exchanged again. The link
//! is built for one config: when a request finds a different config stored
//! (another key, endpoint, account or issuer), a new link replaces it, so
//! nothing cached for the old config is used again.

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use vault_plugin_sdk::upstream::{Retry, UpstreamCache};
use vault_plugin_sdk::{Error, Request, Result};

use crate::config::Config;
use crate::iam::{Exchange, Grant, IAM, Iam, USER_MANAGEMENT};
use crate::keys::KeyCache;
use crate::verify::Verifier;

/// How long before its expiry the admin token is exchanged again (IAM
/// tokens live an hour).
pub const ADMIN_TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What the handlers of one mount share: an HTTP client per endpoint
/// (built from the config's `ca_cert`, `timeout`, proxy...) and the link.
#[derive(Debug)]
pub struct Links {
    iam: UpstreamCache,
    user_management: UpstreamCache,
    current: SyncMutex<Option<Arc<Link>>>,
}

impl Default for Links {
    fn default() -> Self {
        // Lookups, deletions and the key exchange are retried; a key
        // creation (rotate-root) never is.
        let cache = |name| {
            UpstreamCache::new(name)
                .user_agent(vault_plugin_sdk::user_agent!())
                .retry(Retry::default())
        };
        Self {
            iam: cache(IAM),
            user_management: cache(USER_MANAGEMENT),
            current: SyncMutex::new(None),
        }
    }
}

impl Links {
    /// The link for the stored config (which must exist).
    ///
    /// # Errors
    /// When no config is stored or its HTTP settings do not work.
    pub async fn get(&self, req: &Request) -> Result<Arc<Link>> {
        let config = Config::require(req).await?;
        self.for_config(config)
    }

    /// The link for `config`: the current one if it was built for it.
    ///
    /// # Errors
    /// When the config's HTTP settings do not work (a bad `ca_cert`,
    /// proxy...): a 400.
    pub fn for_config(&self, config: Config) -> Result<Arc<Link>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(link) = current.as_ref().filter(|l| l.config == config) {
            return Ok(Arc::clone(link));
        }
        let iam = Iam::new(
            self.iam.client(&config.iam_endpoint, &config.upstream)?,
            self.user_management
                .client(&config.user_management_endpoint, &config.upstream)?,
        );
        let link = Arc::new(Link::new(config, iam));
        *current = Some(Arc::clone(&link));
        Ok(link)
    }

    /// Forgets the current link and the HTTP clients (the config changed
    /// or was deleted).
    pub fn reset(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.iam.clear();
        self.user_management.clear();
    }
}

/// IBM Cloud as one config sees it.
#[derive(Debug)]
pub struct Link {
    /// The config the link was built for.
    pub config: Config,
    /// The IAM client.
    pub iam: Iam,
    /// The verifier of IAM's tokens.
    pub verifier: Verifier,
    admin: Mutex<Option<Grant>>,
}

impl Link {
    fn new(config: Config, iam: Iam) -> Self {
        let issuer = Some(config.bound_issuer.clone()).filter(|i| !i.is_empty());
        Self {
            verifier: Verifier::new(issuer, KeyCache::default()),
            iam,
            config,
            admin: Mutex::new(None),
        }
    }

    /// An access token of the config's API key, from the cache while it
    /// has more than [`ADMIN_TOKEN_MARGIN`] left.
    ///
    /// # Errors
    /// When IAM cannot be reached or refuses the configured key.
    pub async fn admin_token(&self) -> Result<String> {
        let mut admin = self.admin.lock().await;
        let now = now_secs();
        if let Some(grant) = admin
            .as_ref()
            .filter(|g| g.expiration > now + ADMIN_TOKEN_MARGIN.as_secs())
        {
            return Ok(grant.access_token.expose().clone());
        }
        match self.iam.exchange(self.config.api_key.expose()).await? {
            Exchange::Granted(grant) => {
                let token = grant.access_token.expose().clone();
                *admin = Some(grant);
                Ok(token)
            }
            Exchange::Refused(code) => Err(Error::upstream(format!(
                "IBM Cloud IAM ({}) refused the configured api_key ({code}): write a working \
                 key to the config",
                self.config.iam_endpoint
            ))),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
