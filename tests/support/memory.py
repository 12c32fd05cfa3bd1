"""Gateways with memory on, and small clients for the memory API and the echo model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import orjson
import yaml

from gateway.config import GatewayConfig, parse_config
from gateway.context.service import generation_log
from gateway.store.chroma import ChromaBackend
from gateway.store.embedding import Embedder
from gateway.store.records import Memory, Scope
from gateway.store.snapshots import Generations, Snapshots
from gateway.store.store import CacheSettings, MemoryStore, NewMemory
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway
from tests.support.mock_upstream import RunningMock

REPO_ROOT = Path(__file__).resolve().parents[2]
_MODEL = Path("shared") / "models" / "all-MiniLM-L6-v2"
#: The shared model files sit beside the checkout, or beside the folder of worktrees it is in.
MODEL_HOME = next(
    (root / _MODEL for root in REPO_ROOT.parents if (root / _MODEL).is_dir()),
    REPO_ROOT.parent / _MODEL,
)
MODEL_DIR = MODEL_HOME / "onnx"


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def memory_config(state: Path, *, store_url: str | None = None, **sections: Any) -> GatewayConfig:
    """Memory on, the offline embedding model, an embedded store under ``state`` (or the
    Chroma server at ``store_url``), the echo model; ``sections`` are laid over that."""
    store: dict[str, Any] = {"state_dir": str(state / "state")}
    if store_url is None:
        store["path"] = str(state / "chroma")
    else:
        store["url"] = store_url
    raw = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}, {"key": OTHER_KEY, "tenant": "globex"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {
            "store": store,
            "embedding": {"model_dir": str(MODEL_DIR)},
            # Tests check what was retrieved, on a CI machine whose two cores may both be busy:
            # the 150 ms deadline is tested on its own (test_injection), not by accident here.
            "retrieval": {"timeout_ms": 2000},
        },
    }
    return parse_config(yaml.safe_dump(merged(raw, sections)), {})


#: The tenant context the shared gateways carry, for tenant ``globex`` only.
GLOBEX_CONTEXT: dict[str, Any] = {
    "name": "Globex Corporation",
    "industry": "logistics",
    "tone": "formal",
    "terminology": {"TEU": "twenty-foot equivalent unit"},
    "compliance": [
        "Never quote delivery dates for hazardous cargo.",
        "Refer customs questions to the compliance desk.",
        "Do not disclose a customer's shipment to another customer.",
    ],
}


def shared_sections(mock: RunningMock) -> dict[str, Any]:
    """What the shared gateways add to ``memory_config``: models of known context windows and
    encodings, a capped header budget, an expiring category and globex's context."""
    return {
        "models": [
            {"name": "echo", "model": "echo"},
            {"name": "echo-small", "model": "echo", "context_window": 4096},
            {"name": "fouro", "model": "openai/gpt-4o-mini", "api_base": mock.base_url},
            {"name": "legacy", "model": "openai/gpt-3.5-turbo", "api_base": mock.base_url},
        ],
        "memory": {"expiry_days": {"session": 1}, "cache": {"snapshot_interval_s": 0.2}},
        "context": {"max_budget_tokens": 1500},
        "tenants": {"globex": {"context": GLOBEX_CONTEXT}},
    }


def embedded_store(state: Path, embedder: Embedder) -> MemoryStore:
    """The store as the gateway builds it for an embedded Chroma under ``state``, snapshots
    included."""
    return MemoryStore(
        ChromaBackend(path=state / "chroma"),
        embedder,
        Generations(state / "generations.sqlite3"),
        CacheSettings(snapshots=Snapshots(state / "snapshots")),
    )


def open_store(config: GatewayConfig, embedder: Embedder) -> MemoryStore:
    """A second store over a gateway's Chroma and generation table (no snapshots), for
    writing what the HTTP API cannot, such as superseded memories."""
    settings = config.memory.store
    backend = ChromaBackend(path=settings.path, url=settings.url)
    return MemoryStore(backend, embedder, generation_log(config, backend), CacheSettings())


async def supersede(
    config: GatewayConfig, embedder: Embedder, scope: Scope, old: str, new: str
) -> tuple[Memory, Memory]:
    """Store ``old`` superseded by ``new``, the way learning replaces a changed fact."""
    store = open_store(config, embedder)
    try:
        first, second = await store.add(scope, [NewMemory(old, "fact"), NewMemory(new, "fact")])
        first = await store.update(
            scope, first.id, lambda m: replace(m, status="superseded", superseded_by=second.id)
        )
    finally:
        await store.close()
    return first, second


class MemoryClient:
    """The memory API as an application calls it, with one gateway key."""

    def __init__(self, gateway: RunningGateway, key: str = KEY) -> None:
        # No keep-alive: after a 500 the server closes the connection, and a reused one races.
        self.http = httpx.Client(
            base_url=gateway.url,
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=60,
        )

    def path(self, user: str, rest: str = "") -> str:
        """The memories URL of ``user``, the id percent-encoded as one path segment."""
        return f"/v1/users/{quote(user, safe='')}/memories{rest}"

    def add(self, user: str, content: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post(self.path(user), json={"content": content, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def add_many(self, user: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.http.post(self.path(user), json={"memories": items})
        assert response.status_code == 201, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def contents(self, user: str, status: str = "all") -> list[str]:
        response = self.http.get(self.path(user), params={"status": status, "limit": 1000})
        assert response.status_code == 200, response.text
        return [m["content"] for m in response.json()["data"]]

    def search(self, user: str, query: str, **fields: Any) -> list[dict[str, Any]]:
        response = self.http.post(self.path(user, "/search"), json={"query": query, **fields})
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def export(self, user: str) -> dict[str, Any]:
        response = self.http.get(self.path(user, "/export"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self.http.close()


def sdk(gateway: RunningGateway, key: str = KEY) -> openai.OpenAI:
    """The official client; without keep-alive, so a client a test drops leaves no socket open."""
    http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=60)
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, http_client=http)


def echo_chat(
    client: openai.OpenAI,
    messages: list[dict[str, Any]],
    *,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    **body: Any,
) -> tuple[list[dict[str, Any]], httpx.Headers]:
    """Ask the echo model; returns the messages it received (memories included) and the
    response headers."""
    extra = dict(headers or {})
    if user_id is not None:
        extra["X-User-Id"] = user_id
    raw = client.chat.completions.with_raw_response.create(
        model=body.pop("model", "echo"),
        messages=messages,  # type: ignore[arg-type]
        extra_headers=extra,
        **body,
    )
    reply = raw.parse()
    text = reply.choices[0].message.content
    assert text is not None
    received: list[dict[str, Any]] = orjson.loads(text)
    return received, raw.headers


def memory_block(messages: list[dict[str, Any]]) -> str:
    """The injected block as the model received it ('' when nothing was injected)."""
    for message in messages:
        if message["role"] in ("system", "developer"):
            content = message["content"]
            text = content if isinstance(content, str) else content[-1]["text"]
            start = text.find("<memory>")
            return text[start:] if start >= 0 else ""
    return ""
