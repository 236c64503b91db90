//! A fake of the balena-cloud API, stateful the way the real one is, for the
//! `secrets-balena` plugin's tests and the demo.
//!
//! Why a fake: the plugin's whole job is upstream side effects (mint an API
//! key, delete it on revoke, refresh the session that mints), and the real
//! API cannot be used from tests. The fake keeps the rules the plugin has to
//! live with (see `providers.md` §1F):
//!
//! - users log in (`POST /login_`) and get a session token, a JWT with an
//!   `authTime` and a seven-day `exp`; only tokens the fake issued count;
//! - sessions refresh (`/user/v1/refresh-token`); a correct password makes
//!   the new token "fresh", no password keeps the old `authTime`;
//! - only a session may mint a key (`POST /api-key/user/full`); an API key
//!   cannot, and with [`FakeBalena::set_fresh_auth_required`] a session
//!   whose `authTime` is older than 20 minutes cannot either;
//! - a minted key authenticates (`whoami`) until it is deleted or expires;
//!   a user lists, deletes and re-dates only their own keys (`/v7/api_key`,
//!   OData `$filter`, `$select`, `$orderby`, `$top`, `$skip`).
//!
//! Error bodies are JSON strings (`"Unauthorized"`). The query string is
//! percent-decoded like `decodeURIComponent` (a `+` stays a `+`, so clients
//! must encode spaces as `%20`, which every server understands).
//!
//! Like [`crate::fake_keys`], it is a wiremock server (the SDK's test kit,
//! `testing::upstream`): one route per endpoint over a shared state, on
//! 127.0.0.1 and its own thread, so sync and async tests alike can use it.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};
use vault_plugin_sdk::testing::upstream::{self, SharedState};

use crate::faults::Faults;
use vault_plugin_sdk::testing::wiremock::matchers::{any, method, path, path_regex};
use vault_plugin_sdk::testing::wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// How long a session token from `/login_` or a refresh lives.
const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How old a session's `authTime` may be for it to mint keys when the fresh
/// authentication rule is on (open-balena-api's `SUDO_TOKEN_VALIDITY`).
const FRESH_AUTH_WINDOW_MS: u64 = 20 * 60 * 1000;

/// One API key held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeApiKey {
    /// The numeric id balena assigned.
    pub id: u64,
    /// The user whose key it is.
    pub user_id: u64,
    /// The name the client gave.
    pub name: String,
    /// The description the client gave (empty if none).
    pub description: String,
    /// The secret that authenticates.
    pub key: String,
    /// When it stops working, as ISO 8601 (`2030-01-02T03:04:05.000Z`), if ever.
    pub expiry_date: Option<String>,
}

struct User {
    id: u64,
    username: String,
    password: String,
}

impl User {
    /// Balena gives every user an actor; its id differs from the user id.
    fn actor_id(&self) -> u64 {
        self.id + 1000
    }
}

struct Session {
    user_id: u64,
    auth_time_ms: u64,
    exp_secs: u64,
}

struct StoredKey {
    key: FakeApiKey,
    created_ms: u64,
    expiry_ms: Option<u64>,
}

/// What the fake remembers; every route reads and changes it.
#[derive(Default)]
struct State {
    users: Vec<User>,
    sessions: BTreeMap<String, Session>,
    issued: Vec<String>,
    keys: BTreeMap<u64, StoredKey>,
    next_key_id: u64,
    fail_next: usize,
    fail_status: u16,
    fresh_auth_required: bool,
    create_delay: Duration,
    random: u64,
}

/// Who made a request.
enum Caller {
    Session { user: usize, auth_time_ms: u64 },
    ApiKey { user: usize },
}

impl Caller {
    fn user(&self) -> usize {
        match self {
            Caller::Session { user, .. } | Caller::ApiKey { user } => *user,
        }
    }
}

