"""Whose memories a request uses, and the per-request headers that tune them."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.proxy.identity import MAX_USER_ID_CHARS, resolve_identity


def test_the_header_names_the_user_before_the_body() -> None:
    identity = resolve_identity({"x-user-id": "from-header"}, "from-body", "acme")
    assert (identity.tenant, identity.user) == ("acme", "from-header")
    assert resolve_identity({}, "from-body", "acme").user == "from-body"


def test_without_a_user_nothing_is_read_or_learned() -> None:
    identity = resolve_identity({}, None, "acme")
    assert identity.user is None
    assert not identity.reads
    assert not identity.learns


@pytest.mark.parametrize(
    ("header", "reads", "learns"),
    [("on", True, True), (" Read-Only ", True, False), ("OFF", False, False)],
)
def test_x_memory_chooses_what_the_request_may_do(header: str, reads: bool, learns: bool) -> None:
    identity = resolve_identity({"x-memory": header}, "u", "acme")
    assert (identity.reads, identity.learns) == (reads, learns)


def test_a_utf8_user_id_in_a_header_is_the_same_user_as_in_the_body() -> None:
    # Servers hand header values over decoded as latin-1.
    header = "zoë".encode().decode("latin-1")
    assert resolve_identity({"x-user-id": header}, None, "acme").user == "zoë"


@pytest.mark.parametrize(("body_user", "user"), [(None, None), ("bob", "bob")])
def test_an_empty_user_header_counts_as_absent_like_an_empty_body_user(
    body_user: str | None, user: str | None
) -> None:
    assert resolve_identity({"x-user-id": ""}, body_user, "acme").user == user


def test_the_retrieval_mode_and_budget_headers_are_read() -> None:
    headers = {"x-retrieval-mode": " DENSE", "x-context-budget": " 1500 "}
    identity = resolve_identity(headers, "u", "acme")
    assert identity.retrieval_mode == "dense"
    assert identity.budget_override == 1500


@pytest.mark.parametrize(
    ("headers", "body_user", "param"),
    [
        ({"x-memory": "sometimes"}, "u", "X-Memory"),
        ({"x-retrieval-mode": "sparse"}, "u", "X-Retrieval-Mode"),
        ({"x-context-budget": "²"}, "u", "X-Context-Budget"),
        ({"x-context-budget": "-5"}, "u", "X-Context-Budget"),
        ({"x-context-budget": "1" * 10}, "u", "X-Context-Budget"),
        ({"x-user-id": "a\tb"}, None, "X-User-Id"),
        ({}, "x" * (MAX_USER_ID_CHARS + 1), "user"),
    ],
)
def test_a_bad_header_or_user_is_refused_naming_it(
    headers: dict[str, str], body_user: str | None, param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        resolve_identity(headers, body_user, "acme")
    assert caught.value.param == param
    assert caught.value.status_code == 400
