"""No memory of one user or tenant ever reaches another: through the HTTP API and at the store.

Every check runs against an embedded Chroma and a real `chroma run` server. Each test first
shows the owner *does* get the memory back, so an empty answer for everyone else means
isolation, not a broken store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from gateway.errors import IsolationViolation, MemoryNotFound
from gateway.store.chroma import (
    ChromaBackend,
    StoredRecord,
    collection_name,
)
from gateway.store.codec import encode
from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Memory, Scope, utcnow
from gateway.store.snapshots import Generations
from gateway.store.store import CacheSettings, MemoryStore, NewMemory
from tests.support.chroma import ChromaServer
from tests.support.gateway import OTHER_KEY, RunningGateway
from tests.support.memory import MemoryClient, echo_chat, memory_block, sdk

QUESTION = "Tell me everything you remember about me and my plans."


@pytest.fixture(params=["embedded", "server"])
def gateway(request: pytest.FixtureRequest) -> RunningGateway:
    name = "memory_gateway" if request.param == "embedded" else "server_gateway"
    running: RunningGateway = request.getfixturevalue(name)
    return running


@pytest.fixture
def api(gateway: RunningGateway) -> Iterator[MemoryClient]:
    client = MemoryClient(gateway)
    yield client
    client.close()


@pytest.fixture
def chat(gateway: RunningGateway) -> openai.OpenAI:
    return sdk(gateway)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def injected(chat: openai.OpenAI, user: str, question: str = QUESTION) -> tuple[str, str]:
    """The memory block the model received for ``user``, and the X-Memory-Status."""
    received, headers = echo_chat(chat, [{"role": "user", "content": question}], user=user)
    return memory_block(received), headers["x-memory-status"]


# -- users of one tenant ----------------------------------------------------------------------


def test_a_users_memories_never_reach_another_user(api: MemoryClient, chat: openai.OpenAI) -> None:
    alice, bob = unique("alice"), unique("bob")
    secret = f"My vault combination is {uuid.uuid4().hex[:6]} and I fly to Lisbon on Friday."
    mine = api.add(alice, secret)
    api.add(bob, "Bob prefers window seats.")
    # The owner sees it everywhere...
    assert api.contents(alice) == [secret]
    assert api.search(alice, secret)[0]["memory"]["id"] == mine["id"]
    block, status = injected(chat, alice, secret)
    assert secret in block and status == "ok"
    # ...and the other user nowhere.
    assert api.contents(bob) == ["Bob prefers window seats."]
    found = api.search(bob, secret, limit=100)
    assert all(hit["memory"]["id"] != mine["id"] for hit in found)
    assert secret not in str(api.export(bob))
    block, status = injected(chat, bob, secret)
    assert secret not in block and "vault" not in block
    assert status in ("ok", "empty")  # bob's own memory at most
    for method in ("GET", "PATCH", "DELETE"):
        json = {"content": "taken over"} if method == "PATCH" else None
        response = api.http.request(method, api.path(bob, f"/{mine['id']}"), json=json)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "memory_not_found"
    erased = api.http.delete(api.path(bob))
    assert erased.status_code == 200 and erased.json()["deleted"] == 1
    # Bob's attempts and his erase left alice's memory exactly as it was.
    assert api.http.get(api.path(alice, f"/{mine['id']}")).json() == mine
    assert api.contents(alice) == [secret]


# -- tenants ----------------------------------------------------------------------------------


def test_a_tenants_memories_never_reach_another_tenant(
    gateway: RunningGateway, api: MemoryClient, chat: openai.OpenAI
) -> None:
    user = unique("carol")  # the same user id under both gateway keys
    other_api = MemoryClient(gateway, OTHER_KEY)
    other_chat = sdk(gateway, OTHER_KEY)
    secret = "Carol's acquisition target is Initech, closing in March."
    mine = api.add(user, secret)
    assert api.contents(user) == [secret]
    assert other_api.contents(user) == []
    assert other_api.search(user, secret) == []
    assert other_api.export(user)["memories"] == []
    assert other_api.http.get(other_api.path(user, f"/{mine['id']}")).status_code == 404
    patched = other_api.http.patch(other_api.path(user, f"/{mine['id']}"), json={"content": "x"})
    assert patched.status_code == 404
    block, status = injected(other_chat, user, secret)
    # globex's own tenant context is injected; acme's memory is not.
    assert "Globex" in block and "Initech" not in block
    assert status == "empty"
    assert other_api.http.delete(other_api.path(user)).json()["deleted"] == 0
    assert api.contents(user) == [secret]
    block, _ = injected(chat, user, secret)
    assert "Initech" in block
    other_api.close()


# -- look-alike ids ---------------------------------------------------------------------------

LOOK_ALIKES = {
    "plain": "alice-{t}",
    "capital": "Alice-{t}",
    "upper": "ALICE-{t}",
    "trailing space": "alice-{t} ",
    "leading space": " alice-{t}",
    "inner space": "al ice-{t}",
    "cyrillic a": "\u0430lice-{t}",
    "fullwidth a": "\uff41lice-{t}",
    "decomposed e": "alice\u0301-{t}",
    "precomposed e": "alic\u00e9-{t}",
    "percent literal": "alice%20-{t}",
    "question mark": "alice?-{t}",
    "hash": "alice#-{t}",
    "ampersand": "alice&x=1-{t}",
}


def test_look_alike_user_ids_are_different_users(api: MemoryClient, chat: openai.OpenAI) -> None:
    tag = uuid.uuid4().hex[:6]
    users = {label: pattern.format(t=tag) for label, pattern in LOOK_ALIKES.items()}
    for label, user in users.items():
        api.add(user, f"The note that belongs to the {label} user only.")
    for label, user in users.items():
        own = f"The note that belongs to the {label} user only."
        assert api.contents(user) == [own], label
        assert [m["content"] for m in api.export(user)["memories"]] == [own], label
        # The body's `user` field carries any unicode id exactly (a header could not).
        block, _ = injected(chat, user, "Which user do my notes belong to?")
        assert own in block, label
        assert block.count("The note that belongs to") == 1, label


@pytest.mark.parametrize(
    "user", ["alice\u200b", "alice\n", "ali\u0000ce", "\u202ealice", "x" * 257, ""]
)
def test_invisible_or_control_characters_are_refused_not_merged(
    api: MemoryClient, chat: openai.OpenAI, user: str
) -> None:
    response = api.http.post(api.path(user), json={"content": "should not be stored"})
    if "\n" in user:
        # A path with a line break matches no route at all: refused before any user exists.
        assert response.status_code == 404
    else:
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "user_id"
    if user:
        with pytest.raises(openai.BadRequestError) as caught:
            echo_chat(chat, [{"role": "user", "content": "hi"}], user=user)
        assert caught.value.body["param"] == "user"  # type: ignore[index]


def test_percent_encoding_names_the_same_user_as_the_header(
    api: MemoryClient, chat: openai.OpenAI
) -> None:
    tag = uuid.uuid4().hex[:6]
    plain = f"pct-{tag}"
    api.add(plain, "Plain user's note.")
    # %69 is "i" and %2D is "-": by URL rules the same user.
    same = api.http.get(f"/v1/users/pct%2D{tag}/memories")
    assert [m["content"] for m in same.json()["data"]] == ["Plain user's note."]
    for special in ("q?uery", "fr#agment", "sp ace", "a&b=c", "semi;colon", "dot.dot"):
        user = f"{special}-{tag}"
        api.add(user, f"Note of {special}.")
        # The header id and the percent-encoded path segment reach the same memories.
        received, headers = echo_chat(
            chat, [{"role": "user", "content": f"note of {special}?"}], user_id=user
        )
        assert f"Note of {special}." in memory_block(received), special
        assert headers["x-memory-status"] == "ok"
    assert api.contents(plain) == ["Plain user's note."]


def test_slash_in_a_user_id_never_reaches_anyone_else(api: MemoryClient) -> None:
    tag = uuid.uuid4().hex[:6]
    api.add(f"a-{tag}", "A's note.")
    api.add(f"b-{tag}", "B's note.")
    response = api.http.get(f"/v1/users/a-{tag}%2Fb-{tag}/memories")
    assert response.status_code < 500
    assert "note" not in response.text
    response = api.http.get(f"/v1/users/a-{tag}%2F..%2Fb-{tag}/memories")
    assert response.status_code < 500
    assert "note" not in response.text


# -- a store that hands back someone else's record ----------------------------------------------


def plant(gateway: RunningGateway, tenant: str, record: dict[str, Any]) -> None:
    """Add ``record`` to the tenant's Chroma collection directly, past the gateway's checks."""
    store = gateway.config.memory.store
    backend = ChromaBackend(path=store.path, url=store.url)
    backend._collection(tenant).add(**record)


def forged(owner: Scope, claimed: Scope, content: str) -> dict[str, Any]:
    """A record in ``claimed``'s id space that says it belongs to ``owner``."""
    now = utcnow()
    memory = Memory(uuid.uuid4().hex, content, "fact", now, now)
    vector = np.full(384, 384**-0.5, dtype=np.float32)
    return {
        "ids": [f"{claimed.key}:{memory.id}"],
        "documents": [content],
        "metadatas": [{**encode(memory), "scope": owner.key}],
        "embeddings": np.stack([vector]),
    }


