//! Compiles `proto/pachyderm/` with protox (a pure-Rust protobuf compiler),
//! so a fresh machine needs no system `protoc`. Clients for the plugin,
//! servers for the fake pachd of the tests.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "pachyderm/auth/auth.proto",
    "pachyderm/version/versionpb/version.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("pachyderm").display()
    );
    let files: Vec<PathBuf> = FILES.iter().map(|f| root.join(f)).collect();
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
