//! A fake of IBM Cloud IAM (and of its user management API), stateful the
//! way the real one is, for the `auth-ibmcloud` plugin's tests and the demo.
//!
//! Why a fake: the plugin trusts what IAM signs and what IAM's APIs say, and
//! the real IAM cannot be used from tests. The fake keeps the rules the
//! plugin has to live with (see `providers.md` §4):
//!
//! - `POST /identity/token` (grant type `urn:ibm:params:oauth:grant-type:apikey`)
//!   exchanges a live API key for an RS256 access token, signed with an RSA
//!   key the fake generated; a deleted or unknown key is a 400;
//! - `GET /identity/keys` publishes the signing keys (JWKS) and
//!   `GET /identity/.well-known/openid-configuration` the issuer; keys can be
//!   rotated (a new key signs, the old one stays published) and retired
//!   (no longer published);
//! - service IDs (`GET /v1/serviceids/{id}`), trusted profiles
//!   (`GET /v1/profiles/{id}`), users of an account (user management,
//!   `GET /v2/accounts/{account}/users/{iam_id}`, served under
//!   [`FakeIam::user_management_url`] so a client that mixes the two
//!   endpoints up fails), access-group membership
//!   (`HEAD /v2/groups/{group}/members/{iam_id}`: 204 or 404), and API keys
//!   (`GET /v1/apikeys/details` by `IAM-ApiKey`, `POST /v1/apikeys`,
//!   `DELETE /v1/apikeys/{id}`, and the listing
//!   `GET /v1/apikeys?account_id=…&iam_id=…&pagesize=…&pagetoken=…`: pages of
//!   1 to 100 keys, 20 by default, each with a `next` link while more
//!   follow) for root rotation;
//! - every call but the three `/identity/*` ones needs
//!   `Authorization: Bearer <an unexpired access token the fake issued>`
//!   (401 otherwise); an identity creates and deletes only its own keys, and
//!   lists those of its own account's service IDs and its own.
//!
//! Tests can also sign tokens themselves ([`SigningKey`], [`FakeIam::sign`]),
//! forge them ([`unsigned_token`], [`hs256_token`], a key that is not
//! published), make a route fail or slow ([`FakeIam::fail`],
//! [`FakeIam::set_delay`], [`FakeIam::faults`], whose after-effect faults
//! lose the answer of a call the fake carried out) and count calls
//! ([`FakeIam::hits`]).
//!
//! The server is wiremock's, on its own thread: [`FakeIam::start`] from async
//! code, [`FakeIam::start_blocking`] from sync tests. It stops when dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::faults::Faults;

/// The grant type of an API key exchange at `/identity/token`.
pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// How long the access tokens the fake issues live (IBM: one hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The path prefix of the user management API on the fake's server.
const USER_MANAGEMENT_PREFIX: &str = "/user-management";

/// An RSA key that signs RS256 tokens, with its key id (`kid`).
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    private_pkcs1_der: Vec<u8>,
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new 2048-bit RSA key called `kid`.
    ///
    /// # Panics
    /// If the operating system has no randomness (tests only).
    pub fn generate(kid: &str) -> Self {
        Self::generate_bits(kid, 2048)
    }

    /// A new RSA key of `bits` bits called `kid` (small keys for refusal
    /// tests).
    ///
    /// # Panics
    /// If the operating system has no randomness (tests only).
    pub fn generate_bits(kid: &str, bits: usize) -> Self {
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).expect("RSA key");
        let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
        Self {
            kid: kid.to_owned(),
            private_pkcs1_der: der.as_bytes().to_vec(),
            n: B64URL.encode(key.n_bytes()),
            e: B64URL.encode(key.e_bytes()),
        }
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, as IAM publishes it.
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e})
    }

    /// The same key published under another key id (for a forger who signs
    /// with their own key but names a published `kid`).
    pub fn renamed(&self, kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            ..self.clone()
        }
    }

    /// An RS256 token of `claims` with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// A token of `claims` with `header` as given, signed with this key
    /// (`header.alg` must be an RSA algorithm).
    ///
    /// # Panics
    /// If the algorithm is not one RSA signs with.
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_der(&self.private_pkcs1_der);
        jsonwebtoken::encode(header, claims, &key).expect("RSA signing")
    }
}

/// A token of `claims` with `alg: none` and no signature, naming `kid`.
pub fn unsigned_token(claims: &Value, kid: &str) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    )
}

/// An HS256 token of `claims` whose HMAC key is `secret` (for example the
/// published RSA modulus, the classic key-confusion forgery), naming `kid`.
///
/// # Panics
/// Never for a valid claims object.
pub fn hs256_token(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("HMAC")
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// What kind of IAM identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// A person (IBMid): tokens carry no `sub_type`; an account member
    /// through user management.
    User,
    /// A service ID: `sub_type` `ServiceId`.
    ServiceId,
    /// A trusted profile: `sub_type` `Profile`.
    Profile,
}

/// An identity the fake knows (once added with [`FakeIam::add_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its kind.
    pub kind: IdentityKind,
    /// Its IAM ID (`iam_id` claim), e.g. `iam-ServiceId-…` or `IBMid-…`.
    pub iam_id: String,
    /// Its id (`identifier` claim): `ServiceId-…`, `Profile-…` or the user's
    /// unique id.
    pub id: String,
    /// Its subject (`sub` claim): the id, or a user's e-mail address.
    pub sub: String,
    /// Its name.
    pub name: String,
    /// The account it belongs to.
    pub account_id: String,
}

