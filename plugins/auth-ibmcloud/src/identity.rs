//! Who logs in, and whether they may: the account check and the role's
//! bindings, asked of IAM with the admin token at login and again at every
//! renewal.
//!
//! The account is proven by IAM's own records, not by a claim in the
//! token: a service ID (`sub_type` `ServiceId`) by
//! `GET /v1/serviceids/{id}`, a trusted profile (`sub_type` `Profile`) by
//! `GET /v1/profiles/{id}`, each of whose `account_id` must be the
//! configured one; anyone else as a user of the configured account in user
//! management. A role binds subjects (the token's `sub`) and access groups
//! (membership of the `iam_id`); one match is enough.
//!
//! Every "no" is a 403 with nothing more for the caller; the reason goes to
//! the server log at debug level with the IAM ID (never a token or a key).

use serde::{Deserialize, Serialize};
use vault_plugin_sdk::{Error, Result};

use crate::link::Link;
use crate::roles::Role;
use crate::verify::Claims;

/// The identity a login proved, kept in the token's internal data so that
/// renewals can check it again without the caller's token or key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The IAM ID (also the identity alias).
    pub iam_id: String,
    /// The subject (`sub`).
    pub sub: String,
    /// `ServiceId`, `Profile`, or `None` for users.
    #[serde(default)]
    pub sub_type: Option<String>,
    /// The id IAM's APIs know the identity by, if the token named one.
    #[serde(default)]
    pub identifier: Option<String>,
}

impl From<&Claims> for Subject {
    fn from(claims: &Claims) -> Self {
        Self {
            iam_id: claims.iam_id.clone(),
            sub: claims.sub.clone(),
            sub_type: claims.sub_type.clone(),
            identifier: claims.identifier.clone(),
        }
    }
}

impl Subject {
    /// The id to look a service ID or profile up by.
    fn lookup_id(&self) -> &str {
        self.identifier.as_deref().unwrap_or(&self.sub)
    }

    /// Checks that the identity belongs to the configured account.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] when it does not (reason logged), an
    /// upstream error when IAM cannot answer.
    pub async fn check_account(&self, link: &Link, admin: &str) -> Result<()> {
        let account = &link.config.account_id;
        let found = match self.sub_type.as_deref() {
            Some("ServiceId") => link.iam.service_id_account(admin, self.lookup_id()).await?,
            Some("Profile") => link.iam.profile_account(admin, self.lookup_id()).await?,
            _ => link
                .iam
                .user_in_account(admin, account, &self.iam_id)
                .await?
                .then(|| account.clone()),
        };
        match found {
            Some(found) if &found == account => Ok(()),
            Some(_) => Err(self.denied("the identity belongs to another account")),
            None => Err(self.denied("IAM knows the identity in no configured account")),
        }
    }

    /// Checks that `role` binds the identity: its subject is bound, or it is
    /// a member of one of the bound access groups.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] when it is not (reason logged), an
    /// upstream error when IAM cannot answer.
    pub async fn check_bindings(&self, role: &Role, link: &Link, admin: &str) -> Result<()> {
        if role.bound_subjects.iter().any(|s| s == &self.sub) {
            return Ok(());
        }
        for group in &role.bound_access_group_ids {
            if link.iam.is_member(admin, group, &self.iam_id).await? {
                return Ok(());
            }
        }
        Err(self.denied("the identity is neither a bound subject nor in a bound access group"))
    }

    /// A refusal of this identity, with `reason` in the log.
    pub fn denied(&self, reason: &str) -> Error {
        denied(&format!("{reason} (iam_id {})", self.iam_id))
    }
}

/// A refused login or renewal: a bare 403 for the caller, `reason` (which
/// never holds a token or key) in the server log at debug level.
pub fn denied(reason: &str) -> Error {
    tracing::debug!(reason, "refused");
    Error::PermissionDenied
}
