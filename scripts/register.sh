#!/usr/bin/env bash
# Installs, registers and enables our plugins on a running OpenBao or Vault
# server, and upgrades (or downgrades) them: run it again with other binaries.
#
#   scripts/register.sh [--binaries DIR] [--plugin-dir DIR] [--mount NAME=PATH]... [NAME...]
#
# NAME is a catalog name from scripts/plugins.table (example-kv,
# secrets-balena, ...); without one, every plugin of the table whose binary
# is in --binaries. For each plugin it:
#   1. asks the binary its version (`<binary> --version`) and hashes it;
#   2. with --plugin-dir (the server's plugin_directory): copies it there as
#      <name>-<version>, so versions sit side by side and a downgrade needs no
#      other file; without it, the binary is taken to be in the plugin
#      directory already and its file name is the command registered;
#   3. registers it in the catalog with that sha256 and version, unless the
#      catalog already has exactly that;
#   4. enables it at its mount path pinned to that version, or, if the mount
#      exists on another version, pins it there (`secrets tune` / `auth tune
#      -plugin-version`) and reloads the mount, the upgrade procedure of
#      docs/operations.md. A mount already running this build is left alone.
# Every line it prints says what it did; a second run with the same binaries
# changes nothing and says so.
#
# Options:
#   --binaries DIR     where the vault-plugin-* binaries are
#                      (default: this checkout's release build)
#   --plugin-dir DIR   install into the server's plugin directory (see 2.)
#   --mount NAME=PATH  mount plugin NAME at PATH instead of the table's path
#
# Environment: BAO_ADDR or VAULT_ADDR, BAO_TOKEN or VAULT_TOKEN (else the
# CLI's token helper), BAO_CACERT or VAULT_CACERT for a private CA. The CLI is
# BAO_BIN or VAULT_BIN if set, else `bao` if installed, else `vault`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TABLE="$HERE/plugins.table"
BINARIES="$HERE/../target/x86_64-unknown-linux-gnu/release"
PLUGIN_DIR=""
declare -A MOUNT_OF=()
WANTED=()

die() { printf 'register.sh: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --binaries) BINARIES="${2:?--binaries needs a directory}"; shift 2 ;;
        --binaries=*) BINARIES="${1#*=}"; shift ;;
        --plugin-dir) PLUGIN_DIR="${2:?--plugin-dir needs a directory}"; shift 2 ;;
        --plugin-dir=*) PLUGIN_DIR="${1#*=}"; shift ;;
        --mount) [[ "${2:-}" == *=* ]] || die "--mount needs NAME=PATH"
            MOUNT_OF["${2%%=*}"]="${2#*=}"; shift 2 ;;
        --mount=*) [[ "$1" == --mount=*=* ]] || die "--mount needs NAME=PATH"
            arg="${1#--mount=}"; MOUNT_OF["${arg%%=*}"]="${arg#*=}"; shift ;;
        -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) WANTED+=("$1"); shift ;;
    esac
done
[[ -d "$BINARIES" ]] || die "no directory $BINARIES (--binaries)"
[[ -z "$PLUGIN_DIR" || -d "$PLUGIN_DIR" ]] || die "no directory $PLUGIN_DIR (--plugin-dir)"

# The CLI, and the environment both of them read.
CLI="${BAO_BIN:-${VAULT_BIN:-}}"
if [[ -z "$CLI" ]]; then
    CLI="$(command -v bao || command -v vault || true)"
fi
[[ -n "$CLI" && -x "$CLI" ]] || die "neither bao nor vault is installed (or set BAO_BIN)"
for pair in ADDR TOKEN CACERT; do
    bao_var="BAO_$pair" vault_var="VAULT_$pair"
    if [[ -n "${!bao_var:-}" && -z "${!vault_var:-}" ]]; then export "$vault_var=${!bao_var}"; fi
    if [[ -n "${!vault_var:-}" && -z "${!bao_var:-}" ]]; then export "$bao_var=${!vault_var}"; fi
done
[[ -n "${BAO_ADDR:-}" ]] || die "set BAO_ADDR or VAULT_ADDR to the server's address"
unset BAO_FORMAT VAULT_FORMAT
cli() { "$CLI" "$@"; }

# One field of a GET, or nothing if the path does not exist.
field() { cli read -field="$1" "${@:2}" 2>/dev/null || true; }