/// A JSON answer.
fn json_reply(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

/// An error answer: a JSON string, as balena sends them.
fn error(status: u16, message: &str) -> ResponseTemplate {
    json_reply(status, &Value::String(message.to_owned()))
}

/// A plain-text answer (session tokens).
fn text(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/plain; charset=utf-8")
}

fn unauthorized() -> ResponseTemplate {
    error(401, "Unauthorized")
}

/// A running fake balena API; stops accepting when dropped.
pub struct FakeBalena {
    server: MockServer,
    url: String,
    state: SharedState<State>,
    faults: Faults,
}

impl FakeBalena {
    /// Starts the fake on a free loopback port, with no users.
    pub fn start() -> std::io::Result<Self> {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let state = SharedState::new(State {
            next_key_id: 5001,
            random: seed,
            ..State::default()
        });
        let server = upstream::start();
        let faults = Faults::new();
        upstream::blocking(async {
            faults.mock().mount(&server).await;
            for route in routes(&state) {
                route.mount(&server).await;
            }
        });
        let url = server.uri();
        Ok(Self {
            server,
            url,
            state,
            faults,
        })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The base URL with another host name for the same port, e.g.
    /// `http://localhost:<port>`, to prove a client resolves names.
    pub fn url_with_host(&self, host: &str) -> String {
        format!("http://{host}:{}", self.server.address().port())
    }

    /// Adds a user who can log in with `password`; returns the user id.
    pub fn add_user(&self, username: &str, password: &str) -> u64 {
        let mut state = self.state.lock();
        let id = state.users.len() as u64 + 1;
        state.users.push(User {
            id,
            username: username.to_owned(),
            password: password.to_owned(),
        });
        id
    }

    /// A session token for `username` that the fake accepts, as if the user
    /// had logged in `auth_age` ago (`authTime` and `iat`) and not refreshed
    /// since; it expires `expires_in` from now.
    ///
    /// # Panics
    /// If there is no such user.
    pub fn session_token(
        &self,
        username: &str,
        auth_age: Duration,
        expires_in: Duration,
    ) -> String {
        let mut state = self.state.lock();
        let user = state
            .users
            .iter()
            .position(|u| u.username == username)
            .unwrap_or_else(|| panic!("the fake balena has no user {username:?}"));
        let now = now_ms();
        let auth_time = now.saturating_sub(auth_age.as_millis() as u64);
        let exp = now / 1000 + expires_in.as_secs();
        issue_session(&mut state, user, auth_time, auth_time, exp)
    }

    /// Turns the fresh authentication rule on or off (default off): when on,
    /// minting a key with a session whose `authTime` is older than 20
    /// minutes answers 401 `"Fresh authentication token required"`.
    pub fn set_fresh_auth_required(&self, on: bool) {
        self.state.lock().fresh_auth_required = on;
    }

    /// Makes the next `count` requests (any path) answer `status`.
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut state = self.state.lock();
        state.fail_next = count;
        state.fail_status = status;
    }

    /// The fault switch: failures, hangs and broken bodies for chosen calls.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Delays the answer to a key creation (the key exists meanwhile).
    pub fn set_create_delay(&self, delay: Duration) {
        self.state.lock().create_delay = delay;
    }

    /// The keys that exist now (expired ones included), oldest first.
    pub fn keys(&self) -> Vec<FakeApiKey> {
        self.state
            .lock()
            .keys
            .values()
            .map(|k| k.key.clone())
            .collect()
    }

    /// Whether `token` (a session token or an API key) authenticates now:
    /// what `whoami` would say.
    pub fn authenticates(&self, token: &str) -> bool {
        authenticate(&self.state.lock(), Some(token)).is_some()
    }

    /// Makes every session token of `username` stop working, as a session
    /// that died or expired would. Its API keys keep working.
    pub fn revoke_sessions(&self, username: &str) {
        let mut state = self.state.lock();
        let Some(id) = state
            .users
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.id)
        else {
            return;
        };
        state.sessions.retain(|_, s| s.user_id != id);
    }

    /// Every session token the fake ever issued (logins, refreshes and
    /// [`session_token`](Self::session_token)), dead ones included: what a
    /// test checks never leaks.
    pub fn issued_session_tokens(&self) -> Vec<String> {
        self.state.lock().issued.clone()
    }

    /// `"METHOD /path"` (no query) of every request seen, in order.
    pub fn requests(&self) -> Vec<String> {
        upstream::blocking(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }
}

/// The API, one route per endpoint; an injected failure comes first, a 404
/// for anything else last.
fn routes(state: &SharedState<State>) -> Vec<Mock> {
    let key_path = r"^/v[67]/api_key\(.*\)$";
    vec![
        Mock::given(state.matches(|s, _| s.fail_next > 0))
            .respond_with(state.respond(|s, _| {
                s.fail_next -= 1;
                error(s.fail_status, "Injected failure")
            }))
            .with_priority(1),
        Mock::given(method("POST"))
            .and(path("/login_"))
            .respond_with(state.respond(login)),
        Mock::given(method("GET"))
            .and(path("/user/v1/refresh-token"))
            .respond_with(state.respond(refresh)),
        Mock::given(method("POST"))
            .and(path("/user/v1/refresh-token"))
            .respond_with(state.respond(refresh)),
        Mock::given(method("GET"))
            .and(path("/user/v1/whoami"))
            .respond_with(state.respond(|s, req| whoami(s, false, req))),
        Mock::given(method("GET"))
            .and(path("/actor/v1/whoami"))
            .respond_with(state.respond(|s, req| whoami(s, true, req))),
        Mock::given(method("POST"))
            .and(path("/api-key/user/full"))
            .respond_with(state.respond(create_key)),
        Mock::given(method("GET"))
            .and(path_regex(r"^/v[67]/api_key$"))
            .respond_with(state.respond(list_keys)),
        Mock::given(method("DELETE"))
            .and(path_regex(key_path))
            .respond_with(state.respond(delete_key)),
        Mock::given(method("PATCH"))
            .and(path_regex(key_path))
            .respond_with(state.respond(patch_key)),
        Mock::given(any())
            .respond_with(error(404, "Not Found"))
            .with_priority(u8::MAX),
    ]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_u64(state: &mut State) -> u64 {
    // splitmix64 over a per-fake random seed.
    state.random = state.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = state.random;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_alphanumeric(state: &mut State, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALPHABET[(random_u64(state) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn issue_session(
    state: &mut State,
    user: usize,
    auth_time_ms: u64,
    issued_ms: u64,
    exp_secs: u64,
) -> String {
    let u = &state.users[user];
    let user_id = u.id;
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let payload = json!({
        "id": u.id,
        "actor": u.actor_id(),
        "username": u.username,
        "email": email(&u.username),
        "authTime": auth_time_ms,
        "iat": issued_ms / 1000,
        "exp": exp_secs,
    });
    let signature: Vec<u8> = (0..4)
        .flat_map(|_| random_u64(state).to_le_bytes())
        .collect();
    let token = format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(payload.to_string().as_bytes()),
        base64url(&signature)
    );
    state.issued.push(token.clone());
    state.sessions.insert(
        token.clone(),
        Session {
            user_id,
            auth_time_ms,
            exp_secs,
        },
    );
    token
}

fn email(username: &str) -> String {
    format!("{username}@example.com")
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Who `bearer` is, if anyone: a live session or an unexpired key of an
/// existing user.
fn authenticate(state: &State, bearer: Option<&str>) -> Option<Caller> {
    let bearer = bearer?;
    let user_index = |id: u64| state.users.iter().position(|u| u.id == id);
    if let Some(s) = state.sessions.get(bearer) {
        if now_ms() / 1000 >= s.exp_secs {
            return None;
        }
        return Some(Caller::Session {
            user: user_index(s.user_id)?,
            auth_time_ms: s.auth_time_ms,
        });
    }
    let key = state.keys.values().find(|k| k.key.key == bearer)?;
    if key.expiry_ms.is_some_and(|e| now_ms() >= e) {
        return None;
    }
    Some(Caller::ApiKey {
        user: user_index(key.key.user_id)?,
    })
}

/// The id in `/v7/api_key(<id>)` (or `/v6/...`).
fn key_id_in(path: &str) -> Option<u64> {
    let rest = path
        .strip_prefix("/v7/api_key(")
        .or_else(|| path.strip_prefix("/v6/api_key("))?;
    rest.strip_suffix(')')?.trim().parse().ok()
}

fn login(state: &mut State, req: &Request) -> ResponseTemplate {
    // Like the real endpoint, accept a JSON or a form-encoded body.
    let (Some(username), Some(password)) = (
        upstream::body_field(req, "username"),
        upstream::body_field(req, "password"),
    ) else {
        return unauthorized();
    };
    let Some(user) = state
        .users
        .iter()
        .position(|u| u.username == username && u.password == password)
    else {
        return unauthorized();
    };
    let now = now_ms();
    let exp = now / 1000 + SESSION_LIFETIME.as_secs();
    text(issue_session(state, user, now, now, exp))
}

fn refresh(state: &mut State, req: &Request) -> ResponseTemplate {
    let Some(Caller::Session { user, auth_time_ms }) = authenticate(state, upstream::bearer(req))
    else {
        return unauthorized();
    };
    let password = req
        .body_json::<Value>()
        .ok()
        .and_then(|v| v.get("password").and_then(Value::as_str).map(str::to_owned));
    let now = now_ms();
    let auth_time = match password {
        Some(p) if p == state.users[user].password => now,
        Some(_) => return unauthorized(),
        None => auth_time_ms,
    };
    let exp = now / 1000 + SESSION_LIFETIME.as_secs();
    text(issue_session(state, user, auth_time, now, exp))
}

fn whoami(state: &mut State, actor: bool, req: &Request) -> ResponseTemplate {
    let Some(caller) = authenticate(state, upstream::bearer(req)) else {
        return unauthorized();
    };
    let u = &state.users[caller.user()];
    let body = if actor {
        json!({
            "id": u.actor_id(),
            "actorType": "user",
            "actorTypeId": u.id,
            "username": u.username,
            "email": email(&u.username),
        })
    } else {
        json!({"id": u.id, "username": u.username, "email": email(&u.username)})
    };
    json_reply(200, &body)
}

fn create_key(state: &mut State, req: &Request) -> ResponseTemplate {
    // API keys have neither an authTime nor `auth.create_token`.
    let Some(Caller::Session { user, auth_time_ms }) = authenticate(state, upstream::bearer(req))
    else {
        return unauthorized();
    };
    let Ok(body) = req.body_json::<Value>() else {
        return error(400, "Invalid JSON body");
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return error(400, "API keys require a name");
    };
    let description = match body.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) => d.clone(),
        Some(_) => return error(400, "Key description should be a string"),
    };
    let expiry_ms = match body.get("expiryDate") {
        None | Some(Value::Null) => None,
        Some(v) => match date_ms(v) {
            Some(ms) => Some(ms),
            None => return error(400, "Key expiry date should be a valid date"),
        },
    };
    if state.fresh_auth_required && now_ms().saturating_sub(auth_time_ms) > FRESH_AUTH_WINDOW_MS {
        return error(401, "Fresh authentication token required");
    }
    let user_id = state.users[user].id;
    let id = state.next_key_id;
    state.next_key_id += 1;
    let key = random_alphanumeric(state, 32);
    state.keys.insert(
        id,
        StoredKey {
            key: FakeApiKey {
                id,
                user_id,
                name: name.to_owned(),
                description,
                key: key.clone(),
                expiry_date: expiry_ms.map(iso8601),
            },
            created_ms: now_ms(),
            expiry_ms,
        },
    );
    // The key exists while the answer waits.
    json_reply(200, &Value::String(key)).set_delay(state.create_delay)
}

fn list_keys(state: &mut State, req: &Request) -> ResponseTemplate {
    let Some(caller) = authenticate(state, upstream::bearer(req)) else {
        return unauthorized();
    };
    let owner = &state.users[caller.user()];
    let params = parse_query(req.url.query().unwrap_or_default());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let filter = match param("$filter").map(parse_filter).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return error(400, &e),
    };
    let mut rows: Vec<&StoredKey> = state
        .keys
        .values()
        .filter(|k| k.key.user_id == owner.id)
        .filter(|k| filter.iter().all(|c| c.matches(k, owner.actor_id())))
        .collect();
    if let Some(order) = param("$orderby") {
        for clause in order.split(',').rev() {
            let mut words = clause.split_whitespace();
            let field = words.next().unwrap_or_default();
            let desc = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return error(400, &format!("Bad $orderby direction {other}"));
                }
            };
            match field {
                "id" => rows.sort_by_key(|k| k.key.id),
                "created_at" => rows.sort_by_key(|k| (k.created_ms, k.key.id)),
                "name" => rows.sort_by(|a, b| a.key.name.cmp(&b.key.name)),
                other => return error(400, &format!("Unsupported $orderby field {other}")),
            }
            if desc {
                rows.reverse();
            }
        }
    }
    let number = |name: &str| -> Result<usize, String> {
        match param(name) {
            None => Ok(0),
            Some(v) => v.trim().parse().map_err(|_| format!("Bad {name}")),
        }
    };
    let skip = match number("$skip") {
        Ok(n) => n,
        Err(e) => return error(400, &e),
    };
    let top = match number("$top") {
        Ok(0) if param("$top").is_none() => usize::MAX,
        Ok(n) => n,
        Err(e) => return error(400, &e),
    };
    let select: Option<Vec<&str>> = param("$select").map(|s| s.split(',').map(str::trim).collect());
    let mut d = Vec::new();
    for k in rows.into_iter().skip(skip).take(top) {
        let mut row = Map::new();
        row.insert("id".into(), json!(k.key.id));
        row.insert("created_at".into(), json!(iso8601(k.created_ms)));
        row.insert("name".into(), json!(k.key.name));
        row.insert("description".into(), json!(k.key.description));
        row.insert("expiry_date".into(), json!(k.key.expiry_date));
        row.insert("is_of__actor".into(), json!({"__id": owner.actor_id()}));
        if let Some(fields) = &select {
            if let Some(bad) = fields.iter().find(|f| !row.contains_key(**f)) {
                return error(400, &format!("Unknown $select field {bad}"));
            }
            row.retain(|name, _| fields.contains(&name.as_str()));
        }
        d.push(Value::Object(row));
    }
    json_reply(200, &json!({ "d": d }))
}

/// The caller's own key in `/v7/api_key(<id>)`, or the status and message
/// that refuse: 401 for no session (API keys cannot change keys) or someone
/// else's key, 404 for none.
fn own_key<'a>(
    state: &'a mut State,
    req: &Request,
) -> Result<&'a mut StoredKey, (u16, &'static str)> {
    let Some(id) = key_id_in(req.url.path()) else {
        return Err((404, "Not Found"));
    };
    let Some(Caller::Session { user, .. }) = authenticate(state, upstream::bearer(req)) else {
        return Err((401, "Unauthorized"));
    };
    let user_id = state.users[user].id;
    match state.keys.get_mut(&id) {
        None => Err((404, "Not Found")),
        Some(k) if k.key.user_id != user_id => Err((401, "Unauthorized")),
        Some(k) => Ok(k),
    }
}

