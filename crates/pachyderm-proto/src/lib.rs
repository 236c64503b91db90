//! Generated protobuf and gRPC code for the few pachd calls of
//! `secrets-pachyderm`: Pachyderm 2.x's `auth_v2.API` (WhoAmI,
//! GetRobotToken, RestoreAuthToken, RevokeAuthToken, RotateRootToken) and `versionpb_v2.API`
//! (GetVersion).
//!
//! Nothing here is written by hand: the `.proto` sources (ours, wire-
//! compatible with pachd v2.11.6) live in the workspace's `proto/pachyderm/`
//! folder and are compiled by `build.rs`. The plugin uses the clients, the
//! tests' fake pachd the servers.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Pachyderm's auth API (`package auth_v2`).
pub mod auth_v2 {
    tonic::include_proto!("auth_v2");
}

/// Pachyderm's version API (`package versionpb_v2`).
pub mod versionpb_v2 {
    tonic::include_proto!("versionpb_v2");
}
