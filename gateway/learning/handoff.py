"""Stage 7: hand each finished exchange to learning, on the request path.

``submit`` is called once the whole reply has passed (for a stream, after its last chunk and
before the client sees the end). It writes one row to the journal — tens of microseconds — and
wakes a worker; the client never waits for extraction. It never raises: a full backlog or a
journal that cannot be written costs the exchange's learning, never the reply.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from gateway.learning.journal import Journal
from gateway.learning.outcomes import encode_exchange
from gateway.learning.transcript import transcript_of
from gateway.observability import Metrics
from gateway.store.records import Scope
from gateway.types import ChatRequest, ExchangeRef, Identity

log = logging.getLogger(__name__)


class JournalHandoff:
    """The proxy's ``Handoff`` when learning is on."""

    def __init__(
        self,
        journal: Journal,
        metrics: Metrics,
        *,
        on_chat: Callable[[], None],
        on_job: Callable[[], None],
    ) -> None:
        self._journal = journal
        self._metrics = metrics
        #: Every exchange handed over (the pacer's sign of chat traffic).
        self._on_chat = on_chat
        #: Every job journaled (wakes a worker).
        self._on_job = on_job

    def submit(
        self,
        identity: Identity,
        chat: ChatRequest,
        reply_text: str,
        exchange: ExchangeRef | None = None,
    ) -> None:
        self._on_chat()
        if not identity.learns or identity.user is None:
            return  # X-Memory: read-only / off, or no user to learn about
        transcript = transcript_of(chat.messages, reply_text, identity.session)
        if transcript is None:
            return
        scope = Scope(identity.tenant, identity.user)
        try:
            context = None if exchange is None else encode_exchange(exchange)
            job_id = self._journal.enqueue(scope, transcript.encode(), time.time(), context)
        except sqlite3.Error as exc:
            log.warning("extraction journal write failed (%s); exchange not learned from", exc)
            job_id = None
        if job_id is None:
            self._metrics.extraction_job("dropped", None)
            return
        self._on_job()