fn delete_key(state: &mut State, req: &Request) -> ResponseTemplate {
    let id = match own_key(state, req) {
        Ok(k) => k.key.id,
        Err((status, message)) => return error(status, message),
    };
    state.keys.remove(&id);
    json_reply(200, &json!("OK"))
}

fn patch_key(state: &mut State, req: &Request) -> ResponseTemplate {
    let key = match own_key(state, req) {
        Ok(k) => k,
        Err((status, message)) => return error(status, message),
    };
    let Ok(body) = req.body_json::<Value>() else {
        return error(400, "Invalid JSON body");
    };
    match body.get("expiry_date") {
        None => {}
        Some(Value::Null) => {
            key.expiry_ms = None;
            key.key.expiry_date = None;
        }
        Some(v) => match date_ms(v) {
            Some(ms) => {
                key.expiry_ms = Some(ms);
                key.key.expiry_date = Some(iso8601(ms));
            }
            None => return error(400, "Key expiry date should be a valid date"),
        },
    }
    if let Some(d) = body.get("description").and_then(Value::as_str) {
        key.key.description = d.to_owned();
    }
    if let Some(n) = body.get("name").and_then(Value::as_str) {
        key.key.name = n.to_owned();
    }
    json_reply(200, &json!("OK"))
}

/// `a=b&c=d` into decoded pairs (`%XX` decoded, `+` kept, as
/// `decodeURIComponent` does).
fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// One condition of a `$filter`; a filter is their conjunction.
#[derive(Debug, PartialEq)]
enum Condition {
    /// `field eq|ne value` on `name`, `description`, `id` or `is_of__actor`.
    Compare {
        field: String,
        equal: bool,
        value: Value,
    },
    /// `is_of__actor/any(a:a/is_of__user eq <user id>)`.
    OfUser(u64),
}