impl Identity {
    /// A new service ID called `name` in `account_id`.
    pub fn service_id(name: &str, account_id: &str) -> Self {
        let id = format!("ServiceId-{}", random_hex(16));
        Self {
            kind: IdentityKind::ServiceId,
            iam_id: format!("iam-{id}"),
            sub: id.clone(),
            id,
            name: name.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// A new user with e-mail address `email` in `account_id`.
    pub fn user(email: &str, account_id: &str) -> Self {
        let id = random_hex(10).to_uppercase();
        Self {
            kind: IdentityKind::User,
            iam_id: format!("IBMid-{id}"),
            id,
            sub: email.to_owned(),
            name: email.split('@').next().unwrap_or(email).to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// A new trusted profile called `name` in `account_id`.
    pub fn profile(name: &str, account_id: &str) -> Self {
        let id = format!("Profile-{}", random_hex(16));
        Self {
            kind: IdentityKind::Profile,
            iam_id: format!("iam-{id}"),
            sub: id.clone(),
            id,
            name: name.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// The claims of an access token for this identity from `issuer`,
    /// issued now and living [`TOKEN_LIFETIME`], shaped as IAM shapes them.
    pub fn claims(&self, issuer: &str) -> Value {
        let now = now_secs();
        let mut claims = json!({
            "iam_id": self.iam_id,
            "id": self.iam_id,
            "identifier": self.id,
            "sub": self.sub,
            "name": self.name,
            "account": {"valid": true, "bss": self.account_id},
            "iat": now,
            "exp": now + TOKEN_LIFETIME.as_secs(),
            "iss": issuer,
            "grant_type": APIKEY_GRANT,
            "scope": "ibm openid",
            "client_id": "default",
            "acr": 1,
            "amr": ["pwd"],
        });
        match self.kind {
            IdentityKind::User => {
                claims["realmid"] = json!("IBMid");
                claims["email"] = json!(self.sub);
            }
            IdentityKind::ServiceId => {
                claims["realmid"] = json!("iam");
                claims["sub_type"] = json!("ServiceId");
            }
            IdentityKind::Profile => {
                claims["realmid"] = json!("iam");
                claims["sub_type"] = json!("Profile");
            }
        }
        claims
    }
}

/// One API key the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeApiKey {
    /// Its id, `ApiKey-…`.
    pub id: String,
    /// The secret value.
    pub value: String,
    /// The identity it belongs to.
    pub iam_id: String,
    /// The account of that identity.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Whether it was deleted (it then no longer exchanges for tokens).
    pub deleted: bool,
}

/// The fake's routes, to make one fail ([`FakeIam::fail`]) or count its
/// calls ([`FakeIam::hits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `GET /identity/.well-known/openid-configuration`
    Discovery,
    /// `GET /identity/keys`
    Keys,
    /// `POST /identity/token`
    Token,
    /// `GET /v1/serviceids/{id}`
    ServiceId,
    /// `GET /v1/profiles/{id}`
    Profile,
    /// `GET {user management}/v2/accounts/{account}/users/{iam_id}`
    User,
    /// `HEAD /v2/groups/{group}/members/{iam_id}`
    GroupMember,
    /// `GET /v1/apikeys/details`
    ApiKeyDetails,
    /// `POST /v1/apikeys`
    ApiKeyCreate,
    /// `DELETE /v1/apikeys/{id}`
    ApiKeyDelete,
    /// `GET /v1/apikeys?account_id=…&iam_id=…`
    ApiKeyList,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::Discovery,
        Route::Keys,
        Route::Token,
        Route::ServiceId,
        Route::Profile,
        Route::User,
        Route::GroupMember,
        Route::ApiKeyDetails,
        Route::ApiKeyCreate,
        Route::ApiKeyDelete,
        Route::ApiKeyList,
    ];

    /// Method and path pattern.
    fn pattern(self) -> (&'static str, String) {
        let um = USER_MANAGEMENT_PREFIX;
        match self {
            Route::Discovery => ("GET", "^/identity/.well-known/openid-configuration$".into()),
            Route::Keys => ("GET", "^/identity/keys$".into()),
            Route::Token => ("POST", "^/identity/token$".into()),
            Route::ServiceId => ("GET", "^/v1/serviceids/[^/]+$".into()),
            Route::Profile => ("GET", "^/v1/profiles/[^/]+$".into()),
            Route::User => ("GET", format!("^{um}/v2/accounts/[^/]+/users/[^/]+$")),
            Route::GroupMember => ("HEAD", "^/v2/groups/[^/]+/members/[^/]+$".into()),
            Route::ApiKeyDetails => ("GET", "^/v1/apikeys/details$".into()),
            Route::ApiKeyCreate => ("POST", "^/v1/apikeys$".into()),
            Route::ApiKeyDelete => ("DELETE", "^/v1/apikeys/[^/]+$".into()),
            Route::ApiKeyList => ("GET", "^/v1/apikeys$".into()),
        }
    }

    /// Whether the route is public (IAM's token, keys and discovery).
    fn is_public(self) -> bool {
        matches!(self, Route::Discovery | Route::Keys | Route::Token)
    }
}

/// A published or retired signing key.
struct KeyEntry {
    key: SigningKey,
    published: bool,
}

/// An access token the fake issued (valid as a bearer until `exp`).
struct Grant {
    iam_id: String,
    exp: u64,
}

struct State {
    base_url: String,
    issuer: String,
    /// Every key ever made; the last one signs.
    keys: Vec<KeyEntry>,
    identities: BTreeMap<String, Identity>,
    groups: BTreeMap<String, BTreeSet<String>>,
    api_keys: Vec<FakeApiKey>,
    grants: HashMap<String, Grant>,
    failures: HashMap<Route, u16>,
    delay: Duration,
    hits: HashMap<Route, usize>,
}

impl State {
    fn signer(&self) -> &SigningKey {
        // `FakeIam::start` makes the first key; keys are never removed.
        &self.keys[self.keys.len() - 1].key
    }

    fn issue(&mut self, identity: &Identity) -> String {
        let token = self.signer().sign(&identity.claims(&self.issuer));
        self.grants.insert(
            token.clone(),
            Grant {
                iam_id: identity.iam_id.clone(),
                exp: now_secs() + TOKEN_LIFETIME.as_secs(),
            },
        );
        token
    }

    fn new_api_key(&mut self, identity: &Identity, name: &str, description: &str) -> FakeApiKey {
        let key = FakeApiKey {
            id: format!("ApiKey-{}", random_hex(16)),
            value: random_hex(22),
            iam_id: identity.iam_id.clone(),
            account_id: identity.account_id.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            deleted: false,
        };
        self.api_keys.push(key.clone());
        key
    }

    fn live_key_by_value(&self, value: &str) -> Option<&FakeApiKey> {
        self.api_keys
            .iter()
            .find(|k| !k.deleted && k.value == value)
    }

    /// The identity whose unexpired token authorizes `req`, if any.
    fn caller(&self, req: &Request) -> Option<Identity> {
        let header = req.headers.get("authorization")?.to_str().ok()?;
        let (scheme, token) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let grant = self.grants.get(token.trim())?;
        if grant.exp <= now_secs() {
            return None;
        }
        self.identities.get(&grant.iam_id).cloned()
    }
}

/// The running fake IAM; stops when dropped.
pub struct FakeIam {
    server: MockServer,
    state: Arc<Mutex<State>>,
    faults: Faults,
}

impl FakeIam {
    /// Starts the fake on a free loopback port, with one signing key.
    ///
    /// # Errors
    /// If no port can be bound.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let server = MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        let base_url = server.uri();
        let state = Arc::new(Mutex::new(State {
            issuer: format!("{base_url}/identity"),
            base_url,
            keys: vec![KeyEntry {
                key: SigningKey::generate(&new_kid()),
                published: true,
            }],
            identities: BTreeMap::new(),
            groups: BTreeMap::new(),
            api_keys: Vec::new(),
            grants: HashMap::new(),
            failures: HashMap::new(),
            delay: Duration::ZERO,
            hits: HashMap::new(),
        }));
        let faults = Faults::new();
        faults.mock().mount(&server).await;
        for route in Route::ALL {
            let (verb, pattern) = route.pattern();
            let state = Arc::clone(&state);
            Mock::given(method(verb))
                .and(path_regex(pattern))
                .respond_with(faults.after(move |req: &Request| respond(&state, route, req)))
                .mount(&server)
                .await;
        }
        Ok(Self {
            server,
            state,
            faults,
        })
    }

    /// [`FakeIam::start`] for sync code (not from inside a tokio runtime's
    /// async context).
    ///
    /// # Errors
    /// If no port can be bound or no runtime can be built.
    pub fn start_blocking() -> io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(Self::start())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The IAM endpoint, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The user management endpoint (same server, under its own prefix).
    pub fn user_management_url(&self) -> String {
        format!("{}{USER_MANAGEMENT_PREFIX}", self.server.uri())
    }

    /// The fields of an `auth-ibmcloud` config that reaches this fake with
    /// the admin API key `api_key` of account `account_id`, as `key=value`
    /// arguments of `bao write <mount>/config`
    /// ([`BaoClient::write_ok`](crate::BaoClient::write_ok)).
    pub fn config_args(&self, api_key: &str, account_id: &str) -> Vec<String> {
        vec![
            format!("api_key={api_key}"),
            format!("account_id={account_id}"),
            format!("iam_endpoint={}", self.url()),
            format!("user_management_endpoint={}", self.user_management_url()),
        ]
    }

    /// The same config as [`config_args`](Self::config_args), as the JSON
    /// body of a `PUT <mount>/config`.
    pub fn config_json(&self, api_key: &str, account_id: &str) -> Value {
        json!({
            "api_key": api_key, "account_id": account_id, "iam_endpoint": self.url(),
            "user_management_endpoint": self.user_management_url(),
        })
    }

    /// The issuer the discovery document names and tokens carry
    /// (`<url>/identity` unless changed).
    pub fn issuer(&self) -> String {
        self.state().issuer.clone()
    }

    /// Changes the issuer (discovery and new tokens).
    pub fn set_issuer(&self, issuer: &str) {
        self.state().issuer = issuer.to_owned();
    }

    /// Makes `identity` known: a service ID, profile, or user of its account.
    pub fn add_identity(&self, identity: &Identity) {
        self.state()
            .identities
            .insert(identity.iam_id.clone(), identity.clone());
    }

    /// Forgets `iam_id`: the service ID or profile is deleted, the user left
    /// the account. Its tokens no longer authorize calls.
    pub fn remove_identity(&self, iam_id: &str) {
        self.state().identities.remove(iam_id);
    }

    /// Puts `iam_id` into access group `group`.
    pub fn add_to_group(&self, group: &str, iam_id: &str) {
        self.state()
            .groups
            .entry(group.to_owned())
            .or_default()
            .insert(iam_id.to_owned());
    }

    /// Takes `iam_id` out of access group `group`.
    pub fn remove_from_group(&self, group: &str, iam_id: &str) {
        if let Some(members) = self.state().groups.get_mut(group) {
            members.remove(iam_id);
        }
    }

    /// A new API key of `identity`.
    pub fn create_api_key(&self, identity: &Identity) -> FakeApiKey {
        self.state().new_api_key(identity, "test key", "")
    }

    /// Deletes the API key with this id (as its owner would).
    pub fn delete_api_key(&self, id: &str) {
        for key in &mut self.state().api_keys {
            if key.id == id {
                key.deleted = true;
            }
        }
    }

    /// The API key with this id, deleted or not.
    pub fn api_key(&self, id: &str) -> Option<FakeApiKey> {
        self.state().api_keys.iter().find(|k| k.id == id).cloned()
    }

    /// Every API key of `iam_id` that is not deleted.
    pub fn live_api_keys(&self, iam_id: &str) -> Vec<FakeApiKey> {
        let state = self.state();
        state
            .api_keys
            .iter()
            .filter(|k| k.iam_id == iam_id && !k.deleted)
            .cloned()
            .collect()
    }

    /// A fresh access token of `identity`, as an API key exchange would give
    /// (it also authorizes calls to the fake).
    pub fn access_token(&self, identity: &Identity) -> String {
        self.state().issue(identity)
    }

    /// `claims` signed with the current signing key (not a bearer for the
    /// fake's own APIs).
    pub fn sign(&self, claims: &Value) -> String {
        self.state().signer().sign(claims)
    }

    /// The key that signs now.
    pub fn current_key(&self) -> SigningKey {
        self.state().signer().clone()
    }

    /// A new signing key signs from now on; the old ones stay published.
    /// Returns the new key's id.
    pub fn rotate_keys(&self) -> String {
        let key = SigningKey::generate(&new_kid());
        let kid = key.kid.clone();
        self.state().keys.push(KeyEntry {
            key,
            published: true,
        });
        kid
    }

    /// Stops publishing the key `kid` (tokens it signed no longer verify
    /// for a client that fetches the keys again).
    pub fn retire_key(&self, kid: &str) {
        for entry in &mut self.state().keys {
            if entry.key.kid == kid {
                entry.published = false;
            }
        }
    }

    /// Makes `route` answer `status` (with an IAM-style error body) until
    /// [`FakeIam::heal`].
    pub fn fail(&self, route: Route, status: u16) {
        self.state().failures.insert(route, status);
    }

    /// Undoes [`FakeIam::fail`].
    pub fn heal(&self, route: Route) {
        self.state().failures.remove(&route);
    }

    /// The fault switch: failures, hangs and broken bodies for chosen calls
    /// (they count in no [`hits`](Self::hits)).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Delays every answer by `delay` (for timeouts).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// How many requests `route` has answered.
    pub fn hits(&self, route: Route) -> usize {
        self.state().hits.get(&route).copied().unwrap_or(0)
    }

    /// Every secret the fake ever handed out: API key values and access
    /// tokens (for scanning logs).
    pub fn secrets(&self) -> Vec<String> {
        let state = self.state();
        state
            .api_keys
            .iter()
            .map(|k| k.value.clone())
            .chain(state.grants.keys().cloned())
            .collect()
    }
}

impl std::fmt::Debug for FakeIam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIam")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

/// Answers one request to `route`.
fn respond(state: &Mutex<State>, route: Route, req: &Request) -> ResponseTemplate {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    *state.hits.entry(route).or_default() += 1;
    let delay = state.delay;
    let reply = if let Some(&status) = state.failures.get(&route) {
        api_error(status, "injected_failure", "the fake was told to fail")
    } else if route.is_public() {
        public(&mut state, route, req)
    } else {
        match state.caller(req) {
            Some(caller) => protected(&mut state, route, req, &caller),
            None => api_error(401, "BXNIM0308E", "Token is not valid."),
        }
    };
    reply.set_delay(delay)
}

/// `/identity/*`: discovery, keys and token.
fn public(state: &mut State, route: Route, req: &Request) -> ResponseTemplate {
    match route {
        Route::Discovery => {
            let base = &state.base_url;
            ResponseTemplate::new(200).set_body_json(json!({
                "issuer": state.issuer,
                "authorization_endpoint": format!("{base}/identity/authorize"),
                "token_endpoint": format!("{base}/identity/token"),
                "jwks_uri": format!("{base}/identity/keys"),
                "response_types_supported": ["code", "token"],
                "grant_types_supported": [APIKEY_GRANT, "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }))
        }
        Route::Keys => {
            let keys: Vec<Value> = state
                .keys
                .iter()
                .filter(|k| k.published)
                .map(|k| k.key.jwk())
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "keys": keys }))
        }
        _ => exchange(state, req),
    }
}

/// `POST /identity/token`: an API key for an access token.
fn exchange(state: &mut State, req: &Request) -> ResponseTemplate {
    let form: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some(APIKEY_GRANT) {
        return token_error(400, "BXNIM0308E", "Grant type is not supported.");
    }
    let identity = form
        .get("apikey")
        .and_then(|value| state.live_key_by_value(value))
        .and_then(|key| state.identities.get(&key.iam_id))
        .cloned();
    let Some(identity) = identity else {
        return token_error(400, "BXNIM0415E", "Provided API key could not be found.");
    };
    let token = state.issue(&identity);
    let exp = now_secs() + TOKEN_LIFETIME.as_secs();
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "refresh_token": "not_supported",
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "expiration": exp,
        "scope": "ibm openid",
    }))
}

