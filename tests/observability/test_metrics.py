"""Every metric family, its labels, and the guard that keeps label values bounded."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.observability import Metrics
from gateway.observability.labels import MAX_PROVIDERS

MODELS = ("gpt-4o-mini", "echo")

#: Every family the issue names: sample name -> (type, label names).
FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "gateway_requests_total": ("counter", frozenset({"model", "status_code", "stream"})),
    "gateway_in_flight_requests": ("gauge", frozenset()),
    "gateway_request_duration_seconds": ("histogram", frozenset({"model", "stream"})),
    "gateway_upstream_duration_seconds": ("histogram", frozenset({"model", "provider"})),
    "gateway_upstream_errors_total": ("counter", frozenset({"model", "kind"})),
    "gateway_overhead_duration_seconds": ("histogram", frozenset({"stage"})),
    "gateway_time_to_first_token_seconds": ("histogram", frozenset({"model"})),
    "gateway_memory_retrievals_total": ("counter", frozenset({"outcome"})),
    "gateway_memory_retrieval_duration_seconds": ("histogram", frozenset()),
    "gateway_query_vector_reuse_total": ("counter", frozenset()),
    "gateway_context_tokens": ("histogram", frozenset()),
    "gateway_context_budget_utilization_ratio": ("histogram", frozenset()),
    "gateway_context_items_dropped_total": ("counter", frozenset({"reason"})),
    "gateway_context_utilization_ratio": ("histogram", frozenset()),
    "gateway_tokens_total": ("counter", frozenset({"model", "kind"})),
    "gateway_extraction_queue_depth": ("gauge", frozenset()),
    "gateway_extraction_duration_seconds": ("histogram", frozenset()),
    "gateway_extraction_jobs_total": ("counter", frozenset({"outcome"})),
    "gateway_memories_written_total": ("counter", frozenset({"action"})),
    "gateway_memory_store_restarts_total": ("counter", frozenset()),
    "gateway_gc_pause_seconds": ("histogram", frozenset({"generation"})),
    "gateway_exchanges_total": ("counter", frozenset({"cohort"})),
    "gateway_feedback_total": ("counter", frozenset({"cohort", "rating"})),
    "gateway_restated_facts_total": ("counter", frozenset({"cohort", "cause"})),
    "gateway_positive_reactions_total": ("counter", frozenset({"cohort"})),
    "gateway_passthrough_requests_total": (
        "counter",
        frozenset({"endpoint", "model", "status_code"}),
    ),
    "gateway_passthrough_duration_seconds": ("histogram", frozenset({"endpoint"})),
    "gateway_audit_records_total": ("counter", frozenset({"action"})),
    "gateway_mcp_tool_calls_total": ("counter", frozenset({"tool", "outcome"})),
}

#: Strings a careless caller might hand over in a label position: none may reach the output.
SECRETS = ("alice@example.com", "user-8d1f2c", "sk-live-abc123secret", "I love hiking in Utah")


def drive(metrics: Metrics) -> None:
    """Call every method once with known values, and again with unknown or secret ones."""
    metrics.request_started()
    metrics.request_finished("gpt-4o-mini", 200, False, 0.8)
    metrics.request_started()
    metrics.request_finished("echo", 200, True, 1.5)
    metrics.upstream("gpt-4o-mini", "openai", 0.7)
    metrics.upstream_error("gpt-4o-mini", "rate_limit")
    metrics.overhead("retrieval", 0.004)
    metrics.overhead("total", 0.0006)
    metrics.time_to_first_token("echo", 0.3)
    metrics.retrieval("hit", 0.012)
    metrics.retrieval("skipped", None)
    metrics.query_vector_reused()
    metrics.context(300, 1000, {"budget": 2, "min_score": 1})
    metrics.context_utilization(0.4)
    metrics.tokens("gpt-4o-mini", "prompt", 120)
    metrics.tokens("gpt-4o-mini", "completion", 30)
    metrics.tokens("gpt-4o-mini", "context", 300)
    metrics.extraction_queue_depth(3)
    metrics.extraction_job("done", 1.2)
    metrics.extraction_job("invalid_json", None)
    metrics.memories_written("add", 2)
    metrics.memories_written("duplicate")
    metrics.store_restarted()
    metrics.gc_pause(0, 0.0004)
    metrics.gc_pause(2, 0.15)
    metrics.gc_pause(7, 1.0)  # no such generation: dropped, never a new label
    metrics.exchange("memory")
    metrics.exchange("holdout")
    metrics.feedback("memory", "up")
    metrics.feedback("holdout", "3")
    metrics.restated_facts("memory", "ignored", 2)
    metrics.restated_facts("holdout", "holdout")
    metrics.positive_reaction("memory")
    metrics.passthrough("embeddings", "gpt-4o-mini", 200, 0.05)
    metrics.passthrough("audio/transcriptions", "echo", 400, 0.01)
    metrics.audit_record("memory.add")
    metrics.mcp_tool_call("search_memories", "ok")
    metrics.mcp_tool_call("add_memory", "denied")
    for secret in SECRETS:
        metrics.request_started()
        metrics.request_finished(secret, 200, False, 0.1)
        metrics.upstream(secret, secret, 0.1)
        metrics.upstream_error(secret, secret)
        metrics.overhead(secret, 0.001)
        metrics.time_to_first_token(secret, 0.1)
        metrics.retrieval(secret, 0.01)
        metrics.context(10, 100, {secret: 1})
        metrics.tokens(secret, secret, 5)
        metrics.extraction_job(secret, 0.5)
        metrics.memories_written(secret)
        metrics.exchange(secret)
        metrics.feedback(secret, secret)
        metrics.feedback("memory", secret)
        metrics.restated_facts(secret, secret)
        metrics.positive_reaction(secret)
        metrics.passthrough(secret, secret, 200, 0.1)
        metrics.audit_record(secret)
        metrics.mcp_tool_call(secret, secret)


def parse(text: str) -> dict[str, tuple[str, list[Sample]]]:
    """Family type and samples by the family's sample name (``_total`` kept for counters)."""
    parsed = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        parsed[name] = (family.type, list(family.samples))
    return parsed


