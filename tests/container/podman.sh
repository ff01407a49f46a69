# Shared by the container scripts (smoke.sh, cluster_trial.sh), sourced after they set
# CONTAINERS_CONF and BASE and define log and fail: podman as ../shared/container-testing.md
# describes it (runc, explicit ulimits, a locally bootstrapped Debian base), and polling.

install_missing() {  # install_missing COMMAND:PACKAGE...: apt-get the packages of missing commands
    local packages=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || packages+=("${pair#*:}")
    done
    if [ "${#packages[@]}" -gt 0 ]; then
        log "installing: ${packages[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
}

install_podman() {  # podman and its helpers, with any further COMMAND:PACKAGE pairs
    install_missing podman:podman buildah:buildah runc:runc debootstrap:debootstrap \
        fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns newuidmap:uidmap \
        sftp:openssh-client curl:curl "$@"
}

configure_podman() {
    # Without the ulimits podman fails with "setrlimit ... Operation not permitted"; crun
    # fails on this cgroup layout, runc works.
    cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
}

base_image() {
    if podman image exists "$BASE"; then
        return
    fi
    log "bootstrapping a local $BASE (no registry needed)"
    local mirror rootfs
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm >/dev/null
    podman tag localhost/debian:bookworm "$BASE"
    rm -rf "$rootfs"
}

wait_until() {  # wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND each second
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
        sleep 1
    done
}
