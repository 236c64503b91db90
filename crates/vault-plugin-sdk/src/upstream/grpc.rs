//! gRPC upstreams (pachd): a tonic [`Channel`] with the same TLS settings
//! and timeout as the HTTP client.
//!
//! tonic's own connector resolves names with `getaddrinfo` (glibc's NSS in
//! the static binary) and its TLS needs a process-wide provider, so the
//! channel dials through a connector of ours: hickory for names, then
//! rustls with ring (the same setup as the HTTP client) offering `h2`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use super::error::transport_kind;
use super::{UpstreamError, UpstreamErrorKind, UpstreamSettings, tls};
use crate::transport::listener::Conn;

/// A connected channel to the gRPC service `name` (its display name in
/// errors) at `endpoint_uri` (`http://host:port`, `https://host:port` or
/// `host:port`).
///
/// With `tls`, the connection uses TLS checked by the settings' `ca_cert`
/// and `insecure_skip_tls_verify` (their proxy and extra headers do not
/// apply to gRPC); without, it is plain HTTP/2. `timeout` limits the
/// connection and each call. The port defaults to 443 with TLS, else 80.
///
/// ```no_run
/// # async fn demo() -> Result<(), vault_plugin_sdk::upstream::UpstreamError> {
/// use std::time::Duration;
/// use vault_plugin_sdk::upstream::{UpstreamSettings, grpc};
///
/// let settings = UpstreamSettings::default();
/// let channel = grpc::channel("pachd", "pachd.example:30650", Some(&settings), Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
pub async fn channel(
    name: &str,
    endpoint_uri: &str,
    tls: Option<&UpstreamSettings>,
    timeout: Duration,
) -> Result<Channel, UpstreamError> {
    let (target, endpoint) = prepare(name, endpoint_uri, tls, timeout)?;
    let connecting = endpoint.connect_with_connector(connector(Arc::clone(&target)));
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(target.error(UpstreamErrorKind::Timeout(timeout))),
        Ok(Err(e)) => {
            let kind = transport_kind(&e, false, true, target.address.clone(), timeout);
            Err(target.error(kind))
        }
        Ok(Ok(channel)) => Ok(channel),
    }
}

/// Like [`channel`], but nothing is dialled until the first call (and the
/// channel reconnects by itself after a failure): for a client built while
/// handling a config write or cached per mount, where the upstream may be
/// down for now. Only bad settings (an address or `ca_cert` that cannot
/// work) are errors here; a call answers `UNAVAILABLE` while the upstream
/// cannot be reached.
pub fn lazy_channel(
    name: &str,
    endpoint_uri: &str,
    tls: Option<&UpstreamSettings>,
    timeout: Duration,
) -> Result<Channel, UpstreamError> {
    let (target, endpoint) = prepare(name, endpoint_uri, tls, timeout)?;
    Ok(endpoint.connect_with_connector_lazy(connector(target)))
}

/// The dialling target and the endpoint (with its timeouts) of a channel.
fn prepare(
    name: &str,
    endpoint_uri: &str,
    tls: Option<&UpstreamSettings>,
    timeout: Duration,
) -> Result<(Arc<Target>, Endpoint), UpstreamError> {
    let target = Arc::new(Target::new(name, endpoint_uri, tls)?);
    let scheme = if target.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{}", target.address))
        .map_err(|e| target.error(UpstreamErrorKind::Settings(format!("{e}"))))?
        .connect_timeout(timeout)
        .timeout(timeout);
    Ok((target, endpoint))
}

/// tonic's connector: every (re)connection dials `target` our way.
fn connector(
    target: Arc<Target>,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<Conn>,
    Error = UpstreamError,
    Future = impl std::future::Future<Output = Result<TokioIo<Conn>, UpstreamError>> + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: Uri| {
        let target = Arc::clone(&target);
        async move { target.connect().await.map(|io| TokioIo::new(Conn::new(io))) }
    })
}

/// Where a channel dials, and how.
struct Target {
    name: String,
    host: String,
    port: u16,
    /// `host:port` for messages and the `:authority`.
    address: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    resolver: OnceCell<TokioResolver>,
}

impl Target {
    fn new(
        name: &str,
        endpoint_uri: &str,
        tls: Option<&UpstreamSettings>,
    ) -> Result<Self, UpstreamError> {
        let bad = |why: String| UpstreamError::new(name, UpstreamErrorKind::Settings(why));
        let expected = "expected host:port, http://host:port or https://host:port";
        let uri: Uri = endpoint_uri
            .trim()
            .parse()
            .map_err(|_| bad(format!("the address of {name} is not valid; {expected}")))?;
        let (Some(authority), None | Some("http" | "https")) = (uri.authority(), uri.scheme_str())
        else {
            return Err(bad(format!(
                "the address of {name} is not valid; {expected}"
            )));
        };
        let host = authority.host().to_owned();
        let port = authority
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        let tls = match tls {
            None => None,
            Some(settings) => {
                let config = tls::client_config(name, settings, true, &[b"h2"]).map_err(bad)?;
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let server_name = ServerName::try_from(bare.to_owned())
                    .map_err(|_| bad(format!("{name}'s host is not a valid TLS server name")))?;
                Some((TlsConnector::from(Arc::new(config)), server_name))
            }
        };
        Ok(Self {
            name: name.to_owned(),
            address: format!("{host}:{port}"),
            host,
            port,
            tls,
            resolver: OnceCell::new(),
        })
    }

    fn error(&self, kind: UpstreamErrorKind) -> UpstreamError {
        UpstreamError::new(self.name.as_str(), kind)
    }

    /// A TCP (and TLS) connection to the first address that answers.
    async fn connect(&self) -> Result<Box<dyn crate::transport::listener::Io>, UpstreamError> {
        let unreachable = |reason: String| {
            self.error(UpstreamErrorKind::Unreachable {
                address: self.address.clone(),
                reason,
            })
        };
        let mut last = String::from("the name has no address");
        let mut stream = None;
        for ip in self.addresses().await.map_err(unreachable)? {
            match TcpStream::connect(SocketAddr::new(ip, self.port)).await {
                Ok(tcp) => {
                    stream = Some(tcp);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let tcp = stream.ok_or_else(|| unreachable(last))?;
        tcp.set_nodelay(true)
            .map_err(|e| unreachable(e.to_string()))?;
        let Some((connector, server_name)) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        match connector.connect(server_name.clone(), tcp).await {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) => Err(self.error(transport_kind(
                &e,
                false,
                true,
                self.address.clone(),
                Duration::ZERO,
            ))),
        }
    }

    /// The host's addresses: itself if it is an IP, else hickory's answer
    /// (`/etc/hosts`, then the servers of `/etc/resolv.conf`).
    async fn addresses(&self) -> Result<Vec<IpAddr>, String> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let resolver = self
            .resolver
            .get_or_try_init(|| async {
                TokioResolver::builder_tokio()
                    .and_then(|b| b.build())
                    .map_err(|e| format!("cannot read the system's DNS settings: {e}"))
            })
            .await?;
        let found = resolver
            .lookup_ip(bare)
            .await
            .map_err(|e| format!("cannot resolve {bare}: {e}"))?;
        Ok(found.iter().collect())
    }
}
