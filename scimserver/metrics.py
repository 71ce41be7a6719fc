"""Prometheus metrics: request latency by route and status, store operation timings.

Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` (config/gunicorn.conf.py does)
so every worker writes its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)

from .store import Store

REQUESTS = Histogram(
    "scimserver_request_seconds",
    "SCIM request latency.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STORE = Histogram(
    "scimserver_store_seconds",
    "Store operation latency.",
    ["backend", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TIMED = ("create", "create_many", "get", "update", "delete", "query")


def exposition() -> tuple[bytes, str]:
    """The metrics text, merged across workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class TimedStore:
    """A Store that times each operation; everything else passes through."""

    def __init__(self, store: Store, backend: str) -> None:
        self._store = store
        self._backend = backend
        for name in TIMED:
            if hasattr(store, name):  # create_many is optional
                setattr(self, name, self._timed(name, getattr(store, name)))

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        histogram = STORE.labels(self._backend, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
