#!/usr/bin/env bash
# Fuzz every plugin through a real OpenBao for a long while: the bounded test
# tests/tests/fuzz_server.rs (all six plugins on one dev server, configured
# against their fakes; random field names, types, sizes up to 4 MiB, unicode,
# nulls and odd path segments to every path of every plugin), run longer.
#
#   ./scripts/fuzz-server.sh            # 20000 cases
#   ./scripts/fuzz-server.sh 100000     # that many cases
#   ./scripts/fuzz-server.sh 30m        # for 30 minutes
#
# Fails on a 5xx caused by input, a panic, a restarted plugin process, a
# changed config or role, or a leaked secret; goes on after a failing case
# and lists every (shrunk) failing case at the end. The server log of a
# failed run is kept under target/integration-logs/. Set NO_BUILD=1 to reuse
# the plugins already built by scripts/build-release.sh.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'fuzz-server.sh: %s\n' "$*" >&2; exit 1; }

length="${1:-20000}"
case "$length" in
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *m) minutes="${length%m}"; [[ "$minutes" =~ ^[0-9]+$ ]] || die "bad length '$length'"
        export FUZZ_MINUTES="$minutes" ;;
    *) [[ "$length" =~ ^[0-9]+$ ]] || die "bad length '$length' (a number of cases, or minutes as 30m)"
       export FUZZ_CASES="$length" ;;
esac
export FUZZ_KEEP_GOING=1
# A new seed each run (the CI test uses a fixed one); printed with any failure.
export FUZZ_SEED="${FUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}"
echo "fuzz-server.sh: FUZZ_SEED=$FUZZ_SEED" >&2

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    step "plugins: static release build ($TARGET)"
    ./scripts/build-release.sh --workspace
fi
export PLUGIN_TARGET_DIR="$RELEASE_DIR"

step "fuzzing ($length)"
exec cargo test --locked -p integration-tests --test fuzz_server -- --nocapture
