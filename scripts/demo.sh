#!/usr/bin/env bash
# Try the plugins by hand: build them, start an OpenBao dev server with every
# plugin registered and mounted, print what to type, and keep the server in the
# foreground until Ctrl-C.
#
#   ./scripts/demo.sh              # build, start, wait for Ctrl-C
#   ./scripts/demo.sh --smoke      # same, but run the example commands and stop
#   ./scripts/demo.sh --no-build   # reuse the binaries already built
#   ./scripts/demo.sh --production # the production shape instead of dev mode:
#       raft storage, a TLS listener with a CA of the demo's own, operator init
#       with one key share and unseal; the keys stay in .cache/demo-production
#       (init.json), and a second run starts on the same storage and unseals.
#
# Environment: BAO_DEMO_PORT (default 8200), PLUGIN_TARGET_DIR (where the release
# binaries are; default target/x86_64-unknown-linux-gnu/release).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RELEASE_DIR="${PLUGIN_TARGET_DIR:-$RELEASE_DIR}"
PORT="${BAO_DEMO_PORT:-8200}"
ROOT_TOKEN="root"

# ---------------------------------------------------------------------------
# The plugins (binary, type, catalog name, mount path) are listed in
# scripts/plugins.table; scripts/register.sh installs and mounts them.

# Set-up commands run once a mount exists, against the fake upstreams
# (@KEYS_URL@ is the fake key service's URL, @BALENA_URL@ the fake balena
# API's, @BALENA_SESSION@ a session token of its demo user, @PACHD_ADDRESS@
# the fake pachd's address, @PACHD_ROOT_TOKEN@ its root token, @PROXMOX_URL@
# the fake Proxmox API's, @PROXMOX_SECRET@ the secret of its root@pam!vault
# token, @IBM_*@ the fake IBM Cloud IAM: its URLs, account, admin API key, and
# an app's key and subject):
#   <mount>  <command...>
SETUP='
example-kv    bao write example-kv/config upstream_url=@KEYS_URL@
example-kv    bao write example-kv/role/dev ttl=5m max_ttl=1h
example-auth  bao write auth/example-auth/users/alice password=demo-password token_policies=default token_ttl=10m
balena        bao write balena/config url=@BALENA_URL@
balena        bao write balena/role/developer balenaApiKey=@BALENA_SESSION@ ttl=5m max_ttl=1h
pachyderm     bao write pachyderm/config admin_token=@PACHD_ROOT_TOKEN@ pachd_address=@PACHD_ADDRESS@ ttl=45s max_ttl=1h
ibmcloud      bao write auth/ibmcloud/config api_key=@IBM_ADMIN_KEY@ account_id=@IBM_ACCOUNT@ iam_endpoint=@IBM_IAM@ user_management_endpoint=@IBM_USER_MANAGEMENT@
ibmcloud      bao write auth/ibmcloud/role/dev-role bound_subjects=@IBM_APP_SUBJECT@ token_policies=default token_ttl=10m
proxmox       bao write proxmox/config user=root realm=pam token_id=vault token_secret=@PROXMOX_SECRET@ proxmox_url=@PROXMOX_URL@ insecure_skip_tls_verify=true
proxmox       bao write proxmox/role/ci user=alice realm=pve ttl=5m max_ttl=1h acls=/vms/100:PVEVMUser
'

# Example commands printed (and run by --smoke) once a mount exists:
#   <mount>  <command...>
EXAMPLES='
example-kv    bao write example-kv/kv/hello value=world
example-kv    bao read example-kv/kv/hello
example-kv    bao list example-kv/kv
example-kv    bao read example-kv/ping
example-kv    bao read example-kv/creds/dev
example-kv    bao path-help example-kv/role/dev
example-auth  bao write auth/example-auth/login username=alice password=demo-password
balena        bao read balena/creds/developer
pachyderm     bao write -f pachyderm/login/ci
pachyderm     bao write pachyderm/login username=robot:ci
pachyderm     bao read pachyderm/version
ibmcloud      bao write auth/ibmcloud/login role=dev-role api_key=@IBM_APP_KEY@
ibmcloud      bao read auth/ibmcloud/config
proxmox       bao read proxmox/creds/ci
'
# ---------------------------------------------------------------------------

SMOKE=0
BUILD=1
PRODUCTION=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        --no-build) BUILD=0 ;;
        --production) PRODUCTION=1 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

