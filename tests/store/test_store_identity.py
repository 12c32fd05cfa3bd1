"""The store has an identity (issue 16, breach 5): a state directory recorded for another store,
or for a store since wiped, is discarded at start with a warning, never served."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewayConfig
from tests.support.gateway import gateway_in_thread
from tests.support.memory import MemoryClient, echo_chat, memory_block, memory_config, sdk

WARNING = "the state directory was recorded for another memory store"


def config(tmp_path: Path, store: str, state: str) -> GatewayConfig:
    """A gateway whose store is ``tmp_path/store`` and whose state directory ``tmp_path/state``;
    snapshots are written at once."""
    settings: dict[str, Any] = {
        "store": {"path": str(tmp_path / store), "state_dir": str(tmp_path / state)},
        "cache": {"snapshot_interval_s": 0.1},
    }
    return memory_config(tmp_path, memory=settings)


def remember(settings: GatewayConfig, text: str) -> None:
    """Store one memory for alice, and wait until her snapshot is on disk."""
    snapshots = settings.memory.store.state_dir / "snapshots"
    with gateway_in_thread(settings) as gateway:
        api = MemoryClient(gateway)
        api.add("alice", text)
        deadline = time.monotonic() + 10
        while not list(snapshots.glob("*/*.snap")):
            assert time.monotonic() < deadline, "no snapshot written"
            time.sleep(0.05)
        api.close()


def recalled(settings: GatewayConfig) -> tuple[list[str], str]:
    """What a restarted gateway lists for alice, and the memory block it injects for her."""
    with gateway_in_thread(settings) as gateway:
        api = MemoryClient(gateway)
        listed = api.contents("alice")
        assert [m["content"] for m in api.export("alice")["memories"]] == listed
        messages, _ = echo_chat(
            sdk(gateway), [{"role": "user", "content": "What do I keep?"}], user_id="alice"
        )
        api.close()
    return listed, memory_block(messages)


def test_a_wiped_store_is_not_served_from_the_old_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remember(config(tmp_path, "chroma", "state"), "Alice keeps bees on the roof.")
    shutil.rmtree(tmp_path / "chroma")  # a fresh, empty store under the old state directory
    caplog.set_level(logging.WARNING, logger="gateway.store.store")

    listed, block = recalled(config(tmp_path, "chroma", "state"))

    assert listed == [] and block == ""
    assert WARNING in caplog.text
    assert "alice" not in caplog.text.lower()


def test_the_state_of_another_store_is_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Both stores hold one write for alice: her generation counters agree, so only the
    # store's identity tells the snapshot of the first from the contents of the second.
    remember(config(tmp_path, "store-a", "state-a"), "Alice keeps bees on the roof.")
    remember(config(tmp_path, "store-b", "state-b"), "Alice keeps goats in the yard.")
    caplog.set_level(logging.WARNING, logger="gateway.store.store")

    listed, block = recalled(config(tmp_path, "store-b", "state-a"))

    assert listed == ["Alice keeps goats in the yard."]
    assert "goats" in block and "bees" not in block
    assert WARNING in caplog.text


def test_the_state_of_the_same_store_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remember(config(tmp_path, "chroma", "state"), "Alice keeps bees on the roof.")
    caplog.set_level(logging.WARNING, logger="gateway.store.store")

    listed, block = recalled(config(tmp_path, "chroma", "state"))

    assert listed == ["Alice keeps bees on the roof."] and "bees" in block
    assert WARNING not in caplog.text
    assert list((tmp_path / "state" / "snapshots").glob("*/*.snap"))
