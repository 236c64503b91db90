#!/usr/bin/env bash
# Install `openapi-spec-validator` into a project-local virtualenv, idempotently.
#
# The integration tests check that the OpenAPI document our plugins contribute
# to OpenBao's `/v1/sys/internal/specs/openapi` is valid OpenAPI 3, with an
# independent validator rather than our own reading of the spec. This installs
# that validator (a PyPI package) into `<repo>/.cache/openapi-validator/venv`
# (override the cache root with OPENAPI_VALIDATOR_CACHE_DIR) and prints the
# absolute path of a python that can import it as the LAST line on stdout.
# Everything else goes to stderr, so callers can do:
#   PY="$(scripts/install-openapi-validator.sh | tail -n1)"
#   "$PY" scripts/validate-openapi.py doc.json
#
# Requirements on a fresh machine: python3 (3.9+) with pip. If `python3 -m venv`
# is unavailable (Debian without python3-venv), it falls back to
# `pip install --target` and prints a small wrapper script instead of python.
set -euo pipefail

VALIDATOR_VERSION="${OPENAPI_VALIDATOR_VERSION:-0.9.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OPENAPI_VALIDATOR_CACHE_DIR:-$ROOT/.cache/openapi-validator}"
VENV="$CACHE/venv"
TARGET_DIR="$CACHE/site"                      # fallback install location (pip --target)
WRAPPER="$CACHE/python"                       # fallback: python with TARGET_DIR on its path
STAMP="$CACHE/validator-$VALIDATOR_VERSION.path"  # records the working python
PYTHON="${PYTHON:-python3}"

log() { printf 'install-openapi-validator: %s\n' "$*" >&2; }

# Print `$1` if it is a python that imports the pinned validator version.
check_python() {
    local py="$1" out
    [[ -n "$py" && -x "$py" ]] || return 1
    out="$("$py" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null)" || return 1
    [[ "$out" == "$VALIDATOR_VERSION" ]] || return 1
    printf '%s\n' "$py"
}

# Fast path: a previous run recorded a working python.
if [[ -f "$STAMP" ]] && check_python "$(cat "$STAMP")" >/dev/null; then
    cat "$STAMP"
    exit 0
fi

mkdir -p "$CACHE"

# Serialise concurrent installers (parallel test processes) on a lock file.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.install.lock"
    flock 9
    if [[ -f "$STAMP" ]] && check_python "$(cat "$STAMP")" >/dev/null; then
        cat "$STAMP"
        exit 0
    fi
fi

# Preferred: a private virtualenv. Prints its python; fails if venv or pip is unusable.
install_venv() {
    if [[ ! -x "$VENV/bin/pip" ]]; then
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" >&2 || return 1
        [[ -x "$VENV/bin/pip" ]] || return 1
    fi
    log "installing openapi-spec-validator==$VALIDATOR_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-spec-validator==$VALIDATOR_VERSION" >&2 || return 1
    printf '%s\n' "$VENV/bin/python"
}

py="$(install_venv)" || py=""

if [[ -z "$py" ]]; then
    log "python venv unavailable; installing openapi-spec-validator==$VALIDATOR_VERSION with pip --target $TARGET_DIR"
    rm -rf "$VENV"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade \
        --target "$TARGET_DIR" "openapi-spec-validator==$VALIDATOR_VERSION" >&2
    system_python="$(command -v "$PYTHON")"
    # The wrapper expands PYTHONPATH when it runs, not now.
    # shellcheck disable=SC2016
    printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" "$@"\n' \
        "$TARGET_DIR" "$system_python" >"$WRAPPER"
    chmod +x "$WRAPPER"
    py="$WRAPPER"
fi

if ! check_python "$py" >/dev/null; then
    log "python at '$py' cannot import openapi-spec-validator $VALIDATOR_VERSION"
    exit 1
fi

printf '%s\n' "$py" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
log "openapi-spec-validator $VALIDATOR_VERSION ready"
printf '%s\n' "$py"
