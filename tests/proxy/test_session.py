"""Which conversation a request belongs to: the header, else the body's metadata, else the
conversation's opening."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.proxy.session import PREFIX, resolve_session

SYSTEM = {"role": "system", "content": "You are a running coach."}
OPENING = {"role": "user", "content": "I ran the Porto half marathon."}
LATER = [
    SYSTEM,
    OPENING,
    {"role": "assistant", "content": "Well done! How did it go?"},
    {"role": "user", "content": [{"type": "text", "text": "1 hour 52 minutes."}]},
]


def test_the_header_comes_before_the_body_metadata_and_the_body_before_the_messages() -> None:
    body: dict[str, Any] = {"metadata": {"session_id": "from-body"}}
    assert resolve_session({"x-session-id": " from-header "}, body, LATER) == "from-header"
    assert resolve_session({}, body, LATER) == "from-body"
    inferred = resolve_session({"x-session-id": " "}, {"metadata": {"other": "x"}}, LATER)
    assert inferred is not None and inferred.startswith(PREFIX)  # an empty header names none


def test_every_request_that_opens_the_same_way_is_one_session() -> None:
    first = resolve_session({}, {}, [SYSTEM, OPENING])
    assert resolve_session({}, {}, LATER) == first
    other_opening = [SYSTEM, {"role": "user", "content": "I ran the Lisbon half marathon."}]
    other_system = [{"role": "system", "content": "You are a chef."}, OPENING]
    assert resolve_session({}, {}, other_opening) != first
    assert resolve_session({}, {}, other_system) != first


def test_a_request_without_a_user_message_has_no_session() -> None:
    assert resolve_session({}, {}, [SYSTEM]) is None


@pytest.mark.parametrize(
    ("headers", "body", "param"),
    [
        ({"x-session-id": "s" * 257}, {}, "X-Session-Id"),
        ({}, {"metadata": {"session_id": 42}}, "metadata.session_id"),
        ({}, {"metadata": {"session_id": "tab\there"}}, "metadata.session_id"),
    ],
)
def test_an_invalid_session_id_is_refused_naming_where_it_came_from(
    headers: dict[str, str], body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        resolve_session(headers, body, LATER)
    assert caught.value.param == param
    assert f"'{param}'" in str(caught.value)
