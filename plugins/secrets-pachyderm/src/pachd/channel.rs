//! The gRPC channel to pachd, built for the static release binary: names
//! are resolved by hickory (a Rust resolver reading `/etc/hosts` and
//! `/etc/resolv.conf`), never by glibc's `getaddrinfo`; `grpcs://` is TLS
//! by rustls with the ring provider, trusting the system's roots
//! (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured) plus the config's
//! `ca_cert`, with ALPN `h2`. The channel connects on first use, reconnects
//! by itself, and is shared by every request of a mount.
//!
//! The SDK's `upstream` module (issue 9) is to provide this channel with the
//! shared TLS settings; until it does, it is built here.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use super::address::PachdAddress;

/// Any byte stream the channel runs over: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The certificates of a PEM text; an error unless it holds at least one.
pub fn parse_ca_cert(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_cert is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("ca_cert holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certs)
}

/// A channel to pachd at `address`; connecting (and reconnecting) takes at
/// most `connect_timeout`. Nothing is dialled yet: a bad `ca_cert`, or no
/// CA certificates at all for a `grpcs://` address, is the only error.
pub fn channel(
    address: &PachdAddress,
    ca_cert: Option<&str>,
    connect_timeout: Duration,
) -> Result<Channel, String> {
    let tls = match address.tls {
        true => Some((tls_connector(ca_cert)?, server_name(&address.host)?)),
        false => None,
    };
    let resolver = match address.host.parse::<IpAddr>() {
        Ok(_) => None,
        Err(_) => Some(Arc::new(
            TokioResolver::builder_tokio()
                .and_then(|b| b.build())
                .map_err(|e| e.to_string()),
        )),
    };
    let dialer = Dialer {
        host: address.host.clone(),
        port: address.port,
        tls,
        resolver,
    };
    // The URI names the authority for HTTP/2; the dialer does the TLS, so
    // the scheme stays http whatever the address says.
    let endpoint = Endpoint::from_shared(format!("http://{}:{}", address.uri_host(), address.port))
        .map_err(|e| format!("pachd_address is not usable as a URI: {e}"))?
        .connect_timeout(connect_timeout)
        .user_agent(concat!(
            "vault-plugin-secrets-pachyderm/",
            env!("CARGO_PKG_VERSION")
        ))
        .map_err(|e| e.to_string())?;
    let connector = tower::service_fn(move |_uri| {
        let dialer = dialer.clone();
        async move { dialer.dial().await.map(TokioIo::new) }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// The rustls client for `grpcs://`: ring, the system's roots plus
/// `ca_cert`, ALPN `h2`.
fn tls_connector(ca_cert: Option<&str>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra_roots = match ca_cert {
        Some(pem) => parse_ca_cert(pem)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|e| {
                format!(
                    "no CA certificates to check pachd's TLS certificate with ({e}); install the \
             system's CA bundle or set ca_cert"
                )
            })?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| "pachd_address's host cannot be checked against a TLS certificate".into())
}

/// Opens connections to one pachd.
#[derive(Clone)]
struct Dialer {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The resolver for a host name (none for an IP address), or why there
    /// is none.
    resolver: Option<Arc<Result<TokioResolver, String>>>,
}

impl Dialer {
    async fn dial(self) -> io::Result<Box<dyn Io>> {
        let tcp = self.connect_tcp().await?;
        tcp.set_nodelay(true)?;
        match self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => Ok(Box::new(connector.connect(name, tcp).await?)),
        }
    }

    /// TCP to the first of the host's addresses that accepts.
    async fn connect_tcp(&self) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match &self.resolver {
            None => match self.host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, self.port)],
                Err(_) => Vec::new(),
            },
            Some(resolver) => {
                let resolver = resolver.as_ref().as_ref().map_err(|e| {
                    io::Error::other(format!(
                        "no DNS configuration to resolve {}: {e}",
                        self.host
                    ))
                })?;
                let found = resolver.lookup_ip(self.host.as_str()).await.map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("cannot resolve {}: {e}", self.host),
                    )
                })?;
                found
                    .iter()
                    .map(|ip| SocketAddr::new(ip, self.port))
                    .collect()
            }
        };
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no address", self.host),
        );
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_cert_must_hold_a_certificate() {
        let err = parse_ca_cert("hello").unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let garbled = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(parse_ca_cert(garbled).is_err());
    }
}
