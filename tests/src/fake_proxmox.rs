//! A fake Proxmox VE API, stateful like the real one: users, API tokens
//! with expiry and privilege separation, ACL entries, and permission checks
//! with Proxmox's rule for privilege-separated tokens (their rights are
//! their own ACL entries intersected with their user's, except for
//! `root@pam`'s). Every call must carry `Authorization:
//! PVEAPIToken=user@realm!id=secret` of a live token, and succeeds only
//! within that token's rights, so a test can check that a minted token can
//! do what its ACL allows and nothing else (`status_as`).
//!
//! It is a wiremock server (the SDK's test kit) behind `HttpsFront`
//! (HTTPS with a CA generated here), serving under `/api2/json`. Tests can
//! make every call fail, make `PUT /access/acl` fail, slow down token
//! creation, and turn off `regenerate` (Proxmox VE before 9.1).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use percent_encoding::percent_decode_str;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use vault_plugin_sdk::testing::upstream::{self, HttpsFront, SharedState};
use vault_plugin_sdk::testing::wiremock::matchers::{any, method, path, path_regex};
use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::faults::Faults;

/// One API token held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToken {
    /// `user@realm`.
    pub userid: String,
    /// The token's id.
    pub tokenid: String,
    /// Its secret.
    pub secret: String,
    /// When it expires (seconds since 1970; 0: never).
    pub expire: u64,
    /// Whether it is privilege-separated.
    pub privsep: bool,
    /// Its comment.
    pub comment: String,
}

impl FakeToken {
    /// `user@realm!tokenid`.
    pub fn full_id(&self) -> String {
        format!("{}!{}", self.userid, self.tokenid)
    }
}

/// One ACL entry: a user or a token (`ugid`) has `role` on `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAcl {
    /// The ACL path.
    pub path: String,
    /// A user id or a full token id.
    pub ugid: String,
    /// A role name.
    pub role: String,
    /// Whether it applies below `path`.
    pub propagate: bool,
}

#[derive(Default)]
struct State {
    users: BTreeSet<String>,
    tokens: BTreeMap<String, FakeToken>,
    acls: Vec<FakeAcl>,
    failing: bool,
    fail_acl: bool,
    no_regenerate: bool,
    create_delay: Duration,
}

/// The privileges of Proxmox's built-in roles the fake knows (a subset).
fn role_privileges(role: &str) -> Option<&'static [&'static str]> {
    Some(match role {
        "Administrator" => &[
            "VM.Audit",
            "VM.Console",
            "VM.PowerMgmt",
            "Datastore.Audit",
            "Datastore.AllocateSpace",
            "Sys.Audit",
            "User.Modify",
            "Permissions.Modify",
        ],
        "PVEVMUser" => &["VM.Audit", "VM.Console", "VM.PowerMgmt"],
        "PVEDatastoreUser" => &["Datastore.Audit", "Datastore.AllocateSpace"],
        "PVEAuditor" => &["VM.Audit", "Datastore.Audit", "Sys.Audit"],
        "PVEUserAdmin" => &["User.Modify", "Sys.Audit"],
        "NoAccess" => &[],
        _ => return None,
    })
}

/// A running fake Proxmox API; stops when dropped.
pub struct FakeProxmox {
    server: MockServer,
    front: HttpsFront,
    state: SharedState<State>,
    faults: Faults,
}

