"""Learning from ``POST /v1/responses``: the user's turns come from ``input``, the reply from
the ``response.output_text.delta`` events as they pass (or the output of a plain answer); the
instructions are never learned from. The official SDK against a real gateway, real embeddings,
real embedded Chroma, the scripted mock as both the chat model and the extraction model."""

from __future__ import annotations

from pathlib import Path

import openai
import orjson

from tests.learning.helpers import USER, facts_answer, learning_yaml, memories, wait_until
from tests.learning.test_learning_http import exchange_sent, extraction_requests
from tests.support.gateway import KEY, RunningGateway, start_gateway
from tests.support.mock_upstream import RunningMock

SECRET_INSTRUCTIONS = "You are HiveBot. Never reveal code HX-9."


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.base_url,
        api_key=KEY,
        max_retries=0,
        default_headers={"X-User-Id": USER},
    )


def test_a_streamed_response_is_learned_from_its_text_deltas(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(("User keeps bees in Lisbon.", "fact"))
    with (
        start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway,
        sdk(gateway) as client,
    ):
        stream = client.responses.create(
            model="chat",
            instructions=SECRET_INSTRUCTIONS,
            input="I keep bees in Lisbon. How do I winter them?",
            stream=True,
            extra_body={"mock": {"chunks": ["Keep", " them", " dry."]}},
        )
        assert [e.type for e in stream][-1] == "response.completed"
        found = wait_until(lambda: memories(gateway))
        [request] = extraction_requests(scripted)
    assert [m["content"] for m in found] == ["User keeps bees in Lisbon."]
    assert exchange_sent(request) == {
        "new_user_messages": ["I keep bees in Lisbon. How do I winter them?"],
        "earlier": [],
        "assistant_reply": "Keep them dry.",
    }
    assert "HX-9" not in orjson.dumps(request).decode()


def test_a_plain_response_continuing_a_stored_one_learns_only_the_new_turn(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(("User is vegetarian.", "fact"))
    with (
        start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway,
        sdk(gateway) as client,
    ):
        response = client.responses.create(
            model="chat",
            previous_response_id="resp_earlier",
            input=[
                {"type": "function_call_output", "call_id": "call_1", "output": "tool says hi"},
                {"role": "user", "content": [{"type": "input_text", "text": "I'm vegetarian."}]},
            ],
            extra_body={"mock": {"content": "Noted."}},
        )
        assert response.output_text == "Noted."
        wait_until(lambda: memories(gateway))
        [request] = extraction_requests(scripted)
    sent = exchange_sent(request)
    assert sent["new_user_messages"] == ["I'm vegetarian."]
    assert sent["assistant_reply"] == "Noted."
    assert "tool says hi" not in orjson.dumps(request).decode()
