"""The tenant's own context from ``tenants.<tenant>.context``: compliance first, for that tenant only.

The shared gateways give tenant ``globex`` (key ``OTHER_KEY``) a context; ``acme`` has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import openai
import pytest

from gateway.config import DEFAULT_TEMPLATE
from gateway.tokens import get_encoding
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway
from tests.support.memory import GLOBEX_CONTEXT, MemoryClient, echo_chat, memory_block, sdk

RULES = [f"- {rule}" for rule in GLOBEX_CONTEXT["compliance"]]
PROFILE = "- Organization: Globex Corporation; Industry: logistics; Preferred tone: formal"
TERMS = "- Terminology: TEU = twenty-foot equivalent unit"
INTRO = DEFAULT_TEMPLATE.split("\n")[1]
QUESTION = [
    {"role": "user", "content": "Help me draft the customs declaration for my Rotterdam TEU."}
]


@pytest.fixture(scope="module")
def globex(memory_gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    client = sdk(memory_gateway, OTHER_KEY)
    yield client
    client.close()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def lines(block: str) -> list[str]:
    """The block's lines between the intro and the closing tag."""
    all_lines = block.split("\n")
    assert all_lines[:2] == ["<memory>", INTRO] and all_lines[-1] == "</memory>"
    return all_lines[2:-1]


def test_compliance_rules_come_first_one_line_each(
    memory_gateway: RunningGateway, globex: openai.OpenAI
) -> None:
    user = unique("globex-user")
    api = MemoryClient(memory_gateway, OTHER_KEY)
    api.add_many(
        user,
        [
            {
                "content": "Is drafting a customs declaration for Rotterdam today.",
                "category": "session",
            },
            {"content": "Prefers short answers about customs.", "category": "preference"},
            {"content": "Ships TEU containers from Rotterdam weekly.", "category": "fact"},
        ],
    )
    api.close()
    received, headers = echo_chat(globex, QUESTION, user_id=user)
    body = lines(memory_block(received))
    assert body[: 1 + len(RULES)] == ["## compliance", *RULES]
    headings = [line for line in body if line.startswith("## ")]
    assert headings == [
        "## compliance",
        "## session",
        "## organization",
        "## preference",
        "## fact",
    ]
    organization = body.index("## organization")
    assert body[organization + 1 : organization + 3] == [PROFILE, TERMS]
    assert headers["x-memory-status"] == "ok"
    assert headers["x-memory-items"] == str(len(RULES) + 2 + 3)


def test_the_context_applies_to_a_user_without_memories(globex: openai.OpenAI) -> None:
    received, headers = echo_chat(globex, QUESTION, user_id=unique("fresh"))
    assert lines(memory_block(received)) == [
        "## compliance",
        *RULES,
        "## organization",
        PROFILE,
        TERMS,
    ]
    # The status speaks of the user's memories; the tenant's context is counted in the items.
    assert headers["x-memory-status"] == "empty"
    assert headers["x-memory-items"] == str(len(RULES) + 2)


def test_another_tenant_never_sees_the_context(memory_gateway: RunningGateway) -> None:
    user = unique("acme-user")
    api = MemoryClient(memory_gateway, KEY)
    api.add(user, "Ships TEU containers from Rotterdam weekly.")
    api.close()
    with sdk(memory_gateway, KEY) as acme:
        received, _ = echo_chat(acme, QUESTION, user_id=user)
    block = memory_block(received)
    assert "Ships TEU containers from Rotterdam weekly." in block
    assert "## compliance" not in block and "## organization" not in block
    assert "Globex" not in block
    for rule in GLOBEX_CONTEXT["compliance"]:
        assert rule not in block


def test_a_tight_budget_keeps_the_first_rules_and_nothing_else(
    memory_gateway: RunningGateway, globex: openai.OpenAI
) -> None:
    user = unique("tight")
    api = MemoryClient(memory_gateway, OTHER_KEY)
    api.add(user, "Prefers short answers about customs.", category="preference")
    api.close()
    two_rules = "\n".join(["<memory>", INTRO, "## compliance", *RULES[:2], "</memory>"])
    # Room for two rules and a few tokens more: less than any other item needs.
    budget = len(get_encoding("cl100k_base").encode(two_rules)) + 4
    received, headers = echo_chat(
        globex, QUESTION, user_id=user, headers={"X-Context-Budget": str(budget)}
    )
    assert memory_block(received) == two_rules
    assert headers["x-memory-items"] == "2"
    assert int(headers["x-memory-tokens"]) <= budget


@pytest.mark.parametrize("headers", [{}, {"X-Memory": "off"}])
def test_no_user_or_memory_off_leaves_the_request_untouched(
    globex: openai.OpenAI, headers: dict[str, str]
) -> None:
    # As specified: without a user, or with memory off, nothing is added, context included.
    user = None if not headers else unique("off")
    received, got = echo_chat(globex, QUESTION, user_id=user, headers=headers)
    assert received == QUESTION
    assert got["x-memory-status"] == ("no-user" if not headers else "off")
