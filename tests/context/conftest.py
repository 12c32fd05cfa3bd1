"""Clients of the shared memory gateway, one of each per test module."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support.gateway import RunningGateway
from tests.support.memory import MemoryClient, sdk


@pytest.fixture(scope="module")
def api(memory_gateway: RunningGateway) -> Iterator[MemoryClient]:
    client = MemoryClient(memory_gateway)
    yield client
    client.close()


@pytest.fixture(scope="module")
def chat(memory_gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    client = sdk(memory_gateway)
    yield client
    client.close()
