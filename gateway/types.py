"""The types every stage of a chat completion shares, below all of them.

A parsed request (``ChatRequest``), who it is for (``Identity``), what the context stage did to it
(``Prepared``) and where a finished exchange goes (``Handoff``). This module imports no stage, so
any stage can import it without reaching up into the orchestrator that calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

MemoryMode = Literal["on", "read-only", "off"]
RetrievalMode = Literal["hybrid", "dense", "lexical"]
#: Which side of the personalization experiment a user is on (``gateway.proxy.cohort``).
Cohort = Literal["memory", "holdout"]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat completion's body, with the fields the gateway reads checked and pulled out."""

    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    user: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose memories a request reads and writes, and what the caller allows."""

    tenant: str
    user: str | None
    mode: MemoryMode
    #: Tokens asked for with ``X-Context-Budget`` (still capped by the config).
    budget_override: int | None = None
    retrieval_mode: RetrievalMode | None = None
    #: ``holdout``: the user's memories are not injected (they are still learned).
    cohort: Cohort = "memory"
    #: ``X-Personalization: off`` leaves the user's profile out of this request.
    personalization: bool = True
    #: The conversation the request belongs to (``gateway.proxy.session``); learned memories
    #: carry it so that the index can thread them.
    session: str | None = None

    @property
    def reads(self) -> bool:
        return self.user is not None and self.mode != "off"

    @property
    def learns(self) -> bool:
        return self.user is not None and self.mode == "on"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the memory stage did to a request."""

    #: The messages to send upstream, or None when they are unchanged.
    messages: list[dict[str, Any]] | None = None
    #: ``X-Memory-*`` response headers.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The injected memories' texts, for measuring how much of them the reply used.
    injected: tuple[str, ...] = ()
    #: The rendered memory block itself, for endpoints that place it elsewhere than in
    #: ``messages`` (the Responses API's ``instructions``, the Messages API's ``system``); empty
    #: when nothing was injected.
    block: str = ""
    #: The injected memories' ids, for telling a restated fact's cause.
    injected_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExchangeRef:
    """Which exchange a learning job came from, and which memories that exchange was given."""

    #: The exchange's ``x-request-id``.
    id: str
    cohort: Cohort
    injected_ids: tuple[str, ...] = ()


class Handoff(Protocol):
    """Receives each finished exchange for background learning; must not block for long."""

    def submit(
        self,
        identity: Identity,
        chat: ChatRequest,
        reply_text: str,
        exchange: ExchangeRef | None = None,
    ) -> None: ...


class NoLearning:
    """The hand-off when learning is off."""

    def submit(
        self,
        identity: Identity,
        chat: ChatRequest,
        reply_text: str,
        exchange: ExchangeRef | None = None,
    ) -> None:
        return None


class ExchangeLog(Protocol):
    """Records each finished exchange of a known user for the personalization report; must
    not block for long and never raises."""

    def record(
        self, identity: Identity, chat: ChatRequest, request_id: str, completion_id: str | None
    ) -> None: ...


class NoExchangeLog:
    """The exchange log when memory is off."""

    def record(
        self, identity: Identity, chat: ChatRequest, request_id: str, completion_id: str | None
    ) -> None:
        return None
