"""The bounded vocabularies metric labels may take.

Every label value comes from a fixed set known in advance (or from the configuration, for model
names); anything else is counted as ``other``. A label therefore never carries a user id, a key,
a prompt or a memory's text, and a client cannot grow the number of series.
"""

from __future__ import annotations

import re

from gateway.errors import (
    ProviderKeyMissing,
    ProviderKeyRejected,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
)

OTHER = "other"

UPSTREAM_ERROR_KINDS = frozenset(
    {"timeout", "connection", "rate_limit", "client_error", "server_error", "auth"}
)
OVERHEAD_STAGES = frozenset({"auth", "parse", "retrieval", "assembly", "forwarding_setup", "total"})
RETRIEVAL_OUTCOMES = frozenset({"hit", "empty", "lexical", "timeout", "error", "skipped"})
DROP_REASONS = frozenset({"budget", "repeated", "min_score", "superseded", "expired"})
TOKEN_KINDS = frozenset({"prompt", "completion", "context"})
EXTRACTION_OUTCOMES = frozenset({"done", "failed", "invalid_json", "dropped", "retried"})
#: How a config reload ended (``gateway.reload``).
RELOAD_OUTCOMES = frozenset({"applied", "invalid"})
#: What the audit trail records (``gateway.audit``); an action added there is added here too.
AUDIT_ACTIONS = frozenset(
    {
        "memory.add",
        "memory.patch",
        "memory.delete",
        "memory.erase",
        "memory.export",
        "memory.import",
        "profile.set",
        "profile.clear",
        "config.reload",
    }
)
WRITE_ACTIONS = frozenset({"add", "update", "duplicate", "blocked", "superseded"})
#: The profile's fields and where a value came from (``gateway.profile.model``).
PROFILE_FIELDS = frozenset(
    {
        "expertise",
        "brevity",
        "format",
        "tone",
        "language",
        "role",
        "stack",
        "followup",
        "instructions",
    }
)
PROFILE_SOURCES = frozenset({"inferred", "set"})
#: Why ``extraction.mode: turns`` did not store a user's turn (``gateway.learning.salience``).
SKIPPED_TURN_REASONS = frozenset({"greeting", "acknowledgement", "short", "question"})
#: The personalization experiment's sides (``gateway.proxy.cohort``).
COHORTS = frozenset({"memory", "holdout"})
#: Why a user had to tell us a fact we already had (``gateway.learning.outcomes``).
RESTATED_CAUSES = frozenset({"retrieval_miss", "ignored", "holdout"})
#: ``POST /v1/feedback``: a thumb, or a score from 1 to 5.
FEEDBACK_RATINGS = frozenset({"up", "down", "1", "2", "3", "4", "5"})

#: The tools of ``/mcp`` (``gateway.mcp.tools``) and how a call ended: ``denied`` when the key's
#: role may not, ``error`` for bad arguments or a failed store.
MCP_TOOLS = frozenset(
    {
        "search_memories",
        "add_memory",
        "update_memory",
        "delete_memory",
        "delete_memories",
        "get_profile",
        "set_profile_field",
        "what_would_be_injected",
    }
)
MCP_OUTCOMES = frozenset({"ok", "error", "denied"})

#: Pass-through endpoints by the path below ``/v1/``: the first two segments when listed here,
#: else the first; anything else is ``other``.
PASSTHROUGH_ENDPOINTS = frozenset(
    {
        "embeddings",
        "moderations",
        "completions",
        "audio/transcriptions",
        "audio/translations",
        "audio/speech",
        "audio",
        "images/generations",
        "images/edits",
        "images/variations",
        "images",
        "files",
        "uploads",
        "batches",
        "fine_tuning",
        "models",
        "chat",
        "responses",
        "vector_stores",
        "assistants",
        "threads",
        "realtime",
        "containers",
        "conversations",
        "evals",
    }
)

#: A provider label is a litellm provider prefix (``openai``, ``hosted_vllm``) or a protocol.
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: Distinct provider values kept per process; the configuration has far fewer.
MAX_PROVIDERS = 32


def bounded(value: str, allowed: frozenset[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other``."""
    return value if value in allowed else OTHER


def status_label(status: int) -> str:
    """The 3-digit HTTP status as a string; anything outside 100..599 is ``other``."""
    return str(status) if 100 <= status <= 599 else OTHER


def provider_label(provider: str) -> str:
    """A provider prefix as given, or ``other`` when it does not look like one."""
    return provider if _PROVIDER.match(provider) else OTHER


def upstream_error_kind(error: UpstreamError) -> str:
    """The ``kind`` label for a failed upstream attempt, chosen by the error's class.

    A provider's 5xx and a refused connection are both ``UpstreamUnavailable`` today, with
    nothing but the message to tell them apart, so both count as ``connection``.
    """
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamStatus):
        if error.status_code == 429:
            return "rate_limit"
        return "server_error" if error.status_code >= 500 else "client_error"
    if isinstance(error, ProviderKeyMissing | ProviderKeyRejected):
        return "auth"
    return "connection"


def endpoint_label(path: str) -> str:
    """The bounded ``endpoint`` label of a pass-through path (``/v1/audio/speech``)."""
    segments = path.removeprefix("/v1/").split("/", 2)
    two = "/".join(segments[:2])
    if two in PASSTHROUGH_ENDPOINTS:
        return two
    return bounded(segments[0], PASSTHROUGH_ENDPOINTS)
