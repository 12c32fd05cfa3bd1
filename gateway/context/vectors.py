"""Query vectors, remembered for a short while: retries, regenerate buttons and a shared
opening question send the same text again within seconds, and embedding it again is the
costliest part of a request that gives nothing new."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.store.embedding import Embedder
from gateway.store.index import Vector

#: Vectors kept at most (384 float32 each: ~0.8 MB in all).
REUSE_SIZE = 512


def _nothing() -> None:
    return None


class QueryVectors:
    """The query embedder behind a bounded, expiring memory of the vectors it made, one per
    process. Keys are digests of the model's name and the text: the memory holds no words."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        ttl_s: float,
        size: int = REUSE_SIZE,
        reused: Callable[[], None] = _nothing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._embedder = embedder
        self._ttl_s = ttl_s
        self._size = size
        self._reused = reused
        self._clock = clock
        # Least recently used first; each entry expires ``ttl_s`` after it was made, used or not.
        self._kept: OrderedDict[bytes, tuple[float, Vector]] = OrderedDict()

    @property
    def backlog(self) -> int:
        return self._embedder.backlog

    async def vector(self, query: str) -> Vector:
        key = self._key(query)
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            self._kept.move_to_end(key)
            self._reused()
            return kept[1]
        vector: Vector = (await self._embedder.embed([query]))[0]
        if self._ttl_s > 0:
            self._kept[key] = (now + self._ttl_s, vector)
            self._kept.move_to_end(key)
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return vector

    def clear(self) -> None:
        """Forget every vector (an erase: a vector is a trace of its question, and the entries
        are not filed by user)."""
        self._kept.clear()

    def _key(self, query: str) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self._embedder.name.encode())
        digest.update(b"\0")
        digest.update(query.encode("utf-8", "surrogatepass"))
        return digest.digest()
