"""Prometheus metrics for one gateway process, or for one worker among several.

Each ``Metrics`` owns its metric families and its ``CollectorRegistry``; nothing is registered
globally, so tests can build as many as they like. With ``multiprocess_dir`` set (``gateway
serve --workers N`` sets it), values live in per-worker files in that directory and ``render``
merges every worker's files, so any worker answers a scrape for all of them.

Labelled children are bound once at startup wherever the label values are known then (models,
stages, outcomes), so the per-request methods are a dictionary lookup and an increment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from itertools import product
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values

from gateway.observability.labels import (
    AUDIT_ACTIONS,
    COHORTS,
    DROP_REASONS,
    EXTRACTION_OUTCOMES,
    FEEDBACK_RATINGS,
    MAX_PROVIDERS,
    MCP_OUTCOMES,
    MCP_TOOLS,
    OTHER,
    OVERHEAD_STAGES,
    PASSTHROUGH_ENDPOINTS,
    PROFILE_FIELDS,
    PROFILE_SOURCES,
    RELOAD_OUTCOMES,
    RESTATED_CAUSES,
    RETRIEVAL_OUTCOMES,
    SKIPPED_TURN_REASONS,
    TOKEN_KINDS,
    UPSTREAM_ERROR_KINDS,
    WRITE_ACTIONS,
    bounded,
    provider_label,
    status_label,
)
from gateway.observability.multiprocess import collect_from, forget_worker, sweep_dead_workers

#: The classic text format, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Our own work per stage: tens of microseconds when all is well, so start at 0.1 ms.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
#: Retrieval has a 150 ms budget by default (``memory.retrieval.timeout_ms``).
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5)
#: Whole requests and provider calls: a cached answer to a long generation.
REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
#: Injected tokens; ``le="0"`` counts requests that got no memories at all.
TOKEN_BUCKETS = (0.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0)
RATIO_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: One extraction call to a model, retries included.
EXTRACTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: A young collection takes well under a millisecond; a full one walks every object held.
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Python's collector generations; 2 is a full collection.
GC_GENERATIONS = ("0", "1", "2")

_STREAM = {True: "true", False: "false"}

M = TypeVar("M", Counter, Histogram)


class Metrics:
    """Every metric the gateway exports, behind one method per thing that happens."""

    def __init__(self, *, model_names: Iterable[str], multiprocess_dir: Path | None = None) -> None:
        self._models = {name: name for name in model_names}
        self._multiprocess_dir = multiprocess_dir
        self._registry = CollectorRegistry()
        if multiprocess_dir is None:
            target: CollectorRegistry | None = self._registry
        else:
            _require_multiprocess_values()
            sweep_dead_workers(multiprocess_dir)
            collect_from(multiprocess_dir, self._registry)
            target = None  # values live in files; the collector above reads them all
        models = [*self._models, OTHER]
        self._build_traffic(target, models)
        self._build_memory(target, models)
        self._build_extraction(target)
        self._build_profile(target)
        self._build_personalization(target)
        self._build_runtime(target)
        self._build_passthrough(target, models)

    def _build_traffic(self, registry: CollectorRegistry | None, models: list[str]) -> None:
        self._in_flight = Gauge(
            "gateway_in_flight_requests",
            "Proxied requests being served right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._requests_family = Counter(
            "gateway_requests_total",
            "Proxied requests answered, by model, HTTP status and streaming.",
            ["model", "status_code", "stream"],
            registry=registry,
        )
        self._requests: dict[tuple[str, int, bool], Counter] = {}
        duration = _histogram(
            "gateway_request_duration_seconds",
            "Time from request to the last byte of the answer, as the client sees it.",
            ["model", "stream"],
            REQUEST_BUCKETS,
            registry,
        )
        self._durations = {
            (model, stream): duration.labels(model, _STREAM[stream])
            for model, stream in product(models, (True, False))
        }
        self._upstream_family = _histogram(
            "gateway_upstream_duration_seconds",
            "Time the provider took to answer (to the first byte, for streams).",
            ["model", "provider"],
            REQUEST_BUCKETS,
            registry,
        )
        self._upstream: dict[tuple[str, str], Histogram] = {}
        self._providers: set[str] = set()
        self._upstream_errors = _pairs(
            Counter(
                "gateway_upstream_errors_total",
                "Failed attempts to reach a provider, retries included, by kind.",
                ["model", "kind"],
                registry=registry,
            ),
            models,
            UPSTREAM_ERROR_KINDS,
        )
        self._overhead = _singles(
            _histogram(
                "gateway_overhead_duration_seconds",
                "Time the gateway itself spent per stage of a request; 'total' is their sum.",
                ["stage"],
                OVERHEAD_BUCKETS,
                registry,
            ),
            OVERHEAD_STAGES,
        )
        self._ttft = _singles(
            _histogram(
                "gateway_time_to_first_token_seconds",
                "Time from request to the first streamed token reaching the client.",
                ["model"],
                TTFT_BUCKETS,
                registry,
            ),
            self._models,
        )
        self._tokens = _pairs(
            Counter(
                "gateway_tokens_total",
                "Tokens by model and kind: prompt and completion as reported by the provider, "
                "context as injected by the gateway.",
                ["model", "kind"],
                registry=registry,
            ),
            models,
            TOKEN_KINDS,
        )

    def _build_memory(self, registry: CollectorRegistry | None, models: list[str]) -> None:
        self._retrievals = _singles(
            Counter(
                "gateway_memory_retrievals_total",
                "Memory retrievals by outcome.",
                ["outcome"],
                registry=registry,
            ),
            RETRIEVAL_OUTCOMES,
        )
        self._retrieval_seconds = _histogram(
            "gateway_memory_retrieval_duration_seconds",
            "Time to embed the query and search the store.",
            [],
            RETRIEVAL_BUCKETS,
            registry,
        )
        self._context_tokens = _histogram(
            "gateway_context_tokens",
            "Tokens of memory injected into a request.",
            [],
            TOKEN_BUCKETS,
            registry,
        )
        self._budget_ratio = _histogram(
            "gateway_context_budget_utilization_ratio",
            "Injected tokens divided by the request's memory budget.",
            [],
            RATIO_BUCKETS,
            registry,
        )
        self._dropped = _singles(
            Counter(
                "gateway_context_items_dropped_total",
                "Retrieved memories left out of the context, by reason.",
                ["reason"],
                registry=registry,
            ),
            DROP_REASONS,
        )
        self._context_use = _histogram(
            "gateway_context_utilization_ratio",
            "Share of the injected memories' content terms that the reply used.",
            [],
            RATIO_BUCKETS,
            registry,
        )
        self._vector_reuse = Counter(
            "gateway_query_vector_reuse_total",
            "Query vectors reused for a text embedded moments before, instead of embedded again.",
            registry=registry,
        )
        self._store_restarts = Counter(
            "gateway_memory_store_restarts_total",
            "Times the gateway started its memory store process again after it died.",
            registry=registry,
        )
        reloads = Counter(
            "gateway_config_reloads_total",
            "Config file reloads (SIGHUP, `gateway reload`), by outcome: applied or invalid.",
            ["outcome"],
            registry=registry,
        )
        self._reloads = _singles(reloads, RELOAD_OUTCOMES)
        audits = Counter(
            "gateway_audit_records_total",
            "Records written to the audit trail, by action (memory.add, profile.clear, ...).",
            ["action"],
            registry=registry,
        )
        self._audits = _singles(audits, AUDIT_ACTIONS)

    def _build_extraction(self, registry: CollectorRegistry | None) -> None:
        self._queue_depth = Gauge(
            "gateway_extraction_queue_depth",
            "Finished exchanges waiting for memory extraction.",
            registry=registry,
            # Each worker owns its own queue: the backlog is the sum over the live workers.
            multiprocess_mode="livesum",
        )
        self._jobs = _singles(
            Counter(
                "gateway_extraction_jobs_total",
                "Extraction jobs by outcome.",
                ["outcome"],
                registry=registry,
            ),
            EXTRACTION_OUTCOMES,
        )
        self._extraction_seconds = _histogram(
            "gateway_extraction_duration_seconds",
            "Time one extraction job took.",
            [],
            EXTRACTION_BUCKETS,
            registry,
        )
        self._written = _singles(
            Counter(
                "gateway_memories_written_total",
                "Memory writes by action.",
                ["action"],
                registry=registry,
            ),
            WRITE_ACTIONS,
        )
        self._turns_skipped = _singles(
            Counter(
                "gateway_learning_turns_skipped_total",
                "User turns turns-mode learning did not store, by reason.",
                ["reason"],
                registry=registry,
            ),
            SKIPPED_TURN_REASONS,
        )

    def _build_profile(self, registry: CollectorRegistry | None) -> None:
        family = Counter(
            "gateway_profile_fields_set_total",
            "Profile fields given a value, by field and source (inferred or set).",
            ["field", "source"],
            registry=registry,
        )
        self._profile_fields = {
            (name, source): family.labels(name, source)
            for name in [*PROFILE_FIELDS, OTHER]
            for source in [*PROFILE_SOURCES, OTHER]
        }
        self._summaries = Counter(
            "gateway_profile_summary_refreshes_total",
            "Profile summaries written for users whose memories outgrow the budget.",
            registry=registry,
        )
        self._upcoming = Counter(
            "gateway_context_upcoming_items_total",
            "Memories injected in the upcoming section (due within context.upcoming_days).",
            registry=registry,
        )
        tools = Counter(
            "gateway_mcp_tool_calls_total",
            "Tool calls on /mcp, by tool and outcome (ok, error, denied).",
            ["tool", "outcome"],
            registry=registry,
        )
        self._mcp_calls = {
            (tool, outcome): tools.labels(tool, outcome)
            for tool in [*MCP_TOOLS, OTHER]
            for outcome in [*MCP_OUTCOMES, OTHER]
        }

    def _build_personalization(self, registry: CollectorRegistry | None) -> None:
        self._exchanges = _singles(
            Counter(
                "gateway_exchanges_total",
                "Finished exchanges of known users, by cohort (the denominator of the rates).",
                ["cohort"],
                registry=registry,
            ),
            COHORTS,
        )
        self._feedback = _pairs(
            Counter(
                "gateway_feedback_total",
                "Ratings received with POST /v1/feedback, by cohort and rating.",
                ["cohort", "rating"],
                registry=registry,
            ),
            [*COHORTS, OTHER],
            FEEDBACK_RATINGS,
        )
        self._restated = _pairs(
            Counter(
                "gateway_restated_facts_total",
                "Facts users told us that repeated an active memory of theirs, by cohort and "
                "cause (retrieval_miss: not injected; ignored: injected; holdout).",
                ["cohort", "cause"],
                registry=registry,
            ),
            [*COHORTS, OTHER],
            RESTATED_CAUSES,
        )
        self._reactions = _singles(
            Counter(
                "gateway_positive_reactions_total",
                "User turns thanking the assistant for remembering, by cohort.",
                ["cohort"],
                registry=registry,
            ),
            COHORTS,
        )

    def _build_runtime(self, registry: CollectorRegistry | None) -> None:
        family = _histogram(
            "gateway_gc_pause_seconds",
            "Python garbage collections by generation, timed; while one runs nothing else in the "
            "process does (generation 2 walks every object held, users' indexes included).",
            ["generation"],
            GC_BUCKETS,
            registry,
        )
        self._gc_pauses = [family.labels(generation) for generation in GC_GENERATIONS]

    def _build_passthrough(self, registry: CollectorRegistry | None, models: list[str]) -> None:
        self._passthrough_family = Counter(
            "gateway_passthrough_requests_total",
            "Requests to endpoints the gateway passes through to the provider untouched "
            "(embeddings, audio, files, ...), by endpoint, model and HTTP status.",
            ["endpoint", "model", "status_code"],
            registry=registry,
        )
        self._passthrough: dict[tuple[str, str, int], Counter] = {}
        self._passthrough_seconds = _singles(
            _histogram(
                "gateway_passthrough_duration_seconds",
                "Time from a pass-through request to the last byte of its answer.",
                ["endpoint"],
                REQUEST_BUCKETS,
                registry,
            ),
            PASSTHROUGH_ENDPOINTS,
        )

    # Requests -------------------------------------------------------------------------------

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self, model: str, status: int, stream: bool, seconds: float) -> None:
        self._in_flight.dec()
        label = self._models.get(model, OTHER)
        counter = self._requests.get((label, status, stream))
        if counter is None:
            counter = self._request_counter(label, status, stream)
        counter.inc()
        self._durations[label, stream].observe(seconds)

    def _request_counter(self, label: str, status: int, stream: bool) -> Counter:
        code = status_label(status)
        counter = self._requests_family.labels(label, code, _STREAM[stream])
        if code != OTHER:  # cache only bounded keys
            self._requests[label, status, stream] = counter
        return counter

    def passthrough(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        """A pass-through request has ended; ``endpoint`` is a label from ``endpoint_label``."""
        endpoint = endpoint if endpoint in PASSTHROUGH_ENDPOINTS else OTHER
        label = self._models.get(model, OTHER)
        counter = self._passthrough.get((endpoint, label, status))
        if counter is None:
            code = status_label(status)
            counter = self._passthrough_family.labels(endpoint, label, code)
            if code != OTHER:
                self._passthrough[endpoint, label, status] = counter
        counter.inc()
        self._passthrough_seconds[endpoint].observe(seconds)

    def upstream(self, model: str, provider: str, seconds: float) -> None:
        label = self._models.get(model, OTHER)
        histogram = self._upstream.get((label, provider))
        if histogram is None:
            histogram = self._upstream_histogram(label, provider)
        histogram.observe(seconds)

    def _upstream_histogram(self, label: str, provider: str) -> Histogram:
        name = provider_label(provider)
        if name not in self._providers and len(self._providers) >= MAX_PROVIDERS:
            name = OTHER
        histogram = self._upstream_family.labels(label, name)
        if name == provider:
            self._providers.add(name)
            self._upstream[label, provider] = histogram
        return histogram

    def upstream_error(self, model: str, kind: str) -> None:
        label = self._models.get(model, OTHER)
        _pick(self._upstream_errors, (label, kind), (label, OTHER)).inc()

    def overhead(self, stage: str, seconds: float) -> None:
        _pick(self._overhead, stage, OTHER).observe(seconds)

    def time_to_first_token(self, model: str, seconds: float) -> None:
        _pick(self._ttft, model, OTHER).observe(seconds)

    def tokens(self, model: str, kind: str, count: int) -> None:
        if count > 0:
            label = self._models.get(model, OTHER)
            _pick(self._tokens, (label, kind), (label, OTHER)).inc(count)

    # Memory ---------------------------------------------------------------------------------

    def retrieval(self, outcome: str, seconds: float | None) -> None:
        _pick(self._retrievals, outcome, OTHER).inc()
        if seconds is not None:
            self._retrieval_seconds.observe(seconds)

    def query_vector_reused(self) -> None:
        self._vector_reuse.inc()

    def context(self, injected_tokens: int, budget_tokens: int, dropped: Mapping[str, int]) -> None:
        self._context_tokens.observe(injected_tokens)
        if budget_tokens > 0:
            self._budget_ratio.observe(injected_tokens / budget_tokens)
        for reason, count in dropped.items():
            if count > 0:
                _pick(self._dropped, reason, OTHER).inc(count)

    def context_utilization(self, ratio: float) -> None:
        self._context_use.observe(min(max(ratio, 0.0), 1.0))

    def store_restarted(self) -> None:
        self._store_restarts.inc()

    def config_reload(self, outcome: str) -> None:
        self._reloads.get(outcome, self._reloads[OTHER]).inc()

    def audit_record(self, action: str) -> None:
        self._audits.get(action, self._audits[OTHER]).inc()

    # Extraction -----------------------------------------------------------------------------

    def extraction_queue_depth(self, depth: int) -> None:
        self._queue_depth.set(depth)

    def extraction_snapshot(self) -> dict[str, float]:
        """This process's extraction queue and its jobs so far by outcome, for the inspector."""
        shown = {"queued": _sample(self._queue_depth)}
        shown.update({f"jobs {outcome}": _sample(child) for outcome, child in self._jobs.items()})
        return shown

    def extraction_job(self, outcome: str, seconds: float | None) -> None:
        _pick(self._jobs, outcome, OTHER).inc()
        if seconds is not None:
            self._extraction_seconds.observe(seconds)

    def memories_written(self, action: str, count: int = 1) -> None:
        if count > 0:
            _pick(self._written, action, OTHER).inc(count)

    def turn_skipped(self, reason: str) -> None:
        _pick(self._turns_skipped, reason, OTHER).inc()

    # Profile --------------------------------------------------------------------------------

    def profile_field_set(self, name: str, source: str) -> None:
        key = (bounded(name, PROFILE_FIELDS), bounded(source, PROFILE_SOURCES))
        self._profile_fields[key].inc()

    def mcp_tool_call(self, tool: str, outcome: str) -> None:
        self._mcp_calls[bounded(tool, MCP_TOOLS), bounded(outcome, MCP_OUTCOMES)].inc()

    def profile_summary_refreshed(self) -> None:
        self._summaries.inc()

    def upcoming_injected(self, count: int) -> None:
        if count > 0:
            self._upcoming.inc(count)

    # Personalization ------------------------------------------------------------------------

    def exchange(self, cohort: str) -> None:
        _pick(self._exchanges, cohort, OTHER).inc()

    def feedback(self, cohort: str, rating: str) -> None:
        fallback = (bounded(cohort, COHORTS), OTHER)
        _pick(self._feedback, (cohort, rating), fallback).inc()

    def restated_facts(self, cohort: str, cause: str, count: int = 1) -> None:
        if count > 0:
            fallback = (bounded(cohort, COHORTS), OTHER)
            _pick(self._restated, (cohort, cause), fallback).inc(count)

    def positive_reaction(self, cohort: str) -> None:
        _pick(self._reactions, cohort, OTHER).inc()

    # Runtime --------------------------------------------------------------------------------

    def gc_pause(self, generation: int, seconds: float) -> None:
        if 0 <= generation < len(self._gc_pauses):
            self._gc_pauses[generation].observe(seconds)

    # Exposition -----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition text (all workers' values, in multiprocess mode) and its media type."""
        return generate_latest(self._registry), CONTENT_TYPE

    def close(self) -> None:
        """Forget this worker's live gauges, so the sums stop counting a process that is gone."""
        if self._multiprocess_dir is not None:
            forget_worker(os.getpid(), self._multiprocess_dir)