impl Condition {
    fn matches(&self, key: &StoredKey, actor_id: u64) -> bool {
        match self {
            Condition::OfUser(id) => key.key.user_id == *id,
            Condition::Compare {
                field,
                equal,
                value,
            } => {
                let actual = match field.as_str() {
                    "name" => json!(key.key.name),
                    "description" => json!(key.key.description),
                    "id" => json!(key.key.id),
                    "is_of__actor" => json!(actor_id),
                    "expiry_date" => json!(key.key.expiry_date),
                    _ => return false,
                };
                (actual == *value) == *equal
            }
        }
    }
}

/// Parses the small OData subset the fake understands: conditions joined by
/// `and`, each optionally in parentheses, string literals in single quotes
/// with `''` for a quote.
fn parse_filter(text: &str) -> Result<Vec<Condition>, String> {
    let mut parser = FilterParser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let conditions = parser.conjunction()?;
    parser.skip_spaces();
    if parser.pos != parser.chars.len() {
        return Err(format!(
            "Unsupported $filter {text:?} (the fake understands `and`, `eq`, `ne`)"
        ));
    }
    Ok(conditions)
}

struct FilterParser {
    chars: Vec<char>,
    pos: usize,
}

impl FilterParser {
    fn skip_spaces(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        self.skip_spaces();
        let end = self.pos + word.chars().count();
        if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(word.chars()) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> String {
        self.skip_spaces();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '/')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn conjunction(&mut self) -> Result<Vec<Condition>, String> {
        let mut all = self.term()?;
        loop {
            let save = self.pos;
            self.skip_spaces();
            if self.word() == "and" {
                all.extend(self.term()?);
            } else {
                self.pos = save;
                return Ok(all);
            }
        }
    }

    fn term(&mut self) -> Result<Vec<Condition>, String> {
        if self.eat("(") {
            let inner = self.conjunction()?;
            if !self.eat(")") {
                return Err("Unbalanced parentheses in $filter".into());
            }
            return Ok(inner);
        }
        if self.eat("is_of__actor/any(a:a/is_of__user eq ") {
            let id = self.word();
            let id = id
                .parse()
                .map_err(|_| format!("Bad user id {id:?} in $filter"))?;
            if !self.eat(")") {
                return Err("Bad any() in $filter".into());
            }
            return Ok(vec![Condition::OfUser(id)]);
        }
        let field = self.word();
        if !["name", "description", "id", "is_of__actor", "expiry_date"].contains(&field.as_str()) {
            return Err(format!("Unsupported $filter field {field:?}"));
        }
        let equal = match self.word().as_str() {
            "eq" => true,
            "ne" => false,
            other => return Err(format!("Unsupported $filter operator {other:?}")),
        };
        let value = self.literal()?;
        Ok(vec![Condition::Compare {
            field,
            equal,
            value,
        }])
    }

    fn literal(&mut self) -> Result<Value, String> {
        self.skip_spaces();
        if self.chars.get(self.pos) == Some(&'\'') {
            self.pos += 1;
            let mut text = String::new();
            loop {
                match self.chars.get(self.pos) {
                    None => return Err("Unterminated string in $filter".into()),
                    Some('\'') if self.chars.get(self.pos + 1) == Some(&'\'') => {
                        text.push('\'');
                        self.pos += 2;
                    }
                    Some('\'') => {
                        self.pos += 1;
                        return Ok(Value::String(text));
                    }
                    Some(c) => {
                        text.push(*c);
                        self.pos += 1;
                    }
                }
            }
        }
        let word = self.word();
        if word == "null" {
            return Ok(Value::Null);
        }
        word.parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("Unsupported $filter value {word:?}"))
    }
}

