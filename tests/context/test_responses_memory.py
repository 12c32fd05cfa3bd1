"""``POST /v1/responses`` with memory: the official openai SDK against a real gateway (real
embeddings, real embedded Chroma) in front of the mock provider's Responses API.

Memories go into ``instructions``, after any text already there, within the same budget and
with the same safety rules as chat; the ``X-Memory-*`` headers come back, plain and streamed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import openai
import orjson
import pytest

from gateway.config import DEFAULT_TEMPLATE
from tests.support.gateway import KEY, RunningGateway
from tests.support.memory import MemoryClient, sdk
from tests.support.mock_upstream import RunningMock

INTRO = DEFAULT_TEMPLATE.split("\n")[1]
NOW = datetime.now(UTC).date()
BLOCK = "\n".join(
    [
        "<memory>",
        INTRO,
        "## fact",
        f"### {NOW.year}",
        f"#### {NOW.day} {NOW.strftime('%B')}",
        "- Prefers metric units.",
        "</memory>",
    ]
)
QUESTION = "Which units do I prefer?"


@pytest.fixture(scope="module")
def client(memory_gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with sdk(memory_gateway) as running:
        yield running


@pytest.fixture(scope="module")
def metric_user(memory_gateway: RunningGateway) -> str:
    """A user with one memory, which any question about units recalls."""
    user = f"responses-{uuid.uuid4().hex[:8]}"
    api = MemoryClient(memory_gateway)
    api.add(user, "Prefers metric units.")
    api.close()
    return user


def sent_instructions(mock: RunningMock) -> object:
    [received] = mock.state.requests
    assert received.path == "/v1/responses"
    return received.body.get("instructions")


def test_a_memory_is_recalled_into_the_instructions(
    client: openai.OpenAI, mock: RunningMock, metric_user: str
) -> None:
    raw = client.responses.with_raw_response.create(
        model="fouro",
        input=QUESTION,
        instructions="Answer briefly.",
        extra_headers={"X-User-Id": metric_user},
    )
    assert raw.parse().output_text == "Hello from the mock."
    assert raw.headers["x-memory-status"] == "ok"
    assert raw.headers["x-memory-items"] == "1"
    assert int(raw.headers["x-memory-tokens"]) > 0
    assert sent_instructions(mock) == f"Answer briefly.\n\n{BLOCK}"
    # Nothing else in the body changed.
    assert mock.state.requests[0].body["input"] == QUESTION


def test_a_stream_recalls_the_memory_and_carries_the_headers(
    client: openai.OpenAI, mock: RunningMock, metric_user: str
) -> None:
    with client.responses.with_streaming_response.create(
        model="fouro",
        input=[{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        stream=True,
        extra_headers={"X-User-Id": metric_user},
    ) as raw:
        assert raw.headers["x-memory-status"] == "ok"
        events = list(raw.parse())
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello from the mock."
    assert events[-1].type == "response.completed"
    assert sent_instructions(mock) == BLOCK


@pytest.mark.parametrize("field", ["user", "safety_identifier"])
def test_the_body_names_the_user_without_a_header(
    client: openai.OpenAI, mock: RunningMock, metric_user: str, field: str
) -> None:
    client.responses.create(model="fouro", input=QUESTION, extra_body={field: metric_user})
    assert sent_instructions(mock) == BLOCK


def test_the_echo_model_shows_the_block_it_was_sent(
    client: openai.OpenAI, metric_user: str
) -> None:
    response = client.responses.create(
        model="echo", input=QUESTION, extra_headers={"X-User-Id": metric_user}
    )
    assert orjson.loads(response.output_text) == {"instructions": BLOCK, "input": QUESTION}


def test_no_user_and_memory_off_leave_the_body_untouched(
    memory_gateway: RunningGateway, mock: RunningMock, metric_user: str
) -> None:
    body = {"model": "fouro", "input": QUESTION, "instructions": "Be brief."}
    for headers, status in (
        ({}, "no-user"),
        ({"X-User-Id": metric_user, "X-Memory": "off"}, "off"),
    ):
        mock.state.requests.clear()
        response = httpx.post(
            f"{memory_gateway.base_url}/responses",
            json=body,
            headers={"Authorization": f"Bearer {KEY}", **headers},
        )
        assert response.status_code == 200
        assert response.headers["x-memory-status"] == status
        assert mock.state.requests[0].body == {**body, "model": "gpt-4o-mini"}


def test_the_budget_header_is_honoured(
    client: openai.OpenAI, mock: RunningMock, metric_user: str
) -> None:
    raw = client.responses.with_raw_response.create(
        model="fouro",
        input=QUESTION,
        extra_headers={"X-User-Id": metric_user, "X-Context-Budget": "3"},
    )
    assert raw.headers["x-memory-items"] == "0"
    assert "instructions" not in mock.state.requests[0].body
