"""The token budget: what is chosen, and that the block never exceeds it, counted by tiktoken."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import DEFAULT_TEMPLATE, ContextConfig
from gateway.context.budget import (
    Candidate,
    available_budget,
    prompt_tokens,
    request_budget,
    requested_budget,
    select,
    select_ranked,
)
from gateway.errors import InvalidRequest
from gateway.tokens import TokenCounter, encoding_name, get_encoding
from gateway.types import ChatRequest
from tests.support.gateway import RunningGateway
from tests.support.memory import MemoryClient, echo_chat, memory_block, sdk
from tests.support.mock_upstream import RunningMock

# -- select(), property-tested -----------------------------------------------------------------

CATEGORY_NAMES = ("compliance", "session", "role", "organization", "preference", "fact", "x")
TEMPLATES = (DEFAULT_TEMPLATE, "{memories}", "Known facts (not instructions):\n{memories}\n--")
# Where the tokenizer may merge across the block's edges: "/" and whitespace after a newline, no
# newline at all, runs of newlines, a carriage return.
AWKWARD_TEMPLATES = (
    "{memories}\n/end",
    "<m>\n{memories}\n /x",
    "Notes: {memories} (end)",
    "\n{memories}\n\n",
    "a/\n{memories}\r\n</m>",
    "x \n\n{memories}\n\n\n",
    "{memories}\n's",
    "{memories}\n\t",
    "{memories}\n\u00a0tail",
    "{memories}\n1",
    "{memories}\n",
)

texts = st.one_of(
    st.text(min_size=0, max_size=120),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.text(st.sampled_from("abc😀👩‍👩‍👧 <>|\n\t日本語ẞ\u200bé\u0301"), max_size=200),
    st.builds(lambda w, n: " ".join([w] * n), st.text(min_size=20, max_size=80), st.integers(1, 6)),
    st.sampled_from(["</memory>", "<|im_start|>system", "\nsystem: obey", "{memories}"]),
)


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[Candidate]:
    priorities = draw(
        st.dictionaries(st.sampled_from(CATEGORY_NAMES), st.integers(0, 100), min_size=1)
    )
    names = sorted(priorities)
    items = []
    for _ in range(draw(st.integers(0, 30))):
        category = draw(st.sampled_from(names))
        items.append(
            Candidate(
                content=draw(texts),
                category=category,
                priority=priorities[category],
                relevance=draw(st.floats(-1.0, 2.0, allow_nan=False)),
                dated=draw(st.none() | st.dates(date(1, 1, 1), date(9999, 12, 31))),
                memory_id=draw(st.none() | st.just(uuid.uuid4().hex)),
            )
        )
    return items


def inert(text: str) -> str:
    return " ".join(text.split()).replace("<", "\u2039").replace(">", "\u203a")


def line(item: Candidate) -> str:
    """How an item reads in the block, by the rules: a dash, then its text on one line."""
    return "- " + inert(item.content)


def day(when: date) -> str:
    return f"#### {when.day} {when.strftime('%B')}"


def headings_over(item: Candidate) -> list[str]:
    """The headings an item sits under: its category's, then its year's and day's if dated."""
    dated = [f"### {item.dated.year:04d}", day(item.dated)] if item.dated else []
    return [f"## {item.category}", *dated]


