# Shared by the scripts (sourced, not run): the repository root as the
# working directory, the release target triple, and where cargo puts things.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

# Release plugins are built for this triple (see build-release.sh).
TARGET="x86_64-unknown-linux-gnu"
TARGET_ROOT="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_ROOT" in /*) ;; *) TARGET_ROOT="$ROOT/$TARGET_ROOT" ;; esac
# Where build-release.sh puts the plugin binaries.
RELEASE_DIR="$TARGET_ROOT/$TARGET/release"
export ROOT TARGET TARGET_ROOT RELEASE_DIR
