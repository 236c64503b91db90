//! The `pb.Backend` service: one backend instance per mount.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};

use futures_util::FutureExt;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};
use vault_plugin_proto::pb;

use super::convert;
use super::{Factory, HookContext, LogicalBackend, SetupContext};
use crate::Error;
use crate::framework::{Operation, Request};
use crate::storage::{GrpcStorage, NoStorage, Storage};
use crate::system_view::{GrpcSystemView, StaticSystemView, SystemView};
use crate::transport::broker::Broker;
use crate::transport::services::multiplex_id;

/// One mount's backend with its storage and system view.
struct Instance {
    backend: Arc<dyn LogicalBackend>,
    storage: Arc<dyn Storage>,
    system_view: Arc<dyn SystemView>,
}

/// Serves `pb.Backend` for every mount this process handles.
pub(crate) struct BackendService {
    factory: Arc<dyn Factory>,
    broker: Broker,
    metadata_mode: bool,
    instances: RwLock<HashMap<String, Arc<Instance>>>,
}

impl BackendService {
    pub(crate) fn new(factory: Arc<dyn Factory>, broker: Broker, metadata_mode: bool) -> Self {
        Self {
            factory,
            broker,
            metadata_mode,
            instances: RwLock::new(HashMap::new()),
        }
    }

    fn instance<T>(&self, req: &GrpcRequest<T>) -> Result<Arc<Instance>, Status> {
        let id = multiplex_id(req.metadata());
        let instances = self.instances.read().unwrap_or_else(|p| p.into_inner());
        instances.get(&id).cloned().ok_or_else(|| {
            Status::failed_precondition(format!(
                "no backend is set up for multiplex id {id:?}; the host must call Setup first"
            ))
        })
    }

    async fn build_instance(&self, id: &str, args: pb::SetupArgs) -> Result<Instance, String> {
        let (storage, system_view): (Arc<dyn Storage>, Arc<dyn SystemView>) = if self.metadata_mode
        {
            (Arc::new(NoStorage), Arc::new(StaticSystemView::default()))
        } else {
            let channel = self.broker.dial(args.broker_id).await.map_err(|e| {
                format!("could not reach the host's storage through the broker: {e}")
            })?;
            (
                Arc::new(GrpcStorage::new(channel.clone())),
                Arc::new(GrpcSystemView::new(channel)),
            )
        };
        let ctx = SetupContext {
            config: args.config,
            backend_uuid: args.backend_uuid,
            storage: Arc::clone(&storage),
            system_view: Arc::clone(&system_view),
        };
        let backend = guarded("setup", self.factory.build(ctx))
            .await
            .map_err(|e| format!("backend factory failed: {e}"))?;
        tracing::debug!(multiplex_id = id, "backend set up");
        Ok(Instance {
            backend,
            storage,
            system_view,
        })
    }
}

/// Runs `fut`, turning a panic into an error instead of losing the process.
async fn guarded<T>(
    what: &str,
    fut: impl std::future::Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(during = what, panic = %reason, "handler panicked");
            Err(Error::internal(format!(
                "the plugin failed while handling {what} (a bug in the plugin; its log has details)"
            )))
        }
    }
}

fn request_label(req: &Request) -> String {
    format!("{} {}", req.operation, req.path)
}

#[tonic::async_trait]
impl pb::backend_server::Backend for BackendService {
    async fn handle_request(
        &self,
        request: GrpcRequest<pb::HandleRequestArgs>,
    ) -> Result<GrpcResponse<pb::HandleRequestReply>, Status> {
        let instance = self.instance(&request)?;
        let args = request.into_inner();
        let pb_req = args.request.unwrap_or_default();
        let op = pb_req.operation.parse().unwrap_or(Operation::Read);
        let result = match convert::request::from_proto(
            pb_req,
            Arc::clone(&instance.storage),
            Arc::clone(&instance.system_view),
        ) {
            Ok(req) => {
                let label = request_label(&req);
                guarded(&label, instance.backend.handle_request(req)).await
            }
            Err(err) => Err(err),
        };
        let (response, err) = match result {
            Ok(resp) => (convert::response::to_proto(resp), None),
            Err(Error::ReadOnly) => {
                // Not a failure: the host forwards the request to the active node.
                tracing::debug!(operation = %op, "storage is read-only on this node; the host forwards the request");
                convert::error::to_reply(op, Error::ReadOnly)
            }
            Err(err) => {
                if err.status() >= 500 {
                    tracing::warn!(operation = %op, error = %err, "request failed");
                }
                convert::error::to_reply(op, err)
            }
        };
        Ok(GrpcResponse::new(pb::HandleRequestReply { response, err }))
    }