FAILED=0

# register_one BINARY TYPE NAME MOUNT
register_one() {
    local bin="$1" type="$2" name="$3" mount="$4"
    local version sha command say
    version="$("$bin" --version 2>/dev/null)" || true
    [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] ||
        { echo "$name: $bin --version printed '$version', not a version: skipped" >&2; FAILED=1; return; }
    sha="$(sha256sum "$bin" | cut -d' ' -f1)"
    say() { printf '%s %s: %s\n' "$name" "$version" "$*"; }

    # 1. The file in the plugin directory.
    if [[ -n "$PLUGIN_DIR" ]]; then
        command="$name-$version"
        local dest="$PLUGIN_DIR/$command"
        if [[ -f "$dest" && "$(sha256sum "$dest" | cut -d' ' -f1)" == "$sha" ]]; then
            say "already installed as $dest"
        else
            cp "$bin" "$dest.new"
            chmod 755 "$dest.new"
            mv -f "$dest.new" "$dest"
            say "installed $dest"
        fi
    else
        command="$(basename "$bin")"
    fi

    # 2. The catalog entry of this version.
    local catalog="sys/plugins/catalog/$type/$name"
    if [[ "$(field sha256 "$catalog" "version=$version")" == "$sha" &&
        "$(field command "$catalog" "version=$version")" == "$command" ]]; then
        say "already registered ($type, sha256 ${sha:0:12}...)"
    else
        cli plugin register -sha256="$sha" -version="$version" -command="$command" \
            "$type" "$name" >/dev/null
        say "registered ($type, sha256 ${sha:0:12}..., command $command)"
    fi

    # 3. The mount: enable, or pin to this version and reload.
    local kind="secrets" info="sys/mounts/$mount" reload_path="$mount/"
    if [[ "$type" == auth ]]; then
        kind="auth" info="sys/auth/$mount" reload_path="auth/$mount/"
    fi
    local mounted pinned running running_sha
    mounted="$(field type "$info")"
    if [[ -z "$mounted" ]]; then
        cli "$kind" enable -path="$mount" -plugin-version="$version" "$name" >/dev/null
        say "enabled at $reload_path"
        return
    fi
    if [[ "$mounted" != "$name" ]]; then
        echo "$name: $reload_path is a $mounted mount, not $name: left alone" >&2
        FAILED=1
        return
    fi
    pinned="$(field plugin_version "$info")"
    if [[ "$pinned" != "$version" ]]; then
        cli "$kind" tune -plugin-version="$version" "$mount/" >/dev/null
        say "pinned $reload_path to $version (was ${pinned:-unpinned})"
    fi
    running="$(field running_plugin_version "$info")"
    running_sha="$(field running_sha256 "$info")"
    if [[ "$running" != "$version" || "$running_sha" != "$sha" ]]; then
        cli plugin reload -mounts="$reload_path" >/dev/null
        running="$(field running_plugin_version "$info")"
        [[ "$running" == "$version" ]] ||
            { echo "$name: $reload_path still runs ${running:-nothing} after the reload" >&2; FAILED=1; return; }
        say "reloaded $reload_path: now running $version"
    else
        say "already running at $reload_path"
    fi
}

# The table's rows, filtered by the names asked for.
declare -A SEEN=()
while read -r bin type name mount; do
    [[ -z "$bin" || "$bin" == \#* ]] && continue
    if [[ ${#WANTED[@]} -gt 0 ]]; then
        wanted=0
        for w in "${WANTED[@]}"; do [[ "$w" == "$name" ]] && wanted=1; done
        [[ "$wanted" == 1 ]] || continue
    fi
    SEEN["$name"]=1
    if [[ ! -x "$BINARIES/$bin" ]]; then
        if [[ ${#WANTED[@]} -gt 0 ]]; then
            echo "$name: no $BINARIES/$bin" >&2
            FAILED=1
        fi
        continue
    fi
    register_one "$BINARIES/$bin" "$type" "$name" "${MOUNT_OF[$name]:-$mount}"
done <"$TABLE"
for w in "${WANTED[@]}"; do
    [[ -n "${SEEN[$w]:-}" ]] || { echo "$w: not in $TABLE" >&2; FAILED=1; }
done
exit "$FAILED"
