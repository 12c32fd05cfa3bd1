"""Fuzzing every endpoint of a real gateway on loopback: whatever a client sends (any method, path,
query, header bytes or body), the answer is never a 500, and every error is in the OpenAI shape
(Anthropic's on ``/v1/messages``).

The requests go over raw sockets, so that header values no HTTP library would send (control
characters, bytes beyond ASCII) reach the server. Routes come from the application itself: an
endpoint added tomorrow is fuzzed without a change here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from gateway.app import create_app
from tests.support import rawhttp
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.support.memory import memory_config

pytestmark = pytest.mark.slow

#: Enough to reach every handler with many kinds of input, within a CI minute on two cores.
EXAMPLES = 400
METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS")
CATEGORIES = ("compliance", "session", "role", "organization", "preference", "fact", "general")


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def wire(self) -> bytes:
        head = [
            f"{self.method} {self.path} HTTP/1.1".encode(),
            b"Host: fuzz",
            b"Connection: close",
            b"Content-Length: %d" % len(self.body),
            *(name + b": " + value for name, value in self.headers),
        ]
        return b"\r\n".join(head) + b"\r\n\r\n" + self.body


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Memory on (every memory endpoint live), an embedded store in the gateway's process."""
    config = memory_config(
        tmp_path_factory.mktemp("fuzz"), memory={"store": {"runs_in": "gateway"}}
    )
    with gateway_in_thread(config) as running:
        yield running


def route_templates(gateway: RunningGateway) -> list[tuple[str, tuple[str, ...]]]:
    """Every HTTP route of the application, as (path template, methods)."""
    app = create_app(gateway.config)
    return [
        (route.path, tuple(sorted(route.methods or ())))
        for route in app.routes
        if isinstance(route, Route)
    ]


def segment() -> st.SearchStrategy[str]:
    """A path parameter: any text, percent-encoded as a client would."""
    text = st.text(max_size=24) | st.sampled_from(["alice", "bob", "a/b", "..", "%00"])
    return text.map(lambda value: quote(value.encode("utf-8", "surrogatepass"), safe=""))


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=24)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )


#: The fields each kind of endpoint reads, by a word of its path.
GROUPS = {
    "chat": ("model", "messages", "stream", "stream_options", "user"),
    "memories": ("content", "category", "metadata", "created_at", "memories"),
    "search": ("query", "limit", "mode"),
}


def json_bodies(template: str) -> st.SearchStrategy[bytes]:
    """Objects with the fields the endpoint reads, each right, wrong or missing (so that some
    pass every check and reach the handler); objects with any field; any JSON."""
    value = json_values()
    message = st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant"]) | value},
        optional={"content": st.text(max_size=40) | value},
    )
    memory = fields_for_memory()
    fields: dict[str, st.SearchStrategy[Any]] = {
        "model": st.sampled_from(["echo", "gpt-99", ""]) | value,
        "messages": st.lists(message, min_size=1, max_size=3) | value,
        "stream": st.booleans() | value,
        "stream_options": st.just({"include_usage": True}) | value,
        "user": st.sampled_from(["", "alice"]) | value,
        "content": memory["content"] | value,
        "category": memory["category"] | value,
        "metadata": memory["metadata"] | value,
        "created_at": st.sampled_from(["2024-05-01T12:00:00Z", "soon", "0001-01-01T00:00:00Z"])
        | value,
        "query": st.text(max_size=20) | value,
        "limit": st.integers(-5, 200) | value,
        "mode": st.sampled_from(["hybrid", "dense", "sparse"]) | value,
        "memories": st.lists(st.fixed_dictionaries({}, optional=memory), max_size=3) | value,
    }
    words = [word for word in GROUPS if word in template] or list(GROUPS)
    own = [name for name in fields if any(name in GROUPS[word] for word in words[-1:])]
    objects = st.fixed_dictionaries({}, optional={name: fields[name] for name in own})
    anything = st.fixed_dictionaries({}, optional=fields)
    return (objects | anything | value).map(
        lambda body: json.dumps(body).encode("utf-8", "surrogatepass")
    )


def valid_bodies(template: str) -> st.SearchStrategy[bytes]:
    """A body the endpoint accepts, with any text in it: what gets past every check."""
    text = st.text(min_size=1, max_size=60).filter(str.strip)
    chat = st.fixed_dictionaries(
        {
            "model": st.just("echo"),
            "messages": st.lists(
                st.fixed_dictionaries({"role": st.just("user"), "content": text}),
                min_size=1,
                max_size=2,
            ),
        },
        optional={"stream": st.booleans(), "user": text},
    )
    memory = st.fixed_dictionaries(
        {"content": text}, optional={"category": st.sampled_from(CATEGORIES)}
    )
    search = st.fixed_dictionaries(
        {"query": text},
        optional={"limit": st.integers(1, 100), "mode": st.sampled_from(["hybrid", "dense"])},
    )
    kind = "search" if "search" in template else "memories" if "memories" in template else "chat"
    chosen = {"chat": chat, "memories": memory, "search": search}[kind]
    return chosen.map(lambda body: json.dumps(body).encode("utf-8", "surrogatepass"))


