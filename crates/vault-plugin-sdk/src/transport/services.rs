//! The small go-plugin and Vault services every plugin serves beside the
//! backend: controller (graceful shutdown), stdio (kept empty: we log to
//! stderr directly), plugin version, and the multiplexing query.

use std::pin::Pin;

use futures_util::Stream;
use tokio::sync::watch;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use vault_plugin_proto::logical::plugin_version_server::PluginVersion;
use vault_plugin_proto::logical::{Empty as LogicalEmpty, VersionReply};
use vault_plugin_proto::multiplexing::plugin_multiplexing_server::PluginMultiplexing;
use vault_plugin_proto::multiplexing::{MultiplexingSupportRequest, MultiplexingSupportResponse};
use vault_plugin_proto::plugin::grpc_controller_server::GrpcController;
use vault_plugin_proto::plugin::grpc_stdio_server::GrpcStdio;
use vault_plugin_proto::plugin::{Empty as PluginEmpty, StdioData};

/// The metadata key naming the mount in a multiplexed process.
pub const MULTIPLEX_ID_KEY: &str = "multiplex_id";

/// The mount a request is for; empty when the host does not multiplex.
pub fn multiplex_id(metadata: &MetadataMap) -> String {
    metadata
        .get(MULTIPLEX_ID_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `plugin.GRPCController`: `Shutdown` stops the server gracefully.
pub struct Controller {
    /// Set to `true` to stop serving.
    pub shutdown: watch::Sender<bool>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _request: Request<PluginEmpty>,
    ) -> Result<Response<PluginEmpty>, Status> {
        tracing::debug!("host asked the plugin to shut down");
        self.shutdown.send_replace(true);
        Ok(Response::new(PluginEmpty {}))
    }
}

/// `plugin.GRPCStdio`: an open stream that never carries data.
pub struct Stdio;

type StdioStream = Pin<Box<dyn Stream<Item = Result<StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(futures_util::stream::pending())))
    }
}

/// `logical.PluginVersion`: reports the plugin's version.
pub struct Version(pub String);

#[tonic::async_trait]
impl PluginVersion for Version {
    async fn version(
        &self,
        _request: Request<LogicalEmpty>,
    ) -> Result<Response<VersionReply>, Status> {
        Ok(Response::new(VersionReply {
            plugin_version: self.0.clone(),
        }))
    }
}

/// `pluginutil.multiplexing.PluginMultiplexing`: says one process may serve
/// many mounts.
pub struct Multiplexing;

#[tonic::async_trait]
impl PluginMultiplexing for Multiplexing {
    async fn multiplexing_support(
        &self,
        _request: Request<MultiplexingSupportRequest>,
    ) -> Result<Response<MultiplexingSupportResponse>, Status> {
        Ok(Response::new(MultiplexingSupportResponse {
            supported: true,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplex_id_from_metadata() {
        let mut md = MetadataMap::new();
        assert_eq!(multiplex_id(&md), "");
        md.insert(MULTIPLEX_ID_KEY, "abc-123".parse().unwrap());
        assert_eq!(multiplex_id(&md), "abc-123");
    }

    #[tokio::test]
    async fn shutdown_flips_the_signal() {
        let (tx, rx) = watch::channel(false);
        let c = Controller { shutdown: tx };
        c.shutdown(Request::new(PluginEmpty {})).await.unwrap();
        assert!(*rx.borrow());
    }

    #[tokio::test]
    async fn version_and_multiplexing_answers() {
        let v = Version("v1.2.3".into());
        let r = v.version(Request::new(LogicalEmpty {})).await.unwrap();
        assert_eq!(r.into_inner().plugin_version, "v1.2.3");
        let m = Multiplexing
            .multiplexing_support(Request::new(MultiplexingSupportRequest {}))
            .await
            .unwrap();
        assert!(m.into_inner().supported);
    }
}
