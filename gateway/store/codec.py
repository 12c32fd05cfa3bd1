"""A memory's fields as flat metadata (what Chroma stores) or as columns (what a snapshot file
stores), and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from gateway.store.records import MEMORY_FIELDS, Memory, Source, Status

_TIMES = frozenset({"created_at", "updated_at", "last_seen_at"})


def encode(memory: Memory) -> dict[str, Any]:
    """Flat scalar metadata: Chroma accepts no None, no nesting."""
    metadata: dict[str, Any] = {
        "category": memory.category,
        "created_at": memory.created_at.timestamp(),
        "updated_at": memory.updated_at.timestamp(),
        "last_seen_at": memory.seen_at.timestamp(),
        "source": memory.source,
        "evidence": memory.evidence,
        "status": memory.status,
    }
    if memory.ordinal:
        metadata["ordinal"] = memory.ordinal
    if memory.superseded_by:
        metadata["superseded_by"] = memory.superseded_by
    if memory.metadata:
        metadata["meta"] = orjson.dumps(dict(memory.metadata)).decode()
    return metadata


def decode(memory_id: str, content: str, metadata: Mapping[str, Any]) -> Memory:
    meta = metadata.get("meta")
    return Memory(
        id=memory_id,
        content=content,
        category=str(metadata.get("category", "general")),
        created_at=_time(metadata.get("created_at")),
        updated_at=_time(metadata.get("updated_at")),
        last_seen_at=_time(metadata.get("last_seen_at")),
        source=cast(Source, metadata.get("source", "api")),
        evidence=int(metadata.get("evidence", 1)),
        status=cast(Status, metadata.get("status", "active")),
        superseded_by=metadata.get("superseded_by") or None,
        metadata=orjson.loads(meta) if isinstance(meta, str) else {},
        ordinal=int(metadata.get("ordinal", 0)),
    )


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value or 0.0), UTC)


def columns(records: Sequence[Memory | None]) -> dict[str, list[Any]]:
    """One list per field of ``Memory``, an entry per record; a removed record (None) is null in
    every list. Times are POSIX seconds, metadata JSON text."""
    out: dict[str, list[Any]] = {}
    for name in MEMORY_FIELDS:
        values = [None if m is None else getattr(m, name) for m in records]
        if name in _TIMES:
            values = [None if t is None else t.timestamp() for t in values]
        elif name == "metadata":
            values = [orjson.dumps(dict(m)).decode() if m else None for m in values]
        out[name] = values
    return out


def from_columns(table: Mapping[str, Sequence[Any]]) -> list[Memory | None]:
    """The records ``columns`` made."""
    # A user's memories share most of their times (a memory's three, a session's turns): each
    # distinct one is made a datetime once.
    seconds = {value for name in _TIMES for value in table[name]}
    moments = {s: None if s is None else datetime.fromtimestamp(s, UTC) for s in seconds}

    def column(name: str) -> Sequence[Any]:
        values = table[name]
        if name in _TIMES:
            return list(map(moments.__getitem__, values))
        if name == "metadata":
            return [orjson.loads(v) if v else {} for v in values]
        return values

    rows = zip(*map(column, MEMORY_FIELDS), strict=True)
    return [None if row[0] is None else Memory(*row) for row in rows]
