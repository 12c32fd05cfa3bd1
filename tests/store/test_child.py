"""The store's own `chroma run` child: started, used, stopped, and never outliving the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gateway.config import ConfigError, parse_config
from gateway.store.backend import StoredRecord
from gateway.store.child import CHILD_NICE, ChromaChild
from gateway.store.chroma import ChromaBackend
from gateway.store.records import Scope
from tests.support.gateway import gateway_in_thread
from tests.support.memory import MemoryClient, memory_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SCOPE = Scope("acme", "alice")


def record(memory_id: str) -> StoredRecord:
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    return StoredRecord(memory_id, "User keeps bees.", {"category": "fact"}, vector)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def children_on(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (the store children serving it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in command and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.asyncio
async def test_the_child_serves_the_path_at_low_priority_and_stops(tmp_path: Path) -> None:
    child = ChromaChild(tmp_path / "chroma")
    child.start()
    try:
        await child.ready()
        assert child.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == CHILD_NICE
        backend = ChromaBackend(url=child.url)
        backend.put(SCOPE, [record("m1")])
        assert [r.id for r in backend.fetch(SCOPE)] == ["m1"]
        backend.close()
    finally:
        await child.stop()
    assert not alive(child.pid)


@pytest.mark.asyncio
async def test_what_the_child_stored_is_there_for_the_in_process_store(tmp_path: Path) -> None:
    # Switching `runs_in` either way keeps the data: both are the same on-disk store.
    child = ChromaChild(tmp_path / "chroma")
    child.start()
    try:
        await child.ready()
        writer = ChromaBackend(url=child.url)
        writer.put(SCOPE, [record("m1")])
        writer.close()
    finally:
        await child.stop()
    reader = ChromaBackend(path=tmp_path / "chroma")
    assert [r.id for r in reader.fetch(SCOPE)] == ["m1"]
    reader.close()


@pytest.mark.asyncio
async def test_a_child_that_keeps_dying_is_retried_ever_more_slowly(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    child = ChromaChild(path)
    child.start()
    await child.ready()
    assert child.pid is not None
    restarts: list[float] = []
    supervisor = asyncio.create_task(
        child.supervise(lambda: restarts.append(time.monotonic()), check_interval_s=0.1)
    )
    try:
        # A file where the store should be: every new child fails before it starts.
        path.rename(tmp_path / "aside")
        path.write_text("not a directory")
        os.kill(child.pid, signal.SIGKILL)
        await asyncio.sleep(6.0)
        gaps = [later - earlier for earlier, later in itertools.pairwise(restarts)]
        # Waits of 0.1, 0.2, 0.4, 0.8, 1.6 and 3.2 s: without the doubling a dead store would be
        # started ten times a second.
        assert 4 <= len(restarts) <= 6, gaps
        assert all(later > 1.5 * earlier for earlier, later in itertools.pairwise(gaps)), gaps
        path.unlink()
        (tmp_path / "aside").rename(path)
        assert await asyncio.to_thread(eventually, child._answers, 30.0)
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        await child.stop()


@pytest.mark.asyncio
async def test_a_child_that_stops_answering_is_killed_and_started_again(tmp_path: Path) -> None:
    child = ChromaChild(tmp_path / "chroma")
    child.start()
    await child.ready()
    writer = ChromaBackend(url=child.url)
    writer.put(SCOPE, [record("m1")])
    writer.close()
    first = child.pid
    assert first is not None
    restarts: list[float] = []
    supervisor = asyncio.create_task(
        child.supervise(
            lambda: restarts.append(time.monotonic()), check_interval_s=0.1, hang_after_s=1.0
        )
    )
    try:
        # A child that answers is left alone, however long it runs.
        await asyncio.sleep(2.5)
        assert restarts == [] and child.pid == first
        # Stopped, it is alive but silent: what a deadlocked store looks like from outside.
        os.kill(first, signal.SIGSTOP)
        stopped = time.monotonic()
        assert await asyncio.to_thread(
            eventually, lambda: child.pid != first and child._answers(), 30.0
        )
        assert len(restarts) == 1 and restarts[0] - stopped >= 1.0
        assert not alive(first)
        reader = ChromaBackend(url=child.url)
        assert [r.id for r in reader.fetch(SCOPE)] == ["m1"]
        reader.close()
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGKILL)
        await child.stop()


def test_kill_9_of_the_gateway_takes_the_child_with_it(tmp_path: Path) -> None:
    owner = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from gateway.store.child import ChromaChild

        async def main():
            child = ChromaChild(Path({str(tmp_path / "chroma")!r}))
            child.start()
            await child.ready()
            print(child.pid, flush=True)
            time.sleep(600)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", owner], stdout=subprocess.PIPE, cwd=REPO_ROOT, text=True
    )
    try:
        assert process.stdout is not None
        child_pid = int(process.stdout.readline())
        assert alive(child_pid)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert eventually(lambda: not alive(child_pid)), "the store child outlived its gateway"


def test_a_gateway_starts_its_child_and_stops_it_at_shutdown(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    assert config.memory.store.runs_in == "child"
    store_path = config.memory.store.path
    with gateway_in_thread(config):
        assert len(children_on(store_path)) == 1
    assert eventually(lambda: not children_on(store_path))


def test_a_child_that_dies_is_started_again_and_keeps_what_was_written(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    store_path = config.memory.store.path
    with gateway_in_thread(config) as gateway:
        api = MemoryClient(gateway)
        api.add("alice", "Alice keeps bees on the roof.")
        [first] = children_on(store_path)
        os.kill(first, signal.SIGKILL)
        assert eventually(lambda: children_on(store_path) not in ([], [first]), timeout_s=30)

        statuses: list[int] = []

        def writes_again() -> bool:
            reply = api.http.post(api.path("alice"), json={"content": "Alice's hives: three."})
            statuses.append(reply.status_code)
            return reply.status_code == 201

        assert eventually(writes_again, timeout_s=30)
        # While the store is down a write says so (503), and no write is half-done.
        assert set(statuses) <= {201, 503}, statuses
        assert sorted(api.contents("alice")) == [
            "Alice keeps bees on the roof.",
            "Alice's hives: three.",
        ]
        metrics = api.http.get("/metrics").text
        assert "gateway_memory_store_restarts_total 1.0" in metrics
        ready = api.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        api.close()
    assert eventually(lambda: not children_on(store_path))
    # Both writes reached the disk: the one before the kill and the one after the restart.
    reader = ChromaBackend(path=store_path)
    stored = sorted(r.document for r in reader.fetch(Scope("acme", "alice")))
    reader.close()
    assert stored == ["Alice keeps bees on the roof.", "Alice's hives: three."]


def test_runs_in_gateway_starts_no_child(tmp_path: Path) -> None:
    config = memory_config(tmp_path, memory={"store": {"runs_in": "gateway"}})
    with gateway_in_thread(config):
        assert children_on(config.memory.store.path) == []


def test_runs_in_takes_only_the_two_places() -> None:
    with pytest.raises(ConfigError, match=r"memory\.store\.runs_in"):
        parse_config("memory: {store: {runs_in: thread}}", {})
