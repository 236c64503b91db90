//! A fake pachd (Pachyderm 2.x), stateful the way the real one is, for the
//! `secrets-pachyderm` plugin's tests and the demo.
//!
//! Why a fake: the plugin's whole job is pachd's tokens (mint a robot token,
//! revoke it with the lease, rotate the root token), and a real pachd needs a
//! Kubernetes cluster and an Enterprise licence. The fake serves the same
//! gRPC API (`auth_v2.API`, `versionpb_v2.API`, from the workspace's
//! `proto/pachyderm/`) and keeps the rules of pachd v2.11.6 that the plugin
//! has to live with (`providers.md` §3B):
//!
//! - the caller's token comes in the metadata key `authn-token`; a missing
//!   one, or one that is unknown, revoked or expired, is UNAUTHENTICATED with
//!   pachd's messages;
//! - `GetRobotToken` needs CLUSTER_AUTH_GET_ROBOT_TOKEN, which the roles
//!   `clusterAdmin` (and so `pach:root`) and `robotUser` grant, else
//!   PERMISSION_DENIED; it strips a `robot:` prefix and refuses any other
//!   colon as a plain error (UNKNOWN), as pachd does; a `ttl` above 0 makes a
//!   token that expires, 0 or less one that never does;
//! - pachd keeps only the SHA-256 (lowercase hex) of each token, and so
//!   does the fake: every token a call carries is found by its hash;
//! - `RestoreAuthToken` needs CLUSTER_AUTH_RESTORE_TOKEN, which only
//!   `clusterAdmin` grants, else PERMISSION_DENIED; it stores the hash given
//!   as a token of the subject given, until the expiration given (none: a
//!   token that never expires; in the past: INTERNAL "token expiration is in
//!   the past"); a hash it holds already is UNKNOWN "cannot overwrite
//!   existing token with same hash". The token then authenticates as its
//!   subject, and `RevokeAuthToken` with its value deletes it;
//! - `WhoAmI` answers the subject and expiry of a live token;
//! - `RevokeAuthToken` deletes one token (`number` 1, or 0 for an unknown
//!   one). Stricter than pachd, which lets any valid token revoke any other:
//!   here only the token's owner or a subject with a cluster role
//!   (`clusterAdmin`, `robotUser`) may, so a plugin revoking with the wrong
//!   token fails;
//! - `RotateRootToken` needs `clusterAdmin`, replaces every token of
//!   `pach:root` by the one given (or a generated one), and is refused when
//!   pachd's root token comes from its environment
//!   ([`FakePachd::set_root_token_from_env`]);
//! - `GetVersion` needs no token and answers [`VERSION`];
//! - with [`FakePachd::set_auth_active`]`(false)` every auth call is
//!   UNIMPLEMENTED "the auth service is not activated".
//!
//! Knobs for failures: [`FakePachd::fail`] answers a call (or every call)
//! with a given status, [`FakePachd::set_delay`] answers slowly (and
//! [`FakePachd::set_call_delay`] one call slowly),
//! [`FakePachd::stop`] and [`FakePachd::resume`] take the server off its port
//! and back. [`FakePachd::start_tls`] serves TLS with a certificate for
//! `localhost` and `127.0.0.1` from a CA made for the fake
//! ([`FakePachd::ca_cert`]), for the `grpcs://` form.
//!
//! The server runs on its own thread with its own tokio runtime, so sync and
//! async tests alike can use it.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use pachyderm_proto::auth_v2::api_server::{Api as AuthApi, ApiServer as AuthServer};
use pachyderm_proto::auth_v2::{
    GetRobotTokenRequest, GetRobotTokenResponse, RestoreAuthTokenRequest, RestoreAuthTokenResponse,
    RevokeAuthTokenRequest, RevokeAuthTokenResponse, RotateRootTokenRequest,
    RotateRootTokenResponse, WhoAmIRequest, WhoAmIResponse,
};
use pachyderm_proto::versionpb_v2::Version;
use pachyderm_proto::versionpb_v2::api_server::{Api as VersionApi, ApiServer as VersionServer};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};
use vault_plugin_sdk::transport::listener::Conn;

