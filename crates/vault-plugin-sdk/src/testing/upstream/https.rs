//! HTTPS in front of a fake upstream, with a private CA made in the test.
//!
//! wiremock serves plain HTTP. A plugin that talks HTTPS (a self-hosted
//! service with its own CA, or a self-signed certificate skipped with
//! `insecure_skip_tls_verify`) is tested through an [`HttpsFront`]: a TLS
//! listener on a free loopback port whose certificate (for `localhost` and
//! `127.0.0.1`) is signed by a CA generated when it starts, forwarding every
//! connection byte for byte to the fake. The plugin gets
//! [`url`](HttpsFront::url), and [`ca_pem`](HttpsFront::ca_pem) as its
//! `ca_cert` when the test wants the certificate trusted.
//!
//! TLS is rustls with the ring provider. ALPN offers `h2` and `http/1.1`, and
//! the fake behind gets the bytes as the client sent them: wiremock speaks
//! both, and a plaintext HTTP/2 server behind (a gRPC fake) sees the HTTP/2
//! a TLS gRPC client chose.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use wiremock::MockServer;

/// A TLS listener on `127.0.0.1:<free port>` forwarding to a plain server;
/// stops listening when dropped.
#[derive(Debug)]
pub struct HttpsFront {
    addr: SocketAddr,
    url: String,
    ca_pem: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpsFront {
    /// Starts a front for the wiremock `server`.
    ///
    /// # Errors
    /// If no port can be bound, or the certificates or the thread cannot be
    /// made.
    pub fn start(server: &MockServer) -> io::Result<Self> {
        Self::forwarding_to(*server.address())
    }

    /// Starts a front for any plain TCP server at `backend` (another fake,
    /// a gRPC server).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn forwarding_to(backend: SocketAddr) -> io::Result<Self> {
        let pki = Pki::generate().map_err(io::Error::other)?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_no_client_auth().with_single_cert(pki.chain, pki.key))
                .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("https-front".to_owned())
            .spawn(move || runtime.block_on(serve(listener, acceptor, backend, stopped)))?;
        Ok(Self {
            addr,
            url: format!("https://{addr}"),
            ca_pem: pki.ca_pem,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The base URL, `https://127.0.0.1:<port>` (the certificate also names
    /// `localhost`, for `https://localhost:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed the front's certificate: what a client
    /// must trust (a plugin's `ca_cert`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client of the upstream behind, trusting the front's CA, with the
    /// errors naming `upstream`: what a test uses to call the fake as its
    /// users would (does an issued token work?).
    ///
    /// # Errors
    /// If the client cannot be built.
    #[cfg(feature = "upstream")]
    pub fn client(
        &self,
        upstream: &str,
    ) -> Result<crate::upstream::UpstreamClient, crate::upstream::UpstreamError> {
        let settings = crate::upstream::UpstreamSettings {
            ca_cert: self.ca_pem.clone(),
            ..Default::default()
        };
        crate::upstream::UpstreamClient::new(upstream, &self.url, &settings)
    }
}

impl Drop for HttpsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts until `stopped`; each connection is served on its own task,
/// all of them cancelled when the runtime ends.
async fn serve(
    listener: StdTcpListener,
    acceptor: TlsAcceptor,
    backend: SocketAddr,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let conn = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = conn else { continue };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A client that refuses the certificate just ends the handshake.
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            let Ok(mut plain) = TcpStream::connect(backend).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}

/// A CA and a server certificate it signed.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    fn generate() -> Result<Self, rcgen::Error> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "vault-plugin-sdk test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

        let key = KeyPair::generate()?;
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        })
    }
}
