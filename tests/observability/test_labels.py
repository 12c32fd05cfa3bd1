"""The bounded vocabularies of metric labels: whatever comes in, a known value or ``other``."""

from __future__ import annotations

import pytest

from gateway.errors import (
    ProviderKeyMissing,
    ProviderKeyRejected,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.observability.labels import (
    COHORTS,
    OTHER,
    bounded,
    endpoint_label,
    provider_label,
    status_label,
    upstream_error_kind,
)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v1/embeddings", "embeddings"),
        ("/v1/audio/transcriptions", "audio/transcriptions"),
        ("/v1/audio/something-new", "audio"),
        ("/v1/files/file-abc123/content", "files"),
        ("/v1/batches/batch_1/cancel", "batches"),
        ("/v1/alice@example.com", "other"),
        ("/v1/", "other"),
    ],
)
def test_passthrough_endpoint_labels_are_bounded(path: str, label: str) -> None:
    assert endpoint_label(path) == label


def test_bounded_keeps_only_known_values() -> None:
    assert bounded("holdout", COHORTS) == "holdout"
    assert bounded("Holdout", COHORTS) == OTHER
    assert bounded("alice@example.com", COHORTS) == OTHER


@pytest.mark.parametrize(
    ("status", "label"), [(100, "100"), (200, "200"), (599, "599"), (99, OTHER), (600, OTHER)]
)
def test_status_labels_are_http_statuses_or_other(status: int, label: str) -> None:
    assert status_label(status) == label


@pytest.mark.parametrize(
    ("provider", "label"),
    [
        ("openai", "openai"),
        ("hosted_vllm", "hosted_vllm"),
        ("echo", "echo"),
        ("OpenAI", OTHER),
        ("sk-abc123", OTHER),
        ("x" * 33, OTHER),
        ("", OTHER),
        ("9lives", OTHER),
    ],
)
def test_provider_labels_look_like_provider_prefixes(provider: str, label: str) -> None:
    assert provider_label(provider) == label


def _status(code: int) -> UpstreamStatus:
    return UpstreamStatus(code, b"{}", message="provider answered")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UpstreamTimeout("slow"), "timeout"),
        (_status(429), "rate_limit"),
        (_status(400), "client_error"),
        (_status(503), "server_error"),
        (ProviderKeyMissing("no key"), "auth"),
        (ProviderKeyRejected("bad key"), "auth"),
        (UpstreamUnavailable("refused"), "connection"),
        (UpstreamError("anything else"), "connection"),
    ],
)
def test_upstream_error_kinds_follow_the_error_class(error: UpstreamError, kind: str) -> None:
    assert upstream_error_kind(error) == kind
