"""Sessions from live traffic, through HTTP with the official OpenAI SDK: the memories learned
from one conversation carry one session (and so form one thread in the index), those of two
conversations two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.learning.helpers import CHAT_REPLY, USER, learning_yaml, memories, wait_until
from tests.support.gateway import start_gateway
from tests.support.memory import sdk
from tests.support.mock_upstream import RunningMock


def say(client: openai.OpenAI, messages: list[dict[str, Any]], **options: Any) -> None:
    headers = {"X-User-Id": USER, **options.pop("extra_headers", {})}
    client.chat.completions.create(
        model="chat",
        messages=messages,  # type: ignore[arg-type]  # plain dicts, as a client sends them
        extra_headers=headers,
        extra_body={"mock": CHAT_REPLY},
        **options,
    )


def sessions_by_content(gateway: Any, count: int) -> dict[str, tuple[str, int]]:
    found = wait_until(lambda: len(memories(gateway)) >= count and memories(gateway))
    return {m["content"]: (m["metadata"]["session"], m["metadata"]["turn"]) for m in found}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def test_the_header_and_the_body_metadata_name_the_session(
    tmp_path: Path, scripted: RunningMock
) -> None:
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, mode="turns")) as gateway:
        client = sdk(gateway)
        say(client, [user("I ran the Porto half marathon.")], extra_headers={"X-Session-Id": "a"})
        say(client, [user("My time was 1 hour 52.")], extra_headers={"X-Session-Id": "a"})
        say(client, [user("I keep bees in Lisbon.")], metadata={"session_id": "b"})
        found = sessions_by_content(gateway, 3)
    assert found == {
        "I ran the Porto half marathon.": ("a", 0),
        "My time was 1 hour 52.": ("a", 0),
        "I keep bees in Lisbon.": ("b", 0),
    }


def test_without_a_session_id_the_conversations_opening_names_it(
    tmp_path: Path, scripted: RunningMock
) -> None:
    system = {"role": "system", "content": "You are a running coach."}
    opening = user("I ran the Porto half marathon.")
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, mode="turns")) as gateway:
        client = sdk(gateway)
        say(client, [system, opening])
        reply = {"role": "assistant", "content": "How did it go?"}
        say(client, [system, opening, reply, user("My time was 1 hour 52.")])
        say(client, [system, user("I keep bees in Lisbon.")])  # another conversation
        found = sessions_by_content(gateway, 3)
    marathon, _ = found["I ran the Porto half marathon."]
    assert found["My time was 1 hour 52."] == (marathon, 3)  # three messages came before it
    assert found["I keep bees in Lisbon."][0] != marathon


def test_an_invalid_session_header_is_a_400_naming_it(
    tmp_path: Path, scripted: RunningMock
) -> None:
    config = learning_yaml(tmp_path, scripted.base_url, mode="turns")
    with start_gateway(config) as gateway, pytest.raises(openai.BadRequestError) as caught:
        say(sdk(gateway), [user("Hello")], extra_headers={"X-Session-Id": "x" * 257})
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "X-Session-Id"
    assert "X-Session-Id" in error["message"]