impl FakeProxmox {
    /// Starts the fake with user `root@pam` (all rights, as in Proxmox).
    pub fn start() -> std::io::Result<Self> {
        let server = upstream::start();
        let state = SharedState::new(State::default());
        state.lock().users.insert("root@pam".into());
        let token = r"^/api2/json/access/users/[^/]+/token/[^/]+$";
        let routes = [
            Mock::given(state.matches(|s, _| s.failing))
                .respond_with(reply(503, "service unavailable"))
                .with_priority(1),
            Mock::given(method("GET"))
                .and(path("/api2/json/version"))
                .respond_with(state.respond(|s, req| {
                    authed(s, req, None)
                        .unwrap_or_else(|| ok(&json!({"version": "9.1.1", "release": "9.1"})))
                })),
            Mock::given(method("POST"))
                .and(path_regex(token))
                .respond_with(state.respond(create_token)),
            Mock::given(method("PUT"))
                .and(path_regex(token))
                .respond_with(state.respond(update_token)),
            Mock::given(method("DELETE"))
                .and(path_regex(token))
                .respond_with(state.respond(delete_token)),
            Mock::given(method("PUT"))
                .and(path("/api2/json/access/acl"))
                .respond_with(state.respond(update_acl)),
            Mock::given(method("GET"))
                .and(path_regex(
                    r"^/api2/json/nodes/[^/]+/qemu/\d+/status/current$",
                ))
                .respond_with(state.respond(|s, req| {
                    let vmid = req.url.path().split('/').nth(6).unwrap_or("");
                    let acl_path = format!("/vms/{vmid}");
                    authed(s, req, Some((&acl_path, "VM.Audit")))
                        .unwrap_or_else(|| ok(&json!({"vmid": vmid, "status": "running"})))
                })),
            Mock::given(method("GET"))
                .and(path_regex(r"^/api2/json/storage/[^/]+$"))
                .respond_with(state.respond(|s, req| {
                    let id = req.url.path().trim_start_matches("/api2/json/storage/");
                    let acl_path = format!("/storage/{id}");
                    authed(s, req, Some((&acl_path, "Datastore.Audit")))
                        .unwrap_or_else(|| ok(&json!({"storage": id})))
                })),
            Mock::given(any())
                .respond_with(reply(501, "Method not implemented"))
                .with_priority(u8::MAX),
        ];
        let faults = Faults::new();
        upstream::blocking(async {
            faults.mock().mount(&server).await;
            for route in routes {
                route.mount(&server).await;
            }
        });
        let front = HttpsFront::start(&server)?;
        Ok(Self {
            server,
            front,
            state,
            faults,
        })
    }

    /// The fault switch: failures, hangs and broken bodies for chosen calls.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The API's base URL, `https://127.0.0.1:<port>/api2/json`.
    pub fn url(&self) -> String {
        format!("{}/api2/json", self.front.url())
    }

    /// The PEM of the CA of the fake's certificate (a config's `ca_cert`).
    pub fn ca_pem(&self) -> &str {
        self.front.ca_pem()
    }

    /// The fields of a `secrets-proxmox` config that reaches this fake as
    /// token `root@pam!<token_id>` with `secret` (from
    /// [`add_token`](Self::add_token)), as `key=value` arguments of
    /// `bao write <mount>/config` ([`BaoClient::write_ok`](crate::BaoClient::write_ok)).
    /// The CLI reads the CA from `ca_file` (`ca_cert=@<file>`, as an operator
    /// passes it; see [`write_ca_file`](Self::write_ca_file)); without one,
    /// the config skips TLS verification.
    pub fn config_args(&self, token_id: &str, secret: &str, ca_file: Option<&Path>) -> Vec<String> {
        let trust = match ca_file {
            Some(file) => format!("ca_cert=@{}", file.display()),
            None => "insecure_skip_tls_verify=true".to_owned(),
        };
        vec![
            "user=root".to_owned(),
            "realm=pam".to_owned(),
            format!("token_id={token_id}"),
            format!("token_secret={secret}"),
            format!("proxmox_url={}", self.url()),
            trust,
        ]
    }

    /// The same config as [`config_args`](Self::config_args), as the JSON
    /// body of a `PUT <mount>/config`: with `ca_pem` as `ca_cert`, without
    /// it skipping TLS verification.
    pub fn config_json(&self, token_id: &str, secret: &str, ca_pem: Option<&str>) -> Value {
        let mut config = json!({
            "user": "root", "realm": "pam", "token_id": token_id, "token_secret": secret,
            "proxmox_url": self.url(),
        });
        match ca_pem {
            Some(pem) => config["ca_cert"] = pem.into(),
            None => config["insecure_skip_tls_verify"] = true.into(),
        }
        config
    }

