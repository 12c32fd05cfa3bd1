"""What a memory is, and whose it is."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal

Source = Literal["extracted", "api"]
#: Only ``active`` memories are retrieved and injected. ``superseded``: replaced by a newer one,
#: kept for history and export. ``pending``: stored but not yet retrieved (written by earlier
#: versions for style preferences, which now live in the user's profile).
Status = Literal["active", "superseded", "pending"]
#: Metadata of a memory learned from live traffic: the conversation it came from
#: (``gateway.proxy.session``) and where in it (messages before the turn it was learned from).
SESSION: Final = "session"
TURN: Final = "turn"


@dataclass(frozen=True, slots=True)
class Scope:
    """One user of one tenant: the unit of isolation. Nothing crosses a scope."""

    tenant: str
    user: str

    @property
    def key(self) -> str:
        """A stable digest of the scope; length-prefixed so no two scopes can collide by
        concatenation ("ab"+"c" vs "a"+"bc"), and case/space/unicode-exact."""
        tenant, user = self.tenant.encode(), self.user.encode()
        raw = b"%d:%b|%d:%b" % (len(tenant), tenant, len(user), user)
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Memory:
    id: str
    content: str
    category: str
    created_at: datetime
    updated_at: datetime
    source: Source = "api"
    #: How many separate observations support this memory.
    evidence: int = 1
    #: When the memory was last observed or confirmed; drives decay.
    last_seen_at: datetime | None = None
    status: Status = "active"
    #: The memory that replaced this one, when superseded.
    superseded_by: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Write order within the user (nanosecond clock at insertion): memories written together
    #: with one ``created_at`` -- a session's turns -- keep their order through reloads.
    ordinal: int = 0

    @property
    def seen_at(self) -> datetime:
        return self.last_seen_at or self.updated_at

    @property
    def thread(self) -> str | float:
        """The thread the memory belongs to: its session when it has one, else its
        ``created_at`` (a batch written together is one session)."""
        session = self.metadata.get(SESSION)
        return session if isinstance(session, str) else self.created_at.timestamp()

    @property
    def place(self) -> tuple[int, int, str]:
        """Its place in its thread: turn, then write order."""
        turn = self.metadata.get(TURN)
        turn = turn if isinstance(turn, int) and not isinstance(turn, bool) else 0
        return (turn, self.ordinal, self.id)

    def public(self) -> dict[str, Any]:
        """The memory as the HTTP API shows it."""
        return {
            "id": self.id,
            "content": self.content,
            "category": self.category,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "last_seen_at": iso(self.seen_at),
            "source": self.source,
            "evidence": self.evidence,
            "status": self.status,
            "superseded_by": self.superseded_by,
            "metadata": dict(self.metadata),
        }


#: Memory's fields in declaration order: the order ``Memory(*values)`` takes them.
MEMORY_FIELDS = tuple(f.name for f in fields(Memory))


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC, ISO 8601 with a ``Z``: how the HTTP API writes every time."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
