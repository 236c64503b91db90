//! Generated protobuf and gRPC code for the plugin protocol spoken between a
//! Vault/OpenBao host and an external plugin.
//!
//! Nothing here is written by hand: the `.proto` sources live in the
//! workspace's `proto/` folder and are compiled by `build.rs`. The SDK crate
//! (`vault-plugin-sdk`) is the place for behaviour; this crate only names the
//! wire types, the way `tonic` keeps codegen apart from its runtime.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// go-plugin's own services: broker, controller and stdio (`package plugin`).
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// Identity and version messages (`package logical`).
pub mod logical {
    tonic::include_proto!("logical");
}

/// The logical backend protocol: `Backend`, `Storage`, `SystemView` (`package pb`).
pub mod pb {
    tonic::include_proto!("pb");
}

/// The multiplexing capability query (`package pluginutil.multiplexing`).
pub mod multiplexing {
    tonic::include_proto!("pluginutil.multiplexing");
}
