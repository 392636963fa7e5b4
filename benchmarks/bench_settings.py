"""Settings for the benchmarks: the project's own, plus the bare-insert comparison view (``bench_urls``).

Everything else (database from DATABASE_URL with CONN_MAX_AGE 60, middleware, DRF) stays exactly as deployed, so
the figures describe the real request path.
"""

from __future__ import annotations

from ivig_tracker.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
