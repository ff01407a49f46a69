#!/usr/bin/env bash
# Container smoke test: build the image with the README's own podman command, run
# docker/compose.yaml (gateway + mail catcher) with podman, upload a CSV with OpenSSH sftp,
# and see it imported by the embedded Canvas sandbox, reported over SFTP and by mail, with the
# HEALTHCHECK passing, the gateway running as non-root, and a clean stop on SIGTERM; then a
# second gateway whose mounted config is half-edited stays healthy.
#
# Follows ../shared/container-testing.md: Debian's podman 4.3 with runc and explicit ulimits,
# a locally bootstrapped debian:bookworm base (no registry), builds with --isolation=chroot,
# the host's extra CA certificates copied into docker/extra-ca/ for the build only.
# Needs root.  About 3 minutes cold, under 1 minute when the images are cached.
# Leaves nothing running: containers, volumes, network and copied CAs are removed on exit
# (the images stay as a build cache; `podman system reset -f` removes everything).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=sisgw_smoke
BASE=docker.io/library/debian:bookworm-slim
WORK=$(mktemp -d)
CA_PREFIX=smoke-host-
GATEWAY="${PROJECT}_gateway_1"
MAIL="${PROJECT}_mail_1"
SECOND="${PROJECT}_second"
export CONTAINERS_CONF="$WORK/containers.conf"

