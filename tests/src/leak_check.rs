//! Secrets never leak: a check every integration test gets without writing
//! anything.
//!
//! Every server the harness starts ([`BaoServer`](crate::BaoServer),
//! [`ProdServer`](crate::prod::ProdServer)) declares a file audit device with
//! raw values in its config ([`audit_config`]), so the harness sees every
//! authenticated request and response, whether a test sent it with the CLI or
//! over HTTP. When the server is dropped, [`check`] learns the secrets of the
//! run from that audit log:
//!
//! - values sent to a plugin's secret fields (`#[field(secret)]` or
//!   `sensitive`: `x-vault-displayAttrs.sensitive` in the mount's OpenAPI),
//! - the data of every response that carries a lease (credentials a secrets
//!   engine minted), except fields named as metadata (ids, names,
//!   descriptions, addresses),
//! - the client token of every login response of an auth plugin,
//! - and whatever a test registers with
//!   [`BaoClient::secret`](crate::BaoClient::secret),
//!
//! then looks for each in the server log (plugins run at debug level there)
//! and in every response of our plugins (and of `sys/leases/*`, which our
//! plugins answer) except the ones that delivered it. A hit fails the test
//! with the place and the origin of the value; the value itself is shown
//! masked. Values shorter than [`MIN_SECRET_LEN`] are ignored: they match
//! too much by chance and are no credentials anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// Values shorter than this (in characters) are never treated as secrets.
pub const MIN_SECRET_LEN: usize = 8;

/// Name of the audit log in the server's directory.
pub const AUDIT_LOG: &str = "audit.log";

/// Lease data fields whose names say they are metadata of a credential, not
/// the credential: matched as the whole name or its `_`-separated suffix.
const METADATA_FIELDS: &[&str] = &[
    "id",
    "id_full",
    "name",
    "desc",
    "description",
    "address",
    "robot",
    "role",
    "ttl",
    "user",
    "username",
];

/// The HCL stanza of the harness's audit device: a file in `dir`, raw values.
pub fn audit_config(dir: &Path) -> String {
    format!(
        r#"
# The harness's leak check (tests/src/leak_check.rs) reads every request
# and response from here.
audit "file" "leak-check" {{
  options {{
    file_path = "{}"
    log_raw = "true"
  }}
}}
"#,
        dir.join(AUDIT_LOG).display()
    )
}

/// What a test told the harness about its leak check.
#[derive(Debug, Default)]
pub struct Registered {
    /// Values registered as secrets by the test.
    pub values: Vec<String>,
    /// Whether the check at drop is off.
    pub skip: bool,
}

/// One request and its response, as the audit log tells them.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Request path without `/v1/` (e.g. `balena/creds/dev`).
    pub path: String,
    /// The host's operation name (`read`, `update`, `create`, ...).
    pub operation: String,
    /// Whether the mount is the host's own (`sys/`, `auth/token/`, builtin engines).
    pub builtin: bool,
    /// The request's data.
    pub request_data: Value,
    /// The response as the host returns it (data, secret, auth, warnings...).
    pub response: Value,
    /// The error the host returned, if any.
    pub error: String,
}

impl Exchange {
    fn label(&self) -> String {
        format!("{} {}", self.operation, self.path)
    }

    /// Whether our plugins produced this response (it is scanned).
    fn answered_by_plugin(&self) -> bool {
        !self.builtin || self.path.starts_with("sys/leases/")
    }
}

