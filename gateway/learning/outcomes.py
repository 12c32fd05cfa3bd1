"""The personalization records: one row per exchange of a known user, kept for the report.

A row holds no text at all: the tenant, the exchange's ids, a digest of the user, the cohort,
and what came of it — restated facts by cause, whether the user reacted positively, and the
rating ``POST /v1/feedback`` gave it (thumb, score, reason code). Rows older than
``personalization.retention_days`` are deleted; a rating is accepted only within
``feedback_window_s`` of the exchange.

The file (``outcomes.sqlite3``) sits beside the extraction journal, in WAL mode like it: a row
is written on the request path in tens of microseconds, and several processes share the file.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from gateway.learning.reactions import Reactions
from gateway.learning.transcript import new_user_turns
from gateway.observability import Metrics
from gateway.store.records import Scope
from gateway.types import ChatRequest, Cohort, ExchangeRef, Identity

log = logging.getLogger(__name__)

OUTCOMES_DB = "outcomes.sqlite3"
Cause = Literal["retrieval_miss", "ignored", "holdout"]
CAUSES: tuple[Cause, ...] = ("retrieval_miss", "ignored", "holdout")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS exchanges (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        completion_id TEXT,
        user_digest TEXT NOT NULL,
        cohort TEXT NOT NULL,
        at REAL NOT NULL,
        reaction INTEGER NOT NULL DEFAULT 0,
        retrieval_miss INTEGER NOT NULL DEFAULT 0,
        ignored INTEGER NOT NULL DEFAULT 0,
        holdout INTEGER NOT NULL DEFAULT 0,
        rating TEXT,
        score INTEGER,
        reason TEXT,
        PRIMARY KEY (tenant, request_id)
    )""",
    "CREATE INDEX IF NOT EXISTS exchanges_completion ON exchanges (tenant, completion_id)",
    "CREATE INDEX IF NOT EXISTS exchanges_at ON exchanges (at)",
)
_BUSY_MS = 250
#: Old rows are purged once per this many rows written.
_PURGE_EVERY = 4096


