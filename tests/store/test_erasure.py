"""Erasure leaves no trace (issue 16, breach 2): after ``DELETE /v1/users/{id}/memories`` no
file under the state directory or the store's path holds the user's words, even when the
gateway is killed with SIGKILL the moment the erase has answered."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.config import parse_config
from tests.support.gateway import KEY, free_port, gateway_in_thread, spawn_gateway
from tests.support.memory import MODEL_DIR

#: Words no tokenizer, scrubber or model would make up: if they are on disk, the user put them.
ALICE_MARKER = b"Vexmorandil"
BOB_MARKER = b"Trellquorith"


def erasure_yaml(tmp_path: Path, runs_in: str = "child") -> str:
    """A store under ``tmp_path`` (a child, or inside the gateway), snapshots written at once,
    and learning of the users' own turns, so the words pass through every place the gateway
    keeps them."""
    config: dict[str, Any] = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {
            "store": {
                "path": str(tmp_path / "chroma"),
                "state_dir": str(tmp_path / "state"),
                "runs_in": runs_in,
            },
            "embedding": {"model_dir": str(MODEL_DIR)},
            "cache": {"snapshot_interval_s": 0.1},
            "retrieval": {"timeout_ms": 2000},
        },
        "extraction": {"mode": "turns", "poll_interval_s": 0.1, "busy_share": 1.0},
    }
    return yaml.safe_dump(config)


def files_holding(marker: bytes, *folders: Path) -> list[str]:
    """Every file under ``folders`` (WAL, journal and shared-memory files included) whose
    bytes hold ``marker``."""
    return sorted(
        str(path)
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file() and marker in path.read_bytes()
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


class Users:
    """The memory API and chat of one gateway, as its applications use them."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        )

    def remember(self, user: str, text: str) -> None:
        reply = self.http.post(f"/v1/users/{user}/memories", json={"content": text})
        assert reply.status_code == 201, reply.text

    def say(self, user: str, text: str) -> str:
        body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        reply = self.http.post("/v1/chat/completions", json=body, headers={"X-User-Id": user})
        assert reply.status_code == 200, reply.text
        content: str = reply.json()["choices"][0]["message"]["content"]
        return content

    def contents(self, user: str) -> list[str]:
        reply = self.http.get(f"/v1/users/{user}/memories", params={"status": "all"})
        assert reply.status_code == 200, reply.text
        return [m["content"] for m in reply.json()["data"]]

    def erase(self, user: str) -> None:
        reply = self.http.delete(f"/v1/users/{user}/memories")
        assert reply.status_code == 200, reply.text


def spread_everywhere(users: Users, folders: tuple[Path, Path]) -> None:
    """Alice's and Bob's words in the store, the journal, the snapshots and the caches."""
    for user, name in (("alice", "Vexmorandil"), ("bob", "Trellquorith")):
        users.remember(user, f"{user.title()}'s cat is called {name}.")
        users.say(user, f"Remember that my boat is also named {name}, please.")
    # The learned turn is stored, recalled into a prompt (token counts) and snapshotted.
    wait_for(lambda: len(users.contents("alice")) == 2 and len(users.contents("bob")) == 2)
    assert "Vexmorandil" in users.say("alice", "What is my cat called?")
    wait_for(lambda: any("snapshots" in f for f in files_holding(ALICE_MARKER, *folders)))
    # The search below can fail: before the erase the words are on disk.
    assert files_holding(ALICE_MARKER, *folders)


@pytest.mark.parametrize("runs_in", ["child", "gateway"])
def test_an_erased_user_leaves_no_words_on_disk(tmp_path: Path, runs_in: str) -> None:
    folders = (tmp_path / "state", tmp_path / "chroma")
    with gateway_in_thread(parse_config(erasure_yaml(tmp_path, runs_in), {})) as gateway:
        users = Users(gateway.url)
        spread_everywhere(users, folders)
        users.erase("alice")
        assert files_holding(ALICE_MARKER, *folders) == []
        assert users.contents("alice") == []
        assert "Vexmorandil" not in users.say("alice", "What is my cat called?")
        # Only Alice's words went: Bob's are still stored, and still found by the search.
        assert files_holding(BOB_MARKER, *folders)
        assert len(users.contents("bob")) == 2
        users.http.close()
    assert files_holding(ALICE_MARKER, *folders) == []


@pytest.mark.slow
def test_an_erase_holds_after_kill_9(tmp_path: Path) -> None:
    folders = (tmp_path / "state", tmp_path / "chroma")
    config = tmp_path / "gateway.yaml"
    config.write_text(erasure_yaml(tmp_path))
    gateway = spawn_gateway(config, port=free_port())
    try:
        users = Users(gateway.url)
        spread_everywhere(users, folders)
        users.erase("alice")
        gateway.process.send_signal(signal.SIGKILL)
        assert gateway.process.wait(timeout=10) == -signal.SIGKILL
        users.http.close()
    finally:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait(timeout=10)
    assert files_holding(ALICE_MARKER, *folders) == []
    assert files_holding(BOB_MARKER, *folders)