    /// Writes the fake's CA ([`ca_pem`](Self::ca_pem)) to
    /// `dir/proxmox-ca.pem`, for [`config_args`](Self::config_args), and
    /// returns that path.
    ///
    /// # Panics
    /// If the file cannot be written.
    #[track_caller]
    pub fn write_ca_file(&self, dir: &Path) -> PathBuf {
        let file = dir.join("proxmox-ca.pem");
        std::fs::write(&file, self.ca_pem())
            .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        file
    }

    /// Adds user `userid` (`name@realm`).
    pub fn add_user(&self, userid: &str) {
        self.state.lock().users.insert(userid.to_owned());
    }

    /// Gives `ugid` (a user or a full token id) `role` on `path`, propagated.
    pub fn grant(&self, path: &str, ugid: &str, role: &str) {
        self.state.lock().acls.push(FakeAcl {
            path: path.into(),
            ugid: ugid.into(),
            role: role.into(),
            propagate: true,
        });
    }

    /// Creates token `tokenid` of `userid` (never expiring); returns its secret.
    pub fn add_token(&self, userid: &str, tokenid: &str, privsep: bool) -> String {
        let token = new_token(userid, tokenid, 0, privsep, "");
        let secret = token.secret.clone();
        self.state.lock().tokens.insert(token.full_id(), token);
        secret
    }

    /// The tokens that exist now.
    pub fn tokens(&self) -> Vec<FakeToken> {
        self.state.lock().tokens.values().cloned().collect()
    }

    /// The ACL entries of `ugid`.
    pub fn acls_of(&self, ugid: &str) -> Vec<FakeAcl> {
        self.state
            .lock()
            .acls
            .iter()
            .filter(|a| a.ugid == ugid)
            .cloned()
            .collect()
    }

    /// Makes every call answer 503 (or stops doing so).
    pub fn set_failing(&self, failing: bool) {
        self.state.lock().failing = failing;
    }

    /// Makes `PUT /access/acl` answer 500 (or stops doing so).
    pub fn set_fail_acl(&self, fail: bool) {
        self.state.lock().fail_acl = fail;
    }

    /// Delays the answer to a token creation (after the token exists).
    pub fn set_create_delay(&self, delay: Duration) {
        self.state.lock().create_delay = delay;
    }

    /// Answers `regenerate=1` like Proxmox VE before 9.1 (or not).
    pub fn set_regenerate_supported(&self, supported: bool) {
        self.state.lock().no_regenerate = !supported;
    }

    /// The status of `method target` (below `/api2/json`) called with
    /// token `full_id` and `secret`, as a user's client would.
    pub fn status_as(&self, full_id: &str, secret: &str, method: &str, target: &str) -> u16 {
        let auth = format!("PVEAPIToken={full_id}={secret}");
        let target = format!("/api2/json{target}");
        let headers = [("Authorization", auth.as_str())];
        crate::http_request(
            *self.server.address(),
            method,
            &target,
            &headers,
            b"",
            crate::HTTP_TIMEOUT,
        )
        .map_or(0, |(status, _)| status)
    }
}

fn ok(data: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": data}))
}

fn reply(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"data": null, "message": message}))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_token(userid: &str, tokenid: &str, expire: u64, privsep: bool, comment: &str) -> FakeToken {
    let mut bytes = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    FakeToken {
        userid: userid.into(),
        tokenid: tokenid.into(),
        secret,
        expire,
        privsep,
        comment: comment.into(),
    }
}

/// A parameter of a JSON or form body, as text.
fn param(req: &Request, name: &str) -> Option<String> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(body) => match body.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        },
        Err(_) => upstream::body_field(req, name),
    }
}

