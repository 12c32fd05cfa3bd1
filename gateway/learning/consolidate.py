"""Putting new facts into a user's memories: add, reinforce, supersede.

Each fact is compared with the user's nearest memories (``similarity.verdict``):

- a **duplicate** bumps the existing memory's evidence and ``last_seen_at`` (which is what
  keeps it from decaying) instead of adding a row;
- a **related** fact of the same category supersedes the memory: the new one is added with a
  ``supersedes`` link, then the old one is marked ``superseded`` (kept for history and export,
  no longer retrieved);
- anything else is added.

Style preferences (tone, brevity, format) never come here: they shape the user's profile
(``gateway.learning.personalize``), behind its own evidence gate.

Replays change nothing ("at most once in effect"). A fact's operation id is derived from its job
and text: an added memory takes that id, and a bump records it in the memory's
``observations`` metadata in the same write, so a replayed job finds its work done. A supersede
cut short by a crash is finished by the replay (``_link``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from gateway.config import ExtractionConfig
from gateway.learning.minimise import Fact
from gateway.learning.similarity import normalised, verdict
from gateway.observability import Metrics
from gateway.store.index import Vector
from gateway.store.records import SESSION, TURN, Memory, Scope, utcnow
from gateway.store.store import MemoryStore, NewMemory

OBSERVATIONS: Final = "observations"
SUPERSEDES: Final = "supersedes"
#: Operation ids kept per memory: a replay comes within a lease or two, never 16 jobs later.
MAX_OBSERVATIONS: Final = 16
NEAREST: Final = 5
_LOCK_STRIPES: Final = 64
#: Turns texts into one normalised vector per row (the memory store's embedding model).
Embed = Callable[[Sequence[str]], Awaitable[Vector]]


def operation_id(job_id: str, fact: Fact) -> str:
    """The id of one fact of one job: the memory id if it is added, the marker if a bump."""
    digest = hashlib.sha256(f"{job_id}\0{normalised(fact.content)}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a job's exchange sits: its session and the turn it starts at. Stored with the
    memories it adds, so that the index threads them (``gateway.store.index``)."""

    session: str | None = None
    turn: int = 0

    def metadata(self) -> dict[str, Any]:
        return {} if self.session is None else {SESSION: self.session, TURN: self.turn}


@dataclass(frozen=True, slots=True)
class Rules:
    #: ``extraction.duplicate_similarity`` and ``supersede_similarity``, read where they stand.
    thresholds: ExtractionConfig = field(default_factory=ExtractionConfig)


@dataclass(frozen=True, slots=True)
class Match:
    memory: Memory
    duplicate: bool


class Consolidator:
    def __init__(self, store: MemoryStore, embed: Embed, rules: Rules, metrics: Metrics) -> None:
        self._store = store
        self._embed = embed
        self._rules = rules
        self._metrics = metrics
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    async def erased_since(self, scope: Scope, moment: float) -> bool:
        """Whether the user was erased on another host after ``moment`` (see the store)."""
        return await self._store.erased_since(scope, moment)

    def lock(self, scope: Scope) -> asyncio.Lock:
        """Held while a job changes the user's memories (and while the user is erased): two
        jobs of one user must not both decide to add the same fact."""
        return self._locks[int(scope.key[:8], 16) % _LOCK_STRIPES]

    async def apply(
        self, scope: Scope, job_id: str, facts: Sequence[Fact], place: Place | None = None
    ) -> list[str]:
        """Store ``facts``; call with ``lock(scope)`` held. Returns the ids of the active
        memories that facts repeated (the user told us what we knew), replays excepted."""
        if not facts:
            return []
        vectors = await self._embed([fact.content for fact in facts])
        place = place or Place()
        restated = []
        for fact, vector in zip(facts, vectors, strict=True):
            repeated = await self._apply(scope, operation_id(job_id, fact), fact, vector, place)
            if repeated is not None:
                restated.append(repeated)
        return restated

    async def _apply(
        self, scope: Scope, op: str, fact: Fact, vector: Vector, place: Place
    ) -> str | None:
        index = await self._store.index(scope)
        done = index.get(op)
        if done is not None:  # a replay: the add happened; finish what may have been cut short
            await self._link(scope, done)
            return None
        match = await self._match(scope, fact, vector)
        if match is None:
            await self._add(scope, op, fact, vector, place)
        elif match.duplicate:
            return await self._observe(scope, op, match.memory)
        else:
            await self._replace(scope, op, fact, vector, place, match.memory)
        return None

    async def _match(self, scope: Scope, fact: Fact, vector: Vector) -> Match | None:
        """The best duplicate among the nearest memories, else the best related memory that
        this fact may replace (same category), else None."""
        candidates = await self._store.nearest(scope, vector, NEAREST)
        related: Match | None = None
        for memory, similarity in sorted(candidates, key=lambda c: -c[1]):
            judged = verdict(fact.content, memory.content, similarity, self._rules.thresholds)
            if judged == "duplicate":
                return Match(memory, duplicate=True)
            replaceable = memory.category == fact.category
            if judged == "related" and replaceable and related is None:
                related = Match(memory, duplicate=False)
        return related

    async def _add(
        self,
        scope: Scope,
        op: str,
        fact: Fact,
        vector: Vector,
        place: Place,
        supersedes: str | None = None,
    ) -> Memory:
        metadata = place.metadata()
        if supersedes is not None:
            metadata[SUPERSEDES] = supersedes
        item = NewMemory(
            content=fact.content,
            category=fact.category,
            metadata=metadata,
            source="extracted",
            id=op,
        )
        [memory] = await self._store.add(scope, [item], vector[None, :])
        self._metrics.memories_written("add")
        return memory

    async def _observe(self, scope: Scope, op: str, memory: Memory) -> str | None:
        """Another observation of ``memory``: more evidence, seen now. The memory's id when it
        was already active (a restated fact), else None."""
        restated = None
        if op not in memory.metadata.get(OBSERVATIONS, ()):
            before = memory.status
            memory = await self._store.update(scope, memory.id, lambda m: _bumped(m, op))
            self._metrics.memories_written("duplicate")
            restated = memory.id if before == "active" else None
        await self._link(scope, memory)
        return restated

    async def _replace(
        self, scope: Scope, op: str, fact: Fact, vector: Vector, place: Place, old: Memory
    ) -> None:
        new = await self._add(scope, op, fact, vector, place, supersedes=old.id)
        await self._link(scope, new)

    async def _link(self, scope: Scope, memory: Memory) -> None:
        """Once ``memory`` is active, retire the memory it was recorded to supersede."""
        target = memory.metadata.get(SUPERSEDES)
        if memory.status == "active" and isinstance(target, str):
            await self._retire(scope, target, memory.id)

    async def _retire(self, scope: Scope, memory_id: str, successor: str) -> None:
        old = (await self._store.index(scope)).get(memory_id)
        if old is None or old.status == "superseded":
            return
        await self._store.update(
            scope, memory_id, lambda m: replace(m, status="superseded", superseded_by=successor)
        )
        self._metrics.memories_written("superseded")


def _bumped(memory: Memory, op: str) -> Memory:
    seen = list(memory.metadata.get(OBSERVATIONS, ()))
    if op in seen:
        return memory
    metadata = {**memory.metadata, OBSERVATIONS: [*seen, op][-MAX_OBSERVATIONS:]}
    return replace(memory, evidence=memory.evidence + 1, last_seen_at=utcnow(), metadata=metadata)
