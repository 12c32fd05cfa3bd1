"""One gateway per embedded store: a lock file in the store's directory.

Two processes writing one embedded Chroma directory corrupt each other's view of it, so whoever
opens it (``gateway serve``, ``gateway memory import``) first takes an exclusive ``flock`` on
``<store path>/gateway.lock`` and holds it for as long as it runs. The kernel drops the lock when
the process ends, however it ends, so a crash never leaves a stale lock behind. A store server
(``memory.store.url``) needs no lock: it serialises its clients itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.errors import StartupError

LOCK_FILE = "gateway.lock"


class StoreLock:
    """A held lock; released by ``release`` or at the end of a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_store(config: GatewayConfig) -> contextlib.AbstractContextManager[object]:
    """Take the embedded store's lock (nothing to take for a store server or with memory
    disabled); ``StartupError`` naming the path if another process holds it."""
    store = config.memory.store
    if not config.memory.enabled or store.url is not None:
        return contextlib.nullcontext()
    return lock_directory(store.path)


def lock_directory(directory: Path) -> StoreLock:
    """Take an exclusive lock on ``directory``'s lock file, creating both if need be."""
    path = directory.resolve() / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not inherited (the default for os.open): the `chroma run` child must not keep the
        # lock alive after the gateway has gone.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StartupError(f"cannot open the store lock {path}: {exc.strerror}") from None
    try:
        _acquire(fd, path.parent)
    except BaseException:
        os.close(fd)
        raise
    return StoreLock(fd)


def _acquire(fd: int, store: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupError(
            f"the embedded store {store} is in use by another gateway process{by}; stop it "
            "first, or give this one another memory.store.path"
        ) from None
    # For the message above, seen by the next process that tries.
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