def _histogram(
    name: str,
    documentation: str,
    labels: list[str],
    buckets: tuple[float, ...],
    registry: CollectorRegistry | None,
) -> Histogram:
    return Histogram(name, documentation, labels, registry=registry, buckets=buckets)


def _sample(metric: Gauge | Counter) -> float:
    """The one value of a metric without labels (a counter's total)."""
    for family in metric.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                return float(sample.value)
    return 0.0


def _singles(family: M, allowed: Iterable[str]) -> dict[str, M]:
    """One bound child per allowed value, plus ``other``."""
    return {value: family.labels(value) for value in (*allowed, OTHER)}


def _pairs(family: M, models: Iterable[str], allowed: Iterable[str]) -> dict[tuple[str, str], M]:
    return {pair: family.labels(*pair) for pair in product(models, (*allowed, OTHER))}


K = TypeVar("K")


def _pick(children: dict[K, M], key: K, fallback: K) -> M:
    child = children.get(key)
    return children[fallback] if child is None else child


def _require_multiprocess_values() -> None:
    # prometheus_client decides where values live when it is first imported; if that happened
    # before PROMETHEUS_MULTIPROC_DIR was set, each worker would only ever report itself.
    if values.ValueClass is values.MutexValue:
        raise RuntimeError(
            "metrics.multiprocess_dir is set, but prometheus_client was imported without "
            "PROMETHEUS_MULTIPROC_DIR; start several workers through `gateway serve`"
        )
