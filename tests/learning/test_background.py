"""Extraction's CPU work runs on threads at the lowest priority; the rest of the process does not."""

from __future__ import annotations

import os
import threading

from gateway.learning.background import LOW_PRIORITY, low_priority_executor


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_jobs_threads_run_at_nice_19_and_the_caller_is_untouched() -> None:
    before = own_priority()
    pool = low_priority_executor(1, "test-background")
    try:
        assert pool.submit(own_priority).result(timeout=10) == LOW_PRIORITY
    finally:
        pool.shutdown()
    assert own_priority() == before
