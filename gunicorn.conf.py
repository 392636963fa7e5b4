"""gunicorn's settings, read from the working directory whatever the command line says.

With ``PROMETHEUS_MULTIPROC_DIR`` set, gunicorn's workers share their request counts through files in that folder
(prometheus-client's multiprocess mode): the folder is made empty as gunicorn starts, and a dead worker's files are
removed, so ``/metrics`` sums the live workers whichever one answers the scrape.
"""

from __future__ import annotations

import os
import shutil
from typing import Any


def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)  # counts from a previous run would be summed with these
        os.makedirs(folder, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
