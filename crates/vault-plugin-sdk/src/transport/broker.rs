//! go-plugin's connection broker, plugin side.
//!
//! The host opens one `StartStream` and announces, for each broker id, the
//! address where it serves a service (our mount's `Storage` and
//! `SystemView`). `Setup` names the id; [`Broker::dial`] waits for that
//! announcement (it may arrive before or after `Setup` asks) and connects
//! with the same AutoMTLS credentials, the host being the TLS server now.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};
use vault_plugin_proto::plugin::ConnInfo;
use vault_plugin_proto::plugin::grpc_broker_server::GrpcBroker;

use super::listener::{Conn, Io};

/// How long `Setup` waits for the host to announce a broker id.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a brokered connection failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The host never announced the id.
    #[error("the host did not announce broker id {0} within {ANNOUNCE_TIMEOUT:?}")]
    NotAnnounced(u32),
    /// The announced network is not unix or tcp.
    #[error("the host announced broker id {id} on unsupported network {network:?}")]
    Network {
        /// The broker id.
        id: u32,
        /// The network named.
        network: String,
    },
    /// Connecting failed.
    #[error("connecting to broker id {id} at {address}: {reason}")]
    Connect {
        /// The broker id.
        id: u32,
        /// Where we dialed.
        address: String,
        /// What went wrong.
        reason: String,
    },
}

#[derive(Default)]
struct Announcements {
    known: Mutex<HashMap<u32, ConnInfo>>,
    changed: Notify,
}

/// Dials services the host announces through the broker stream.
#[derive(Clone)]
pub struct Broker {
    announcements: Arc<Announcements>,
    tls: Option<TlsConnector>,
}

impl Broker {
    /// A broker dialing with `tls` (or plaintext in metadata mode).
    pub fn new(tls: Option<TlsConnector>) -> Self {
        Self {
            announcements: Arc::default(),
            tls,
        }
    }

    /// The gRPC service the host streams announcements to.
    pub fn service(&self) -> BrokerService {
        BrokerService {
            announcements: Arc::clone(&self.announcements),
        }
    }

    fn announced(&self, id: u32) -> Option<ConnInfo> {
        self.announcements
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    async fn wait_for(&self, id: u32) -> ConnInfo {
        loop {
            let changed = self.announcements.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(info) = self.announced(id) {
                return info;
            }
            changed.await;
        }
    }

    /// A channel to the service the host announced under `id`.
    pub async fn dial(&self, id: u32) -> Result<Channel, BrokerError> {
        let info = tokio::time::timeout(ANNOUNCE_TIMEOUT, self.wait_for(id))
            .await
            .map_err(|_| BrokerError::NotAnnounced(id))?;
        if info.network != "unix" && info.network != "tcp" {
            return Err(BrokerError::Network {
                id,
                network: info.network,
            });
        }
        let address = info.address.clone();
        let tls = self.tls.clone();
        let connector = tower::service_fn(move |_uri| {
            let info = info.clone();
            let tls = tls.clone();
            async move { connect(&info, tls.as_ref()).await.map(TokioIo::new) }
        });
        Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .map_err(|e| BrokerError::Connect {
                id,
                address,
                reason: error_chain(&e),
            })
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

async fn connect(info: &ConnInfo, tls: Option<&TlsConnector>) -> std::io::Result<Conn> {
    let stream: Box<dyn Io> = if info.network == "unix" {
        Box::new(tokio::net::UnixStream::connect(&info.address).await?)
    } else {
        let addr: std::net::SocketAddr = info.address.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("broker address {:?} is not ip:port", info.address),
            )
        })?;
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Box::new(s)
    };
    match tls {
        None => Ok(Conn::new(stream)),
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from("localhost")
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(Conn::new(connector.connect(name, stream).await?))
        }
    }
}

/// The `plugin.GRPCBroker` service.
pub struct BrokerService {
    announcements: Arc<Announcements>,
}

type ConnInfoStream = Pin<Box<dyn Stream<Item = Result<ConnInfo, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = ConnInfoStream;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let announcements = Arc::clone(&self.announcements);
        tokio::spawn(async move {
            while let Ok(Some(info)) = incoming.message().await {
                tracing::trace!(id = info.service_id, network = %info.network, "broker announcement");
                announcements
                    .known
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(info.service_id, info);
                announcements.changed.notify_waiters();
            }
        });
        // We never announce services of our own; keep the stream open.
        Ok(Response::new(Box::pin(futures_util::stream::pending())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_announcement_before_the_dial_is_kept() {
        let broker = Broker::new(None);
        let svc = broker.service();
        svc.announcements.known.lock().unwrap().insert(
            7,
            ConnInfo {
                service_id: 7,
                network: "unix".into(),
                address: "/x".into(),
                knock: None,
            },
        );
        let info = tokio::time::timeout(Duration::from_secs(1), broker.wait_for(7))
            .await
            .unwrap();
        assert_eq!(info.address, "/x");
    }

    #[tokio::test]
    async fn a_dial_waits_for_a_later_announcement() {
        let broker = Broker::new(None);
        let svc = broker.service();
        let waiter = tokio::spawn({
            let broker = broker.clone();
            async move { broker.wait_for(9).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        svc.announcements.known.lock().unwrap().insert(
            9,
            ConnInfo {
                service_id: 9,
                network: "tcp".into(),
                address: "127.0.0.1:1".into(),
                knock: None,
            },
        );
        svc.announcements.changed.notify_waiters();
        let info = tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.service_id, 9);
    }

    #[tokio::test]
    async fn an_unknown_network_is_refused() {
        let broker = Broker::new(None);
        broker.service().announcements.known.lock().unwrap().insert(
            3,
            ConnInfo {
                service_id: 3,
                network: "udp".into(),
                address: "x".into(),
                knock: None,
            },
        );
        let err = broker.dial(3).await.unwrap_err();
        assert!(err.to_string().contains("udp"), "{err}");
    }
}
