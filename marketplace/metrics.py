"""In-process metrics (prometheus-client) and how `/metrics` exposes them across server processes.

Request latency is measured in each server process. With `crowdship serve --workers N` a scrape
reaches one of N processes, so a per-process histogram would show a random Nth of the traffic:
`serve` then points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the processes start,
every process writes its samples there (prometheus-client's multiprocess mode) and any process
answers a scrape with the sum of all. Figures that live in the database (rounds, queue depth,
webhook backlog) are read from it at scrape time instead (`services/service_health.py`), so they are
the same whichever process, server or worker, is asked.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Buckets from 5 ms (a cached read) to 10 s (a large bulk booking).
GRAPHQL_SECONDS = Histogram(
    "crowdship_graphql_request_seconds",
    "GraphQL operations by type and root field, parse to result, in seconds.",
    ["operation_type", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def process_exposition() -> bytes:
    """The in-process metrics in Prometheus' text format: of every server process in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