/// A `0`/`1` parameter (Proxmox refuses `true`/`false`); `None` if absent,
/// the 400's message for anything else.
fn flag(req: &Request, name: &str) -> Result<Option<bool>, String> {
    match param(req, name).as_deref() {
        None => Ok(None),
        Some("0") => Ok(Some(false)),
        Some("1") => Ok(Some(true)),
        Some(_) => Err(format!(
            "Parameter verification failed. {name}: type check ('boolean') failed"
        )),
    }
}

/// The user id and token id of a token path.
fn token_of(req: &Request) -> (String, String) {
    let parts: Vec<_> = req.url.path().split('/').collect();
    let decode = |i: usize| {
        percent_decode_str(parts.get(i).copied().unwrap_or(""))
            .decode_utf8_lossy()
            .into_owned()
    };
    (decode(5), decode(7))
}

impl State {
    /// The privileges `ugid` holds on `path` by its own ACL entries.
    fn acl_privileges(&self, ugid: &str, path: &str) -> BTreeSet<&'static str> {
        self.acls
            .iter()
            .filter(|a| a.ugid == ugid)
            .filter(|a| {
                a.path == path
                    || (a.propagate && (a.path == "/" || path.starts_with(&format!("{}/", a.path))))
            })
            .flat_map(|a| role_privileges(&a.role).unwrap_or(&[]).iter().copied())
            .collect()
    }

    /// Whether the token may use `privilege` on `path`: its user's
    /// privileges, intersected with its own for a privilege-separated token
    /// (root@pam's tokens: their own alone).
    fn allows(&self, token: &FakeToken, path: &str, privilege: &str) -> bool {
        let user_has = token.userid == "root@pam"
            || self.acl_privileges(&token.userid, path).contains(privilege);
        if !token.privsep {
            return user_has;
        }
        let token_has = self
            .acl_privileges(&token.full_id(), path)
            .contains(privilege);
        token_has && (user_has || token.userid == "root@pam")
    }
}

/// `None` when the request carries a live token with `needs` (a path and
/// a privilege); otherwise the 401 or 403 to answer.
fn authed(state: &State, req: &Request, needs: Option<(&str, &str)>) -> Option<ResponseTemplate> {
    let Some(token) = caller(state, req) else {
        return Some(reply(401, "authentication failure"));
    };
    match needs {
        Some((path, privilege)) if !state.allows(token, path, privilege) => Some(reply(
            403,
            &format!("Permission check failed ({path}, {privilege})"),
        )),
        _ => None,
    }
}

/// The live token the `PVEAPIToken` header names with its secret.
fn caller<'s>(state: &'s State, req: &Request) -> Option<&'s FakeToken> {
    let credentials = upstream::credentials(req, "PVEAPIToken")?;
    let (full_id, secret) = credentials.rsplit_once('=')?;
    let token = state.tokens.get(full_id)?;
    let live = token.expire == 0 || token.expire > now();
    (live && token.secret == secret && state.users.contains(&token.userid)).then_some(token)
}

/// `POST /access/users/{userid}/token/{tokenid}`.
fn create_token(state: &mut State, req: &Request) -> ResponseTemplate {
    if let Some(denied) = authed(state, req, Some(("/access/groups", "User.Modify"))) {
        return denied;
    }
    let (userid, tokenid) = token_of(req);
    if !state.users.contains(&userid) {
        return reply(403, "Permission check failed");
    }
    let valid = tokenid.starts_with(|c: char| c.is_ascii_alphabetic())
        && tokenid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if !valid {
        return reply(
            400,
            "Parameter verification failed. tokenid: invalid format",
        );
    }
    let privsep = match flag(req, "privsep") {
        Ok(p) => p.unwrap_or(true),
        Err(refused) => return reply(400, &refused),
    };
    let expire = param(req, "expire")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let comment = param(req, "comment").unwrap_or_default();
    let full_id = format!("{userid}!{tokenid}");
    if state.tokens.contains_key(&full_id) {
        return reply(
            400,
            "Parameter verification failed. tokenid: Token already exists.",
        );
    }
    let token = new_token(&userid, &tokenid, expire, privsep, &comment);
    let answer = json!({
        "full-tokenid": full_id,
        "value": token.secret,
        "info": {"privsep": u8::from(privsep), "expire": expire, "comment": comment},
    });
    state.tokens.insert(full_id, token);
    ok(&answer).set_delay(state.create_delay)
}

