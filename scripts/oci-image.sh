#!/usr/bin/env bash
# Publishes our plugins as OCI images in the form OpenBao's declarative
# `plugin` blocks download (OpenBao 2.5+), and prints those blocks.
#
#   scripts/oci-image.sh --registry REGISTRY/PATH [--binaries DIR]
#                        [--arm64-binaries DIR] [--insecure]
#                        [--hcl amd64|arm64] [NAME...]
#
# For each plugin of scripts/plugins.table (or each NAME given) it builds,
# with buildah and no container engine, one image per architecture: FROM
# scratch, the static binary at the image root, ENTRYPOINT naming it (so a
# plugin block needs no binary_name); tags them as one multi-architecture
# list REGISTRY/PATH/vault-plugin-<name>:<version> (the version the binary
# reports), and pushes it. OpenBao picks the image of its own platform and
# checks the binary against the block's sha256sum, which is per architecture.
#
# On stdout: the `plugin` blocks for the architecture --hcl names (amd64 by
# default), ready for the server config; everything else goes to stderr.
#
# Options:
#   --registry R        where to push, e.g. ghcr.io/acme (required)
#   --binaries DIR      the x86_64 binaries (default: this checkout's release build)
#   --arm64-binaries D  the aarch64 binaries, added to each image list
#   --insecure          plain HTTP (a registry on loopback without TLS)
#   --hcl ARCH          which architecture's blocks to print
#
# Environment: OCI_STORAGE_DIR, buildah's image store (default
# .cache/oci-storage; vfs driver, so no overlay mounts are needed).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

REGISTRY=""
BINARIES="$RELEASE_DIR"
ARM64_BINARIES=""
TLS_VERIFY=true
HCL_ARCH=amd64
WANTED=()

die() { printf 'oci-image.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'oci-image.sh: %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --registry) REGISTRY="${2:?--registry needs a value}"; shift 2 ;;
        --binaries) BINARIES="${2:?--binaries needs a directory}"; shift 2 ;;
        --arm64-binaries) ARM64_BINARIES="${2:?--arm64-binaries needs a directory}"; shift 2 ;;
        --insecure) TLS_VERIFY=false; shift ;;
        --hcl) HCL_ARCH="${2:?--hcl needs amd64 or arm64}"; shift 2 ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) WANTED+=("$1"); shift ;;
    esac
done
[[ -n "$REGISTRY" ]] || die "--registry is required (see --help)"
[[ -d "$BINARIES" ]] || die "no directory $BINARIES (--binaries)"
[[ -z "$ARM64_BINARIES" || -d "$ARM64_BINARIES" ]] || die "no directory $ARM64_BINARIES (--arm64-binaries)"
[[ "$HCL_ARCH" == amd64 || "$HCL_ARCH" == arm64 ]] || die "--hcl takes amd64 or arm64"
[[ "$HCL_ARCH" == amd64 || -n "$ARM64_BINARIES" ]] || die "--hcl arm64 needs --arm64-binaries"
command -v buildah >/dev/null 2>&1 || die "buildah is not installed (Debian/Ubuntu: apt-get install buildah)"

STORAGE="${OCI_STORAGE_DIR:-$ROOT/.cache/oci-storage}"
mkdir -p "$STORAGE/root" "$STORAGE/run"
bah() { buildah --storage-driver vfs --root "$STORAGE/root" --runroot "$STORAGE/run" "$@"; }

# One image: the binary at the root of an empty file system.
build_image() {
    local binary="$1" arch="$2" version="$3" file ctr
    file="$(basename "$binary")"
    ctr="$(bah from scratch)"
    bah copy --quiet --chmod 0755 "$ctr" "$binary" "/$file" >/dev/null
    bah config --os linux --arch "$arch" --entrypoint "[\"/$file\"]" \
        --label "org.opencontainers.image.title=$file" \
        --label "org.opencontainers.image.version=$version" \
        --label "org.opencontainers.image.source=https://github.com/vault-plugins-rs/vault-plugins-rs" \
        "$ctr"
    # A fixed timestamp: the same binary always makes the same image digest.
    bah commit --quiet --format oci --timestamp 0 --rm "$ctr"
}

# shellcheck disable=SC2034 # mount is read for the column layout only
while read -r binary kind name mount; do
    [[ -z "$binary" || "$binary" == \#* ]] && continue
    if [[ ${#WANTED[@]} -gt 0 ]] && ! printf '%s\n' "${WANTED[@]}" | grep -qx "$name"; then
        continue
    fi
    amd64="$BINARIES/$binary"
    [[ -x "$amd64" ]] || die "$amd64 is missing: ./scripts/build-release.sh --workspace"
    version="$("$amd64" --version)"
    image="$REGISTRY/$binary"
    list="$image:$version"
    bah manifest rm "$list" >/dev/null 2>&1 || true
    bah manifest create "$list" >/dev/null
    bah manifest add "$list" "$(build_image "$amd64" amd64 "$version")" >/dev/null
    sha="$(sha256sum "$amd64" | cut -d' ' -f1)"
    if [[ -n "$ARM64_BINARIES" ]]; then
        arm64="$ARM64_BINARIES/$binary"
        [[ -f "$arm64" ]] || die "$arm64 is missing: ./scripts/build-release.sh --target $ARM64_TARGET --workspace"
        bah manifest add "$list" "$(build_image "$arm64" arm64 "$version")" >/dev/null
        [[ "$HCL_ARCH" == arm64 ]] && sha="$(sha256sum "$arm64" | cut -d' ' -f1)"
    fi
    bah manifest push --quiet --all --tls-verify="$TLS_VERIFY" "$list" "docker://$list" >&2
    bah manifest rm "$list" >/dev/null
    log "$name: pushed $list"
    printf 'plugin "%s" "%s" {\n  image     = "%s"\n  version   = "%s"\n  sha256sum = "%s"\n}\n\n' \
        "$kind" "$name" "$image" "$version" "$sha"
done <"$ROOT/scripts/plugins.table"
# The per-architecture images stay behind unnamed; drop them.
bah rmi --prune >/dev/null 2>&1 || true
