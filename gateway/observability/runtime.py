"""The Python runtime under the gateway: its garbage collector, timed and tuned.

A full collection walks every object the process holds, and a gateway holds many: each cached
memory is a Python object, so with the default 200,000-memory cache one takes ~125-200 ms here,
during which no request moves. CPython runs one once ten middle-generation collections have
passed and the long-lived objects have grown by a quarter since the last full one, and loading
users from their snapshots grows them fast: in the scaling benchmark (1M memories, random
users) that was a full collection every ~70-85 requests, and the slowest 1% of requests took
166-216 ms instead of 28 ms.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

#: Middle-generation collections between full ones (CPython's default is 10). Evicted users'
#: indexes hold no reference cycles, so reference counting frees them without a collection;
#: what waits longer is only cyclic garbage that outlived two younger collections.
FULL_COLLECTION_AFTER = 1000


def tune_collector() -> None:
    """Make full collections rarer; called once by the process that serves, never by a
    library user of ``create_app``."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


class CollectorPauses:
    """Reports each garbage collection, ``report(generation, seconds)``, while started
    (``Metrics.gc_pause`` in the gateway)."""

    def __init__(self, report: Callable[[int, float], None]) -> None:
        self._report = report
        self._began = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._observe)

    def stop(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap: the one that runs holds the interpreter.
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self._report(info["generation"], time.perf_counter() - self._began)
