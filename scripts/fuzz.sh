#!/usr/bin/env bash
# Fuzz the request-field decoder (fuzz/fuzz_targets/field_decode.rs) for a
# while and exit non-zero if it finds a crash. Not part of CI.
#
#   ./scripts/fuzz.sh        # 60 seconds
#   ./scripts/fuzz.sh 600    # ten minutes
#
# Needs the nightly toolchain (rustup toolchain install nightly) and a C++
# compiler; installs cargo-fuzz with `cargo install` when it is missing. The
# corpus grows in fuzz/corpus/field_decode; a crashing input is saved under
# fuzz/artifacts/field_decode/ and can be replayed with
#   cargo +nightly fuzz run field_decode fuzz/artifacts/field_decode/<file>
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds="${1:-60}"
case "$seconds" in
    '' | *[!0-9]*) printf 'fuzz.sh: seconds must be a whole number, got %s\n' "$seconds" >&2; exit 2 ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
    printf 'fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly\n' >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    printf '==> installing cargo-fuzz\n' >&2
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz run field_decode -- -max_total_time="$seconds"
