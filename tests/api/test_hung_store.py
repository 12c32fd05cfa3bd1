"""A hung store does not hang the memory API (issue 16, breach 4): with the store child stopped
(SIGSTOP), every call past ``memory.api.timeout_s`` answers 503 ``store_unavailable`` in the
OpenAI shape, and once the store is back the API works again (no lock is left held)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.config import ConfigError
from tests.store.test_child import children_on, eventually
from tests.support.gateway import gateway_in_thread
from tests.support.memory import MemoryClient, memory_config

TIMEOUT_S = 1.0


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def assert_store_unavailable(reply: httpx.Response, elapsed_s: float) -> None:
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert (error["type"], error["code"]) == ("service_unavailable", "store_unavailable")
    assert f"{TIMEOUT_S:g} s" in error["message"]
    # The deadline, plus what a loaded two-core machine adds; far below the 60 s hang kill.
    assert TIMEOUT_S <= elapsed_s < TIMEOUT_S + 3, elapsed_s


def test_a_hung_store_answers_503_within_the_deadline(tmp_path: Path) -> None:
    config = memory_config(tmp_path, memory={"api": {"timeout_s": TIMEOUT_S}})
    with gateway_in_thread(config) as gateway:
        api = MemoryClient(gateway)
        api.add("alice", "Alice keeps bees on the roof.")
        [child] = children_on(config.memory.store.path)
        with stopped(child):
            started = time.monotonic()
            reply = api.http.post(api.path("bob"), json={"content": "Bob sails on Sundays."})
            assert_store_unavailable(reply, time.monotonic() - started)

            started = time.monotonic()
            reply = api.http.get(api.path("carol"))  # not in process memory: needs the store
            assert_store_unavailable(reply, time.monotonic() - started)

            # A user already in process memory is still served from it.
            assert api.contents("alice") == ["Alice keeps bees on the roof."]

        def writes_again() -> bool:
            reply = api.http.post(api.path("bob"), json={"content": "Bob sails on Sundays."})
            return reply.status_code == 201

        # Back: the abandoned calls released Bob's lock, and his write goes through once.
        assert eventually(writes_again, timeout_s=30)
        assert api.contents("bob") == ["Bob sails on Sundays."]
        api.close()


def test_a_full_batch_is_embedded_before_the_deadline_starts(tmp_path: Path) -> None:
    # Embedding 1,000 memories takes well over a second of CPU; only the store's answer is waited
    # for, so a deadline shorter than the embedding still lets the batch through.
    config = memory_config(tmp_path, memory={"api": {"timeout_s": 1.0}})
    with gateway_in_thread(config) as gateway:
        api = MemoryClient(gateway)
        items = [{"content": f"Note {n}: Alice's hive {n} faces south."} for n in range(1000)]
        started = time.monotonic()
        assert len(api.add_many("alice", items)) == 1000
        took = time.monotonic() - started
        api.close()
    assert took > 1.0, f"the batch took {took:.1f} s: too fast to show anything"


def test_the_deadline_is_a_positive_number_of_seconds(tmp_path: Path) -> None:
    assert memory_config(tmp_path).memory.api.timeout_s == 5.0
    with pytest.raises(ConfigError, match=r"memory\.api\.timeout_s"):
        memory_config(tmp_path, memory={"api": {"timeout_s": 0}})
