#!/usr/bin/env bash
# Runs unit tests built for aarch64 (Raspberry Pi) under qemu-aarch64-static,
# the cargo runner set by scripts/arm64-toolchain.sh: by default the SDK's and
# secrets-balena's library tests, enough to exercise the SDK (framework,
# transport, TLS with rustls + ring) and a plugin on the target's code
# generation without building every test binary twice.
#
#   ./scripts/test-arm64.sh                       # the default set
#   ./scripts/test-arm64.sh -p example-kv --lib   # other cargo test arguments
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=scripts/arm64-toolchain.sh
source "$ROOT/scripts/arm64-toolchain.sh"
arm64_toolchain
if [[ $# -eq 0 ]]; then
    set -- -p vault-plugin-sdk -p secrets-balena --lib
fi
# Static, so qemu needs no arm64 dynamic loader or libraries.
RUSTFLAGS="${RUSTFLAGS:-} $ARM64_RUSTFLAGS -C target-feature=+crt-static" \
    "$ARM64_CARGO" test --locked --target "$ARM64_TARGET" "$@"