/// The routes that need a bearer token; `caller` is its identity.
fn protected(
    state: &mut State,
    route: Route,
    req: &Request,
    caller: &Identity,
) -> ResponseTemplate {
    let segments: Vec<&str> = req.url.path().split('/').collect();
    let last = segments.last().copied().unwrap_or_default();
    match route {
        Route::ServiceId | Route::Profile => {
            let kind = if route == Route::ServiceId {
                IdentityKind::ServiceId
            } else {
                IdentityKind::Profile
            };
            match state
                .identities
                .values()
                .find(|i| i.kind == kind && i.id == last)
            {
                Some(found) => ResponseTemplate::new(200).set_body_json(json!({
                    "id": found.id,
                    "iam_id": found.iam_id,
                    "account_id": found.account_id,
                    "name": found.name,
                    "description": "",
                    "locked": false,
                })),
                None => api_error(404, "not_found", &format!("{last} not found")),
            }
        }
        Route::User => {
            // {prefix}/v2/accounts/{account}/users/{iam_id}
            let account = segments.get(segments.len().saturating_sub(3)).copied();
            match state.identities.get(last) {
                Some(user)
                    if user.kind == IdentityKind::User
                        && Some(user.account_id.as_str()) == account =>
                {
                    ResponseTemplate::new(200).set_body_json(json!({
                        "id": user.id,
                        "iam_id": user.iam_id,
                        "realm": "IBMid",
                        "user_id": user.sub,
                        "email": user.sub,
                        "account_id": user.account_id,
                        "state": "ACTIVE",
                    }))
                }
                _ => api_error(404, "user_not_found", "User not found in the account."),
            }
        }
        Route::GroupMember => {
            // /v2/groups/{group}/members/{iam_id}
            let group = segments.get(3).copied().unwrap_or_default();
            let member = state
                .groups
                .get(group)
                .is_some_and(|members| members.contains(last));
            ResponseTemplate::new(if member { 204 } else { 404 })
        }
        Route::ApiKeyDetails => {
            let value = req
                .headers
                .get("iam-apikey")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            match state.live_key_by_value(value) {
                Some(key) => ResponseTemplate::new(200).set_body_json(key_details(key, false)),
                None => api_error(404, "not_found", "API key not found."),
            }
        }
        Route::ApiKeyCreate => {
            let Ok(body) = req.body_json::<Value>() else {
                return api_error(400, "bad_request", "The body is not JSON.");
            };
            let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
            if text("iam_id") != caller.iam_id {
                return api_error(
                    403,
                    "forbidden",
                    "You cannot create keys for that identity.",
                );
            }
            let account = text("account_id");
            if !account.is_empty() && account != caller.account_id {
                return api_error(
                    400,
                    "bad_request",
                    "The account does not match the identity.",
                );
            }
            let key = state.new_api_key(caller, &text("name"), &text("description"));
            ResponseTemplate::new(201).set_body_json(key_details(&key, true))
        }
        Route::ApiKeyList => list_api_keys(state, req, caller),
        _ => match state
            .api_keys
            .iter_mut()
            .find(|k| k.id == last && !k.deleted)
        {
            Some(key) if key.iam_id == caller.iam_id => {
                key.deleted = true;
                ResponseTemplate::new(204)
            }
            Some(_) => api_error(403, "forbidden", "You cannot delete that key."),
            None => api_error(404, "not_found", "API key not found."),
        },
    }
}