/// A date as balena accepts it: an ISO 8601 string (date, or date and time
/// with optional seconds, fraction and zone; no zone means UTC) or a number
/// of milliseconds since the epoch. Milliseconds since the epoch.
fn date_ms(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_iso8601(s.trim()),
        _ => None,
    }
}

fn parse_iso8601(s: &str) -> Option<u64> {
    let digits = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (year, month, day) = (digits(d.next()?)?, digits(d.next()?)?, digits(d.next()?)?);
    if d.next().is_some() || date.len() != 10 || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_ms) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = time.rfind(['+', '-']) {
            let zone = time[i + 1..].replace(':', "");
            if zone.len() != 4 {
                return None;
            }
            let (h, m) = (digits(&zone[..2])?, digits(&zone[2..])?);
            let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
            (&time[..i], sign * (h * 60 + m) * 60_000)
        } else {
            (time, 0)
        };
        let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':');
        let hour = digits(parts.next()?)?;
        let minute = digits(parts.next()?)?;
        let second = parts.next().map_or(Some(0), digits)?;
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let millis = if fraction.is_empty() {
            0
        } else {
            let f = digits(fraction)?;
            let len = fraction.len() as u32;
            if len >= 3 {
                f / 10i64.pow(len - 3)
            } else {
                f * 10i64.pow(3 - len)
            }
        };
        ms += (hour * 3600 + minute * 60 + second) * 1000 + millis - offset_ms;
    }
    u64::try_from(ms).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch.
