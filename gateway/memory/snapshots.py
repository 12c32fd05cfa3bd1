"""Local, rebuildable copies of users' indexes, so a cold user loads in milliseconds.

Chroma stays the system of record; reading a whole user back from it costs ~100 ms per thousand
memories and pulls the tenant's vector index into memory. A snapshot is one file per user, written
atomically, carrying the store generation it reflects; the generation table decides whether it
is still current (see ``gateway.memory.store``).

File layout: ``GWSNAP1\\n``, an 8-byte little-endian header length, the orjson header
``{"seq", "dim", "scope", "records": [[id, content, metadata], ...]}``, then the float32 vectors.
A file that is damaged, or names another scope, is treated like a missing one: the user is
rebuilt from Chroma.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

from gateway.memory.codec import decode, encode
from gateway.memory.records import Memory, Scope

_MAGIC = b"GWSNAP1\n"
log = logging.getLogger(__name__)
Vector = npt.NDArray[np.float32]


class Generations:
    """A counter per scope, bumped before and after every write to the store.

    A snapshot or a cached index whose generation equals the counter has seen every write that
    began; a crash between the bump and the store write only makes it look stale, which costs a
    rebuild from Chroma, never a wrong answer. Shared by the workers of one host (SQLite, WAL).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS generations "
                "(scope TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
            )

    def current(self, scope: Scope) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM generations WHERE scope = ?", (scope.key,)
            ).fetchone()
        return int(row[0]) if row else 0

    def bump(self, scope: Scope) -> int:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO generations (scope, seq) VALUES (?, 1) "
                "ON CONFLICT(scope) DO UPDATE SET seq = seq + 1 RETURNING seq",
                (scope.key,),
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Snapshots:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, scope: Scope) -> Path:
        key = scope.key
        return self._directory / key[:2] / f"{key}.snap"

    def load(self, scope: Scope, seq: int, dimension: int) -> list[tuple[Memory, Vector]] | None:
        """The snapshot's contents if it exists, is whole, is ``scope``'s and reflects
        generation ``seq``; else None."""
        try:
            data = self._path(scope).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return _parse(data, scope, seq, dimension)
        except (ValueError, TypeError, KeyError, IndexError):
            # Only a cache miss: Chroma holds everything the file did.
            log.warning("unreadable memory snapshot ignored")
            return None

    def save(
        self, scope: Scope, seq: int, dimension: int, items: Sequence[tuple[Memory, Vector]]
    ) -> None:
        header = orjson.dumps(
            {
                "seq": seq,
                "dim": dimension,
                "scope": scope.key,
                "records": [[m.id, m.content, encode(m)] for m, _ in items],
            }
        )
        vectors = np.asarray([v for _, v in items], dtype=np.float32).reshape(-1, dimension)
        path = self._path(scope)
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as handle:
            handle.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            handle.write(vectors.tobytes())
        os.replace(temporary, path)

    def drop(self, scope: Scope) -> None:
        self._path(scope).unlink(missing_ok=True)


def _parse(
    data: bytes, scope: Scope, seq: int, dimension: int
) -> list[tuple[Memory, Vector]] | None:
    if not data.startswith(_MAGIC):
        return None
    start = len(_MAGIC) + 8
    length = int.from_bytes(data[len(_MAGIC) : start], "little")
    header = orjson.loads(data[start : start + length])
    # The file's name is the scope's digest, but only its contents can prove whose it is.
    if header.get("scope") != scope.key or header["seq"] != seq or header["dim"] != dimension:
        return None
    records = header["records"]
    vectors = np.frombuffer(data, dtype=np.float32, offset=start + length)
    vectors = vectors.reshape(len(records), dimension)
    return [(decode(*record), vectors[i]) for i, record in enumerate(records)]
