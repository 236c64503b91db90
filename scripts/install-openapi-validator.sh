#!/usr/bin/env bash
# Install `openapi-spec-validator` into a project-local cache, idempotently.
#
# The integration tests check that the OpenAPI document our plugins contribute
# to OpenBao's `/v1/sys/internal/specs/openapi` is valid OpenAPI 3, with an
# independent validator rather than our own reading of the spec. This installs
# that validator (a PyPI package) into `<repo>/.cache/openapi-validator`
# (override with OPENAPI_VALIDATOR_CACHE_DIR) and prints the absolute path of a
# python that can import it as the LAST line on stdout. Everything else goes
# to stderr, so callers can do:
#   PY="$(scripts/install-openapi-validator.sh | tail -n1)"
#   "$PY" scripts/validate-openapi.py doc.json
#
# Requirements on a fresh machine: python3 (3.9+) with pip.
set -euo pipefail

VALIDATOR_VERSION="${OPENAPI_VALIDATOR_VERSION:-0.9.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OPENAPI_VALIDATOR_CACHE_DIR:-$ROOT/.cache/openapi-validator}"
# shellcheck source=scripts/pip-tool.sh
source "$ROOT/scripts/pip-tool.sh"

# Print `$1` if it is a python that imports the pinned validator version.
check_python() {
    local py="$1" out
    [[ -n "$py" && -x "$py" ]] || return 1
    out="$("$py" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null)" || return 1
    [[ "$out" == "$VALIDATOR_VERSION" ]] || return 1
    printf '%s\n' "$py"
}

install() {
    printf 'install-openapi-validator: installing openapi-spec-validator==%s into %s\n' \
        "$VALIDATOR_VERSION" "$CACHE" >&2
    pip_python "$CACHE" "openapi-spec-validator==$VALIDATOR_VERSION"
}

cached_tool "$CACHE/validator-$VALIDATOR_VERSION.path" check_python install ||
    { printf 'install-openapi-validator: could not install openapi-spec-validator %s\n' "$VALIDATOR_VERSION" >&2; exit 1; }
