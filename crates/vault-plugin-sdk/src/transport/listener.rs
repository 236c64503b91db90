//! Where the plugin listens: a unix socket in a fresh temporary folder (as
//! Go plugins do), or TCP on 127.0.0.1 in the host's port range when no
//! socket can be made. Accepted connections go through the TLS handshake
//! off the accept loop, so one slow peer cannot stall the others.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

/// Any byte stream tonic can serve or dial over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One accepted (and, with AutoMTLS, authenticated) connection.
pub struct Conn(Box<dyn Io>);

impl Conn {
    /// Wraps a stream.
    pub fn new(io: impl Io) -> Self {
        Self(Box::new(io))
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A bound listener.
pub enum Listener {
    /// A unix socket; the folder is removed when the listener is dropped.
    Unix {
        /// The listener.
        listener: UnixListener,
        /// The socket file.
        path: PathBuf,
        /// The temporary folder holding it.
        dir: PathBuf,
    },
    /// A TCP socket on 127.0.0.1.
    Tcp(TcpListener),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix { path, dir, .. } = self {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Listener {
    /// Binds a unix socket under `socket_dir` (or the temp dir), falling back
    /// to TCP in `ports` when that fails (no writable /tmp, for instance).
    pub fn bind(
        socket_dir: Option<&Path>,
        socket_group: Option<&str>,
        ports: (u16, u16),
    ) -> io::Result<Self> {
        let base = socket_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        match bind_unix(&base, socket_group) {
            Ok(listener) => Ok(listener),
            Err(err) => {
                tracing::debug!(dir = %base.display(), error = %err, "no unix socket, falling back to TCP");
                Self::bind_tcp(ports)
            }
        }
    }

    /// Binds TCP on 127.0.0.1, on the first free port in `ports`.
    pub fn bind_tcp((min, max): (u16, u16)) -> io::Result<Self> {
        let mut last_err = None;
        for port in min..=max {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            match std::net::TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true)?;
                    return TcpListener::from_std(l).map(Self::Tcp);
                }
                Err(err) => last_err = Some(err),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "no free TCP port in {min}-{max} (PLUGIN_MIN_PORT/PLUGIN_MAX_PORT): {}",
                last_err.map(|e| e.to_string()).unwrap_or_default()
            ),
        ))
    }

    /// `unix` or `tcp`, as the handshake line names it.
    pub fn network(&self) -> &'static str {
        match self {
            Self::Unix { .. } => "unix",
            Self::Tcp(_) => "tcp",
        }
    }

    /// The address for the handshake line.
    pub fn address(&self) -> io::Result<String> {
        match self {
            Self::Unix { path, .. } => Ok(path.display().to_string()),
            Self::Tcp(l) => Ok(l.local_addr()?.to_string()),
        }
    }

    /// Accepts connections forever, handing out those that pass the TLS
    /// handshake (or all of them when `tls` is `None`).
    pub fn incoming(self, tls: Option<TlsAcceptor>) -> ReceiverStream<io::Result<Conn>> {
        let (tx, rx) = mpsc::channel(16);
        let tls = tls.map(Arc::new);
        tokio::spawn(async move {
            loop {
                let accepted: io::Result<Box<dyn Io>> = match &self {
                    Self::Unix { listener, .. } => listener
                        .accept()
                        .await
                        .map(|(s, _)| Box::new(s) as Box<dyn Io>),
                    Self::Tcp(listener) => accept_tcp(listener)
                        .await
                        .map(|s| Box::new(s) as Box<dyn Io>),
                };
                let stream = match accepted {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let conn_tx = tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let conn = match tls {
                        None => Conn::new(stream),
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(tls_stream)) => Conn::new(tls_stream),
                                Ok(Err(err)) => {
                                    tracing::warn!(error = %err, "TLS handshake with the host failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::warn!("TLS handshake with the host timed out");
                                    return;
                                }
                            }
                        }
                    };
                    let _ = conn_tx.send(Ok(conn)).await;
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        ReceiverStream::new(rx)
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts one TCP connection with `TCP_NODELAY` set, as Go does by default;
/// without it small gRPC frames wait ~40 ms for delayed ACKs.
async fn accept_tcp(listener: &TcpListener) -> io::Result<tokio::net::TcpStream> {
    let (stream, _) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn bind_unix(base: &Path, group: Option<&str>) -> io::Result<Listener> {
    let dir = make_private_dir(base)?;
    let path = dir.join("plugin");
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(err) => {
            let _ = std::fs::remove_dir(dir);
            return Err(err);
        }
    };
    if let Some(group) = group {
        share_with_group(&dir, &path, group);
    }
    Ok(Listener::Unix {
        listener,
        path,
        dir,
    })
}

/// Makes (and removes again) a unix socket the way [`bind_unix`] does, to
/// tell whether serving on one would work here.
pub(crate) fn probe_unix(base: &Path) -> io::Result<()> {
    let dir = make_private_dir(base)?;
    let bound = std::os::unix::net::UnixListener::bind(dir.join("plugin"));
    let _ = std::fs::remove_file(dir.join("plugin"));
    let _ = std::fs::remove_dir(&dir);
    bound.map(drop)
}

/// Creates `<base>/plugin<unique>` readable only by us.
fn make_private_dir(base: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_err = None;
    for attempt in 0..8u32 {
        let dir = base.join(format!("plugin{pid}-{nanos:x}-{attempt}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_err = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("could not create a socket folder")))
}

/// Lets a numeric group reach the socket (`PLUGIN_UNIX_SOCKET_GROUP`, used
/// by container runtimes). Group names would need NSS, which a static
/// binary must not load, so only numeric ids are honoured.
fn share_with_group(dir: &Path, path: &Path, group: &str) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(gid) = group.parse::<u32>() else {
        tracing::warn!(
            group,
            "PLUGIN_UNIX_SOCKET_GROUP must be a numeric group id; ignoring it"
        );
        return;
    };
    for (p, mode) in [(dir, 0o770), (path, 0o660)] {
        let result = std::os::unix::fs::chown(p, None, Some(gid))
            .and_then(|()| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)));
        if let Err(err) = result {
            tracing::warn!(path = %p.display(), gid, error = %err, "could not share the socket with the group");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_a_private_unix_socket_and_cleans_it_up() {
        let base = std::env::temp_dir();
        let listener = Listener::bind(Some(&base), None, (10000, 25000)).unwrap();
        assert_eq!(listener.network(), "unix");
        let addr = PathBuf::from(listener.address().unwrap());
        assert!(addr.exists());
        let dir = addr.parent().unwrap().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(listener);
        assert!(!addr.exists() && !dir.exists());
    }

    #[tokio::test]
    async fn falls_back_to_tcp_in_range_when_no_socket_dir() {
        let listener =
            Listener::bind(Some(Path::new("/nonexistent/dir")), None, (20000, 20100)).unwrap();
        assert_eq!(listener.network(), "tcp");
        let addr: std::net::SocketAddr = listener.address().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback());
        assert!((20000..=20100).contains(&addr.port()));
    }

    #[tokio::test]
    async fn accepted_tcp_connections_have_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let accepted = accept_tcp(&listener).await.unwrap();
        assert!(accepted.nodelay().unwrap());
        client.await.unwrap().unwrap();
    }

    #[test]
    fn tcp_range_exhaustion_says_which_variables() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let Err(err) = Listener::bind_tcp((port, port)) else {
            panic!("port {port} is taken, binding it must fail");
        };
        assert!(err.to_string().contains("PLUGIN_MIN_PORT"), "{err}");
    }
}