fn iso8601(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let rest = ms % 86_400_000;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request; returns the status and the body.
    fn call(
        fake: &FakeBalena,
        method: &str,
        target: &str,
        body: &str,
        bearer: Option<&str>,
    ) -> (u16, String) {
        crate::http_call(fake.url(), method, target, body, bearer).unwrap()
    }

    fn json_of(body: &str) -> Value {
        serde_json::from_str(body).unwrap()
    }

    /// The payload of a JWT.
    fn claims(token: &str) -> Value {
        let payload = token.split('.').nth(1).unwrap();
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut bytes = Vec::new();
        for c in payload.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => panic!("not base64url: {payload}"),
            };
            bits = bits << 6 | u32::from(v);
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                bytes.push((bits >> nbits) as u8);
            }
        }
        serde_json::from_slice(&bytes).unwrap()
    }

    fn mint(fake: &FakeBalena, session: &str, body: &str) -> (u16, String) {
        call(fake, "POST", "/api-key/user/full", body, Some(session))
    }

    fn fresh_session(fake: &FakeBalena, user: &str) -> String {
        fake.session_token(user, Duration::ZERO, SESSION_LIFETIME)
    }

    #[test]
    fn login_gives_a_session_that_whoami_knows() {
        let fake = FakeBalena::start().unwrap();
        let id = fake.add_user("alice", "pw");
        let (status, _) = call(
            &fake,
            "POST",
            "/login_",
            r#"{"username":"alice","password":"no"}"#,
            None,
        );
        assert_eq!(status, 401);
        let (status, jwt) = call(
            &fake,
            "POST",
            "/login_",
            r#"{"username":"alice","password":"pw"}"#,
            None,
        );
        assert_eq!(status, 200, "{jwt}");
        let c = claims(&jwt);
        assert_eq!(
            (c["id"].as_u64(), c["username"].as_str()),
            (Some(id), Some("alice"))
        );
        let now = now_ms();
        assert!(now - c["authTime"].as_u64().unwrap() < 5000, "{c}");
        let exp = c["exp"].as_u64().unwrap();
        assert!(exp.abs_diff(now / 1000 + 7 * 86400) < 5, "{c}");
        // Form-encoded logins work as well.
        let (status, _) = call(&fake, "POST", "/login_", "username=alice&password=pw", None);
        assert_eq!(status, 200);

        let (status, me) = call(&fake, "GET", "/user/v1/whoami", "", Some(&jwt));
        assert_eq!(status, 200, "{me}");
        assert_eq!(
            json_of(&me),
            json!({"id": id, "username": "alice", "email": "alice@example.com"})
        );
        let (_, actor) = call(&fake, "GET", "/actor/v1/whoami", "", Some(&jwt));
        let actor = json_of(&actor);
        assert_eq!(
            (actor["actorType"].as_str(), actor["actorTypeId"].as_u64()),
            (Some("user"), Some(id))
        );
        assert!(fake.authenticates(&jwt));

        // A token the fake did not issue, even a well-formed one, is refused.
        let forged = format!(
            "{}.{}.AAAA",
            jwt.split('.').next().unwrap(),
            jwt.split('.').nth(1).unwrap()
        );
        let (status, body) = call(&fake, "GET", "/user/v1/whoami", "", Some(&forged));
        assert_eq!((status, json_of(&body)), (401, json!("Unauthorized")));
        assert_eq!(call(&fake, "GET", "/user/v1/whoami", "", None).0, 401);

        // Expired and revoked sessions stop working.
        let expired = fake.session_token("alice", Duration::ZERO, Duration::ZERO);
        assert!(!fake.authenticates(&expired));
        fake.revoke_sessions("alice");
        assert!(!fake.authenticates(&jwt));
        assert_eq!(
            call(&fake, "GET", "/actor/v1/whoami", "", Some(&jwt)).0,
            401
        );
    }

    #[test]
    fn refresh_with_a_password_makes_the_session_fresh_and_without_keeps_its_age() {
        let fake = FakeBalena::start().unwrap();
        fake.add_user("alice", "pw");
        let old = fake.session_token("alice", Duration::from_secs(3600), Duration::from_secs(60));
        let old_auth = claims(&old)["authTime"].as_u64().unwrap();

        let (status, kept) = call(&fake, "GET", "/user/v1/refresh-token", "", Some(&old));
        assert_eq!(status, 200, "{kept}");
        let c = claims(&kept);
        assert_eq!(c["authTime"].as_u64(), Some(old_auth));
        assert!(
            c["exp"].as_u64().unwrap() > now_ms() / 1000 + 6 * 86400,
            "{c}"
        );

        assert_eq!(
            call(
                &fake,
                "POST",
                "/user/v1/refresh-token",
                r#"{"password":"bad"}"#,
                Some(&old)
            )
            .0,
            401
        );
        let (status, fresh) = call(
            &fake,
            "POST",
            "/user/v1/refresh-token",
            r#"{"password":"pw"}"#,
            Some(&old),
        );
        assert_eq!(status, 200, "{fresh}");
        assert!(now_ms() - claims(&fresh)["authTime"].as_u64().unwrap() < 5000);

        // The old token works until its own exp; all three are distinct.
        assert!(
            fake.authenticates(&old) && fake.authenticates(&kept) && fake.authenticates(&fresh)
        );
        assert!(old != kept && kept != fresh);
        assert_eq!(
            fake.issued_session_tokens(),
            [old.clone(), kept.clone(), fresh.clone()]
        );

        // The fresh rule: the 1h-old lineage cannot mint, the refreshed one can.
        fake.set_fresh_auth_required(true);
        let (status, body) = mint(&fake, &kept, r#"{"name":"k"}"#);
        assert_eq!(
            (status, json_of(&body)),
            (401, json!("Fresh authentication token required"))
        );
        assert!(fake.keys().is_empty());
        assert_eq!(mint(&fake, &fresh, r#"{"name":"k"}"#).0, 200);
        fake.set_fresh_auth_required(false);
        assert_eq!(mint(&fake, &kept, r#"{"name":"k2"}"#).0, 200);
    }

    #[test]
    fn a_key_authenticates_until_deleted_and_cannot_mint_or_delete() {
        let fake = FakeBalena::start().unwrap();
        let alice = fake.add_user("alice", "pw");
        fake.add_user("bob", "pw");
        let session = fresh_session(&fake, "alice");
        let bob = fresh_session(&fake, "bob");

        assert_eq!(
            mint(&fake, &session, r#"{"description":"x"}"#),
            (400, "\"API keys require a name\"".to_owned())
        );
        assert_eq!(
            mint(&fake, &session, r#"{"name":"k","expiryDate":"soon"}"#),
            (400, "\"Key expiry date should be a valid date\"".to_owned())
        );
        let (status, body) = mint(
            &fake,
            &session,
            r#"{"name":"vault-1","description":"Vault","expiryDate":"2999-01-02T03:04:05.678Z"}"#,
        );
        assert_eq!(status, 200, "{body}");
        let key = json_of(&body).as_str().unwrap().to_owned();
        assert!(
            key.len() == 32 && key.chars().all(|c| c.is_ascii_alphanumeric()),
            "{key}"
        );
        let stored = fake.keys();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (
                stored[0].user_id,
                stored[0].name.as_str(),
                stored[0].description.as_str()
            ),
            (alice, "vault-1", "Vault")
        );
        assert_eq!(
            stored[0].expiry_date.as_deref(),
            Some("2999-01-02T03:04:05.678Z")
        );
        let id = stored[0].id;

        assert!(fake.authenticates(&key));
        let (status, me) = call(&fake, "GET", "/user/v1/whoami", "", Some(&key));
        assert_eq!((status, json_of(&me)["id"].as_u64()), (200, Some(alice)));
        // An API key can neither mint, refresh, nor delete.
        assert_eq!(mint(&fake, &key, r#"{"name":"k"}"#).0, 401);
        assert_eq!(
            call(&fake, "GET", "/user/v1/refresh-token", "", Some(&key)).0,
            401
        );
        assert_eq!(
            call(
                &fake,
                "DELETE",
                &format!("/v7/api_key({id})"),
                "",
                Some(&key)
            )
            .0,
            401
        );
        // Nor may another user delete it.
        assert_eq!(
            call(
                &fake,
                "DELETE",
                &format!("/v7/api_key({id})"),
                "",
                Some(&bob)
            )
            .0,
            401
        );

        let (status, body) = call(
            &fake,
            "DELETE",
            &format!("/v7/api_key({id})"),
            "",
            Some(&session),
        );
        assert_eq!((status, json_of(&body)), (200, json!("OK")));
        assert!(!fake.authenticates(&key));
        assert_eq!(call(&fake, "GET", "/user/v1/whoami", "", Some(&key)).0, 401);
        assert_eq!(
            call(
                &fake,
                "DELETE",
                &format!("/v6/api_key({id})"),
                "",
                Some(&session)
            )
            .0,
            404
        );
        assert!(
            fake.requests()
                .contains(&format!("DELETE /v7/api_key({id})"))
        );
    }

    #[test]
    fn expiry_dates_end_keys_and_can_be_patched() {
        let fake = FakeBalena::start().unwrap();
        fake.add_user("alice", "pw");
        let session = fresh_session(&fake, "alice");
        let (_, body) = mint(&fake, &session, r#"{"name":"k","expiryDate":"2001-01-01"}"#);
        let expired = json_of(&body).as_str().unwrap().to_owned();
        assert!(!fake.authenticates(&expired), "a key past its expiry date");
        let id = fake.keys()[0].id;
        let patch = |body: &str| {
            call(
                &fake,
                "PATCH",
                &format!("/v7/api_key({id})"),
                body,
                Some(&session),
            )
            .0
        };
        assert_eq!(patch(r#"{"expiry_date":null}"#), 200);
        assert!(fake.authenticates(&expired));
        assert_eq!(patch(r#"{"expiry_date":"2000-06-01T00:00:00+02:00"}"#), 200);
        assert_eq!(
            fake.keys()[0].expiry_date.as_deref(),
            Some("2000-05-31T22:00:00.000Z")
        );
        assert!(!fake.authenticates(&expired));
        assert_eq!(patch(r#"{"expiry_date":"2000-02-30"}"#), 400);
        assert_eq!(
            call(&fake, "PATCH", "/v7/api_key(999999)", "{}", Some(&session)).0,
            404
        );
    }

    #[test]
    fn listing_filters_by_quoted_name_and_shows_only_the_callers_keys() {
        let fake = FakeBalena::start().unwrap();
        fake.add_user("alice", "pw");
        let bob_id = fake.add_user("bob", "pw");
        let alice = fresh_session(&fake, "alice");
        let bob = fresh_session(&fake, "bob");
        for name in ["it's", "it's", "plain", "it"] {
            let body = json!({"name": name}).to_string();
            assert_eq!(mint(&fake, &alice, &body).0, 200);
        }
        assert_eq!(mint(&fake, &bob, r#"{"name":"it's"}"#).0, 200);

        // Spaces go as %20 (a raw one would end the request target).
        let list = |query: &str, who: &str| {
            let target = format!("/v7/api_key?{}", query.replace(' ', "%20"));
            let (status, body) = call(&fake, "GET", &target, "", Some(who));
            assert_eq!(status, 200, "{query}: {body}");
            json_of(&body)["d"].as_array().unwrap().clone()
        };
        // `''` is one quote; the query is percent-decoded per parameter.
        let rows = list(
            "$select=id,created_at,name,description,expiry_date&$filter=(name%20eq%20'it''s')&$orderby=created_at%20desc",
            &alice,
        );
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0]["id"].as_u64() > rows[1]["id"].as_u64(), "{rows:?}");
        let fields: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            ["created_at", "description", "expiry_date", "id", "name"]
        );
        assert!(
            !rows[0].to_string().contains(&fake.keys()[0].key),
            "no secret is listed"
        );
        let encoded = list("%24filter=name%20eq%20%27it%27%27s%27&%24top=1", &alice);
        assert_eq!(encoded.len(), 1);
        assert_eq!(list("$filter=name eq 'it'", &alice).len(), 1);
        assert_eq!(list("", &alice).len(), 4);
        assert_eq!(list("", &bob).len(), 1);
        let of_user =
            format!("$filter=is_of__actor/any(a:a/is_of__user eq {bob_id}) and name ne null");
        assert_eq!(list(&of_user, &bob).len(), 1);
        assert_eq!(list(&of_user, &alice).len(), 0);
        // v6 answers too; a filter the fake does not understand is a 400.
        assert_eq!(call(&fake, "GET", "/v6/api_key", "", Some(&bob)).0, 200);
        assert_eq!(
            call(
                &fake,
                "GET",
                "/v7/api_key?$filter=name%20eq%20'x",
                "",
                Some(&bob)
            )
            .0,
            400
        );
        assert_eq!(call(&fake, "GET", "/v7/api_key", "", None).0, 401);
    }

    #[test]
    fn fail_next_fails_that_many_requests_of_any_kind() {
        let fake = FakeBalena::start().unwrap();
        fake.add_user("alice", "pw");
        let session = fresh_session(&fake, "alice");
        fake.fail_next(2, 503);
        assert_eq!(
            call(&fake, "GET", "/user/v1/whoami", "", Some(&session)).0,
            503
        );
        assert_eq!(mint(&fake, &session, r#"{"name":"k"}"#).0, 503);
        assert!(fake.keys().is_empty());
        assert_eq!(
            call(&fake, "GET", "/user/v1/whoami", "", Some(&session)).0,
            200
        );
        assert_eq!(
            call(&fake, "GET", "/nothing/here", "", Some(&session)).0,
            404
        );
        assert_eq!(
            fake.requests(),
            [
                "GET /user/v1/whoami",
                "POST /api-key/user/full",
                "GET /user/v1/whoami",
                "GET /nothing/here"
            ]
        );
    }

    #[test]
    fn a_create_delay_answers_late_with_the_key_already_there() {
        let fake = FakeBalena::start().unwrap();
        fake.add_user("alice", "pw");
        let session = fresh_session(&fake, "alice");
        fake.set_create_delay(Duration::from_millis(800));
        let url = fake.url_with_host("localhost");
        assert!(
            url.starts_with("http://localhost:")
                && url.ends_with(&fake.server.address().port().to_string())
        );
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            let minting = s.spawn(|| mint(&fake, &session, r#"{"name":"slow"}"#));
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(fake.keys().len(), 1, "the key exists before the answer");
            assert_eq!(minting.join().unwrap().0, 200);
        });
        assert!(started.elapsed() >= Duration::from_millis(800));
    }

    #[test]
    fn dates_parse_and_format_like_iso8601() {
        let ms = |s: &str| parse_iso8601(s);
        assert_eq!(ms("1970-01-01"), Some(0));
        assert_eq!(ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(ms("2024-02-29T12:00:00+01:00"), ms("2024-02-29T11:00:00Z"));
        assert_eq!(ms("2023-02-29"), None);
        assert_eq!(ms("2024-13-01"), None);
        assert_eq!(ms("tomorrow"), None);
        assert_eq!(
            iso8601(ms("2030-12-31T23:59:59.999Z").unwrap()),
            "2030-12-31T23:59:59.999Z"
        );
        assert_eq!(base64url(b"ab?"), "YWI_");
        assert_eq!(base64url(b"a"), "YQ");
    }
}