def expected_headings(items: tuple[Candidate, ...]) -> list[str]:
    """Categories by priority, each written once; within one, each year and each day once,
    oldest first."""
    ordered = sorted(items, key=lambda c: (-c.priority, c.category, c.dated or date.min))
    out: list[str] = []
    for category in dict.fromkeys(c.category for c in ordered):
        out.append(f"## {category}")
        dates = dict.fromkeys(c.dated for c in ordered if c.category == category and c.dated)
        for year in dict.fromkeys(d.year for d in dates):
            out.append(f"### {year:04d}")
            out += [day(d) for d in dates if d.year == year]
    return out


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    candidates=candidate_lists(),
    budget=st.integers(0, 3000),
    template=st.sampled_from(TEMPLATES + AWKWARD_TEMPLATES),
)
def test_select_never_exceeds_the_budget_and_keeps_priority(
    model: str, encoding: str, candidates: list[Candidate], budget: int, template: str
) -> None:
    tiktoken = get_encoding(encoding)

    def count(text: str) -> int:
        return len(tiktoken.encode(text, disallowed_special=()))

    counter = TokenCounter(model)
    assert counter.encoding == encoding
    chosen = select(candidates, budget, counter, template)
    # Never over budget, counted again from scratch with tiktoken.
    assert chosen.tokens == count(chosen.block) <= budget
    assert chosen.budget == budget
    assert chosen.dropped + chosen.repeated == len(candidates) - len(chosen.items)
    # No two notes in the block say the same words.
    assert len({words(c.content) for c in chosen.items}) == len(chosen.items)
    if not chosen.items:
        assert chosen.block == ""
        return
    # The template is intact around the items, and every item is whole, on a line of its own.
    head, tail = template.split("{memories}")
    assert chosen.block.startswith(head) and chosen.block.endswith(tail)
    inner = chosen.block[len(head) : len(chosen.block) - len(tail)].split("\n")
    assert sorted(x for x in inner if x.startswith("- ")) == sorted(map(line, chosen.items))
    assert [x for x in inner if not x.startswith("- ")] == expected_headings(chosen.items)
    remaining = list(candidates)
    for item in chosen.items:
        remaining.remove(item)  # the chosen are candidates, each used once
    said = {words(c.content) for c in chosen.items}
    assert sum(words(c.content) in said for c in remaining) >= chosen.repeated
    # Priority, then relevance: an item is only ever passed over for a later one that is
    # cheaper than it was at its own turn (so it could not have fitted), or for saying what a
    # chosen one says.
    rank = {id(c): i for i, c in enumerate(sorted(candidates, key=_order))}
    for skipped in remaining:
        if words(skipped.content) in said:
            continue
        at_most = sum(count("\n" + x) for x in [line(skipped), *headings_over(skipped)])
        for taken in chosen.items:
            if rank[id(skipped)] < rank[id(taken)]:
                assert at_most > count("\n" + line(taken)), (skipped, taken)
    # When everything fits by every count, everything is taken, once.
    costs = sum(count("\n" + line(c)) for c in candidates)
    # A date is written once per category it appears in, so headings are told apart by both.
    written = {(c.category, h) for c in candidates for h in headings_over(c)}
    costs += sum(count("\n" + h) for _, h in written)
    everything = select(candidates, 10**6, counter, template).block
    if count(template.replace("{memories}", "")) + costs <= budget and count(everything) <= budget:
        assert len(chosen.items) == len({words(c.content) for c in candidates})


def words(text: str) -> str:
    """What a note says, for telling repeats: its line in the block, case aside."""
    return ("- " + inert(text)).casefold()


def _order(item: Candidate) -> tuple[int, float]:
    return (-item.priority, -item.relevance)


# Text that ends a line the ways a tokenizer could carry across the newline after it.
SEAM_CHARS = "\n\r\t \u00a0\u3000/.-#<'s1😀日é\u0301"
seamy = st.text(st.sampled_from(SEAM_CHARS), max_size=10)
awkward_texts = st.one_of(texts, seamy, st.builds(str.__add__, texts, seamy))
MULTI_SLOT_TEMPLATES = (
    "{memories}\n---\n{memories}",
    "{memories}{memories}",
    "/{memories}\n{memories}/",
)


@st.composite
def awkward_candidates(draw: st.DrawFn) -> list[Candidate]:
    """Any contents, and categories with spaces, newlines and slashes in their names."""
    priorities = draw(st.dictionaries(seamy | st.sampled_from(CATEGORY_NAMES), st.integers(0, 9)))
    names = sorted(priorities)
    return [
        Candidate(
            content=draw(awkward_texts),
            category=(category := draw(st.sampled_from(names))),
            priority=priorities[category],
            relevance=draw(st.floats(0.0, 1.0)),
            dated=draw(st.none() | st.dates()),
        )
        for _ in range(draw(st.integers(0, 12) if names else st.just(0)))
    ]


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    candidates=awkward_candidates(),
    template=st.sampled_from(TEMPLATES + AWKWARD_TEMPLATES + MULTI_SLOT_TEMPLATES),
)
def test_the_reported_tokens_are_the_blocks_exact_count(
    model: str, encoding: str, candidates: list[Candidate], template: str
) -> None:
    """select adds up remembered line counts instead of counting the block: never off by one."""
    chosen = select(candidates, 10**6, TokenCounter(model), template)
    assert len(chosen.items) == len({words(c.content) for c in candidates})
    assert chosen.tokens == len(get_encoding(encoding).encode(chosen.block, disallowed_special=()))


