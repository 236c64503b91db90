# Shared by the scripts (sourced, not run): the repository root as the
# working directory, the release target triples, and where cargo puts things.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

# Release plugins are built for this triple by default (see build-release.sh).
HOST_TARGET="x86_64-unknown-linux-gnu"
TARGET="$HOST_TARGET"
# The Raspberry Pi triple (build-release.sh --target "$ARM64_TARGET").
ARM64_TARGET="aarch64-unknown-linux-gnu"
TARGET_ROOT="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_ROOT" in /*) ;; *) TARGET_ROOT="$ROOT/$TARGET_ROOT" ;; esac
# Where build-release.sh puts the plugin binaries (host, and arm64).
RELEASE_DIR="$TARGET_ROOT/$TARGET/release"
ARM64_RELEASE_DIR="$TARGET_ROOT/$ARM64_TARGET/release"
export ROOT HOST_TARGET TARGET ARM64_TARGET TARGET_ROOT RELEASE_DIR ARM64_RELEASE_DIR

# Installs the Debian packages of "$@" that are missing (apt-get, as root or
# via sudo); the machine's apt sources are used as they are.
install_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || {
        printf 'needs the Debian packages %s and there is no apt-get\n' "${missing[*]}" >&2
        return 1
    }
    local sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    printf 'installing %s\n' "${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}
