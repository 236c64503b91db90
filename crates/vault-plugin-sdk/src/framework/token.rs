//! The standard `token_*` fields of auth-method roles, as a reusable block.
//!
//! Every auth method lets operators shape the tokens its logins create with
//! the same nine fields (`token_ttl`, `token_policies`...). [`TokenFields`]
//! is their schema and decoder (add it to a role's arguments with
//! `#[field(flatten)]`); [`TokenParams`] is what a role stores, updated from
//! the fields a request sent, validated, shown on read and applied to a
//! login's [`Auth`]. The legacy names (`policies`, `ttl`, `max_ttl`,
//! `period`, `bound_cidrs`, `num_uses`) are still accepted; a `token_*`
//! name wins when both are sent, as in the Go SDK.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Auth, TokenType};
use super::fields::Fields;
use crate::{Error, Result};

/// The `token_*` fields as a request sends them: only what was sent is set.
#[derive(Debug, Clone, Default, PartialEq, Fields)]
pub struct TokenFields {
    /// Comma-separated list or JSON array of CIDR blocks; if set, the token
    /// can only be used from these addresses.
    pub token_bound_cidrs: Option<Vec<String>>,
    /// A hard cap on the token's lifetime, renewals included (0: none).
    pub token_explicit_max_ttl: Option<Duration>,
    /// The maximum lifetime of the token (0: the mount's max).
    pub token_max_ttl: Option<Duration>,
    /// Leave the `default` policy out of the token.
    pub token_no_default_policy: Option<bool>,
    /// How many times the token may be used (0: unlimited).
    pub token_num_uses: Option<i64>,
    /// Make the token periodic: renewable forever to this TTL (0: not periodic).
    pub token_period: Option<Duration>,
    /// Comma-separated list or JSON array of policies to attach to the token.
    pub token_policies: Option<Vec<String>>,
    /// The initial TTL of the token (0: the mount's default).
    pub token_ttl: Option<Duration>,
    /// The type of token: service, batch, default-service or default-batch.
    pub token_type: Option<String>,
    /// Use "token_policies" instead. If this and "token_policies" are both specified, only "token_policies" will be used.
    #[field(deprecated)]
    pub policies: Option<Vec<String>>,
    /// Use "token_ttl" instead. If this and "token_ttl" are both specified, only "token_ttl" will be used.
    #[field(deprecated)]
    pub ttl: Option<Duration>,
    /// Use "token_max_ttl" instead. If this and "token_max_ttl" are both specified, only "token_max_ttl" will be used.
    #[field(deprecated)]
    pub max_ttl: Option<Duration>,
    /// Use "token_period" instead. If this and "token_period" are both specified, only "token_period" will be used.
    #[field(deprecated)]
    pub period: Option<Duration>,
    /// Use "token_bound_cidrs" instead. If this and "token_bound_cidrs" are both specified, only "token_bound_cidrs" will be used.
    #[field(deprecated)]
    pub bound_cidrs: Option<Vec<String>>,
    /// Use "token_num_uses" instead. If this and "token_num_uses" are both specified, only "token_num_uses" will be used.
    #[field(deprecated)]
    pub num_uses: Option<i64>,
}

/// The token settings a role stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenParams {
    /// CIDR blocks the token may be used from.
    pub token_bound_cidrs: Vec<String>,
    /// Hard cap on the token's lifetime.
    #[serde(with = "secs")]
    pub token_explicit_max_ttl: Duration,
    /// Max TTL of the token.
    #[serde(with = "secs")]
    pub token_max_ttl: Duration,
    /// Leave out the `default` policy.
    pub token_no_default_policy: bool,
    /// Use limit (0: unlimited).
    pub token_num_uses: i64,
    /// Period of a periodic token.
    #[serde(with = "secs")]
    pub token_period: Duration,
    /// Policies of the token.
    pub token_policies: Vec<String>,
    /// TTL of the token.
    #[serde(with = "secs")]
    pub token_ttl: Duration,
    /// Kind of token.
    pub token_type: String,
}

impl Default for TokenParams {
    fn default() -> Self {
        Self {
            token_bound_cidrs: Vec::new(),
            token_explicit_max_ttl: Duration::ZERO,
            token_max_ttl: Duration::ZERO,
            token_no_default_policy: false,
            token_num_uses: 0,
            token_period: Duration::ZERO,
            token_policies: Vec::new(),
            token_ttl: Duration::ZERO,
            token_type: TokenType::DefaultService.as_str().to_owned(),
        }
    }
}

