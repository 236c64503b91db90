#!/usr/bin/env bash
# Builds release plugin binaries the way we ship them: static (glibc with
# +crt-static, since the musl target is not available here), static-pie, LTO,
# stripped. The one place these flags live; test.sh, demo.sh, bench.sh and the
# release workflow call it.
#
#   ./scripts/build-release.sh                 # the whole workspace (in two runs, below)
#   ./scripts/build-release.sh -p example-kv   # extra args go to cargo build
#   ./scripts/build-release.sh --target aarch64-unknown-linux-gnu   # Raspberry Pi (arm64)
#
# Binaries land in target/<triple>/release (x86_64-unknown-linux-gnu unless
# --target says otherwise). Passing --target keeps RUSTFLAGS away from build
# scripts and proc-macros (host artifacts).
#
# aarch64 is cross-built with Debian's rustc-web, its arm64 std and
# gcc-aarch64-linux-gnu, which scripts/arm64-toolchain.sh installs and caches
# in .cache/arm64 on the first run; for it `--workspace` means the plugins only
# (the integration-tests crate runs on the build host).
#
# Hardening of a process that holds secrets: static-pie, so the kernel loads
# the code at a random address (ASLR; a plain static executable is 280 KB
# smaller but always at the same address), full RELRO (relocations done at
# start, then read-only) and a non-executable stack. rustc does the last two by
# default on Linux; the flags below say so explicitly, and
# tests/tests/plugin_process.rs checks all three on every release binary.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [[ "${1:-}" == --target ]]; then
    TARGET="${2:?--target needs a target triple}"
    shift 2
fi
CARGO=cargo
FLAGS="-C target-feature=+crt-static -C relocation-model=pic -C relro-level=full -C link-arg=-Wl,-z,noexecstack"
case "$TARGET" in
    x86_64-unknown-linux-gnu) ;;
    aarch64-unknown-linux-gnu)
        # shellcheck source=scripts/arm64-toolchain.sh
        source "$ROOT/scripts/arm64-toolchain.sh"
        arm64_toolchain
        CARGO="$ARM64_CARGO"
        FLAGS="$ARM64_RUSTFLAGS $FLAGS"
        ;;
    *)
        echo "build-release.sh: unsupported target $TARGET (x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu)" >&2
        exit 2
        ;;
esac
if [[ $# -eq 0 ]]; then
    set -- --workspace
fi
build() {
    RUSTFLAGS="${RUSTFLAGS:-} $FLAGS" "$CARGO" build --release --locked --target "$TARGET" "$@"
}
# The integration-tests crate (the demo's fake-upstreams, the bench client)
# turns on the SDK's test kit, wiremock included. Built in one cargo run with
# the plugins, that feature would be unified into the SDK every plugin binary
# links, so the workspace is built in two runs: the plugins exactly as
# `cargo build -p <plugin>` builds them, then that crate (host only).
if [[ "$*" == "--workspace" ]]; then
    build --workspace --exclude integration-tests
    if [[ "$TARGET" == "$HOST_TARGET" ]]; then
        build -p integration-tests
    fi
else
    build "$@"
fi