def label_values(samples: list[Sample], label: str) -> set[str]:
    return {s.labels[label] for s in samples if label in s.labels}


def value(samples: list[Sample], suffix: str = "", **labels: str) -> float:
    matching = [
        s.value
        for s in samples
        if s.name.endswith(suffix) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(matching)


MULTIPROCESS_SCRIPT = """
import os, sys
from pathlib import Path
from gateway.observability import Metrics, endpoint_label
from tests.observability.test_metrics import MODELS, drive
metrics = Metrics(model_names=MODELS, multiprocess_dir=Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
drive(metrics)
sys.stdout.write(metrics.render()[0].decode())
"""


def render(mode: str, tmp_path: Path) -> str:
    if mode == "single":
        metrics = Metrics(model_names=MODELS)
        drive(metrics)
        body, content_type = metrics.render()
        assert content_type.startswith("text/plain; version=0.0.4")
        return body.decode()
    # prometheus_client picks multiprocess mode when imported, so it needs a fresh interpreter.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return done.stdout


@pytest.fixture(scope="module", params=["single", "multiprocess"])
def exposition(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, list[Sample]]]:
    return parse(render(request.param, tmp_path_factory.mktemp("metrics")))


def test_every_family_exists_with_exactly_its_labels(
    exposition: dict[str, tuple[str, list[Sample]]],
) -> None:
    assert set(FAMILIES) <= set(exposition)
    for name, (kind, labels) in FAMILIES.items():
        found_kind, samples = exposition[name]
        assert found_kind == kind, name
        assert samples, name
        for sample in samples:
            if sample.name.endswith("_created"):
                continue
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_values_are_what_was_recorded(exposition: dict[str, tuple[str, list[Sample]]]) -> None:
    requests = exposition["gateway_requests_total"][1]
    assert value(requests, "_total", model="gpt-4o-mini", status_code="200", stream="false") == 1
    assert value(requests, "_total", model="echo", stream="true") == 1
    assert value(requests, "_total", model="other") == len(SECRETS)
    assert value(exposition["gateway_in_flight_requests"][1]) == 0
    assert value(exposition["gateway_tokens_total"][1], "_total", kind="context") == 300
    assert value(exposition["gateway_extraction_queue_depth"][1]) == 3
    budget = exposition["gateway_context_budget_utilization_ratio"][1]
    assert value(budget, "_sum") == pytest.approx(0.3 + 0.1 * len(SECRETS))
    dropped = exposition["gateway_context_items_dropped_total"][1]
    assert value(dropped, "_total", reason="budget") == 2
    assert value(dropped, "_total", reason="other") == len(SECRETS)
    written = exposition["gateway_memories_written_total"][1]
    assert value(written, "_total", action="add") == 2
    duration = exposition["gateway_request_duration_seconds"][1]
    assert value(duration, "_bucket", model="echo", stream="true", le="2.5") == 1
    assert value(duration, "_bucket", model="echo", stream="true", le="1.0") == 0
    pauses = exposition["gateway_gc_pause_seconds"][1]
    assert value(pauses, "_count", generation="2") == 1
    assert value(pauses, "_sum", generation="2") == pytest.approx(0.15)
    assert value(pauses, "_count", generation="1") == 0
    passed = exposition["gateway_passthrough_requests_total"][1]
    assert (
        value(passed, "_total", endpoint="embeddings", model="gpt-4o-mini", status_code="200") == 1
    )
    assert value(passed, "_total", endpoint="audio/transcriptions", status_code="400") == 1
    assert value(passed, "_total", endpoint="other", model="other") == len(SECRETS)