def user_digest(tenant: str, user: str) -> str:
    """Tells one user's rows from another's without naming the user."""
    return hashlib.sha256(f"{tenant}\0{user}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Rated:
    """The exchange a rating was joined to."""

    request_id: str
    cohort: Cohort


@dataclass(frozen=True, slots=True)
class Totals:
    """One cohort's exchanges summed, as the report reads them."""

    cohort: str
    exchanges: int
    #: Restated facts by cause, and the sum of squares of each exchange's count (for the
    #: variance of the per-exchange rate).
    restated: dict[str, int]
    restated_squares: int
    reactions: int
    ups: int
    downs: int
    scores: int
    score_sum: int
    score_squares: int


class Outcomes:
    """The ``exchanges`` table; every method is a single short statement."""

    def __init__(self, path: Path, *, retention_s: float, read_only: bool = False) -> None:
        self._retention_s = retention_s
        if read_only:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._written = 0
        self.purge(time.time())

    def record(
        self,
        tenant: str,
        request_id: str,
        completion_id: str | None,
        digest: str,
        cohort: Cohort,
        reaction: bool,
        now: float,
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO exchanges "
            "(tenant, request_id, completion_id, user_digest, cohort, at, reaction) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tenant, request_id, completion_id, digest, cohort, now, int(reaction)),
        )
        self._written += 1
        if self._written % _PURGE_EVERY == 0:
            self.purge(now)

    def find(self, tenant: str, exchange_id: str, since: float) -> Rated | None:
        """The exchange of ``tenant`` with this request or completion id, if newer than
        ``since`` (the latest, should a provider repeat completion ids)."""
        row = self._db.execute(
            "SELECT request_id, cohort FROM exchanges WHERE tenant = ? AND at >= ? "
            "AND (request_id = ? OR completion_id = ?) ORDER BY at DESC LIMIT 1",
            (tenant, since, exchange_id, exchange_id),
        ).fetchone()
        return None if row is None else Rated(row[0], row[1])

    def rate(
        self,
        tenant: str,
        request_id: str,
        rating: str | None,
        score: int | None,
        reason: str | None,
    ) -> None:
        """Store a rating; a later one for the same exchange replaces it."""
        self._db.execute(
            "UPDATE exchanges SET rating = ?, score = ?, reason = ? "
            "WHERE tenant = ? AND request_id = ?",
            (rating, score, reason, tenant, request_id),
        )

    def restated(self, tenant: str, request_id: str, causes: Counter[Cause]) -> None:
        self._db.execute(
            "UPDATE exchanges SET retrieval_miss = retrieval_miss + ?, ignored = ignored + ?, "
            "holdout = holdout + ? WHERE tenant = ? AND request_id = ?",
            (*(causes[cause] for cause in CAUSES), tenant, request_id),
        )

    def forget(self, tenant: str, digest: str) -> int:
        """The user is being erased: their rows go too (the report loses their exchanges)."""
        return int(
            self._db.execute(
                "DELETE FROM exchanges WHERE tenant = ? AND user_digest = ?", (tenant, digest)
            ).rowcount
        )

    def purge(self, now: float) -> int:
        return int(
            self._db.execute(
                "DELETE FROM exchanges WHERE at < ?", (now - self._retention_s,)
            ).rowcount
        )

    def totals(self, since: float, tenant: str | None = None) -> list[Totals]:
        """Each cohort's exchanges since ``since`` (of one tenant, or all), summed."""
        restated = "(retrieval_miss + ignored + holdout)"
        sums = (
            "retrieval_miss",
            "ignored",
            "holdout",
            f"{restated} * {restated}",
            "reaction",
            "rating = 'up'",
            "rating = 'down'",
            "score IS NOT NULL",
            "score",
            "score * score",
        )
        columns = ", ".join(f"COALESCE(SUM({term}), 0)" for term in sums)
        sql = f"SELECT cohort, COUNT(*), {columns} FROM exchanges WHERE at >= ?"
        parameters: tuple[Any, ...] = (since,)
        if tenant is not None:
            sql += " AND tenant = ?"
            parameters = (since, tenant)
        rows = self._db.execute(sql + " GROUP BY cohort ORDER BY cohort DESC", parameters)
        return [
            Totals(cohort, n, dict(zip(CAUSES, (miss, ign, held), strict=True)), *rest)
            for cohort, n, miss, ign, held, *rest in rows
        ]

    def close(self) -> None:
        self._db.close()


def causes_of(exchange: ExchangeRef, memory_ids: Collection[str]) -> Counter[Cause]:
    """Why each restated memory had to be restated: the holdout was not given it; in the
    memory cohort it was either not injected (a retrieval miss) or injected and ignored."""
    causes: Counter[Cause] = Counter()
    for memory_id in memory_ids:
        if exchange.cohort == "holdout":
            causes["holdout"] += 1
        elif memory_id in exchange.injected_ids:
            causes["ignored"] += 1
        else:
            causes["retrieval_miss"] += 1
    return causes


def encode_exchange(exchange: ExchangeRef) -> bytes:
    return orjson.dumps(
        {"id": exchange.id, "cohort": exchange.cohort, "injected": exchange.injected_ids}
    )


def decode_exchange(data: bytes) -> ExchangeRef:
    raw = orjson.loads(data)
    return ExchangeRef(raw["id"], raw["cohort"], tuple(raw["injected"]))


class OutcomeLog:
    """The proxy's ``ExchangeLog``: one row per exchange, reactions counted; and where
    learning reports the facts that were restated."""

    def __init__(self, outcomes: Outcomes, reactions: Reactions, metrics: Metrics) -> None:
        self._outcomes = outcomes
        self._reactions = reactions
        self._metrics = metrics

    def record(
        self, identity: Identity, chat: ChatRequest, request_id: str, completion_id: str | None
    ) -> None:
        if identity.user is None or identity.mode == "off":
            return  # the client chose no memory: not part of the comparison
        cohort = identity.cohort
        # The text is read here and nowhere kept: only whether it matched.
        reaction = self._reactions.positive(new_user_turns(chat.messages))
        self._metrics.exchange(cohort)
        if reaction:
            self._metrics.positive_reaction(cohort)
        digest = user_digest(identity.tenant, identity.user)
        try:
            self._outcomes.record(
                identity.tenant, request_id, completion_id, digest, cohort, reaction, time.time()
            )
        except sqlite3.Error as exc:
            log.warning("personalization record not written (%s)", type(exc).__name__)

    async def forget(self, scope: Scope) -> None:
        """A ``MemoryStore.before_erase`` hook."""
        self._outcomes.forget(scope.tenant, user_digest(scope.tenant, scope.user))

    def restated(self, tenant: str, exchange: ExchangeRef, memory_ids: Sequence[str]) -> None:
        causes = causes_of(exchange, memory_ids)
        for cause, count in causes.items():
            self._metrics.restated_facts(exchange.cohort, cause, count)
        try:
            self._outcomes.restated(tenant, exchange.id, causes)
        except sqlite3.Error as exc:
            log.warning("restated facts not recorded (%s)", type(exc).__name__)
