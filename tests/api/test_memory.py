"""The memory API, ``/v1/users/{user_id}/memories...``, as an application uses it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Scope
from tests.support.gateway import KEY, RunningGateway, gateway_in_thread
from tests.support.memory import MemoryClient, echo_chat, memory_config, sdk, supersede

CATEGORIES = ("compliance", "session", "role", "organization", "preference", "fact", "general")


@pytest.fixture
def api(memory_gateway: RunningGateway) -> Iterator[MemoryClient]:
    client = MemoryClient(memory_gateway)
    yield client
    client.close()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI-shaped error of ``response``, checked to have ``status``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    inner: dict[str, Any] = body["error"]
    return inner


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- one memory, end to end ---------------------------------------------------------------------


def test_create_returns_the_stored_memory(api: MemoryClient) -> None:
    user = unique("create")
    before = datetime.now(UTC)
    created = api.add(
        user,
        "  Prefers answers in bullet points.  ",
        category="preference",
        created_at="2024-05-01T12:00:00+02:00",
        metadata={"origin": "onboarding", "tags": ["style"], "score": 0.5},
    )
    assert created["content"] == "Prefers answers in bullet points."
    assert created["category"] == "preference"
    assert created["created_at"] == "2024-05-01T10:00:00Z"
    assert created["last_seen_at"] == "2024-05-01T10:00:00Z"
    assert datetime.fromisoformat(created["updated_at"]) >= before
    assert created["source"] == "api" and created["evidence"] == 1
    assert created["status"] == "active" and created["superseded_by"] is None
    assert created["metadata"] == {"origin": "onboarding", "tags": ["style"], "score": 0.5}
    assert api.http.get(api.path(user, f"/{created['id']}")).json() == created
    plain = api.add(user, "Lives in Leeds.")
    assert plain["category"] == "fact" and plain["metadata"] == {}
    # A date alone, or a time without a zone, is taken as UTC.
    assert api.add(user, "Dated.", created_at="2023-02-03")["created_at"] == "2023-02-03T00:00:00Z"
    naive = api.add(user, "Naive.", created_at="2023-02-03T04:05:06")
    assert naive["created_at"] == "2023-02-03T04:05:06Z"


def test_patch_changes_fields_and_re_embeds_new_content(api: MemoryClient) -> None:
    user = unique("patch")
    original = api.add(user, "My favourite colour is teal.", category="preference")
    api.add(user, "I work as a nurse in Leeds.")
    [teal] = [h for h in api.search(user, "teal") if h["memory"]["id"] == original["id"]]
    assert teal["lexical"] > 0
    time.sleep(0.01)
    response = api.http.patch(
        api.path(user, f"/{original['id']}"), json={"content": "My favourite dish is ramen."}
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["id"] == original["id"]
    assert patched["content"] == "My favourite dish is ramen."
    assert patched["category"] == "preference"
    assert patched["created_at"] == original["created_at"]
    assert patched["updated_at"] > original["updated_at"]
    # The new text is what search finds now; the old words are gone from the index.
    ramen = api.search(user, "ramen noodles dish")
    assert ramen[0]["memory"]["id"] == original["id"] and ramen[0]["lexical"] > 0
    assert ramen[0]["dense"] > 0.4
    after = {h["memory"]["id"]: h for h in api.search(user, "teal")}.get(original["id"])
    assert after is None or (after["lexical"] == 0 and after["dense"] < teal["dense"])
    assert api.contents(user) == ["I work as a nurse in Leeds.", "My favourite dish is ramen."]
    # Metadata, category and date change without touching the text or its embedding.
    response = api.http.patch(
        api.path(user, f"/{original['id']}"),
        json={"metadata": {"k": 1}, "category": "fact", "created_at": "2020-01-01T00:00:00Z"},
    )
    changed = response.json()
    assert (changed["metadata"], changed["category"], changed["created_at"]) == (
        {"k": 1},
        "fact",
        "2020-01-01T00:00:00Z",
    )
    assert changed["content"] == "My favourite dish is ramen."
    same = api.search(user, "ramen noodles dish")
    assert same[0]["dense"] == ramen[0]["dense"]


def test_patch_refuses_what_it_cannot_apply(api: MemoryClient) -> None:
    user = unique("patch-bad")
    memory = api.add(user, "Original text.")
    path = api.path(user, f"/{memory['id']}")
    assert error(api.http.patch(path, json={}), 400)["message"].startswith("Nothing to change")
    assert error(api.http.patch(path, json={"status": "superseded"}), 400)["param"] == "status"
    assert error(api.http.patch(path, json={"content": ""}), 400)["param"] == "content"
    assert error(api.http.patch(path, json={"category": "mood"}), 400)["param"] == "category"
    assert error(api.http.patch(path, json={"created_at": "soon"}), 400)["param"] == "created_at"
    assert error(api.http.patch(path, json={"metadata": []}), 400)["param"] == "metadata"
    assert api.http.get(path).json() == memory


def deep_metadata(depth: int) -> bytes:
    return b'{"content": "Deep.", "metadata": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize("depth", [64, 255, 2000])
def test_metadata_nested_too_deep_is_a_400_on_create_and_patch(
    api: MemoryClient, depth: int
) -> None:
    # Past 254 levels this once reached orjson.dumps and answered 500.
    user = unique("deep")
    memory = api.add(user, "Original text.")
    raw = deep_metadata(depth)
    created = error(api.http.post(api.path(user), content=raw), 400)
    patched = error(api.http.patch(api.path(user, f"/{memory['id']}"), content=raw), 400)
    for found in (created, patched):
        assert found["code"] == "json_too_deep"
        assert "64 levels" in found["message"]
    assert api.http.get(api.path(user)).json()["total"] == 1


def test_metadata_nested_to_the_limit_is_stored(api: MemoryClient) -> None:
    user = unique("deep-ok")
    raw = deep_metadata(62)  # the body and the metadata object themselves: 64 in all
    response = api.http.post(api.path(user), content=raw)
    assert response.status_code == 201, response.text


def test_unknown_ids_are_404_memory_not_found(api: MemoryClient) -> None:
    user = unique("unknown")
    api.add(user, "Exists.")
    for method in ("GET", "PATCH", "DELETE"):
        json = {"content": "x"} if method == "PATCH" else None
        response = api.http.request(method, api.path(user, "/no-such-id"), json=json)
        found = error(response, 404)
        assert found["code"] == "memory_not_found" and found["type"] == "not_found_error"
    # A user who has never stored anything is just as unknown.
    assert error(api.http.get(api.path(unique("nobody"), "/no-such-id")), 404)["param"]


def test_delete_one(api: MemoryClient) -> None:
    user = unique("delete")
    keep, drop = api.add(user, "Keep me."), api.add(user, "Drop me.")
    response = api.http.delete(api.path(user, f"/{drop['id']}"))
    assert response.json() == {"id": drop["id"], "object": "memory.deleted", "deleted": True}
    assert error(api.http.get(api.path(user, f"/{drop['id']}")), 404)["code"] == "memory_not_found"
    assert error(api.http.delete(api.path(user, f"/{drop['id']}")), 404)
    assert [m["id"] for m in api.export(user)["memories"]] == [keep["id"]]
    assert all(h["memory"]["id"] != drop["id"] for h in api.search(user, "Drop me."))


def snapshot_files_holding(state_dir: Path, marker: bytes) -> list[Path]:
    return [p for p in state_dir.rglob("*") if p.is_file() and marker in p.read_bytes()]


def test_erase_deletes_everything_including_the_snapshot(
    api: MemoryClient, memory_gateway: RunningGateway
) -> None:
    user = unique("erase")
    marker = f"erase-marker-{uuid.uuid4().hex}"
    api.add_many(user, [{"content": f"{marker} number {i}"} for i in range(3)])
    state_dir = memory_gateway.config.memory.store.state_dir
    deadline = time.monotonic() + 10
    while not snapshot_files_holding(state_dir, marker.encode()):
        assert time.monotonic() < deadline, "the snapshot was never written"
        time.sleep(0.05)
    response = api.http.delete(api.path(user))
    assert response.json() == {"object": "user.memories.deleted", "deleted": 3}
    exported = api.export(user)
    assert exported["memories"] == [] and exported["user_id"] == user
    listed = api.http.get(api.path(user)).json()
    assert listed["data"] == [] and listed["total"] == 0
    time.sleep(0.5)  # a flush or two later, nothing has come back
    assert snapshot_files_holding(state_dir, marker.encode()) == []
    assert api.search(user, marker) == []
    # Erasing again is harmless.
    assert api.http.delete(api.path(user)).json()["deleted"] == 0


# -- listing ------------------------------------------------------------------------------------


def test_pagination_walks_newest_first_without_gaps(api: MemoryClient) -> None:
    user = unique("pages")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        {"content": f"Note {i}", "created_at": iso(start + timedelta(days=i))} for i in range(25)
    ]
    api.add_many(user, items)
    seen: list[str] = []
    offset: int | None = 0
    pages = []
    while offset is not None:
        page = api.http.get(api.path(user), params={"limit": 10, "offset": offset}).json()
        pages.append((len(page["data"]), page["total"], page["has_more"], page["next_offset"]))
        seen += [m["content"] for m in page["data"]]
        offset = page["next_offset"]
    assert pages == [(10, 25, True, 10), (10, 25, True, 20), (5, 25, False, None)]
    assert seen == [f"Note {i}" for i in reversed(range(25))]
    beyond = api.http.get(api.path(user), params={"offset": 25}).json()
    assert (beyond["data"], beyond["has_more"], beyond["next_offset"]) == ([], False, None)
    exact = api.http.get(api.path(user), params={"limit": 25}).json()
    assert (len(exact["data"]), exact["has_more"], exact["next_offset"]) == (25, False, None)
    default = api.http.get(api.path(user)).json()
    assert default["object"] == "list" and len(default["data"]) == 25


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "\u00b2"}, "limit"),
        ({"limit": "\u0662"}, "limit"),
        ({"offset": "9" * 4400}, "offset"),
        ({"offset": "-3"}, "offset"),
        ({"status": "deleted"}, "status"),
    ],
)
def test_list_parameters_are_checked(api: MemoryClient, query: dict[str, str], param: str) -> None:
    found = error(api.http.get(api.path(unique("params")), params=query), 400)
    assert found["param"] == param and found["type"] == "invalid_request_error"


def test_status_filter_and_export_include_superseded(
    api: MemoryClient, memory_gateway: RunningGateway, embedder: OnnxMiniLM
) -> None:
    user = unique("status")
    # Written behind the gateway's back before it has loaded this user (it caches users).
    old, new = asyncio.run(
        supersede(
            memory_gateway.config,
            embedder,
            Scope("acme", user),
            "Works at Initech.",
            "Works at Globex since June.",
        )
    )

    api.add(user, "Has a cat named Miso.")

    def listed(status: str | None) -> list[str]:
        params = {"status": status} if status else {}
        return [m["content"] for m in api.http.get(api.path(user), params=params).json()["data"]]

    assert sorted(listed(None)) == ["Has a cat named Miso.", "Works at Globex since June."]
    assert listed("superseded") == ["Works at Initech."]
    assert len(listed("all")) == 3
    exported = {m["content"]: m for m in api.export(user)["memories"]}
    assert set(exported) == {
        "Has a cat named Miso.",
        "Works at Initech.",
        "Works at Globex since June.",
    }
    assert exported["Works at Initech."]["status"] == "superseded"
    assert exported["Works at Initech."]["superseded_by"] == new.id
    assert api.http.get(api.path(user, f"/{old.id}")).json()["status"] == "superseded"
    # Search only ever sees active memories.
    assert all(h["memory"]["id"] != old.id for h in api.search(user, "Works at Initech."))


# -- batches --------------------------------------------------------------------------------


def test_a_batch_of_exactly_1000_is_accepted_and_1001_is_not(api: MemoryClient) -> None:
    user = unique("batch")
    too_many = [{"content": f"item {i}"} for i in range(1001)]
    refused = error(api.http.post(api.path(user), json={"memories": too_many}), 400)
    assert refused["param"] == "memories" and "1000" in refused["message"]
    assert api.http.get(api.path(user)).json()["total"] == 0
    stored = api.add_many(user, too_many[:1000])
    assert len(stored) == 1000 and len({m["id"] for m in stored}) == 1000
    assert [m["content"] for m in stored] == [f"item {i}" for i in range(1000)]
    assert api.http.get(api.path(user), params={"limit": 1}).json()["total"] == 1000


# -- validation -----------------------------------------------------------------------------

OK = {"content": "A fine memory."}


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({}, "content", "non-empty string"),
        ({"content": ""}, "content", "non-empty string"),
        ({"content": " \n\t "}, "content", "non-empty string"),
        ({"content": 42}, "content", "non-empty string"),
        ({"content": "x" * 8001}, "content", "8000"),
        ({**OK, "category": "mood"}, "category", ", ".join(CATEGORIES)),
        ({**OK, "category": 7}, "category", "configured categories"),
        ({**OK, "created_at": "yesterday"}, "created_at", "ISO 8601"),
        ({**OK, "created_at": 1714557600}, "created_at", "ISO 8601"),
        ({**OK, "created_at": "2024-13-01T00:00:00Z"}, "created_at", "ISO 8601"),
        ({**OK, "created_at": "0001-01-01T00:00:00+14:00"}, "created_at", "ISO 8601"),
        ({**OK, "created_at": "9999-12-31T23:59:59-14:00"}, "created_at", "ISO 8601"),
        ({**OK, "created_at": "9999-12-31T23:59:59.999999Z"}, "created_at", "ISO 8601"),
        ({**OK, "metadata": "text"}, "metadata", "object"),
        ({**OK, "metadata": [1, 2]}, "metadata", "object"),
        ({**OK, "metadata": {"blob": "x" * 5000}}, "metadata", "4096"),
        ({**OK, "tags": ["a"]}, "tags", "Unknown field"),
        ({**OK, "id": "mine"}, "id", "Unknown field"),
        ({"memories": "many"}, "memories", "array"),
        ({"memories": []}, "memories", "array"),
        ({"memories": {"content": "x"}}, "memories", "array"),
        ({"memories": [OK, OK, OK, {"category": "fact"}]}, "memories[3].content", "non-empty"),
        ({"memories": [OK, "text"]}, "memories[1]", "memory object"),
        ({"memories": [OK, {**OK, "category": "mood"}]}, "memories[1].category", "fact"),
        ({"memories": [{**OK, "colour": 1}]}, "memories[0].colour", "Unknown field"),
        ({"memories": [OK], "content": "also"}, "content", "Unknown field"),
        ({"memories": [OK], "dry_run": True}, "dry_run", "Unknown field"),
    ],
)
def test_create_names_the_bad_field(
    api: MemoryClient, body: dict[str, Any], param: str, says: str
) -> None:
    user = unique("invalid")
    found = error(api.http.post(api.path(user), json=body), 400)
    assert found["param"] == param
    assert found["type"] == "invalid_request_error"
    assert says in found["message"]
    # Nothing of a refused request is stored, not even the valid items of a batch.
    assert api.http.get(api.path(user)).json()["total"] == 0


def test_limits_are_inclusive(api: MemoryClient) -> None:
    user = unique("limits")
    api.add(user, "x" * 8000)
    metadata = {"blob": "y" * (4096 - len('{"blob":""}'))}
    assert api.add(user, "With metadata.", metadata=metadata)["metadata"] == metadata


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'"text"', b"", b'{"content": "x"'], ids=repr
)
def test_a_body_that_is_not_a_json_object_is_refused(api: MemoryClient, raw: bytes) -> None:
    found = error(api.http.post(api.path(unique("raw")), content=raw), 400)
    assert found["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "query"),
        ({"query": "  "}, "query"),
        ({"query": ["a"]}, "query"),
        ({"query": "a", "limit": 0}, "limit"),
        ({"query": "a", "limit": 101}, "limit"),
        ({"query": "a", "limit": "5"}, "limit"),
        ({"query": "a", "limit": True}, "limit"),
        ({"query": "a", "mode": "sparse"}, "mode"),
    ],
)
def test_search_names_the_bad_field(api: MemoryClient, body: dict[str, Any], param: str) -> None:
    response = api.http.post(api.path(unique("search"), "/search"), json=body)
    assert error(response, 400)["param"] == param


def test_search_returns_scored_results_best_first(api: MemoryClient) -> None:
    user = unique("scored")
    api.add_many(
        user,
        [
            {"content": "Allergic to peanuts and shellfish."},
            {"content": "Drives a blue Volvo estate."},
            {"content": "Plays the cello in a quartet."},
        ],
    )
    hits = api.search(user, "What food allergies do I have?", limit=2)
    assert len(hits) == 2
    assert hits[0]["memory"]["content"] == "Allergic to peanuts and shellfish."
    assert hits[0]["score"] >= hits[1]["score"]
    assert set(hits[0]) == {"memory", "score", "dense", "lexical"}
    dense = api.search(user, "What food allergies do I have?", mode="dense", limit=3)
    assert [h["score"] for h in dense] == [h["dense"] for h in dense]


def test_the_api_needs_a_gateway_key(memory_gateway: RunningGateway) -> None:
    url = f"{memory_gateway.url}/v1/users/someone/memories"
    assert error(httpx.get(url), 401)["type"] == "authentication_error"
    wrong = httpx.get(url, headers={"Authorization": "Bearer sk-wrong"})
    assert error(wrong, 401)["type"] == "authentication_error"


# -- memory switched off ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def disabled_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    state = tmp_path_factory.mktemp("disabled")
    with gateway_in_thread(memory_config(state, memory={"enabled": False})) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "rest"),
    [
        ("GET", ""),
        ("POST", ""),
        ("DELETE", ""),
        ("GET", "/export"),
        ("POST", "/search"),
        ("GET", "/some-id"),
        ("PATCH", "/some-id"),
        ("DELETE", "/some-id"),
    ],
)
def test_memory_disabled_answers_404_on_every_endpoint(
    disabled_gateway: RunningGateway, method: str, rest: str
) -> None:
    response = httpx.request(
        method,
        f"{disabled_gateway.url}/v1/users/alice/memories{rest}",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"content": "x", "query": "x"} if method in ("POST", "PATCH") else None,
    )
    found = error(response, 404)
    assert "memory.enabled: false" in found["message"]


def test_memory_disabled_chat_says_off(disabled_gateway: RunningGateway) -> None:
    received, headers = echo_chat(
        sdk(disabled_gateway), [{"role": "user", "content": "Hello"}], user_id="alice"
    )
    assert headers["x-memory-status"] == "off"
    assert received == [{"role": "user", "content": "Hello"}]
    assert not (disabled_gateway.config.memory.store.path).exists()
