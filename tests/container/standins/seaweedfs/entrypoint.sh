#!/bin/sh
# The official image's `server` defaults (its docker/entrypoint.sh); other commands go to
# weed unchanged.
set -eu
if [ "${1:-}" = server ]; then
    shift
    defaults="-dir=/data -volume.max=0"
    for arg in "$@"; do
        case $arg in -volume.max|-volume.max=*) defaults="-dir=/data" ;; esac
    done
    # shellcheck disable=SC2086 (the defaults are words)
    exec /usr/bin/weed server $defaults -master.volumePreallocate \
        -master.volumeSizeLimitMB=1024 "$@"
fi
exec /usr/bin/weed "$@"