/// Reads the response entries of an audit log (JSON lines); lines that are
/// not response entries are skipped.
pub fn parse_audit_log(text: &str) -> Vec<Exchange> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["type"] == "response")
        .map(|entry| {
            let request = &entry["request"];
            let version = request["mount_running_version"].as_str().unwrap_or("");
            let mount_type = request["mount_type"].as_str().unwrap_or("");
            Exchange {
                path: request["path"].as_str().unwrap_or("").to_owned(),
                operation: request["operation"].as_str().unwrap_or("").to_owned(),
                builtin: version.contains("+builtin")
                    || matches!(
                        mount_type,
                        "" | "system" | "token" | "cubbyhole" | "identity"
                    ),
                request_data: request["data"].clone(),
                response: entry["response"].clone(),
                error: entry["error"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect()
}

/// The secret request fields of every path of an OpenAPI document (the
/// host's `sys/internal/specs/openapi`, all mounts): fields whose display
/// attributes say `sensitive` (what `#[field(secret)]` and
/// `#[field(sensitive)]` emit).
#[derive(Debug, Default, Clone)]
pub struct SecretFields {
    /// Path template split into segments (`{name}` segments match any) and its secret fields.
    paths: Vec<(Vec<String>, BTreeSet<String>)>,
}

impl SecretFields {
    /// Collects the secret fields of `openapi`'s request bodies.
    pub fn from_openapi(openapi: &Value) -> SecretFields {
        let mut paths = Vec::new();
        let Some(items) = openapi["paths"].as_object() else {
            return SecretFields::default();
        };
        for (template, item) in items {
            let mut fields = BTreeSet::new();
            for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                let schema = resolve(openapi, schema);
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    if property["x-vault-displayAttrs"]["sensitive"] == true
                        || property["writeOnly"] == true
                    {
                        fields.insert(name.clone());
                    }
                }
            }
            if !fields.is_empty() {
                let segments = template
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                paths.push((segments, fields));
            }
        }
        SecretFields { paths }
    }

    /// The secret fields of a request to `path` (no leading slash).
    fn of(&self, path: &str) -> BTreeSet<&str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.paths
            .iter()
            .filter(|(template, _)| template_matches(template, &segments))
            .flat_map(|(_, fields)| fields.iter().map(String::as_str))
            .collect()
    }
}

/// Follows a `$ref` to `#/components/schemas/...`.
fn resolve<'a>(openapi: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(openapi, |v, key| &v[key]))
            .unwrap_or(schema),
        None => schema,
    }
}

/// Whether request path segments match a template; a `{capture}` matches one
/// segment, or all the rest when it is the template's last.
fn template_matches(template: &[String], segments: &[&str]) -> bool {
    let capture = |t: &str| t.starts_with('{') && t.ends_with('}');
    match (template.split_first(), segments.split_first()) {
        (None, None) => true,
        (Some((t, [])), Some(_)) if capture(t) => true,
        (Some((t, rest_t)), Some((s, rest_s))) => {
            (capture(t) || t == s) && template_matches(rest_t, rest_s)
        }
        _ => false,
    }
}

/// A secret value the run handled, where it came from and which responses
/// delivered it (those are not scanned for it).
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    /// The value itself (never printed in full).
    pub value: String,
    /// Where the harness learned it, e.g. `response to read balena/creds/dev, field token`.
    pub origin: String,
    /// Indices (into the exchanges) of the responses that delivered it.
    pub delivered_by: BTreeSet<usize>,
}

/// Learns every secret of a run: secret request fields, lease data, login
/// tokens, plus `explicit` values registered by the test.
pub fn collect_secrets(
    exchanges: &[Exchange],
    fields: &SecretFields,
    explicit: &[String],
) -> Vec<Secret> {
    let mut found: BTreeMap<String, Secret> = BTreeMap::new();
    let mut learn = |value: &str, origin: String, delivered_by: Option<usize>| {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let entry = found.entry(value.to_owned()).or_insert_with(|| Secret {
            value: value.to_owned(),
            origin,
            delivered_by: BTreeSet::new(),
        });
        entry.delivered_by.extend(delivered_by);
    };
    for value in explicit {
        learn(value, "registered by the test".to_owned(), None);
    }
    for (index, exchange) in exchanges.iter().enumerate() {
        if exchange.builtin {
            continue;
        }
        for field in fields.of(&exchange.path) {
            for value in string_leaves(&exchange.request_data[field]) {
                let origin = format!("request {}, secret field {field}", exchange.label());
                learn(value, origin, None);
            }
        }
        let response = &exchange.response;
        let leased = response["secret"]["lease_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty());
        if leased {
            for (name, value) in response["data"].as_object().into_iter().flatten() {
                if is_metadata_field(name) {
                    continue;
                }
                for value in string_leaves(value) {
                    let origin = format!("lease data of {}, field {name}", exchange.label());
                    learn(value, origin, Some(index));
                }
            }
        }
        if let Some(token) = response["auth"]["client_token"].as_str() {
            let origin = format!("client token of {}", exchange.label());
            learn(token, origin, Some(index));
        }
    }
    found.into_values().collect()
}

fn is_metadata_field(name: &str) -> bool {
    METADATA_FIELDS
        .iter()
        .any(|m| name == *m || name.ends_with(&format!("_{m}")))
}

/// Every string in a JSON value (itself, array items, object values).
fn string_leaves(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(string_leaves).collect(),
        Value::Object(map) => map.values().flat_map(string_leaves).collect(),
        _ => Vec::new(),
    }
}

