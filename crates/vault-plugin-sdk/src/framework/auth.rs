//! Login results of auth methods: the token the host should create.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Response;
use super::lease::LeaseOptions;

/// The kind of token the host creates for a login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Whatever the mount's tuning says (service unless tuned otherwise).
    #[default]
    Default,
    /// A service token: renewable, revocable, persisted.
    Service,
    /// A batch token: light, not renewable.
    Batch,
    /// Service unless the mount is tuned to batch.
    DefaultService,
    /// Batch unless the mount is tuned to service.
    DefaultBatch,
}

impl TokenType {
    /// The number the host uses on the wire.
    pub fn wire(self) -> u32 {
        match self {
            Self::Default => 0,
            Self::Service => 1,
            Self::Batch => 2,
            Self::DefaultService => 3,
            Self::DefaultBatch => 4,
        }
    }

    /// The type with wire number `n` (unknown numbers read as `Default`).
    pub fn from_wire(n: u32) -> Self {
        match n {
            1 => Self::Service,
            2 => Self::Batch,
            3 => Self::DefaultService,
            4 => Self::DefaultBatch,
            _ => Self::Default,
        }
    }

    /// The name operators write (`service`, `batch`, `default-service`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Service => "service",
            Self::Batch => "batch",
            Self::DefaultService => "default-service",
            Self::DefaultBatch => "default-batch",
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "default" => Self::Default,
            "service" => Self::Service,
            "batch" => Self::Batch,
            "default-service" => Self::DefaultService,
            "default-batch" => Self::DefaultBatch,
            _ => {
                return Err(format!(
                    "invalid token type {s:?}: expected service, batch, default-service or default-batch"
                ));
            }
        })
    }
}

/// An identity alias: who the login is in the auth method's own terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alias {
    /// The user's name or id in the auth source.
    pub name: String,
    /// Facts about the alias, stored on the identity.
    pub metadata: HashMap<String, String>,
}

impl Alias {
    /// An alias called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metadata: HashMap::new(),
        }
    }
}

/// The token a successful login asks the host to create (Go's `logical.Auth`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Auth {
    /// TTL, max TTL and renewability of the token.
    pub lease: LeaseOptions,
    /// Kept by the host with the token and handed back on renew; never shown.
    pub internal_data: Map<String, Value>,
    /// Shown in audit logs and token lookups (the host prefixes the mount).
    pub display_name: String,
    /// Policies attached to the token.
    pub policies: Vec<String>,
    /// Policies from the auth method (newer name for `policies`).
    pub token_policies: Vec<String>,
    /// Policies from identity (set by the host).
    pub identity_policies: Vec<String>,
    /// Facts shown on the token and in audit logs.
    pub metadata: HashMap<String, String>,
    /// Set by the host: the token created (on renew requests).
    pub client_token: String,
    /// Set by the host: the token's accessor (on renew requests).
    pub accessor: String,
    /// A period: the token renews to this each time and has no max TTL.
    pub period: Duration,
    /// How many times the token may be used (0: unlimited).
    pub num_uses: i64,
    /// Set by the host: the identity entity.
    pub entity_id: String,
    /// The identity alias of the user.
    pub alias: Option<Alias>,
    /// Group aliases the user belongs to.
    pub group_aliases: Vec<Alias>,
    /// CIDR blocks the token may be used from.
    pub bound_cidrs: Vec<String>,
    /// A hard max TTL that renewals cannot pass.
    pub explicit_max_ttl: Duration,
    /// The kind of token.
    pub token_type: TokenType,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
}

impl Response {
    /// A login response: the host creates a token from `auth`.
    pub fn auth(auth: Auth) -> Response {
        Response {
            auth: Some(auth),
            ..Response::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_type_names_and_wire_numbers_round_trip() {
        for t in [
            TokenType::Default,
            TokenType::Service,
            TokenType::Batch,
            TokenType::DefaultService,
            TokenType::DefaultBatch,
        ] {
            assert_eq!(t.as_str().parse::<TokenType>(), Ok(t));
            assert_eq!(TokenType::from_wire(t.wire()), t);
        }
        let err = "servce".parse::<TokenType>().unwrap_err();
        assert!(err.contains("invalid token type"), "{err}");
    }
}
