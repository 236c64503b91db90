//! The Proxmox VE API calls the plugin makes, and what their failures mean.
//!
//! Every call carries `Authorization: PVEAPIToken=<user>@<realm>!<id>=<secret>`
//! as a secret header (never in an error), JSON bodies with booleans as
//! `0`/`1` as Proxmox wants them. Failures are the SDK's [`UpstreamError`]s,
//! turned into errors that say what to fix: a 401 is the config token being
//! invalid, a 403 the privilege it lacks.

use serde::Deserialize;
use serde_json::{Value, json};
use vault_plugin_sdk::upstream::{UpstreamClient, UpstreamError, percent_encode};
use vault_plugin_sdk::{Error, Result};

use crate::acl::Acl;

/// A client of one Proxmox API, acting with the config token.
pub struct Pve {
    http: UpstreamClient,
    /// `user@realm!token_id`, the config token's full id.
    token: String,
    /// `PVEAPIToken=<token>=<secret>`.
    authorization: String,
}

/// Proxmox wraps every answer in `{"data": ...}`.
#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// What token creation and regeneration answer.
#[derive(Deserialize)]
struct NewToken {
    value: String,
}

impl Pve {
    /// A client acting with token `token` (`user@realm!id`) and its secret.
    pub fn new(http: UpstreamClient, token: String, secret: &str) -> Pve {
        let authorization = format!("PVEAPIToken={token}={secret}");
        Pve {
            http,
            token,
            authorization,
        }
    }

    /// `GET /version`: whether the config token works.
    pub async fn version(&self) -> Result<String, UpstreamError> {
        let answer = self
            .http
            .get("/version")
            .secret_header("authorization", &self.authorization)
            .send()
            .await?;
        let version: Data<Value> = answer.json()?;
        Ok(version.data["version"].as_str().unwrap_or("").to_owned())
    }

    /// Creates token `id` of `userid`, expiring at `expire` (seconds since
    /// 1970); returns its secret.
    pub async fn create_token(
        &self,
        userid: &str,
        id: &str,
        comment: &str,
        expire: u64,
        privsep: bool,
    ) -> Result<String, UpstreamError> {
        let body = json!({"comment": comment, "expire": expire, "privsep": u8::from(privsep)});
        let answer = self
            .http
            .post(&token_path(userid, id))
            .secret_header("authorization", &self.authorization)
            .json(&body)
            .send()
            .await?;
        Ok(answer.json::<Data<NewToken>>()?.data.value)
    }

    /// Gives token `full_id` the ACL entry `acl` (`PUT /access/acl`).
    pub async fn grant(&self, acl: &Acl, full_id: &str) -> Result<(), UpstreamError> {
        let body = json!({
            "path": acl.path,
            "roles": acl.roles.join(","),
            "tokens": full_id,
            "propagate": u8::from(acl.propagate),
        });
        self.http
            .put("/access/acl")
            // Setting the same entry again changes nothing.
            .idempotent()
            .secret_header("authorization", &self.authorization)
            .json(&body)
            .send()
            .await?;
        Ok(())
    }

    /// Deletes token `id` of `userid`; `false` when Proxmox has no such token.
    pub async fn delete_token(&self, userid: &str, id: &str) -> Result<bool, UpstreamError> {
        let answer = self
            .http
            .delete(&token_path(userid, id))
            .secret_header("authorization", &self.authorization)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if e.excerpt().contains("no such token") || e.http_status() == Some(404) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// A new secret for the config token itself (`regenerate=1`, Proxmox VE
    /// 9.1+); returns it.
    pub async fn regenerate_own_token(&self) -> Result<String, UpstreamError> {
        let (userid, id) = self.token.split_once('!').unwrap_or((&self.token, ""));
        let answer = self
            .http
            .put(&token_path(userid, id))
            .secret_header("authorization", &self.authorization)
            .json(&json!({"regenerate": 1}))
            .send()
            .await?;
        Ok(answer.json::<Data<NewToken>>()?.data.value)
    }

    /// The error for a failed call while `doing` something that needs
    /// `privilege`: says what a 401 and a 403 mean for the config token.
    pub fn error(&self, err: UpstreamError, doing: &str, privilege: &str) -> Error {
        match err.http_status() {
            Some(401) => Error::upstream(format!(
                "{doing}: Proxmox answered 401: the config token {} is invalid, expired or \
                 revoked; write a working token to config",
                self.token
            )),
            Some(403) => Error::upstream(format!(
                "{doing}: Proxmox answered 403: the config token {} lacks {privilege}",
                self.token
            )),
            _ => err.context(doing),
        }
    }
}

/// `/access/users/<userid>/token/<id>`, both percent-encoded.
fn token_path(userid: &str, id: &str) -> String {
    format!(
        "/access/users/{}/token/{}",
        percent_encode(userid),
        percent_encode(id)
    )
}