/// `GET /v1/apikeys`: one page of the live keys of `iam_id` (the caller's
/// by default) in `account_id`, oldest first. A service ID's keys are
/// listed for callers of its account, a user's only for the user; the
/// `pagetoken` is the one a `next` link carried.
fn list_api_keys(state: &State, req: &Request, caller: &Identity) -> ResponseTemplate {
    let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    let iam_id = query.get("iam_id").unwrap_or(&caller.iam_id).clone();
    let Some(owner) = state.identities.get(&iam_id) else {
        return api_error(404, "not_found", "The IAM ID is not known.");
    };
    if owner.kind == IdentityKind::User && owner.iam_id != caller.iam_id {
        return api_error(403, "forbidden", "You cannot list the keys of that user.");
    }
    if owner.account_id != caller.account_id {
        return api_error(403, "forbidden", "You cannot list keys of that account.");
    }
    if query
        .get("account_id")
        .is_some_and(|a| *a != owner.account_id)
    {
        return api_error(
            400,
            "bad_request",
            "The account does not match the identity.",
        );
    }
    let size = match query.get("pagesize").map(|p| p.parse::<usize>()) {
        None => 20,
        Some(Ok(size)) if (1..=100).contains(&size) => size,
        Some(_) => return api_error(400, "bad_request", "pagesize must be 1 to 100."),
    };
    let offset = match query.get("pagetoken").map(|t| page_offset(t)) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => return api_error(400, "bad_request", "The pagetoken is not valid."),
    };
    let keys: Vec<&FakeApiKey> = state
        .api_keys
        .iter()
        .filter(|k| k.iam_id == iam_id && !k.deleted)
        .collect();
    let link = |offset: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("account_id", &owner.account_id)
            .append_pair("iam_id", &iam_id)
            .append_pair("pagesize", &size.to_string());
        if offset > 0 {
            query.append_pair("pagetoken", &page_token(offset));
        }
        format!("{}/v1/apikeys?{}", state.base_url, query.finish())
    };
    let page: Vec<Value> = keys
        .iter()
        .skip(offset)
        .take(size)
        .map(|k| key_details(k, false))
        .collect();
    let mut answer = json!({
        "offset": offset,
        "limit": size,
        "first": link(0),
        "apikeys": page,
    });
    if offset > 0 {
        answer["previous"] = json!(link(offset.saturating_sub(size)));
    }
    if offset + size < keys.len() {
        answer["next"] = json!(link(offset + size));
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

/// The opaque page token of a listing's page at `offset`.
fn page_token(offset: usize) -> String {
    B64URL.encode(format!("offset:{offset}"))
}

/// The offset a page token stands for, if it is one the fake made.
fn page_offset(token: &str) -> Option<usize> {
    let text = String::from_utf8(B64URL.decode(token).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

/// An API key as IAM describes it; `with_value` only when it was created.
fn key_details(key: &FakeApiKey, with_value: bool) -> Value {
    let mut details = json!({
        "id": key.id,
        "iam_id": key.iam_id,
        "account_id": key.account_id,
        "name": key.name,
        "description": key.description,
        "locked": false,
        "crn": format!("crn:v1:bluemix:public:iam-identity::a/{}::apikey:{}", key.account_id, key.id),
    });
    if with_value {
        details["apikey"] = json!(key.value);
    }
    details
}

/// An error of the token endpoint.
fn token_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "errorCode": code,
        "errorMessage": message,
        "context": {"requestId": random_hex(8)},
    }))
}

