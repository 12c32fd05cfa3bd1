"""Stage 3: who the memories belong to, and what the caller allows us to do with them.

Tenant = the gateway key's tenant. User = the ``X-User-Id`` header, else the body's ``user`` field
(which OpenAI clients already send); an empty value in either counts as absent.
``X-Memory: on | read-only | off`` chooses per request; ``X-Context-Budget: <tokens>``,
``X-Retrieval-Mode: hybrid | dense | lexical`` and ``X-Personalization: on | off`` tune one
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from gateway.context.budget import requested_budget
from gateway.errors import InvalidRequest
from gateway.types import Identity, MemoryMode, RetrievalMode

_MODES = ("on", "read-only", "off")
_RETRIEVAL_MODES = ("hybrid", "dense", "lexical")
MAX_USER_ID_CHARS = 256


def check_user_id(user: str, param: str) -> str:
    if not user or len(user) > MAX_USER_ID_CHARS or not user.isprintable():
        raise InvalidRequest(
            f"Invalid '{param}': expected 1 to {MAX_USER_ID_CHARS} printable characters.",
            param=param,
        )
    return user


def user_header(headers: Mapping[str, str]) -> str | None:
    """The user ``X-User-Id`` names, checked; an empty value names nobody."""
    value = headers.get("x-user-id")
    return check_user_id(utf8(value), "X-User-Id") if value else None


def resolve_identity(
    headers: Mapping[str, str], body_user: str | None, tenant: str, session: str | None = None
) -> Identity:
    mode = headers.get("x-memory", "on").strip().lower()
    if mode not in _MODES:
        raise InvalidRequest(
            "Invalid 'X-Memory' header: expected one of on, read-only, off.", param="X-Memory"
        )
    # An empty value names nobody, in the header as in the body: the request goes on unscoped.
    user = user_header(headers)
    if user is None and body_user is not None:
        user = check_user_id(body_user, "user")
    return Identity(
        tenant,
        user,
        cast(MemoryMode, mode),
        requested_budget(headers.get("x-context-budget")),
        _retrieval_mode(headers.get("x-retrieval-mode")),
        personalization=_personalization(headers.get("x-personalization")),
        session=session,
    )


def _personalization(value: str | None) -> bool:
    if value is None:
        return True
    setting = value.strip().lower()
    if setting not in ("on", "off"):
        raise InvalidRequest(
            "Invalid 'X-Personalization' header: expected on or off.", param="X-Personalization"
        )
    return setting == "on"


def utf8(value: str) -> str:
    """Header values arrive decoded as latin-1; clients send user ids as UTF-8. Read them as
    UTF-8 so the same id in a header, a body and a URL is the same user."""
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _retrieval_mode(value: str | None) -> RetrievalMode | None:
    if value is None:
        return None
    mode = value.strip().lower()
    if mode not in _RETRIEVAL_MODES:
        raise InvalidRequest(
            "Invalid 'X-Retrieval-Mode' header: expected hybrid, dense or lexical.",
            param="X-Retrieval-Mode",
        )
    return cast(RetrievalMode, mode)