if [[ "$PRODUCTION" == 1 ]]; then
    DEMO_DIR="$ROOT/.cache/demo-production"
else
    DEMO_DIR="$ROOT/.cache/demo"
fi
PLUGIN_DIR="$DEMO_DIR/plugins"
LOG="$DEMO_DIR/server.log"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

bao() { "$BAO_BIN" "$@"; }

BAO_PID=""
FAKES_PID=""
# shellcheck disable=SC2317  # invoked from the EXIT trap
stop_server() {
    trap - EXIT INT TERM
    if [[ -n "$FAKES_PID" ]]; then
        kill -TERM "$FAKES_PID" 2>/dev/null || true
    fi
    if [[ -n "$BAO_PID" ]] && kill -0 "$BAO_PID" 2>/dev/null; then
        log "stopping OpenBao (pid $BAO_PID)"
        # SIGINT, as an operator's Ctrl-C or service manager stops a server.
        kill -INT "$BAO_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$BAO_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$BAO_PID" 2>/dev/null || true
        wait "$BAO_PID" 2>/dev/null || true
        log "stopped; server log kept at $LOG"
    fi
}

fail_with_log() {
    printf 'demo.sh: %s\n--- last 40 lines of %s ---\n' "$1" "$LOG" >&2
    tail -n 40 "$LOG" >&2 || true
    exit 1
}

# 1. Build and install.
if [[ "$BUILD" == 1 ]]; then
    log "building release plugins (static, $TARGET)"
    ./scripts/build-release.sh --workspace
fi
BAO_BIN="${BAO_BIN:-$(./scripts/install-bao.sh | tail -n 1)}"
[[ -x "$BAO_BIN" ]] || die "no bao binary (got '$BAO_BIN')"

# 2. Start the server. Dev mode starts with an EMPTY plugin dir (a dev server
#    auto-mounts what it finds there and exits if that fails); plugins are
#    copied in afterwards.
unset BAO_NAMESPACE VAULT_NAMESPACE BAO_FORMAT VAULT_FORMAT BAO_CACERT VAULT_CACERT
SCHEME=http
[[ "$PRODUCTION" == 1 ]] && SCHEME=https
export BAO_ADDR="$SCHEME://127.0.0.1:$PORT" VAULT_ADDR="$SCHEME://127.0.0.1:$PORT"
export BAO_TOKEN="$ROOT_TOKEN" VAULT_TOKEN="$ROOT_TOKEN"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (set BAO_DEMO_PORT to use another port)"
fi
trap stop_server EXIT
trap 'exit 130' INT TERM

# Waits until `bao status` exits with one of the codes in $1 (0: unsealed,
# 2: sealed), failing if the server exits.
wait_status() {
    local code
    for _ in $(seq 1 300); do
        kill -0 "$BAO_PID" 2>/dev/null || fail_with_log "OpenBao exited during startup"
        code=0
        bao status >/dev/null 2>&1 || code=$?
        [[ "$1" == *"$code"* ]] && return 0
        sleep 0.1
    done
    fail_with_log "OpenBao did not answer in 30 s"
}