/// `PUT /access/users/{userid}/token/{tokenid}`: `regenerate`, `expire`, `comment`.
fn update_token(state: &mut State, req: &Request) -> ResponseTemplate {
    if let Some(denied) = authed(state, req, Some(("/access/groups", "User.Modify"))) {
        return denied;
    }
    let (userid, tokenid) = token_of(req);
    let regenerate = match flag(req, "regenerate") {
        Ok(r) => r.unwrap_or(false),
        Err(refused) => return reply(400, &refused),
    };
    if regenerate && state.no_regenerate {
        return reply(
            400,
            "Parameter verification failed. regenerate: property is not defined in schema and the schema does not allow additional properties",
        );
    }
    let Some(token) = state.tokens.get_mut(&format!("{userid}!{tokenid}")) else {
        return reply(
            500,
            &format!("no such token '{tokenid}' for user '{userid}'"),
        );
    };
    if let Some(expire) = param(req, "expire").and_then(|e| e.parse().ok()) {
        token.expire = expire;
    }
    if regenerate {
        token.secret = new_token(&userid, &tokenid, 0, false, "").secret;
        return ok(&json!({"value": token.secret, "full-tokenid": token.full_id()}));
    }
    ok(&json!({"expire": token.expire, "privsep": u8::from(token.privsep)}))
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: also drops its ACL entries.
fn delete_token(state: &mut State, req: &Request) -> ResponseTemplate {
    if let Some(denied) = authed(state, req, Some(("/access/groups", "User.Modify"))) {
        return denied;
    }
    let (userid, tokenid) = token_of(req);
    let full_id = format!("{userid}!{tokenid}");
    if state.tokens.remove(&full_id).is_none() {
        return reply(
            500,
            &format!("no such token '{tokenid}' for user '{userid}'"),
        );
    }
    state.acls.retain(|a| a.ugid != full_id);
    ok(&Value::Null)
}

/// `PUT /access/acl` with `path`, `roles`, `tokens`, `propagate`.
fn update_acl(state: &mut State, req: &Request) -> ResponseTemplate {
    let Some(acl_path) = param(req, "path") else {
        return reply(
            400,
            "Parameter verification failed. path: property is missing",
        );
    };
    if let Some(denied) = authed(state, req, Some((&acl_path, "Permissions.Modify"))) {
        return denied;
    }
    if state.fail_acl {
        return reply(500, "ACL update failed: unable to lock user config");
    }
    let propagate = match flag(req, "propagate") {
        Ok(p) => p.unwrap_or(true),
        Err(refused) => return reply(400, &refused),
    };
    let roles = param(req, "roles").unwrap_or_default();
    let tokens = param(req, "tokens").unwrap_or_default();
    if let Some(role) = roles.split(',').find(|r| role_privileges(r).is_none()) {
        return reply(
            500,
            &format!("ACL update failed: role '{role}' does not exist"),
        );
    }
    for token in tokens.split(',').filter(|t| !t.is_empty()) {
        if !state.tokens.contains_key(token) {
            return reply(
                400,
                &format!("Parameter verification failed. tokens: no such token '{token}'"),
            );
        }
        for role in roles.split(',') {
            state.acls.push(FakeAcl {
                path: acl_path.clone(),
                ugid: token.to_owned(),
                role: role.to_owned(),
                propagate,
            });
        }
    }
    ok(&Value::Null)
}
