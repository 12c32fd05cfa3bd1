"""The memory store the rest of the gateway talks to.

Writes go to Chroma first (durable), then into the user's in-process index. Reads are served from
that index, loaded on first use from the user's snapshot file when it is current, else from
Chroma. Every write bumps the scope's generation before touching Chroma and again once it is
done, so an index or snapshot is trusted only when its generation matches (see ``Generations``).

With a store server shared by several processes or hosts, the generations are records in that
server (``gateway.store.coherence``): a host re-reads a user's record at most every
``max_staleness_s`` before serving the user's index, and an erase waits that long before it
returns, so no host serves an erased user's memories once the erase has returned. Snapshots are
off then, and ``ttl_s`` reloads every index now and then whatever the records say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from gateway.config import CacheConfig, RetrievalConfig
from gateway.errors import MemoryNotFound, StoreUnavailable
from gateway.store.backend import Backend, StoredRecord, UserEntry
from gateway.store.codec import decode, encode
from gateway.store.coherence import GenerationLog, SharedGenerations
from gateway.store.embedding import Embedder
from gateway.store.index import Hit, UserIndex, Vector, build
from gateway.store.lexical import forget_words
from gateway.store.records import Memory, Scope, Source, Status, utcnow
from gateway.store.snapshots import Snapshots

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOCK_STRIPES = 256
#: A generation no record ever holds (records start at 0 and only grow or are random > 0).
_STALE = -1
#: Hosts' clocks tick at slightly different rates; an erase waits this much longer.
_CLOCK_MARGIN_S = 0.05


@dataclass(frozen=True, slots=True)
class NewMemory:
    content: str
    category: str
    created_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Source = "api"
    #: A caller-chosen id makes a replayed write idempotent (extraction jobs use this).
    id: str | None = None
    #: ``pending`` stores a memory that is not retrieved until promoted (evidence gating).
    status: Status = "active"


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """How the store caches users' indexes: ``memory.cache`` itself, and what follows from how
    the gateway is deployed (which the cache section alone cannot say)."""

    config: CacheConfig = field(default_factory=CacheConfig)
    #: Re-check the generation on every read: several processes share the store (it follows
    #: from ``server.workers``, not from the cache section).
    shared: bool = False
    #: Re-check the generation at most this often per user, and hold every erase this long
    #: before it returns (generations shared by several hosts); None: never. It is
    #: ``memory.cache.max_staleness_ms`` in seconds, and only with a store server.
    max_staleness_s: float | None = None
    #: Reload an index older than this (writers on other hosts); None: never. It is
    #: ``memory.cache.ttl_s`` only with a store server: an embedded store has no other writers.
    ttl_s: float | None = None
    #: Snapshot files beside an embedded store: an object with a folder of its own, not a
    #: setting; None with a store server.
    snapshots: Snapshots | None = None


class MemoryStore:
    def __init__(
        self,
        backend: Backend,
        embedder: Embedder,
        generations: GenerationLog,
        cache: CacheSettings,
        *,
        threads: int = 2,
    ) -> None:
        self._backend = backend
        self._embedder = embedder
        self._generations = generations
        self._cache = cache
        self._indexes: OrderedDict[str, UserIndex] = OrderedDict()
        self._items = 0
        self._loading: dict[str, asyncio.Task[UserIndex]] = {}
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]
        #: Indexes changed since their snapshot was written (held even if evicted meanwhile).
        self._dirty: dict[str, tuple[Scope, UserIndex]] = {}
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="memory-store")
        self._erase_hooks: list[Callable[[Scope], Awaitable[None]]] = []
        self._store_id: str | None = None
        self._identifying = asyncio.Lock()
        self._purges = _Coalesced(partial(self._run, self._backend.purge))

    # -- reading ---------------------------------------------------------------------------

    async def cached(self, scope: Scope) -> UserIndex | None:
        """The scope's index if it is loaded and current; at most one generation read."""
        index = self._indexes.get(scope.key)
        if index is None or not await self._current(scope, index):
            return None
        self._indexes.move_to_end(scope.key)
        return index

    async def index(self, scope: Scope) -> UserIndex:
        """The scope's index, loading it if needed. A load survives its caller's cancellation,
        so a request that gives up at its deadline still leaves the index warm for the next."""
        index = await self.cached(scope)
        if index is not None:
            return index
        task = self._loading.get(scope.key)
        if task is None:
            task = asyncio.ensure_future(self._load(scope))
            self._loading[scope.key] = task
            task.add_done_callback(lambda _: self._loading.pop(scope.key, None))
        return await asyncio.shield(task)

    async def search(
        self, scope: Scope, vector: Vector, query: str, params: RetrievalConfig
    ) -> list[Hit]:
        return (await self.index(scope)).search(vector, query, params)

    async def get(self, scope: Scope, memory_id: str) -> Memory:
        memory = (await self.index(scope)).get(memory_id)
        if memory is None:
            raise MemoryNotFound(
                f"No memory with id '{memory_id}' for this user.", param="memory_id"
            )
        return memory

    async def all(self, scope: Scope) -> list[Memory]:
        return (await self.index(scope)).memories()

    async def nearest(self, scope: Scope, vector: Vector, k: int) -> list[tuple[Memory, float]]:
        return (await self.index(scope)).nearest(vector, k)

    # -- writing ---------------------------------------------------------------------------

    async def add(
        self, scope: Scope, items: Sequence[NewMemory], vectors: Vector | None = None
    ) -> list[Memory]:
        """Store new memories; an item whose ``id`` already exists is left as it is.
        ``vectors`` (one row per item), when the caller has embedded them already."""
        if not items:
            return []
        if vectors is None:
            vectors = await self.embed(items)
        async with self._lock(scope):
            index = await self.index(scope)
            memories, fresh = [], []
            clock = time.time_ns()
            for offset, (item, vector) in enumerate(zip(items, vectors, strict=True)):
                existing = index.get(item.id) if item.id else None
                memory = existing or _new_memory(item, clock + offset)
                memories.append(memory)
                if existing is None:
                    fresh.append((memory, vector))
            if fresh:
                records = [_record(m, v) for m, v in fresh]
                seq = await self._write(scope, index, partial(self._backend.put, scope, records))
                index.put_many(fresh)
                self._commit(scope, index, seq)
        return memories

    async def embed(self, items: Sequence[NewMemory]) -> Vector:
        """The vectors ``add`` would store for ``items``: CPU work, or a provider's call, that
        a caller may want to do before a deadline meant for the store starts."""
        return await self._embedder.embed([item.content for item in items])

    async def update(
        self,
        scope: Scope,
        memory_id: str,
        change: Callable[[Memory], Memory],
    ) -> Memory:
        """Apply ``change`` to a memory; its text is re-embedded when the content changed."""
        async with self._lock(scope):
            index = await self.index(scope)
            old = index.get(memory_id)
            if old is None:
                raise MemoryNotFound(
                    f"No memory with id '{memory_id}' for this user.", param="memory_id"
                )
            new = replace(change(old), id=old.id, updated_at=utcnow())
            vector = index.vector(memory_id)
            assert vector is not None
            if new.content != old.content:
                vector = (await self._embedder.embed([new.content]))[0]
                write = partial(self._backend.replace, scope, _record(new, vector))
            else:
                write = partial(self._backend.update_metadata, scope, new.id, encode(new))
            seq = await self._write(scope, index, write)
            index.put(new, vector)
            self._commit(scope, index, seq)
        return new

    async def delete(self, scope: Scope, memory_id: str) -> None:
        async with self._lock(scope):
            index = await self.index(scope)
            if memory_id not in index:
                raise MemoryNotFound(
                    f"No memory with id '{memory_id}' for this user.", param="memory_id"
                )
            seq = await self._write(scope, index, partial(self._backend.delete, scope, [memory_id]))
            index.remove(memory_id)
            self._commit(scope, index, seq)

    def before_erase(self, hook: Callable[[Scope], Awaitable[None]]) -> None:
        """Call ``hook`` at the start of every ``erase``, e.g. to drop the user's queued
        extraction jobs so they cannot bring memories back afterwards."""
        self._erase_hooks.append(hook)

    async def erase(self, scope: Scope) -> int:
        """Delete everything stored about the user: records, index, snapshot, cached words,
        and (in a store this gateway runs) every copy Chroma kept of the deleted texts."""
        for hook in self._erase_hooks:
            await hook(scope)
        if isinstance(self._generations, SharedGenerations):
            # Before the records go: a job another host accepted earlier must find it.
            await self._run(self._generations.record_erasure, scope, time.time())
        async with self._lock(scope):
            index = await self.index(scope)
            count = len(index)
            await self._write(scope, index, partial(self._backend.erase, scope), note=False)
            await self._run(self._backend.forget_user, scope)
            self._forget(scope)
            forget_words()
            if self._cache.snapshots is not None:
                await self._run(self._cache.snapshots.drop, scope)
        # Outside the lock: one purge covers every erase that finished before it began.
        await self._purges.run()
        if self._cache.max_staleness_s is not None:
            # Every other host re-reads the generation within this time before it serves the
            # user again: returning later is what makes the erase hold on all of them.
            await asyncio.sleep(self._cache.max_staleness_s + _CLOCK_MARGIN_S)
        return count

    async def erased_since(self, scope: Scope, moment: float) -> bool:
        """Whether an erase of the user began at or after ``moment`` (epoch seconds) on any host
        sharing the store; only a store server keeps that record (one host's own journal notes
        its own erasures)."""
        if not isinstance(self._generations, SharedGenerations):
            return False
        return await self._run(self._generations.erased_since, scope, moment)

    # -- the directory of users -----------------------------------------------------------

    async def users(self, tenant: str) -> list[UserEntry]:
        """Every user of ``tenant`` with memories written since the directory began, sorted by
        user id."""
        entries = await self._run(self._backend.users, tenant)
        return sorted(entries, key=lambda e: e.user)

    async def tenants(self) -> dict[str, int]:
        """Every tenant with users in the directory, with how many."""
        return await self._run(self._backend.tenants)

    # -- housekeeping ------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the snapshots of indexes changed since the last flush."""
        snapshots = self._cache.snapshots
        if snapshots is None:
            return
        dirty, self._dirty = self._dirty, {}
        for scope, index in dirty.values():
            # Under the scope's lock, and only while still current: an erase (or any write)
            # that got in since the index was taken must not be undone by a late save.
            async with self._lock(scope):
                if await self._run(self._generations.current, scope) != index.seq:
                    continue
                await self._run(snapshots.save, scope, index, await self.identify())

    async def run_flusher(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("snapshot flush failed")

    def heartbeat(self) -> None:
        self._backend.heartbeat()

    async def ping(self) -> None:
        await self._run(self._backend.heartbeat)

    async def identify(self) -> str:
        """The store's id, checked once against the state directory's: state recorded for
        another store (or a wiped one) is discarded before anything of it is used."""
        if self._store_id is None:
            async with self._identifying:
                if self._store_id is None:
                    store_id = await self._run(self._backend.identity)
                    await self._run(self._adopt, store_id)
                    self._store_id = store_id
        return self._store_id

    def _adopt(self, store_id: str) -> None:
        if self._generations.adopt(store_id):
            log.warning(
                "the state directory was recorded for another memory store (or one since "
                "wiped): its snapshots and generations are discarded"
            )
            if self._cache.snapshots is not None:
                self._cache.snapshots.clear()

    async def close(self) -> None:
        await self.flush()
        with contextlib.suppress(StoreUnavailable):
            await self._run(self._backend.close)
        self._pool.shutdown(wait=True)
        self._generations.close()

    # -- internals -------------------------------------------------------------------------

    def _lock(self, scope: Scope) -> asyncio.Lock:
        return self._locks[int(scope.key[:8], 16) % _LOCK_STRIPES]

    async def _current(self, scope: Scope, index: UserIndex) -> bool:
        cache = self._cache
        started = time.monotonic()
        if cache.ttl_s is not None and started - index.loaded_at > cache.ttl_s:
            return False
        if cache.shared:
            return self._generations.current(scope) == index.seq
        if cache.max_staleness_s is None or started - index.checked_at < cache.max_staleness_s:
            return True
        if await self._run(self._generations.current, scope) != index.seq:
            return False
        # The read began at ``started``: what it saw was true at that moment or later.
        index.checked_at = max(index.checked_at, started)
        return True

    async def _load(self, scope: Scope) -> UserIndex:
        started = time.monotonic()
        store_id = await self.identify()
        seq = await self._run(self._generations.current, scope)
        snapshots = self._cache.snapshots
        index = None
        if snapshots is not None:
            dimension = self._embedder.dimension
            index = await self._run(snapshots.load, scope, seq, dimension, store_id)
        if index is None:
            records = await self._run(self._backend.fetch, scope)
            items = [(decode(r.id, r.document, r.metadata), _vector(r)) for r in records]
            index = build(self._embedder.dimension, seq, items)
            if snapshots is not None:
                self._dirty[scope.key] = (scope, index)
        index.checked_at = started
        self._remember(scope, index)
        return index

    async def _write(
        self, scope: Scope, index: UserIndex, write: Callable[[], None], *, note: bool = True
    ) -> int:
        """Bump the generation, write to Chroma, bump again; returns the generation ``index``
        may claim once it holds the write.

        The second bump is for readers in other processes: one that loaded the user while the
        write was under way (and may have missed it) holds the middle generation, so its index
        goes stale instead of being trusted until the next write. When another process wrote
        since ``index`` was checked, or bumps while this write is under way, ``index`` may lack
        that write: it gets a generation no record holds, and is reloaded when next checked.
        (The one overlap this misses: another process's write that begins between this
        write's first read and first bump and ends before this one does; ``ttl_s`` bounds it,
        see docs/operations.md.)"""
        await self.identify()
        unchanged = await self._run(self._generations.current, scope) == index.seq
        first = await self._run(self._generations.bump, scope)
        try:
            await self._run(write)
        except asyncio.CancelledError:
            # The caller gave up (its deadline), but the write may still land in Chroma: the
            # cached index no longer says what is stored, so the next read rebuilds it.
            self._forget(scope)
            raise
        if note:
            # The directory of users (``users``) learns of the user, or of their latest write.
            await self._run(self._backend.note_user, scope, time.time())
        alone = unchanged and await self._run(self._generations.current, scope) == first
        last = await self._run(self._generations.bump, scope)
        return last if alone else _STALE

    def _commit(self, scope: Scope, index: UserIndex, seq: int) -> None:
        """Record that ``index`` now holds every write up to generation ``seq``. Called only
        after the index itself changed, so a snapshot never claims a write it lacks."""
        index.seq = seq
        if self._cache.snapshots is not None:
            self._dirty[scope.key] = (scope, index)
        self._account(scope)

    def _remember(self, scope: Scope, index: UserIndex) -> None:
        previous = self._indexes.pop(scope.key, None)
        self._items -= len(previous) if previous is not None else 0
        self._indexes[scope.key] = index
        self._items += len(index)
        while self._items > self._cache.config.max_items and len(self._indexes) > 1:
            _, evicted = self._indexes.popitem(last=False)
            self._items -= len(evicted)

    def _account(self, scope: Scope) -> None:
        index = self._indexes.get(scope.key)
        if index is not None:
            self._remember(scope, index)

    def _forget(self, scope: Scope) -> None:
        index = self._indexes.pop(scope.key, None)
        self._items -= len(index) if index is not None else 0
        self._dirty.pop(scope.key, None)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)


class _Coalesced:
    """Runs ``action`` for callers that ask for it, one run at a time; a caller is served by
    the first run that starts after it asked, so a burst of callers shares a run or two."""

    def __init__(self, action: Callable[[], Awaitable[None]]) -> None:
        self._action = action
        self._lock = asyncio.Lock()
        self._asked = 0
        self._done = 0

    async def run(self) -> None:
        self._asked += 1
        ticket = self._asked
        async with self._lock:
            if self._done >= ticket:
                return
            covers = self._asked
            await self._action()
            self._done = covers


def _new_memory(item: NewMemory, ordinal: int) -> Memory:
    now = utcnow()
    created = item.created_at or now
    return Memory(
        id=item.id or uuid.uuid4().hex,
        content=item.content,
        category=item.category,
        created_at=created,
        updated_at=now,
        last_seen_at=created,
        source=item.source,
        status=item.status,
        metadata=dict(item.metadata),
        ordinal=ordinal,
    )


def _vector(record: StoredRecord) -> Vector:
    assert record.embedding is not None
    return record.embedding


def _record(memory: Memory, vector: Vector) -> StoredRecord:
    return StoredRecord(memory.id, memory.content, encode(memory), vector)
