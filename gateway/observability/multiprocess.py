"""Metrics shared by several uvicorn workers: prometheus_client's multiprocess mode.

prometheus_client decides where metric values live when it is first imported: in memory, or,
when ``PROMETHEUS_MULTIPROC_DIR`` is set, in one file per process in that directory, which a
scrape then merges. So ``gateway serve --workers N`` prepares an empty directory and sets the
variable before any worker process starts; each worker finds the directory again through
``metrics.multiprocess_dir`` and builds its ``Metrics`` on it.

Counters and histograms of a worker that exits stay in its file and keep counting in the sums
(a counter must never go down). Gauges that describe the present (in-flight requests, queue
depth) are summed over live workers only: a worker forgets its own on shutdown, and a worker
starting up forgets those of any worker that died without shutting down.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead


@contextmanager
def shared_directory(configured: Path | None) -> Iterator[Path]:
    """An empty directory for the workers' metric files.

    ``configured`` is created if needed and emptied of earlier runs' files; without one, a fresh
    temporary directory is used and removed afterwards.
    """
    if configured is None:
        with tempfile.TemporaryDirectory(
            prefix="gateway-metrics-", ignore_cleanup_errors=True
        ) as temporary:
            yield Path(temporary)
        return
    configured.mkdir(parents=True, exist_ok=True)
    for stale in configured.glob("*.db"):
        stale.unlink()
    yield configured


def collect_from(directory: Path, registry: CollectorRegistry) -> None:
    """Make ``registry`` report the merged values of every worker's files in ``directory``."""
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]


def forget_worker(pid: int, directory: Path) -> None:
    """Drop the live gauges of worker ``pid``: it is gone, or about to be."""
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def sweep_dead_workers(directory: Path) -> None:
    """Drop the live-gauge files of worker processes that no longer exist."""
    pids = {_pid(path) for path in directory.glob("gauge_live*_*.db")}
    for pid in pids - {None, os.getpid()}:
        if pid is not None and not _alive(pid):
            forget_worker(pid, directory)


def _pid(path: Path) -> int | None:
    tail = path.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not one of our dead workers
    return True
