"""The official openai Node SDK's ``responses.create``, plain and streamed, against a real
gateway with memory on: the echo model shows the memory recalled into ``instructions``, the mock
provider's Responses API is relayed event by event.

``scripts/node-sdk`` installs the SDK from the npm registry into ``tests/node`` (the version
``package-lock.json`` pins); only a machine without node skips these checks.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest

from tests.support.gateway import KEY, RunningGateway
from tests.support.memory import MemoryClient
from tests.support.mock_upstream import RunningMock

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
QUESTION = "Which units do I prefer?"
EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 4,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed: the Node SDK checks need it")
    subprocess.run([str(REPO_ROOT / "scripts" / "node-sdk")], check=True, timeout=300)
    return path


def test_responses_create_with_a_memory_recalled(
    node: str, memory_gateway: RunningGateway, mock: RunningMock
) -> None:
    user = f"node-{uuid.uuid4().hex[:8]}"
    api = MemoryClient(memory_gateway)
    api.add(user, "Prefers metric units.")
    api.close()
    run = subprocess.run(
        [node, "responses.mjs", memory_gateway.base_url, KEY, user, QUESTION, "echo", "fouro"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    seen = orjson.loads(run.stdout)
    for way in ("plain", "stream"):
        sent = orjson.loads(seen["echo"][way]["text"])
        assert sent["input"] == QUESTION
        assert "- Prefers metric units." in sent["instructions"]
        assert sent["instructions"].startswith("<memory>")
    assert seen["echo"]["plain"]["memory"] == "ok"
    assert seen["fouro"]["plain"] == {"text": "Hello from the mock.", "memory": "ok"}
    assert seen["fouro"]["stream"] == {"text": "Hello from the mock.", "types": EVENTS}
    instructions = [r.body["instructions"] for r in mock.state.requests]
    assert len(instructions) == 2
    assert all("- Prefers metric units." in text for text in instructions)
