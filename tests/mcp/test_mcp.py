"""``/mcp`` as an agent reaches it: the MCP SDK's own client over HTTP to a gateway on loopback,
its answers compared with the memory API's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from mcp import MCPError

from gateway.config import McpConfig
from gateway.observability.labels import MCP_TOOLS
from gateway.reload import merge_live
from tests.observability.test_endpoint import scrape, total
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.support.mcp_client import McpClient
from tests.support.memory import MemoryClient, memory_config

READER_KEY = "sk-test-acme-reader"
ADMIN_KEY = "sk-test-operator"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    state: Path = tmp_path_factory.mktemp("mcp-gateway")
    keys = [
        {"key": KEY, "tenant": "acme"},
        {"key": OTHER_KEY, "tenant": "globex"},
        {"key": READER_KEY, "tenant": "acme", "role": "read-only", "name": "auditor"},
    ]
    auth = {"keys": keys, "admin_keys": [{"key": ADMIN_KEY, "name": "operator"}]}
    config = memory_config(state, auth=auth, mcp={"enabled": True})
    with gateway_in_thread(config) as running:
        yield running


@pytest.fixture
def user() -> str:
    return f"mcp-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def agent(gateway: RunningGateway, user: str) -> McpClient:
    return McpClient(gateway, user=user)


@pytest.fixture
def api(gateway: RunningGateway) -> Iterator[MemoryClient]:
    client = MemoryClient(gateway)
    yield client
    client.close()


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    inner: dict[str, Any] = response.json()["error"]
    assert set(inner) == {"message", "type", "param", "code"}
    return inner


# -- the endpoint --------------------------------------------------------------------------------


def test_lists_every_tool_with_a_one_line_description_and_a_closed_schema(
    agent: McpClient,
) -> None:
    tools = {tool.name: tool for tool in agent.tools()}
    # The eight tools of issue #25, each with its own bounded metric label.
    assert set(tools) == MCP_TOOLS and len(MCP_TOOLS) == 8
    for tool in tools.values():
        assert tool.description and "\n" not in tool.description
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert "user_id" in schema["properties"]
    assert tools["search_memories"].input_schema["required"] == ["query"]
    assert tools["search_memories"].input_schema["properties"]["limit"]["maximum"] == 100
    assert "fact" in tools["add_memory"].input_schema["properties"]["category"]["enum"]
    assert tools["get_profile"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert tools["delete_memories"].annotations.destructive_hint is True  # type: ignore[union-attr]


def test_without_a_key_the_sdk_never_answers_401_in_the_openai_shape(
    gateway: RunningGateway,
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    missing = httpx.post(f"{gateway.url}/mcp", json=body)
    assert openai_error(missing, 401)["code"] == "missing_api_key"
    wrong = httpx.post(f"{gateway.url}/mcp", json=body, headers={"Authorization": "Bearer sk-no"})
    assert openai_error(wrong, 401)["type"] == "authentication_error"


def test_a_malformed_user_header_is_a_400_naming_it(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": "a\tb"}
    response = httpx.post(f"{gateway.url}/mcp", json={}, headers=headers)
    assert openai_error(response, 400)["param"] == "X-User-Id"


def test_get_opens_no_event_stream_stateless(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}
    response = httpx.get(f"{gateway.url}/mcp", headers=headers, timeout=5)
    assert openai_error(response, 405)["message"] == "Method GET is not allowed on /mcp."


def test_a_body_over_the_limit_is_a_413_in_the_openai_shape(gateway: RunningGateway) -> None:
    limit = gateway.config.server.max_body_bytes
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    response = httpx.post(f"{gateway.url}/mcp", content=b" " * (limit + 1), headers=headers)
    assert openai_error(response, 413)["code"] == "request_too_large"


def test_a_tenant_key_naming_another_tenant_is_a_403(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {OTHER_KEY}", "X-Tenant-Id": "acme"}
    response = httpx.post(f"{gateway.url}/mcp", json={}, headers=headers)
    assert openai_error(response, 403)["code"] == "permission_denied"


def test_when_disabled_mcp_is_a_404(memory_gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    response = httpx.post(f"{memory_gateway.url}/mcp", json={}, headers=headers)
    assert openai_error(response, 404)["type"] == "not_found_error"


# -- the tools, against the memory API -----------------------------------------------------------


def test_added_memory_is_the_one_the_memory_api_returns(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    added = agent.result("add_memory", content="Prefers Rust over Go.", category="preference")
    response = api.http.get(api.path(user, f"/{added['id']}"))
    assert response.status_code == 200
    assert response.json() == added
    assert added["category"] == "preference"


def test_search_matches_the_memory_apis_search(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    api.add(user, "Lives in Lisbon.")
    api.add(user, "Has a dog named Pixel.")
    found = agent.result("search_memories", query="Where does the user live?", limit=2)
    expected = api.search(user, "Where does the user live?", limit=2)
    assert [hit["memory"]["id"] for hit in found["results"]] == [
        hit["memory"]["id"] for hit in expected
    ]
    assert found["results"][0]["memory"]["content"] == "Lives in Lisbon."


def test_update_and_delete_show_in_the_memory_api(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    memory = api.add(user, "Works at Initech.")
    updated = agent.result("update_memory", id=memory["id"], content="Works at Globex.")
    assert updated["content"] == "Works at Globex."
    assert api.contents(user) == ["Works at Globex."]
    agent.result("delete_memory", id=memory["id"])
    assert api.http.get(api.path(user, f"/{memory['id']}")).status_code == 404


def test_delete_memories_deletes_what_matches_every_filter(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    api.add(
        user, "Old preference for tabs.", category="preference", created_at="2020-01-01T00:00:00Z"
    )
    api.add(user, "New preference for spaces.", category="preference")
    api.add(user, "Old fact about a cat.", created_at="2020-01-01T00:00:00Z")
    gone = agent.result(
        "delete_memories", category="preference", created_before="2021-01-01T00:00:00Z"
    )
    assert gone["deleted"] == 1
    assert sorted(api.contents(user)) == ["New preference for spaces.", "Old fact about a cat."]
    assert "category" in agent.error("delete_memories")


def test_profile_tools_match_the_profile_api(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    agent.result("set_profile_field", field="tone", value="formal")
    agent.result("set_profile_field", field="stack", value=["python", "rust"])
    path = api.path(user).removesuffix("/memories") + "/profile"
    from_api = api.http.get(path).json()
    assert agent.result("get_profile") == from_api
    assert from_api["fields"]["tone"]["value"] == "formal"
    agent.result("set_profile_field", field="tone", value=None)
    assert "tone" not in api.http.get(path).json()["fields"]


def test_what_would_be_injected_shows_the_block_and_learns_nothing(
    agent: McpClient, api: MemoryClient, user: str
) -> None:
    api.add(user, "Is allergic to peanuts.")
    preview = agent.result("what_would_be_injected", message="Suggest a snack for me.")
    assert "Is allergic to peanuts." in preview["block"]
    assert preview["tokens"] > 0
    assert api.contents(user) == ["Is allergic to peanuts."]


def test_resources_are_the_profile_and_the_memories_by_category(
    gateway: RunningGateway, agent: McpClient, api: MemoryClient, user: str
) -> None:
    templates = {t.uri_template for t in agent.templates()}
    assert templates == {"memory://{user_id}/profile", "memory://{user_id}/memories/{category}"}
    api.add(user, "Speaks Portuguese.", category="preference")
    api.add(user, "Was born in 1990.")
    preferences = agent.read("memory://me/memories/preference")
    assert [m["content"] for m in preferences] == ["Speaks Portuguese."]
    assert agent.read("memory://me/profile")["user_id"] == user
    # Without the header, the URI names the user, percent-encoded like any URI part.
    odd = f"{user}/ü"
    api.add(odd, "Reads Saramago.", category="preference")
    named = McpClient(gateway).read(f"memory://{quote(odd, safe='')}/memories/preference")
    assert [m["content"] for m in named] == ["Reads Saramago."]


def test_a_resource_that_is_not_there_is_an_error_naming_what(
    gateway: RunningGateway, agent: McpClient
) -> None:
    with pytest.raises(MCPError, match="'gossip' is not a memory category"):
        agent.read("memory://me/memories/gossip")
    with pytest.raises(MCPError, match="'user_id'"):
        McpClient(gateway).read("memory://me/profile")


# -- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("search_memories", {"query": "x", "limit": 500}, "limit"),
        ("search_memories", {"query": ""}, "query"),
        ("search_memories", {"query": "x", "mode": "dense"}, "mode"),
        ("add_memory", {"content": "x", "category": "gossip"}, "category"),
        ("add_memory", {"content": "x", "metadata": "not an object"}, "metadata"),
        ("update_memory", {"id": "nope", "content": ""}, "content"),
        ("delete_memories", {"created_before": "yesterday"}, "created_before"),
        ("set_profile_field", {"field": "tone", "value": "grumpy"}, "value"),
        ("set_profile_field", {"field": "mood", "value": "x"}, "field"),
        ("set_profile_field", {"field": "tone"}, "value"),
        ("what_would_be_injected", {}, "message"),
    ],
)
def test_bad_arguments_get_a_tool_error_naming_the_field(
    agent: McpClient, tool: str, arguments: dict[str, Any], field: str
) -> None:
    assert f"'{field}'" in agent.error(tool, **arguments)


def test_no_user_is_a_tool_error_naming_user_id(gateway: RunningGateway) -> None:
    message = McpClient(gateway).error("search_memories", query="anything")
    assert "'user_id'" in message and "X-User-Id" in message


def test_user_id_argument_names_the_user_without_a_header(
    gateway: RunningGateway, api: MemoryClient, user: str
) -> None:
    api.add(user, "Drinks oat milk.")
    found = McpClient(gateway).result("search_memories", query="milk", user_id=user)
    assert found["results"][0]["memory"]["content"] == "Drinks oat milk."


def test_the_header_pins_the_user_against_another_user_id(agent: McpClient) -> None:
    assert "'user_id'" in agent.error("search_memories", query="x", user_id="someone-else")


# -- isolation and roles -------------------------------------------------------------------------


def test_another_tenants_key_sees_nothing(
    gateway: RunningGateway, agent: McpClient, user: str
) -> None:
    memory = agent.result("add_memory", content="Acme's secret: the launch is in May.")
    globex = McpClient(gateway, OTHER_KEY, user=user)
    assert globex.result("search_memories", query="launch")["results"] == []
    assert "No memory with id" in globex.error("delete_memory", id=memory["id"])
    assert globex.read("memory://me/memories/fact") == []
    assert globex.result("get_profile")["fields"] == {}
    assert agent.result("search_memories", query="launch")["results"][0]["memory"] == memory


def test_a_read_only_key_reads_but_cannot_write(
    gateway: RunningGateway, api: MemoryClient, user: str
) -> None:
    memory = api.add(user, "Uses vim.")
    reader = McpClient(gateway, READER_KEY, user=user)
    assert reader.result("search_memories", query="editor")["results"]
    before = total(scrape(gateway), "gateway_mcp_tool_calls_total", outcome="denied")
    for tool, arguments in [
        ("add_memory", {"content": "Uses emacs."}),
        ("update_memory", {"id": memory["id"], "content": "Uses emacs."}),
        ("delete_memory", {"id": memory["id"]}),
        ("delete_memories", {"category": "fact"}),
        ("set_profile_field", {"field": "tone", "value": "casual"}),
    ]:
        assert "read-only" in reader.error(tool, **arguments)
    assert api.contents(user) == ["Uses vim."]
    after = total(scrape(gateway), "gateway_mcp_tool_calls_total", outcome="denied")
    assert after - before == 5


def test_an_admin_key_names_the_tenant(
    gateway: RunningGateway, api: MemoryClient, user: str
) -> None:
    api.add(user, "Plays chess.")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = httpx.post(f"{gateway.url}/mcp", json={}, headers=headers)
    assert openai_error(response, 400)["param"] == "X-Tenant-Id"
    admin = McpClient(gateway, ADMIN_KEY, user=user, tenant="acme")
    assert admin.result("search_memories", query="games")["results"]


# -- what the operator sees ----------------------------------------------------------------------


def test_tool_calls_are_counted_by_tool_and_outcome(
    gateway: RunningGateway, agent: McpClient
) -> None:
    def ok() -> float:
        return total(
            scrape(gateway), "gateway_mcp_tool_calls_total", tool="add_memory", outcome="ok"
        )

    before = ok()
    agent.result("add_memory", content="Counts sheep.")
    assert ok() - before == 1


def test_writes_appear_in_the_audit_trail_as_mcp(
    gateway: RunningGateway, agent: McpClient, user: str
) -> None:
    memory = agent.result("add_memory", content="Takes the train to work.")
    agent.result("delete_memory", id=memory["id"])
    response = httpx.get(
        f"{gateway.url}/v1/audit",
        params={"tenant": "acme", "user_id": user},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 200, response.text
    records = response.json()["data"]
    mine = [(r["action"], r["memory_id"], r["via"]) for r in records]
    assert ("memory.add", memory["id"], "mcp") in mine
    assert ("memory.delete", memory["id"], "mcp") in mine
    assert "Takes the train" not in response.text and user not in response.text


def test_a_reload_keeps_mcp_enabled_as_it_started(gateway: RunningGateway) -> None:
    running = gateway.config
    turned_off = running.model_copy(update={"mcp": McpConfig(enabled=False)})
    merged, ignored = merge_live(running, turned_off)
    assert merged.mcp.enabled is True
    assert ignored == ["mcp.enabled"]
