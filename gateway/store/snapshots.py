"""Local, rebuildable copies of users' indexes, so a cold user loads in milliseconds.

Chroma stays the system of record; reading a whole user back from it costs ~100 ms per thousand
memories and pulls the tenant's vector index into memory. A snapshot is one file per user, written
atomically, carrying the store generation it reflects; the generation table decides whether it
is still current (see ``gateway.store.store``).

A snapshot is the user's index as it stands, positions and all, so loading one derives nothing
from the memories' texts again: a 1,000-memory user loads in a few milliseconds instead of ~30.

File layout: ``GWSNAP2\\n``, an 8-byte little-endian header length, the orjson header
``{"seq", "dim", "scope", "store", "lexicon", "records": {field: [value per position]},
"terms": [...]}``, then little-endian arrays: vectors (float32, positions x dim), thread
parents, document lengths (int32 per position), postings per term, and the postings' documents
and counts (int32). The store is the id of the Chroma store the index was read from. A file
that is damaged, names another scope or store, or was written by another format or lexicon is
treated like a missing one: the user is rebuilt from Chroma.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from gateway.store.codec import columns, from_columns
from gateway.store.index import Saved, UserIndex
from gateway.store.lexical import LEXICON, Postings
from gateway.store.records import Scope

#: The file layout's version, in its first bytes; a file of another version is a miss.
FORMAT = 2
_MAGIC = b"GWSNAP%d\n" % FORMAT
log = logging.getLogger(__name__)


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
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS store (one INTEGER PRIMARY KEY CHECK (one = 1), "
                "id TEXT NOT NULL)"
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

    def adopt(self, store_id: str) -> bool:
        """Make the counters those of the store ``store_id``. Counters recorded for another
        store (or before stores had ids) are dropped: a counter that matches a snapshot only
        proves something about the store it counted. True when anything was dropped."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id FROM store").fetchone()
                dropped = 0
                if row is None or row[0] != store_id:
                    dropped = self._db.execute("DELETE FROM generations").rowcount
                    self._db.execute(
                        "INSERT OR REPLACE INTO store (one, id) VALUES (1, ?)", (store_id,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped > 0 or (row is not None and row[0] != store_id)

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

    def load(self, scope: Scope, seq: int, dimension: int, store_id: str) -> UserIndex | None:
        """The index saved for ``scope`` if its file exists, is whole, is ``scope``'s, was
        taken from the store ``store_id`` and reflects generation ``seq``; else None."""
        try:
            data = self._path(scope).read_bytes()
        except FileNotFoundError:
            return None
        try:
            saved = _parse(data, _Expected(scope, seq, dimension, store_id))
        except (ValueError, TypeError, KeyError, IndexError):
            # Only a cache miss: Chroma holds everything the file did.
            log.warning("unreadable memory snapshot ignored")
            return None
        return None if saved is None else UserIndex.restore(saved)

    def save(self, scope: Scope, index: UserIndex, store_id: str) -> None:
        """Write ``index`` as ``scope``'s snapshot. The index must not change meanwhile (the
        store holds the scope's lock)."""
        saved = index.saved()
        lexical = saved.lexical
        header = orjson.dumps(
            {
                "seq": saved.seq,
                "dim": index.dimension,
                "scope": scope.key,
                "store": store_id,
                "lexicon": LEXICON,
                "records": columns(saved.records),
                "terms": lexical.terms,
            }
        )
        # asarray: the vectors and postings are copies already; only a dtype change copies.
        arrays = [
            np.asarray(saved.vectors, dtype="<f4"),
            np.asarray(saved.parents, dtype="<i4"),
            np.asarray(lexical.lengths, dtype="<i4"),
            np.asarray(lexical.sizes, dtype="<i4"),
            np.asarray(lexical.docs, dtype="<i4"),
            np.asarray(lexical.counts, dtype="<i4"),
        ]
        path = self._path(scope)
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as handle:
            handle.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            for array in arrays:
                handle.write(array.tobytes())
        os.replace(temporary, path)

    def drop(self, scope: Scope) -> None:
        self._path(scope).unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete every snapshot (they belong to another store)."""
        for path in self._directory.glob("*/*.snap"):
            path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class _Expected:
    """What a snapshot must say of itself to be used."""

    scope: Scope
    seq: int
    dimension: int
    store_id: str


def _parse(data: bytes, expected: _Expected) -> Saved | None:
    if not data.startswith(_MAGIC):
        return None
    start = len(_MAGIC) + 8
    length = int.from_bytes(data[len(_MAGIC) : start], "little")
    header = orjson.loads(data[start : start + length])
    dimension = expected.dimension
    # The file's name is the scope's digest, but only its contents can prove whose it is.
    if (
        header.get("scope") != expected.scope.key
        or header.get("store") != expected.store_id
        or header["seq"] != expected.seq
        or header["dim"] != dimension
        or header["lexicon"] != LEXICON
    ):
        return None
    records = from_columns(header["records"])
    terms: list[str] = header["terms"]
    arrays = _Arrays(data, start + length)
    size = len(records)
    vectors = arrays.take("<f4", size * dimension).reshape(size, dimension)
    parents = arrays.take("<i4", size)
    lengths = arrays.take("<i4", size)
    sizes = arrays.take("<i4", len(terms))
    entries = int(sizes.sum())
    lexical = Postings(
        terms=terms,
        sizes=sizes,
        docs=arrays.take("<i4", entries),
        counts=arrays.take("<i4", entries),
        lengths=lengths,
        alive=np.fromiter((r is not None for r in records), np.bool_, size),
    )
    arrays.finish()
    # Positions index the arrays on every search: one out of range would fail every request of
    # this user until the next write, where a miss costs one read from Chroma.
    _within(parents, -1, size)
    _within(lexical.docs, 0, size)
    return Saved(expected.seq, records, vectors, parents.astype(np.int64), lexical)


def _within(positions: npt.NDArray[np.int32], low: int, end: int) -> None:
    if len(positions) and (positions.min() < low or positions.max() >= end):
        raise ValueError("snapshot position out of range")


class _Arrays:
    """Reads the arrays that follow the header, one after another, checking the file holds
    exactly them."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data = data
        self._offset = offset

    def take(self, dtype: str, count: int) -> npt.NDArray[Any]:
        array = np.frombuffer(self._data, dtype=dtype, count=count, offset=self._offset)
        self._offset += array.nbytes
        return array

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise ValueError("snapshot has trailing bytes")
