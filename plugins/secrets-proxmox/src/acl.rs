//! A role's `acls`: the ACL entries a privilege-separated token gets.
//!
//! Two ways to write them:
//! * JSON, e.g. `bao write proxmox/role/ci @role.json` with
//!   `"acls": [{"path": "/vms/100", "roles": ["PVEVMUser"], "propagate": true}]`
//!   (`roles` may also be one comma-separated string; `propagate` defaults
//!   to true, as in Proxmox);
//! * one line on the command line: entries separated by `,`, each
//!   `<path>:<role>[+<role>...][:propagate=false]`, e.g.
//!   `acls="/vms/100:PVEVMUser,/storage:PVEDatastoreUser+PVEAuditor:propagate=false"`.
//!
//! An empty list (`acls=""` or `[]`) removes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vault_plugin_sdk::framework::fields::{FieldType, FieldValue};

/// Help text of `role/<name>`, with the one-line form of `acls`.
pub const ROLE_DESCRIPTION: &str = "A role names the Proxmox user (user, realm) whose API \
    tokens creds/<role> mints, their lease (ttl, max_ttl) and comment. With acls, each token \
    is privilege-separated and gets exactly those ACL entries right after it is created (its \
    rights are then those entries within the user's own). acls is a JSON list of \
    {\"path\", \"roles\", \"propagate\"} objects, or one line: entries separated by \",\", \
    each <path>:<role>[+<role>...][:propagate=false], e.g. \
    acls=\"/vms/100:PVEVMUser,/storage:PVEDatastoreUser:propagate=false\". Without acls, \
    privsep (default false) decides whether the token acts with all of its user's rights.";

/// One ACL entry of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The ACL path, e.g. `/vms/100`.
    pub path: String,
    /// Proxmox role names, e.g. `PVEVMUser`.
    pub roles: Vec<String>,
    /// Whether the entry applies below `path` too.
    #[serde(default = "yes")]
    pub propagate: bool,
}

fn yes() -> bool {
    true
}

/// A role's ACL entries, as written in JSON or the one-line form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Acls(pub Vec<Acl>);

impl FieldValue for Acls {
    const KIND: FieldType = FieldType::Slice;

    fn from_canonical(_kind: FieldType, value: Value) -> Result<Self, String> {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        let mut acls = Vec::new();
        for item in items {
            match item {
                Value::String(line) => {
                    for entry in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                        acls.push(parse_entry(entry)?);
                    }
                }
                Value::Object(mut object) => {
                    if let Some(Value::String(roles)) = object.get("roles") {
                        let list = roles.split(',').map(|r| Value::from(r.trim())).collect();
                        object.insert("roles".into(), Value::Array(list));
                    }
                    let acl: Acl = serde_json::from_value(Value::Object(object)).map_err(|e| {
                        format!("an acls entry must be {{\"path\", \"roles\", \"propagate\"}}: {e}")
                    })?;
                    acls.push(check(acl)?);
                }
                other => return Err(format!("an acls entry cannot be {other}")),
            }
        }
        Ok(Acls(acls))
    }

    fn absent() -> Option<Self> {
        Some(Acls::default())
    }
}

/// `<path>:<role>[+<role>...][:propagate=false]`.
fn parse_entry(entry: &str) -> Result<Acl, String> {
    let mut parts = entry.split(':');
    let path = parts.next().unwrap_or("").trim().to_owned();
    let roles = parts
        .next()
        .unwrap_or("")
        .split('+')
        .map(|r| r.trim().to_owned());
    let propagate = match parts.next().map(str::trim) {
        None | Some("propagate=true" | "propagate=1") => true,
        Some("propagate=false" | "propagate=0") => false,
        Some(other) => {
            return Err(format!(
                "acls entry {entry:?}: expected propagate=true or propagate=false, not {other:?}"
            ));
        }
    };
    if parts.next().is_some() {
        return Err(format!(
            "acls entry {entry:?} has too many parts: <path>:<role>[+<role>...][:propagate=false]"
        ));
    }
    check(Acl {
        path,
        roles: roles.collect(),
        propagate,
    })
}

/// An entry with an absolute path and at least one well-formed role name.
fn check(mut acl: Acl) -> Result<Acl, String> {
    acl.roles.retain(|r| !r.is_empty());
    if !acl.path.starts_with('/') {
        return Err(format!(
            "an acls path must start with \"/\" (e.g. /vms/100), not {:?}",
            acl.path
        ));
    }
    if acl.roles.is_empty() {
        return Err(format!("acls entry for {} names no role", acl.path));
    }
    let bad = acl.roles.iter().find(|r| {
        !r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    if let Some(role) = bad {
        return Err(format!("{role:?} is not a Proxmox role name"));
    }
    Ok(acl)
}