def test_unknown_values_are_counted_as_other(
    exposition: dict[str, tuple[str, list[Sample]]],
) -> None:
    allowed = {
        ("gateway_requests_total", "model"): {*MODELS, "other"},
        ("gateway_upstream_errors_total", "kind"): {
            "timeout",
            "connection",
            "rate_limit",
            "client_error",
            "server_error",
            "auth",
            "other",
        },
        ("gateway_overhead_duration_seconds", "stage"): {
            "auth",
            "parse",
            "retrieval",
            "assembly",
            "forwarding_setup",
            "total",
            "other",
        },
        ("gateway_memory_retrievals_total", "outcome"): {
            "hit",
            "empty",
            "lexical",
            "timeout",
            "error",
            "skipped",
            "other",
        },
        ("gateway_context_items_dropped_total", "reason"): {
            "budget",
            "min_score",
            "superseded",
            "expired",
            "other",
        },
        ("gateway_tokens_total", "kind"): {"prompt", "completion", "context", "other"},
        ("gateway_extraction_jobs_total", "outcome"): {
            "done",
            "failed",
            "invalid_json",
            "dropped",
            "retried",
            "other",
        },
        ("gateway_memories_written_total", "action"): {
            "add",
            "update",
            "duplicate",
            "blocked",
            "superseded",
            "other",
        },
        ("gateway_upstream_duration_seconds", "provider"): {"openai", "other"},
        ("gateway_time_to_first_token_seconds", "model"): {*MODELS, "other"},
        ("gateway_gc_pause_seconds", "generation"): {"0", "1", "2"},
        ("gateway_passthrough_requests_total", "model"): {"gpt-4o-mini", "echo", "other"},
        ("gateway_passthrough_requests_total", "endpoint"): {
            "embeddings",
            "audio/transcriptions",
            "other",
        },
    }
    for (family, label), values in allowed.items():
        assert label_values(exposition[family][1], label) == values, (family, label)


def test_no_label_value_carries_a_secret(exposition: dict[str, tuple[str, list[Sample]]]) -> None:
    for _, samples in exposition.values():
        for sample in samples:
            for label_value in sample.labels.values():
                assert not any(secret in label_value for secret in SECRETS), sample


def test_status_codes_outside_http_are_other() -> None:
    metrics = Metrics(model_names=MODELS)
    metrics.request_finished("echo", 1234, False, 0.1)
    metrics.request_finished("echo", 404, False, 0.1)
    samples = parse(metrics.render()[0].decode())["gateway_requests_total"][1]
    assert label_values(samples, "status_code") == {"404", "other"}


def test_provider_label_values_are_capped() -> None:
    metrics = Metrics(model_names=MODELS)
    for index in range(MAX_PROVIDERS * 2):
        metrics.upstream("echo", f"provider{index}", 0.1)
    metrics.upstream("echo", "Not A Provider!", 0.1)
    samples = parse(metrics.render()[0].decode())["gateway_upstream_duration_seconds"][1]
    providers = label_values(samples, "provider")
    assert len(providers) == MAX_PROVIDERS + 1
    assert "other" in providers
    assert value(samples, "_count", provider="other") == MAX_PROVIDERS + 1


def test_ratios_skip_a_zero_budget_and_stay_within_zero_and_one() -> None:
    metrics = Metrics(model_names=MODELS)
    metrics.context(0, 0, {})
    metrics.context_utilization(1.7)
    metrics.context_utilization(-0.2)
    parsed = parse(metrics.render()[0].decode())
    assert value(parsed["gateway_context_budget_utilization_ratio"][1], "_count") == 0
    assert value(parsed["gateway_context_tokens"][1], "_bucket", le="0.0") == 1
    use = parsed["gateway_context_utilization_ratio"][1]
    assert value(use, "_sum") == 1.0
    assert value(use, "_bucket", le="0.0") == 1


def test_instances_do_not_share_state() -> None:
    first, second = Metrics(model_names=MODELS), Metrics(model_names=MODELS)
    first.tokens("echo", "prompt", 7)
    samples = parse(second.render()[0].decode())["gateway_tokens_total"][1]
    assert value(samples, "_total") == 0


def test_histograms_start_at_zero_for_every_configured_model() -> None:
    # Pre-bound children mean a model's series exist before its first request, so rates and
    # quantiles over a new model start from zero instead of missing the first increase.
    samples = parse(Metrics(model_names=MODELS).render()[0].decode())
    ttft = samples["gateway_time_to_first_token_seconds"][1]
    assert label_values(ttft, "model") == {*MODELS, "other"}
    assert all(s.value == 0 for s in ttft if not s.name.endswith("_created"))
    assert not any(math.isnan(s.value) for s in ttft)


def test_multiprocess_needs_the_variable_before_import(tmp_path: Path) -> None:
    # This test process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR.
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(model_names=MODELS, multiprocess_dir=tmp_path)


def test_every_family_is_documented() -> None:
    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "observability.md").read_text()
    for name in FAMILIES:
        assert f"`{name}`" in docs, name
