"""What this process measures for ``/metrics`` (Prometheus): request latency by view.

The figures read from the database (queues, sweep lag, deliveries, HL7, unread notifications) are collected at scrape
time by ``ivig_tracker.metrics``, which may import every app; this module is imported by the middleware and stays
below the apps.

Under gunicorn with several workers each process keeps its own counts: set ``PROMETHEUS_MULTIPROC_DIR`` to a
writable empty folder shared by the workers and the scrape sums them (prometheus-client's multiprocess mode;
``gunicorn.conf.py`` removes a dead worker's files).
"""

from __future__ import annotations

from prometheus_client import Histogram

# Buckets around the pages' budgets (60 ms p50, 150 ms p95) and the slow tail worth seeing.
REQUEST_LATENCY = Histogram(
    "ivig_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def status_class(status_code: int) -> str:
    """2xx, 3xx, 4xx, 5xx: the exact code would multiply the series without telling an operator more."""
    return f"{status_code // 100}xx"
