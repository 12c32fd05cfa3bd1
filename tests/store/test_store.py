"""Memories outlive the process: snapshots when current, Chroma when not, never a stale index."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.store.backend import StoredRecord
from gateway.store.chroma import ChromaBackend
from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Scope
from gateway.store.snapshots import Generations
from gateway.store.store import CacheSettings, MemoryStore, NewMemory
from tests.support.gateway import KEY, gateway_in_thread
from tests.support.memory import (
    MemoryClient,
    echo_chat,
    embedded_store,
    memory_block,
    memory_config,
    sdk,
)

ALICE = Scope("acme", "alice")

# -- a real gateway, restarted ------------------------------------------------------------------


def test_memories_survive_a_restart_with_and_without_snapshots(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    question = [{"role": "user", "content": "Where do I live and what do I drive?"}]
    memories = [
        {"content": "Lives in Porto since 2019.", "category": "fact"},
        {"content": "Drives a green Fiat Panda.", "category": "fact"},
        {"content": "A note from the first day.", "created_at": "0001-01-02T00:00:00Z"},
        {"content": "A note from far ahead.", "created_at": "9998-12-31T23:59:59Z"},
    ]
    with gateway_in_thread(config) as gateway:
        api = MemoryClient(gateway)
        api.add_many("alice", memories)
        before = api.export("alice")["memories"]
        api.close()
    snapshots = list((config.memory.store.state_dir / "snapshots").rglob("*.snap"))
    assert len(snapshots) == 1 and b"Lives in Porto" in snapshots[0].read_bytes()

    def served() -> tuple[list[dict[str, object]], str]:
        with gateway_in_thread(config) as gateway:
            api = MemoryClient(gateway)
            exported = api.export("alice")["memories"]
            api.close()
            received, headers = echo_chat(sdk(gateway), question, user_id="alice")
            assert headers["x-memory-status"] == "ok"
            return exported, memory_block(received)

    exported, block = served()  # from the snapshot
    assert exported == before
    assert "Lives in Porto since 2019." in block and "Drives a green Fiat Panda." in block
    shutil.rmtree(config.memory.store.state_dir / "snapshots")
    exported, block = served()  # rebuilt from Chroma
    assert exported == before
    assert "Lives in Porto since 2019." in block


def test_embedded_store_with_several_workers_is_refused_at_config_time(tmp_path: Path) -> None:
    base = (
        f"auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}\nmodels: [{{name: echo, model: echo}}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(base + "server: {workers: 2}\n", {})
    assert "memory.store.url" in str(caught.value)
    assert "workers" in str(caught.value)
    with_server = "server: {workers: 2}\nmemory: {store: {url: 'http://127.0.0.1:8000'}}\n"
    assert parse_config(base + with_server, {}).server.workers == 2
    without_memory = "server: {workers: 2}\nmemory: {enabled: false}\n"
    assert parse_config(base + without_memory, {}).server.workers == 2


# -- the store, restarted in process ------------------------------------------------------------


async def contents(store: MemoryStore, scope: Scope = ALICE) -> list[str]:
    return [m.content for m in await store.all(scope)]


def snapshot_files(state: Path) -> list[Path]:
    return sorted((state / "snapshots").rglob("*.snap"))


async def written_behind_its_back(state: Path, embedder: OnnxMiniLM, text: str) -> None:
    """A record that reached Chroma from elsewhere without moving this store's generation
    (the write of a process that died before it could)."""
    store = MemoryStore(
        ChromaBackend(path=state / "chroma"),
        embedder,
        Generations(state / "elsewhere.sqlite3"),
        CacheSettings(),
    )
    await store.add(ALICE, [NewMemory(text, "fact")])
    await store.close()


@pytest.mark.asyncio
async def test_a_stale_snapshot_is_rebuilt_from_chroma(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    store = embedded_store(tmp_path, embedder)
    await store.add(ALICE, [NewMemory("Lives in Porto.", "fact")])
    await store.close()
    assert len(snapshot_files(tmp_path)) == 1
    await written_behind_its_back(tmp_path, embedder, "Moved to Lisbon.")
    # The generation did not move, so the snapshot is taken as current: this is the path a
    # restart uses, and why every write must bump the generation.
    store = embedded_store(tmp_path, embedder)
    assert await contents(store) == ["Lives in Porto."]
    await store.close()
    generations = Generations(tmp_path / "generations.sqlite3")
    generations.bump(ALICE)
    generations.close()
    store = embedded_store(tmp_path, embedder)
    assert await contents(store) == ["Lives in Porto.", "Moved to Lisbon."]
    await store.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"GWSNAP1\n",
        b"GWSNAP1\n\xff\xff\xff\xff\xff\xff\xff\x7f{",
        b"not a snapshot at all",
    ],
)
async def test_a_damaged_snapshot_is_rebuilt_from_chroma(
    tmp_path: Path, embedder: OnnxMiniLM, damage: bytes
) -> None:
    store = embedded_store(tmp_path, embedder)
    await store.add(ALICE, [NewMemory("Lives in Porto.", "fact")])
    await store.close()
    [snapshot] = snapshot_files(tmp_path)
    snapshot.write_bytes(damage)
    store = embedded_store(tmp_path, embedder)
    assert await contents(store) == ["Lives in Porto."]
    await store.close()


@pytest.mark.asyncio
async def test_a_truncated_snapshot_is_rebuilt_from_chroma(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    store = embedded_store(tmp_path, embedder)
    await store.add(ALICE, [NewMemory(f"Note {i}.", "fact") for i in range(5)])
    await store.close()
    [snapshot] = snapshot_files(tmp_path)
    snapshot.write_bytes(snapshot.read_bytes()[:-700])
    store = embedded_store(tmp_path, embedder)
    assert len(await contents(store)) == 5
    await store.close()


@pytest.mark.asyncio
async def test_another_users_snapshot_in_this_users_place_is_not_served(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    bob = Scope("acme", "bob")
    store = embedded_store(tmp_path, embedder)
    await store.add(ALICE, [NewMemory("Alice's note.", "fact")])
    await store.add(bob, [NewMemory("Bob's private note.", "fact")])
    await store.close()
    files = {p.read_bytes(): p for p in snapshot_files(tmp_path)}
    [alice_file] = [p for data, p in files.items() if b"Alice's note." in data]
    [bob_file] = [p for data, p in files.items() if b"Bob's private note." in data]
    # Both users are at the same generation, so only the file's owner can tell them apart.
    shutil.copyfile(bob_file, alice_file)
    store = embedded_store(tmp_path, embedder)
    assert await contents(store) == ["Alice's note."]
    await store.close()


@pytest.mark.asyncio
async def test_an_erase_racing_a_snapshot_flush_leaves_nothing_on_disk(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    store = embedded_store(tmp_path, embedder)
    others = [Scope("acme", f"user-{i}") for i in range(150)]
    for scope in others:
        await store.add(scope, [NewMemory("An ordinary note.", "fact")])
    await store.add(ALICE, [NewMemory("Alice's erased secret.", "fact")])
    # The flush takes every dirty index at once, then writes them one by one...
    flushing = asyncio.ensure_future(store.flush())
    await asyncio.sleep(0)
    # ...while alice asks for everything about her to be erased.
    assert await store.erase(ALICE) == 1
    await flushing
    await store.flush()
    leftovers = [p for p in snapshot_files(tmp_path) if b"erased secret" in p.read_bytes()]
    assert leftovers == []
    assert await contents(store) == []
    await store.close()
    store = embedded_store(tmp_path, embedder)
    assert await contents(store) == []
    await store.close()


class GatedBackend(ChromaBackend):
    """The real backend, with a gate in front of writes: the slow write of another worker."""

    def __init__(self, path: Path) -> None:
        super().__init__(path=path)
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def put(self, scope: Scope, records: Sequence[StoredRecord]) -> None:
        self.entered.set()
        assert self.gate.wait(10)
        super().put(scope, records)


@pytest.mark.asyncio
async def test_a_worker_never_keeps_an_index_loaded_while_another_worker_wrote(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    """Two workers share the store (``server.workers > 1``): each checks the generation."""
    gated = GatedBackend(tmp_path / "chroma")
    writer = MemoryStore(
        gated, embedder, Generations(tmp_path / "g.sqlite3"), CacheSettings(shared=True)
    )
    reader = MemoryStore(
        ChromaBackend(path=tmp_path / "chroma"),
        embedder,
        Generations(tmp_path / "g.sqlite3"),
        CacheSettings(shared=True),
    )
    await writer.add(ALICE, [NewMemory("First note.", "fact")])
    assert await contents(reader) == ["First note."]
    gated.gate.clear()
    gated.entered.clear()
    writing = asyncio.ensure_future(writer.add(ALICE, [NewMemory("Second note.", "fact")]))
    assert await asyncio.to_thread(gated.entered.wait, 10)
    # The reader looks while the write is under way: it cannot see the note yet...
    assert await contents(reader) == ["First note."]
    gated.gate.set()
    await writing
    # ...but once the write is done, it must.
    assert await contents(reader) == ["First note.", "Second note."]
    await writer.close()
    await reader.close()
