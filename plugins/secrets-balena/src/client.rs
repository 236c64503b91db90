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
//! The HTTP side (TLS with the config's `ca_cert`, hickory DNS, no
//! redirects, the timeout, the proxy and extra headers) is the SDK's
//! [`UpstreamClient`]; this module holds only balena's calls and what their
//! answers mean.
//!
//! Errors ([`ApiError`]) carry the upstream status and at most a short,
//! redacted excerpt of the answer; never a token or a password.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::json;
use vault_plugin_sdk::framework::wal::Refusal;
use vault_plugin_sdk::upstream::{
    UpstreamClient, UpstreamError, UpstreamRequest, UpstreamResponse, percent_encode,
};

/// The body balena sends with a 401 when a call needs a session whose
/// password authentication is recent (open-balena-api's sudo rule).
const FRESH_AUTH: &str = "Fresh authentication token required";

/// Why a balena call failed. The display form is safe to show and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401 "Fresh authentication token required": the session is valid but
    /// its password login is too old for this call.
    FreshAuthRequired,
    /// 401 otherwise: the token (or the password) was refused.
    Unauthorized,
    /// Any other failure: another status, no answer, an unexpected body.
    Failed(UpstreamError),
}

impl Refusal for ApiError {
    /// Whether balena answered with a refusal (4xx), so the call certainly
    /// changed nothing upstream.
    fn is_refusal(&self) -> bool {
        match self {
            ApiError::FreshAuthRequired | ApiError::Unauthorized => true,
            ApiError::Failed(err) => err.is_refusal(),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err.http_status() {
            Some(401) if err.excerpt().contains(FRESH_AUTH) => ApiError::FreshAuthRequired,
            Some(401) => ApiError::Unauthorized,
            _ => ApiError::Failed(err),
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
            ApiError::Failed(err) => err.fmt(f),
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
    http: UpstreamClient,
}

impl Balena {
    /// balena's calls over `http`, a client of its base URL.
    pub fn new(http: UpstreamClient) -> Balena {
        Balena { http }
    }

    /// The user `token` belongs to; `Unauthorized` for a dead token.
    pub async fn whoami(&self, token: &str) -> Result<WhoAmI, ApiError> {
        let answer = send(self.http.get("/user/v1/whoami").bearer_auth(token)).await?;
        Ok(answer.json()?)
    }

    /// Logs in with a password; returns a session token with a fresh `authTime`.
    pub async fn login(&self, username: &str, password: &str) -> Result<String, ApiError> {
        let req = self
            .http
            .post("/login_")
            .json(&json!({ "username": username, "password": password }))
            .secret(password);
        token_text(send(req).await?.text())
    }

    /// A new session token for `token`; with the user's `password` its
    /// `authTime` is reset to now, without it the old one is kept.
    pub async fn refresh_token(
        &self,
        token: &str,
        password: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut req = self.http.post("/user/v1/refresh-token").bearer_auth(token);
        if let Some(password) = password {
            req = req.json(&json!({ "password": password })).secret(password);
        }
        token_text(send(req).await?.text())
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
            .http
            .post("/api-key/user/full")
            .bearer_auth(token)
            .json(&json!({
                "name": name,
                "description": description,
                "expiryDate": format_time(expires_at, true),
            }));
        let answer = send(req).await?;
        match serde_json::from_str::<serde_json::Value>(answer.text()) {
            Ok(serde_json::Value::String(key)) if !key.is_empty() => Ok(key),
            _ => Err(unexpected("the new key is not a non-empty JSON string")),
        }
    }

    /// The keys named exactly `name` that the token's user can see.
    pub async fn find_keys(&self, token: &str, name: &str) -> Result<Vec<KeyRef>, ApiError> {
        let filter = format!("name eq {}", odata_quote(name));
        let path = format!(
            "/v7/api_key?$select=id,name&$filter={}",
            percent_encode(&filter)
        );
        #[derive(Deserialize)]
        struct Listing {
            d: Vec<KeyRef>,
        }
        let listing: Listing = send(self.http.get(&path).bearer_auth(token))
            .await?
            .json()?;
        // The filter is the server's; keep only exact matches all the same.
        Ok(listing.d.into_iter().filter(|k| k.name == name).collect())
    }

    /// Deletes key `id`.
    pub async fn delete_key(&self, token: &str, id: u64) -> Result<Deleted, ApiError> {
        let req = self
            .http
            .delete(&format!("/v7/api_key({id})"))
            .bearer_auth(token);
        match send(req).await {
            Ok(_) => Ok(Deleted::Now),
            Err(ApiError::Failed(e)) if e.http_status() == Some(404) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

/// Sends `req`: a 2xx answer, or the failure in balena's terms.
async fn send(req: UpstreamRequest) -> Result<UpstreamResponse, ApiError> {
    Ok(req.send().await?)
}

/// A 2xx answer that is not what the API documents.
fn unexpected(why: &str) -> ApiError {
    ApiError::Failed(UpstreamError::unexpected("balena", why))
}

/// A session token from a text/plain answer (tolerating a JSON string).
fn token_text(body: &str) -> Result<String, ApiError> {
    let text = body.trim();
    let token = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => s,
        _ => text.to_owned(),
    };
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(unexpected("the answer is not a session token"));
    }
    Ok(token)
}

/// An OData string literal: `'` doubled inside single quotes.
pub fn odata_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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
    use vault_plugin_sdk::upstream::UpstreamErrorKind;

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
    fn session_tokens_are_read_from_text_or_a_json_string() {
        assert_eq!(token_text(" a.b.c\n").as_deref(), Ok("a.b.c"));
        assert_eq!(token_text("\"a.b.c\"").as_deref(), Ok("a.b.c"));
        assert!(token_text("").is_err());
        assert!(token_text("<html> oops </html>").is_err());
    }

    #[test]
    fn refusals_are_the_4xx_answers() {
        assert!(ApiError::Unauthorized.is_refusal());
        assert!(ApiError::FreshAuthRequired.is_refusal());
        let status = |status| ApiError::from(UpstreamError::status("balena", status, "", &[]));
        assert!(status(400).is_refusal());
        assert!(!status(503).is_refusal());
        let timeout = UpstreamErrorKind::Timeout(Duration::from_secs(1));
        assert!(!ApiError::Failed(UpstreamError::new("balena", timeout)).is_refusal());
        assert_eq!(status(503).to_string(), "balena answered 503");
        assert_eq!(status(401), ApiError::Unauthorized);
        let fresh = UpstreamError::status("balena", 401, FRESH_AUTH, &[]);
        assert_eq!(ApiError::from(fresh), ApiError::FreshAuthRequired);
    }
}
