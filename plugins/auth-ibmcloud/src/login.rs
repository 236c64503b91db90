//! `login` and token renewal.
//!
//! A login names a role and brings either an IAM access token or an API key
//! (exchanged at IAM for a token; the key is never stored). In order:
//! the role must exist and allow the caller's address (`token_bound_cidrs`),
//! the token must verify ([`crate::verify`]), the identity must belong to
//! the configured account and be bound by the role ([`crate::identity`]).
//! Any "no" is a bare 403; missing or conflicting arguments are a 400; an
//! unconfigured mount and an unreachable IAM say so.
//!
//! The token the host creates carries the role's `token_*` settings, the
//! identity alias `iam_id` (so the host keeps one entity per IAM identity),
//! the display name, and the metadata `IAM_ID`, `role` and `subject`.
//! Renewing it checks again, through the admin identity: the role still
//! exists with the same policies, and the identity is still in the account
//! and bound by the role.

use std::sync::Arc;

use serde_json::{Value, json};
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::framework::{Alias, Auth};
use vault_plugin_sdk::{Error, Fields, Request, Response, Result};

use crate::State;
use crate::iam::Exchange;
use crate::identity::{Subject, denied};
use crate::roles::Role;
use crate::verify::VerifyError;

/// The internal-data key of the role a token was issued for.
const ROLE_KEY: &str = "role";
/// The internal-data key of the identity a token was issued to.
const SUBJECT_KEY: &str = "subject";

/// Arguments of a login.
#[derive(Fields)]
pub struct LoginArgs {
    /// Name of the role to log in with.
    #[field(required)]
    role: String,
    /// An IAM access token of the identity logging in.
    #[field(secret)]
    token: Option<Redacted<String>>,
    /// An API key of the identity logging in (exchanged at IAM for an
    /// access token; never stored).
    #[field(secret)]
    api_key: Option<Redacted<String>>,
}

/// What the caller proves itself with.
enum Credential {
    Token(String),
    ApiKey(String),
}

impl LoginArgs {
    fn credential(&self) -> Result<Credential> {
        fn given(value: &Option<Redacted<String>>) -> Option<&str> {
            value
                .as_ref()
                .map(|v| v.expose().trim())
                .filter(|v| !v.is_empty())
        }
        match (given(&self.token), given(&self.api_key)) {
            (Some(token), None) => Ok(Credential::Token(token.to_owned())),
            (None, Some(key)) => Ok(Credential::ApiKey(key.to_owned())),
            (Some(_), Some(_)) => Err(Error::bad_request("give either token or api_key, not both")),
            (None, None) => Err(Error::bad_request("either token or api_key is required")),
        }
    }
}

/// Logs in: checks the credential and answers with the token to create.
pub async fn login(state: Arc<State>, req: Request, args: LoginArgs) -> Result<Response> {
    if args.role.trim().is_empty() {
        return Err(Error::bad_request("role name is required: role"));
    }
    let credential = args.credential()?;
    let role_name = args.role.trim().to_lowercase();
    let Some(role) = Role::load(&req, &role_name).await? else {
        return Err(denied(&format!("no role {role_name:?}")));
    };
    if !role.token.allows(req.remote_addr.as_deref()) {
        return Err(denied(&format!(
            "the client address is outside the token_bound_cidrs of role {role_name:?}"
        )));
    }
    let link = state.links.get(&req).await?;
    let token = match credential {
        Credential::Token(token) => token,
        Credential::ApiKey(key) => match link.iam.exchange(&key).await? {
            Exchange::Granted(grant) => grant.access_token.into_inner(),
            Exchange::Refused(code) => {
                return Err(denied(&format!("IAM refused the API key ({code})")));
            }
        },
    };
    let claims = match link.verifier.verify(&token, &link.iam).await {
        Ok(claims) => claims,
        Err(VerifyError::Refused(refusal)) => return Err(denied(&refusal.to_string())),
        Err(VerifyError::Unavailable(err)) => return Err(Error::upstream(err)),
    };
    let subject = Subject::from(&claims);
    let admin = link.admin_token().await?;
    subject.check_account(&link, &admin).await?;
    subject.check_bindings(&role, &link, &admin).await?;

    let mut alias = Alias::new(subject.iam_id.clone());
    alias.metadata.insert("subject".into(), subject.sub.clone());
    alias
        .metadata
        .insert("account_id".into(), link.config.account_id.clone());
    if let Some(sub_type) = &subject.sub_type {
        alias.metadata.insert("sub_type".into(), sub_type.clone());
    }
    let mut auth = Auth {
        display_name: claims.name.clone().unwrap_or_else(|| subject.sub.clone()),
        alias: Some(alias),
        ..Auth::default()
    };
    auth.metadata
        .insert("IAM_ID".into(), subject.iam_id.clone());
    auth.metadata.insert("role".into(), role_name.clone());
    auth.metadata.insert("subject".into(), subject.sub.clone());
    auth.internal_data.insert(ROLE_KEY.into(), json!(role_name));
    auth.internal_data
        .insert(SUBJECT_KEY.into(), serde_json::to_value(&subject)?);
    role.token.apply_to(&mut auth)?;
    tracing::debug!(iam_id = %subject.iam_id, role = %role_name, "login accepted");
    Ok(Response::auth(auth))
}

/// Renews a token of this method after checking the role and the identity
/// again.
pub async fn renew(state: Arc<State>, mut req: Request) -> Result<Response> {
    let Some(auth) = req.auth.as_ref() else {
        return Err(Error::bad_request("the request carries no token to renew"));
    };
    let role_name = auth
        .internal_data
        .get(ROLE_KEY)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::bad_request("role name metadata not associated with auth token, invalid")
        })?;
    let subject: Subject = auth
        .internal_data
        .get(SUBJECT_KEY)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| Error::bad_request("the token does not name its IBM Cloud identity"))?;
    let token_policies = auth.token_policies.clone();
    let Some(role) = Role::load(&req, &role_name).await? else {
        return Err(Error::bad_request(format!(
            "role {role_name:?} no longer exists: not renewing"
        )));
    };
    if !role.token.grants_policies(&token_policies) {
        return Err(Error::bad_request(format!(
            "policies on role {role_name:?} have changed, not renewing"
        )));
    }
    let link = state.links.get(&req).await?;
    let admin = link.admin_token().await?;
    subject.check_account(&link, &admin).await?;
    subject.check_bindings(&role, &link, &admin).await?;
    if let Some(auth) = req.auth.as_mut() {
        auth.period = role.token.token_period;
    }
    req.renew_auth(role.token.token_ttl, role.token.token_max_ttl)
        .await
}
