# sis-gateway: the SFTP -> Canvas SIS import appliance.
#
#   docker build -t sis-gateway .                 # the appliance (the default, last stage)
#   podman build --format docker -t sis-gateway . # podman: keep the HEALTHCHECK (its default
#                                                 # OCI format drops it)
#   docker build --target mailcatcher -t sis-gateway-mailcatcher .   # the local stack's SMTP sink
#
# Only a debian:bookworm-slim base is needed (it can be a locally made one; see
# ../shared/container-testing.md). Behind a TLS-intercepting proxy, put its CA certificates
# (PEM, *.crt) in docker/extra-ca/ before building: pip trusts them during the build and the
# gateway trusts them at run time (Canvas and SMTP through the same proxy).
#
# Run: mount a folder holding gateway.toml at /config (`docker run --rm sis-gateway
# example-config` prints a commented one), a volume at /data, publish 2222 (SFTP) and 8080
# (HTTP; set [http] host = "0.0.0.0" to publish it), and use --init (or compose
# `init: true`). See README.md, "Container".
#
# The appliance is one stage: the venv is built and its build tools removed in the same
# layer, with the source bind-mounted rather than copied, so the image holds only Python and
# the venv, and a build leaves no untagged build-stage image behind.

ARG DEBIAN_IMAGE=debian:bookworm-slim

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
# Documentation, manuals and translations of the Debian packages are not installed.
COPY docker/dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/slim
COPY docker/extra-ca/ /usr/local/share/ca-certificates/
# The source is copied, not bind-mounted: a COPY layer is keyed by the files' content, so a
# changed source rebuilds the venv (podman reuses a RUN with a bind mount whatever the
# mounted files hold, and would keep the old gateway).  It costs a layer of about 2 MB.
COPY pyproject.toml README.md /src/
COPY gateway /src/gateway
# A non-system user: uid 10001 is above SYS_UID_MAX, and --no-log-init keeps lastlog small.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && update-ca-certificates \
 && python3 -m venv /opt/gateway \
 && /opt/gateway/bin/pip install --no-cache-dir --disable-pip-version-check /src \
 && /opt/gateway/bin/pip uninstall --yes --disable-pip-version-check pip setuptools \
 && rm -rf /src \
 && apt-get purge -y --auto-remove python3-venv \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 gateway \
 && useradd --uid 10001 --gid gateway --home-dir /data --no-create-home --no-log-init \
      --shell /usr/sbin/nologin gateway \
 && mkdir -p /data /config \
 && chown gateway:gateway /data
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
# Asks the running daemon (its /healthz, found through /data), never the config: a
# half-edited mounted config must not mark a healthy gateway unhealthy.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
  CMD ["gateway", "health", "--data", "/data"]
ENTRYPOINT ["/usr/local/bin/gateway-entrypoint"]
CMD ["serve"]
