#!/usr/bin/env bash
# Soak every plugin: 32 concurrent clients issue and revoke credentials on
# all six plugins (one OpenBao dev server, each plugin configured against
# its fake upstream) for N minutes, then print a Markdown table on stdout:
# per plugin the cycles, errors, p50/p99 of issuing and revoking, RSS after
# the warm-up and its growth (must stay under 1 MB), open fds and threads
# before/after. A command, not a test.
#
#   ./scripts/soak.sh              # 2 minutes, 32 clients
#   ./scripts/soak.sh 30           # 30 minutes
#   ./scripts/soak.sh 5 64         # 5 minutes, 64 clients
#
# Exits 1 on any error, a restarted plugin or an RSS growth of 1 MB or more.
# Set NO_BUILD=1 to reuse the binaries already built.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'soak.sh: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
minutes="${1:-2}"
clients="${2:-32}"

if [[ -z "${BAO_BIN:-}" ]]; then
    BAO_BIN="$(./scripts/install-bao.sh | tail -n 1)"
fi
export BAO_BIN

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    step "plugins: static release build ($TARGET)"
    ./scripts/build-release.sh --workspace
    # The soak binary is the load, not what is measured: release
    # optimisation without the workspace's fat LTO (as bench.sh does).
    step "soak binary (release)"
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo build --release --locked -p integration-tests --bin soak
fi

SOAK="$TARGET_ROOT/release/soak"
[[ -x "$SOAK" ]] || die "$SOAK is missing (run without NO_BUILD=1)"
export PLUGIN_TARGET_DIR="$RELEASE_DIR"

step "soak: $minutes min, $clients clients"
exec "$SOAK" --minutes "$minutes" --clients "$clients"
