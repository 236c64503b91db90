//! The token API's two calls, as this engine uses them (most providers
//! offer these in some form), both with `Authorization: Bearer <admin token>`:
//!
//! * `POST /tokens` `{"name", "scopes"}` → `201 {"name", "token"}`; a name
//!   in use is a 409;
//! * `DELETE /tokens/<name>` → `204`, or `404` when there is no such token.
//!
//! An issued token works as `Authorization: Bearer <token>` until deleted.
//! The HTTP side is the SDK's [`UpstreamClient`]: TLS with the config's CA,
//! timeout, proxy, extra headers, and failures as [`UpstreamError`]s naming
//! the token API and its status, never showing the admin token.

use serde::Deserialize;
use serde_json::json;
use vault_plugin_sdk::upstream::{UpstreamClient, UpstreamError, percent_encode};

/// The token API at the configured URL, acting with the admin token.
pub struct TokenApi {
    http: UpstreamClient,
    admin_token: String,
}

/// What a create answers (besides the name we chose).
#[derive(Deserialize)]
struct Created {
    token: String,
}

impl TokenApi {
    /// The API behind `http`, called with `admin_token`.
    pub fn new(http: UpstreamClient, admin_token: &str) -> Self {
        let admin_token = admin_token.to_owned();
        Self { http, admin_token }
    }

    /// Creates token `name` with `scopes`; returns its secret.
    pub async fn create(&self, name: &str, scopes: &[String]) -> Result<String, UpstreamError> {
        let answer = self
            .http
            .post("/tokens")
            .bearer_auth(&self.admin_token)
            .json(&json!({ "name": name, "scopes": scopes }))
            .send()
            .await?;
        Ok(answer.json::<Created>()?.token)
    }

    /// Deletes token `name`; one that is already gone counts as deleted, so
    /// a revoke or rollback can run twice.
    pub async fn delete(&self, name: &str) -> Result<(), UpstreamError> {
        let path = format!("/tokens/{}", percent_encode(name));
        match self
            .http
            .delete(&path)
            .bearer_auth(&self.admin_token)
            .send()
            .await
        {
            Err(e) if e.http_status() != Some(404) => Err(e),
            _ => Ok(()),
        }
    }
}
