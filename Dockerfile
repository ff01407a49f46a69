# sis-gateway: the SFTP -> Canvas SIS import appliance.
#
#   docker build -t sis-gateway .                 # the appliance (the default, last stage)
#   docker build --target mailcatcher -t sis-gateway-mailcatcher .   # the local stack's SMTP sink
#
# Only a debian:bookworm-slim base is needed (it can be a locally made one; see
# ../shared/container-testing.md). Behind a TLS-intercepting proxy, put its CA certificates
# (PEM, *.crt) in docker/extra-ca/ before building: pip trusts them during the build and the
# gateway trusts them at run time (Canvas and SMTP through the same proxy).
#
# Run: mount a folder holding gateway.toml at /config, a volume at /data, publish 2222 (SFTP)
# and 8080 (HTTP; set [http] host = "0.0.0.0" to publish it), and use --init (or compose
# `init: true`). See README.md, "Container".

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- build: a venv with the gateway and its dependencies -------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY docker/extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/gateway
COPY pyproject.toml README.md /src/
COPY gateway /src/gateway
RUN /opt/gateway/bin/pip install --no-cache-dir --disable-pip-version-check /src

# ---- mailcatcher: an SMTP server that prints every message (the compose stack's mail) -------
FROM ${DEBIAN_IMAGE} AS mailcatcher
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-aiosmtpd \
 && rm -rf /var/lib/apt/lists/*
USER 65534:65534
EXPOSE 1025
CMD ["python3", "-m", "aiosmtpd", "-n", "-l", "0.0.0.0:1025", "-c", "aiosmtpd.handlers.Debugging", "stdout"]

# ---- runtime: the appliance ------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
COPY docker/extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin gateway \
 && mkdir -p /data /config \
 && chown gateway:gateway /data
COPY --from=build /opt/gateway /opt/gateway
COPY docker/entrypoint.sh /usr/local/bin/gateway-entrypoint
# requests would otherwise use its own CA bundle: one trust store (Debian's + extra-ca) for all.
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    GATEWAY_CONFIG=/config/gateway.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data", "/config"]
EXPOSE 2222 8080
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
  CMD ["gateway", "check", "http"]
ENTRYPOINT ["/usr/local/bin/gateway-entrypoint"]
CMD ["serve"]