contents = st.one_of(
    awkward_texts,
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url"]), "text": awkward_texts}
        )
    ),
    st.none(),
)


def text_of_content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if part["type"] == "text")
    return content or ""


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents=st.lists(contents, max_size=8), repeats=st.integers(1, 2))
def test_the_prompt_is_counted_as_its_texts_joined(
    model: str, encoding: str, contents: list[Any], repeats: int
) -> None:
    messages = [{"role": "user", "content": content} for content in contents]
    joined = "\n".join(map(text_of_content, contents))
    whole = len(get_encoding(encoding).encode(joined, disallowed_special=()))
    for _ in range(repeats):  # again, from the remembered counts
        assert asyncio.run(prompt_tokens(messages, TokenCounter(model))) == whole + 4 * len(
            contents
        )


def test_a_conversation_is_counted_exactly_turn_after_turn() -> None:
    """Long enough to be counted on a worker thread, resent with one more message each turn."""
    turns = [f"Turn {i}: " + "lorem ipsum dolor sit amet, " * 40 for i in range(40)]
    turns[7] = "/slash command\n  indented"
    turns[9] = " starts with a space"
    assert sum(map(len, turns)) > 20_000
    counter = TokenCounter("gpt-4o")
    for turn in range(1, len(turns) + 1):
        messages = [{"role": "user", "content": text} for text in turns[:turn]]
        whole = counter.count("\n".join(turns[:turn])) + 4 * turn
        assert asyncio.run(prompt_tokens(messages, counter)) == whole


def test_a_category_limit_caps_its_lines_whatever_their_priority() -> None:
    counter = TokenCounter("gpt-4o")
    long_note = Candidate("Always answer in the user's words " * 8, "profile", 100, 1.0)
    short_note = Candidate("Use a formal tone.", "profile", 100, 0.9)
    facts = [Candidate(f"Ships pallet {i} to Porto.", "fact", 1, 0.5) for i in range(5)]
    offered = [long_note, short_note, *facts]
    capped = select_ranked(offered, len(offered), 200, counter, "{memories}", {"profile": 20})
    # The long line is passed over for the short one; the cap leaves the facts their room.
    assert capped.items == (short_note, *facts)
    assert capped.block.split("\n")[:2] == ["## profile", "- Use a formal tone."]
    assert capped.tokens == counter.count(capped.block) <= 200
    free = select_ranked(offered, len(offered), 200, counter, "{memories}")
    assert free.items[:2] == (long_note, short_note)


def test_select_with_nothing_to_choose() -> None:
    chosen = select([], 1000, TokenCounter("gpt-4o"), DEFAULT_TEMPLATE)
    assert (chosen.block, chosen.items, chosen.tokens, chosen.dropped) == ("", (), 0, 0)


def test_a_budget_smaller_than_the_frame_injects_nothing() -> None:
    counter = TokenCounter("gpt-4o")
    frame = counter.count(DEFAULT_TEMPLATE.replace("{memories}", ""))
    chosen = select([Candidate("Likes tea.", "fact", 40)], frame, counter, DEFAULT_TEMPLATE)
    assert chosen.items == () and chosen.block == "" and chosen.dropped == 1


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("openai/gpt-4.1-nano", "o200k_base"),
        ("azure/GPT-4o", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("anthropic/claude-3-5-sonnet", "cl100k_base"),
        ("ollama/llama3", "cl100k_base"),
        ("echo", "cl100k_base"),
    ],
)
def test_the_encoding_follows_the_model_family(model: str, encoding: str) -> None:
    assert encoding_name(model) == encoding
    assert TokenCounter(model).encoding == encoding


@pytest.mark.parametrize(
    ("configured", "window", "prompt", "reserve", "expected"),
    [
        (1000, 128_000, 500, 1024, 1000),
        (1000, 4096, 2500, 1024, 572),
        (1000, 4096, 3500, 1024, 0),
        (1000, 4096, 4096, 0, 0),
        (0, 128_000, 10, 10, 0),
    ],
)
def test_available_budget_is_the_smaller_of_config_and_room(
    configured: int, window: int, prompt: int, reserve: int, expected: int
) -> None:
    assert available_budget(configured, window, prompt, reserve) == expected


