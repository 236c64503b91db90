#!/usr/bin/env bash
# Benchmark the example-kv plugin beside OpenBao's builtin kv engine and print
# a Markdown table (machine, date, table, notes) on stdout, ready to paste into
# the README. Progress and build output go to stderr.
#
#   ./scripts/bench.sh                          # defaults, about a minute once built
#   ./scripts/bench.sh --requests 5000 --duration 10
#   ./scripts/bench.sh > bench.md               # keep just the report
#
# Steps: install OpenBao (scripts/install-bao.sh, cached in .cache/bao; BAO_BIN
# skips it), build the plugin as a static release binary for
# x86_64-unknown-linux-gnu (as scripts/test.sh does), build the bench binary
# (tests/src/bin/plugin-bench.rs) in release mode, run it with this script's
# arguments. Options of the bench binary:
#   --requests N        sequential requests per operation (default 2000)
#   --duration SECS     length of each concurrent run (default 5)
#   --clients N         concurrent keep-alive clients (default 32)
#   --handshake-runs N  exec-to-handshake runs, median reported (default 20)
# Set NO_BUILD=1 to reuse the binaries already built. Uses openssl (else the
# test fixture certificate) and strip (binutils; else the size is unstripped).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
    case "$arg" in
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    esac
done

step "OpenBao"
if [[ -z "${BAO_BIN:-}" ]]; then
    BAO_BIN="$(./scripts/install-bao.sh | tail -n 1)"
fi
[[ -x "$BAO_BIN" ]] || die "no executable bao binary (got '$BAO_BIN')"
export BAO_BIN
"$BAO_BIN" version >&2

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    step "plugin: static release build ($TARGET)"
    ./scripts/build-release.sh -p example-kv

    # The bench binary is a client, not the thing measured: build it with the
    # release optimisation level but without the workspace's fat LTO and single
    # codegen unit, which only lengthen a cold build. It goes to target/release.
    step "bench binary (release)"
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo build --release --locked -p integration-tests --bin plugin-bench
fi

BENCH="$TARGET_ROOT/release/plugin-bench"
[[ -x "$BENCH" ]] || die "$BENCH is missing (run without NO_BUILD=1)"
export PLUGIN_TARGET_DIR="$RELEASE_DIR"
[[ -x "$PLUGIN_TARGET_DIR/vault-plugin-example-kv" ]] ||
    die "$PLUGIN_TARGET_DIR/vault-plugin-example-kv is missing (run without NO_BUILD=1)"

step "benchmark"
exec "$BENCH" "$@"