    async fn special_paths(
        &self,
        request: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::SpecialPathsReply>, Status> {
        let instance = self.instance(&request)?;
        let paths = convert::special_paths::to_proto(instance.backend.special_paths());
        Ok(GrpcResponse::new(pb::SpecialPathsReply {
            paths: Some(paths),
        }))
    }

    async fn handle_existence_check(
        &self,
        request: GrpcRequest<pb::HandleExistenceCheckArgs>,
    ) -> Result<GrpcResponse<pb::HandleExistenceCheckReply>, Status> {
        let instance = self.instance(&request)?;
        let args = request.into_inner();
        let result = match convert::request::from_proto(
            args.request.unwrap_or_default(),
            Arc::clone(&instance.storage),
            Arc::clone(&instance.system_view),
        ) {
            Ok(req) => {
                let label = format!("existence check of {}", req.path);
                guarded(&label, instance.backend.existence_check(req)).await
            }
            Err(err) => Err(err),
        };
        let reply = match result {
            Ok(None) => pb::HandleExistenceCheckReply::default(),
            Ok(Some(exists)) => pb::HandleExistenceCheckReply {
                check_found: true,
                exists,
                err: None,
            },
            Err(err) => pb::HandleExistenceCheckReply {
                err: Some(convert::error::to_proto(err)),
                ..Default::default()
            },
        };
        Ok(GrpcResponse::new(reply))
    }

    async fn cleanup(
        &self,
        request: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::Empty>, Status> {
        let id = multiplex_id(request.metadata());
        let removed = self
            .instances
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(instance) = removed {
            instance.backend.cleanup().await;
            tracing::debug!(multiplex_id = %id, "backend cleaned up");
        }
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn invalidate_key(
        &self,
        request: GrpcRequest<pb::InvalidateKeyArgs>,
    ) -> Result<GrpcResponse<pb::Empty>, Status> {
        let instance = self.instance(&request)?;
        instance.backend.invalidate(&request.into_inner().key).await;
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn setup(
        &self,
        request: GrpcRequest<pb::SetupArgs>,
    ) -> Result<GrpcResponse<pb::SetupReply>, Status> {
        let id = multiplex_id(request.metadata());
        let args = request.into_inner();
        let err = match self.build_instance(&id, args).await {
            Ok(instance) => {
                self.instances
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, Arc::new(instance));
                String::new()
            }
            Err(err) => {
                tracing::error!(error = %err, "setup failed");
                err
            }
        };
        Ok(GrpcResponse::new(pb::SetupReply { err }))
    }

    async fn initialize(
        &self,
        request: GrpcRequest<pb::InitializeArgs>,
    ) -> Result<GrpcResponse<pb::InitializeReply>, Status> {
        let instance = self.instance(&request)?;
        let ctx = HookContext {
            storage: Arc::clone(&instance.storage),
            system_view: Arc::clone(&instance.system_view),
        };
        let err = match guarded("initialize", instance.backend.initialize(ctx)).await {
            Ok(()) => None,
            // The host initializes every mount on read-only storage first
            // (each unseal, and for good on a standby). An error here would be
            // logged as an ERROR by the host at unseal, and make a standby
            // restart its core when a mount is created; the host initializes
            // the mount again once the node is active.
            Err(Error::ReadOnly) => {
                tracing::debug!(
                    "initialize stopped at a write to read-only storage; it runs again on the active node"
                );
                None
            }
            Err(err) => Some(convert::error::to_proto(err)),
        };
        Ok(GrpcResponse::new(pb::InitializeReply { err }))
    }

    async fn r#type(
        &self,
        request: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::TypeReply>, Status> {
        let instance = self.instance(&request)?;
        Ok(GrpcResponse::new(pb::TypeReply {
            r#type: instance.backend.backend_type().wire(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Backend, Path, Response};
    use crate::transport::services::MULTIPLEX_ID_KEY;
    use pb::backend_server::Backend as _;

    async fn boom(_: Arc<()>, _: Request) -> crate::Result<Response> {
        panic!("handler bug");
    }

    async fn mount(_: Arc<()>, req: Request) -> crate::Result<Response> {
        Response::json(&serde_json::json!({ "mount": req.mount_point }))
    }

    fn service() -> BackendService {
        let factory = |_ctx: SetupContext| async {
            Backend::builder(())
                .path(Path::new("boom").read(boom))
                .path(Path::new("mount").read(mount))
                .build()
                .map_err(Error::internal)
        };
        // Metadata mode: no broker dial, so the service runs in-process.
        BackendService::new(Arc::new(factory), Broker::new(None), true)
    }

    fn with_id<T>(id: &str, msg: T) -> GrpcRequest<T> {
        let mut req = GrpcRequest::new(msg);
        req.metadata_mut()
            .insert(MULTIPLEX_ID_KEY, id.parse().unwrap());
        req
    }

    fn read(path: &str, mount_point: &str) -> pb::HandleRequestArgs {
        pb::HandleRequestArgs {
            storage_id: 0,
            request: Some(pb::Request {
                operation: "read".into(),
                path: path.into(),
                mount_point: mount_point.into(),
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_request_and_the_service_goes_on() {
        let svc = service();
        let setup = svc
            .setup(with_id("m1", pb::SetupArgs::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(setup.err, "");
        let reply = svc
            .handle_request(with_id("m1", read("boom", "a/")))
            .await
            .unwrap()
            .into_inner();
        let err = reply.err.expect("an error reply");
        assert_eq!(err.err_type, convert::error::err_type::INTERNAL);
        assert!(err.err_msg.contains("read boom"), "{}", err.err_msg);
        let reply = svc
            .handle_request(with_id("m1", read("mount", "a/")))
            .await
            .unwrap()
            .into_inner();
        assert!(reply.err.is_none());
    }

    async fn refused_write(_: Arc<()>, _: Request) -> crate::Result<Response> {
        Err(crate::storage::StorageError::ReadOnly.into())
    }

    #[tokio::test]
    async fn read_only_storage_goes_back_as_the_hosts_error_and_initialize_tolerates_it() {
        let factory = |_ctx: SetupContext| async {
            Backend::builder(())
                .path(Path::new("write").read(refused_write))
                .initialize(|_, _| async { Err(Error::ReadOnly) })
                .build()
                .map_err(Error::internal)
        };
        let svc = BackendService::new(Arc::new(factory), Broker::new(None), true);
        svc.setup(with_id("m1", pb::SetupArgs::default()))
            .await
            .unwrap();
        let reply = svc
            .handle_request(with_id("m1", read("write", "a/")))
            .await
            .unwrap()
            .into_inner();
        // A plain error (type 0) with the host's own text: the host forwards.
        let err = reply.err.expect("an error reply");
        assert_eq!(
            (err.err_type, err.err_msg.as_str()),
            (0, "cannot write to readonly storage")
        );
        let init = svc
            .initialize(with_id("m1", pb::InitializeArgs::default()))
            .await
            .unwrap()
            .into_inner();
        assert!(init.err.is_none(), "{:?}", init.err);
    }

    #[tokio::test]
    async fn each_multiplex_id_has_its_own_instance_until_cleanup() {
        let svc = service();
        for id in ["m1", "m2"] {
            svc.setup(with_id(id, pb::SetupArgs::default()))
                .await
                .unwrap();
        }
        let reply = svc
            .handle_request(with_id("m2", read("mount", "b/")))
            .await
            .unwrap()
            .into_inner();
        let data: serde_json::Value = serde_json::from_str(&reply.response.unwrap().data).unwrap();
        assert_eq!(data["mount"], "b/");
        svc.cleanup(with_id("m1", pb::Empty {})).await.unwrap();
        let status = svc
            .handle_request(with_id("m1", read("mount", "a/")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(
            svc.handle_request(with_id("m2", read("mount", "b/")))
                .await
                .is_ok()
        );
        let ty = svc
            .r#type(with_id("m2", pb::Empty {}))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ty.r#type, 1);
    }
}