/// A secret found where it must not be.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// Where the secret came from (see [`Secret::origin`]).
    pub origin: String,
    /// The value, masked.
    pub masked: String,
    /// Where it was found: `server log line N: <masked line>` or `response to <op> <path>`.
    pub place: String,
}

/// Looks for every secret in the server log and in every plugin response
/// that did not deliver it.
pub fn scan(secrets: &[Secret], server_log: &str, exchanges: &[Exchange]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    let bodies: Vec<Option<String>> = exchanges
        .iter()
        .map(|e| {
            e.answered_by_plugin()
                .then(|| format!("{} {}", e.response, e.error))
        })
        .collect();
    for secret in secrets {
        let mut leak = |place: String| {
            leaks.push(Leak {
                origin: secret.origin.clone(),
                masked: mask(&secret.value),
                place,
            })
        };
        for (number, line) in server_log.lines().enumerate() {
            if line.contains(&secret.value) {
                leak(format!(
                    "server log line {}: {}",
                    number + 1,
                    redact(line, secrets)
                ));
            }
        }
        for (index, body) in bodies.iter().enumerate() {
            let Some(body) = body else { continue };
            if !secret.delivered_by.contains(&index) && body.contains(&secret.value) {
                leak(format!("response to {}", exchanges[index].label()));
            }
        }
    }
    leaks
}

/// The first three characters of a secret and its length.
pub fn mask(value: &str) -> String {
    let head: String = value.chars().take(3).collect();
    format!("{head}… ({} chars)", value.chars().count())
}

/// `line` with every secret masked, cut to 300 characters.
fn redact(line: &str, secrets: &[Secret]) -> String {
    let masked = secrets.iter().fold(line.to_owned(), |line, s| {
        line.replace(&s.value, &format!("<secret {}>", mask(&s.value)))
    });
    masked.chars().take(300).collect()
}

/// Lines of a report (a run can repeat one leak many times).
const REPORT_LINES: usize = 30;

/// The report of a failed check, one leak per line (repeats once, the first
/// 30 lines).
pub fn report(leaks: &[Leak]) -> String {
    let mut lines: Vec<String> = leaks
        .iter()
        .map(|leak| {
            format!(
                "- {} [{}] found in {}",
                leak.origin, leak.masked, leak.place
            )
        })
        .collect();
    lines.dedup();
    let mut out = format!(
        "secret leak check failed: {} secret value(s) found where they must not be\n",
        leaks.len()
    );
    for line in lines.iter().take(REPORT_LINES) {
        let _ = writeln!(out, "{line}");
    }
    if lines.len() > REPORT_LINES {
        let _ = writeln!(out, "... and {} more", lines.len() - REPORT_LINES);
    }
    out
}