log() { printf '[smoke %s] %s\n' "$(date +%T)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

compose() {
    podman-compose -p "$PROJECT" -f docker/compose.yaml "$@"
}

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        log "gateway log (last 40 lines):"
        podman logs --tail 40 "$GATEWAY" 2>&1 || true
    fi
    compose down -v >/dev/null 2>&1 || true
    podman rm -f "$SECOND" >/dev/null 2>&1 || true
    podman volume rm -f "${PROJECT}_second-data" >/dev/null 2>&1 || true
    podman volume rm -f "${PROJECT}_gateway-data" >/dev/null 2>&1 || true
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    podman image prune -f >/dev/null 2>&1 || true  # superseded builds; tagged ones stay
    rm -f docker/extra-ca/"$CA_PREFIX"*.crt
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
# shellcheck source=tests/container/podman.sh
. tests/container/podman.sh

build_images() {
    # Outbound TLS here is re-signed by a CA only the host trusts: pip in the build needs it.
    for cert in /usr/local/share/ca-certificates/*.crt; do
        [ -e "$cert" ] && cp "$cert" "docker/extra-ca/$CA_PREFIX$(basename "$cert")"
    done
    # The README's own command, as an operator would paste it; chroot isolation is this
    # machine's need (crun fails on its cgroup layout), given the way buildah reads it.
    local command
    command=$(grep -m 1 '^podman build --format docker' README.md) \
        || fail "README.md shows no podman build command"
    log "building with the README's command: $command"
    BUILDAH_ISOLATION=chroot sh -c "$command" >"$WORK/build.log" 2>&1 \
        || { tail -n 30 "$WORK/build.log"; fail "the README's build command failed"; }
    if grep -i 'warn' "$WORK/build.log"; then
        fail "the build printed warnings"
    fi
    BUILDAH_ISOLATION=chroot podman build --quiet --format docker --target mailcatcher \
        -t sis-gateway-mailcatcher:local . >/dev/null
    check_image_source
}

source_digest() {  # every .py file of a gateway/ folder, by path and content
    (cd "$1" && find . -name '*.py' -not -path '*/__pycache__/*' | LC_ALL=C sort \
        | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

check_image_source() {
    # A rebuild must hold this tree's gateway, not a cached layer's older one.
    local root
    root=$(podman image mount sis-gateway:local) || fail "cannot mount the image to read it"
    local inside outside
    inside=$(source_digest "$root/opt/gateway/lib/python3.11/site-packages/gateway")
    podman image unmount sis-gateway:local >/dev/null
    outside=$(source_digest gateway)
    [ "$inside" = "$outside" ] || fail "the image holds another gateway than this tree's"
    log "the image holds this tree's gateway ($outside)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# OpenSSH sftp with the demo password, commands from stdin.  The password comes from an
# askpass program; `sftp -b` would forbid password logins, so success is judged by effects
# (the report appearing), and a refused login still fails (exit 255).
demo_sftp() {
    SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
        sftp -P "$SFTP_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o PubkeyAuthentication=no -o PreferredAuthentications=password \
        -o NumberOfPasswordPrompts=1 demo@127.0.0.1
}

start_stack() {
    SFTP_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    export GATEWAY_SFTP_PORT=$SFTP_PORT GATEWAY_HTTP_PORT=$HTTP_PORT
    log "starting the compose stack (sftp 127.0.0.1:$SFTP_PORT, http 127.0.0.1:$HTTP_PORT)"
    compose up -d >/dev/null
    wait_until 60 "/readyz" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
}

upload_and_follow() {
    printf '#!/bin/sh\necho demo\n' > "$WORK/askpass"
    chmod 700 "$WORK/askpass"
    log "uploading config/samples/users.csv with OpenSSH sftp as demo"
    echo "put config/samples/users.csv inbox/users.csv" | demo_sftp >/dev/null \
        || fail "sftp upload was refused"
    wait_until 120 "the import result in /reports" result_reported
    log "report: $(head -n 1 "$WORK/report.txt")"
}

# The result report appears next to the receipt in /reports once Canvas has finished.
result_reported() {
    echo "get reports/batch-000001.result.txt $WORK/report.txt" | demo_sftp >/dev/null \
        && grep -q "Imported" "$WORK/report.txt"
}

check_results() {
    podman exec "$GATEWAY" gateway status --json > "$WORK/status.json"
    python3 - "$WORK/status.json" <<'PY' || fail "gateway status shows no imported batch"
import json, sys
rows = json.load(open(sys.argv[1]))
[demo] = [row for row in rows if row["institution"] == "demo"]
assert demo["last_success"] and demo["last_success"]["canvas_import"], demo
PY
    wait_until 60 "the report mail at the mail catcher" sh -c \
        "podman logs '$MAIL' 2>&1 | grep -q 'Subject: \[Imported'"
    curl -fsS -o "$WORK/metrics.txt" "http://127.0.0.1:$HTTP_PORT/metrics"
    grep -q 'gateway_imports_total{institution="demo",outcome="imported"} 1.0' \
        "$WORK/metrics.txt" || fail "/metrics does not count the import"
    curl -fsS -o "$WORK/page.html" "http://127.0.0.1:$HTTP_PORT/"
    grep -q "users.csv" "$WORK/page.html" || fail "the status page does not list the batch"
    [ "$(podman exec "$GATEWAY" id -u)" = "10001" ] || fail "the gateway runs as root"
    podman healthcheck run "$GATEWAY" >/dev/null || fail "the HEALTHCHECK fails"
}

stop_cleanly() {
    local started=$SECONDS
    podman stop -t 20 "$GATEWAY" >/dev/null
    local took=$((SECONDS - started))
    local code
    code=$(podman inspect --format '{{.State.ExitCode}}' "$GATEWAY")
    [ "$code" = "0" ] || fail "the gateway exited with $code on SIGTERM"
    [ "$took" -le 10 ] || fail "the gateway took ${took}s to stop on SIGTERM"
    log "stopped cleanly on SIGTERM in ${took}s"
}

# A gateway is only unhealthy when it is: a half-saved config in the mounted folder must not
# make the HEALTHCHECK (which once re-read it) fail, or an orchestrator would restart a
# healthy gateway into a failing start.
healthy_with_a_broken_config() {
    local config="$WORK/second-config"
    mkdir -p "$config"
    cp docker/local/gateway.toml "$config/gateway.toml"
    chmod 755 "$config"
    chmod 644 "$config/gateway.toml"
    podman run -d --init --name "$SECOND" -v "$config:/config:ro" \
        -v "${PROJECT}_second-data:/data" sis-gateway:local >/dev/null 2>&1
    [ "$(podman inspect --format '{{.Config.Healthcheck.Test}}' "$SECOND")" \
        = "[CMD gateway health --data /data]" ] || fail "the image's HEALTHCHECK is not gateway health"
    wait_until 60 "the second gateway to be healthy" podman healthcheck run "$SECOND"
    printf '\n[sftp\nport = ' >> "$config/gateway.toml"   # an editor's half-written save
    podman exec "$SECOND" gateway check config >/dev/null 2>&1 \
        && fail "check config accepted the broken config"
    podman healthcheck run "$SECOND" >/dev/null \
        || fail "a half-edited mounted config made a healthy gateway unhealthy"
    podman rm -f "$SECOND" >/dev/null 2>&1
    log "healthy while its mounted config is half-edited; check config names the problem"
}

main() {
    local started=$SECONDS
    install_podman podman-compose:podman-compose
    configure_podman
    base_image
    build_images
    start_stack
    upload_and_follow
    check_results
    stop_cleanly
    healthy_with_a_broken_config
    log "passed in $((SECONDS - started))s: uploaded over SFTP, imported by the sandbox," \
        "reported over SFTP and mail, healthy, non-root, clean stop, healthy with a broken config"
}

main "$@"
