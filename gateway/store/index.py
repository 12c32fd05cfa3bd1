"""One user's memories held in process memory, ready to rank in a millisecond or two.

Records, an embedding matrix that grows by doubling, and a BM25 index share positions: a
position is never reused, so removing a memory only clears its flag, and updating one retires its
old position and appends a new one. When a third of the positions are dead, the index is
compacted.

The memories of one session form a thread: those learned from live traffic carry their session
and turn (``gateway.proxy.session``), and those written together with one ``created_at`` (an
imported batch) are one session in write order. Ranking lets each memory borrow relevance from
the one before it in its thread, because a reply ("Yes, twice -- in May and June") often means
nothing without what it answered.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from gateway.config import RetrievalConfig
from gateway.store.basis import SAMPLE, Basis, fit
from gateway.store.lexical import BM25Index, BM25Query, Postings, terms
from gateway.store.ranking import Signals, score, top
from gateway.store.records import Memory

Vector = npt.NDArray[np.float32]
_new_tuple = tuple.__new__


class Hit(NamedTuple):
    """A memory found by a search, with its final score and the two similarities beneath it.

    A named tuple: a request builds up to ``top_k`` of them, at a third of a frozen
    dataclass's cost each."""

    memory: Memory
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True, slots=True)
class Ranking:
    """One search, ready but for the query's vector (``UserIndex.ranking``)."""

    size: int
    vectors: npt.NDArray[np.float32]
    seen: npt.NDArray[np.float32]
    evidence: npt.NDArray[np.float32]
    live: npt.NDArray[np.bool_]
    records: list[Memory | None]
    #: The query's BM25 postings, or None for dense-only ranking.
    lexical: BM25Query | None
    parents: npt.NDArray[np.int64] | None
    params: RetrievalConfig
    when: float
    #: What the user's memories have in common (``gateway.store.basis``), and each
    #: position's length under it; None for raw similarity.
    basis: Basis | None = None
    lengths: npt.NDArray[np.float32] | None = None

    def hits(self, query_vector: Vector | None) -> list[Hit]:
        """The best memories; without ``query_vector`` (``lexical`` mode), on BM25, recency
        and evidence alone."""
        size, params = self.size, self.params
        if not size or self.parents is None:
            return []
        if query_vector is None:
            dense = np.zeros(size, dtype=np.float32)
        elif self.basis is None or self.lengths is None or params.mode == "dense":
            dense = self.vectors[:size] @ query_vector
        else:
            dense = self.basis.similarity(self.vectors[:size], self.lengths[:size], query_vector)
        lexical = dense * 0 if self.lexical is None else self.lexical.scores()
        ceiling = 0.0 if self.lexical is None else self.lexical.ceiling()
        signals = Signals(
            dense, lexical, self.seen[:size], self.evidence[:size], self.parents, ceiling
        )
        scores = score(signals, self.when, params)
        # Centered similarity puts half of the memories below zero: 0, the default, sets no floor.
        floor = params.min_score or -math.inf
        chosen = top(scores, self.live[:size], params.top_k, floor)
        # Python floats for all the chosen at once; numpy scalars one by one cost ~4x more.
        # tuple.__new__ skips the named tuple's own __new__, a Python function: 200 hits take
        # 41 us instead of 104.
        fields = zip(
            # Python ints for the list lookups: indexing numpy element by element costs ~0.2 us
            # a step.
            map(self.records.__getitem__, chosen.tolist()),
            scores[chosen].tolist(),
            dense[chosen].tolist(),
            lexical[chosen].tolist(),
            strict=True,
        )
        # A memory removed while this ran on another thread has left a None behind.
        return [_new_tuple(Hit, row) for row in fields if row[0] is not None]


@dataclass(frozen=True, slots=True)
class Saved:
    """What ``UserIndex.restore`` needs: the records by position, removed ones as None, and
    the arrays beside them."""

    seq: int
    records: list[Memory | None]
    vectors: npt.NDArray[np.float32]
    #: Each position's predecessor in its thread, or -1.
    parents: npt.NDArray[np.int64]
    lexical: Postings