def fields_for_memory() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "content": st.text(min_size=1, max_size=40),
        "category": st.sampled_from(CATEGORIES),
        "metadata": st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
    }


def bodies(template: str) -> st.SearchStrategy[bytes]:
    deep = st.integers(1, 1500).map(
        lambda depth: (
            b'{"model": "echo", "x": '
            + b"[" * depth
            + b"12345678901234567890123"
            + b"]" * depth
            + b"}"
        )
    )
    return st.one_of(valid_bodies(template), json_bodies(template), st.binary(max_size=64), deep)


def header_values(*meaningful: str) -> st.SearchStrategy[bytes]:
    # Any byte but CR and LF (which would end the header): control characters, latin-1, UTF-8.
    raw = st.binary(max_size=24).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))
    return st.sampled_from([m.encode() for m in meaningful]) | raw


def headers() -> st.SearchStrategy[tuple[tuple[bytes, bytes], ...]]:
    optional = {
        b"x-user-id": header_values("alice", "", "bob"),
        b"x-memory": header_values("on", "off", "read-only"),
        b"x-context-budget": header_values("0", "500", "-1", "99999999999999999999"),
        b"x-retrieval-mode": header_values("dense", "hybrid"),
        b"content-type": header_values("application/json"),
    }
    auth = st.sampled_from(
        [f"Bearer {KEY}"] * 6 + [f"Bearer {OTHER_KEY}", "Bearer nope", "Basic eA==", ""]
    ).map(str.encode)
    return st.fixed_dictionaries({b"authorization": auth}, optional=optional).map(
        lambda mapping: tuple(mapping.items())
    )


@st.composite
def fuzz_requests(draw: st.DrawFn, templates: list[tuple[str, tuple[str, ...]]]) -> FuzzRequest:
    template, methods = draw(st.sampled_from(templates))
    path = template
    for name in ("{user_id:path}", "{memory_id}"):
        if name in path:
            path = path.replace(name, draw(segment()))
    if draw(st.booleans()) and "{" not in template:
        path = draw(st.sampled_from([path, "/v1/" + draw(segment()), "/" + draw(segment())]))
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "offset", "status", "x"]),
            st.sampled_from(["1", "0", "-1", "all", "superseded", "9" * 30]) | segment(),
            max_size=2,
        )
    )
    if query:
        path += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    method = draw(st.sampled_from(methods) | st.sampled_from(METHODS))
    return FuzzRequest(method, path, draw(headers()), draw(bodies(template)))


#: What the connection answers before any route is chosen, in the OpenAI shape on every path.
CONNECTION_CODES = frozenset(
    {"invalid_http", "request_timeout", "headers_too_large", "url_too_long", "too_many_connections"}
)


def check_error_shape(request: FuzzRequest, response: rawhttp.RawResponse) -> None:
    """The OpenAI shape, except on ``/v1/messages`` (and below), whose clients parse Anthropic's,
    for every error that got as far as the application."""
    path = request.path.partition("?")[0]
    if path != "/v1/messages" and not path.startswith("/v1/messages/"):
        response.openai_error()
    elif '"param"' in response.body.decode("utf-8", "replace"):
        assert response.openai_error()["code"] in CONNECTION_CODES, response
    else:
        response.anthropic_error()


def test_no_input_gets_a_500_and_every_error_has_the_openai_shape(
    fuzz_gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = route_templates(fuzz_gateway)
    assert any("{memory_id}" in path for path, _ in templates)
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=fuzz_requests(templates))
    def probe(request: FuzzRequest) -> None:
        response = rawhttp.exchange(fuzz_gateway.url, request.wire())
        statuses[response.status] += 1
        assert response.status != 500, (request, response)
        if response.status >= 400 and request.method != "HEAD":
            check_error_shape(request, response)

    probe()
    with capsys.disabled():
        print(
            f"\nfuzz: {statuses.total()} requests tried, by status: {dict(sorted(statuses.items()))}"
        )
    # The fuzz got past authentication and parsing into the handlers, not only to their doors.
    assert statuses[200] + statuses[201] > EXAMPLES // 20
    assert statuses[400] > EXAMPLES // 20