impl TokenParams {
    /// Updates the stored settings with what the request sent (legacy names
    /// upgraded), then validates the result. On error nothing is changed.
    pub fn update(&mut self, sent: &TokenFields) -> Result<()> {
        let mut next = self.clone();
        let pick = |new: &Option<Duration>, old: &Option<Duration>| new.or(*old);
        if let Some(cidrs) = sent
            .token_bound_cidrs
            .as_ref()
            .or(sent.bound_cidrs.as_ref())
        {
            for cidr in cidrs {
                check_cidr(cidr)?;
            }
            next.token_bound_cidrs = cidrs.clone();
        }
        if let Some(v) = sent.token_explicit_max_ttl {
            next.token_explicit_max_ttl = v;
        }
        if let Some(v) = pick(&sent.token_max_ttl, &sent.max_ttl) {
            next.token_max_ttl = v;
        }
        if let Some(v) = sent.token_no_default_policy {
            next.token_no_default_policy = v;
        }
        if let Some(v) = sent.token_num_uses.or(sent.num_uses) {
            if v < 0 {
                return Err(Error::bad_request("'token_num_uses' cannot be negative"));
            }
            next.token_num_uses = v;
        }
        if let Some(v) = pick(&sent.token_period, &sent.period) {
            next.token_period = v;
        }
        if let Some(v) = sent.token_policies.as_ref().or(sent.policies.as_ref()) {
            next.token_policies = v.clone();
        }
        if let Some(v) = pick(&sent.token_ttl, &sent.ttl) {
            next.token_ttl = v;
        }
        if let Some(v) = &sent.token_type {
            let parsed: TokenType = v
                .parse()
                .map_err(|_| Error::bad_request(format!("invalid 'token_type' value {v:?}")))?;
            next.token_type = parsed.as_str().to_owned();
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Checks the rules the Go SDK enforces between the fields.
    pub fn validate(&self) -> Result<()> {
        let kind = self.kind()?;
        if matches!(kind, TokenType::Batch | TokenType::DefaultBatch) {
            if !self.token_period.is_zero() {
                return Err(Error::bad_request(
                    "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens",
                ));
            }
            if self.token_num_uses != 0 {
                return Err(Error::bad_request(
                    "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count",
                ));
            }
        }
        if !self.token_ttl.is_zero()
            && !self.token_max_ttl.is_zero()
            && self.token_ttl > self.token_max_ttl
        {
            return Err(Error::bad_request(
                "'token_ttl' cannot be greater than 'token_max_ttl'",
            ));
        }
        Ok(())
    }

    fn kind(&self) -> Result<TokenType> {
        self.token_type.parse().map_err(|_| {
            Error::bad_request(format!("invalid 'token_type' value {:?}", self.token_type))
        })
    }

    /// Adds the settings to a role's read response, as the Go SDK shows them
    /// (durations in seconds).
    pub fn write_to(&self, data: &mut Map<String, Value>) {
        let fields = [
            ("token_bound_cidrs", json!(self.token_bound_cidrs)),
            (
                "token_explicit_max_ttl",
                json!(self.token_explicit_max_ttl.as_secs()),
            ),
            ("token_max_ttl", json!(self.token_max_ttl.as_secs())),
            (
                "token_no_default_policy",
                json!(self.token_no_default_policy),
            ),
            ("token_num_uses", json!(self.token_num_uses)),
            ("token_period", json!(self.token_period.as_secs())),
            ("token_policies", json!(self.token_policies)),
            ("token_ttl", json!(self.token_ttl.as_secs())),
            ("token_type", json!(self.token_type)),
        ];
        for (name, value) in fields {
            data.insert(name.to_owned(), value);
        }
    }

    /// Applies the settings to a login's token.
    pub fn apply_to(&self, auth: &mut Auth) -> Result<()> {
        auth.bound_cidrs = self.token_bound_cidrs.clone();
        auth.explicit_max_ttl = self.token_explicit_max_ttl;
        auth.lease.max_ttl = self.token_max_ttl;
        auth.lease.ttl = self.token_ttl;
        auth.lease.renewable = true;
        auth.no_default_policy = self.token_no_default_policy;
        auth.period = self.token_period;
        auth.policies = self.token_policies.clone();
        auth.token_type = self.kind()?;
        auth.num_uses = self.token_num_uses;
        Ok(())
    }

    /// Whether a token carrying `token_policies` has the policies these
    /// settings give now, ignoring order, repeats, case and `default` (the
    /// host adds it by itself): a renew handler refuses when they differ.
    pub fn grants_policies(&self, token_policies: &[String]) -> bool {
        let set = |list: &[String]| -> std::collections::BTreeSet<String> {
            list.iter()
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty() && p != "default")
                .collect()
        };
        set(&self.token_policies) == set(token_policies)
    }

    /// Whether a login from `remote_addr` (the request's, an IP possibly
    /// with a port) may proceed under `token_bound_cidrs`: with no blocks
    /// from anywhere; with blocks only from inside one (an unknown address
    /// is refused). A login handler answers a refusal with
    /// [`Error::PermissionDenied`].
    pub fn allows(&self, remote_addr: Option<&str>) -> bool {
        if self.token_bound_cidrs.is_empty() {
            return true;
        }
        let Some(ip) = remote_addr.and_then(parse_addr) else {
            return false;
        };
        self.token_bound_cidrs.iter().any(|cidr| in_block(cidr, ip))
    }
}

/// Accepts an IP address or a CIDR block.
fn check_cidr(text: &str) -> Result<()> {
    let bad = || {
        Error::bad_request(format!(
            "invalid CIDR block or address {text:?} in 'token_bound_cidrs'"
        ))
    };
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| bad())?;
    if let Some(prefix) = prefix {
        let bits: u8 = prefix.trim().parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
    }
    Ok(())
}

