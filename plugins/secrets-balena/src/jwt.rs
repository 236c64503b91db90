//! Reading the claims of a balena session token without verifying it.
//!
//! A balena session token is a JWT signed by the API. The plugin cannot (and
//! need not) check the signature: the API does that on every call. It only
//! reads two claims to plan ahead:
//! * `exp` (seconds since 1970): when the session ends, so the periodic
//!   function can refresh it in time and role reads can warn;
//! * `authTime` (milliseconds since 1970): when the user last typed a
//!   password; open-balena-api demands one younger than 20 minutes before it
//!   mints API keys ("Fresh authentication token required").
//!
//! Nothing here ever returns or logs the token itself.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The claims of a session token that the plugin uses; each is `None` when
/// the token does not carry it (or is not a JWT at all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claims {
    /// When the session ends.
    pub expires_at: Option<SystemTime>,
    /// When the user last authenticated with a password.
    pub auth_time: Option<SystemTime>,
}

impl Claims {
    /// Reads the claims of `token`. A token that is not a readable JWT gives
    /// empty claims: the plugin then simply knows nothing about its expiry.
    pub fn of(token: &str) -> Claims {
        let Some(payload) = payload(token) else {
            return Claims::default();
        };
        Claims {
            expires_at: seconds(&payload, "exp", 1),
            auth_time: seconds(&payload, "authTime", 1000),
        }
    }

    /// How long until the session ends (zero once it has ended); `None` when
    /// the token has no `exp`.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// The decoded JSON payload (second part) of a JWT.
fn payload(token: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.trim().split('.');
    let (_header, body) = (parts.next()?, parts.next()?);
    // Some encoders pad; the JWT form does not. Accept both.
    let bytes = URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A numeric claim counted in `1/per_second` units since 1970, as a time.
fn seconds(
    payload: &serde_json::Map<String, Value>,
    claim: &str,
    per_second: u64,
) -> Option<SystemTime> {
    let value = payload.get(claim)?;
    let units = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })?;
    let since_epoch = Duration::from_millis(units.checked_mul(1000)? / per_second);
    SystemTime::UNIX_EPOCH.checked_add(since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_exp_in_seconds_and_auth_time_in_milliseconds() {
        let claims = Claims::of(&token(
            r#"{"id":7,"exp":1700000000,"authTime":1699999000123}"#,
        ));
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(
            claims.expires_at,
            Some(epoch + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(
            claims.auth_time,
            Some(epoch + Duration::from_millis(1_699_999_000_123))
        );
        let now = epoch + Duration::from_secs(1_699_999_900);
        assert_eq!(claims.expires_in(now), Some(Duration::from_secs(100)));
        let later = epoch + Duration::from_secs(1_800_000_000);
        assert_eq!(claims.expires_in(later), Some(Duration::ZERO));
    }

    #[test]
    fn anything_else_gives_empty_claims() {
        let cases = [
            String::new(),
            "not-a-jwt".to_owned(),
            "a.!!!.c".to_owned(),
            token("[1,2]"),
            token(r#"{"exp":"soon","authTime":-5}"#),
            token(r#"{"sub":"x"}"#),
        ];
        for case in cases {
            assert_eq!(Claims::of(&case), Claims::default(), "{case}");
        }
    }

    #[test]
    fn padded_payloads_and_float_claims_are_read() {
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":12.0}"#)
        );
        assert_eq!(
            Claims::of(&padded).expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(12))
        );
    }
}
