"""The HTTP side of the gateway: health, readiness, Prometheus metrics and the status page.

``server`` runs the port, ``health`` answers /healthz and /readyz, ``metrics`` and
``collector`` make /metrics, ``page`` and ``templates/`` make the read-only status page.
"""