# The seed's shape: raft, TLS with a private CA, init with one key share.
# Storage and keys are kept for the next run; a directory without its
# init.json (a run that failed before init) is started afresh.
start_production() {
    [[ -f "$DEMO_DIR/init.json" ]] || rm -rf "$DEMO_DIR"
    local tls="$DEMO_DIR/tls"
    mkdir -p "$PLUGIN_DIR" "$DEMO_DIR/raft" "$tls"
    if [[ ! -f "$tls/server.pem" ]]; then
        log "making a demo CA and a certificate for 127.0.0.1 in $tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
            -subj "/CN=vault-plugins-rs demo CA" -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=127.0.0.1" -keyout "$tls/server-key.pem" -out "$tls/server.csr" 2>/dev/null
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" \
            -CAcreateserial -days 365 -out "$tls/server.pem" \
            -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') 2>/dev/null
        chmod 600 "$tls"/*-key.pem
    fi
    export BAO_CACERT="$tls/ca.pem" VAULT_CACERT="$tls/ca.pem"
    cat >"$DEMO_DIR/server.hcl" <<HCL
api_addr = "https://127.0.0.1:$PORT"
cluster_addr = "https://127.0.0.1:$((PORT + 1))"
plugin_directory = "$PLUGIN_DIR"

storage "raft" {
  path = "$DEMO_DIR/raft"
  node_id = "demo-1"
  performance_multiplier = 1
}

listener "tcp" {
  address = "127.0.0.1:$PORT"
  cluster_address = "127.0.0.1:$((PORT + 1))"
  tls_cert_file = "$tls/server.pem"
  tls_key_file = "$tls/server-key.pem"
  tls_disable_client_certs = true
}
HCL
    log "starting OpenBao (raft, TLS) on $BAO_ADDR (config $DEMO_DIR/server.hcl, log $LOG)"
    "$BAO_BIN" server -config="$DEMO_DIR/server.hcl" -log-level=debug >>"$LOG" 2>&1 </dev/null &
    BAO_PID=$!
    wait_status 02
    if [[ ! -f "$DEMO_DIR/init.json" ]]; then
        log "operator init -key-shares=1 -key-threshold=1 (keys kept in $DEMO_DIR/init.json)"
        (umask 077 && bao operator init -key-shares=1 -key-threshold=1 -format=json \
            >"$DEMO_DIR/init.json.new") || fail_with_log "operator init failed"
        mv "$DEMO_DIR/init.json.new" "$DEMO_DIR/init.json"
    fi
    ROOT_TOKEN="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["root_token"])' \
        "$DEMO_DIR/init.json")"
    export BAO_TOKEN="$ROOT_TOKEN" VAULT_TOKEN="$ROOT_TOKEN"
    # What openbao-unseal.service runs after every start (docs/operations.md).
    log "unsealing with deploy/openbao-unseal.sh"
    INIT_FILE="$DEMO_DIR/init.json" "$ROOT/deploy/openbao-unseal.sh" ||
        fail_with_log "unseal failed"
    # Active once this node holds the lock (after its read-only phase).
    for _ in $(seq 1 300); do
        [[ "$(bao read -field=is_self sys/leader 2>/dev/null)" == true ]] && return 0
        sleep 0.1
    done
    fail_with_log "OpenBao did not become active in 30 s"
}

if [[ "$PRODUCTION" == 1 ]]; then
    start_production
else
    rm -rf "$PLUGIN_DIR"
    mkdir -p "$PLUGIN_DIR"
    log "starting OpenBao dev server on $BAO_ADDR (log: $LOG)"
    "$BAO_BIN" server -dev \
        -dev-root-token-id="$ROOT_TOKEN" \
        -dev-listen-address="127.0.0.1:$PORT" \
        -dev-plugin-dir="$PLUGIN_DIR" \
        -dev-no-store-token \
        -log-level=debug >"$LOG" 2>&1 </dev/null &
    BAO_PID=$!
    wait_status 0
fi

# 3. Start the fake upstreams the plugins are configured against.
# FAKES_BIN: another build of it (test.sh uses the debug build).
FAKES="${FAKES_BIN:-$RELEASE_DIR/fake-upstreams}"
[[ -x "$FAKES" ]] || die "no $FAKES: build with ./scripts/build-release.sh --workspace"
"$FAKES" >"$DEMO_DIR/fakes.txt" 2>>"$LOG" &
FAKES_PID=$!
for _ in $(seq 1 50); do
    grep -q '^proxmox_token_secret=' "$DEMO_DIR/fakes.txt" 2>/dev/null && break
    sleep 0.1
done
KEYS_URL="$(sed -n 's/^keys=//p' "$DEMO_DIR/fakes.txt")"
BALENA_URL="$(sed -n 's/^balena=//p' "$DEMO_DIR/fakes.txt")"
BALENA_SESSION="$(sed -n 's/^balena_session=//p' "$DEMO_DIR/fakes.txt")"
PACHD_ADDRESS="$(sed -n 's/^pachd=//p' "$DEMO_DIR/fakes.txt")"
PACHD_ROOT_TOKEN="$(sed -n 's/^pachd_root_token=//p' "$DEMO_DIR/fakes.txt")"
PROXMOX_URL="$(sed -n 's/^proxmox=//p' "$DEMO_DIR/fakes.txt")"
PROXMOX_SECRET="$(sed -n 's/^proxmox_token_secret=//p' "$DEMO_DIR/fakes.txt")"
# A set-up or example command with its @...@ placeholders filled in (the
# @IBM_*@ ones are the fake IBM Cloud IAM's values).
fill() {
    local line="$1" key
    line="${line//@KEYS_URL@/$KEYS_URL}"
    line="${line//@BALENA_URL@/$BALENA_URL}"
    line="${line//@BALENA_SESSION@/$BALENA_SESSION}"
    line="${line//@PACHD_ADDRESS@/$PACHD_ADDRESS}"
    line="${line//@PACHD_ROOT_TOKEN@/$PACHD_ROOT_TOKEN}"
    line="${line//@PROXMOX_URL@/$PROXMOX_URL}"
    line="${line//@PROXMOX_SECRET@/$PROXMOX_SECRET}"
    for key in iam user_management account admin_key app_key app_subject; do
        line="${line//@IBM_${key^^}@/$(sed -n "s/^ibm_$key=//p" "$DEMO_DIR/fakes.txt")}"
    done
    printf '%s' "$line"
}
[[ -n "$KEYS_URL" && -n "$BALENA_URL" && -n "$BALENA_SESSION" && -n "$PACHD_ADDRESS" && -n "$PACHD_ROOT_TOKEN" && -n "$PROXMOX_URL" && -n "$PROXMOX_SECRET" ]] ||
    die "the fake upstreams did not start"
log "fake key service at $KEYS_URL, fake balena API at $BALENA_URL (user demo / demo-password), fake pachd at $PACHD_ADDRESS, fake IBM Cloud IAM at $(sed -n 's/^ibm_iam=//p' "$DEMO_DIR/fakes.txt")"

# 4. Install, register and mount every plugin of scripts/plugins.table whose
#    binary is built, as an operator does.
BAO_BIN="$BAO_BIN" ./scripts/register.sh --binaries "$RELEASE_DIR" --plugin-dir "$PLUGIN_DIR" >&2 ||
    fail_with_log "registering the plugins failed"
MOUNTED=()
while read -r bin _ _ mount; do
    [[ -z "$bin" || "$bin" == \#* ]] && continue
    [[ -x "$RELEASE_DIR/$bin" ]] && MOUNTED+=("$mount")
done <scripts/plugins.table
[[ ${#MOUNTED[@]} -gt 0 ]] ||
    log "no plugin binaries in $RELEASE_DIR: the server runs without plugins"

# 5. Configure the mounts against the fakes.
while read -r mount cmd; do
    [[ -n "$mount" ]] || continue
    for m in "${MOUNTED[@]}"; do
        [[ "$m" == "$mount" ]] || continue
        line="$(fill "$cmd")"
        read -r -a words <<<"$line"
        bao "${words[@]:1}" >/dev/null || fail_with_log "set-up failed: $cmd"
    done
done <<<"$SETUP"

# 6. Tell the user what to try.
examples=()
while read -r mount cmd; do
    [[ -n "$mount" ]] || continue
    for m in "${MOUNTED[@]}"; do
        [[ "$m" == "$mount" ]] && examples+=("$(fill "$cmd")")
    done
done <<<"$EXAMPLES"

SHAPE="dev server"
CA_LINE=""
if [[ "$PRODUCTION" == 1 ]]; then
    SHAPE="server (raft, TLS; unseal key and root token in $DEMO_DIR/init.json)"
    CA_LINE="
    export BAO_CACERT='$BAO_CACERT' VAULT_CACERT='$BAO_CACERT'"
fi
cat <<EOF

OpenBao $("$BAO_BIN" version | awk '{print $2}') $SHAPE is running with our plugins: ${MOUNTED[*]:-(none)}

In another shell:
    export BAO_ADDR='$BAO_ADDR' BAO_TOKEN='$ROOT_TOKEN'
    export VAULT_ADDR='$BAO_ADDR' VAULT_TOKEN='$ROOT_TOKEN'$CA_LINE
    alias bao='$BAO_BIN'

Then try:
EOF
for cmd in "${examples[@]}"; do printf '    %s\n' "$cmd"; done
printf '    bao secrets list\n    bao plugin list secret\n\nServer log: %s\n' "$LOG"

if [[ "$SMOKE" == 1 ]]; then
    for cmd in "${examples[@]}"; do
        printf '\n$ %s\n' "$cmd"
        read -r -a words <<<"$cmd"
        [[ "${words[0]}" == bao ]] || die "example must start with bao: $cmd"
        bao "${words[@]:1}" || fail_with_log "example failed: $cmd"
    done
    exit 0
fi

printf '\nPress Ctrl-C to stop the server.\n'
set +e
wait "$BAO_PID"
status=$?
BAO_PID=""
log "OpenBao exited by itself (status $status); log: $LOG"
exit "$status"
