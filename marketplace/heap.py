"""The serving process's heap: what the cyclic garbage collector walks, and how often."""

from __future__ import annotations

import gc

# Collections of the youngest generation every 50,000 net new tracked objects instead of 700: a page of
# jobs allocates thousands, and at the default the objects of requests still in flight were collected,
# survived and were promoted, until full collections ran every half second or so.
SERVING_GC_THRESHOLD = (50_000, 10, 10)


def settle_heap_for_serving() -> None:
    """Once the app is built, before serving: what exists now (modules, the schema, the app) lives as
    long as the process, so it is frozen out of the cyclic collector, and young collections run less often.

    Profiled under bench_api's read load (16 clients), full collections took about a third of the
    serving process's CPU, each walking some 250,000 long-lived objects (100 ms and more, with
    the process stopped). Frozen and with the higher threshold they are rare and walk a quarter of
    that. Only servers call this (`crowdship serve`, the benchmark's raw endpoint, so the ratio compares
    like with like): in a test process it would keep every test's garbage.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLD)