/// The version the fake reports: the pachd release its API matches.
pub const VERSION: (u32, u32, u32) = (2, 11, 6);

/// The subject of pachd's root user.
pub const ROOT_SUBJECT: &str = "pach:root";

/// The metadata key pachd reads the caller's token from.
const TOKEN_KEY: &str = "authn-token";

/// pachd's answer to a call without a token.
const NOT_SIGNED_IN: &str = "no authentication token (try logging in)";
/// pachd's answer to an unknown, revoked or expired token.
const BAD_TOKEN: &str = "provided auth token is corrupted or has expired (try logging in again)";

/// The calls the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// `/auth_v2.API/WhoAmI`
    WhoAmI,
    /// `/auth_v2.API/GetRobotToken`
    GetRobotToken,
    /// `/auth_v2.API/RevokeAuthToken`
    RevokeAuthToken,
    /// `/auth_v2.API/RestoreAuthToken`
    RestoreAuthToken,
    /// `/auth_v2.API/RotateRootToken`
    RotateRootToken,
    /// `/versionpb_v2.API/GetVersion`
    GetVersion,
}

/// A cluster role binding of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including minting robot tokens, registering tokens and
    /// rotating the root token.
    ClusterAdmin,
    /// Minting robot tokens only.
    RobotUser,
}

/// One token the fake knows, live or expired, stored by its hash.
#[derive(Debug, Clone)]
struct Token {
    subject: String,
    expires_at: Option<SystemTime>,
    /// The token itself when the fake saw it (issued it, or was given it
    /// by `RotateRootToken`), for the tests; `None` for a restored token,
    /// which arrives as a hash only.
    value: Option<String>,
}

