#!/bin/sh
# Unseals the local OpenBao (or Vault) server after it starts, with the key
# `operator init -format=json` wrote: run by openbao-unseal.service after
# every start of openbao.service, and by hand the same way.
#
# `operator init -format=json` writes the keys as `unseal_keys_b64` (and
# `unseal_keys_hex`); it never writes the `keys` the seed's script reads.
# The key goes to the API on curl's stdin, never on a command line that
# other users could read in the process list.
#
# Environment: BAO_ADDR (or VAULT_ADDR), BAO_CACERT (or VAULT_CACERT) as for
# the CLI; INIT_FILE, the saved output of `operator init -format=json`
# (default /etc/openbao/init.json). Waits up to WAIT_SECONDS (default 60)
# for the server to answer. Needs curl; jq if installed.
set -eu

ADDR="${BAO_ADDR:-${VAULT_ADDR:-https://127.0.0.1:8200}}"
CACERT="${BAO_CACERT:-${VAULT_CACERT:-}}"
INIT_FILE="${INIT_FILE:-/etc/openbao/init.json}"
WAIT_SECONDS="${WAIT_SECONDS:-60}"

say() { printf 'openbao-unseal: %s\n' "$*" >&2; }
api() {
    if [ -n "$CACERT" ]; then
        curl --silent --show-error --cacert "$CACERT" "$@"
    else
        curl --silent --show-error "$@"
    fi
}

[ -r "$INIT_FILE" ] || { say "cannot read $INIT_FILE"; exit 1; }
# The first unseal key; jq if installed, else a plain match of the JSON.
if command -v jq >/dev/null 2>&1; then
    key="$(jq -r '.unseal_keys_b64[0] // empty' "$INIT_FILE")"
else
    key="$(tr -d '\n' <"$INIT_FILE" |
        sed -n 's/.*"unseal_keys_b64"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p')"
fi
[ -n "$key" ] || { say "no unseal_keys_b64 in $INIT_FILE (the output of operator init -format=json)"; exit 1; }

# Until the server answers: sealed, or already unsealed.
waited=0
while :; do
    status="$(api --max-time 5 "$ADDR/v1/sys/seal-status" 2>/dev/null || true)"
    case "$status" in
        *'"sealed":false'*) say "already unsealed"; exit 0 ;;
        *'"sealed":true'*) break ;;
    esac
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
        say "$ADDR did not answer within ${WAIT_SECONDS}s"
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
answer="$(printf '{"key":"%s"}' "$key" | api --request PUT --data-binary @- "$ADDR/v1/sys/unseal")"
case "$answer" in
    *'"sealed":false'*) say "unsealed" ;;
    *) say "still sealed after the key: $answer"; exit 1 ;;
esac
