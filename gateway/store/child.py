"""The embedded store run as a child process: a ``chroma run`` the gateway starts, owns and stops.

Why not in the gateway's own process: an embedded Chroma write holds Python's GIL for its whole
duration, fsync included (~9 ms at median, 45-60 ms at worst, measured on one core), and while
it does no request makes progress. In a child the write takes nothing but CPU and disk, and the
child runs at the lowest priority (nice 19), so the kernel lets the gateway's event loop go
first whenever both want the core.

The child dies with the gateway however the gateway ends: it asks the kernel for SIGKILL when
its parent exits (``PR_SET_PDEATHSIG``, set before Chroma opens the path) and gives up at once if
the parent is already gone by then. So a ``kill -9`` of the gateway leaves no process holding
the store. The request is tied to the thread that started the child, so ``start`` must be called
on a thread that lives as long as the gateway (the event loop's).

Its memory is the gateway's too: the child's RSS (~18 MB idle, growing with the data's HNSW
indexes) adds to the gateway's own.

If the child dies (the OOM killer, a crash), ``supervise`` starts it again on the same port, so
the store's client needs no new address: until then reads are served from the gateway's cached
indexes, and writes fail with a 503 or, for learning, wait in the journal for their retry. A
child that is alive but has stopped answering its heartbeat (deadlocked, stopped) for
``HANG_AFTER_S`` is killed and started again the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gateway.errors import StoreUnavailable

log = logging.getLogger(__name__)

#: Lowest CPU priority: the child's writes wait whenever the gateway wants the core.
CHILD_NICE = 19
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
#: How often ``supervise`` looks for a dead child, and the longest it waits between restarts of
#: one that keeps dying (the wait doubles from the check interval).
CHECK_INTERVAL_S = 1.0
MAX_RESTART_WAIT_S = 60.0
#: How long a running child may leave its heartbeat unanswered before it is killed. Generous: at
#: nice 19 on a saturated core a healthy child still answers within a fraction of a second, and
#: killing one mid-write costs the writes in flight.
HANG_AFTER_S = 60.0
#: The longest a purge of erased data (``vacuum``) may take.
VACUUM_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1
# Runs in the child (and in ``vacuum``'s process). The Rust CLI directly: the `chroma` console
# script first spends ~4 s importing the Python package; this starts the same server in ~0.5 s.
_LAUNCH = f"""\
import ctypes, os, signal, sys
parent, nice = int(sys.argv[1]), int(sys.argv[2])
ctypes.CDLL(None).prctl({_PR_SET_PDEATHSIG}, signal.SIGKILL)
if os.getppid() != parent:
    sys.exit(1)
os.setpriority(os.PRIO_PROCESS, 0, nice)
import chromadb_rust_bindings
chromadb_rust_bindings.cli(["chroma", *sys.argv[3:]])
"""


def vacuum(path: Path, timeout_s: float = VACUUM_TIMEOUT_S, *, nice: int = CHILD_NICE) -> None:
    """Run Chroma's own ``chroma vacuum`` on the store at ``path``: it purges from Chroma's log
    the entries every index has applied, then rewrites the SQLite file, so a deleted document
    keeps no copy in the log or in free pages. Reads and writes of the store wait meanwhile
    (~0.1 s for a small store, ~0.4 s for 20,000 memories here)."""
    command = [sys.executable, "-c", _LAUNCH, str(os.getpid()), str(nice), "vacuum"]
    command += ["--path", str(path), "--force", "--timeout", str(math.ceil(timeout_s))]
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s + 5
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreUnavailable("The memory store could not purge deleted data in time.") from exc
    if done.returncode != 0:
        raise StoreUnavailable("The memory store could not purge deleted data (vacuum failed).")


class ChromaChild:
    """A ``chroma run`` on ``path``, listening on a free loopback port."""

    def __init__(self, path: Path, *, nice: int = CHILD_NICE) -> None:
        self._path = path
        self._nice = nice
        self._port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the child (a few milliseconds); call on the event loop's thread, see above."""
        self._path.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", _LAUNCH, str(os.getpid()), str(self._nice), "run"]
        command += ["--path", str(self._path), "--host", "127.0.0.1", "--port", str(self._port)]
        # Not a session of its own: the child must stay in the gateway's scheduler autogroup,
        # or its nice value would only rank it against itself.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the child answers its heartbeat; ``StoreUnavailable`` if it exits or
        stays silent for ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise StoreUnavailable("The memory store process exited at startup.")
            if await asyncio.to_thread(self._answers):
                return
            await asyncio.sleep(0.05)
        raise StoreUnavailable("The memory store process did not start in time.")

    async def supervise(
        self,
        on_restart: Callable[[], None] = lambda: None,
        check_interval_s: float = CHECK_INTERVAL_S,
        hang_after_s: float = HANG_AFTER_S,
    ) -> None:
        """Until cancelled, start the child again whenever it has exited, and kill it (then
        start it again) once it has not answered its heartbeat for ``hang_after_s``. A child
        that dies again before it has answered is retried at doubling intervals, up to
        ``MAX_RESTART_WAIT_S``, rather than in a tight loop."""
        wait = check_interval_s
        answered = time.monotonic()
        while True:
            await asyncio.sleep(wait)
            process = self._process
            if process is None:
                continue
            if process.poll() is None:
                wait = check_interval_s
                if await asyncio.to_thread(self._answers):
                    answered = time.monotonic()
                    continue
                if time.monotonic() - answered < hang_after_s:
                    continue
                log.error("memory store process stopped answering; killing it")
                process.kill()
                await asyncio.to_thread(process.wait)
            log.error(
                "memory store process exited with code %s; starting it again", process.returncode
            )
            on_restart()
            try:
                self.start()
                await self.ready()
            except (StoreUnavailable, OSError) as exc:
                log.error("memory store process did not come back: %s", exc)
                wait = min(wait * 2, MAX_RESTART_WAIT_S)
            else:
                log.warning("memory store process is back (pid %s)", self.pid)
                wait = check_interval_s
                answered = time.monotonic()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/api/v2/heartbeat", timeout=1.0) as reply:
                return bool(reply.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL if the child is still there after ``timeout_s``."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, timeout_s)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