impl Token {
    fn live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Everything pachd would keep in its database, plus the knobs.
struct State {
    /// The tokens by their hash ([`hash`]).
    tokens: HashMap<String, Token>,
    roles: HashMap<String, Role>,
    /// A failure per call; the `None` key fails every call.
    failures: HashMap<Option<Rpc>, (Code, String)>,
    delay: Duration,
    /// Delays of single calls, on top of `delay`.
    call_delays: HashMap<Rpc, Duration>,
    /// How long a mint's or a restore's answer waits after the token exists.
    answer_delay: Duration,
    auth_active: bool,
    root_token_from_env: bool,
    calls: HashMap<Rpc, usize>,
    /// Every token ever issued, in order, for log scans.
    issued: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What every call goes through first: counted, delayed, failed on
    /// demand. Returns the caller's token, if one was sent.
    async fn enter<T>(&self, rpc: Rpc, req: &Request<T>) -> Result<Option<String>, Status> {
        let delay = {
            let mut state = self.lock();
            *state.calls.entry(rpc).or_default() += 1;
            state.delay + state.call_delays.get(&rpc).copied().unwrap_or_default()
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let state = self.lock();
        if let Some((code, message)) = state
            .failures
            .get(&Some(rpc))
            .or_else(|| state.failures.get(&None))
        {
            return Err(Status::new(*code, message.clone()));
        }
        if rpc != Rpc::GetVersion && !state.auth_active {
            return Err(Status::unimplemented("the auth service is not activated"));
        }
        Ok(req
            .metadata()
            .get(TOKEN_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }
}

impl State {
    /// The subject of the caller's live token, or pachd's UNAUTHENTICATED.
    fn caller(&self, token: Option<&str>) -> Result<&Token, Status> {
        let token = token.ok_or_else(|| Status::unauthenticated(NOT_SIGNED_IN))?;
        self.tokens
            .get(&hash(token))
            .filter(|t| t.live(SystemTime::now()))
            .ok_or_else(|| Status::unauthenticated(BAD_TOKEN))
    }

    fn role(&self, subject: &str) -> Option<Role> {
        if subject == ROOT_SUBJECT {
            return Some(Role::ClusterAdmin);
        }
        self.roles.get(subject).copied()
    }

    /// The caller's subject if its role grants `permission`, else pachd's
    /// PERMISSION_DENIED.
    fn authorize(&self, token: Option<&str>, permission: &str) -> Result<String, Status> {
        let caller = self.caller(token)?;
        let granted = match self.role(&caller.subject) {
            Some(Role::ClusterAdmin) => true,
            Some(Role::RobotUser) => permission == "CLUSTER_AUTH_GET_ROBOT_TOKEN",
            None => false,
        };
        if granted {
            Ok(caller.subject.clone())
        } else {
            Err(not_authorized(&caller.subject, permission))
        }
    }

    fn insert(&mut self, subject: &str, ttl: Option<Duration>) -> String {
        let token = new_token();
        self.insert_value(&token, subject, ttl.map(|ttl| SystemTime::now() + ttl));
        token
    }

    /// Stores `token` (whose value the fake knows) for `subject`.
    fn insert_value(&mut self, token: &str, subject: &str, expires_at: Option<SystemTime>) {
        self.issued.push(token.to_owned());
        self.tokens.insert(
            hash(token),
            Token {
                subject: subject.to_owned(),
                expires_at,
                value: Some(token.to_owned()),
            },
        );
    }
}

/// pachd's PERMISSION_DENIED text (`auth.ErrNotAuthorized`).
fn not_authorized(subject: &str, permission: &str) -> Status {
    Status::permission_denied(format!(
        "{subject} is not authorized to perform this operation - needs permissions \
         [{permission}] on CLUSTER . Run `pachctl auth roles-for-permission` to find roles \
         that grant a given permission."
    ))
}

/// 32 random hex digits, the form of pachd's tokens.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // The system's randomness cannot fail on Linux; a fake may panic.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `token` in lowercase hex, the key pachd stores.
pub fn hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    prost_types::Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

#[derive(Clone)]
struct Service(Arc<Shared>);

#[tonic::async_trait]
impl AuthApi for Service {
    async fn who_am_i(
        &self,
        req: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        let token = self.0.enter(Rpc::WhoAmI, &req).await?;
        let state = self.0.lock();
        let caller = state.caller(token.as_deref())?;
        Ok(Response::new(WhoAmIResponse {
            username: caller.subject.clone(),
            expiration: caller.expires_at.map(timestamp),
        }))
    }

    async fn get_robot_token(
        &self,
        req: Request<GetRobotTokenRequest>,
    ) -> Result<Response<GetRobotTokenResponse>, Status> {
        let token = self.0.enter(Rpc::GetRobotToken, &req).await?;
        let (token, answer_delay) = {
            let mut state = self.0.lock();
            state.authorize(token.as_deref(), "CLUSTER_AUTH_GET_ROBOT_TOKEN")?;
            let req = req.into_inner();
            let name = req.robot.strip_prefix("robot:").unwrap_or(&req.robot);
            if name.contains(':') {
                return Err(Status::unknown("robot names cannot contain colons (':')"));
            }
            let ttl = u64::try_from(req.ttl)
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs);
            let token = state.insert(&format!("robot:{name}"), ttl);
            (token, state.answer_delay)
        };
        if !answer_delay.is_zero() {
            tokio::time::sleep(answer_delay).await;
        }
        Ok(Response::new(GetRobotTokenResponse { token }))
    }

    async fn restore_auth_token(
        &self,
        req: Request<RestoreAuthTokenRequest>,
    ) -> Result<Response<RestoreAuthTokenResponse>, Status> {
        let token = self.0.enter(Rpc::RestoreAuthToken, &req).await?;
        let answer_delay = {
            let mut state = self.0.lock();
            state.authorize(token.as_deref(), "CLUSTER_AUTH_RESTORE_TOKEN")?;
            let info = req.into_inner().token.ok_or_else(|| {
                Status::invalid_argument("invalid RestoreAuthTokenRequest.Token: value is required")
            })?;
            // pachd turns the expiration into whole seconds from now; 0
            // seconds left stores a token without expiry, as pachd does.
            let expires_at = match info.expiration {
                None => None,
                Some(at) => {
                    let at = SystemTime::UNIX_EPOCH
                        + Duration::from_secs(u64::try_from(at.seconds).unwrap_or(0));
                    let left = at
                        .duration_since(SystemTime::now())
                        .map_err(|_| Status::internal("token expiration is in the past"))?;
                    (left.as_secs() > 0)
                        .then(|| SystemTime::now() + Duration::from_secs(left.as_secs()))
                }
            };
            if state.tokens.contains_key(&info.hashed_token) {
                return Err(Status::unknown(
                    "error restoring auth token: cannot overwrite existing token with same hash",
                ));
            }
            state.tokens.insert(
                info.hashed_token,
                Token {
                    subject: info.subject,
                    expires_at,
                    value: None,
                },
            );
            state.answer_delay
        };
        if !answer_delay.is_zero() {
            tokio::time::sleep(answer_delay).await;
        }
        Ok(Response::new(RestoreAuthTokenResponse {}))
    }

    async fn revoke_auth_token(
        &self,
        req: Request<RevokeAuthTokenRequest>,
    ) -> Result<Response<RevokeAuthTokenResponse>, Status> {
        let token = self.0.enter(Rpc::RevokeAuthToken, &req).await?;
        let mut state = self.0.lock();
        let caller = state.caller(token.as_deref())?.subject.clone();
        let target = hash(&req.into_inner().token);
        let owner = state.tokens.get(&target).map(|t| t.subject.clone());
        let has_role = state.role(&caller).is_some();
        if owner.as_ref().is_some_and(|o| *o != caller) && !has_role {
            return Err(not_authorized(&caller, "CLUSTER_AUTH_REVOKE_USER_TOKENS"));
        }
        let number = i64::from(state.tokens.remove(&target).is_some());
        Ok(Response::new(RevokeAuthTokenResponse { number }))
    }

    async fn rotate_root_token(
        &self,
        req: Request<RotateRootTokenRequest>,
    ) -> Result<Response<RotateRootTokenResponse>, Status> {
        let token = self.0.enter(Rpc::RotateRootToken, &req).await?;
        let mut state = self.0.lock();
        if state.root_token_from_env {
            return Err(Status::unknown(
                "RotateRootToken() is disabled when the root token is configured in the \
                 environment",
            ));
        }
        state.authorize(token.as_deref(), "CLUSTER_AUTH_ROTATE_ROOT_TOKEN")?;
        state.tokens.retain(|_, t| t.subject != ROOT_SUBJECT);
        let wanted = req.into_inner().root_token;
        let root_token = if wanted.is_empty() {
            new_token()
        } else {
            wanted
        };
        state.insert_value(&root_token, ROOT_SUBJECT, None);
        Ok(Response::new(RotateRootTokenResponse { root_token }))
    }
}

#[tonic::async_trait]
impl VersionApi for Service {
    async fn get_version(&self, req: Request<()>) -> Result<Response<Version>, Status> {
        self.0.enter(Rpc::GetVersion, &req).await?;
        let (major, minor, micro) = VERSION;
        Ok(Response::new(Version {
            major,
            minor,
            micro,
            additional: String::new(),
            git_commit: "fake".to_owned(),
            git_tree_modified: "false".to_owned(),
            build_date: "2025-01-01T00:00:00Z".to_owned(),
            go_version: "go1.23".to_owned(),
            platform: "amd64".to_owned(),
        }))
    }
}

/// The fake's TLS identity: a CA of its own and a server certificate.
struct Tls {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

impl Tls {
    fn generate() -> io::Result<Tls> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let err = |e: rcgen::Error| io::Error::other(e.to_string());
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake pachd test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?)
            .map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(err)?
            .signed_by(&key, &ca)
            .map_err(err)?;
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
            .map_err(io::Error::other)?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key_der)
        .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls {
            ca_pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// The server thread of a running fake.
struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A fake pachd on a loopback port; it stops when dropped.
pub struct FakePachd {
    addr: SocketAddr,
    tls: Option<Arc<Tls>>,
    shared: Arc<Shared>,
    root_token: String,
    running: Option<Running>,
}

impl FakePachd {
    /// Starts a plain-gRPC fake on a free loopback port, auth activated,
    /// with one root token ([`FakePachd::root_token`]).
    ///
    /// # Errors
    /// If no port can be bound or the runtime cannot start.
    pub fn start() -> io::Result<FakePachd> {
        Self::start_with(None)
    }

    /// Starts a fake that serves TLS only, with a certificate for
    /// `localhost` and `127.0.0.1` from its own CA ([`FakePachd::ca_cert`]).
    ///
    /// # Errors
    /// As [`FakePachd::start`], or if the certificates cannot be made.
    pub fn start_tls() -> io::Result<FakePachd> {
        Self::start_with(Some(Arc::new(Tls::generate()?)))
    }

    fn start_with(tls: Option<Arc<Tls>>) -> io::Result<FakePachd> {
        let mut state = State {
            tokens: HashMap::new(),
            roles: HashMap::new(),
            failures: HashMap::new(),
            delay: Duration::ZERO,
            call_delays: HashMap::new(),
            answer_delay: Duration::ZERO,
            auth_active: true,
            root_token_from_env: false,
            calls: HashMap::new(),
            issued: Vec::new(),
        };
        let root_token = state.insert(ROOT_SUBJECT, None);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut fake = FakePachd {
            addr: listener.local_addr()?,
            tls,
            shared: Arc::new(Shared {
                state: Mutex::new(state),
            }),
            root_token,
            running: None,
        };
        fake.running = Some(fake.serve(listener)?);
        Ok(fake)
    }

    fn serve(&self, listener: TcpListener) -> io::Result<Running> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let service = Service(Arc::clone(&self.shared));
        let tls = self.tls.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-pachd".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let router = Server::builder()
                        .add_service(AuthServer::new(service.clone()))
                        .add_service(VersionServer::new(service));
                    // Stopping drops the server: open connections are cut, as
                    // when pachd goes away.
                    match tls {
                        None => {
                            let incoming = TcpListenerStream::new(listener);
                            tokio::select! {
                                _ = router.serve_with_incoming(incoming) => {}
                                _ = stopped => {}
                            }
                        }
                        Some(tls) => {
                            let incoming = tls_incoming(listener, tls);
                            tokio::select! {
                                _ = router.serve_with_incoming(incoming) => {}
                                _ = stopped => {}
                            }
                        }
                    }
                });
                // Dropping the runtime cancels the connections' tasks.
                drop(runtime);
            })?;
        Ok(Running { stop, thread })
    }

    /// `127.0.0.1:<port>`, pachd's plain `host:port` form.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The address with its scheme: `grpc://127.0.0.1:<port>`, or
    /// `grpcs://localhost:<port>` for a TLS fake.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("grpc://{}", self.addr),
            Some(_) => format!("grpcs://localhost:{}", self.addr.port()),
        }
    }

    /// The PEM of the CA that signed a TLS fake's certificate.
    pub fn ca_cert(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The root token the fake started with (dead once the root token is
    /// rotated).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The fields of a `secrets-pachyderm` config that reaches this fake
    /// with its root token, as `key=value` arguments of
    /// `bao write <mount>/config`
    /// ([`BaoClient::write_ok`](crate::BaoClient::write_ok)).
    pub fn config_args(&self) -> Vec<String> {
        vec![
            format!("admin_token={}", self.root_token),
            format!("pachd_address={}", self.address()),
        ]
    }

    /// Binds `role` to `subject` on the cluster (`pachctl auth set cluster`).
    pub fn grant(&self, subject: &str, role: Role) {
        self.shared.lock().roles.insert(subject.to_owned(), role);
    }

    /// A new token of `subject` (e.g. `user:alice`), expiring after `ttl`
    /// if given.
    pub fn issue_token(&self, subject: &str, ttl: Option<Duration>) -> String {
        self.shared.lock().insert(subject, ttl)
    }

    /// The subject of `token` while it is live (not revoked or expired).
    pub fn subject_of(&self, token: &str) -> Option<String> {
        let state = self.shared.lock();
        let found = state.tokens.get(&hash(token))?;
        found.live(SystemTime::now()).then(|| found.subject.clone())
    }

    /// When `token` expires: `None` for an unknown token, `Some(None)` for
    /// a token without expiry.
    pub fn expiry_of(&self, token: &str) -> Option<Option<SystemTime>> {
        self.shared
            .lock()
            .tokens
            .get(&hash(token))
            .map(|t| t.expires_at)
    }

    /// Makes `token` expire now.
    pub fn expire(&self, token: &str) {
        if let Some(t) = self.shared.lock().tokens.get_mut(&hash(token)) {
            t.expires_at = Some(SystemTime::now());
        }
    }

    /// How many live tokens `subject` has.
    pub fn live_tokens_of(&self, subject: &str) -> usize {
        let now = SystemTime::now();
        self.shared
            .lock()
            .tokens
            .values()
            .filter(|t| t.subject == subject && t.live(now))
            .count()
    }

    /// Every live token of `subject` whose value the fake knows (it issued
    /// it, or was given it by `RotateRootToken`); a restored token arrives
    /// as a hash only: see [`FakePachd::live_tokens_of`] and
    /// [`FakePachd::hashes_of`].
    pub fn tokens_of(&self, subject: &str) -> Vec<String> {
        let now = SystemTime::now();
        self.shared
            .lock()
            .tokens
            .values()
            .filter(|t| t.subject == subject && t.live(now))
            .filter_map(|t| t.value.clone())
            .collect()
    }

    /// The hashes ([`hash`]) of every live token of `subject`, restored
    /// ones included.
    pub fn hashes_of(&self, subject: &str) -> Vec<String> {
        let now = SystemTime::now();
        self.shared
            .lock()
            .tokens
            .iter()
            .filter(|(_, t)| t.subject == subject && t.live(now))
            .map(|(hash, _)| hash.clone())
            .collect()
    }

    /// Every token the fake ever issued or was given as a root token,
    /// revoked and expired ones included.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.lock().issued.clone()
    }

    /// Answers `rpc` (every call when `None`) with `code` and `message`
    /// until [`FakePachd::clear_failures`].
    pub fn fail(&self, rpc: Option<Rpc>, code: Code, message: &str) {
        self.shared
            .lock()
            .failures
            .insert(rpc, (code, message.to_owned()));
    }

    /// Answers every call normally again.
    pub fn clear_failures(&self) {
        self.shared.lock().failures.clear();
    }

    /// Answers `GetRobotToken` and `RestoreAuthToken` `delay` late, after
    /// the token exists (a crash of the caller in between leaves it
    /// orphaned).
    pub fn set_answer_delay(&self, delay: Duration) {
        self.shared.lock().answer_delay = delay;
    }

    /// Waits `delay` before answering each call.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Waits `delay` before answering each call of `rpc` (on top of
    /// [`FakePachd::set_delay`]); zero answers it at once again.
    pub fn set_call_delay(&self, rpc: Rpc, delay: Duration) {
        self.shared.lock().call_delays.insert(rpc, delay);
    }

    /// Whether auth is activated (it is from the start); without it every
    /// auth call is UNIMPLEMENTED.
    pub fn set_auth_active(&self, active: bool) {
        self.shared.lock().auth_active = active;
    }

    /// Whether the root token is set in pachd's environment, which
    /// disables `RotateRootToken`.
    pub fn set_root_token_from_env(&self, from_env: bool) {
        self.shared.lock().root_token_from_env = from_env;
    }

    /// How many calls of `rpc` arrived so far (failed ones included).
    pub fn calls(&self, rpc: Rpc) -> usize {
        self.shared.lock().calls.get(&rpc).copied().unwrap_or(0)
    }

    /// Takes the server off its port (connections are cut); its tokens
    /// are kept for [`FakePachd::resume`].
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.thread.join();
        }
    }

    /// Serves again on the same port after [`FakePachd::stop`].
    ///
    /// # Errors
    /// If the port was taken in the meantime.
    pub fn resume(&mut self) -> io::Result<()> {
        if self.running.is_none() {
            let listener = TcpListener::bind(self.addr)?;
            self.running = Some(self.serve(listener)?);
        }
        Ok(())
    }
}

/// TLS connections accepted on `listener`, each handshake off the accept
/// loop; failed handshakes are dropped.
fn tls_incoming(
    listener: tokio::net::TcpListener,
    tls: Arc<Tls>,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = tls.acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok(Conn::new(stream))).await;
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

impl Drop for FakePachd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for FakePachd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePachd")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}