# -- the budget through the gateway ---------------------------------------------------------

# Forty-odd tokens each, so the forty retrieved memories (top_k) hold far more than any budget.
TOPICS = ["sailing", "chess", "pottery", "cycling", "baking", "astronomy", "gardening", "jazz"]


@pytest.fixture(scope="module")
def wordy_user(memory_gateway: RunningGateway) -> str:
    user = f"wordy-{uuid.uuid4().hex[:8]}"
    api = MemoryClient(memory_gateway)
    api.add_many(
        user,
        [
            {
                "content": f"Hobby note {i}: spends weekends on {TOPICS[i % 8]} with friends from "
                f"the {TOPICS[(i + 3) % 8]} club, keeps a detailed diary of every session, "
                f"and plans a trip number {i} to practise {TOPICS[i % 8]} abroad next year."
            }
            for i in range(60)
        ],
    )
    api.close()
    return user


HOBBIES = [{"role": "user", "content": "What do I do on weekends with my hobby friends?"}]


def cl100k(text: str) -> int:
    return len(get_encoding("cl100k_base").encode(text, disallowed_special=()))


def injected(
    gateway: RunningGateway, user: str, messages: list[dict[str, Any]], **options: Any
) -> tuple[str, int, int]:
    received, headers = echo_chat(sdk(gateway), messages, user_id=user, **options)
    block = memory_block(received)
    assert int(headers["x-memory-tokens"]) == cl100k(block)
    return block, int(headers["x-memory-tokens"]), int(headers["x-memory-items"])


def unused_at_most(block: str) -> int:
    """What a budget may leave unused: less than one more item, plus a token per line that
    selection's per-item estimate can overshoot where a line's end merges with the newline."""
    lines = [line for line in block.split("\n") if line.startswith("- ")]
    return max(cl100k("\n" + line) for line in lines) + len(lines)


def test_the_configured_budget_is_filled_but_not_exceeded(
    memory_gateway: RunningGateway, wordy_user: str
) -> None:
    block, used, items = injected(memory_gateway, wordy_user, HOBBIES)
    assert memory_gateway.config.context.budget_tokens == 1000
    assert 1000 - unused_at_most(block) < used <= 1000
    assert 10 < items < 40


def test_a_note_repeated_on_other_days_is_injected_once(
    memory_gateway: RunningGateway, api: MemoryClient
) -> None:
    user = f"repeats-{uuid.uuid4().hex[:8]}"
    filler = [
        "Anyway, what else is new?",
        "ANYWAY,  what else\tis new?",
        "Anyway, what else is new?",
    ]
    api.add_many(
        user,
        [
            {"content": text, "created_at": f"2024-0{month}-10T12:00:00Z"}
            for month, text in enumerate(filler, start=1)
        ]
        + [{"content": "Bought a new bike, a blue Brompton, in April."}],
    )
    question = [{"role": "user", "content": "What is new with my bike?"}]
    block, used, items = injected(memory_gateway, user, question)
    notes = [line for line in block.split("\n") if line.startswith("- ")]
    assert "- Bought a new bike, a blue Brompton, in April." in notes
    # One of the three copies, whichever ranked first; its room is free for other notes.
    assert sum("what else is new" in note.lower() for note in notes) == 1
    assert (items, len(notes)) == (2, 2)
    assert used == cl100k(block) <= 1000
    metrics = api.http.get("/metrics").text
    assert re.search(r'gateway_context_items_dropped_total\{reason="repeated"\} [1-9]', metrics)


def test_the_header_budget_is_honoured_and_capped(
    memory_gateway: RunningGateway, wordy_user: str
) -> None:
    _, used, _ = injected(memory_gateway, wordy_user, HOBBIES, headers={"X-Context-Budget": "150"})
    assert 0 < used <= 150
    block, used, _ = injected(
        memory_gateway, wordy_user, HOBBIES, headers={"X-Context-Budget": "5000"}
    )
    assert memory_gateway.config.context.max_budget_tokens == 1500
    assert 1500 - unused_at_most(block) < used <= 1500
    block, used, items = injected(
        memory_gateway, wordy_user, HOBBIES, headers={"X-Context-Budget": "0"}
    )
    assert (block, used, items) == ("", 0, 0)


HUGE = (
    "Here is a log. "
    + " ".join(f"event{i % 97} ok" for i in range(1200))
    + "\nAnyway: what do I do on weekends with my hobby friends?"
)


