#!/bin/sh
# Container entrypoint.  `serve` (the default) runs the gateway on $GATEWAY_CONFIG
# (/config/gateway.toml), replacing this shell so the gateway itself receives SIGTERM and
# stops cleanly.  Any other arguments run that gateway command, e.g.
#   docker exec <container> gateway status
#   docker run --rm -v conf:/config -v data:/data sis-gateway check canvas
set -eu

config="${GATEWAY_CONFIG:-/config/gateway.toml}"

if [ "$#" -gt 0 ] && [ "$1" != "serve" ]; then
    exec gateway "$@"
fi
if [ "$#" -gt 0 ]; then
    shift
fi
if [ ! -f "$config" ]; then
    cat >&2 <<MESSAGE
sis-gateway: no configuration at $config.
  Mount a folder holding gateway.toml at /config, or set GATEWAY_CONFIG.
  To start one with every key explained:  docker run --rm <image> example-config > gateway.toml
  For a local trial with the built-in Canvas simulator: docker compose -f docker/compose.yaml up
MESSAGE
    exit 2
fi
if [ ! -w /data ]; then
    echo "sis-gateway: /data is not writable by uid $(id -u); give the data volume to that user" >&2
    exit 2
fi
exec gateway serve --config "$config" "$@"
