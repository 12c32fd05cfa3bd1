"""A memory's fields as flat metadata (what Chroma and the snapshot files store), and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from gateway.memory.records import Memory, Source, Status


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