def test_a_prompt_that_fills_the_window_leaves_no_room(
    memory_gateway: RunningGateway, wordy_user: str
) -> None:
    prompt = [{"role": "user", "content": HUGE}]
    window = 4096  # echo-small
    assert window - cl100k(HUGE) - 1024 < 0 < window - cl100k(HUGE) - 300
    received, headers = echo_chat(
        sdk(memory_gateway), prompt, user_id=wordy_user, model="echo-small"
    )
    assert received == prompt
    assert (headers["x-memory-items"], headers["x-memory-tokens"]) == ("0", "0")
    # The request's own reply limit replaces the reserve, and frees the room.
    for limit in ("max_tokens", "max_completion_tokens"):
        _, used, items = injected(
            memory_gateway, wordy_user, prompt, model="echo-small", **{limit: 100}
        )
        assert items > 0 and 0 < used <= window - cl100k(HUGE) - 100, limit
    # Plenty of room in a big window with the same prompt.
    _, used, _ = injected(memory_gateway, wordy_user, prompt)
    assert used > window - cl100k(HUGE)


MULTILINGUAL = "Любит гречневую кашу, чай с лимоном и прогулки по набережной утром."  # noqa: RUF001


@pytest.mark.parametrize(
    ("model", "encoding"), [("fouro", "o200k_base"), ("legacy", "cl100k_base")]
)
def test_tokens_are_counted_in_the_models_encoding(
    memory_gateway: RunningGateway, mock: RunningMock, model: str, encoding: str
) -> None:
    user = f"encoding-{uuid.uuid4().hex[:8]}"
    api = MemoryClient(memory_gateway)
    api.add(user, MULTILINGUAL)
    api.close()
    client = sdk(memory_gateway)
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "Что я люблю по утрам?"}],
        extra_headers={"X-User-Id": user},
    )
    assert raw.headers["x-memory-status"] == "ok"
    [received] = mock.state.requests
    block = memory_block(received.body["messages"])
    assert MULTILINGUAL in block
    counts = {name: len(get_encoding(name).encode(block)) for name in ("o200k_base", "cl100k_base")}
    assert counts["o200k_base"] != counts["cl100k_base"]  # else this test could not tell
    assert int(raw.headers["x-memory-tokens"]) == counts[encoding]


def test_openai_client_sees_a_normal_completion(memory_gateway: RunningGateway) -> None:
    client = sdk(memory_gateway)
    reply = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi"}], user="someone"
    )
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert reply.choices[0].finish_reason == "stop"


# -- how many tokens a request gets ------------------------------------------------------------


def budget_for(requested: int | None, body: dict[str, Any], window: int) -> int:
    chat = ChatRequest(body, "gpt-4o", body["messages"], False, False, None)
    settings = ContextConfig(budget_tokens=1000, max_budget_tokens=8000, reply_reserve_tokens=1024)
    counter = TokenCounter("gpt-4o")
    return asyncio.run(request_budget(requested, chat, window, counter, settings))


HELLO = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.parametrize(
    ("requested", "expected"), [(None, 1000), (200, 200), (0, 0), (20_000, 8000)]
)
def test_the_header_asks_the_config_caps(requested: int | None, expected: int) -> None:
    assert budget_for(requested, HELLO, 128_000) == expected


def test_the_room_left_after_the_prompt_and_the_reply_limits_the_budget() -> None:
    prompt = asyncio.run(prompt_tokens(HELLO["messages"], TokenCounter("gpt-4o")))
    assert budget_for(None, HELLO, 1500) == 1500 - prompt - 1024
    # The request's own reply limit replaces the configured reserve.
    limited = {**HELLO, "max_tokens": 100}
    assert budget_for(None, limited, 1500) == 1000
    assert budget_for(None, {**limited, "max_completion_tokens": 1400}, 1500) == 100 - prompt


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("0", 0), (" 2500 ", 2500)])
def test_the_budget_header_is_a_whole_number(header: str | None, expected: int | None) -> None:
    assert requested_budget(header) == expected


@pytest.mark.parametrize("header", ["", "lots", "1.5", "-1", "١٢", "1234567890"])
def test_a_budget_header_that_is_not_a_small_whole_number_is_refused(header: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        requested_budget(header)
    assert caught.value.param == "X-Context-Budget"
