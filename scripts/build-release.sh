#!/usr/bin/env bash
# Builds release plugin binaries the way we ship them: static (glibc with
# +crt-static, since the musl target is not available here), non-PIE, LTO,
# stripped. The one place these flags live; test.sh, demo.sh and bench.sh
# call it.
#
#   ./scripts/build-release.sh                 # the whole workspace (in two runs, below)
#   ./scripts/build-release.sh -p example-kv   # extra args go to cargo build
#
# Binaries land in target/x86_64-unknown-linux-gnu/release. Passing --target
# keeps RUSTFLAGS away from build scripts and proc-macros (host artifacts).
#
# relocation-model=static makes a plain static executable instead of a
# static-pie: about 280 KB smaller (no relative relocations), at the cost of
# a fixed load address for the code, as Go's static binaries have. Set
# PLUGIN_PIE=1 to build static-pie instead.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FLAGS="-C target-feature=+crt-static"
if [[ "${PLUGIN_PIE:-0}" != 1 ]]; then
    FLAGS="$FLAGS -C relocation-model=static"
fi
if [[ $# -eq 0 ]]; then
    set -- --workspace
fi
build() {
    RUSTFLAGS="${RUSTFLAGS:-} $FLAGS" cargo build --release --locked --target "$TARGET" "$@"
}
# The integration-tests crate (the demo's fake-upstreams, the bench client)
# turns on the SDK's test kit, wiremock included. Built in one cargo run with
# the plugins, that feature would be unified into the SDK every plugin binary
# links, so the workspace is built in two runs: the plugins exactly as
# `cargo build -p <plugin>` builds them, then that crate.
if [[ "$*" == "--workspace" ]]; then
    build --workspace --exclude integration-tests
    build -p integration-tests
else
    build "$@"
fi
