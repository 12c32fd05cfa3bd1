"""Threads for the CPU work of extraction jobs, at the lowest scheduling priority.

A job's CPU work (embedding its facts, scrubbing and minimising) shares the core with the event
loop that serves chats. onnxruntime releases the GIL while it computes, so the two compete only
for the CPU, and there the kernel decides: a thread at nice 19 gets a sliver of the core while a
nice 0 thread wants it, and the rest when it does not. So a job never delays a chat by more
than a scheduling tick, and still uses every idle moment. (Linux applies nice to a single thread
when given its thread id; elsewhere the threads run at normal priority.)
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

LOW_PRIORITY = 19


def low_priority_executor(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at nice ``LOW_PRIORITY``."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_lower_priority)


def _lower_priority() -> None:
    # Best effort: a platform without per-thread priorities still runs the jobs.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