class UserIndex:
    def __init__(self, dimension: int, seq: int = 0) -> None:
        self.dimension = dimension
        #: The store generation this index reflects (see ``gateway.store.store``).
        self.seq = seq
        self.loaded_at = time.monotonic()
        #: When the generation was last read and found equal to ``seq`` (monotonic clock).
        self.checked_at = self.loaded_at
        self._reset(capacity=16)

    def _reset(self, capacity: int) -> None:
        self._records: list[Memory | None] = []
        self._positions: dict[str, int] = {}
        self._vectors = np.zeros((capacity, self.dimension), dtype=np.float32)
        self._seen = np.zeros(capacity, dtype=np.float32)
        self._evidence = np.zeros(capacity, dtype=np.float32)
        self._live = np.zeros(capacity, dtype=np.bool_)
        #: Sum of the vectors of the memories in the index (``gateway.store.basis``); float64,
        #: as writes add and subtract for the life of the index.
        self._sum = np.zeros(self.dimension, dtype=np.float64)
        self._basis: Basis | None = None
        #: Each position's length under ``_basis``; replaced, never rewritten, on a refit.
        self._lengths = np.ones(capacity, dtype=np.float32)
        #: Writes since ``_basis`` was fitted.
        self._writes = 0
        self._lexical = BM25Index()
        #: Thread (``Memory.thread``) -> places in it, in order; None until a write needs it
        #: (an index restored from a snapshot has its parents already).
        self._threads: dict[str | float, list[tuple[int, int, str]]] | None = {}
        #: Position of each position's predecessor in its thread, or -1; rebuilt lazily.
        self._parents: npt.NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, memory_id: str) -> bool:
        return memory_id in self._positions

    def get(self, memory_id: str) -> Memory | None:
        position = self._positions.get(memory_id)
        return None if position is None else self._records[position]

    def vector(self, memory_id: str) -> Vector | None:
        position = self._positions.get(memory_id)
        return None if position is None else self._vectors[position].copy()

    def vector_at(self, memory_id: str) -> Vector:
        """The vector of a memory known to be in the index."""
        vector: Vector = self._vectors[self._positions[memory_id]].copy()
        return vector

    def memories(self) -> list[Memory]:
        """Every memory, superseded ones included, oldest first."""
        found = [m for m in self._records if m is not None]
        return sorted(found, key=lambda m: (m.created_at, m.id))

    def best_supported(self, limit: int) -> list[Memory]:
        """Up to ``limit`` active memories, the most evidence first, then the most recently
        seen; from the index's arrays, without touching the other memories."""
        live = np.flatnonzero(self._live[: len(self._records)])
        # lexsort's last key is the primary one; negated for highest first.
        ranked = live[np.lexsort((-self._seen[live], -self._evidence[live]))][:limit]
        return [memory for i in ranked if (memory := self._records[i]) is not None]

    def put(self, memory: Memory, vector: Vector) -> None:
        """Add a memory, or replace the one with the same id."""
        self.remove(memory.id)
        # Taken before the memory is added: made now, from the records, they would hold it.
        threads = self._thread_lists()
        position = len(self._records)
        self._grow(position + 1)
        self._records.append(memory)
        self._positions[memory.id] = position
        self._vectors[position] = vector
        self._sum += vector
        self._writes += 1
        if self._basis is not None:
            self._lengths[position] = self._basis.lengths(vector[None, :])[0]
        self._seen[position] = memory.seen_at.timestamp()
        self._evidence[position] = memory.evidence
        self._live[position] = memory.status == "active"
        added = self._lexical.add(memory.content)
        assert added == position
        bisect.insort(threads.setdefault(memory.thread, []), memory.place)
        self._parents = None

    def put_many(self, items: Iterable[tuple[Memory, Vector]]) -> None:
        for memory, vector in items:
            self.put(memory, vector)

    def remove(self, memory_id: str) -> None:
        position = self._positions.pop(memory_id, None)
        if position is None:
            return
        memory = self._records[position]
        assert memory is not None
        self._thread_lists()[memory.thread].remove(memory.place)
        self._parents = None
        self._records[position] = None
        self._live[position] = False
        self._sum -= self._vectors[position]
        self._writes += 1
        self._lexical.remove(position)
        if len(self._records) > 64 and len(self._positions) < len(self._records) * 2 // 3:
            self._compact()

    def search(
        self,
        query_vector: Vector | None,
        query: str,
        params: RetrievalConfig,
        now: float | None = None,
    ) -> list[Hit]:
        return self.ranking(query, params, now).hits(query_vector)

    def ranking(
        self,
        query: str,
        params: RetrievalConfig,
        now: float | None = None,
        *,
        detached: bool = False,
    ) -> Ranking:
        """The part of a search that walks the index's Python structures (threads, the query's
        BM25 postings), done now. What is left, ``Ranking.hits``, reads arrays and a list that
        writes either append to or replace; with ``detached`` (the postings copied) it may run
        on another thread while writes go on."""
        size = len(self._records) if self._positions else 0
        return Ranking(
            size=size,
            vectors=self._vectors,
            seen=self._seen,
            evidence=self._evidence,
            live=self._live,
            records=self._records,
            lexical=(
                self._lexical.query(terms(query), detached=detached)
                if size and params.mode != "dense"
                else None
            ),
            parents=self._thread() if size else None,
            params=params,
            when=time.time() if now is None else now,
            basis=self._current_basis() if size else None,
            lengths=self._lengths,
        )

    def _current_basis(self) -> Basis:
        """The basis, fitted again once a tenth of the memories have changed since."""
        count = len(self._positions)
        if self._basis is None or self._writes > count // 10:
            present = np.fromiter(self._positions.values(), np.intp, count)
            present.sort()
            step = max(1, count // SAMPLE)
            basis = fit(self._sum, count, self._vectors[present[::step]])
            size = len(self._records)
            lengths = np.ones(self._vectors.shape[0], dtype=np.float32)
            lengths[:size] = basis.lengths(self._vectors[:size])
            # A ranking running on another thread keeps the arrays it was given.
            self._basis, self._lengths, self._writes = basis, lengths, 0
        return self._basis

    def nearest(self, vector: Vector, k: int) -> list[tuple[Memory, float]]:
        """The ``k`` active memories most similar to ``vector``, by cosine similarity."""
        size = len(self._records)
        if not self._positions:
            return []
        similarity = self._vectors[:size] @ vector
        chosen = top(similarity, self._live[:size], k, -1.0)
        return list(
            zip(
                map(self._records.__getitem__, chosen.tolist()),  # type: ignore[arg-type]
                similarity[chosen].tolist(),
                strict=True,
            )
        )

    def _thread(self) -> npt.NDArray[np.int64]:
        if self._parents is None:
            parents = np.full(len(self._records), -1, dtype=np.int64)
            for thread in self._thread_lists().values():
                for (_, _, before), (_, _, after) in pairwise(thread):
                    parents[self._positions[after]] = self._positions[before]
            self._parents = parents
        return self._parents

    def _thread_lists(self) -> dict[str | float, list[tuple[int, int, str]]]:
        if self._threads is None:
            threads: dict[str | float, list[tuple[int, int, str]]] = {}
            for memory in self._records:
                if memory is not None:
                    threads.setdefault(memory.thread, []).append(memory.place)
            for thread in threads.values():
                thread.sort()
            self._threads = threads
        return self._threads

    def saved(self) -> Saved:
        """The index as it stands, positions and all, for a snapshot (``restore``)."""
        size = len(self._records)
        return Saved(
            seq=self.seq,
            records=list(self._records),
            vectors=self._vectors[:size].copy(),
            parents=self._thread().copy(),
            lexical=self._lexical.saved(),
        )

    @classmethod
    def restore(cls, saved: Saved) -> UserIndex:
        """The index ``saved`` was taken from. Nothing is derived from the memories' texts
        again, which is most of what ``build`` costs."""
        records = saved.records
        size = len(records)
        index = cls(saved.vectors.shape[1], saved.seq)
        index._grow(size)
        index._records = records
        index._positions = {m.id: p for p, m in enumerate(records) if m is not None}
        index._vectors[:size] = saved.vectors
        index._sum = saved.vectors[list(index._positions.values())].sum(0, dtype=np.float64)
        index._basis = None
        live = [m is not None and m.status == "active" for m in records]
        index._live[:size] = live
        index._seen[:size] = [0.0 if m is None else m.seen_at.timestamp() for m in records]
        index._evidence[:size] = [0 if m is None else m.evidence for m in records]
        index._lexical = BM25Index.restore(saved.lexical)
        index._threads = None
        index._parents = saved.parents
        return index

    def _grow(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2)
        self._vectors = _resized(self._vectors, capacity)
        self._seen = _resized(self._seen, capacity)
        self._evidence = _resized(self._evidence, capacity)
        self._live = _resized(self._live, capacity)
        self._lengths = _resized(self._lengths, capacity)

    def _compact(self) -> None:
        keep = [(self._records[p], self._vectors[p].copy()) for p in self._positions.values()]
        self._reset(capacity=max(16, len(keep) * 2))
        self.put_many((m, v) for m, v in keep if m is not None)


A = TypeVar("A", bound=npt.NDArray[Any])


def _resized(array: A, capacity: int) -> A:
    grown: A = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)  # type: ignore[assignment]
    grown[: array.shape[0]] = array
    return grown


def build(dimension: int, seq: int, items: Sequence[tuple[Memory, Vector]]) -> UserIndex:
    index = UserIndex(dimension, seq)
    index._grow(len(items))
    # Write order, so positions follow threads; memories from before ordinals sort by time.
    index.put_many(sorted(items, key=lambda item: (item[0].ordinal, item[0].created_at)))
    return index