/// An error of the platform APIs.
fn api_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "trace": random_hex(8),
        "errors": [{"code": code, "message": message}],
        "status_code": status,
    }))
}

/// A key id like IAM's (a date stamp and a random tail).
fn new_kid() -> String {
    format!("20260101-{}", random_hex(4))
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;

    use super::*;
    use crate::faults::Fault;

    /// One request to the fake (`Connection: close`, so the answer ends),
    /// with extra header lines; the status and the body.
    fn call(
        fake: &FakeIam,
        verb: &str,
        target: &str,
        headers: &[String],
        body: &str,
    ) -> (u16, Value) {
        let mut conn = TcpStream::connect(fake.server.address()).unwrap();
        let headers: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        write!(
            conn,
            "{verb} {target} HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n{headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn bearer(token: &str) -> Vec<String> {
        vec![format!("Authorization: Bearer {token}")]
    }

    fn get(fake: &FakeIam, target: &str, token: Option<&str>) -> (u16, Value) {
        call(
            fake,
            "GET",
            target,
            &token.map(bearer).unwrap_or_default(),
            "",
        )
    }

    fn exchange_key(fake: &FakeIam, apikey: &str) -> (u16, Value) {
        let form = format!(
            "grant_type={}&apikey={apikey}",
            APIKEY_GRANT.replace(':', "%3A")
        );
        let headers = ["Content-Type: application/x-www-form-urlencoded".to_owned()];
        call(fake, "POST", "/identity/token", &headers, &form)
    }

    #[test]
    fn an_api_key_exchanges_for_a_token_the_published_keys_verify() {
        let fake = FakeIam::start_blocking().unwrap();
        let sid = Identity::service_id("app", "acct-1");
        fake.add_identity(&sid);
        let key = fake.create_api_key(&sid);
        let (status, body) = exchange_key(&fake, &key.value);
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();

        let (_, jwks) = get(&fake, "/identity/keys", None);
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let (_, discovery) = get(&fake, "/identity/.well-known/openid-configuration", None);
        assert_eq!(discovery["issuer"], format!("{}/identity", fake.url()));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
        let data = jsonwebtoken::decode::<Value>(
            token,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(fake.current_key().kid()));
        assert_eq!(data.claims["iam_id"], sid.iam_id);
        assert_eq!(data.claims["sub_type"], "ServiceId");
        assert_eq!(data.claims["identifier"], sid.id);

        // The token authorizes calls; a deleted key no longer exchanges.
        let (status, found) = get(&fake, &format!("/v1/serviceids/{}", sid.id), Some(token));
        assert_eq!(
            (status, found["account_id"].as_str()),
            (200, Some("acct-1"))
        );
        let target = format!("/v1/apikeys/{}", key.id);
        assert_eq!(call(&fake, "DELETE", &target, &bearer(token), "").0, 204);
        assert!(fake.api_key(&key.id).unwrap().deleted);
        let (status, body) = exchange_key(&fake, &key.value);
        assert_eq!(
            (status, body["errorCode"].as_str()),
            (400, Some("BXNIM0415E"))
        );
        assert_eq!(fake.hits(Route::Token), 2);
    }

    #[test]
    fn every_platform_call_needs_a_bearer_token_the_fake_issued() {
        let fake = FakeIam::start_blocking().unwrap();
        let sid = Identity::service_id("app", "acct-1");
        fake.add_identity(&sid);
        let target = format!("/v1/serviceids/{}", sid.id);
        assert_eq!(get(&fake, &target, None).0, 401);
        assert_eq!(get(&fake, &target, Some("made-up")).0, 401);
        let signed_by_test = fake.sign(&sid.claims(&fake.issuer()));
        assert_eq!(get(&fake, &target, Some(&signed_by_test)).0, 401);
        let token = fake.access_token(&sid);
        assert_eq!(get(&fake, &target, Some(&token)).0, 200);
        assert_eq!(
            get(&fake, "/v1/serviceids/ServiceId-nope", Some(&token)).0,
            404
        );
        fake.remove_identity(&sid.iam_id);
        assert_eq!(get(&fake, &target, Some(&token)).0, 401);
    }

    #[test]
    fn users_profiles_and_group_members_are_answered_per_account() {
        let fake = FakeIam::start_blocking().unwrap();
        let admin = Identity::service_id("admin", "acct-1");
        let user = Identity::user("ann@example.com", "acct-1");
        let profile = Identity::profile("vm", "acct-2");
        for i in [&admin, &user, &profile] {
            fake.add_identity(i);
        }
        fake.add_to_group("AccessGroupId-a", &user.iam_id);
        let token = fake.access_token(&admin);
        let um = USER_MANAGEMENT_PREFIX;
        let t = Some(token.as_str());
        let user_path = |acct: &str| format!("{um}/v2/accounts/{acct}/users/{}", user.iam_id);
        assert_eq!(get(&fake, &user_path("acct-1"), t).0, 200);
        assert_eq!(get(&fake, &user_path("acct-2"), t).0, 404);
        // User management lives under its own prefix only.
        let bare = format!("/v2/accounts/acct-1/users/{}", user.iam_id);
        assert_eq!(get(&fake, &bare, t).0, 404);
        let (status, found) = get(&fake, &format!("/v1/profiles/{}", profile.id), t);
        assert_eq!(
            (status, found["account_id"].as_str()),
            (200, Some("acct-2"))
        );
        let member = |group: &str, iam_id: &str| {
            let target = format!("/v2/groups/{group}/members/{iam_id}");
            call(&fake, "HEAD", &target, &bearer(&token), "").0
        };
        assert_eq!(member("AccessGroupId-a", &user.iam_id), 204);
        assert_eq!(member("AccessGroupId-a", &admin.iam_id), 404);
        assert_eq!(member("AccessGroupId-b", &user.iam_id), 404);
        fake.remove_from_group("AccessGroupId-a", &user.iam_id);
        assert_eq!(member("AccessGroupId-a", &user.iam_id), 404);
    }

    #[test]
    fn keys_rotate_and_retire_and_failures_can_be_injected() {
        let fake = FakeIam::start_blocking().unwrap();
        let first = fake.current_key().kid().to_owned();
        let second = fake.rotate_keys();
        assert_eq!(fake.current_key().kid(), second);
        let kids = |fake: &FakeIam| -> Vec<String> {
            get(fake, "/identity/keys", None).1["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(kids(&fake), [first.clone(), second.clone()]);
        fake.retire_key(&first);
        assert_eq!(kids(&fake), [second]);
        fake.fail(Route::Keys, 503);
        assert_eq!(get(&fake, "/identity/keys", None).0, 503);
        fake.heal(Route::Keys);
        assert_eq!(get(&fake, "/identity/keys", None).0, 200);
        assert_eq!(fake.hits(Route::Keys), 4);
    }

    #[test]
    fn an_identity_rotates_only_its_own_keys() {
        let fake = FakeIam::start_blocking().unwrap();
        let admin = Identity::service_id("admin", "acct-1");
        let other = Identity::service_id("other", "acct-1");
        fake.add_identity(&admin);
        fake.add_identity(&other);
        let old = fake.create_api_key(&admin);
        let others = fake.create_api_key(&other);
        let token = fake.access_token(&admin);

        // Details by the key's value, in a header; never the value itself.
        let mut headers = bearer(&token);
        headers.push(format!("IAM-ApiKey: {}", old.value));
        let (status, details) = call(&fake, "GET", "/v1/apikeys/details", &headers, "");
        assert_eq!(
            (status, details["id"].as_str()),
            (200, Some(old.id.as_str()))
        );
        assert!(!details.to_string().contains(&old.value), "{details}");

        let create = |body: Value| {
            call(
                &fake,
                "POST",
                "/v1/apikeys",
                &bearer(&token),
                &body.to_string(),
            )
        };
        let (status, created) =
            create(json!({"name": "n", "iam_id": admin.iam_id, "account_id": "acct-1"}));
        assert_eq!(status, 201, "{created}");
        let value = created["apikey"].as_str().unwrap();
        assert_eq!(exchange_key(&fake, value).0, 200);
        assert_eq!(create(json!({"name": "n", "iam_id": other.iam_id})).0, 403);
        assert_eq!(
            create(json!({"name": "n", "iam_id": admin.iam_id, "account_id": "acct-2"})).0,
            400
        );

        let delete = |id: &str| {
            call(
                &fake,
                "DELETE",
                &format!("/v1/apikeys/{id}"),
                &bearer(&token),
                "",
            )
            .0
        };
        assert_eq!(delete(&others.id), 403);
        assert_eq!(delete("ApiKey-nope"), 404);
        assert_eq!(delete(&old.id), 204);
        assert_eq!(delete(&old.id), 404);
        assert_eq!(fake.live_api_keys(&admin.iam_id).len(), 1);
        assert!(fake.secrets().contains(&old.value) && fake.secrets().contains(&token));
    }

    #[test]
    fn key_listings_are_paged_and_limited_to_the_callers_account() {
        let fake = FakeIam::start_blocking().unwrap();
        let admin = Identity::service_id("admin", "acct-1");
        let user = Identity::user("ann@example.com", "acct-1");
        let foreign = Identity::service_id("foreign", "acct-2");
        for i in [&admin, &user, &foreign] {
            fake.add_identity(i);
        }
        let ids: Vec<String> = (0..5).map(|_| fake.create_api_key(&admin).id).collect();
        fake.delete_api_key(&ids[0]);
        fake.create_api_key(&user);
        let token = fake.access_token(&admin);
        let t = Some(token.as_str());
        let list = |query: &str| get(&fake, &format!("/v1/apikeys?{query}"), t);
        let of_admin = format!("account_id=acct-1&iam_id={}", admin.iam_id);

        let (status, page) = list(&format!("{of_admin}&pagesize=3"));
        assert_eq!(status, 200, "{page}");
        let listed = |page: &Value| -> Vec<String> {
            page["apikeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(listed(&page), ids[1..4]);
        assert!(page["apikeys"][0].get("apikey").is_none(), "no values");
        let next = page["next"].as_str().unwrap();
        let target = next.strip_prefix(&fake.url()).unwrap();
        let (status, page) = get(&fake, target, t);
        assert_eq!(status, 200, "{page}");
        assert_eq!(listed(&page), ids[4..]);
        assert!(page.get("next").is_none(), "the last page: {page}");
        // Without iam_id: the caller's own keys, 20 to a page.
        assert_eq!(listed(&list("").1), ids[1..]);

        assert_eq!(list(&format!("{of_admin}&pagesize=0")).0, 400);
        assert_eq!(list(&format!("{of_admin}&pagesize=101")).0, 400);
        assert_eq!(list(&format!("{of_admin}&pagetoken=made-up")).0, 400);
        let wrong_account = format!("account_id=acct-2&iam_id={}", admin.iam_id);
        assert_eq!(list(&wrong_account).0, 400);
        assert_eq!(list(&format!("iam_id={}", foreign.iam_id)).0, 403);
        assert_eq!(list(&format!("iam_id={}", user.iam_id)).0, 403);
        assert_eq!(list("iam_id=iam-ServiceId-none").0, 404);
        assert_eq!(get(&fake, "/v1/apikeys", None).0, 401);
        assert_eq!(fake.hits(Route::ApiKeyList), 11);
    }

    #[test]
    fn an_after_effect_fault_loses_the_answer_of_a_call_that_happened() {
        let fake = FakeIam::start_blocking().unwrap();
        let admin = Identity::service_id("admin", "acct-1");
        fake.add_identity(&admin);
        let token = fake.access_token(&admin);
        fake.faults()
            .inject_after_effect("POST", "/v1/apikeys", 1, Fault::status(500));
        let body = json!({"name": "k", "iam_id": admin.iam_id}).to_string();
        let (status, _) = call(&fake, "POST", "/v1/apikeys", &bearer(&token), &body);
        assert_eq!(status, 500);
        assert_eq!(fake.live_api_keys(&admin.iam_id).len(), 1, "created");
        assert_eq!(fake.faults().answered(), 1);
        // Used up: the next creation is answered.
        let (status, _) = call(&fake, "POST", "/v1/apikeys", &bearer(&token), &body);
        assert_eq!(status, 201);
        assert_eq!(fake.live_api_keys(&admin.iam_id).len(), 2);
    }

    #[tokio::test]
    async fn the_fake_starts_from_async_code_too() {
        let fake = FakeIam::start().await.unwrap();
        let (status, jwks) =
            tokio::task::spawn_blocking(move || get(&fake, "/identity/keys", None))
                .await
                .unwrap();
        assert_eq!(
            (status, jwks["keys"].as_array().map(Vec::len)),
            (200, Some(1))
        );
    }
}