def test_a_foreign_record_from_the_store_is_refused_not_served(
    gateway: RunningGateway, api: MemoryClient, chat: openai.OpenAI
) -> None:
    victim, intruder = unique("victim"), unique("intruder")
    api.add(intruder, "The intruder's own note.")
    plant(gateway, "acme", forged(Scope("acme", victim), Scope("acme", intruder), "planted note"))
    listed = api.http.get(api.path(victim))
    assert listed.status_code == 500
    assert listed.json()["error"]["code"] == "isolation_violation"
    assert "planted" not in listed.text
    received, headers = echo_chat(
        chat, [{"role": "user", "content": "planted note"}], user_id=victim
    )
    assert headers["x-memory-status"] == "degraded"
    assert memory_block(received) == ""
    # The intruder's own memories are untouched by the forgery.
    assert api.contents(intruder) == ["The intruder's own note."]


# -- the store layer itself ---------------------------------------------------------------------


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> ChromaBackend:
    if request.param == "embedded":
        return ChromaBackend(path=tmp_path / "chroma")
    server: ChromaServer = request.getfixturevalue("chroma")
    return ChromaBackend(url=server.url)


def record(memory_id: str, content: str) -> StoredRecord:
    now = utcnow()
    memory = Memory(memory_id, content, "fact", now, now)
    vector = np.random.default_rng(len(content)).normal(size=384).astype(np.float32)
    return StoredRecord(memory_id, content, encode(memory), vector / np.linalg.norm(vector))


