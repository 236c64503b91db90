//! Compiles `proto/` with protox (a pure-Rust protobuf compiler), so a fresh
//! machine needs no system `protoc`.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "go-plugin/grpc_broker.proto",
    "go-plugin/grpc_controller.proto",
    "go-plugin/grpc_stdio.proto",
    "vault/logical/version.proto",
    "vault/pluginutil/multiplexing.proto",
    "vault/pb/backend.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files: Vec<PathBuf> = FILES.iter().map(|f| root.join(f)).collect();
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