/// The whole check of a run: audit log text, server log, the mounts'
/// OpenAPI document (`None` when it could not be read: request fields are
/// then not known as secrets) and values the test registered. `Err` holds the report.
pub fn check(
    audit_log: &str,
    server_log: &str,
    openapi: Option<&Value>,
    explicit: &[String],
) -> Result<(), String> {
    let exchanges = parse_audit_log(audit_log);
    let fields = openapi.map(SecretFields::from_openapi).unwrap_or_default();
    let secrets = collect_secrets(&exchanges, &fields, explicit);
    let leaks = scan(&secrets, server_log, &exchanges);
    if leaks.is_empty() {
        Ok(())
    } else {
        Err(report(&leaks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(path: &str, op: &str, data: Value, response: Value) -> String {
        json!({
            "type": "response",
            "request": {"path": path, "operation": op, "mount_type": "balena",
                        "mount_running_version": "v0.1.0", "data": data},
            "response": response,
        })
        .to_string()
    }

    fn openapi() -> Value {
        json!({"paths": {
            "/balena/role/{name}": {"post": {"requestBody": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Role"}}}}}},
        }, "components": {"schemas": {"Role": {"properties": {
            "session_token": {"type": "string", "x-vault-displayAttrs": {"sensitive": true}},
            "key_description": {"type": "string"},
        }}}}})
    }

    fn run(lines: &[String], server_log: &str) -> Result<(), String> {
        check(&lines.join("\n"), server_log, Some(&openapi()), &[])
    }

    const TOKEN: &str = "eyJhbGciOi-session-token";
    const KEY: &str = "minted-api-key-0123456789";

    fn clean_run() -> Vec<String> {
        vec![
            entry(
                "balena/role/dev",
                "update",
                json!({"session_token": TOKEN, "key_description": "Vault Managed Key"}),
                json!({}),
            ),
            entry(
                "balena/creds/dev",
                "read",
                json!({}),
                json!({"secret": {"lease_id": "balena/creds/dev/abc"},
                       "data": {"token": KEY, "key_name": "vault-dev-1234567",
                                "key_desc": "Vault Managed Key"}}),
            ),
            entry(
                "balena/role/dev",
                "read",
                json!({}),
                json!({"data": {"key_description": "Vault Managed Key"}}),
            ),
        ]
    }

    #[test]
    fn a_clean_run_passes() {
        run(&clean_run(), "[DEBUG] minted key vault-dev-1234567\n").unwrap();
    }

    #[test]
    fn a_secret_field_planted_in_the_server_log_is_found_and_masked() {
        let log = format!("[INFO] ok\n[DEBUG] balena: whoami token={TOKEN}\n");
        let err = run(&clean_run(), &log).unwrap_err();
        assert!(err.contains("server log line 2"), "{err}");
        assert!(
            err.contains("request update balena/role/dev, secret field session_token"),
            "{err}"
        );
        assert!(
            !err.contains(TOKEN),
            "the report must mask the secret: {err}"
        );
        assert!(err.contains("eyJ… (24 chars)"), "{err}");
    }

    #[test]
    fn minted_credentials_in_another_response_are_found() {
        let mut lines = clean_run();
        lines.push(entry(
            "balena/role/dev",
            "read",
            json!({}),
            json!({"data": {"last_key": KEY}}),
        ));
        let err = run(&lines, "").unwrap_err();
        assert!(
            err.contains("lease data of read balena/creds/dev, field token"),
            "{err}"
        );
        assert!(
            err.contains("found in response to read balena/role/dev"),
            "{err}"
        );
        assert!(!err.contains(KEY), "{err}");
    }

    #[test]
    fn a_secret_echoed_in_an_error_is_found() {
        let mut lines = clean_run();
        let mut failed: Value = serde_json::from_str(&entry(
            "balena/role/dev",
            "update",
            json!({"session_token": "another-token-value"}),
            json!({}),
        ))
        .unwrap();
        failed["error"] = json!("invalid session token another-token-value");
        lines.push(failed.to_string());
        let err = run(&lines, "").unwrap_err();
        assert!(err.contains("response to update balena/role/dev"), "{err}");
    }

    #[test]
    fn login_tokens_and_registered_values_are_secrets() {
        let login = entry(
            "auth/userpass-rs/login",
            "update",
            json!({}),
            json!({"auth": {"client_token": "s.0123456789abcdef"}}),
        );
        let exchanges = parse_audit_log(&login);
        let secrets = collect_secrets(
            &exchanges,
            &SecretFields::default(),
            &["explicit-1234".into()],
        );
        let values: Vec<&str> = secrets.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values, ["explicit-1234", "s.0123456789abcdef"]);
        assert!(scan(&secrets, "token s.0123456789abcdef", &exchanges).len() == 1);
    }

    #[test]
    fn short_values_and_builtin_responses_are_ignored() {
        let lines = [
            entry(
                "balena/role/dev",
                "update",
                json!({"session_token": "short"}),
                json!({}),
            ),
            json!({"type": "response",
                   "request": {"path": "auth/token/lookup-self", "operation": "read",
                               "mount_type": "token", "mount_running_version": "v2.7.2+builtin.bao"},
                   "response": {"data": {"id": TOKEN}}})
            .to_string(),
        ];
        let exchanges = parse_audit_log(&lines.join("\n"));
        let secrets = collect_secrets(
            &exchanges,
            &SecretFields::from_openapi(&openapi()),
            &[TOKEN.into()],
        );
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        assert_eq!(scan(&secrets, "token short", &exchanges), vec![]);
    }

    #[test]
    fn templates_match_captures_and_trailing_rest() {
        let t = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert!(template_matches(
            &t("balena/role/{name}"),
            &["balena", "role", "x"]
        ));
        assert!(!template_matches(
            &t("balena/role/{name}"),
            &["balena", "role"]
        ));
        assert!(!template_matches(
            &t("balena/role/{name}"),
            &["balena", "creds", "x"]
        ));
        assert!(template_matches(&t("kv/{path}"), &["kv", "a", "b"]));
    }
}