def test_backend_writes_naming_another_users_id_never_touch_that_record(
    backend: ChromaBackend,
) -> None:
    tenant = unique("tenant")
    alice, bob = Scope(tenant, "alice"), Scope(tenant, "bob")
    backend.put(alice, [record("shared-id", "alice's record")])
    # Bob writes, rewrites and deletes a record with the very same id.
    backend.put(bob, [record("shared-id", "bob's record")])
    backend.update_metadata(bob, "shared-id", {"category": "preference"})
    backend.replace(bob, record("shared-id", "bob's rewrite"))
    assert [(r.id, r.document) for r in backend.fetch(alice)] == [("shared-id", "alice's record")]
    assert [(r.id, r.document) for r in backend.fetch(bob)] == [("shared-id", "bob's rewrite")]
    backend.delete(bob, ["shared-id"])
    backend.erase(bob)
    assert [r.document for r in backend.fetch(alice)] == ["alice's record"]
    assert backend.fetch(bob) == []


def test_backend_refuses_a_record_tagged_for_another_scope(backend: ChromaBackend) -> None:
    tenant = unique("tenant")
    victim, intruder = Scope(tenant, "victim"), Scope(tenant, "intruder")
    backend.put(victim, [record("own", "victim's record")])
    backend._collection(tenant).add(**forged(victim, intruder, "planted"))
    with pytest.raises(IsolationViolation):
        backend.fetch(victim)


