//! The go-plugin side of the wire: everything between `main` and the first
//! `Setup` call.
//!
//! [`serve`] checks the magic cookie, negotiates the protocol, generates the
//! AutoMTLS identity, binds a socket, prints the handshake line, and serves
//! the plugin's gRPC services until the host says stop, or ends.

pub mod args;
pub mod broker;
pub mod check;
pub mod env;
pub mod handshake;
mod host_watch;
pub mod listener;
mod p521;
pub mod services;
pub mod tls;

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::Server;
use vault_plugin_proto::logical::plugin_version_server::PluginVersionServer;
use vault_plugin_proto::multiplexing::plugin_multiplexing_server::PluginMultiplexingServer;
use vault_plugin_proto::pb::backend_server::BackendServer;
use vault_plugin_proto::plugin::grpc_broker_server::GrpcBrokerServer;
use vault_plugin_proto::plugin::grpc_controller_server::GrpcControllerServer;
use vault_plugin_proto::plugin::grpc_stdio_server::GrpcStdioServer;

use crate::backend::{BackendService, Factory};
use args::{Args, Network};
use broker::Broker;
use env::{EnvError, HostEnv};
use handshake::{HandshakeError, Security};
use listener::Listener;
use services::{Controller, Multiplexing, Stdio, Version};
use tls::{Identity, TlsError};

/// The largest gRPC message either side may send, as the Go host sets it
/// (`math.MaxInt32`); tonic's default of 4 MiB would fail large writes.
pub const MAX_MESSAGE_SIZE: usize = i32::MAX as usize;

/// Why the plugin could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The environment is not a host's.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// No protocol both sides speak.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// TLS material could not be prepared.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Memory could not be locked although the host asked for it.
    #[error(
        "the server runs with mlock, so the plugin must lock its memory too, but mlockall failed: {0}; \
         give the binary the capability (`setcap cap_ipc_lock=+ep <plugin binary>`) or set \
         `disable_mlock = true` in the server configuration"
    )]
    Mlock(std::io::Error),
    /// Binding, the runtime or the gRPC server failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("the gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Runs the plugin: call this from `main` with the plugin's version and a
/// backend factory, and return its exit code.
///
/// Run by hand (no magic cookie), it prints what the binary is and how to
/// install it, and exits with status 1. Arguments (see [`args`]) set the
/// log level and the socket type; `--version` prints the version; `--check`
/// prints what would stop the plugin from starting on this host ([`check`]).
pub fn serve(version: &str, factory: impl Factory) -> ExitCode {
    let args = Args::parse(std::env::args().skip(1));
    match &args {
        Ok(Args {
            print_version: true,
            ..
        }) => {
            println!("{version}");
            return ExitCode::SUCCESS;
        }
        Ok(Args {
            check: true,
            check_dir,
            ..
        }) => {
            return if check::run(version, check_dir.as_deref()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        _ => {}
    }
    let env = match HostEnv::from_process() {
        Ok(env) => env,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let args = match args {
        Ok(args) => args,
        Err(err) => {
            // Started by a host: say it in the host's log, at error level.
            crate::logging::init(None);
            tracing::error!(error = %err, "plugin arguments are invalid");
            return ExitCode::FAILURE;
        }
    };
    crate::logging::init(args.log_level);
    // A host killed with SIGKILL cannot stop its plugins: exit with it.
    host_watch::exit_with_host();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "plugin panicked");
    }));
    match start(env, args, version, Arc::new(factory)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "plugin could not serve");
            ExitCode::FAILURE
        }
    }
}

fn start(
    env: HostEnv,
    args: Args,
    version: &str,
    factory: Arc<dyn Factory>,
) -> Result<(), ServeError> {
    if env.mlock {
        lock_memory().map_err(ServeError::Mlock)?;
    }
    // One thread: plugin work is I/O-bound (gRPC in, storage calls out), and
    // a single-threaded runtime costs the least CPU, memory and binary size.
    // Handlers that compute for long use `crate::blocking::run`.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            context: "starting the async runtime",
            source,
        })?;
    runtime.block_on(run(env, args, version.to_owned(), factory))
}

fn lock_memory() -> std::io::Result<()> {
    // SAFETY: mlockall takes only flags and touches no memory of ours.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn run(
    env: HostEnv,
    args: Args,
    version: String,
    factory: Arc<dyn Factory>,
) -> Result<(), ServeError> {
    let negotiated = handshake::negotiate(&env)?;
    let (identity, acceptor, connector) =
        match (negotiated.security, env.client_cert_pem.as_deref()) {
            (Security::AutoMtls, Some(pem)) => {
                let host_cert = tls::parse_host_cert(pem)?;
                let identity = Identity::generate()?;
                let server = tls::server_config(&identity, host_cert.clone())?;
                let client = tls::client_config(&identity, host_cert)?;
                (
                    Some(identity),
                    Some(TlsAcceptor::from(Arc::new(server))),
                    Some(TlsConnector::from(Arc::new(client))),
                )
            }
            _ => (None, None, None),
        };
    let listener = match args.network {
        Network::Unix => Listener::bind(
            env.unix_socket_dir.as_deref(),
            env.unix_socket_group.as_deref(),
            env.port_range,
        ),
        Network::Tcp => Listener::bind_tcp(env.port_range),
    }
    .map_err(|source| ServeError::Io {
        context: "binding the plugin's socket",
        source,
    })?;
    let network = listener.network();
    let address = listener.address().map_err(|source| ServeError::Io {
        context: "reading the socket address",
        source,
    })?;

    let broker = Broker::new(connector);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let backend = BackendServer::new(BackendService::new(
        factory,
        broker.clone(),
        env.metadata_mode,
    ))
    .max_decoding_message_size(MAX_MESSAGE_SIZE)
    .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let router = Server::builder()
        .add_service(health_service)
        .add_service(GrpcBrokerServer::new(broker.service()))
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown_tx.clone(),
        }))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(PluginVersionServer::new(Version(version.clone())))
        .add_service(backend)
        .add_optional_service(
            negotiated
                .multiplexing()
                .then(|| PluginMultiplexingServer::new(Multiplexing)),
        );

    let incoming = listener.incoming(acceptor);
    print_handshake(&handshake::line(
        negotiated.version,
        network,
        &address,
        identity.as_ref().map(|i| i.cert.as_ref()),
    ))?;
    tracing::debug!(
        version = %version,
        protocol = negotiated.version,
        network,
        address = %address,
        host_version = env.host_version.as_deref().unwrap_or("unknown"),
        metadata_mode = env.metadata_mode,
        "plugin serving"
    );
    router
        .serve_with_incoming_shutdown(incoming, shutdown_signal(shutdown_rx))
        .await?;
    tracing::debug!("plugin stopped");
    Ok(())
}

fn print_handshake(line: &str) -> Result<(), ServeError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|source| ServeError::Io {
            context: "writing the handshake line to stdout",
            source,
        })
}

/// Resolves when the host calls `Shutdown` or sends SIGTERM. SIGINT is
/// ignored, as Go plugins do: a Ctrl-C in the server's terminal reaches the
/// whole process group, and the host must stop its plugins itself.
async fn shutdown_signal(mut requested: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    loop {
        tokio::select! {
            changed = requested.changed() => {
                if changed.is_err() || *requested.borrow() {
                    return;
                }
            }
            Some(()) = async { term.as_mut()?.recv().await } => return,
            Some(()) = async { interrupt.as_mut()?.recv().await } => {
                tracing::debug!("ignoring SIGINT; the host stops its plugins itself");
            }
        }
    }
}