/// Durations stored as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// An address as the host passes it: an IP, possibly with a port.
fn parse_addr(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Whether `ip` is in the block `cidr` (`addr/bits` or a single address);
/// IPv4-mapped IPv6 addresses count as their IPv4 address.
fn in_block(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((net, bits)) => (net, bits.trim().parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.trim().parse::<IpAddr>() else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (net, ip, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (net >> shift) == (ip >> shift)
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_lists_compare_as_sets_without_default_and_case() {
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let params = |p: &[&str]| super::TokenParams {
            token_policies: v(p),
            ..super::TokenParams::default()
        };
        assert!(params(&["a", "B"]).grants_policies(&v(&["default", "b", "a"])));
        assert!(params(&[]).grants_policies(&v(&["default"])));
        assert!(!params(&["a"]).grants_policies(&v(&["a", "b"])));
    }

    use super::*;

    #[test]
    fn logins_are_allowed_from_inside_the_bound_cidrs() {
        let blocks = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (blocks(&[]), None, true),
            (blocks(&["10.0.0.0/8"]), None, false),
            (blocks(&["10.0.0.0/8"]), Some("10.1.2.3"), true),
            (blocks(&["10.0.0.0/8"]), Some("127.0.0.1:5400"), false),
            (
                blocks(&["10.0.0.0/8", "127.0.0.1"]),
                Some("127.0.0.1:5400"),
                true,
            ),
            (blocks(&["127.0.0.0/8"]), Some("::ffff:127.0.0.1"), true),
            (blocks(&["fd00::/8"]), Some("[fd12::1]:80"), true),
            (blocks(&["fd00::/8"]), Some("fe80::1"), false),
            (blocks(&["0.0.0.0/0"]), Some("8.8.8.8"), true),
            (blocks(&["10.0.0.0/40"]), Some("10.0.0.1"), false),
            (blocks(&["::1"]), Some("127.0.0.1"), false),
        ];
        for (cidrs, addr, want) in cases {
            let params = TokenParams {
                token_bound_cidrs: cidrs.clone(),
                ..TokenParams::default()
            };
            assert_eq!(params.allows(addr), want, "{cidrs:?} {addr:?}");
        }
    }
    use crate::framework::fields::FieldData;

    fn sent(data: Value) -> TokenFields {
        let Value::Object(map) = data else {
            panic!("object")
        };
        let schema = TokenFields::schema();
        TokenFields::from_data(&FieldData::new(&map, &schema)).expect("decodes")
    }

    #[test]
    fn schema_has_the_nine_fields_and_the_legacy_names() {
        let names: Vec<_> = TokenFields::schema().into_iter().map(|f| f.name).collect();
        for name in [
            "token_bound_cidrs",
            "token_explicit_max_ttl",
            "token_max_ttl",
            "token_no_default_policy",
            "token_num_uses",
            "token_period",
            "token_policies",
            "token_ttl",
            "token_type",
            "policies",
            "ttl",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn update_table() {
        let cases: Vec<(&str, Value, std::result::Result<Value, &str>)> = vec![
            (
                "cli strings",
                json!({"token_ttl": "1h", "token_policies": "a,b", "token_num_uses": "3"}),
                Ok(json!({"token_ttl": 3600, "token_policies": ["a", "b"], "token_num_uses": 3})),
            ),
            (
                "legacy names upgrade",
                json!({"policies": "old", "ttl": "60", "max_ttl": "120", "period": "30"}),
                Ok(
                    json!({"token_policies": ["old"], "token_ttl": 60, "token_max_ttl": 120, "token_period": 30}),
                ),
            ),
            (
                "token_ name wins over legacy",
                json!({"policies": "old", "token_policies": "new"}),
                Ok(json!({"token_policies": ["new"]})),
            ),
            (
                "ttl above max",
                json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
                Err("cannot be greater than 'token_max_ttl'"),
            ),
            (
                "batch with period",
                json!({"token_type": "batch", "token_period": "1h"}),
                Err("periodic tokens"),
            ),
            (
                "batch with uses",
                json!({"token_type": "batch", "token_num_uses": 2}),
                Err("limited use count"),
            ),
            (
                "bad type",
                json!({"token_type": "bulk"}),
                Err("invalid 'token_type'"),
            ),
            (
                "negative uses",
                json!({"token_num_uses": -1}),
                Err("cannot be negative"),
            ),
            (
                "cidrs",
                json!({"token_bound_cidrs": "10.0.0.0/8, 192.168.1.1"}),
                Ok(json!({"token_bound_cidrs": ["10.0.0.0/8", "192.168.1.1"]})),
            ),
            (
                "bad cidr",
                json!({"token_bound_cidrs": "10.0.0.0/40"}),
                Err("invalid CIDR"),
            ),
        ];
        for (name, input, want) in cases {
            let mut params = TokenParams::default();
            let before = params.clone();
            match (params.update(&sent(input)), want) {
                (Ok(()), Ok(expect)) => {
                    let mut data = Map::new();
                    params.write_to(&mut data);
                    for (k, v) in expect.as_object().unwrap() {
                        assert_eq!(&data[k], v, "{name}: {k}");
                    }
                }
                (Err(err), Err(frag)) => {
                    assert!(err.to_string().contains(frag), "{name}: {err}");
                    assert_eq!(params, before, "{name}: unchanged on error");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn an_update_keeps_what_was_not_sent() {
        let mut params = TokenParams::default();
        params
            .update(&sent(json!({"token_ttl": "1h", "token_policies": "a"})))
            .unwrap();
        params.update(&sent(json!({"token_num_uses": 2}))).unwrap();
        assert_eq!(params.token_ttl, Duration::from_secs(3600));
        assert_eq!(params.token_policies, ["a"]);
        assert_eq!(params.token_num_uses, 2);
    }

    #[test]
    fn applied_to_a_login() {
        let mut params = TokenParams::default();
        params
            .update(&sent(json!({"token_ttl": "10m", "token_policies": "dev", "token_type": "service", "token_bound_cidrs": "127.0.0.1/32"})))
            .unwrap();
        let mut auth = Auth::default();
        params.apply_to(&mut auth).unwrap();
        assert_eq!(auth.lease.ttl, Duration::from_secs(600));
        assert!(auth.lease.renewable);
        assert_eq!(auth.policies, ["dev"]);
        assert_eq!(auth.token_type, TokenType::Service);
        assert_eq!(auth.bound_cidrs, ["127.0.0.1/32"]);
    }

    #[test]
    fn stored_form_is_seconds() {
        let mut params = TokenParams::default();
        params.update(&sent(json!({"token_ttl": "1m"}))).unwrap();
        let v = serde_json::to_value(&params).unwrap();
        assert_eq!(v["token_ttl"], 60);
        let back: TokenParams = serde_json::from_value(v).unwrap();
        assert_eq!(back, params);
    }
}