def test_scopes_that_concatenate_alike_are_distinct(backend: ChromaBackend) -> None:
    tag = uuid.uuid4().hex[:6]
    scopes = [Scope(f"ab{tag}", "c"), Scope(f"a{tag}", "bc"), Scope(f"ab{tag}c", "")]
    for scope in scopes[:2]:
        backend.put(scope, [record("same", f"{scope.tenant}/{scope.user}")])
    assert [r.document for r in backend.fetch(scopes[0])] == [f"ab{tag}/c"]
    assert [r.document for r in backend.fetch(scopes[1])] == [f"a{tag}/bc"]
    assert len({scope.key for scope in scopes}) == len(scopes)
    assert collection_name(scopes[0].tenant) != collection_name(scopes[1].tenant)


def store_over(backend: ChromaBackend, embedder: OnnxMiniLM, state: Path) -> MemoryStore:
    """A memory store without snapshots: a new one reads everything back from Chroma."""
    return MemoryStore(
        backend, embedder, Generations(state / "generations.sqlite3"), CacheSettings()
    )


@pytest.mark.asyncio
async def test_store_keeps_look_alike_scopes_apart(
    backend: ChromaBackend, embedder: OnnxMiniLM, tmp_path: Path
) -> None:
    tenant = unique("tenant")
    users = ["alice", "Alice", "alice ", "\u0430lice", "alice\u0301"]
    scopes = [Scope(tenant, user) for user in users] + [Scope(unique("other"), "alice")]
    store = store_over(backend, embedder, tmp_path)
    own: dict[Scope, str] = {}
    for scope in scopes:
        [memory] = await store.add(scope, [NewMemory(f"secret of {scope.user!r}", "fact")])
        own[scope] = memory.id
    for scope in scopes:
        assert [m.content for m in await store.all(scope)] == [f"secret of {scope.user!r}"]
        vector = (await embedder.embed(["secret of 'alice'"]))[0]
        assert [m.id for m, _ in await store.nearest(scope, vector, 10)] == [own[scope]]
        for other in scopes:
            if other == scope:
                continue
            with pytest.raises(MemoryNotFound):
                await store.get(scope, own[other])
            with pytest.raises(MemoryNotFound):
                await store.update(scope, own[other], lambda m: replace(m, content="stolen"))
            with pytest.raises(MemoryNotFound):
                await store.delete(scope, own[other])
    await store.erase(scopes[1])
    await store.close()
    cold = store_over(backend, embedder, tmp_path)
    for scope in scopes:
        expected = [] if scope == scopes[1] else [f"secret of {scope.user!r}"]
        assert [m.content for m in await cold.all(scope)] == expected
    await cold.close()


@pytest.mark.asyncio
async def test_a_caller_chosen_id_is_per_user(
    backend: ChromaBackend, embedder: OnnxMiniLM, tmp_path: Path
) -> None:
    """Replayed extraction jobs pick their own ids; two users may well pick the same one."""
    tenant = unique("tenant")
    alice, bob, carol = (Scope(tenant, user) for user in ("alice", "bob", "carol"))
    store = store_over(backend, embedder, tmp_path)
    for scope in (alice, bob, carol):
        await store.add(scope, [NewMemory(f"{scope.user} likes jazz", "fact", id="job-1:0")])
    await store.update(bob, "job-1:0", lambda m: replace(m, content="bob likes opera"))
    await store.update(carol, "job-1:0", lambda m: replace(m, category="preference"))
    await store.close()
    cold = store_over(backend, embedder, tmp_path)
    assert [(m.id, m.content) for m in await cold.all(alice)] == [("job-1:0", "alice likes jazz")]
    assert [m.content for m in await cold.all(bob)] == ["bob likes opera"]
    assert [(m.content, m.category) for m in await cold.all(carol)] == [
        ("carol likes jazz", "preference")
    ]
    await cold.delete(bob, "job-1:0")
    assert [m.content for m in await cold.all(alice)] == ["alice likes jazz"]
    await cold.close()
